//! TLS for both sides, with rustls and its `ring` provider (feature `tls`):
//! `wss://` clients that trust the Mozilla roots or a store of their own and
//! may present a certificate, and servers that present one and may require
//! client certificates from a CA (mutual TLS, as the reference's TLS server
//! does). Certificates and keys are read from PEM.

use std::sync::Arc;

use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio_rustls::rustls::{self, RootCertStore};

/// A TLS setting that could not be made.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TlsError {
    /// The PEM holds no certificate.
    #[error("no certificate in the {what} PEM")]
    NoCertificate {
        /// Which PEM: `certificate`, `client certificate`, `CA`.
        what: &'static str,
    },
    /// The PEM holds no private key.
    #[error("no private key in the {what} PEM")]
    NoPrivateKey {
        /// Which PEM.
        what: &'static str,
    },
    /// The PEM cannot be read.
    #[error("the {what} PEM cannot be read: {reason}")]
    Pem {
        /// Which PEM.
        what: &'static str,
        /// What the PEM reader reported.
        reason: String,
    },
    /// rustls refused the setting (a key that does not match its
    /// certificate, a CA certificate it cannot use, …).
    #[error("TLS setting refused: {reason}")]
    Refused {
        /// What rustls reported.
        reason: String,
    },
}

fn refused(error: impl std::fmt::Display) -> TlsError {
    TlsError::Refused {
        reason: error.to_string(),
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

fn certificates(pem: &[u8], what: &'static str) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certificates = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| TlsError::Pem {
            what,
            reason: error.to_string(),
        })?;
    if certificates.is_empty() {
        return Err(TlsError::NoCertificate { what });
    }
    Ok(certificates)
}

fn private_key(pem: &[u8], what: &'static str) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_slice(pem).map_err(|error| match error {
        rustls_pki_types::pem::Error::NoItemsFound => TlsError::NoPrivateKey { what },
        other => TlsError::Pem {
            what,
            reason: other.to_string(),
        },
    })
}

/// The certificates a client trusts.
#[derive(Debug, Clone)]
pub struct TlsRoots(RootCertStore);

impl TlsRoots {
    /// The Mozilla root certificates, as browsers trust them (webpki-roots).
    pub fn webpki() -> TlsRoots {
        TlsRoots(RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        })
    }

    /// The CA certificates of a PEM file: a private CA, or a test one.
    pub fn from_pem(pem: &[u8]) -> Result<TlsRoots, TlsError> {
        let mut store = RootCertStore::empty();
        for certificate in certificates(pem, "CA")? {
            store.add(certificate).map_err(refused)?;
        }
        Ok(TlsRoots(store))
    }
}

/// How a client speaks TLS to `wss://` servers.
#[derive(Debug, Clone)]
pub struct ClientTls(pub(crate) Arc<rustls::ClientConfig>);

impl ClientTls {
    /// A client that trusts `roots` and presents no certificate.
    pub fn new(roots: TlsRoots) -> Result<ClientTls, TlsError> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_root_certificates(roots.0)
            .with_no_client_auth();
        Ok(ClientTls(Arc::new(config)))
    }

    /// A client that trusts `roots` and presents the certificate chain and
    /// key of two PEMs, for servers that require client certificates.
    pub fn with_client_certificate(
        roots: TlsRoots,
        certificate_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<ClientTls, TlsError> {
        let config = rustls::ClientConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_root_certificates(roots.0)
            .with_client_auth_cert(
                certificates(certificate_pem, "client certificate")?,
                private_key(key_pem, "client key")?,
            )
            .map_err(refused)?;
        Ok(ClientTls(Arc::new(config)))
    }
}

/// How a server speaks TLS to its clients.
#[derive(Debug, Clone)]
pub struct ServerTls(pub(crate) Arc<rustls::ServerConfig>);

impl ServerTls {
    /// A server presenting the certificate chain and key of two PEMs, and
    /// asking clients for no certificate.
    pub fn new(certificate_pem: &[u8], key_pem: &[u8]) -> Result<ServerTls, TlsError> {
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_no_client_auth()
            .with_single_cert(
                certificates(certificate_pem, "certificate")?,
                private_key(key_pem, "key")?,
            )
            .map_err(refused)?;
        Ok(ServerTls(Arc::new(config)))
    }

    /// A server that also requires every client to present a certificate
    /// issued by a CA of `client_ca_pem` (mutual TLS); a client without
    /// one, or with another CA's, fails the TLS handshake.
    pub fn requiring_client_certificates(
        certificate_pem: &[u8],
        key_pem: &[u8],
        client_ca_pem: &[u8],
    ) -> Result<ServerTls, TlsError> {
        let roots = TlsRoots::from_pem(client_ca_pem)?;
        let verifier =
            rustls::server::WebPkiClientVerifier::builder_with_provider(Arc::new(roots.0), provider())
                .build()
                .map_err(refused)?;
        let config = rustls::ServerConfig::builder_with_provider(provider())
            .with_safe_default_protocol_versions()
            .map_err(refused)?
            .with_client_cert_verifier(verifier)
            .with_single_cert(
                certificates(certificate_pem, "certificate")?,
                private_key(key_pem, "key")?,
            )
            .map_err(refused)?;
        Ok(ServerTls(Arc::new(config)))
    }
}
