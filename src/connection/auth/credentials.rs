//! What a server keeps to check a SCRAM login: per-user credentials, roles,
//! the store it looks users up in, and fake credentials for unknown users.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::str::FromStr;
use std::sync::Arc;

use super::scram::{hmac, random_bytes, salted_password, sha256, RandomError, KEY_LEN};

/// Length in bytes of the salt [`ScramCredentials::derive`] draws, as the
/// reference's: 16 bytes, the shortest clients accept.
const SALT_LEN: usize = 16;

/// Why credentials could not be made.
#[derive(Debug, thiserror::Error)]
pub enum CredentialsError {
    /// PBKDF2 needs at least one iteration.
    #[error("the iteration count is 0; PBKDF2 needs at least one")]
    ZeroIterations,
    /// A salt must not be empty.
    #[error("the salt is empty")]
    EmptySalt,
    /// The random source failed while drawing a salt or a secret.
    #[error(transparent)]
    Random(#[from] RandomError),
}

/// A user's SCRAM-SHA-256 credentials, as a server stores them: never the
/// password, only what checks a proof of it (RFC 5802 §3).
#[derive(Clone, PartialEq, Eq)]
pub struct ScramCredentials {
    /// The salt of the salted password.
    pub salt: Vec<u8>,
    /// The PBKDF2 iteration count of the salted password.
    pub iterations: u32,
    /// `H(HMAC(SaltedPassword, "Client Key"))`: checks the client's proof.
    pub stored_key: [u8; KEY_LEN],
    /// `HMAC(SaltedPassword, "Server Key")`: signs the server's answer.
    pub server_key: [u8; KEY_LEN],
}

impl fmt::Debug for ScramCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ScramCredentials")
            .field("salt_len", &self.salt.len())
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl ScramCredentials {
    /// Derives credentials for `password` with a random 16-byte salt.
    pub fn derive(password: &str, iterations: u32) -> Result<Self, CredentialsError> {
        let salt = random_bytes::<SALT_LEN>()?;
        Self::derive_with_salt(password, &salt, iterations)
    }

    /// Derives credentials for `password` with the given salt.
    pub fn derive_with_salt(password: &str, salt: &[u8], iterations: u32) -> Result<Self, CredentialsError> {
        if iterations == 0 {
            return Err(CredentialsError::ZeroIterations);
        }
        if salt.is_empty() {
            return Err(CredentialsError::EmptySalt);
        }
        let salted = salted_password(password, salt, iterations);
        Ok(Self {
            salt: salt.to_vec(),
            iterations,
            stored_key: sha256(&hmac(&salted, &[b"Client Key"])),
            server_key: hmac(&salted, &[b"Server Key"]),
        })
    }
}

/// What a user may do, in increasing order of privilege, as the
/// reference's roles.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub enum Role {
    /// Read-only operations.
    #[default]
    Viewer,
    /// Reads and writes.
    Operator,
    /// Everything, user management included.
    Admin,
}

impl Role {
    /// Every role, from the least privileged.
    pub const ALL: [Role; 3] = [Role::Viewer, Role::Operator, Role::Admin];

    /// The role's name in the users file.
    pub fn name(self) -> &'static str {
        match self {
            Self::Viewer => "viewer",
            Self::Operator => "operator",
            Self::Admin => "admin",
        }
    }
}

impl fmt::Display for Role {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A name that is not a role.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a role (viewer, operator or admin)")]
pub struct UnknownRole(pub String);

impl FromStr for Role {
    type Err = UnknownRole;

    fn from_str(name: &str) -> Result<Self, Self::Err> {
        Self::ALL
            .into_iter()
            .find(|role| role.name() == name)
            .ok_or_else(|| UnknownRole(name.to_owned()))
    }
}

/// What a credential store knows of one user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UserRecord {
    /// The user's SCRAM credentials.
    pub credentials: ScramCredentials,
    /// The user's role.
    pub role: Role,
    /// Whether the user may log in; a disabled user fails like a wrong
    /// password.
    pub enabled: bool,
}

/// The future of a [`CredentialStore`] look-up.
pub type Lookup<'a> = Pin<Box<dyn Future<Output = Option<UserRecord>> + Send + 'a>>;

/// Where a server looks users up when they log in: a file loaded in memory
/// ([`Users`](super::Users)), a database, a directory.
///
/// A store that cannot reach its backend answers `None`: the login then
/// fails as for an unknown user, and the store reports the fault its own
/// way.
pub trait CredentialStore: Send + Sync {
    /// The record of `username`, or `None` when the store does not know it.
    fn user<'a>(&'a self, username: &'a str) -> Lookup<'a>;
}

impl<S: CredentialStore + ?Sized> CredentialStore for Arc<S> {
    fn user<'a>(&'a self, username: &'a str) -> Lookup<'a> {
        (**self).user(username)
    }
}

impl<S: CredentialStore + ?Sized> CredentialStore for &S {
    fn user<'a>(&'a self, username: &'a str) -> Lookup<'a> {
        (**self).user(username)
    }
}

/// Credentials for users a store does not know, so that a login for an
/// unknown name looks, to the client, like one with a wrong password.
///
/// The salt and keys are HMACs of a secret and the name: the same name
/// always gets the same salt (a repeated `hello` cannot tell it apart from
/// a real user), and no password matches the keys. Give it the iteration
/// count real users have, so that the count does not tell either.
#[derive(Clone)]
pub struct FakeCredentials {
    secret: [u8; KEY_LEN],
    iterations: u32,
}

impl fmt::Debug for FakeCredentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FakeCredentials")
            .field("iterations", &self.iterations)
            .finish_non_exhaustive()
    }
}

impl FakeCredentials {
    /// Fake credentials with a random secret, for the life of a process or
    /// a store.
    pub fn new(iterations: u32) -> Result<Self, CredentialsError> {
        Self::with_secret(random_bytes::<KEY_LEN>()?, iterations)
    }

    /// Fake credentials with the given secret, so that they stay the same
    /// across restarts or across servers sharing the secret.
    pub fn with_secret(secret: [u8; KEY_LEN], iterations: u32) -> Result<Self, CredentialsError> {
        if iterations == 0 {
            return Err(CredentialsError::ZeroIterations);
        }
        Ok(Self { secret, iterations })
    }

    /// The iteration count every fake user gets.
    pub fn iterations(&self) -> u32 {
        self.iterations
    }

    /// The fake credentials of `username`: always the same for the same
    /// name and secret.
    pub fn credentials(&self, username: &str) -> ScramCredentials {
        let name = username.as_bytes();
        let salt = hmac(&self.secret, &[b"salt\0", name]);
        ScramCredentials {
            salt: salt[..SALT_LEN].to_vec(),
            iterations: self.iterations,
            stored_key: hmac(&self.secret, &[b"stored key\0", name]),
            server_key: hmac(&self.secret, &[b"server key\0", name]),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn roles_are_ordered_by_privilege_and_named_as_in_the_users_file() {
        assert!(Role::Viewer < Role::Operator && Role::Operator < Role::Admin);
        for role in Role::ALL {
            assert_eq!(role.name().parse::<Role>(), Ok(role));
        }
        assert_eq!("root".parse::<Role>(), Err(UnknownRole("root".into())));
    }

    #[test]
    fn fake_credentials_are_the_same_for_a_name_and_differ_between_names() {
        let fake = FakeCredentials::new(4096).unwrap();
        let a = fake.credentials("mallory");
        assert_eq!(a, fake.credentials("mallory"));
        assert_ne!(a.salt, fake.credentials("eve").salt);
        assert_eq!(a.salt.len(), SALT_LEN);
        assert_eq!(a.iterations, 4096);
    }

    #[test]
    fn credentials_with_zero_iterations_or_an_empty_salt_are_refused() {
        assert!(matches!(
            ScramCredentials::derive("pw", 0),
            Err(CredentialsError::ZeroIterations)
        ));
        assert!(matches!(
            ScramCredentials::derive_with_salt("pw", &[], 4096),
            Err(CredentialsError::EmptySalt)
        ));
    }

    #[test]
    fn debug_output_shows_no_keys() {
        let creds = ScramCredentials::derive_with_salt("pw", &[1; 16], 1).unwrap();
        let shown = format!("{creds:?}");
        assert!(!shown.contains("stored_key") && !shown.contains("server_key"));
    }
}
