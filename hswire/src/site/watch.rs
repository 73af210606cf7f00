//! Watch bookkeeping: which records each open watch holds, which of them changed since
//! its last poll, who opened it and when its lease runs out.
//!
//! A watch lives until the first of: a watchUnsub that closes it, the end of the connection
//! that opened it, or its lease running out. Only a watchPoll, or a watchSub naming the
//! watch, renews the lease (the Haystack meaning of a lease); pushes do not, and an open
//! connection does not either, so a client that only listens to pushes must still poll or
//! re-subscribe within the lease. Time is always an argument, never read here.
//!
//! A watch belongs to whoever opened it: its id is 128 random bits, and an op naming it is
//! served only for the connection that opened it or, when that connection logged in, for
//! the same user on another connection. Anyone else gets the answer an id that was never
//! handed out gets, so an id cannot be found by trying.
//!
//! What the site keeps for its clients is bounded for any client, and shared fairly (see
//! [`WatchLimits`]): the watches and watched records of one connection, of one logged-in
//! user or of one address (for connections without a user), and of all of them together.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use haystack_wire::connection::{client_network, Held};
use libhaystack::val::Number;

use super::SiteError;

/// What the site keeps for its clients' watches, and the leases it grants.
///
/// The per-owner caps count what one logged-in user holds, over all its connections, or,
/// for connections without a user (anonymous, or let in by the shared token), what one
/// address holds: an IPv4 address, or an IPv6 /64 (one site's network). Each is an eighth
/// of the whole, so that it takes eight users or networks to fill the site, and a handful
/// of connections from one place cannot refuse everyone else. Behind a proxy or a load
/// balancer every client has the proxy's address, so the address caps count all of them
/// together; log clients in to count them apart.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WatchLimits {
    /// The most watches open at once, across all clients.
    pub max_watches: usize,
    /// The most watches one connection holds open at once.
    pub per_connection: usize,
    /// The most watches one user (or one address) holds open at once.
    pub per_owner: usize,
    /// The most records one watch holds.
    pub max_ids: usize,
    /// The most records all watches hold together, counted once per watch: every push tick
    /// builds a grid of each watch's changed records, so this bounds a tick's work.
    pub max_watched: usize,
    /// The most records the watches of one user (or one address) hold together.
    pub owner_watched: usize,
    /// The longest `watchDis`, in bytes; it is kept for the watch's life.
    pub max_dis: usize,
    /// The lease given when a watchSub names none, in seconds.
    pub default_lease_secs: u32,
    /// The longest lease granted, in seconds; longer requests are cut down to it.
    pub max_lease_secs: u32,
}

impl WatchLimits {
    /// The limits `hswire serve` uses unless told otherwise.
    ///
    /// - 1,024 watches: many dashboards' worth, each a few hundred bytes plus its records.
    /// - 64 per connection, 128 per user or address: a sixteenth and an eighth of the whole.
    /// - 4,096 records per watch: the whole sample site (3,110 records) fits in one.
    /// - 65,536 watched records in all, 8,192 per user or address (two whole-site watches):
    ///   a tick that changes three in four of them builds about 20 MB of grids, well within
    ///   a second of one core.
    /// - `watchDis` of at most 256 bytes: a display name, not storage.
    /// - leases of 60 s unless asked, at most an hour: a watch also ends with its
    ///   connection, so a longer lease only keeps an idle watch of an open connection.
    pub const DEFAULT: WatchLimits = WatchLimits {
        max_watches: 1_024,
        per_connection: 64,
        per_owner: 128,
        max_ids: 4_096,
        max_watched: 65_536,
        owner_watched: 8_192,
        max_dis: 256,
        default_lease_secs: 60,
        max_lease_secs: 3_600,
    };
}

impl Default for WatchLimits {
    fn default() -> Self {
        WatchLimits::DEFAULT
    }
}

/// What one open watch is counted as in the server's memory budget: its bookkeeping, its
/// id, its subscriptions and its place in the maps, besides its `watchDis`.
pub const WATCH_BYTES: usize = 512;
/// What each record a watch holds is counted as: its place in the watch's set of records
/// and, when it changed, in the set of changes.
pub const ID_BYTES: usize = 64;

/// What a watch of `ids` records with a `watchDis` of `dis` bytes is counted as.
pub fn watch_bytes(dis: usize, ids: usize) -> usize {
    WATCH_BYTES
        .saturating_add(dis)
        .saturating_add(ids.saturating_mul(ID_BYTES))
}

/// Who asks: the connection, its user, its address.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// The connection (its `Peer::id`); a watch ends with the connection that opened it.
    pub connection: u64,
    /// The user the connection logged in as, if it did.
    pub user: Option<Arc<str>>,
    /// The address the connection came from, if known.
    pub address: Option<IpAddr>,
}

/// Whom the per-owner caps count together: a user, or an address's network.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Party {
    User(Arc<str>),
    Network(IpAddr),
}

impl std::fmt::Display for Party {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Party::User(name) => write!(f, "user {name}"),
            Party::Network(IpAddr::V4(address)) => write!(f, "address {address}"),
            Party::Network(IpAddr::V6(network)) => write!(f, "network {network}/64"),
        }
    }
}

impl Owner {
    /// Whether `caller` may use a watch this owner opened: the same connection, or the
    /// same logged-in user.
    fn admits(&self, caller: &Owner) -> bool {
        self.connection == caller.connection || (self.user.is_some() && self.user == caller.user)
    }

    /// Whom the per-owner caps count this owner with; `None` when neither a user nor an
    /// address is known (such a connection is bounded by the per-connection caps).
    fn party(&self) -> Option<Party> {
        match (&self.user, self.address) {
            (Some(user), _) => Some(Party::User(Arc::clone(user))),
            (None, Some(address)) => Some(Party::Network(client_network(address))),
            (None, None) => None,
        }
    }
}

/// One open watch.
#[derive(Debug)]
pub struct Watch {
    pub dis: String,
    /// Who opened the watch; it ends with their connection.
    pub owner: Owner,
    pub lease_secs: u32,
    /// When the lease was granted or last renewed.
    pub renewed: Instant,
    /// Watched records, by position in the site's record list: a set keeps answers in one
    /// fixed order and makes a repeated id a no-op.
    pub ids: BTreeSet<usize>,
    /// Watched records whose value changed since this watch's last poll.
    pub dirty: BTreeSet<usize>,
    /// What the watch is counted as in the server's memory budget, when it was opened over
    /// a connection; given back when the watch goes.
    pub held: Option<Held>,
}

/// All open watches, by id.
#[derive(Debug)]
pub struct Watches {
    open: BTreeMap<String, Watch>,
    limits: WatchLimits,
    /// Records held by all watches together.
    watched: usize,
}

/// Random bytes in a watch id: 128 bits.
const ID_RANDOM_BYTES: usize = 16;
/// The prefix of every watch id.
const ID_PREFIX: &str = "w-";

/// A new watch id: `w-` and 128 random bits in lowercase hex.
pub fn new_watch_id() -> Result<String, SiteError> {
    let mut bytes = [0u8; ID_RANDOM_BYTES];
    getrandom::fill(&mut bytes).map_err(|error| SiteError::NoRandomness {
        reason: error.to_string(),
    })?;
    let mut id = String::with_capacity(ID_PREFIX.len() + 2 * ID_RANDOM_BYTES);
    id.push_str(ID_PREFIX);
    for byte in bytes {
        id.push_str(&format!("{byte:02x}"));
    }
    Ok(id)
}

/// Whether `id` has the shape of an id this site hands out.
fn well_formed(id: &str) -> bool {
    id.strip_prefix(ID_PREFIX).is_some_and(|hex| {
        hex.len() == 2 * ID_RANDOM_BYTES && hex.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
    })
}

/// A lease request in seconds, cut to `1..=max_secs`. A plain number counts seconds; `ms`,
/// `s`, `min` and `h` are understood when the number carries a unit.
pub fn lease_secs(lease: &Number, max_secs: u32) -> Result<u32, SiteError> {
    let scale = match lease.unit.map(|unit| unit.symbol()) {
        None | Some("s" | "sec") => 1.0,
        Some("ms") => 0.001,
        Some("min") => 60.0,
        Some("h" | "hr") => 3_600.0,
        Some(_) => 0.0,
    };
    let secs = lease.value * scale;
    if !(secs.is_finite() && secs > 0.0) {
        return Err(SiteError::BadLease {
            value: describe_number(lease),
        });
    }
    // Clamped first, so the cast cannot saturate in surprising ways.
    Ok(secs.ceil().clamp(1.0, f64::from(max_secs.max(1))) as u32)
}

fn describe_number(number: &Number) -> String {
    match number.unit {
        Some(unit) => format!("{}{}", number.value, unit.symbol()),
        None => number.value.to_string(),
    }
}

impl Watch {
    /// Whether the lease has run out at `now`.
    pub fn expired(&self, now: Instant) -> bool {
        now.saturating_duration_since(self.renewed) >= Duration::from_secs(self.lease_secs.into())
    }

    /// Renews the lease from `now` (never moving it back, should requests be answered out
    /// of order).
    pub fn renew(&mut self, now: Instant) {
        self.renewed = self.renewed.max(now);
    }

    /// Counts what the watch holds now in the server's memory budget.
    fn recount(&mut self) -> Result<(), SiteError> {
        let bytes = watch_bytes(self.dis.len(), self.ids.len());
        match &mut self.held {
            Some(held) => held.resize(bytes).map_err(|error| SiteError::OverBudget {
                reason: error.to_string(),
            }),
            None => Ok(()),
        }
    }
}

impl Watches {
    pub fn new(limits: WatchLimits) -> Watches {
        Watches {
            open: BTreeMap::new(),
            limits,
            watched: 0,
        }
    }

    /// The limits the watches are kept within.
    pub fn limits(&self) -> &WatchLimits {
        &self.limits
    }

    /// Opens an empty watch for `owner` with id `id`, its lease starting at `now`.
    /// Watches whose lease ran out still count until they are swept. `held` is what the
    /// watch is counted as in the server's memory budget, if anything.
    pub fn open(
        &mut self,
        id: String,
        dis: String,
        lease_secs: u32,
        owner: Owner,
        now: Instant,
        held: Option<Held>,
    ) -> Result<(), SiteError> {
        let limits = self.limits;
        if dis.len() > limits.max_dis {
            return Err(SiteError::WatchDisTooLong {
                len: dis.len(),
                max: limits.max_dis,
            });
        }
        let of_connection = self
            .open
            .values()
            .filter(|watch| watch.owner.connection == owner.connection)
            .count();
        if of_connection >= limits.per_connection {
            return Err(SiteError::TooManyConnectionWatches {
                open: of_connection,
                max: limits.per_connection,
            });
        }
        if let Some(party) = owner.party() {
            let of_party = self
                .open
                .values()
                .filter(|watch| watch.owner.party().as_ref() == Some(&party))
                .count();
            if of_party >= limits.per_owner {
                return Err(SiteError::TooManyOwnerWatches {
                    owner: party.to_string(),
                    open: of_party,
                    max: limits.per_owner,
                });
            }
        }
        if self.open.len() >= limits.max_watches {
            return Err(SiteError::TooManyWatches {
                max: limits.max_watches,
            });
        }
        self.open.insert(
            id,
            Watch {
                dis,
                owner,
                lease_secs,
                renewed: now,
                ids: BTreeSet::new(),
                dirty: BTreeSet::new(),
                held,
            },
        );
        Ok(())
    }

    /// The open watch with id `id`, if `caller` may use it and its lease has not run out at
    /// `now`. A watch past its lease is unknown from then on, though it is only removed
    /// when swept; a watch of someone else is unknown to `caller`, with the same error.
    pub fn get_mut(&mut self, id: &str, caller: &Owner, now: Instant) -> Result<&mut Watch, SiteError> {
        let unknown = || SiteError::UnknownWatch {
            id: super::error::excerpt(id),
        };
        if !well_formed(id) {
            return Err(unknown());
        }
        self.open
            .get_mut(id)
            .filter(|watch| watch.owner.admits(caller) && !watch.expired(now))
            .ok_or_else(unknown)
    }

    /// Adds records at `positions` to the watch with id `id`, within the caps on records
    /// per watch, per owner and in all, and counts them in the server's memory budget.
    /// Nothing is added when any cap would be passed.
    pub fn add(
        &mut self,
        id: &str,
        caller: &Owner,
        now: Instant,
        positions: &BTreeSet<usize>,
    ) -> Result<(), SiteError> {
        let limits = self.limits;
        let watch = self.get_mut(id, caller, now)?;
        let new: Vec<usize> = positions.difference(&watch.ids).copied().collect();
        let count = watch.ids.len() + new.len();
        if count > limits.max_ids {
            return Err(SiteError::TooManyWatchIds {
                count,
                max: limits.max_ids,
            });
        }
        if new.is_empty() {
            return Ok(());
        }
        let party = watch.owner.party();
        if let Some(party) = party {
            let of_party: usize = self
                .open
                .values()
                .filter(|watch| watch.owner.party().as_ref() == Some(&party))
                .map(|watch| watch.ids.len())
                .sum();
            if of_party + new.len() > limits.owner_watched {
                return Err(SiteError::TooManyOwnerRecords {
                    owner: party.to_string(),
                    count: of_party + new.len(),
                    max: limits.owner_watched,
                });
            }
        }
        if self.watched + new.len() > limits.max_watched {
            return Err(SiteError::TooManyWatchedRecords {
                max: limits.max_watched,
            });
        }
        let Some(watch) = self.open.get_mut(id) else {
            return Err(SiteError::UnknownWatch {
                id: super::error::excerpt(id),
            });
        };
        watch.ids.extend(&new);
        if let Err(error) = watch.recount() {
            for position in &new {
                watch.ids.remove(position);
            }
            return Err(error);
        }
        self.watched += new.len();
        Ok(())
    }

    /// Stops the watch with id `id` watching the records at `positions`; positions it
    /// does not hold are ignored.
    pub fn remove(
        &mut self,
        id: &str,
        caller: &Owner,
        now: Instant,
        positions: &[usize],
    ) -> Result<(), SiteError> {
        let watch = self.get_mut(id, caller, now)?;
        let before = watch.ids.len();
        for position in positions {
            watch.ids.remove(position);
            watch.dirty.remove(position);
        }
        let removed = before - watch.ids.len();
        // Giving memory back cannot fail.
        let _ = watch.recount();
        self.watched -= removed;
        Ok(())
    }

    /// Closes the watch with id `id` if `caller` may use it (live or past its lease, but
    /// not yet swept); false when there was no such watch for `caller`.
    pub fn close(&mut self, id: &str, caller: &Owner) -> bool {
        let mine = well_formed(id) && self.open.get(id).is_some_and(|watch| watch.owner.admits(caller));
        mine && self.remove_where(|watch_id, _| watch_id == id).len() == 1
    }

    /// Whether a watch with id `id` is open (swept or not).
    pub fn contains(&self, id: &str) -> bool {
        self.open.contains_key(id)
    }

    /// Closes every watch connection `connection` opened and returns their ids.
    pub fn close_owned_by(&mut self, connection: u64) -> Vec<String> {
        self.remove_where(|_, watch| watch.owner.connection == connection)
    }

    /// Closes every watch whose lease ran out at `now` and returns their ids.
    pub fn sweep(&mut self, now: Instant) -> Vec<String> {
        self.remove_where(|_, watch| watch.expired(now))
    }

    fn remove_where(&mut self, doomed: impl Fn(&str, &Watch) -> bool) -> Vec<String> {
        let ids: Vec<String> = self
            .open
            .iter()
            .filter(|(id, watch)| doomed(id, watch))
            .map(|(id, _)| id.clone())
            .collect();
        for id in &ids {
            if let Some(watch) = self.open.remove(id) {
                self.watched -= watch.ids.len();
            }
        }
        ids
    }

    /// Every record some open watch holds.
    pub fn watched(&self) -> BTreeSet<usize> {
        self.open
            .values()
            .flat_map(|watch| watch.ids.iter().copied())
            .collect()
    }

    /// Open watches in id order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&String, &mut Watch)> {
        self.open.iter_mut()
    }

    /// How many watches are open.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.open.len()
    }

    /// How many records all watches hold together.
    #[cfg(test)]
    pub fn watched_count(&self) -> usize {
        self.watched
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watch_ids_are_128_random_bits_and_only_that_shape_is_looked_up() {
        let (a, b) = (new_watch_id().unwrap(), new_watch_id().unwrap());
        assert_ne!(a, b);
        assert_eq!(a.len(), 2 + 32);
        assert!(well_formed(&a) && well_formed(&b));
        for bad in [
            "w-1",
            "w-",
            "",
            &a.to_uppercase(),
            &format!("{a}0"),
            &a.replacen("w-", "x-", 1),
        ] {
            assert!(!well_formed(bad), "{bad}");
        }
    }
}
