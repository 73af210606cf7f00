//! The ops the site answers: the dispatch by op and the logic of each one, over the
//! site's records and watches.

use std::collections::BTreeSet;
use std::sync::Arc;

use haystack_wire::connection::Cancellation;
use haystack_wire::Op;
use libhaystack::defs::namespace::DEFAULT_NS;
use libhaystack::filter::eval::EvalContext;
use libhaystack::filter::{Eval, Filter};
use libhaystack::val::{Date, DateTime, Dict, Grid, HaystackDict, Value};

use super::error::{excerpt, wrong_kind, SiteError};
use super::grid::{make_grid, make_grid_in_order, put, watch_meta};
use super::request::{has_column, id_of, meta_tag, parse_limit, watch_id_of};
use super::resolver::RecordResolver;
use super::watch;
use super::{his, records, Caller, Site};

/// The most ids one read request may name.
const MAX_READ_IDS: usize = 4_096;

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

    /// Answers `op` with `request` from `caller`.
    pub fn handle(&self, op: Op, request: &Grid, caller: &Caller) -> Result<Grid, SiteError> {
        match op {
            Op::About => Ok(self.about()),
            Op::Ops => Ok(self.ops()),
            Op::Formats => Ok(self.formats()),
            Op::Read => self.read(request, &caller.cancellation),
            Op::HisRead => self.his_read(request, caller.today),
            Op::WatchSub => self.watch_sub(request, caller),
            Op::WatchUnsub => self.watch_unsub(request, caller),
            Op::WatchPoll => self.watch_poll(request, caller),
            other => Err(SiteError::UnsupportedOp { op: other.name() }),
        }
    }

    /// The answer of an op that reads nothing of its request (about, ops, formats).
    pub fn describe(&self, op: Op) -> Result<Grid, SiteError> {
        match op {
            Op::About => Ok(self.about()),
            Op::Ops => Ok(self.ops()),
            Op::Formats => Ok(self.formats()),
            other => Err(SiteError::UnsupportedOp { op: other.name() }),
        }
    }

    /// The about op: one row describing the server.
    pub fn about(&self) -> Grid {
        let repository = env!("CARGO_PKG_REPOSITORY");
        let mut row = Dict::new();
        put(&mut row, "haystackVersion", Value::from("4.0"));
        put(&mut row, "serverName", Value::from(self.name.as_str()));
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
    /// that row has a `limit`. The filter is checked against the site's filter limits
    /// before it is parsed, and the scan stops, with an error, once `cancellation` says the
    /// request is no longer wanted. Otherwise an `id` column reads one record per row; an id
    /// the site does not know gives an all-empty row, as the Haystack read op specifies, so
    /// the answer's rows line up with the request's. Columns are the union of the returned
    /// tags: `id`, `dis`, then the rest in alphabetical order.
    pub fn read(&self, request: &Grid, cancellation: &Cancellation) -> Result<Grid, SiteError> {
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
            self.filter_limits.check(text)?;
            let filter = Filter::try_from(text).map_err(|error| SiteError::BadFilter {
                filter: excerpt(text),
                message: error.to_string(),
            })?;
            let records = self.snapshot();
            let resolver = RecordResolver {
                records: &records,
                index: &self.index,
            };
            let mut rows = Vec::new();
            for (scanned, record) in records.iter().enumerate() {
                if rows.len() >= limit {
                    break;
                }
                if scanned % CHECK_EVERY == 0 {
                    stop_if_unwanted(cancellation, OP, scanned, records.len())?;
                }
                if filter.eval(&EvalContext::make(record, &DEFAULT_NS, &resolver)) {
                    rows.push(Dict::clone(record));
                }
            }
            Ok(make_grid(rows, Dict::new()))
        } else if has_column(request, "id") {
            if request.rows.len() > MAX_READ_IDS {
                return Err(SiteError::TooManyIds {
                    op: OP,
                    count: request.rows.len(),
                    max: MAX_READ_IDS,
                });
            }
            let positions = self.positions(OP, &request.rows)?;
            let records = self.snapshot();
            let rows = positions
                .into_iter()
                .map(|at| at.map(|i| Dict::clone(&records[i])).unwrap_or_default())
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
        let position = *self
            .index
            .get(&id)
            .ok_or_else(|| SiteError::UnknownPoint { id: excerpt(&id) })?;
        let Some(model) = self.models.get(position).and_then(Option::as_ref) else {
            return Err(self.no_history(id, position));
        };
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

    /// The watchSub op from `caller`. Meta `watchDis` opens a new watch owned by the
    /// caller, within the site's [`WatchLimits`] per connection, per user or address, and
    /// in all; `watchId` adds to an open one of the caller's (the same connection, or the
    /// same logged-in user) and renews its lease. An optional `lease` (a duration; plain
    /// numbers count seconds) is granted up to the limits' maximum. Rows name ids. The
    /// answer's meta has `watchId`, `lease` (seconds) and `watchDis`; its rows are the
    /// current records, one per requested id, all-empty for an id the site does not know
    /// (such ids are not watched). A refused request changes nothing.
    pub fn watch_sub(&self, request: &Grid, caller: &Caller) -> Result<Grid, SiteError> {
        const OP: &str = "watchSub";
        let limits = *self.state().watches.limits();
        let lease = match meta_tag(request, "lease") {
            None => None,
            Some(Value::Number(lease)) => Some(watch::lease_secs(lease, limits.max_lease_secs)?),
            other => return Err(wrong_kind(OP, "lease", "a number", other)),
        };
        if request.rows.len() > limits.max_ids {
            return Err(SiteError::TooManyIds {
                op: OP,
                count: request.rows.len(),
                max: limits.max_ids,
            });
        }
        let positions = self.positions(OP, &request.rows)?;
        let known: BTreeSet<usize> = positions.iter().flatten().copied().collect();
        let (owner, now) = (&caller.owner, caller.now);

        let (id, lease_secs, dis, records) = match meta_tag(request, "watchId") {
            Some(value) => {
                let id = watch_id_of(OP, Some(value))?;
                let mut state = self.state();
                state.watches.add(&id, owner, now, &known)?;
                let watch = state.watches.get_mut(&id, owner, now)?;
                if let Some(lease) = lease {
                    watch.lease_secs = lease;
                }
                watch.renew(now);
                let (lease_secs, dis) = (watch.lease_secs, watch.dis.clone());
                (id, lease_secs, dis, Arc::clone(&state.records))
            }
            None => {
                let dis = match meta_tag(request, "watchDis") {
                    Some(Value::Str(dis)) => dis.value(),
                    None => {
                        return Err(SiteError::MissingMeta {
                            op: OP,
                            tag: "`watchDis` (new watch) or `watchId`",
                        })
                    }
                    other => return Err(wrong_kind(OP, "watchDis", "a string", other)),
                };
                if dis.len() > limits.max_dis {
                    return Err(SiteError::WatchDisTooLong {
                        len: dis.len(),
                        max: limits.max_dis,
                    });
                }
                let id = watch::new_watch_id()?;
                let held = match &caller.peer {
                    Some(peer) => Some(peer.hold(watch::watch_bytes(dis.len(), 0)).map_err(|error| {
                        SiteError::OverBudget {
                            reason: error.to_string(),
                        }
                    })?),
                    None => None,
                };
                let lease = lease.unwrap_or(limits.default_lease_secs.min(limits.max_lease_secs));
                let mut state = self.state();
                state
                    .watches
                    .open(id.clone(), dis.to_string(), lease, owner.clone(), now, held)?;
                if let Err(error) = state.watches.add(&id, owner, now, &known) {
                    state.watches.close(&id, owner);
                    return Err(error);
                }
                (id, lease, dis.to_string(), Arc::clone(&state.records))
            }
        };
        let mut meta = watch_meta(&id, Some(lease_secs));
        put(&mut meta, "watchDis", Value::from(dis.as_str()));
        let rows = positions
            .iter()
            .map(|at| at.map(|i| Dict::clone(&records[i])).unwrap_or_default())
            .collect();
        Ok(make_grid(rows, meta))
    }

    /// The watchUnsub op from `caller`: meta `watchId`; rows name ids to stop watching, or
    /// a `close` marker in the meta closes the whole watch. Ids the watch does not hold are
    /// ignored. It does not renew the lease. Answers an empty grid.
    pub fn watch_unsub(&self, request: &Grid, caller: &Caller) -> Result<Grid, SiteError> {
        const OP: &str = "watchUnsub";
        let id = watch_id_of(OP, meta_tag(request, "watchId"))?;
        let (owner, now) = (&caller.owner, caller.now);
        if meta_tag(request, "close").is_some() {
            let mut state = self.state();
            // A watch past its lease is unknown, as to every other op; closing it anyway
            // saves it waiting for the sweep.
            let live = state.watches.get_mut(&id, owner, now).is_ok();
            if !(state.watches.close(&id, owner) && live) {
                return Err(SiteError::UnknownWatch { id: excerpt(&id) });
            }
        } else {
            let limits = *self.state().watches.limits();
            if request.rows.len() > limits.max_ids {
                return Err(SiteError::TooManyIds {
                    op: OP,
                    count: request.rows.len(),
                    max: limits.max_ids,
                });
            }
            let positions: Vec<usize> = self.positions(OP, &request.rows)?.into_iter().flatten().collect();
            self.state().watches.remove(&id, owner, now, &positions)?;
        }
        Ok(make_grid(Vec::new(), watch_meta(&id, None)))
    }

    /// The watchPoll op from `caller`: meta `watchId`. With a `refresh` marker in the meta,
    /// every watched record; otherwise the watched records whose `curVal` changed since
    /// this watch's last poll. Either way the poll starts a new change window and renews
    /// the lease. Meta `watchId` and `lease`.
    pub fn watch_poll(&self, request: &Grid, caller: &Caller) -> Result<Grid, SiteError> {
        const OP: &str = "watchPoll";
        let id = watch_id_of(OP, meta_tag(request, "watchId"))?;
        let refresh = meta_tag(request, "refresh").is_some();
        let (positions, lease, records) = {
            let mut state = self.state();
            let watch = state.watches.get_mut(&id, &caller.owner, caller.now)?;
            watch.renew(caller.now);
            let positions: Vec<usize> = if refresh {
                watch.ids.iter().copied().collect()
            } else {
                watch.dirty.iter().copied().collect()
            };
            watch.dirty.clear();
            (positions, watch.lease_secs, Arc::clone(&state.records))
        };
        let rows = positions.into_iter().map(|i| Dict::clone(&records[i])).collect();
        Ok(make_grid(rows, watch_meta(&id, Some(lease))))
    }

    /// The position of the record each row's `id` names (`None` for an id the site does
    /// not know).
    fn positions(&self, op: &'static str, rows: &[Dict]) -> Result<Vec<Option<usize>>, SiteError> {
        rows.iter()
            .map(|row| Ok(self.index.get(&id_of(op, row.get("id"))?).copied()))
            .collect()
    }

    /// Why the record at `position`, with id `id`, has no history: it is no point, or a
    /// point of a kind that is not simulated.
    fn no_history(&self, id: String, position: usize) -> SiteError {
        let records = self.snapshot();
        let Some(record) = records.get(position).filter(|record| record.has("point")) else {
            return SiteError::UnknownPoint { id: excerpt(&id) };
        };
        let kind = match record.get_str("kind") {
            Some(kind) => excerpt(kind.value()),
            None => "kindless".to_string(),
        };
        SiteError::NoHistory {
            id: excerpt(&id),
            kind,
        }
    }
}

/// How many records a scan goes through between two looks at its cancellation: a look
/// costs a clock read, a record's evaluation at least as much.
const CHECK_EVERY: usize = 16;

/// The error that stops `op` after `done` of `of` records, if `cancellation` says the
/// request is no longer wanted.
fn stop_if_unwanted(
    cancellation: &Cancellation,
    op: &'static str,
    done: usize,
    of: usize,
) -> Result<(), SiteError> {
    match cancellation.reason() {
        Some(why) => Err(SiteError::Stopped { op, done, of, why }),
        None => Ok(()),
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
