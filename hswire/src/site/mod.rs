//! The site that `hswire serve` answers from: its records, their simulated values and the
//! open watches, behind one lock.
//!
//! The bundled sample is ten sites, a hundred equips and three thousand points, built in
//! memory at start-up from hashes of their indices (no randomness, no files; see
//! `records`). `serve --site FILE` serves the records of a site file instead (see `file`).
//! The ops the site
//! answers (about, ops, formats, read, hisRead, watchSub, watchUnsub and watchPoll) are in
//! `ops`, reading their requests with `request`, building their answers with `grid`, and
//! evaluating filters through `resolver`; every refusal is an `error::SiteError`.
//! Nothing here touches the network: a server decodes a request grid, calls [`Site::handle`]
//! (or one op's method), and sends back the answer, or an error grid whose `dis` is the
//! [`SiteError`]'s text.
//!
//! Watches belong to whoever opened them and have leases (see the `watch` module); who
//! asks and when come in as arguments ([`Caller`]), so all of it is tested without a
//! network or a clock.
//!
//! One `Site` is shared by every connection (`Arc<Site>`). Records, simulated current values
//! and watches sit behind one mutex, held only for bookkeeping: a read, a poll or a tick
//! takes a snapshot of the records under it (an `Arc` of the record list, each record an
//! `Arc` too, replaced rather than changed when its value moves) and does its real work,
//! evaluating filters, copying and encoding records, after letting it go. So no request,
//! however costly, holds up the others, the ticks or the pushes, and a single lock still
//! keeps a poll, a tick and a read from ever seeing half an update.
//!
//! Work that grows with the request (a filter over every record) asks the request's
//! [`Cancellation`] as it goes and stops when the request is no longer wanted.

mod error;
mod file;
mod grid;
mod his;
mod ops;
mod records;
mod request;
mod resolver;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use haystack_wire::connection::{Cancellation, Peer};
use haystack_wire::filter::FilterLimits;
use libhaystack::val::{Date, DateTime, Dict, Grid, HaystackDict, Value};

pub use error::SiteError;
pub use file::SiteFileError;
use grid::{make_grid, put, watch_meta};
use records::{number, Built, PointModel};
use watch::Watches;
pub use watch::{Owner, WatchLimits};

/// What the site accepts from its clients and keeps for them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SiteLimits {
    /// How long and how deeply nested a read's filter may be.
    pub filter: FilterLimits,
    /// Watches, their records, their `watchDis` and their leases.
    pub watches: WatchLimits,
}

/// Who asks and when: what the answer to a request depends on besides the request.
#[derive(Clone, Debug)]
pub struct Caller {
    /// The connection the request came on, its user and address: they own the watches it
    /// opens.
    pub owner: Owner,
    /// When the request is answered; leases count from it.
    pub now: Instant,
    /// The day hisRead's `today` and `yesterday` count from.
    pub today: Date,
    /// Whether the request is still wanted; long work stops when it is not.
    pub cancellation: Cancellation,
    /// The connection, when the request came over one: what is kept for it (its watches)
    /// is counted in the server's memory budget through it.
    pub peer: Option<Peer>,
}

/// What one [`Site::tick`] did.
#[derive(Debug)]
pub struct Tick {
    /// For each open watch with records that changed, its id and a grid (meta `watchId`)
    /// of those records, in watch id order.
    pub changes: Vec<(String, Grid)>,
    /// The ids of the watches closed because their lease ran out.
    pub expired: Vec<String>,
}

/// A site: records, simulated current values and open watches.
pub struct Site {
    /// The `serverName` the about op gives.
    name: String,
    /// Record position by id (without the `@`), fixed after start-up.
    index: HashMap<String, usize>,
    /// Each record's `id` value (a ref with its display name), for answers that do not need
    /// the whole record and so need not take the lock.
    refs: Vec<Value>,
    /// The value model of each record that is a point.
    models: Vec<Option<PointModel>>,
    boot_time: DateTime,
    /// How long and how deep a read's filter may be.
    filter_limits: FilterLimits,
    state: Mutex<State>,
}

/// The records at one moment: the list is replaced, not changed, when a record's value
/// moves, and so is each changed record, so a snapshot stays as it was taken.
type Records = Arc<Vec<Arc<Dict>>>;

/// What changes after start-up.
struct State {
    /// Every record, its `curVal` kept current.
    records: Records,
    /// How far each record's simulated current value has advanced.
    steps: Vec<u64>,
    /// Ticks so far.
    ticks: u64,
    /// Ticks that changed a record so far: the records are the same while it is.
    changes: u64,
    watches: Watches,
}

impl Site {
    /// Builds the sample site: 10 sites, 100 equips, 3,000 points.
    pub fn sample() -> Site {
        Site::new("hswire sample site".to_string(), records::build())
    }

    /// Reads the site of a site file: a Haystack 4 JSON grid of records with unique ref
    /// ids, at most [`file::MAX_SITE_FILE_BYTES`] long (see the `file` module for what is
    /// simulated).
    pub fn from_file(path: &Path) -> Result<Site, SiteFileError> {
        let built = file::load(path)?;
        let name = match path.file_name() {
            Some(name) => format!("hswire site file {}", name.to_string_lossy()),
            None => "hswire site file".to_string(),
        };
        Ok(Site::new(name, built))
    }

    fn new(name: String, built: Built) -> Site {
        let index = built
            .records
            .iter()
            .enumerate()
            .filter_map(|(i, record)| Some((record.get_ref("id")?.value().to_string(), i)))
            .collect();
        let refs = built
            .records
            .iter()
            .map(|record| record.get("id").cloned().unwrap_or_default())
            .collect();
        let steps = vec![0; built.records.len()];
        Site {
            name,
            index,
            refs,
            models: built.models,
            boot_time: DateTime::utc_now(),
            filter_limits: FilterLimits::DEFAULT,
            state: Mutex::new(State {
                records: Arc::new(built.records.into_iter().map(Arc::new).collect()),
                steps,
                ticks: 0,
                changes: 0,
                watches: Watches::new(WatchLimits::DEFAULT),
            }),
        }
    }

    /// The site, accepting filters and keeping watches within `limits` instead of the
    /// defaults.
    pub fn with_limits(mut self, limits: SiteLimits) -> Site {
        self.filter_limits = limits.filter;
        let state = self.state.get_mut().unwrap_or_else(PoisonError::into_inner);
        state.watches = Watches::new(limits.watches);
        self
    }

    /// Closes the watches whose lease ran out at `now`, advances the simulated `curVal` of
    /// every point a remaining watch holds (unwatched points stay put) and returns the
    /// closed watches' ids and, for each remaining watch with records that changed in this
    /// tick, the watch id and a grid (meta `watchId`) of those records, in watch id order.
    /// Watches with no change get no grid, so a periodic caller pushes nothing empty.
    /// Changes are also kept for each watch's next watchPoll, so pushing and polling do not
    /// interfere. The grids are built after the lock is let go.
    pub fn tick(&self, now: Instant) -> Tick {
        let (expired, hits, records) = {
            let mut guard = self.state();
            let state = &mut *guard;
            let expired = state.watches.sweep(now);
            state.ticks += 1;
            let tick = state.ticks;
            let mut changed = BTreeSet::new();
            for position in state.watches.watched() {
                let Some(model) = self.models.get(position).and_then(Option::as_ref) else {
                    continue;
                };
                if !model.moves_on(tick) {
                    continue;
                }
                let step = state.steps[position].saturating_add(1);
                state.steps[position] = step;
                let value = model.current(step);
                let records = Arc::make_mut(&mut state.records);
                if records[position].get_num("curVal").map(|current| current.value) != Some(value) {
                    let mut record = Dict::clone(&records[position]);
                    put(&mut record, "curVal", number(value, &model.unit));
                    records[position] = Arc::new(record);
                    changed.insert(position);
                }
            }
            if !changed.is_empty() {
                state.changes += 1;
            }
            let mut hits = Vec::new();
            for (id, watch) in state.watches.iter_mut() {
                let changes: Vec<usize> = watch.ids.intersection(&changed).copied().collect();
                if changes.is_empty() {
                    continue;
                }
                watch.dirty.extend(&changes);
                hits.push((id.clone(), changes));
            }
            (expired, hits, Arc::clone(&state.records))
        };
        let changes = hits
            .into_iter()
            .map(|(id, positions)| {
                let rows = positions.into_iter().map(|i| Dict::clone(&records[i])).collect();
                let grid = make_grid(rows, watch_meta(&id, None));
                (id, grid)
            })
            .collect();
        Tick { changes, expired }
    }

    /// Closes every watch connection `connection` opened (when it goes away) and returns
    /// their ids.
    pub fn close_watches_of(&self, connection: u64) -> Vec<String> {
        self.state().watches.close_owned_by(connection)
    }

    /// The records as they are now, without holding the lock while they are used.
    fn snapshot(&self) -> Records {
        Arc::clone(&self.state().records)
    }

    /// A number that stays the same while no record changes, and grows when
    /// one does: an answer made from the records while it had one value is
    /// still right while it has it.
    pub fn version(&self) -> u64 {
        self.state().changes
    }

    /// Whether the watch `watch_id` is open (its lease may have run out since the last tick).
    pub fn has_watch(&self, watch_id: &str) -> bool {
        self.state().watches.contains(watch_id)
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // Every update under the lock is a whole insert or remove, so a panic elsewhere while
        // it was held leaves consistent state behind; serving on beats refusing forever.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }
}
