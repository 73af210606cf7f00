//! SCRAM-SHA-256 logins, the users file and issued tokens.
//!
//! `vectors/scram_users.json` and `vectors/scram_transcript.json` were made
//! by the reference, haystack-py 0.1.10, with `vectors/scram_vectors.py`:
//! users from `hs_py.user.create_user(..., iterations=4096)` dumped with
//! `hs_py.user.user_to_dict`, and one whole exchange between the
//! reference's own client and server.

use std::time::Duration;

use haystack_wire::connection::{
    decode_base64url, decode_base64url_text, encode_base64url, escape_username, unescape_username,
    CredentialStore, FakeCredentials, IssuedTokens, Role, ScramClient, ScramCredentials, ScramError,
    ScramLimits, ScramServer, ScramServerFirst, UserRecord, Users, UsersError,
};

const USERS_FILE: &str = include_str!("vectors/scram_users.json");
const TRANSCRIPT: &str = include_str!("vectors/scram_transcript.json");

/// The test vector of RFC 7677 §3 (the proof checked independently with
/// Python's hashlib and hmac).
mod rfc7677 {
    pub const USER: &str = "user";
    pub const PASSWORD: &str = "pencil";
    pub const CLIENT_NONCE: &str = "rOprNGfwEbeRWgbNEkqO";
    pub const SERVER_NONCE_EXTENSION: &str = "%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0";
    pub const SALT: &str = "W22ZaJ0SNY7soEsUEjb6gQ==";
    pub const CLIENT_FIRST: &str = "n,,n=user,r=rOprNGfwEbeRWgbNEkqO";
    pub const SERVER_FIRST: &str =
        "r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,s=W22ZaJ0SNY7soEsUEjb6gQ==,i=4096";
    pub const CLIENT_FINAL: &str = "c=biws,r=rOprNGfwEbeRWgbNEkqO%hvYDpWUa2RaTCAfuxFIlj)hNlF$k0,p=dHzbZapWIk4jUhN+Ute9ytag9zjfMHgsqmmiz7AndVQ=";
    pub const SERVER_FINAL: &str = "v=6rriTRBi23WpRR/wtup+mMhUZUn/dB5nLTJRsjl95G4=";
}

/// Iterations for the credentials these tests make: the fewest clients
/// accept, to keep the tests quick.
const ITERATIONS: u32 = 4096;

fn fake() -> FakeCredentials {
    FakeCredentials::new(ITERATIONS).unwrap()
}

fn record(password: &str) -> UserRecord {
    UserRecord {
        credentials: ScramCredentials::derive(password, ITERATIONS).unwrap(),
        role: Role::Operator,
        enabled: true,
    }
}

fn rfc_record() -> UserRecord {
    let salt = decode_standard(rfc7677::SALT);
    UserRecord {
        credentials: ScramCredentials::derive_with_salt(rfc7677::PASSWORD, &salt, 4096).unwrap(),
        role: Role::Viewer,
        enabled: true,
    }
}

fn decode_standard(text: &str) -> Vec<u8> {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.decode(text).unwrap()
}

/// Runs a whole exchange: the client logs in as `user` with `password`
/// against a server that found `stored` for the name in its store.
fn login(
    user: &str,
    password: &str,
    stored: Option<UserRecord>,
    fake: &FakeCredentials,
) -> Result<(String, Role), ScramError> {
    let client = ScramClient::new(user)?;
    let server = ScramServer::new(user, stored, fake).server_first(client.client_first())?;
    let client = client.client_final(password, server.message())?;
    let success = server.server_final(client.message())?;
    client.verify_server_final(&success.server_final)?;
    Ok((success.username, success.role))
}

/// The server after it answered the client-first message of a fresh
/// client logging in as "user" with the RFC's credentials, and the
/// client-final message that client would send.
fn halfway() -> (ScramServerFirst, String) {
    let client = ScramClient::new(rfc7677::USER).unwrap();
    let server = ScramServer::new(rfc7677::USER, Some(rfc_record()), &fake())
        .server_first(client.client_first())
        .unwrap();
    let client_final = client.client_final(rfc7677::PASSWORD, server.message()).unwrap();
    (server, client_final.message().to_owned())
}

/// The server-first message of the RFC vector with another salt and
/// iteration count.
fn server_first_with(salt: &[u8], iterations: &str) -> String {
    use base64::Engine as _;
    format!(
        "r={}{},s={},i={iterations}",
        rfc7677::CLIENT_NONCE,
        rfc7677::SERVER_NONCE_EXTENSION,
        base64::engine::general_purpose::STANDARD.encode(salt)
    )
}

fn rfc_client() -> ScramClient {
    ScramClient::with_nonce(rfc7677::USER, rfc7677::CLIENT_NONCE).unwrap()
}

#[test]
fn the_client_reproduces_the_rfc_7677_test_vector() {
    let client = rfc_client();
    assert_eq!(client.client_first(), rfc7677::CLIENT_FIRST);
    let last = client
        .client_final(rfc7677::PASSWORD, rfc7677::SERVER_FIRST)
        .unwrap();
    assert_eq!(last.message(), rfc7677::CLIENT_FINAL);
    last.verify_server_final(rfc7677::SERVER_FINAL).unwrap();
}

#[test]
fn the_server_reproduces_the_rfc_7677_test_vector() {
    let server = ScramServer::new(rfc7677::USER, Some(rfc_record()), &fake())
        .server_first_with_nonce(rfc7677::CLIENT_FIRST, rfc7677::SERVER_NONCE_EXTENSION)
        .unwrap();
    assert_eq!(server.message(), rfc7677::SERVER_FIRST);
    let success = server.server_final(rfc7677::CLIENT_FINAL).unwrap();
    assert_eq!(success.server_final, rfc7677::SERVER_FINAL);
    assert_eq!(success.username, rfc7677::USER);
    assert_eq!(success.role, Role::Viewer);
}

#[test]
fn a_client_and_a_server_complete_a_login_and_the_server_names_the_user_and_role() {
    let outcome = login("ann", "correct horse", Some(record("correct horse")), &fake());
    assert_eq!(outcome.unwrap(), ("ann".to_owned(), Role::Operator));
}

#[test]
fn a_user_name_with_commas_and_equals_signs_logs_in() {
    let name = "a=b,c";
    let outcome = login(name, "pw", Some(record("pw")), &fake()).unwrap();
    assert_eq!(outcome.0, name);
}

#[test]
fn a_wrong_password_is_refused_at_the_final_step() {
    let (server, client_final) = {
        let client = ScramClient::new("ann").unwrap();
        let server = ScramServer::new("ann", Some(record("right")), &fake())
            .server_first(client.client_first())
            .unwrap();
        let last = client.client_final("wrong", server.message()).unwrap();
        (server, last.message().to_owned())
    };
    assert!(matches!(
        server.server_final(&client_final),
        Err(ScramError::AuthenticationFailed)
    ));
}

#[test]
fn an_unknown_user_is_refused_with_the_same_error_at_the_same_step_as_a_wrong_password() {
    let fake = fake();
    let client = ScramClient::new("nobody").unwrap();
    // The first step goes through, with a salt and iteration count of the
    // usual form.
    let server = ScramServer::new("nobody", None, &fake)
        .server_first(client.client_first())
        .unwrap();
    let expected = fake.credentials("nobody");
    assert!(server
        .message()
        .ends_with(&format!(",s={},i={ITERATIONS}", encode_standard(&expected.salt))));
    let last = client.client_final("anything", server.message()).unwrap();
    // The final step fails as a wrong password does.
    assert!(matches!(
        server.server_final(last.message()),
        Err(ScramError::AuthenticationFailed)
    ));
    let wrong = login("ann", "wrong", Some(record("right")), &fake).unwrap_err();
    let unknown = login("nobody", "wrong", None, &fake).unwrap_err();
    assert_eq!(wrong.to_string(), unknown.to_string());
}

#[test]
fn a_repeated_login_for_an_unknown_user_gets_the_same_salt() {
    let fake = fake();
    let first_salt = |fake: &FakeCredentials| {
        let client = ScramClient::new("nobody").unwrap();
        let server = ScramServer::new("nobody", None, fake)
            .server_first(client.client_first())
            .unwrap();
        server.message().split(",s=").nth(1).unwrap().to_owned()
    };
    assert_eq!(first_salt(&fake), first_salt(&fake));
}

#[test]
fn a_disabled_user_with_the_right_password_is_refused_like_a_wrong_password() {
    let mut disabled = record("right");
    disabled.enabled = false;
    assert!(matches!(
        login("ann", "right", Some(disabled), &fake()),
        Err(ScramError::AuthenticationFailed)
    ));
}

#[test]
fn a_client_final_message_with_another_nonce_is_refused() {
    let (server, client_final) = halfway();
    let tampered = client_final.replacen(",r=", ",r=x", 1);
    assert!(matches!(
        server.server_final(&tampered),
        Err(ScramError::NonceMismatch { .. })
    ));
}

#[test]
fn a_client_final_message_with_channel_binding_is_refused() {
    let (server, client_final) = halfway();
    let tampered = client_final.replacen("c=biws", "c=eSws", 1);
    assert!(matches!(
        server.server_final(&tampered),
        Err(ScramError::ChannelBinding { .. })
    ));
}

#[test]
fn a_proof_of_the_wrong_length_is_refused() {
    let (server, client_final) = halfway();
    let (without_proof, _) = client_final.rsplit_once(",p=").unwrap();
    let short = format!("{without_proof},p={}", encode_standard(&[0; 31]));
    assert!(matches!(
        server.clone().server_final(&short),
        Err(ScramError::ProofLength { len: 31 })
    ));
    let not_base64 = format!("{without_proof},p=***");
    assert!(matches!(
        server.server_final(&not_base64),
        Err(ScramError::Base64 { field: "p", .. })
    ));
}

#[test]
fn a_tampered_proof_is_refused() {
    let (server, client_final) = halfway();
    let (without_proof, _) = client_final.rsplit_once(",p=").unwrap();
    let forged = format!("{without_proof},p={}", encode_standard(&[0; 32]));
    assert!(matches!(
        server.server_final(&forged),
        Err(ScramError::AuthenticationFailed)
    ));
}

#[test]
fn a_client_final_message_without_a_proof_is_refused() {
    let (server, client_final) = halfway();
    let (without_proof, _) = client_final.rsplit_once(",p=").unwrap();
    assert!(matches!(
        server.server_final(without_proof),
        Err(ScramError::Malformed { .. })
    ));
}

#[test]
fn a_client_first_message_asking_for_channel_binding_or_an_authzid_is_refused() {
    for client_first in [
        "y,,n=user,r=abc",
        "p=tls-unique,,n=user,r=abc",
        "n,a=admin,n=user,r=abc",
        "n=user,r=abc",
    ] {
        let outcome = ScramServer::new("user", Some(rfc_record()), &fake()).server_first(client_first);
        assert!(
            matches!(outcome, Err(ScramError::Gs2Header { .. })),
            "{client_first}: {outcome:?}"
        );
    }
}

#[test]
fn a_client_first_message_with_an_empty_nonce_is_refused() {
    let outcome = ScramServer::new("user", Some(rfc_record()), &fake()).server_first("n,,n=user,r=");
    assert!(matches!(outcome, Err(ScramError::EmptyNonce { .. })));
}

#[test]
fn malformed_client_first_messages_are_refused() {
    for client_first in [
        "n,,",
        "n,,r=abc,n=user",
        "n,,n=user",
        "n,,n=user,r=abc,bad",
        "n,,m=ext,n=user,r=abc",
        "n,,n=us=er,r=abc",
        "n,,n=user,r=a b",
    ] {
        let outcome = ScramServer::new("user", Some(rfc_record()), &fake()).server_first(client_first);
        assert!(
            matches!(
                outcome,
                Err(ScramError::Malformed { .. }
                    | ScramError::UserNameEscape { .. }
                    | ScramError::InvalidNonce { .. })
            ),
            "{client_first}: {outcome:?}"
        );
    }
}

#[test]
fn a_client_first_message_naming_another_user_than_the_login_is_refused() {
    let outcome = ScramServer::new("user", Some(rfc_record()), &fake()).server_first("n,,n=admin,r=abc");
    assert!(matches!(outcome, Err(ScramError::UserMismatch { .. })));
}

#[test]
fn the_client_refuses_a_server_nonce_that_does_not_extend_its_own() {
    for nonce in ["somethingelse", rfc7677::CLIENT_NONCE] {
        let server_first = format!("r={nonce},s={},i=4096", rfc7677::SALT);
        assert!(matches!(
            rfc_client().client_final(rfc7677::PASSWORD, &server_first),
            Err(ScramError::NonceNotExtended { .. })
        ));
    }
}

#[test]
fn the_client_refuses_iteration_counts_outside_its_limits() {
    let salt = [1; 16];
    let defaults = ScramLimits::default();
    for iterations in [defaults.min_iterations - 1, defaults.max_iterations + 1] {
        let outcome = rfc_client().client_final("pw", &server_first_with(&salt, &iterations.to_string()));
        assert!(
            matches!(outcome, Err(ScramError::Iterations { iterations: i, min: 4096, max: 1_000_000 }) if i == iterations),
            "{iterations}: {outcome:?}"
        );
    }
    assert!(rfc_client()
        .client_final("pw", &server_first_with(&salt, "4096"))
        .is_ok());
    let narrow = ScramLimits {
        min_iterations: 1,
        max_iterations: 10,
        ..ScramLimits::default()
    };
    assert!(rfc_client()
        .with_limits(narrow)
        .client_final("pw", &server_first_with(&salt, "10"))
        .is_ok());
    assert!(matches!(
        rfc_client()
            .with_limits(narrow)
            .client_final("pw", &server_first_with(&salt, "11")),
        Err(ScramError::Iterations { iterations: 11, .. })
    ));
}

#[test]
fn the_client_refuses_an_iteration_count_that_is_not_a_number() {
    for iterations in ["", "-1", "4096x", "99999999999"] {
        assert!(matches!(
            rfc_client().client_final("pw", &server_first_with(&[1; 16], iterations)),
            Err(ScramError::Malformed { .. })
        ));
    }
}

#[test]
fn the_client_refuses_a_short_salt() {
    assert!(matches!(
        rfc_client().client_final("pw", &server_first_with(&[1; 15], "4096")),
        Err(ScramError::SaltTooShort { len: 15, min: 16 })
    ));
}

#[test]
fn the_client_refuses_a_server_signature_that_does_not_match() {
    let last = rfc_client()
        .client_final(rfc7677::PASSWORD, rfc7677::SERVER_FIRST)
        .unwrap();
    let forged = format!("v={}", encode_standard(&[0; 32]));
    assert!(matches!(
        last.verify_server_final(&forged),
        Err(ScramError::ServerSignature)
    ));
    assert!(matches!(
        last.verify_server_final("v=short"),
        Err(ScramError::Base64 { .. } | ScramError::ServerSignature)
    ));
    assert!(matches!(
        last.verify_server_final("e=other-error"),
        Err(ScramError::ServerRefused { .. })
    ));
    assert!(matches!(
        last.verify_server_final(""),
        Err(ScramError::Malformed { .. })
    ));
}

#[test]
fn the_reference_exchange_is_reproduced_by_both_sides() {
    let t: serde_json::Value = serde_json::from_str(TRANSCRIPT).unwrap();
    let field = |name: &str| t[name].as_str().unwrap().to_owned();
    let users = Users::from_json(USERS_FILE).unwrap();
    let user = field("username");
    let nonce = field("client_nonce");
    let server_first = field("server_first");

    let client = ScramClient::with_nonce(&user, &nonce).unwrap();
    assert_eq!(client.client_first(), field("client_first"));
    let last = client.client_final(&field("password"), &server_first).unwrap();
    assert_eq!(last.message(), field("client_final"));
    last.verify_server_final(&field("server_final")).unwrap();

    let extension = server_first
        .strip_prefix(&format!("r={nonce}"))
        .and_then(|rest| rest.split(',').next())
        .unwrap();
    let server = ScramServer::new(&user, users.get(&user).cloned(), &fake())
        .server_first_with_nonce(&field("client_first"), extension)
        .unwrap();
    assert_eq!(server.message(), server_first);
    let success = server.server_final(&field("client_final")).unwrap();
    assert_eq!(success.server_final, field("server_final"));
    assert_eq!(success.role, Role::Admin);
}

#[tokio::test]
async fn users_made_by_the_reference_log_in_through_the_store_unless_disabled() {
    let users = Users::from_json(USERS_FILE).unwrap();
    let t: serde_json::Value = serde_json::from_str(TRANSCRIPT).unwrap();
    let fake = fake();
    let mut outcomes = Vec::new();
    for name in users.usernames() {
        let password = t["passwords"][name].as_str().unwrap();
        let found = users.user(name).await;
        outcomes.push((
            name,
            login(name, password, found, &fake).map(|(_, role)| role).ok(),
        ));
    }
    assert_eq!(
        outcomes,
        [
            ("alice", Some(Role::Operator)),
            ("bob=,admin", Some(Role::Admin)),
            ("carol", None)
        ]
    );
    assert!(users.user("dave").await.is_none());
}

#[test]
fn a_users_file_written_here_reads_back_the_same_with_the_reference_s_other_fields() {
    let users = Users::from_json(USERS_FILE).unwrap();
    let again = Users::from_json(&users.to_json()).unwrap();
    for name in users.usernames() {
        assert_eq!(users.get(name), again.get(name));
    }
    let written: serde_json::Value = serde_json::from_str(&again.to_json()).unwrap();
    let original: serde_json::Value = serde_json::from_str(USERS_FILE).unwrap();
    assert_eq!(written, original);
}

#[test]
fn a_users_file_saved_and_loaded_keeps_added_users_who_then_log_in() {
    let dir = std::env::temp_dir().join(format!("haystack-wire-users-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("users.json");
    let mut users = Users::new();
    users.add("erin", "hunter2", Role::Admin, ITERATIONS).unwrap();
    users.save(&path).unwrap();
    let text = std::fs::read_to_string(&path).unwrap();
    assert!(!text.contains("hunter2"));
    let loaded = Users::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    let outcome = login("erin", "hunter2", loaded.get("erin").cloned(), &fake()).unwrap();
    assert_eq!(outcome.1, Role::Admin);
}

#[test]
fn a_record_without_role_or_enabled_is_an_enabled_viewer() {
    let text = r#"[{"username": "u", "salt": "AAAAAAAAAAAAAAAAAAAAAA==", "iterations": 4096,
        "stored_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=",
        "server_key": "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="}]"#;
    let users = Users::from_json(text).unwrap();
    let record = users.get("u").unwrap();
    assert_eq!((record.role, record.enabled), (Role::Viewer, true));
}

#[test]
fn users_file_errors_name_the_record_and_the_field() {
    let base: serde_json::Value = serde_json::from_str(USERS_FILE).unwrap();
    let cases: [(&str, serde_json::Value, &str); 7] = [
        ("salt", "not base64!".into(), "salt"),
        ("stored_key", "AAAA".into(), "stored_key"),
        ("iterations", 0.into(), "iterations"),
        ("iterations", "4096".into(), "iterations"),
        ("role", "root".into(), "role"),
        ("enabled", "yes".into(), "enabled"),
        ("username", "".into(), "username"),
    ];
    for (key, value, field_at_fault) in cases {
        let mut text = base.clone();
        text[1][key] = value;
        match Users::from_json(&text.to_string()) {
            Err(UsersError::Field { index, field, .. }) => {
                assert_eq!((index, field), (1, field_at_fault), "{key}");
            }
            other => panic!("{key}: {other:?}"),
        }
    }
    let mut missing = base.clone();
    missing[2].as_object_mut().unwrap().remove("server_key");
    let error = Users::from_json(&missing.to_string()).unwrap_err();
    assert!(matches!(
        error,
        UsersError::Field {
            index: 2,
            field: "server_key",
            ..
        }
    ));
    assert!(error.to_string().contains("record 2"), "{error}");

    let mut twice = base.clone();
    twice[2]["username"] = "alice".into();
    assert!(matches!(
        Users::from_json(&twice.to_string()),
        Err(UsersError::Duplicate { index: 2, .. })
    ));
    assert!(matches!(
        Users::from_json("{}"),
        Err(UsersError::NotAnArray { .. })
    ));
    assert!(matches!(
        Users::from_json("[1]"),
        Err(UsersError::NotAnObject { index: 0, .. })
    ));
    assert!(matches!(Users::from_json("[{"), Err(UsersError::Json { .. })));
}

#[test]
fn a_missing_users_file_is_an_error_naming_the_file() {
    let error = Users::load("no/such/users.json").unwrap_err();
    assert!(matches!(error, UsersError::Read { .. }));
    assert!(error.to_string().contains("no/such/users.json"), "{error}");
}

#[test]
fn adding_a_user_refuses_an_empty_name_or_password_a_taken_name_and_too_few_iterations() {
    let mut users = Users::new();
    users.add("ann", "pw", Role::Viewer, ITERATIONS).unwrap();
    assert!(matches!(
        users.add("", "pw", Role::Viewer, ITERATIONS),
        Err(UsersError::EmptyUsername)
    ));
    assert!(matches!(
        users.add("bo", "", Role::Viewer, ITERATIONS),
        Err(UsersError::EmptyPassword)
    ));
    assert!(matches!(
        users.add("ann", "pw", Role::Viewer, ITERATIONS),
        Err(UsersError::Exists(_))
    ));
    assert!(matches!(
        users.add("bo", "pw", Role::Viewer, 1000),
        Err(UsersError::TooFewIterations {
            iterations: 1000,
            min: 4096
        })
    ));
    assert_eq!(users.len(), 1);
}

#[test]
fn removing_a_user_keeps_the_others_reachable() {
    let mut users = Users::from_json(USERS_FILE).unwrap();
    assert!(users.remove("alice").is_some());
    assert!(users.get("alice").is_none());
    assert_eq!(users.get("carol").map(|r| r.enabled), Some(false));
    assert_eq!(users.usernames().collect::<Vec<_>>(), ["bob=,admin", "carol"]);
}

#[test]
fn the_common_iteration_count_is_the_most_frequent_one() {
    assert_eq!(Users::new().common_iterations(), None);
    assert_eq!(
        Users::from_json(USERS_FILE).unwrap().common_iterations(),
        Some(4096)
    );
}

#[test]
fn user_names_are_escaped_and_read_back() {
    assert_eq!(escape_username("a=b,c"), "a=3Db=2Cc");
    assert_eq!(unescape_username("a=3Db=2Cc").unwrap(), "a=b,c");
    for bad in ["=", "a=2", "a=2D", "=3"] {
        assert!(
            matches!(unescape_username(bad), Err(ScramError::UserNameEscape { .. })),
            "{bad}"
        );
    }
}

#[test]
fn base64url_fields_are_unpadded_and_read_with_or_without_padding() {
    assert_eq!(encode_base64url(b"user?"), "dXNlcj8");
    assert_eq!(decode_base64url("data", "dXNlcj8").unwrap(), b"user?");
    assert_eq!(decode_base64url("data", "dXNlcj8=").unwrap(), b"user?");
    assert!(matches!(
        decode_base64url("data", "dXNl+j8"),
        Err(ScramError::Base64 { field: "data", .. })
    ));
    assert!(matches!(
        decode_base64url_text("username", &encode_base64url(&[0xff, 0xfe])),
        Err(ScramError::NotUtf8 { field: "username" })
    ));
}

#[test]
fn an_error_quotes_only_a_glimpse_of_a_long_value() {
    let long = format!("n,,n=user,r={}", "x,".repeat(10_000));
    let error = ScramServer::new("user", Some(rfc_record()), &fake())
        .server_first(&long)
        .unwrap_err();
    assert!(error.to_string().len() < 300, "{error}");
}

#[test]
fn a_token_issued_for_a_login_names_its_holder() {
    let tokens = IssuedTokens::new();
    let token = tokens.issue("ann", Role::Operator).unwrap();
    assert_eq!(decode_base64url("token", &token).unwrap().len(), 32);
    let holder = tokens.lookup(&token).unwrap();
    assert_eq!((holder.username.as_str(), holder.role), ("ann", Role::Operator));
    assert!(tokens.lookup("not-a-token").is_none());
    assert_ne!(token, tokens.issue("ann", Role::Operator).unwrap());
}

#[tokio::test(start_paused = true)]
async fn a_token_expires_after_its_lifetime() {
    let tokens = IssuedTokens::with_limits(Duration::from_secs(60), 10);
    let token = tokens.issue("ann", Role::Viewer).unwrap();
    tokio::time::advance(Duration::from_secs(60)).await;
    assert!(tokens.lookup(&token).is_some());
    tokio::time::advance(Duration::from_secs(1)).await;
    assert!(tokens.lookup(&token).is_none());
    assert!(tokens.is_empty());
}

#[tokio::test(start_paused = true)]
async fn expired_tokens_leave_the_set_without_being_looked_up() {
    let tokens = IssuedTokens::with_limits(Duration::from_secs(60), 10);
    tokens.issue("ann", Role::Viewer).unwrap();
    tokio::time::advance(Duration::from_secs(30)).await;
    let young = tokens.issue("bo", Role::Viewer).unwrap();
    tokio::time::advance(Duration::from_secs(31)).await;
    assert_eq!(tokens.len(), 1);
    assert!(tokens.lookup(&young).is_some());
}

#[test]
fn when_the_token_set_is_full_the_oldest_token_goes() {
    let tokens = IssuedTokens::with_limits(IssuedTokens::DEFAULT_LIFETIME, 3);
    let issued: Vec<String> = (0..4)
        .map(|i| tokens.issue(&format!("user{i}"), Role::Viewer).unwrap())
        .collect();
    assert_eq!(tokens.len(), 3);
    assert!(tokens.lookup(&issued[0]).is_none());
    for token in &issued[1..] {
        assert!(tokens.lookup(token).is_some());
    }
}

#[test]
fn a_revoked_token_is_no_longer_valid() {
    let tokens = IssuedTokens::new();
    let ann = tokens.issue("ann", Role::Viewer).unwrap();
    let ann_again = tokens.issue("ann", Role::Viewer).unwrap();
    let bo = tokens.issue("bo", Role::Viewer).unwrap();
    assert!(tokens.revoke(&ann));
    assert!(!tokens.revoke(&ann));
    assert!(tokens.lookup(&ann).is_none());
    assert_eq!(tokens.revoke_user("ann"), 1);
    assert!(tokens.lookup(&ann_again).is_none());
    assert!(tokens.lookup(&bo).is_some());
    assert_eq!(tokens.len(), 1);
}

#[test]
fn the_token_defaults_are_the_reference_s() {
    let tokens = IssuedTokens::new();
    assert_eq!(tokens.lifetime(), Duration::from_secs(3600));
    assert_eq!(tokens.capacity(), 10_000);
    assert_eq!(tokens.per_user_cap(), 100);
    assert_eq!(
        IssuedTokens::with_limits(Duration::from_secs(60), 10).per_user_cap(),
        100
    );
}

#[test]
fn a_user_past_the_per_user_cap_loses_their_own_oldest_tokens_and_no_one_else_s() {
    let tokens = IssuedTokens::with_limits(IssuedTokens::DEFAULT_LIFETIME, 1_000).with_per_user_cap(3);
    let bo = tokens.issue("bo", Role::Viewer).unwrap();
    let ann: Vec<String> = (0..10)
        .map(|_| tokens.issue("ann", Role::Operator).unwrap())
        .collect();
    assert_eq!(tokens.held_by("ann"), 3);
    assert_eq!(tokens.len(), 4);
    assert!(tokens.lookup(&bo).is_some(), "another user's token was withdrawn");
    for (i, token) in ann.iter().enumerate() {
        assert_eq!(tokens.lookup(token).is_some(), i >= 7, "ann's token {i}");
    }
    assert_eq!(tokens.revoke_user("ann"), 3);
    assert_eq!(tokens.held_by("ann"), 0);
    assert!(tokens.lookup(&bo).is_some());
}

#[test]
fn one_account_logging_in_more_often_than_the_capacity_evicts_no_one_else() {
    let tokens = IssuedTokens::with_limits(IssuedTokens::DEFAULT_LIFETIME, 50).with_per_user_cap(5);
    let others: Vec<String> = (0..20)
        .map(|i| tokens.issue(&format!("user{i}"), Role::Viewer).unwrap())
        .collect();
    for _ in 0..10_050 {
        tokens.issue("mallory", Role::Viewer).unwrap();
    }
    assert!(others.iter().all(|token| tokens.lookup(token).is_some()));
    assert_eq!(tokens.held_by("mallory"), 5);
    assert_eq!(tokens.len(), 25);
}

#[test]
fn when_the_set_is_full_the_user_holding_the_most_loses_their_oldest_token() {
    let tokens = IssuedTokens::with_limits(IssuedTokens::DEFAULT_LIFETIME, 6).with_per_user_cap(4);
    let ann: Vec<String> = (0..3)
        .map(|_| tokens.issue("ann", Role::Viewer).unwrap())
        .collect();
    let bo: Vec<String> = (0..2)
        .map(|_| tokens.issue("bo", Role::Viewer).unwrap())
        .collect();
    let cy = tokens.issue("cy", Role::Viewer).unwrap();
    // Full: the newcomer's token takes the place of ann's oldest, ann
    // holding the most.
    let di = tokens.issue("di", Role::Viewer).unwrap();
    assert!(tokens.lookup(&ann[0]).is_none());
    assert_eq!((tokens.held_by("ann"), tokens.held_by("bo")), (2, 2));
    // ann and bo hold 2 each: the older token of the two goes, ann's.
    tokens.issue("ed", Role::Viewer).unwrap();
    assert!(tokens.lookup(&ann[1]).is_none());
    // Now bo holds the most.
    tokens.issue("fay", Role::Viewer).unwrap();
    assert!(tokens.lookup(&bo[0]).is_none());
    for token in [&ann[2], &bo[1], &cy, &di] {
        assert!(tokens.lookup(token).is_some());
    }
    assert_eq!(tokens.len(), 6);
}

fn encode_standard(bytes: &[u8]) -> String {
    use base64::Engine as _;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}
