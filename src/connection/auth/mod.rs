//! Logging in: SCRAM-SHA-256 (RFC 5802, RFC 7677) as pure state machines,
//! the credentials a server keeps and the store it looks users up in, the
//! reference's users file, the tokens issued after a login, and the
//! throttle that slows down password guessing.
//!
//! Nothing here does I/O on a connection: the JSON messages that carry the
//! SCRAM strings are built and read by the connection layer.
//!
//! A server never tells an unknown user from a wrong password: for a name
//! its [`CredentialStore`] does not know, it runs the exchange with
//! [`FakeCredentials`] (a salt that stays the same for the name, the usual
//! iteration count) and fails at the last step, with the same error and
//! after the same work as for a wrong password or a disabled user.

mod credentials;
mod scram;
mod throttle;
mod tokens;
mod users;

pub use credentials::{
    CredentialStore, CredentialsError, FakeCredentials, Lookup, Role, ScramCredentials, UnknownRole,
    UserRecord,
};
pub use scram::{
    decode_base64url, decode_base64url_text, encode_base64url, escape_username, unescape_username,
    RandomError, ScramClient, ScramClientFinal, ScramError, ScramLimits, ScramMessage, ScramServer,
    ScramServerFirst, ScramServerSuccess,
};
pub use throttle::{Backoff, LoginSlot, LoginThrottle, ThrottleError};
pub use tokens::{IssuedTokens, TokenHolder};
pub use users::{Users, UsersError};
