//! What can be wrong with a request to the site, in words that name the value at fault.
//!
//! Every refusal is a [`SiteError`]; its text becomes the `dis` of the error grid the
//! client receives. A value the client sent is quoted in it only as far as
//! [`excerpt`] keeps, so an error's size does not grow with what the client sends.

use libhaystack::val::Value;

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
    /// The filter is longer or nested deeper than the site accepts; it was not parsed.
    #[error("filter refused: {0}")]
    FilterRefused(#[from] haystack_wire::filter::FilterError),
    /// The request was stopped before its answer was made: its connection closed, or it
    /// ran past its deadline.
    #[error("{op} stopped after {done} of {of} records: {why}")]
    Stopped {
        op: &'static str,
        done: usize,
        of: usize,
        why: haystack_wire::connection::Cancelled,
    },
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
    /// hisRead of a point without a simulated history: a site file's point whose `kind`
    /// is not Number.
    #[error("hisRead: @{id} is a {kind} point; only Number points have a simulated history")]
    NoHistory { id: String, kind: String },
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
    #[error("this connection has {open} open watches: at most {max} per connection")]
    TooManyConnectionWatches { open: usize, max: usize },
    /// Opening one more watch would pass the limit of one user, or one address.
    #[error("{owner} has {open} open watches: at most {max} each")]
    TooManyOwnerWatches { owner: String, open: usize, max: usize },
    /// A watch would hold more records than the limit.
    #[error("the watch would hold {count} records; at most {max}")]
    TooManyWatchIds { count: usize, max: usize },
    /// The watches of one user, or one address, would hold more records than the limit.
    #[error("the watches of {owner} would hold {count} records; at most {max} each")]
    TooManyOwnerRecords { owner: String, count: usize, max: usize },
    /// All watches together would hold more records than the limit.
    #[error("the site's watches hold as many records as it keeps watched: at most {max}")]
    TooManyWatchedRecords { max: usize },
    /// A `watchDis` longer than the site keeps.
    #[error("watchSub: a watchDis of {len} bytes; at most {max}")]
    WatchDisTooLong { len: usize, max: usize },
    /// The server's memory budget cannot take the watch.
    #[error("watchSub refused: {reason}")]
    OverBudget { reason: String },
    /// The system's random source failed, so no watch id could be made.
    #[error("no watch id could be made: the random source failed ({reason})")]
    NoRandomness { reason: String },
}

/// At most the first 64 characters of `text`, with `…` when cut: what an error quotes of
/// a value the client sent.
pub fn excerpt(text: &str) -> String {
    const MAX: usize = 64;
    match text.char_indices().nth(MAX) {
        None => text.to_string(),
        Some((cut, _)) => format!("{}…", &text[..cut]),
    }
}

/// A [`SiteError::WrongKind`]: `tag` of op `op` should have been `expected`.
pub fn wrong_kind(
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
pub fn describe(value: Option<&Value>) -> String {
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
        Value::Str(text) => format!("the string {:?}", excerpt(text.value())),
        Value::Uri(_) => "a uri".to_string(),
        Value::Ref(id) => format!("the ref @{}", excerpt(id.value())),
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
