//! The tokens a server issues after a successful login, which a client
//! presents on later connections instead of logging in again, bounded per
//! user and in all.

use std::cmp::Reverse;
use std::collections::{BTreeMap, BTreeSet, HashMap};
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

/// Where a user stands among the holders: how many tokens, and the issue
/// order of the oldest. The largest is the user with the most tokens and,
/// among equals, the oldest token.
type Standing = (usize, Reverse<u64>);

#[derive(Debug, Default)]
struct Inner {
    /// Tokens by the SHA-256 of their text: a look-up's timing depends on
    /// the digest, not on how much of a guessed token is right.
    by_digest: HashMap<[u8; KEY_LEN], Issued>,
    /// The same tokens by issue order, oldest first.
    by_age: BTreeMap<u64, [u8; KEY_LEN]>,
    /// Each holder's tokens, by issue order.
    by_user: HashMap<String, BTreeSet<u64>>,
    /// The holders by [`Standing`], each once.
    by_standing: BTreeSet<Standing>,
    next_order: u64,
}

impl Inner {
    fn standing(orders: &BTreeSet<u64>) -> Option<Standing> {
        orders.first().map(|&oldest| (orders.len(), Reverse(oldest)))
    }

    /// Withdraws the token issued `order`th; whether there was one.
    fn remove(&mut self, order: u64) -> bool {
        let Some(digest) = self.by_age.remove(&order) else {
            return false;
        };
        let Some(issued) = self.by_digest.remove(&digest) else {
            return true;
        };
        let username = issued.holder.username;
        if let Some(orders) = self.by_user.get_mut(&username) {
            if let Some(before) = Self::standing(orders) {
                self.by_standing.remove(&before);
            }
            orders.remove(&order);
            match Self::standing(orders) {
                Some(after) => {
                    self.by_standing.insert(after);
                }
                None => {
                    self.by_user.remove(&username);
                }
            }
        }
        true
    }

    fn insert(&mut self, digest: [u8; KEY_LEN], issued: Issued) {
        let order = issued.order;
        let orders = self.by_user.entry(issued.holder.username.clone()).or_default();
        if let Some(before) = Self::standing(orders) {
            self.by_standing.remove(&before);
        }
        orders.insert(order);
        if let Some(after) = Self::standing(orders) {
            self.by_standing.insert(after);
        }
        self.by_age.insert(order, digest);
        self.by_digest.insert(digest, issued);
    }

    fn remove_oldest(&mut self) -> bool {
        match self.by_age.first_key_value() {
            Some((&order, _)) => self.remove(order),
            None => false,
        }
    }

    /// Withdraws the oldest token of `username`; whether it had one.
    fn remove_oldest_of(&mut self, username: &str) -> bool {
        let oldest = self
            .by_user
            .get(username)
            .and_then(|orders| orders.first().copied());
        oldest.is_some_and(|order| self.remove(order))
    }

    /// Withdraws the oldest token of the user holding the most.
    fn remove_from_largest_holder(&mut self) -> bool {
        match self.by_standing.last() {
            Some(&(_, Reverse(oldest))) => self.remove(oldest),
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
/// valid for a lifetime from issue. Thread-safe; the clock is tokio's, so
/// tests can pause it.
///
/// Two bounds keep one account from crowding out the others:
///
/// - **Per user** ([`IssuedTokens::per_user_cap`], default
///   [`IssuedTokens::DEFAULT_PER_USER_CAP`]): a user who logs in past it
///   loses their own oldest token, never another user's.
/// - **In all** ([`IssuedTokens::capacity`], default
///   [`IssuedTokens::DEFAULT_CAPACITY`]): with the per-user cap, it is only
///   reached by capacity ÷ per-user cap accounts or more (100 with the
///   defaults). When it is, the token that goes is the oldest of the user
///   holding the most: a user holding k tokens loses one only when no user
///   holds more than k, that is when at least capacity ÷ k users hold
///   tokens (10,000 accounts to take a user's only token).
#[derive(Debug)]
pub struct IssuedTokens {
    lifetime: Duration,
    capacity: usize,
    per_user_cap: usize,
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

    /// How many tokens one user holds at most by default: 100. A user's
    /// devices and scripts logging in again within a token's hour need a
    /// handful; 100 leaves room for a fleet of clients sharing one account,
    /// while one account logging in without end churns only its own
    /// tokens, and filling the set takes 100 accounts.
    pub const DEFAULT_PER_USER_CAP: usize = 100;

    /// An empty set with the default lifetime, capacity and per-user cap.
    pub fn new() -> Self {
        Self::with_limits(Self::DEFAULT_LIFETIME, Self::DEFAULT_CAPACITY)
    }

    /// An empty set whose tokens last `lifetime`, keeping at most
    /// `capacity` of them (at least one), and at most
    /// [`IssuedTokens::DEFAULT_PER_USER_CAP`] per user.
    pub fn with_limits(lifetime: Duration, capacity: usize) -> Self {
        Self {
            lifetime,
            capacity: capacity.max(1),
            per_user_cap: Self::DEFAULT_PER_USER_CAP,
            inner: Mutex::default(),
        }
    }

    /// The same set, keeping at most `cap` tokens per user (at least one).
    pub fn with_per_user_cap(mut self, cap: usize) -> Self {
        self.per_user_cap = cap.max(1);
        self
    }

    /// How long a token stays valid.
    pub fn lifetime(&self) -> Duration {
        self.lifetime
    }

    /// How many tokens are kept at most.
    pub fn capacity(&self) -> usize {
        self.capacity
    }

    /// How many tokens one user holds at most.
    pub fn per_user_cap(&self) -> usize {
        self.per_user_cap
    }

    /// Issues a new token to `username`: 32 random bytes in unpadded
    /// base64url. When the user already holds
    /// [`IssuedTokens::per_user_cap`] tokens, their oldest stops being valid;
    /// when the set is full, the oldest token of the user holding the most
    /// does.
    pub fn issue(&self, username: &str, role: Role) -> Result<String, RandomError> {
        let token = encode_base64url(&random_bytes::<TOKEN_BYTES>()?);
        let digest = sha256(token.as_bytes());
        let now = Instant::now();
        let mut inner = self.lock();
        inner.purge(now);
        while inner
            .by_user
            .get(username)
            .is_some_and(|orders| orders.len() >= self.per_user_cap)
            && inner.remove_oldest_of(username)
        {}
        while inner.by_digest.len() >= self.capacity && inner.remove_from_largest_holder() {}
        let order = inner.next_order;
        inner.next_order += 1;
        inner.insert(
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
            inner.remove(order);
            return None;
        }
        Some(issued.holder.clone())
    }

    /// Withdraws `token`; whether it was valid.
    pub fn revoke(&self, token: &str) -> bool {
        let digest = sha256(token.as_bytes());
        let mut inner = self.lock();
        match inner.by_digest.get(&digest) {
            Some(issued) => {
                let order = issued.order;
                inner.remove(order)
            }
            None => false,
        }
    }

    /// Withdraws every token of `username`, as when the user is disabled
    /// or removed; how many there were.
    pub fn revoke_user(&self, username: &str) -> usize {
        let mut inner = self.lock();
        let orders = inner.by_user.get(username).cloned().unwrap_or_default();
        orders.into_iter().filter(|&order| inner.remove(order)).count()
    }

    /// How many tokens `username` holds that have not expired.
    pub fn held_by(&self, username: &str) -> usize {
        let mut inner = self.lock();
        inner.purge(Instant::now());
        inner.by_user.get(username).map_or(0, BTreeSet::len)
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
