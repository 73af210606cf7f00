//! SCRAM-SHA-256 (RFC 5802, RFC 7677) as pure state machines over the
//! SCRAM strings themselves.
//!
//! The client side is [`ScramClient`] → [`ScramClientFinal`]; the server
//! side is [`ScramServer`] → [`ScramServerFirst`] → [`ScramServerSuccess`].
//! Each step consumes the previous one, so a step can be neither skipped
//! nor replayed. Nothing here does I/O or knows the JSON messages that carry
//! these strings; the base64url helpers for those JSON fields are here
//! because both sides need them.
//!
//! Only the `n,,` GS2 header (no channel binding, no authorization
//! identity) is spoken, as by the reference. Names and passwords are used
//! as their UTF-8 bytes, without SASLprep, as by the reference.

use std::fmt;

use base64::alphabet;
use base64::engine::general_purpose::{GeneralPurpose, GeneralPurposeConfig, STANDARD};
use base64::engine::DecodePaddingMode;
use base64::Engine as _;
use hmac::{Hmac, KeyInit as _, Mac as _};
use sha2::{Digest as _, Sha256};
use subtle::ConstantTimeEq as _;

use super::credentials::{FakeCredentials, Role, ScramCredentials, UserRecord};

/// Length in bytes of a SHA-256 output, and so of every SCRAM key, proof
/// and signature.
pub(crate) const KEY_LEN: usize = 32;

/// Random bytes in a nonce (the client's, and the server's extension), as
/// in the reference: 24 bytes, 32 base64url characters.
const NONCE_BYTES: usize = 24;

/// The only GS2 header spoken: no channel binding, no authorization
/// identity (RFC 5802 §7, `gs2-header`).
const GS2_HEADER: &str = "n,,";

/// The `c=` attribute of the client-final message: the GS2 header `n,,` in
/// base64 (RFC 5802 §5.1).
const CHANNEL_BINDING: &str = "biws";

/// How many characters of a peer's value an error quotes.
const GLIMPSE_CHARS: usize = 40;

/// Unpadded base64url that also reads padded input, as the reference's
/// decoder does.
const BASE64URL: GeneralPurpose = GeneralPurpose::new(
    &alphabet::URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// Which SCRAM message an error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ScramMessage {
    /// The client's first message (`n,,n=…,r=…`).
    ClientFirst,
    /// The server's first message (`r=…,s=…,i=…`).
    ServerFirst,
    /// The client's final message (`c=…,r=…,p=…`).
    ClientFinal,
    /// The server's final message (`v=…` or `e=…`).
    ServerFinal,
}

impl fmt::Display for ScramMessage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::ClientFirst => "client-first",
            Self::ServerFirst => "server-first",
            Self::ClientFinal => "client-final",
            Self::ServerFinal => "server-final",
        })
    }
}

/// The operating system's random source failed.
#[derive(Debug, thiserror::Error)]
#[error("the operating system's random source failed: {0}")]
pub struct RandomError(#[from] getrandom::Error);

/// What went wrong in a SCRAM exchange. Values a peer sent are quoted only
/// as a short glimpse.
#[derive(Debug, thiserror::Error)]
pub enum ScramError {
    /// A message does not have the shape RFC 5802 gives it.
    #[error("the {message} message is malformed: {problem} (near {glimpse:?})")]
    Malformed {
        /// The message at fault.
        message: ScramMessage,
        /// What is wrong with it.
        problem: &'static str,
        /// The start of the part at fault.
        glimpse: String,
    },
    /// The client-first message asks for channel binding or an
    /// authorization identity; only `n,,` is spoken.
    #[error("the client-first message opens with {glimpse:?}; only the GS2 header \"n,,\" (no channel binding) is supported")]
    Gs2Header {
        /// The start of the client-first message.
        glimpse: String,
    },
    /// A nonce is empty.
    #[error("the {message} message carries an empty nonce")]
    EmptyNonce {
        /// The message at fault.
        message: ScramMessage,
    },
    /// A nonce holds a character RFC 5802 does not allow (only printable
    /// ASCII other than `,`).
    #[error("the {message} message carries a nonce with a character outside printable ASCII or a ',': {glimpse:?}")]
    InvalidNonce {
        /// The message at fault.
        message: ScramMessage,
        /// The start of the nonce.
        glimpse: String,
    },
    /// A user name holds an `=` not followed by `2C` or `3D`.
    #[error("the user name {glimpse:?} holds an '=' that is not the escape =2C or =3D")]
    UserNameEscape {
        /// The start of the escaped name.
        glimpse: String,
    },
    /// The client-first message names another user than the one the login
    /// was started for.
    #[error("the client-first message names the user {found:?}, but the login is for {expected:?}")]
    UserMismatch {
        /// The user the login was started for.
        expected: String,
        /// The start of the name in the client-first message.
        found: String,
    },
    /// The server's nonce does not start with the client's nonce, or adds
    /// nothing to it.
    #[error("the server nonce {glimpse:?} does not extend the client's nonce")]
    NonceNotExtended {
        /// The start of the server's nonce.
        glimpse: String,
    },
    /// The client-final message carries another nonce than the one of this
    /// exchange.
    #[error("the client-final message carries the nonce {glimpse:?}, not the one of this exchange")]
    NonceMismatch {
        /// The start of the nonce received.
        glimpse: String,
    },
    /// The client-final message's channel binding is not `biws` (`n,,`).
    #[error("the client-final message carries the channel binding {glimpse:?}, not \"biws\" (none)")]
    ChannelBinding {
        /// The start of the channel binding received.
        glimpse: String,
    },
    /// The server asks for an iteration count outside the client's bounds.
    #[error("the server asks for {iterations} PBKDF2 iterations, outside {min}..={max}")]
    Iterations {
        /// The count asked for.
        iterations: u32,
        /// The fewest accepted.
        min: u32,
        /// The most accepted.
        max: u32,
    },
    /// The server's salt is shorter than the client accepts.
    #[error("the server's salt is {len} bytes, shorter than {min}")]
    SaltTooShort {
        /// Its length in bytes.
        len: usize,
        /// The shortest accepted.
        min: usize,
    },
    /// A base64 value does not decode.
    #[error("the {field} value is not valid base64: {glimpse:?}")]
    Base64 {
        /// The attribute or field at fault.
        field: &'static str,
        /// The start of the value.
        glimpse: String,
    },
    /// Decoded base64url text is not UTF-8.
    #[error("the {field} value does not decode to UTF-8 text")]
    NotUtf8 {
        /// The field at fault.
        field: &'static str,
    },
    /// The client's proof is not as long as a SHA-256 output.
    #[error("the client proof is {len} bytes, not {KEY_LEN}")]
    ProofLength {
        /// Its length in bytes.
        len: usize,
    },
    /// The proof does not match: a wrong password, an unknown user or a
    /// disabled one, which the server does not tell apart.
    #[error("authentication failed")]
    AuthenticationFailed,
    /// The server's signature does not match: it does not know the user's
    /// credentials (no mutual authentication).
    #[error("the server's signature does not match; the server does not hold this user's credentials")]
    ServerSignature,
    /// The server ended the exchange with an `e=` error.
    #[error("the server refused the login: {glimpse:?}")]
    ServerRefused {
        /// The start of the server's error value.
        glimpse: String,
    },
    /// The random source failed while making a nonce.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// The bounds a client puts on what a server's first message may ask of it.
/// The defaults are the reference client's.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScramLimits {
    /// The fewest PBKDF2 iterations accepted, 4096 by default: RFC 7677's
    /// minimum for SCRAM-SHA-256. Fewer make a password cheap to guess from
    /// an overheard exchange.
    pub min_iterations: u32,
    /// The most PBKDF2 iterations accepted, 1,000,000 by default: the
    /// client does this work before knowing whether the server is genuine,
    /// so a hostile server could otherwise make it burn its CPU.
    pub max_iterations: u32,
    /// The shortest salt accepted, 16 bytes (128 bits) by default: NIST SP
    /// 800-132's minimum. A short salt lets one precomputed table serve many
    /// accounts.
    pub min_salt_len: usize,
}

impl Default for ScramLimits {
    fn default() -> Self {
        Self {
            min_iterations: 4096,
            max_iterations: 1_000_000,
            min_salt_len: 16,
        }
    }
}

/// The client side of an exchange, after making its first message.
#[derive(Debug, Clone)]
pub struct ScramClient {
    nonce: String,
    client_first: String,
    limits: ScramLimits,
}

impl ScramClient {
    /// Starts a login as `username`, with a nonce of 24 random bytes from
    /// the operating system.
    pub fn new(username: &str) -> Result<Self, ScramError> {
        let nonce = encode_base64url(&random_bytes::<NONCE_BYTES>()?);
        Self::with_nonce(username, &nonce)
    }

    /// Starts a login as `username` with the given nonce, for test vectors.
    /// The nonce must be printable ASCII without `,`.
    pub fn with_nonce(username: &str, nonce: &str) -> Result<Self, ScramError> {
        check_nonce(ScramMessage::ClientFirst, nonce)?;
        let client_first = format!("{GS2_HEADER}n={},r={nonce}", escape_username(username));
        Ok(Self {
            nonce: nonce.to_owned(),
            client_first,
            limits: ScramLimits::default(),
        })
    }

    /// Puts other bounds on the server's iteration count and salt.
    pub fn with_limits(mut self, limits: ScramLimits) -> Self {
        self.limits = limits;
        self
    }

    /// The client-first message (`n,,n=<user>,r=<nonce>`).
    pub fn client_first(&self) -> &str {
        &self.client_first
    }

    /// The client's nonce.
    pub fn nonce(&self) -> &str {
        &self.nonce
    }

    /// Reads the server-first message, checks its nonce, iteration count
    /// and salt, derives the keys from `password` and makes the
    /// client-final message with its proof.
    pub fn client_final(self, password: &str, server_first: &str) -> Result<ScramClientFinal, ScramError> {
        const MSG: ScramMessage = ScramMessage::ServerFirst;
        let mut parts = server_first.split(',');
        let nonce = attribute(MSG, parts.next(), 'r')?;
        let salt = attribute(MSG, parts.next(), 's')?;
        let iterations = attribute(MSG, parts.next(), 'i')?;
        check_extensions(MSG, parts)?;

        check_nonce(MSG, nonce)?;
        if nonce.len() <= self.nonce.len() || !nonce.starts_with(&self.nonce) {
            return Err(ScramError::NonceNotExtended {
                glimpse: glimpse(nonce),
            });
        }
        let iterations = parse_iterations(iterations)?;
        let ScramLimits {
            min_iterations: min,
            max_iterations: max,
            min_salt_len,
        } = self.limits;
        if !(min..=max).contains(&iterations) {
            return Err(ScramError::Iterations { iterations, min, max });
        }
        let salt = decode_standard("s", salt)?;
        if salt.len() < min_salt_len {
            return Err(ScramError::SaltTooShort {
                len: salt.len(),
                min: min_salt_len,
            });
        }

        let salted = salted_password(password, &salt, iterations);
        let client_key = hmac(&salted, &[b"Client Key"]);
        let stored_key = sha256(&client_key);
        let server_key = hmac(&salted, &[b"Server Key"]);

        let without_proof = format!("c={CHANNEL_BINDING},r={nonce}");
        let bare = &self.client_first[GS2_HEADER.len()..];
        let auth = auth_message(bare, server_first, &without_proof);
        let signature = hmac(&stored_key, &auth);
        let proof = xor(&client_key, &signature);
        Ok(ScramClientFinal {
            message: format!("{without_proof},p={}", STANDARD.encode(proof)),
            server_signature: hmac(&server_key, &auth),
        })
    }
}

/// The client side of an exchange, after making its final message: what
/// is left is to check the server's signature.
#[derive(Clone)]
pub struct ScramClientFinal {
    message: String,
    server_signature: [u8; KEY_LEN],
}

impl fmt::Debug for ScramClientFinal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramClientFinal")
            .field("message", &self.message)
            .finish_non_exhaustive()
    }
}

impl ScramClientFinal {
    /// The client-final message (`c=biws,r=<nonce>,p=<proof>`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// Checks the server-final message: the server proves, with its
    /// signature compared in constant time, that it holds the user's
    /// credentials.
    pub fn verify_server_final(&self, server_final: &str) -> Result<(), ScramError> {
        const MSG: ScramMessage = ScramMessage::ServerFinal;
        let mut parts = server_final.split(',');
        let first = parts.next().unwrap_or_default();
        if let Some(error) = first.strip_prefix("e=") {
            return Err(ScramError::ServerRefused {
                glimpse: glimpse(error),
            });
        }
        let signature = attribute(MSG, Some(first), 'v')?;
        check_extensions(MSG, parts)?;
        let signature = decode_standard("v", signature)?;
        if bool::from(signature.as_slice().ct_eq(&self.server_signature)) {
            Ok(())
        } else {
            Err(ScramError::ServerSignature)
        }
    }
}

/// The server side of an exchange, before the client-first message: the
/// user the login is for and the credentials to check against.
///
/// For a user the store does not know, [`ScramServer::new`] takes fake
/// credentials from [`FakeCredentials`]; for a disabled user, the real
/// ones. Either way the exchange runs to the final step and fails there
/// with [`ScramError::AuthenticationFailed`], the error of a wrong
/// password, after the same work.
#[derive(Debug, Clone)]
pub struct ScramServer {
    username: String,
    credentials: ScramCredentials,
    role: Role,
    can_succeed: bool,
}

impl ScramServer {
    /// Prepares the login of `username` (the name of the `hello`
    /// message), with the store's record for it, if any.
    pub fn new(username: &str, record: Option<UserRecord>, fake: &FakeCredentials) -> Self {
        match record {
            Some(record) => Self {
                username: username.to_owned(),
                credentials: record.credentials,
                role: record.role,
                can_succeed: record.enabled,
            },
            None => Self {
                username: username.to_owned(),
                credentials: fake.credentials(username),
                role: Role::Viewer,
                can_succeed: false,
            },
        }
    }

    /// The user the login is for.
    pub fn username(&self) -> &str {
        &self.username
    }

    /// Reads the client-first message and makes the server-first message,
    /// extending the client's nonce with 24 random bytes in base64url.
    pub fn server_first(self, client_first: &str) -> Result<ScramServerFirst, ScramError> {
        let extension = encode_base64url(&random_bytes::<NONCE_BYTES>()?);
        self.server_first_with_nonce(client_first, &extension)
    }

    /// As [`ScramServer::server_first`], with the given nonce extension,
    /// for test vectors. The extension must be printable ASCII without `,`.
    pub fn server_first_with_nonce(
        self,
        client_first: &str,
        extension: &str,
    ) -> Result<ScramServerFirst, ScramError> {
        const MSG: ScramMessage = ScramMessage::ClientFirst;
        check_nonce(ScramMessage::ServerFirst, extension)?;
        let Some(bare) = client_first.strip_prefix(GS2_HEADER) else {
            let header_len = client_first.len().min(GS2_HEADER.len() + 8);
            return Err(ScramError::Gs2Header {
                glimpse: glimpse(client_first.get(..header_len).unwrap_or(client_first)),
            });
        };
        let mut parts = bare.split(',');
        let first = parts.next();
        if first.is_some_and(|part| part.starts_with("m=")) {
            return Err(ScramError::Malformed {
                message: MSG,
                problem: "a mandatory extension (m=) is not supported",
                glimpse: glimpse(bare),
            });
        }
        let name = unescape_username(attribute(MSG, first, 'n')?)?;
        let nonce = attribute(MSG, parts.next(), 'r')?;
        check_extensions(MSG, parts)?;
        check_nonce(MSG, nonce)?;
        if name != self.username {
            return Err(ScramError::UserMismatch {
                expected: self.username,
                found: glimpse(&name),
            });
        }

        let nonce = format!("{nonce}{extension}");
        let message = format!(
            "r={nonce},s={},i={}",
            STANDARD.encode(&self.credentials.salt),
            self.credentials.iterations
        );
        Ok(ScramServerFirst {
            client_first_bare: bare.to_owned(),
            message,
            nonce,
            server: self,
        })
    }
}

/// The server side of an exchange, after making its first message: what is
/// left is to check the client's proof.
#[derive(Debug, Clone)]
pub struct ScramServerFirst {
    client_first_bare: String,
    message: String,
    nonce: String,
    server: ScramServer,
}

impl ScramServerFirst {
    /// The server-first message (`r=<nonce>,s=<salt>,i=<iterations>`).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The user the login is for.
    pub fn username(&self) -> &str {
        &self.server.username
    }

    /// Reads the client-final message: checks the channel binding, the
    /// nonce and the proof, the proof in constant time, and makes the
    /// server-final message. An unknown user, a disabled one and a wrong
    /// password all fail here with [`ScramError::AuthenticationFailed`],
    /// after the same work.
    pub fn server_final(self, client_final: &str) -> Result<ScramServerSuccess, ScramError> {
        const MSG: ScramMessage = ScramMessage::ClientFinal;
        let Some((without_proof, proof)) = client_final.rsplit_once(",p=") else {
            return Err(ScramError::Malformed {
                message: MSG,
                problem: "the proof (p=) is missing or not last",
                glimpse: glimpse(client_final),
            });
        };
        let mut parts = without_proof.split(',');
        let binding = attribute(MSG, parts.next(), 'c')?;
        let nonce = attribute(MSG, parts.next(), 'r')?;
        check_extensions(MSG, parts)?;
        if binding != CHANNEL_BINDING {
            return Err(ScramError::ChannelBinding {
                glimpse: glimpse(binding),
            });
        }
        if nonce != self.nonce {
            return Err(ScramError::NonceMismatch {
                glimpse: glimpse(nonce),
            });
        }
        let proof = decode_standard("p", proof)?;
        let Ok(proof) = <[u8; KEY_LEN]>::try_from(proof.as_slice()) else {
            return Err(ScramError::ProofLength { len: proof.len() });
        };

        let credentials = &self.server.credentials;
        let auth = auth_message(&self.client_first_bare, &self.message, without_proof);
        let client_signature = hmac(&credentials.stored_key, &auth);
        let client_key = xor(&proof, &client_signature);
        let proven = sha256(&client_key).ct_eq(&credentials.stored_key);
        let server_signature = hmac(&credentials.server_key, &auth);
        if !bool::from(proven & subtle::Choice::from(u8::from(self.server.can_succeed))) {
            return Err(ScramError::AuthenticationFailed);
        }
        Ok(ScramServerSuccess {
            server_final: format!("v={}", STANDARD.encode(server_signature)),
            username: self.server.username,
            role: self.server.role,
        })
    }
}

/// A login the server has accepted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScramServerSuccess {
    /// The server-final message (`v=<signature>`).
    pub server_final: String,
    /// The user who logged in.
    pub username: String,
    /// That user's role.
    pub role: Role,
}

/// Escapes a user name for the `n=` attribute: `=` as `=3D`, `,` as `=2C`
/// (RFC 5802 §5.1).
pub fn escape_username(name: &str) -> String {
    name.replace('=', "=3D").replace(',', "=2C")
}

/// Reads an escaped user name back; an `=` must start `=2C` or `=3D`.
pub fn unescape_username(escaped: &str) -> Result<String, ScramError> {
    let mut name = String::with_capacity(escaped.len());
    let mut rest = escaped;
    while let Some(at) = rest.find('=') {
        name.push_str(&rest[..at]);
        let after = &rest[at..];
        if after.starts_with("=2C") {
            name.push(',');
        } else if after.starts_with("=3D") {
            name.push('=');
        } else {
            return Err(ScramError::UserNameEscape {
                glimpse: glimpse(escaped),
            });
        }
        rest = &after[3..];
    }
    name.push_str(rest);
    Ok(name)
}

/// Encodes bytes as unpadded base64url, the form of the login messages'
/// JSON fields.
pub fn encode_base64url(bytes: &[u8]) -> String {
    BASE64URL.encode(bytes)
}

/// Decodes a base64url JSON field (unpadded, or padded as the reference's
/// decoder also reads); `field` names it in the error.
pub fn decode_base64url(field: &'static str, text: &str) -> Result<Vec<u8>, ScramError> {
    BASE64URL.decode(text).map_err(|_| ScramError::Base64 {
        field,
        glimpse: glimpse(text),
    })
}

/// Decodes a base64url JSON field that holds UTF-8 text, such as a SCRAM
/// message or a user name.
pub fn decode_base64url_text(field: &'static str, text: &str) -> Result<String, ScramError> {
    String::from_utf8(decode_base64url(field, text)?).map_err(|_| ScramError::NotUtf8 { field })
}

/// The first characters of a peer's value, for an error message.
pub(crate) fn glimpse(value: &str) -> String {
    match value.char_indices().nth(GLIMPSE_CHARS) {
        Some((end, _)) => format!("{}…", &value[..end]),
        None => value.to_owned(),
    }
}

/// `N` bytes from the operating system's random source.
pub(crate) fn random_bytes<const N: usize>() -> Result<[u8; N], RandomError> {
    let mut bytes = [0; N];
    getrandom::fill(&mut bytes)?;
    Ok(bytes)
}

/// HMAC-SHA-256 under a 32-byte key over the concatenated parts.
pub(crate) fn hmac(key: &[u8; KEY_LEN], parts: &[&[u8]]) -> [u8; KEY_LEN] {
    // A key shorter than the hash's block is zero-padded to it (RFC 2104
    // §2), so the padded block is the same key; taking it as a whole block
    // makes the key length fixed and the initialisation infallible.
    let mut block = [0; 64];
    block[..KEY_LEN].copy_from_slice(key);
    let mut mac = <Hmac<Sha256>>::new(&block.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// SHA-256 of `bytes`.
pub(crate) fn sha256(bytes: &[u8]) -> [u8; KEY_LEN] {
    Sha256::digest(bytes).into()
}

/// The salted password, PBKDF2-HMAC-SHA-256 (RFC 5802 `Hi`).
pub(crate) fn salted_password(password: &str, salt: &[u8], iterations: u32) -> [u8; KEY_LEN] {
    let mut salted = [0; KEY_LEN];
    pbkdf2::pbkdf2_hmac::<Sha256>(password.as_bytes(), salt, iterations, &mut salted);
    salted
}

fn xor(a: &[u8; KEY_LEN], b: &[u8; KEY_LEN]) -> [u8; KEY_LEN] {
    std::array::from_fn(|i| a[i] ^ b[i])
}

/// `client-first-message-bare "," server-first-message ","
/// client-final-message-without-proof` (RFC 5802 §3), as HMAC parts.
fn auth_message<'a>(bare: &'a str, server_first: &'a str, without_proof: &'a str) -> [&'a [u8]; 5] {
    [
        bare.as_bytes(),
        b",",
        server_first.as_bytes(),
        b",",
        without_proof.as_bytes(),
    ]
}

/// The value of `part`, which must be the attribute `name` (`name=value`).
fn attribute(message: ScramMessage, part: Option<&str>, name: char) -> Result<&str, ScramError> {
    let part = part.unwrap_or_default();
    let mut chars = part.chars();
    if chars.next() == Some(name) && chars.next() == Some('=') {
        return Ok(&part[2..]);
    }
    Err(ScramError::Malformed {
        message,
        problem: match name {
            'n' => "the user name (n=) is missing or out of place",
            'r' => "the nonce (r=) is missing or out of place",
            's' => "the salt (s=) is missing or out of place",
            'i' => "the iteration count (i=) is missing or out of place",
            'c' => "the channel binding (c=) is missing or out of place",
            'v' => "the server signature (v=) is missing or out of place",
            _ => "an attribute is missing or out of place",
        },
        glimpse: glimpse(part),
    })
}

/// Optional extensions after the known attributes: each a letter, `=` and
/// a value; their values are ignored.
fn check_extensions<'a>(
    message: ScramMessage,
    parts: impl Iterator<Item = &'a str>,
) -> Result<(), ScramError> {
    for part in parts {
        let bytes = part.as_bytes();
        if bytes.len() < 2 || !bytes[0].is_ascii_alphabetic() || bytes[1] != b'=' {
            return Err(ScramError::Malformed {
                message,
                problem: "an extension is not of the form <letter>=<value>",
                glimpse: glimpse(part),
            });
        }
    }
    Ok(())
}

/// A nonce must be non-empty printable ASCII without `,` (RFC 5802 §7).
fn check_nonce(message: ScramMessage, nonce: &str) -> Result<(), ScramError> {
    if nonce.is_empty() {
        return Err(ScramError::EmptyNonce { message });
    }
    if !nonce.bytes().all(|b| b.is_ascii_graphic() && b != b',') {
        return Err(ScramError::InvalidNonce {
            message,
            glimpse: glimpse(nonce),
        });
    }
    Ok(())
}

fn parse_iterations(text: &str) -> Result<u32, ScramError> {
    if text.is_empty() || !text.bytes().all(|b| b.is_ascii_digit()) {
        return Err(ScramError::Malformed {
            message: ScramMessage::ServerFirst,
            problem: "the iteration count is not a decimal number",
            glimpse: glimpse(text),
        });
    }
    text.parse().map_err(|_| ScramError::Malformed {
        message: ScramMessage::ServerFirst,
        problem: "the iteration count is too large",
        glimpse: glimpse(text),
    })
}

fn decode_standard(field: &'static str, text: &str) -> Result<Vec<u8>, ScramError> {
    STANDARD.decode(text).map_err(|_| ScramError::Base64 {
        field,
        glimpse: glimpse(text),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_channel_binding_is_the_gs2_header_in_base64() {
        assert_eq!(STANDARD.encode(GS2_HEADER), CHANNEL_BINDING);
    }

    #[test]
    fn hmac_with_a_padded_key_block_is_hmac_with_the_key() {
        let key = [7; KEY_LEN];
        let mut reference = <Hmac<Sha256>>::new_from_slice(&key).unwrap();
        reference.update(b"Client Key");
        let expected: [u8; KEY_LEN] = reference.finalize().into_bytes().into();
        assert_eq!(hmac(&key, &[b"Client ", b"Key"]), expected);
    }

    #[test]
    fn a_glimpse_cuts_long_values_on_a_character_boundary() {
        let long = "é".repeat(100);
        let cut = glimpse(&long);
        assert_eq!(cut.chars().count(), GLIMPSE_CHARS + 1);
        assert!(cut.ends_with('…'));
        assert_eq!(glimpse("short"), "short");
    }
}
