//! Watch bookkeeping: which records each open watch holds and which of them changed since
//! its last poll.

use std::collections::{BTreeMap, BTreeSet};

use libhaystack::val::Number;

use super::SiteError;

/// The most watches open at once, across all connections.
pub const MAX_WATCHES: usize = 1_024;
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
    pub lease_secs: u32,
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

impl Watches {
    pub fn new() -> Watches {
        Watches {
            open: BTreeMap::new(),
            next: 1,
        }
    }

    /// Opens an empty watch and returns its number.
    pub fn open(&mut self, dis: String, lease_secs: u32) -> Result<u64, SiteError> {
        if self.open.len() >= MAX_WATCHES {
            return Err(SiteError::TooManyWatches { max: MAX_WATCHES });
        }
        let n = self.next;
        self.next += 1;
        self.open.insert(
            n,
            Watch {
                dis,
                lease_secs,
                ids: BTreeSet::new(),
                dirty: BTreeSet::new(),
            },
        );
        Ok(n)
    }

    /// The open watch with wire id `id`.
    pub fn get_mut(&mut self, id: &str) -> Result<&mut Watch, SiteError> {
        parse_watch_id(id)
            .and_then(|n| self.open.get_mut(&n))
            .ok_or_else(|| SiteError::UnknownWatch { id: id.to_string() })
    }

    /// Closes the watch with wire id `id`; false if no such watch was open.
    pub fn close(&mut self, id: &str) -> bool {
        parse_watch_id(id).is_some_and(|n| self.open.remove(&n).is_some())
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
