//! Slowing down password guessing: a [`LoginThrottle`] counts failed logins
//! per address and per user name, and says how long the next attempt waits
//! for its verdict; it also bounds the logins one address has in progress.
//!
//! Nothing here sleeps or touches a connection: the server's login step asks
//! the throttle for the delay, applies it, and reports the outcome.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::hash::Hash;
use std::net::IpAddr;
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use super::super::network::client_network;
use super::scram::{sha256, KEY_LEN};

/// How the delay grows with failures: nothing for the first
/// `free_failures`, then `first_delay`, doubling with each further failure,
/// up to `max_delay`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Backoff {
    /// Failures that cost nothing: typing mistakes.
    pub free_failures: u32,
    /// The delay once the free failures are spent.
    pub first_delay: Duration,
    /// The longest delay, however many failures there were.
    pub max_delay: Duration,
}

impl Backoff {
    /// No delay, whatever the failures.
    pub const NONE: Backoff = Backoff {
        free_failures: u32::MAX,
        first_delay: Duration::ZERO,
        max_delay: Duration::ZERO,
    };

    /// The delay after `failures` failures: zero below
    /// [`Backoff::free_failures`], then [`Backoff::first_delay`] times
    /// 2^(`failures` − `free_failures`), at most [`Backoff::max_delay`].
    pub fn delay(&self, failures: u32) -> Duration {
        let Some(doublings) = failures.checked_sub(self.free_failures) else {
            return Duration::ZERO;
        };
        // 2^31 times any delay is past any cap worth having.
        let factor = 1u32 << doublings.min(31);
        self.first_delay.saturating_mul(factor).min(self.max_delay)
    }
}

/// Why a login was not let in by the throttle.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThrottleError {
    /// The address already has as many logins in progress as one address
    /// may have at once ([`LoginThrottle::max_logins_per_address`]).
    #[error(
        "{limit} logins from {address}{} are already in progress, the most one address may have at once",
        if address.is_ipv6() { "/64" } else { "" }
    )]
    TooManyLogins {
        /// The address, or for IPv6 the first address of its /64.
        address: IpAddr,
        /// The logins one address may have in progress at once.
        limit: usize,
    },
}

/// Counts failed logins per address and per user name, and says how long
/// an attempt waits for its verdict; bounds the logins in progress per
/// address.
///
/// - **Per address.** An IPv4 address is one entry; an IPv6 address counts
///   by its /64 prefix, the block one subscriber usually gets, so that an
///   attacker cannot take a new address from its block for each guess. An
///   IPv4 address mapped into IPv6 (`::ffff:a.b.c.d`, as a dual-stack
///   socket reports one) counts as the IPv4 address. The delay grows fast
///   and high ([`LoginThrottle::DEFAULT_ADDRESS_BACKOFF`]).
/// - **Per user name**, keyed by the SHA-256 of the name as the client sent
///   it, known or not: an unknown name and a wrong password count and wait
///   alike, and an entry's size does not depend on the name. The delay
///   stays low ([`LoginThrottle::DEFAULT_USER_BACKOFF`]): it slows an
///   attacker who spreads guesses at one user over many addresses, while
///   the user, logging in from an address of their own, waits at most its
///   cap and is never locked out by someone else's failures.
///
/// An attempt waits the larger of its address's and its user's delays,
/// whatever its outcome, so that the time to the answer does not tell a
/// right password from a wrong one. A success clears its user's failures,
/// not its address's: a valid account must not reset an address's count
/// between guesses at other users. Failures are forgotten after a quiet
/// window without any ([`LoginThrottle::DEFAULT_QUIET_WINDOW`]). A
/// connection without an address is throttled per user only.
///
/// Each table keeps at most a fixed number of entries; when one is full,
/// the entry that failed least recently goes. Evicting a given entry thus
/// takes that many failed logins with other names (or from other
/// addresses), themselves throttled.
///
/// The user delay caps latency, not throughput: guesses at one user from
/// many addresses at once each wait the user delay in parallel. A cap on
/// throughput per user could only be had by making the user's own login
/// wait behind the attacker's, a lockout. Many addresses are what the
/// address table cannot see; the per-user delay makes each of their
/// guesses hold a connection for its length, within the server's
/// connection cap.
///
/// Shared by every connection of a [`ServerConfig`](super::super::ServerConfig)
/// (see [`ServerConfig::login_throttle`](super::super::ServerConfig::login_throttle));
/// thread-safe; the clock is tokio's, so tests can pause it.
pub struct LoginThrottle {
    address_backoff: Backoff,
    user_backoff: Backoff,
    quiet_window: Duration,
    max_addresses: usize,
    max_users: usize,
    max_logins_per_address: usize,
    inner: Mutex<Inner>,
}

impl fmt::Debug for LoginThrottle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = self.lock();
        f.debug_struct("LoginThrottle")
            .field("address_backoff", &self.address_backoff)
            .field("user_backoff", &self.user_backoff)
            .field("quiet_window", &self.quiet_window)
            .field("max_addresses", &self.max_addresses)
            .field("max_users", &self.max_users)
            .field("max_logins_per_address", &self.max_logins_per_address)
            .field("addresses", &inner.addresses.len())
            .field("users", &inner.users.len())
            .finish_non_exhaustive()
    }
}

impl Default for LoginThrottle {
    fn default() -> Self {
        Self::new()
    }
}

impl LoginThrottle {
    /// The delays of one address: 5 free failures (a few people behind one
    /// address each mistyping once), then 0.5 s doubling to 30 s, reached
    /// after 11 failures. At the cap, with
    /// [`LoginThrottle::DEFAULT_MAX_LOGINS_PER_ADDRESS`] logins at once, one
    /// address gets at most 8 guesses a minute, 480 an hour, where an
    /// unthrottled server takes thousands a second. A client whose own
    /// deadline is shorter than the delay (this crate's client waits 10 s)
    /// gives up first: that happens only to an address with 10 failures or
    /// more within the quiet window.
    pub const DEFAULT_ADDRESS_BACKOFF: Backoff = Backoff {
        free_failures: 5,
        first_delay: Duration::from_millis(500),
        max_delay: Duration::from_secs(30),
    };

    /// The delays of one user name: 3 free failures, then 0.25 s doubling to
    /// 2 s. Low, because the user's own logins wait it too: from an address
    /// without failures, the user waits at most 2 s however many guesses
    /// others made, well within any client's deadline.
    pub const DEFAULT_USER_BACKOFF: Backoff = Backoff {
        free_failures: 3,
        first_delay: Duration::from_millis(250),
        max_delay: Duration::from_secs(2),
    };

    /// How long an entry's failures are kept after its latest one: 15
    /// minutes, the usual reset window of account lockouts. An address that
    /// stops guessing is back to its free failures after it; one that waits
    /// the window out between bursts gets its free failures per window, a
    /// few hundred guesses a day.
    pub const DEFAULT_QUIET_WINDOW: Duration = Duration::from_secs(15 * 60);

    /// How many addresses are tracked at once: 16,384. An entry takes under
    /// 200 bytes with its index, so a full table stays under 4 MiB; a flood
    /// that evicts one address's entry takes 16,384 failed logins from
    /// other addresses within the quiet window.
    pub const DEFAULT_MAX_ADDRESSES: usize = 16_384;

    /// How many user names are tracked at once: 16,384, for the same
    /// reasons as [`LoginThrottle::DEFAULT_MAX_ADDRESSES`]; names are kept
    /// as 32-byte digests, so a long name costs no more than a short one.
    pub const DEFAULT_MAX_USERS: usize = 16_384;

    /// How many logins one address may have in progress at once: 4, a few
    /// clients behind one address connecting together. Without the bound,
    /// opening many connections at once would multiply the rate the delay
    /// allows. A login past it is answered `authErr` at once, after its
    /// `hello`, without a password being checked or a failure counted.
    pub const DEFAULT_MAX_LOGINS_PER_ADDRESS: usize = 4;

    /// A throttle with the default delays and bounds.
    pub fn new() -> Self {
        LoginThrottle {
            address_backoff: Self::DEFAULT_ADDRESS_BACKOFF,
            user_backoff: Self::DEFAULT_USER_BACKOFF,
            quiet_window: Self::DEFAULT_QUIET_WINDOW,
            max_addresses: Self::DEFAULT_MAX_ADDRESSES,
            max_users: Self::DEFAULT_MAX_USERS,
            max_logins_per_address: Self::DEFAULT_MAX_LOGINS_PER_ADDRESS,
            inner: Mutex::default(),
        }
    }

    /// A throttle that never delays and lets any number of logins in at
    /// once: for a server whose peers are all trusted, or tests.
    pub fn off() -> Self {
        Self::new()
            .address_backoff(Backoff::NONE)
            .user_backoff(Backoff::NONE)
            .max_logins_per_address(usize::MAX)
    }

    /// The delays of one address: default
    /// [`LoginThrottle::DEFAULT_ADDRESS_BACKOFF`].
    pub fn address_backoff(mut self, backoff: Backoff) -> Self {
        self.address_backoff = backoff;
        self
    }

    /// The delays of one user name: default
    /// [`LoginThrottle::DEFAULT_USER_BACKOFF`]. Keep its cap low: a user's
    /// own logins wait it.
    pub fn user_backoff(mut self, backoff: Backoff) -> Self {
        self.user_backoff = backoff;
        self
    }

    /// How long failures are kept after the latest one: default
    /// [`LoginThrottle::DEFAULT_QUIET_WINDOW`].
    pub fn quiet_window(mut self, window: Duration) -> Self {
        self.quiet_window = window;
        self
    }

    /// How many addresses are tracked at once (at least one): default
    /// [`LoginThrottle::DEFAULT_MAX_ADDRESSES`].
    pub fn max_addresses(mut self, entries: usize) -> Self {
        self.max_addresses = entries.max(1);
        self
    }

    /// How many user names are tracked at once (at least one): default
    /// [`LoginThrottle::DEFAULT_MAX_USERS`].
    pub fn max_users(mut self, entries: usize) -> Self {
        self.max_users = entries.max(1);
        self
    }

    /// How many logins one address may have in progress at once (at least
    /// one): default [`LoginThrottle::DEFAULT_MAX_LOGINS_PER_ADDRESS`].
    pub fn max_logins_per_address(mut self, logins: usize) -> Self {
        self.max_logins_per_address = logins.max(1);
        self
    }

    /// The delays of one address.
    pub fn address_delays(&self) -> Backoff {
        self.address_backoff
    }

    /// The delays of one user name.
    pub fn user_delays(&self) -> Backoff {
        self.user_backoff
    }

    /// How long failures are kept after the latest one.
    pub fn quiet_period(&self) -> Duration {
        self.quiet_window
    }

    /// How many logins one address may have in progress at once.
    pub fn logins_per_address(&self) -> usize {
        self.max_logins_per_address
    }

    /// Starts a login from `address` (`None` when the transport has none):
    /// the slot it holds until dropped, or an error when the address already
    /// has [`LoginThrottle::max_logins_per_address`] in progress.
    pub fn begin(&self, address: Option<IpAddr>) -> Result<LoginSlot<'_>, ThrottleError> {
        let Some(key) = address.map(client_network) else {
            return Ok(LoginSlot {
                throttle: self,
                address: None,
            });
        };
        let mut inner = self.lock();
        let in_progress = inner.in_progress.entry(key).or_insert(0);
        if *in_progress >= self.max_logins_per_address {
            return Err(ThrottleError::TooManyLogins {
                address: key,
                limit: self.max_logins_per_address,
            });
        }
        *in_progress += 1;
        Ok(LoginSlot {
            throttle: self,
            address: Some(key),
        })
    }

    /// How long an attempt from `address` as `username` waits now for its
    /// verdict: the larger of the address's and the user's delays.
    pub fn delay(&self, address: Option<IpAddr>, username: &str) -> Duration {
        let now = Instant::now();
        let inner = self.lock();
        let by_address = address.map_or(Duration::ZERO, |address| {
            let failures = inner
                .addresses
                .failures(&client_network(address), now, self.quiet_window);
            self.address_backoff.delay(failures)
        });
        let failures = inner.users.failures(&user_key(username), now, self.quiet_window);
        by_address.max(self.user_backoff.delay(failures))
    }

    /// Counts a failed login from `address` as `username`, known or not.
    pub fn record_failure(&self, address: Option<IpAddr>, username: &str) {
        let now = Instant::now();
        let mut inner = self.lock();
        if let Some(address) = address {
            inner.addresses.record(
                client_network(address),
                now,
                self.quiet_window,
                self.max_addresses,
            );
        }
        inner
            .users
            .record(user_key(username), now, self.quiet_window, self.max_users);
    }

    /// Clears the failures of `username` after a successful login. The
    /// address keeps its own.
    pub fn record_success(&self, username: &str) {
        self.lock().users.clear(&user_key(username));
    }

    /// How many addresses have failures on record (some may have been
    /// quiet for the window and not swept yet).
    pub fn tracked_addresses(&self) -> usize {
        self.lock().addresses.len()
    }

    /// How many user names have failures on record (some may have been
    /// quiet for the window and not swept yet).
    pub fn tracked_users(&self) -> usize {
        self.lock().users.len()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        // Every change is a whole insert or remove, so the tables stay
        // consistent even if a holder of the lock panicked.
        self.inner
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// A login in progress, counted against its address's bound until dropped.
#[must_use = "the login counts as in progress only while its slot is held"]
pub struct LoginSlot<'a> {
    throttle: &'a LoginThrottle,
    address: Option<AddressKey>,
}

impl fmt::Debug for LoginSlot<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LoginSlot")
            .field("address", &self.address)
            .finish()
    }
}

impl Drop for LoginSlot<'_> {
    fn drop(&mut self) {
        let Some(key) = self.address else {
            return;
        };
        let mut inner = self.throttle.lock();
        if let Some(count) = inner.in_progress.get_mut(&key) {
            *count = count.saturating_sub(1);
            if *count == 0 {
                inner.in_progress.remove(&key);
            }
        }
    }
}

/// What an address counts as: its network ([`client_network`]), an IPv4
/// address or an IPv6 /64.
type AddressKey = IpAddr;

/// A user name's entry: the SHA-256 of the name as sent.
type UserKey = [u8; KEY_LEN];

fn user_key(username: &str) -> UserKey {
    sha256(username.as_bytes())
}

#[derive(Debug, Default)]
struct Inner {
    addresses: FailureTable<AddressKey>,
    users: FailureTable<UserKey>,
    /// Logins in progress per address; an entry lives while its count is
    /// above zero, so the map holds at most one entry per login running.
    in_progress: HashMap<AddressKey, usize>,
}

#[derive(Debug)]
struct Failures {
    count: u32,
    last: Instant,
    order: u64,
}

/// Failures per key, least recently failed first.
#[derive(Debug)]
struct FailureTable<K> {
    entries: HashMap<K, Failures>,
    /// The same keys by the order of their latest failure, oldest first:
    /// also the order of their expiry.
    by_recency: BTreeMap<u64, K>,
    next_order: u64,
}

impl<K> Default for FailureTable<K> {
    fn default() -> Self {
        FailureTable {
            entries: HashMap::new(),
            by_recency: BTreeMap::new(),
            next_order: 0,
        }
    }
}

impl<K: Copy + Eq + Hash> FailureTable<K> {
    fn failures(&self, key: &K, now: Instant, window: Duration) -> u32 {
        match self.entries.get(key) {
            Some(entry) if !expired(entry, now, window) => entry.count,
            _ => 0,
        }
    }

    fn record(&mut self, key: K, now: Instant, window: Duration, cap: usize) {
        self.purge(now, window);
        let count = match self.entries.remove(&key) {
            Some(entry) => {
                self.by_recency.remove(&entry.order);
                entry.count.saturating_add(1)
            }
            None => {
                while self.entries.len() >= cap && self.evict_oldest() {}
                1
            }
        };
        let order = self.next_order;
        self.next_order += 1;
        self.by_recency.insert(order, key);
        self.entries.insert(
            key,
            Failures {
                count,
                last: now,
                order,
            },
        );
    }

    fn clear(&mut self, key: &K) {
        if let Some(entry) = self.entries.remove(key) {
            self.by_recency.remove(&entry.order);
        }
    }

    fn len(&self) -> usize {
        self.entries.len()
    }

    fn evict_oldest(&mut self) -> bool {
        match self.by_recency.pop_first() {
            Some((_, key)) => {
                self.entries.remove(&key);
                true
            }
            None => false,
        }
    }

    /// Drops the entries quiet for the window: they expire in the order of
    /// their latest failure, so only the oldest need looking at.
    fn purge(&mut self, now: Instant, window: Duration) {
        while let Some((_, key)) = self.by_recency.first_key_value() {
            let stale = self
                .entries
                .get(key)
                .is_none_or(|entry| expired(entry, now, window));
            if !stale || !self.evict_oldest() {
                break;
            }
        }
    }
}

fn expired(entry: &Failures, now: Instant, window: Duration) -> bool {
    now.saturating_duration_since(entry.last) > window
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::net::{Ipv4Addr, Ipv6Addr};

    const ADDRESS: Backoff = Backoff {
        free_failures: 2,
        first_delay: Duration::from_secs(1),
        max_delay: Duration::from_secs(8),
    };
    const USER: Backoff = Backoff {
        free_failures: 1,
        first_delay: Duration::from_millis(100),
        max_delay: Duration::from_millis(400),
    };

    fn throttle() -> LoginThrottle {
        LoginThrottle::new()
            .address_backoff(ADDRESS)
            .user_backoff(Backoff::NONE)
    }

    fn v4(last: u8) -> Option<IpAddr> {
        Some(IpAddr::V4(Ipv4Addr::new(192, 0, 2, last)))
    }

    fn v6(text: &str) -> Option<IpAddr> {
        Some(text.parse().unwrap())
    }

    #[test]
    fn a_backoff_is_free_then_doubles_up_to_its_cap() {
        let delays: Vec<_> = (0..8).map(|failures| ADDRESS.delay(failures)).collect();
        let seconds = |s: u64| Duration::from_secs(s);
        assert_eq!(
            delays,
            [0, 0, 1, 2, 4, 8, 8, 8].map(seconds),
            "free failures, then doubling, then the cap"
        );
        assert_eq!(ADDRESS.delay(u32::MAX), ADDRESS.max_delay);
        assert_eq!(Backoff::NONE.delay(u32::MAX), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn the_delay_grows_after_the_free_failures_and_stops_at_its_cap() {
        let throttle = throttle();
        let mut delays = Vec::new();
        for _ in 0..7 {
            delays.push(throttle.delay(v4(1), "alice"));
            throttle.record_failure(v4(1), "alice");
        }
        let seconds = |s: u64| Duration::from_secs(s);
        assert_eq!(delays, [0, 0, 1, 2, 4, 8, 8].map(seconds));
        assert_eq!(throttle.delay(v4(2), "alice"), Duration::ZERO, "another address");
    }

    #[tokio::test(start_paused = true)]
    async fn an_attempt_waits_the_larger_of_its_address_and_user_delays() {
        let throttle = LoginThrottle::new().address_backoff(ADDRESS).user_backoff(USER);
        for user in ["a", "b", "c"] {
            throttle.record_failure(v4(1), user);
        }
        throttle.record_failure(v4(2), "d");
        throttle.record_failure(v4(3), "d");
        throttle.record_failure(v4(4), "d");
        // The address has 3 failures, "d" has 3: 2 s against 400 ms.
        assert_eq!(throttle.delay(v4(1), "d"), Duration::from_secs(2));
        // A clean address waits the user's delay, at most its cap.
        assert_eq!(throttle.delay(v4(9), "d"), Duration::from_millis(400));
        // A clean user from the failing address waits the address's.
        assert_eq!(throttle.delay(v4(1), "e"), Duration::from_secs(2));
        // Without an address, the user's delay alone.
        assert_eq!(throttle.delay(None, "d"), Duration::from_millis(400));
        assert_eq!(throttle.delay(None, "e"), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_connection_without_an_address_is_throttled_per_user_only() {
        let throttle = LoginThrottle::new().address_backoff(ADDRESS).user_backoff(USER);
        for _ in 0..5 {
            throttle.record_failure(None, "alice");
        }
        assert_eq!(throttle.tracked_addresses(), 0);
        assert_eq!(throttle.delay(None, "alice"), USER.max_delay);
        assert_eq!(throttle.delay(None, "bob"), Duration::ZERO);
        let slots: Vec<_> = (0..100).map(|_| throttle.begin(None)).collect();
        assert!(slots.iter().all(Result::is_ok), "no bound without an address");
    }

    #[tokio::test(start_paused = true)]
    async fn failures_are_forgotten_after_the_quiet_window() {
        let window = Duration::from_secs(60);
        let throttle = LoginThrottle::new()
            .address_backoff(ADDRESS)
            .user_backoff(USER)
            .quiet_window(window);
        for _ in 0..4 {
            throttle.record_failure(v4(1), "alice");
        }
        tokio::time::advance(window).await;
        assert_eq!(
            throttle.delay(v4(1), "alice"),
            Duration::from_secs(4),
            "kept for the window"
        );
        // A failure within the window restarts it.
        throttle.record_failure(v4(1), "alice");
        tokio::time::advance(window).await;
        assert_eq!(throttle.delay(v4(1), "alice"), Duration::from_secs(8));
        tokio::time::advance(Duration::from_millis(1)).await;
        assert_eq!(throttle.delay(v4(1), "alice"), Duration::ZERO);
        // The stale entries go at the next failure, and the count restarts.
        throttle.record_failure(v4(2), "bob");
        assert_eq!((throttle.tracked_addresses(), throttle.tracked_users()), (1, 1));
        throttle.record_failure(v4(1), "alice");
        assert_eq!(
            throttle.delay(v4(1), "carol"),
            Duration::ZERO,
            "one failure of two free"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_tables_stay_within_their_entry_caps_under_a_flood_of_distinct_names_and_addresses() {
        let throttle = throttle().max_addresses(100).max_users(50);
        for i in 0..10_000u32 {
            let address = IpAddr::V4(Ipv4Addr::from(0x0a00_0000 + i));
            throttle.record_failure(
                Some(address),
                &format!("user-{i}-{}", "x".repeat(i as usize % 300)),
            );
            assert!(throttle.tracked_addresses() <= 100);
            assert!(throttle.tracked_users() <= 50);
        }
        assert_eq!(
            (throttle.tracked_addresses(), throttle.tracked_users()),
            (100, 50)
        );
        for i in 0..10_000u16 {
            let address = Ipv6Addr::new(0x2001, 0xdb8, 0, i, 0, 0, 0, 1);
            throttle.record_failure(Some(IpAddr::V6(address)), "mallory");
        }
        assert_eq!(
            (throttle.tracked_addresses(), throttle.tracked_users()),
            (100, 50)
        );
    }

    #[tokio::test(start_paused = true)]
    async fn the_least_recently_failed_entry_is_the_one_evicted() {
        let throttle = throttle().max_addresses(3);
        for _ in 0..5 {
            throttle.record_failure(v4(1), "a");
        }
        throttle.record_failure(v4(2), "a");
        throttle.record_failure(v4(3), "a");
        // 1 failed longest ago until it fails again; then 2 is the oldest.
        throttle.record_failure(v4(1), "a");
        throttle.record_failure(v4(4), "a");
        assert_eq!(throttle.tracked_addresses(), 3);
        assert_eq!(throttle.delay(v4(1), "z"), ADDRESS.delay(6), "kept");
        // Kept, 2 would now have 2 failures and a delay; evicted, it has one.
        throttle.record_failure(v4(2), "a");
        assert_eq!(
            throttle.delay(v4(2), "z"),
            Duration::ZERO,
            "evicted, counting anew"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn ipv6_addresses_in_one_64_share_an_entry() {
        let throttle = throttle();
        throttle.record_failure(v6("2001:db8:1:2::1"), "a");
        throttle.record_failure(v6("2001:db8:1:2:ffff:ffff:ffff:ffff"), "a");
        throttle.record_failure(v6("2001:db8:1:2:1234::"), "a");
        assert_eq!(throttle.tracked_addresses(), 1);
        assert_eq!(
            throttle.delay(v6("2001:db8:1:2::abcd"), "z"),
            Duration::from_secs(2)
        );
        assert_eq!(
            throttle.delay(v6("2001:db8:1:3::1"), "z"),
            Duration::ZERO,
            "the next /64"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn an_ipv4_address_mapped_into_ipv6_counts_as_the_ipv4_address() {
        let throttle = throttle();
        throttle.record_failure(v6("::ffff:192.0.2.1"), "a");
        throttle.record_failure(v4(1), "a");
        throttle.record_failure(v6("::ffff:192.0.2.1"), "a");
        assert_eq!(throttle.tracked_addresses(), 1);
        assert_eq!(throttle.delay(v4(1), "z"), Duration::from_secs(2));
        assert_eq!(throttle.delay(v6("::ffff:192.0.2.2"), "z"), Duration::ZERO);
    }

    #[tokio::test(start_paused = true)]
    async fn a_success_clears_the_users_failures_but_not_the_addresses() {
        let throttle = LoginThrottle::new().address_backoff(ADDRESS).user_backoff(USER);
        for _ in 0..4 {
            throttle.record_failure(v4(1), "alice");
        }
        throttle.record_success("alice");
        assert_eq!(throttle.delay(v4(9), "alice"), Duration::ZERO);
        assert_eq!(throttle.delay(v4(1), "bob"), Duration::from_secs(4));
    }

    #[tokio::test(start_paused = true)]
    async fn an_unknown_name_and_a_known_one_are_counted_alike_by_the_name_as_sent() {
        let throttle = LoginThrottle::new()
            .address_backoff(Backoff::NONE)
            .user_backoff(USER);
        for name in ["alice", "mallory"] {
            throttle.record_failure(None, name);
            throttle.record_failure(None, name);
        }
        assert_eq!(throttle.delay(None, "alice"), throttle.delay(None, "mallory"));
        assert_eq!(throttle.delay(None, "Alice"), Duration::ZERO, "another name");
    }

    #[test]
    fn logins_in_progress_per_address_are_bounded_until_their_slots_drop() {
        let throttle = LoginThrottle::new().max_logins_per_address(2);
        let first = throttle.begin(v6("2001:db8::1")).unwrap();
        let second = throttle.begin(v6("2001:db8::2")).unwrap();
        let refused = throttle.begin(v6("2001:db8::3")).unwrap_err();
        assert_eq!(
            refused,
            ThrottleError::TooManyLogins {
                address: "2001:db8::".parse().unwrap(),
                limit: 2
            }
        );
        assert_eq!(
            refused.to_string(),
            "2 logins from 2001:db8::/64 are already in progress, the most one address may have at once"
        );
        assert!(throttle.begin(v6("2001:db8:0:1::1")).is_ok(), "another /64");
        assert!(throttle.begin(v4(1)).is_ok());
        drop(first);
        let third = throttle.begin(v6("2001:db8::3")).unwrap();
        drop((second, third));
        assert!(
            throttle.lock().in_progress.is_empty(),
            "no entry outlives its logins"
        );
    }

    #[test]
    fn the_defaults_are_the_documented_ones() {
        let throttle = LoginThrottle::new();
        assert_eq!(throttle.address_delays(), LoginThrottle::DEFAULT_ADDRESS_BACKOFF);
        assert_eq!(throttle.user_delays(), LoginThrottle::DEFAULT_USER_BACKOFF);
        assert_eq!(throttle.quiet_period(), Duration::from_secs(900));
        assert_eq!(throttle.logins_per_address(), 4);
        assert_eq!(
            LoginThrottle::DEFAULT_ADDRESS_BACKOFF.delay(10),
            Duration::from_secs(16)
        );
        assert_eq!(
            LoginThrottle::DEFAULT_ADDRESS_BACKOFF.delay(11),
            Duration::from_secs(30),
            "the address cap is reached after 11 failures"
        );
        assert_eq!(
            LoginThrottle::DEFAULT_USER_BACKOFF.delay(u32::MAX),
            Duration::from_secs(2)
        );
        let off = LoginThrottle::off();
        assert_eq!(off.delay(v4(1), "a"), Duration::ZERO);
    }
}
