//! The bundled sample site that `hswire serve` answers from.
//!
//! Ten sites, a hundred equips and three thousand points, built in memory at start-up from
//! hashes of their indices (no randomness, no files), and the logic of the ops the site
//! answers: about, ops, formats, read, hisRead, watchSub, watchUnsub and watchPoll.
//! Nothing here touches the network: a server decodes a request grid, calls [`Site::handle`]
//! (or one op's method), and sends back the answer, or an error grid whose `dis` is the
//! [`SiteError`]'s text.
//!
//! Watches belong to the connection that opened them and have leases (see the `watch`
//! module); the connection's id and the time come in as arguments ([`Caller`], `now`), so
//! all of it is tested without a network or a clock.
//!
//! One `Site` is shared by every connection (`Arc<Site>`). Records, simulated current values
//! and watches sit behind one mutex: every op holds it for a few milliseconds at most, and a
//! single lock keeps a poll, a tick and a read from ever seeing half an update.

mod his;
mod records;
mod watch;

#[cfg(test)]
mod tests;

use std::collections::{BTreeSet, HashMap};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use haystack_wire::Op;
use libhaystack::defs::namespace::DEFAULT_NS;
use libhaystack::filter::eval::EvalContext;
use libhaystack::filter::path::Path;
use libhaystack::filter::{Eval, Filter, PathResolver};
use libhaystack::val::{Column, Date, DateTime, Dict, Grid, HaystackDict, Ref, Value, GRID_FORMAT_VERSION};

use records::{number, PointModel};
use watch::{watch_id, Watches};

/// What was wrong with a request, and with which value. The text becomes the `dis` of the
/// error grid the client receives, so each message names the offending input.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
pub enum SiteError {
    /// The site does not answer this op.
    #[error("the sample site does not answer {op}")]
    UnsupportedOp { op: &'static str },
    /// The request grid has no rows where the op needs one.
    #[error("{op}: the request grid has no rows")]
    EmptyRequest { op: &'static str },
    /// The request grid lacks a column the op needs.
    #[error("{op}: the request grid needs a `{column}` column")]
    MissingColumn { op: &'static str, column: &'static str },
    /// The request meta lacks a tag the op needs.
    #[error("{op}: the request meta needs {tag}")]
    MissingMeta { op: &'static str, tag: &'static str },
    /// A tag holds the wrong kind of value.
    #[error("{op}: `{tag}` must be {expected}, not {found}")]
    WrongKind {
        op: &'static str,
        tag: &'static str,
        expected: &'static str,
        found: String,
    },
    /// The filter does not parse; `message` is libhaystack's.
    #[error("bad filter `{filter}`: {message}")]
    BadFilter { filter: String, message: String },
    /// A read limit that is not a whole number of zero or more.
    #[error("bad limit {value}: expected a whole number, 0 or more")]
    BadLimit { value: String },
    /// More ids in one request than the op accepts.
    #[error("{op}: {count} ids in one request, at most {max} are accepted")]
    TooManyIds {
        op: &'static str,
        count: usize,
        max: usize,
    },
    /// hisRead of an id that is not a point of this site.
    #[error("hisRead: @{id} is not a point of this site")]
    UnknownPoint { id: String },
    /// A hisRead range in none of the accepted forms, or naming no real date.
    #[error("bad range `{range}`: {reason}")]
    BadRange { range: String, reason: &'static str },
    /// A hisRead range that ends before it starts.
    #[error("bad range `{range}`: it ends before it starts")]
    ReversedRange { range: String },
    /// A hisRead range longer than the site serves.
    #[error("range `{range}` covers {days} days; at most {max} are served per request")]
    RangeTooLong { range: String, days: i64, max: i64 },
    /// A watch lease that is not a positive duration.
    #[error("bad lease {value}: expected a positive duration in ms, s, min or h")]
    BadLease { value: String },
    /// No open watch has this id.
    #[error("unknown watch `{id}`")]
    UnknownWatch { id: String },
    /// Opening one more watch would pass the limit.
    #[error("too many open watches: at most {max}")]
    TooManyWatches { max: usize },
    /// Opening one more watch would pass the limit of one connection.
    #[error("connection {connection} has {open} open watches: at most {max} per connection")]
    TooManyConnectionWatches {
        connection: u64,
        open: usize,
        max: usize,
    },
    /// A watch would hold more records than the limit.
    #[error("watch `{watch}` would hold {count} records; at most {max}")]
    TooManyWatchIds { watch: String, count: usize, max: usize },
}

/// The most ids one read request may name.
const MAX_READ_IDS: usize = 4_096;

/// Who asks and when: what the answer to a request depends on besides the request.
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// The connection the request came on (its `Peer::id`); it owns the watches it opens.
    pub connection: u64,
    /// When the request is answered; leases count from it.
    pub now: Instant,
    /// The day hisRead's `today` and `yesterday` count from.
    pub today: Date,
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

/// The sample site: records, simulated current values and open watches.
pub struct Site {
    /// Record position by id (without the `@`), fixed after start-up.
    index: HashMap<String, usize>,
    /// Each record's `id` value (a ref with its display name), for answers that do not need
    /// the whole record and so need not take the lock.
    refs: Vec<Value>,
    /// The value model of each record that is a point.
    models: Vec<Option<PointModel>>,
    boot_time: DateTime,
    state: Mutex<State>,
}

/// What changes after start-up.
struct State {
    /// Every record, its `curVal` kept current.
    records: Vec<Dict>,
    /// How far each record's simulated current value has advanced.
    steps: Vec<u64>,
    /// Ticks so far.
    ticks: u64,
    watches: Watches,
}

impl Site {
    /// The ops the site answers, in the order of [`Op::ALL`].
    pub const OPS: [Op; 8] = [
        Op::About,
        Op::Ops,
        Op::Formats,
        Op::Read,
        Op::HisRead,
        Op::WatchSub,
        Op::WatchUnsub,
        Op::WatchPoll,
    ];
    /// Builds the sample site: 10 sites, 100 equips, 3,000 points.
    pub fn sample() -> Site {
        let built = records::build();
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
            index,
            refs,
            models: built.models,
            boot_time: DateTime::utc_now(),
            state: Mutex::new(State {
                records: built.records,
                steps,
                ticks: 0,
                watches: Watches::new(),
            }),
        }
    }

    /// Answers `op` with `request` from `caller`.
    pub fn handle(&self, op: Op, request: &Grid, caller: &Caller) -> Result<Grid, SiteError> {
        match op {
            Op::About => Ok(self.about()),
            Op::Ops => Ok(self.ops()),
            Op::Formats => Ok(self.formats()),
            Op::Read => self.read(request),
            Op::HisRead => self.his_read(request, caller.today),
            Op::WatchSub => self.watch_sub(request, caller.connection, caller.now),
            Op::WatchUnsub => self.watch_unsub(request, caller.now),
            Op::WatchPoll => self.watch_poll(request, caller.now),
            other => Err(SiteError::UnsupportedOp { op: other.name() }),
        }
    }

    /// The about op: one row describing the server.
    pub fn about(&self) -> Grid {
        let repository = env!("CARGO_PKG_REPOSITORY");
        let mut row = Dict::new();
        put(&mut row, "haystackVersion", Value::from("4.0"));
        put(&mut row, "serverName", Value::from("hswire sample site"));
        put(&mut row, "serverTime", Value::from(DateTime::utc_now()));
        put(&mut row, "serverBootTime", Value::from(self.boot_time));
        put(&mut row, "productName", Value::from("haystack-wire"));
        put(&mut row, "productVersion", Value::from(env!("CARGO_PKG_VERSION")));
        put(&mut row, "productUri", Value::make_uri(repository));
        put(&mut row, "vendorName", Value::from("haystack-wire"));
        put(&mut row, "vendorUri", Value::make_uri(repository));
        put(&mut row, "tz", Value::from(records::TZ));
        make_grid(vec![row], Dict::new())
    }

    /// The ops op: the name and a summary of each op the site answers.
    pub fn ops(&self) -> Grid {
        let rows = Self::OPS
            .iter()
            .map(|op| {
                let mut row = Dict::new();
                put(&mut row, "name", Value::from(op.name()));
                put(&mut row, "summary", Value::from(summary(*op)));
                row
            })
            .collect();
        make_grid_in_order(rows, &["name", "summary"], Dict::new())
    }

    /// The formats op: the site reads and writes Haystack JSON grids.
    pub fn formats(&self) -> Grid {
        let mut row = Dict::new();
        put(&mut row, "mime", Value::from("application/json"));
        put(&mut row, "receive", Value::make_marker());
        put(&mut row, "send", Value::make_marker());
        make_grid_in_order(vec![row], &["mime", "receive", "send"], Dict::new())
    }

    /// The read op, by filter or by id.
    ///
    /// A `filter` column reads the records its first row's filter matches (paths such as
    /// `equipRef->siteRef->geoCity` follow refs between records), at most `limit` of them if
    /// that row has a `limit`. Otherwise an `id` column reads one record per row; an id the
    /// site does not know gives an all-empty row, as the Haystack read op specifies, so the
    /// answer's rows line up with the request's. Columns are the union of the returned tags:
    /// `id`, `dis`, then the rest in alphabetical order.
    pub fn read(&self, request: &Grid) -> Result<Grid, SiteError> {
        const OP: &str = "read";
        if has_column(request, "filter") {
            let first = request.rows.first().ok_or(SiteError::EmptyRequest { op: OP })?;
            let text = match first.get("filter") {
                Some(Value::Str(text)) => text.value(),
                other => return Err(wrong_kind(OP, "filter", "a string", other)),
            };
            let limit = match first.get("limit") {
                None | Some(Value::Null) => usize::MAX,
                Some(value) => parse_limit(value)?,
            };
            let filter = Filter::try_from(text).map_err(|error| SiteError::BadFilter {
                filter: text.to_string(),
                message: error.to_string(),
            })?;
            let state = self.state();
            let resolver = RecordResolver {
                records: &state.records,
                index: &self.index,
            };
            let rows = state
                .records
                .iter()
                .filter(|record| filter.eval(&EvalContext::make(record, &DEFAULT_NS, &resolver)))
                .take(limit)
                .cloned()
                .collect();
            Ok(make_grid(rows, Dict::new()))
        } else if has_column(request, "id") {
            if request.rows.len() > MAX_READ_IDS {
                return Err(SiteError::TooManyIds {
                    op: OP,
                    count: request.rows.len(),
                    max: MAX_READ_IDS,
                });
            }
            let positions = request
                .rows
                .iter()
                .map(|row| Ok(self.index.get(&id_of(OP, row.get("id"))?).copied()))
                .collect::<Result<Vec<_>, SiteError>>()?;
            let state = self.state();
            let rows = positions
                .into_iter()
                .map(|at| at.map(|i| state.records[i].clone()).unwrap_or_default())
                .collect();
            Ok(make_grid(rows, Dict::new()))
        } else {
            Err(SiteError::MissingColumn {
                op: OP,
                column: "filter or id",
            })
        }
    }

    /// The hisRead op: the first row's `id` (a point) over its `range` (`today`, `yesterday`,
    /// `YYYY-MM-DD` or `YYYY-MM-DD,YYYY-MM-DD`, both dates included, UTC days), one sample
    /// every 5 minutes. Meta `id`, `hisStart` and `hisEnd` (exclusive); columns `ts`, `val`.
    /// Every sample whose index since 1970-01-01T00:00Z is a multiple of 997 is NaN.
    pub fn his_read(&self, request: &Grid, today: Date) -> Result<Grid, SiteError> {
        const OP: &str = "hisRead";
        let first = request.rows.first().ok_or(SiteError::EmptyRequest { op: OP })?;
        if !first.has("id") {
            return Err(SiteError::MissingColumn { op: OP, column: "id" });
        }
        let id = id_of(OP, first.get("id"))?;
        let range_text = match first.get("range") {
            Some(Value::Str(text)) => text.value(),
            None | Some(Value::Null) => {
                return Err(SiteError::MissingColumn {
                    op: OP,
                    column: "range",
                })
            }
            other => return Err(wrong_kind(OP, "range", "a string", other)),
        };
        let (position, model) = self
            .index
            .get(&id)
            .and_then(|&i| Some((i, self.models.get(i)?.as_ref()?)))
            .ok_or_else(|| SiteError::UnknownPoint { id: id.clone() })?;
        let range = his::parse_range(range_text, today)?;
        let outside = || SiteError::BadRange {
            range: range_text.to_string(),
            reason: "outside the supported calendar",
        };
        let start = his::timestamp(range.start, 0, 0).ok_or_else(outside)?;
        let end = his::end_of(range.end).ok_or_else(outside)?;
        let rows = his::series(model, range)?;
        let mut meta = Dict::new();
        put(&mut meta, "id", self.refs[position].clone());
        put(&mut meta, "hisStart", Value::from(start));
        put(&mut meta, "hisEnd", Value::from(end));
        Ok(make_grid_in_order(rows, &["ts", "val"], meta))
    }

    /// The watchSub op from connection `connection` at `now`. Meta `watchDis` opens a new
    /// watch owned by `connection` (at most [`watch::MAX_WATCHES_PER_CONNECTION`] per
    /// connection, [`watch::MAX_WATCHES`] in all); `watchId` adds to an open one, whoever
    /// opened it, and renews its lease. An optional `lease` (a duration; plain numbers count
    /// seconds) is granted up to a day. Rows name ids. The answer's meta has `watchId`,
    /// `lease` (seconds) and `watchDis`; its rows are the current records, one per requested
    /// id, all-empty for an id the site does not know (such ids are not watched).
    pub fn watch_sub(&self, request: &Grid, connection: u64, now: Instant) -> Result<Grid, SiteError> {
        const OP: &str = "watchSub";
        let lease = match meta_tag(request, "lease") {
            None => None,
            Some(Value::Number(lease)) => Some(watch::lease_secs(lease)?),
            other => return Err(wrong_kind(OP, "lease", "a number", other)),
        };
        if request.rows.len() > watch::MAX_WATCH_IDS {
            return Err(SiteError::TooManyIds {
                op: OP,
                count: request.rows.len(),
                max: watch::MAX_WATCH_IDS,
            });
        }
        let positions = request
            .rows
            .iter()
            .map(|row| Ok(self.index.get(&id_of(OP, row.get("id"))?).copied()))
            .collect::<Result<Vec<_>, SiteError>>()?;
        let known: BTreeSet<usize> = positions.iter().flatten().copied().collect();

        let mut guard = self.state();
        let state = &mut *guard;
        let id = match meta_tag(request, "watchId") {
            Some(value) => {
                let id = watch_id_of(OP, Some(value))?;
                let watch = state.watches.get_mut(&id, now)?;
                let count = watch.ids.union(&known).count();
                if count > watch::MAX_WATCH_IDS {
                    return Err(SiteError::TooManyWatchIds {
                        watch: id,
                        count,
                        max: watch::MAX_WATCH_IDS,
                    });
                }
                watch.ids.extend(&known);
                if let Some(lease) = lease {
                    watch.lease_secs = lease;
                }
                watch.renew(now);
                id
            }
            None => {
                let dis = match meta_tag(request, "watchDis") {
                    Some(Value::Str(dis)) => dis.value().to_string(),
                    None => {
                        return Err(SiteError::MissingMeta {
                            op: OP,
                            tag: "`watchDis` (new watch) or `watchId`",
                        })
                    }
                    other => return Err(wrong_kind(OP, "watchDis", "a string", other)),
                };
                let lease = lease.unwrap_or(watch::DEFAULT_LEASE_SECS);
                let n = state.watches.open(dis, lease, connection, now)?;
                let id = watch_id(n);
                state.watches.get_mut(&id, now)?.ids.extend(&known);
                id
            }
        };
        let watch = state.watches.get_mut(&id, now)?;
        let mut meta = watch_meta(&id, Some(watch.lease_secs));
        put(&mut meta, "watchDis", Value::from(watch.dis.as_str()));
        let rows = positions
            .iter()
            .map(|at| at.map(|i| state.records[i].clone()).unwrap_or_default())
            .collect();
        Ok(make_grid(rows, meta))
    }

    /// The watchUnsub op at `now`: meta `watchId`; rows name ids to stop watching, or a
    /// `close` marker in the meta closes the whole watch. Ids the watch does not hold are
    /// ignored. It does not renew the lease. Answers an empty grid.
    pub fn watch_unsub(&self, request: &Grid, now: Instant) -> Result<Grid, SiteError> {
        const OP: &str = "watchUnsub";
        let id = watch_id_of(OP, meta_tag(request, "watchId"))?;
        if meta_tag(request, "close").is_some() {
            let mut state = self.state();
            // A watch past its lease is unknown, as to every other op; closing it anyway
            // saves it waiting for the sweep.
            let live = state.watches.get_mut(&id, now).is_ok();
            if !(state.watches.close(&id) && live) {
                return Err(SiteError::UnknownWatch { id });
            }
        } else {
            let positions = request
                .rows
                .iter()
                .map(|row| Ok(self.index.get(&id_of(OP, row.get("id"))?).copied()))
                .collect::<Result<Vec<_>, SiteError>>()?;
            let mut state = self.state();
            let watch = state.watches.get_mut(&id, now)?;
            for position in positions.into_iter().flatten() {
                watch.ids.remove(&position);
                watch.dirty.remove(&position);
            }
        }
        Ok(make_grid(Vec::new(), watch_meta(&id, None)))
    }

    /// The watchPoll op at `now`: meta `watchId`. With a `refresh` marker in the meta, every
    /// watched record; otherwise the watched records whose `curVal` changed since this
    /// watch's last poll. Either way the poll starts a new change window and renews the
    /// lease. Meta `watchId` and `lease`.
    pub fn watch_poll(&self, request: &Grid, now: Instant) -> Result<Grid, SiteError> {
        const OP: &str = "watchPoll";
        let id = watch_id_of(OP, meta_tag(request, "watchId"))?;
        let refresh = meta_tag(request, "refresh").is_some();
        let mut guard = self.state();
        let state = &mut *guard;
        let watch = state.watches.get_mut(&id, now)?;
        watch.renew(now);
        let positions: Vec<usize> = if refresh {
            watch.ids.iter().copied().collect()
        } else {
            watch.dirty.iter().copied().collect()
        };
        watch.dirty.clear();
        let lease = watch.lease_secs;
        let rows = positions.into_iter().map(|i| state.records[i].clone()).collect();
        Ok(make_grid(rows, watch_meta(&id, Some(lease))))
    }

    /// Closes the watches whose lease ran out at `now`, advances the simulated `curVal` of
    /// every point a remaining watch holds (unwatched points stay put) and returns the
    /// closed watches' ids and, for each remaining watch with records that changed in this
    /// tick, the watch id and a grid (meta `watchId`) of those records, in watch id order.
    /// Watches with no change get no grid, so a periodic caller pushes nothing empty.
    /// Changes are also kept for each watch's next watchPoll, so pushing and polling do not
    /// interfere.
    pub fn tick(&self, now: Instant) -> Tick {
        let mut guard = self.state();
        let state = &mut *guard;
        let expired = state.watches.sweep(now).into_iter().map(watch_id).collect();
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
            let record = &mut state.records[position];
            if record.get_num("curVal").map(|current| current.value) != Some(value) {
                put(record, "curVal", number(value, model.unit));
                changed.insert(position);
            }
        }
        let mut changes = Vec::new();
        for (n, watch) in state.watches.iter_mut() {
            let hits: Vec<usize> = watch.ids.intersection(&changed).copied().collect();
            if hits.is_empty() {
                continue;
            }
            watch.dirty.extend(&hits);
            let id = watch_id(n);
            let rows = hits.into_iter().map(|i| state.records[i].clone()).collect();
            let grid = make_grid(rows, watch_meta(&id, None));
            changes.push((id, grid));
        }
        Tick { changes, expired }
    }

    /// Closes every watch connection `connection` opened (when it goes away) and returns
    /// their ids.
    pub fn close_watches_of(&self, connection: u64) -> Vec<String> {
        let mut state = self.state();
        state
            .watches
            .close_owned_by(connection)
            .into_iter()
            .map(watch_id)
            .collect()
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

/// The summary the ops op gives for `op`.
fn summary(op: Op) -> &'static str {
    match op {
        Op::About => "Summary information about this server",
        Op::Ops => "The operations this server answers",
        Op::Formats => "The grid formats this server reads and writes",
        Op::Read => "Records matching a filter, or records by id",
        Op::HisRead => "The 5-minute history of a point over whole days",
        Op::WatchSub => "Open a watch, or add records to one",
        Op::WatchUnsub => "Remove records from a watch, or close it",
        Op::WatchPoll => "The watched records that changed since the last poll",
        other => other.name(),
    }
}

/// Follows ref paths (`equipRef->siteRef->dis`) through the site's records, which
/// libhaystack's own dict resolver cannot do.
struct RecordResolver<'a> {
    records: &'a [Dict],
    index: &'a HashMap<String, usize>,
}

impl RecordResolver<'_> {
    fn lookup(&self, id: &str) -> Option<&Dict> {
        self.records.get(*self.index.get(id)?)
    }
}

impl PathResolver for RecordResolver<'_> {
    fn resolve_for(&self, root: &Dict, path: &Path) -> Value {
        let mut current = root;
        let last = path.len().saturating_sub(1);
        for (i, segment) in path.iter().enumerate() {
            let Some(value) = current.get(&segment.to_string()) else {
                return Value::Null;
            };
            if i == last {
                return value.clone();
            }
            current = match value {
                Value::Ref(next) => match self.lookup(next.value()) {
                    Some(record) => record,
                    None => return Value::Null,
                },
                Value::Dict(inner) => inner,
                _ => return Value::Null,
            };
        }
        Value::Null
    }

    fn resolve(&self, _path: &Path) -> Value {
        // Evaluation always resolves against the record being tested (`resolve_for`); a
        // resolver over many records has no single root of its own.
        Value::Null
    }

    fn resolve_ref(&self, reference: &Ref) -> Option<Dict> {
        self.lookup(reference.value()).cloned()
    }
}

fn put(dict: &mut Dict, tag: &str, value: Value) {
    dict.insert(tag.to_string(), value);
}

/// A grid of `rows` whose columns are the union of their tags: `id`, `dis`, then the rest in
/// alphabetical order, so the same records always give the same columns. A grid with no tags
/// at all gets the conventional single `empty` column.
fn make_grid(rows: Vec<Dict>, meta: Dict) -> Grid {
    let mut names: BTreeSet<&str> = rows
        .iter()
        .flat_map(|row| row.keys().map(String::as_str))
        .collect();
    let mut columns = Vec::with_capacity(names.len().max(1));
    for first in ["id", "dis"] {
        if names.remove(first) {
            columns.push(column(first));
        }
    }
    columns.extend(names.into_iter().map(column));
    if columns.is_empty() {
        columns.push(column("empty"));
    }
    Grid {
        meta: (!meta.is_empty()).then_some(meta),
        columns,
        rows,
        ver: GRID_FORMAT_VERSION.to_string(),
    }
}

/// A grid with exactly the columns `names`, in that order.
fn make_grid_in_order(rows: Vec<Dict>, names: &[&str], meta: Dict) -> Grid {
    let columns = names.iter().copied().map(column).collect();
    Grid {
        meta: (!meta.is_empty()).then_some(meta),
        columns,
        rows,
        ver: GRID_FORMAT_VERSION.to_string(),
    }
}

fn column(name: &str) -> Column {
    Column {
        name: name.to_string(),
        meta: None,
    }
}

fn watch_meta(id: &str, lease_secs: Option<u32>) -> Dict {
    let mut meta = Dict::new();
    put(&mut meta, "watchId", Value::from(id));
    if let Some(lease) = lease_secs {
        put(&mut meta, "lease", number(f64::from(lease), "s"));
    }
    meta
}

/// Whether the request has column `name`, declared or only present in rows.
fn has_column(grid: &Grid, name: &str) -> bool {
    grid.columns.iter().any(|column| column.name == name) || grid.rows.iter().any(|row| row.has(name))
}

/// A tag of the request meta, a null counting as absent.
fn meta_tag<'a>(grid: &'a Grid, tag: &str) -> Option<&'a Value> {
    grid.meta.as_ref()?.get(tag).filter(|value| !value.is_null())
}

/// An id from a ref, or from a string (with or without its `@`) for clients that cannot
/// send refs.
fn id_of(op: &'static str, value: Option<&Value>) -> Result<String, SiteError> {
    match value {
        Some(Value::Ref(id)) => Ok(id.value().to_string()),
        Some(Value::Str(id)) => Ok(id.value().strip_prefix('@').unwrap_or(id.value()).to_string()),
        other => Err(wrong_kind(op, "id", "a ref", other)),
    }
}

/// A watch id from a string (the Haystack convention) or a ref.
fn watch_id_of(op: &'static str, value: Option<&Value>) -> Result<String, SiteError> {
    match value {
        Some(Value::Str(id)) => Ok(id.value().to_string()),
        Some(Value::Ref(id)) => Ok(id.value().to_string()),
        None => Err(SiteError::MissingMeta { op, tag: "`watchId`" }),
        other => Err(wrong_kind(op, "watchId", "a string", other)),
    }
}

fn parse_limit(value: &Value) -> Result<usize, SiteError> {
    match value {
        Value::Number(limit) if limit.value >= 0.0 && limit.value.fract() == 0.0 => {
            // Saturating: a limit beyond the record count means no limit.
            Ok(limit.value as usize)
        }
        other => Err(SiteError::BadLimit {
            value: describe(Some(other)),
        }),
    }
}

fn wrong_kind(
    op: &'static str,
    tag: &'static str,
    expected: &'static str,
    found: Option<&Value>,
) -> SiteError {
    SiteError::WrongKind {
        op,
        tag,
        expected,
        found: describe(found),
    }
}

/// A short description of a request value for an error message.
fn describe(value: Option<&Value>) -> String {
    let Some(value) = value else {
        return "nothing".to_string();
    };
    match value {
        Value::Null => "null".to_string(),
        Value::Remove => "a remove".to_string(),
        Value::Marker => "a marker".to_string(),
        Value::Bool(flag) => format!("the bool {}", flag.value),
        Value::Na => "NA".to_string(),
        Value::Number(n) => match n.unit {
            Some(unit) => format!("the number {}{}", n.value, unit.symbol()),
            None => format!("the number {}", n.value),
        },
        Value::Str(text) => format!("the string {:?}", text.value()),
        Value::Uri(_) => "a uri".to_string(),
        Value::Ref(id) => format!("the ref @{}", id.value()),
        Value::Symbol(_) => "a symbol".to_string(),
        Value::Date(date) => format!("the date {date}"),
        Value::Time(_) => "a time".to_string(),
        Value::DateTime(ts) => format!("the dateTime {ts}"),
        Value::Coord(_) => "a coord".to_string(),
        Value::XStr(_) => "an xstr".to_string(),
        Value::List(_) => "a list".to_string(),
        Value::Dict(_) => "a dict".to_string(),
        Value::Grid(_) => "a grid".to_string(),
    }
}
