//! The tokens a server issues after a successful login, which a client
//! presents on later connections instead of logging in again.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::credentials::Role;
use super::scram::{encode_base64url, random_bytes, sha256, RandomError, KEY_LEN};

/// Random bytes in a token, as in the reference: 32, 43 base64url
/// characters.
const TOKEN_BYTES: usize = 32;

/// Who a token was issued to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TokenHolder {
    /// The user who logged in.
    pub username: String,
    /// That user's role when the token was issued.
    pub role: Role,
}

#[derive(Debug)]
struct Issued {
    holder: TokenHolder,
    /// `None` when the lifetime reaches past what the clock can express.
    expires: Option<Instant>,
    order: u64,
}

#[derive(Debug, Default)]
struct Inner {
    /// Tokens by the SHA-256 of their text: a look-up's timing depends on
    /// the digest, not on how much of a guessed token is right.
    by_digest: HashMap<[u8; KEY_LEN], Issued>,
    /// The same tokens by issue order, oldest first.
    by_age: BTreeMap<u64, [u8; KEY_LEN]>,
    next_order: u64,
}

impl Inner {
    fn remove_oldest(&mut self) -> bool {
        match self.by_age.pop_first() {
            Some((_, digest)) => {
                self.by_digest.remove(&digest);
                true
            }
            None => false,
        }
    }

    /// Drops expired tokens. All tokens have the same lifetime, so they
    /// expire in issue order and only the oldest need looking at.
    fn purge(&mut self, now: Instant) {
        while let Some((_, digest)) = self.by_age.first_key_value() {
            let expired = self
                .by_digest
                .get(digest)
                .is_none_or(|issued| issued.expires.is_some_and(|at| now > at));
            if !expired || !self.remove_oldest() {
                break;
            }
        }
    }
}

/// The tokens issued after successful logins, each mapped to its holder,
/// valid for a lifetime from issue, at most a given number at once (the
/// oldest goes first). Thread-safe; the clock is tokio's, so tests can
/// pause it.
#[derive(Debug)]
pub struct IssuedTokens {
    lifetime: Duration,
    capacity: usize,
    inner: Mutex<Inner>,
}

impl Default for IssuedTokens {
    fn default() -> Self {
        Self::new()
    }
}

impl IssuedTokens {
    /// How long a token stays valid by default, as in the reference: an
    /// hour.
    pub const DEFAULT_LIFETIME: Duration = Duration::from_secs(3600);

    /// How many tokens are kept by default, as in the reference: 10,000.
    pub const DEFAULT_CAPACITY: usize = 10_000;

    /// An empty set with the default lifetime and capacity.
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_LIFETIME, Self::DEFAULT_CAPACITY)
    }

    /// An empty set whose tokens last `lifetime`, keeping at most
    /// `capacity` of them (at least one).
    pub fn with_limits(lifetime: Duration, capacity: usize) -> Self {
        Self {
            lifetime,
            capacity: capacity.max(1),
            inner: Mutex::default(),
        }
    }

    /// How long a token stays valid.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// How many tokens are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// Issues a new token to `username`: 32 random bytes in unpadded
    /// base64url. When the set is full, the oldest token stops being valid.
    pub fn issue(&self, username: &str, role: Role) -> Result<String, RandomError> {
        let token = encode_base64url(&random_bytes::<TOKEN_BYTES>()?);
        let digest = sha256(token.as_bytes());
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge(now);
        while inner.by_digest.len() >= self.capacity && inner.remove_oldest() {}
        let order = inner.next_order;
        inner.next_order += 1;
        inner.by_age.insert(order, digest);
        inner.by_digest.insert(
            digest,
            Issued {
                holder: TokenHolder {
                    username: username.to_owned(),
                    role,
                },
                expires: now.checked_add(self.lifetime),
                order,
            },
        );
        Ok(token)
    }

    /// Who holds `token`, if it was issued here and has not expired or been
    /// revoked.
    pub fn lookup(&self, token: &str) -> Option<TokenHolder> {
        let digest = sha256(token.as_bytes());
        let now = Instant::now();
        let mut inner = self.lock();
        let issued = inner.by_digest.get(&digest)?;
        if issued.expires.is_some_and(|at| now > at) {
            let order = issued.order;
            inner.by_digest.remove(&digest);
            inner.by_age.remove(&order);
            return None;
        }
        Some(issued.holder.clone())
    }

    /// Withdraws `token`; whether it was valid.
    pub fn revoke(&self, token: &str) -> bool {
        let digest = sha256(token.as_bytes());
        let mut inner = self.lock();
        match inner.by_digest.remove(&digest) {
            Some(issued) => {
                inner.by_age.remove(&issued.order);
                true
            }
            None => false,
        }
    }

    /// Withdraws every token of `username`, as when the user is disabled
    /// or removed; how many there were.
    pub fn revoke_user(&self, username: &str) -> usize {
        let mut inner = self.lock();
        let before = inner.by_digest.len();
        let Inner {
            by_digest, by_age, ..
        } = &mut *inner;
        by_digest.retain(|_, issued| {
            let keep = issued.holder.username != username;
            if !keep {
                by_age.remove(&issued.order);
            }
            keep
        });
        before - by_digest.len()
    }

    /// How many valid tokens there are.
    pub fn len(&self) -> usize {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        inner.by_digest.len()
    }

    /// Whether no token is valid.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // The map stays consistent even if a holder of the lock panicked:
        // every change is a whole insert or remove.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}
