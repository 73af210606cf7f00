//! wss:// between our client and our server, with certificates made here:
//! a private CA, mutual TLS, and the refusals a wrong certificate earns.

use std::time::Duration;

use haystack_wire::connection::{
    Client, ClientConfig, ClientTls, Router, Server, ServerConfig, ServerTls, TlsRoots,
};
use haystack_wire::{Compression, Op};
use rcgen::{
    BasicConstraints, Certificate, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
};

/// A CA, and certificates it signs.
struct Authority {
    certificate: Certificate,
    key: KeyPair,
}

/// A certificate and its key, as PEM.
struct Issued {
    certificate: String,
    key: String,
}

impl Authority {
    fn new(name: &str) -> Authority {
        let key = KeyPair::generate().unwrap();
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, name);
        let certificate = params.self_signed(&key).unwrap();
        Authority { certificate, key }
    }

    fn pem(&self) -> String {
        self.certificate.pem()
    }

    fn issue(&self, names: &[&str], usage: ExtendedKeyUsagePurpose) -> Issued {
        let key = KeyPair::generate().unwrap();
        let mut params =
            CertificateParams::new(names.iter().map(|name| name.to_string()).collect::<Vec<_>>()).unwrap();
        params.extended_key_usages = vec![usage];
        let certificate = params.signed_by(&key, &self.certificate, &self.key).unwrap();
        Issued {
            certificate: certificate.pem(),
            key: key.serialize_pem(),
        }
    }
}

fn router() -> Router {
    Router::new().route(Op::Read, |request| async move { Ok(request.payload) })
}

async fn start(config: ServerConfig) -> String {
    let server = Server::bind("127.0.0.1:0", config, router()).await.unwrap();
    let url = format!("wss://localhost:{}", server.local_addr().unwrap().port());
    tokio::spawn(server.run());
    url
}

fn client_config(tls: ClientTls) -> ClientConfig {
    ClientConfig::new()
        .tls(tls)
        .connect_timeout(Duration::from_secs(10))
}

#[tokio::test]
async fn a_wss_client_that_trusts_a_private_ca_talks_to_its_server() {
    let ca = Authority::new("test CA");
    let server = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls = ServerTls::new(server.certificate.as_bytes(), server.key.as_bytes()).unwrap();
    let url = start(
        ServerConfig::new()
            .tls(tls)
            .compression([Compression::Zlib])
            .chunked(true),
    )
    .await;
    let roots = TlsRoots::from_pem(ca.pem().as_bytes()).unwrap();
    let config = client_config(ClientTls::new(roots).unwrap())
        .compression([Compression::Zlib])
        .chunked(true);
    let client = Client::connect(&url, config).await.unwrap();
    let big: Vec<u8> = (0..600_000).map(|i| (i % 251) as u8).collect();
    assert_eq!(client.request(Op::Read, &big).await.unwrap(), big);
}

#[tokio::test]
async fn a_client_that_trusts_another_ca_refuses_the_server() {
    let ca = Authority::new("test CA");
    let server = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls = ServerTls::new(server.certificate.as_bytes(), server.key.as_bytes()).unwrap();
    let url = start(ServerConfig::new().tls(tls)).await;
    let stranger = Authority::new("another CA");
    let roots = TlsRoots::from_pem(stranger.pem().as_bytes()).unwrap();
    let refused = Client::connect(&url, client_config(ClientTls::new(roots).unwrap())).await;
    let message = refused
        .expect_err("the server's certificate was trusted")
        .to_string();
    assert!(message.contains("certificate"), "{message}");
}

#[tokio::test]
async fn mutual_tls_serves_a_client_certificate_of_its_ca_and_refuses_others() {
    let ca = Authority::new("test CA");
    let server = ca.issue(&["localhost"], ExtendedKeyUsagePurpose::ServerAuth);
    let tls = ServerTls::requiring_client_certificates(
        server.certificate.as_bytes(),
        server.key.as_bytes(),
        ca.pem().as_bytes(),
    )
    .unwrap();
    let url = start(ServerConfig::new().tls(tls)).await;
    let roots = || TlsRoots::from_pem(ca.pem().as_bytes()).unwrap();

    let member = ca.issue(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let tls =
        ClientTls::with_client_certificate(roots(), member.certificate.as_bytes(), member.key.as_bytes())
            .unwrap();
    let client = Client::connect(&url, client_config(tls)).await.unwrap();
    assert_eq!(client.request(Op::Read, b"in").await.unwrap(), b"in");

    let anonymous = Client::connect(&url, client_config(ClientTls::new(roots()).unwrap())).await;
    assert!(anonymous.is_err(), "a client without a certificate was served");

    let stranger = Authority::new("another CA").issue(&["client"], ExtendedKeyUsagePurpose::ClientAuth);
    let tls =
        ClientTls::with_client_certificate(roots(), stranger.certificate.as_bytes(), stranger.key.as_bytes())
            .unwrap();
    let outsider = Client::connect(&url, client_config(tls)).await;
    assert!(
        outsider.is_err(),
        "a client certificate of another CA was accepted"
    );
}

#[test]
fn pem_that_holds_no_certificate_or_key_is_refused_by_name() {
    use haystack_wire::connection::TlsError;
    assert_eq!(
        TlsRoots::from_pem(b"nothing here").unwrap_err(),
        TlsError::NoCertificate { what: "CA" }
    );
    let ca = Authority::new("test CA");
    assert_eq!(
        ServerTls::new(ca.pem().as_bytes(), b"").unwrap_err(),
        TlsError::NoPrivateKey { what: "key" }
    );
}
