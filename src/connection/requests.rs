//! The request grids of the standard ops, built as the reference's
//! `WebSocketClient` builds them: the same columns in the same order, the
//! same meta tags in the same order, and the same values (a `limit` or a
//! `level` as a Number, a missing optional value left out, `navId` null when
//! there is none, the `close` and `refresh` markers).
//!
//! Each function returns a [`Request`]: the op it goes under and its grid as
//! Haystack 4 JSON whose key order is the reference's. Its grid meta carries
//! no `ver`, as the reference's does not; readers take the format version as
//! `3.0` then. [`Client`](super::Client) and
//! [`ReconnectingClient`](super::ReconnectingClient) send these; anyone
//! batching requests can send them too.
//!
//! ```
//! use haystack_wire::connection::requests;
//! use haystack_wire::Op;
//!
//! let request = requests::read("site", Some(10));
//! assert_eq!(request.op(), Op::Read);
//! assert_eq!(
//!     String::from_utf8(request.encode()).unwrap(),
//!     r#"{"_kind":"grid","meta":{},"cols":[{"name":"filter"},{"name":"limit"}],"rows":[{"filter":"site","limit":10.0}]}"#
//! );
//! ```

use std::borrow::Borrow;
use std::time::Duration;

use libhaystack::val::{Dict, Grid, HaystackDict, Number, Ref, Value};
use serde_json::{Map, Value as Json};

use crate::hayson::{self, HaysonError};
use crate::protocol::Op;

/// One request: the op it goes under and its grid as Haystack 4 JSON.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    op: Op,
    grid: Json,
}

impl Request {
    /// A request under `op` carrying `grid` as it is: the grid of an op this
    /// module has no function for.
    pub fn new(op: Op, grid: &Grid) -> Request {
        Request {
            op,
            grid: grid_without_ver(grid),
        }
    }

    /// The op the request goes under.
    pub fn op(&self) -> Op {
        self.op
    }

    /// The grid as a JSON value, keys in the reference's order.
    pub fn json(&self) -> &Json {
        &self.grid
    }

    /// The grid as a JSON value, keys in the reference's order.
    pub fn into_json(self) -> Json {
        self.grid
    }

    /// The grid as compact Haystack 4 JSON bytes: the request's payload.
    pub fn encode(&self) -> Vec<u8> {
        self.grid.to_string().into_bytes()
    }

    /// The grid as a libhaystack grid (whose dicts sort their keys).
    pub fn to_grid(&self) -> Result<Grid, HaysonError> {
        hayson::grid_from_value(&self.grid)
    }
}

/// A grid under construction, keys kept in the order they are added.
struct Builder {
    meta: Map<String, Json>,
    cols: Vec<Json>,
    rows: Vec<Json>,
}

impl Builder {
    fn new() -> Builder {
        Builder {
            meta: Map::new(),
            cols: Vec::new(),
            rows: Vec::new(),
        }
    }

    fn meta(self, name: &str, value: &Value) -> Builder {
        self.meta_json(name, hayson::to_value(value))
    }

    fn meta_json(mut self, name: &str, value: Json) -> Builder {
        self.meta.insert(name.to_owned(), value);
        self
    }

    fn col(mut self, name: &str) -> Builder {
        let mut col = Map::new();
        col.insert("name".to_owned(), Json::String(name.to_owned()));
        self.cols.push(Json::Object(col));
        self
    }

    fn row<K, V>(mut self, cells: impl IntoIterator<Item = (K, V)>) -> Builder
    where
        K: AsRef<str>,
        V: Borrow<Value>,
    {
        let row = cells
            .into_iter()
            .map(|(name, value)| (name.as_ref().to_owned(), hayson::to_value(value.borrow())))
            .collect();
        self.rows.push(Json::Object(row));
        self
    }

    fn id_rows(self, ids: &[Ref]) -> Builder {
        ids.iter()
            .fold(self, |builder, id| builder.row([("id", Value::Ref(id.clone()))]))
    }

    fn build(self, op: Op) -> Request {
        let mut grid = Map::new();
        grid.insert("_kind".to_owned(), Json::String("grid".to_owned()));
        grid.insert("meta".to_owned(), Json::Object(self.meta));
        grid.insert("cols".to_owned(), Json::Array(self.cols));
        grid.insert("rows".to_owned(), Json::Array(self.rows));
        Request {
            op,
            grid: Json::Object(grid),
        }
    }
}

/// `grid` as [`hayson::grid_to_value`] writes it, without the `ver` that
/// comes from [`Grid::ver`] (a `ver` tag of the grid's own meta stays).
fn grid_without_ver(grid: &Grid) -> Json {
    let mut json = hayson::grid_to_value(grid);
    let own_ver = grid.meta.as_ref().is_some_and(|meta| meta.has("ver"));
    if !own_ver {
        if let Some(Json::Object(meta)) = json.get_mut("meta") {
            meta.shift_remove("ver");
        }
    }
    json
}

fn str(text: &str) -> Value {
    Value::make_str(text)
}

/// A Number of seconds with the unit `s`, in Haystack 4 JSON.
fn seconds(duration: Duration) -> Json {
    let mut number = Map::new();
    number.insert("_kind".to_owned(), Json::String("number".to_owned()));
    number.insert(
        "val".to_owned(),
        serde_json::Number::from_f64(duration.as_secs_f64()).map_or(Json::Null, Json::Number),
    );
    number.insert("unit".to_owned(), Json::String("s".to_owned()));
    Json::Object(number)
}

fn number(value: f64) -> Value {
    Value::Number(Number::make(value))
}

/// The `about` request: an empty grid.
pub fn about() -> Request {
    Builder::new().build(Op::About)
}

/// The `ops` request: an empty grid.
pub fn ops() -> Request {
    Builder::new().build(Op::Ops)
}

/// The `formats` request: an empty grid.
pub fn formats() -> Request {
    Builder::new().build(Op::Formats)
}

/// A `read` by filter: columns `filter` and `limit`, one row; `limit` is a
/// Number when given and absent from the row when not.
pub fn read(filter: &str, limit: Option<u64>) -> Request {
    let mut row = vec![("filter", str(filter))];
    if let Some(limit) = limit {
        // A Number is a float; limits past 2^53 round, as in the reference.
        row.push(("limit", number(limit as f64)));
    }
    Builder::new().col("filter").col("limit").row(row).build(Op::Read)
}

/// A `read` by ids: column `id`, one row per id.
pub fn read_by_ids(ids: &[Ref]) -> Request {
    Builder::new().col("id").id_rows(ids).build(Op::Read)
}

/// A `nav` request: column `navId`, one row, null when `nav_id` is `None`
/// (the root).
pub fn nav(nav_id: Option<&str>) -> Request {
    let nav_id = nav_id.map_or(Value::Null, str);
    Builder::new()
        .col("navId")
        .row([("navId", nav_id)])
        .build(Op::Nav)
}

/// A `hisRead` of one point: columns `id` and `range`, one row.
pub fn his_read(id: &Ref, range: &str) -> Request {
    Builder::new()
        .col("id")
        .col("range")
        .row([("id", Value::Ref(id.clone())), ("range", str(range))])
        .build(Op::HisRead)
}

/// A `hisRead` of several points: `range` in the grid meta, column `id`, one
/// row per id.
pub fn his_read_batch(ids: &[Ref], range: &str) -> Request {
    Builder::new()
        .meta("range", &str(range))
        .col("id")
        .id_rows(ids)
        .build(Op::HisRead)
}

/// A `hisWrite` to one point: `id` in the grid meta, columns `ts` and `val`,
/// one row per item with the item's tags.
pub fn his_write(id: &Ref, items: &[Dict]) -> Request {
    let builder = Builder::new()
        .meta("id", &Value::Ref(id.clone()))
        .col("ts")
        .col("val");
    items
        .iter()
        .fold(builder, |builder, item| builder.row(item))
        .build(Op::HisWrite)
}

/// A `hisWrite` of several points: the caller's grid as it is.
pub fn his_write_batch(grid: &Grid) -> Request {
    Request::new(Op::HisWrite, grid)
}

/// A `pointWrite` that reads the priority array: column `id`, one row.
pub fn point_write_array(id: &Ref) -> Request {
    Builder::new()
        .col("id")
        .row([("id", Value::Ref(id.clone()))])
        .build(Op::PointWrite)
}

/// A `pointWrite` that writes `val` at `level`: columns `id`, `level`,
/// `val`, `who`, `duration`, one row; `level` is a Number, `val` is written
/// as given (null releases the level), `who` is always there (the reference
/// sends an empty one by default), `duration` only when given.
pub fn point_write(id: &Ref, level: u8, val: &Value, who: &str, duration: Option<&Number>) -> Request {
    let mut row = vec![
        ("id", Value::Ref(id.clone())),
        ("level", number(f64::from(level))),
        ("val", val.clone()),
        ("who", str(who)),
    ];
    if let Some(duration) = duration {
        row.push(("duration", Value::Number(*duration)));
    }
    ["id", "level", "val", "who", "duration"]
        .into_iter()
        .fold(Builder::new(), Builder::col)
        .row(row)
        .build(Op::PointWrite)
}

/// A `watchSub`: `watchDis`, then `lease` and `filter` when given, in the
/// grid meta; column `id`, one row per id. The lease goes as a Number of
/// seconds with the unit `s`, as the reference's callers write it
/// (libhaystack would spell that unit `sec`).
pub fn watch_sub(ids: &[Ref], watch_dis: &str, lease: Option<Duration>, filter: Option<&str>) -> Request {
    let mut builder = Builder::new().meta("watchDis", &str(watch_dis));
    if let Some(lease) = lease {
        builder = builder.meta_json("lease", seconds(lease));
    }
    if let Some(filter) = filter {
        builder = builder.meta("filter", &str(filter));
    }
    builder.col("id").id_rows(ids).build(Op::WatchSub)
}

/// A `watchUnsub` of some ids: `watchId` in the grid meta, column `id`, one
/// row per id.
pub fn watch_unsub(watch_id: &str, ids: &[Ref]) -> Request {
    Builder::new()
        .meta("watchId", &str(watch_id))
        .col("id")
        .id_rows(ids)
        .build(Op::WatchUnsub)
}

/// A `watchUnsub` that closes the watch: `watchId` and the `close` marker in
/// the grid meta, column `id`, no rows.
pub fn watch_close(watch_id: &str) -> Request {
    Builder::new()
        .meta("watchId", &str(watch_id))
        .meta("close", &Value::make_marker())
        .col("id")
        .build(Op::WatchUnsub)
}

/// A `watchPoll`: `watchId`, and the `refresh` marker when asked, in the
/// grid meta; no columns, no rows.
pub fn watch_poll(watch_id: &str, refresh: bool) -> Request {
    let mut builder = Builder::new().meta("watchId", &str(watch_id));
    if refresh {
        builder = builder.meta("refresh", &Value::make_marker());
    }
    builder.build(Op::WatchPoll)
}

/// An `invokeAction`: `id` and `action` in the grid meta; each argument a
/// column, in the order given, and one row of them; no columns and no rows
/// when there are no arguments. A [`Dict`] gives its arguments in key order;
/// a name given twice is one column, with the last value.
pub fn invoke_action<K, V>(id: &Ref, action: &str, args: impl IntoIterator<Item = (K, V)>) -> Request
where
    K: AsRef<str>,
    V: Borrow<Value>,
{
    // A name given twice is one column, with the last value given.
    let mut row = Map::new();
    for (name, value) in args {
        row.insert(name.as_ref().to_owned(), hayson::to_value(value.borrow()));
    }
    let mut builder = Builder::new()
        .meta("id", &Value::Ref(id.clone()))
        .meta("action", &str(action));
    if !row.is_empty() {
        for name in row.keys() {
            builder = builder.col(name);
        }
        builder.rows.push(Json::Object(row));
    }
    builder.build(Op::InvokeAction)
}
