//! Watch bookkeeping: which records each open watch holds, which of them changed since
//! its last poll, which connection opened it and when its lease runs out.
//!
//! A watch lives until the first of: a watchUnsub that closes it, the end of the connection
//! that opened it, or its lease running out. Only the client's own watchPoll, or a watchSub
//! naming the watch, renews the lease (the Haystack meaning of a lease); pushes do not, and
//! an open connection does not either, so a client that only listens to pushes must still
//! poll or re-subscribe within the lease. Time is always an argument, never read here.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use libhaystack::val::Number;

use super::SiteError;

/// The most watches open at once, across all connections.
pub const MAX_WATCHES: usize = 1_024;
/// The most watches one connection holds open at once: a sixteenth of [`MAX_WATCHES`], so
/// that one client cannot take every watch and lock the others out.
pub const MAX_WATCHES_PER_CONNECTION: usize = 64;
/// The most records one watch holds (the whole sample site fits).
pub const MAX_WATCH_IDS: usize = 4_096;
/// The lease given when a watchSub names none, in seconds.
pub const DEFAULT_LEASE_SECS: u32 = 60;
/// The longest lease granted, in seconds; longer requests are cut down to it.
pub const MAX_LEASE_SECS: u32 = 24 * 60 * 60;

/// One open watch.
#[derive(Debug)]
pub struct Watch {
    pub dis: String,
    /// The connection that opened the watch (its `Peer::id`); the watch ends with it.
    pub owner: u64,
    pub lease_secs: u32,
    /// When the lease was granted or last renewed.
    pub renewed: Instant,
    /// Watched records, by position in the site's record list: a set keeps answers in one
    /// fixed order and makes a repeated id a no-op.
    pub ids: BTreeSet<usize>,
    /// Watched records whose value changed since this watch's last poll.
    pub dirty: BTreeSet<usize>,
}

/// All open watches, keyed by the number in their id (`w-7` is 7).
#[derive(Debug)]
pub struct Watches {
    open: BTreeMap<u64, Watch>,
    next: u64,
}

/// The wire id of watch number `n`.
pub fn watch_id(n: u64) -> String {
    format!("w-{n}")
}

/// The number in a wire id, if it is exactly one this site hands out.
fn parse_watch_id(id: &str) -> Option<u64> {
    let n = id.strip_prefix("w-")?.parse::<u64>().ok()?;
    // Rejects spellings such as `w-+3` or `w-03` that parse to a real watch's number.
    (watch_id(n) == id).then_some(n)
}

/// A lease request in seconds, cut to `1..=MAX_LEASE_SECS`. A plain number counts seconds;
/// `ms`, `s`, `min` and `h` are understood when the number carries a unit.
pub fn lease_secs(lease: &Number) -> Result<u32, SiteError> {
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
    Ok(secs.ceil().clamp(1.0, f64::from(MAX_LEASE_SECS)) as u32)
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
}

impl Watches {
    pub fn new() -> Watches {
        Watches {
            open: BTreeMap::new(),
            next: 1,
        }
    }

    /// Opens an empty watch for connection `owner`, its lease starting at `now`, and
    /// returns its number. Watches whose lease ran out still count until they are swept.
    pub fn open(&mut self, dis: String, lease_secs: u32, owner: u64, now: Instant) -> Result<u64, SiteError> {
        let owned = self.open.values().filter(|watch| watch.owner == owner).count();
        if owned >= MAX_WATCHES_PER_CONNECTION {
            return Err(SiteError::TooManyConnectionWatches {
                connection: owner,
                open: owned,
                max: MAX_WATCHES_PER_CONNECTION,
            });
        }
        if self.open.len() >= MAX_WATCHES {
            return Err(SiteError::TooManyWatches { max: MAX_WATCHES });
        }
        let n = self.next;
        self.next += 1;
        self.open.insert(
            n,
            Watch {
                dis,
                owner,
                lease_secs,
                renewed: now,
                ids: BTreeSet::new(),
                dirty: BTreeSet::new(),
            },
        );
        Ok(n)
    }

    /// The open watch with wire id `id`, if its lease has not run out at `now`: a watch
    /// past its lease is unknown from then on, though it is only removed when swept.
    pub fn get_mut(&mut self, id: &str, now: Instant) -> Result<&mut Watch, SiteError> {
        parse_watch_id(id)
            .and_then(|n| self.open.get_mut(&n))
            .filter(|watch| !watch.expired(now))
            .ok_or_else(|| SiteError::UnknownWatch { id: id.to_string() })
    }

    /// Whether a watch with wire id `id` is open (swept or not).
    pub fn contains(&self, id: &str) -> bool {
        parse_watch_id(id).is_some_and(|n| self.open.contains_key(&n))
    }

    /// Closes the watch with wire id `id`; false if no such watch was open.
    pub fn close(&mut self, id: &str) -> bool {
        parse_watch_id(id).is_some_and(|n| self.open.remove(&n).is_some())
    }

    /// Closes every watch connection `owner` opened and returns their numbers.
    pub fn close_owned_by(&mut self, owner: u64) -> Vec<u64> {
        self.remove_where(|watch| watch.owner == owner)
    }

    /// Closes every watch whose lease ran out at `now` and returns their numbers.
    pub fn sweep(&mut self, now: Instant) -> Vec<u64> {
        self.remove_where(|watch| watch.expired(now))
    }

    fn remove_where(&mut self, doomed: impl Fn(&Watch) -> bool) -> Vec<u64> {
        let numbers: Vec<u64> = self
            .open
            .iter()
            .filter(|(_, watch)| doomed(watch))
            .map(|(n, _)| *n)
            .collect();
        for n in &numbers {
            self.open.remove(n);
        }
        numbers
    }

    /// Every record some open watch holds.
    pub fn watched(&self) -> BTreeSet<usize> {
        self.open
            .values()
            .flat_map(|watch| watch.ids.iter().copied())
            .collect()
    }

    /// Open watches in id order.
    pub fn iter_mut(&mut self) -> impl Iterator<Item = (u64, &mut Watch)> {
        self.open.iter_mut().map(|(n, watch)| (*n, watch))
    }

    /// How many watches are open.
    #[cfg(test)]
    pub fn count(&self) -> usize {
        self.open.len()
    }
}
