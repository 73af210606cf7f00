//! What `hswire bench` prints: one JSON object, or a table.

use std::fmt::Write;
use std::time::Duration;

use haystack_wire::connection::Session;
use haystack_wire::{Compression, Op};
use serde_json::{json, Value};

use super::histogram::Histogram;

/// The percentiles reported, with their JSON names.
pub const PERCENTILES: [(&str, f64); 3] = [("p50", 50.0), ("p90", 90.0), ("p99", 99.0)];

/// The outcome of a run.
pub struct Report {
    /// The server's URL.
    pub url: String,
    /// What the (first) connection agreed in the handshake.
    pub session: Session,
    /// The algorithm offered.
    pub offered_compression: Option<Compression>,
    /// Whether chunking was offered.
    pub offered_chunked: bool,
    /// Connections run.
    pub connections: u32,
    /// The ops of the loop, in order.
    pub ops: Vec<Op>,
    /// The warm-up asked for.
    pub warmup: Duration,
    /// The time measured: the duration asked for, or less when interrupted.
    pub measured: Duration,
    /// Whether Ctrl-C ended the run early.
    pub interrupted: bool,
    /// Requests answered after the warm-up.
    pub messages: u64,
    /// Payload bytes of those answers, as decoded.
    pub bytes: u64,
    /// Requests that failed, warm-up included.
    pub errors: u64,
    /// The first few failures, in words.
    pub first_errors: Vec<String>,
    /// Latencies of the counted requests.
    pub histogram: Histogram,
}

/// The mode a session speaks, named as the reference's benchmark names its
/// modes: `binary`, `binary+zlib`, `binary+zlib+chunked`, ...
pub fn mode(session: &Session) -> String {
    let mut mode = String::from("binary");
    if let Some(algorithm) = session.compression {
        mode.push('+');
        mode.push_str(algorithm.name());
    }
    if session.chunked {
        mode.push_str("+chunked");
    }
    mode
}

/// An offer in words: `zlib, chunked`, or `nothing`.
pub fn offered(compression: Option<Compression>, chunked: bool) -> String {
    let mut offered: Vec<&str> = compression.iter().map(|algorithm| algorithm.name()).collect();
    if chunked {
        offered.push("chunked");
    }
    if offered.is_empty() {
        "nothing".to_owned()
    } else {
        offered.join(", ")
    }
}

/// Milliseconds, rounded to the microsecond.
pub fn millis(duration: Duration) -> f64 {
    (duration.as_secs_f64() * 1e6).round() / 1e3
}

/// `count` per second of `measured` (0 when nothing was measured).
pub fn per_second(count: u64, measured: Duration) -> f64 {
    let seconds = measured.as_secs_f64();
    if seconds > 0.0 {
        count as f64 / seconds
    } else {
        0.0
    }
}

/// The latency percentiles and the maximum, in milliseconds, as a JSON object.
pub fn latency_json(histogram: &Histogram) -> Value {
    let mut latency = serde_json::Map::new();
    for (name, percent) in PERCENTILES {
        latency.insert(name.into(), json!(millis(histogram.percentile(percent))));
    }
    latency.insert("max".into(), json!(millis(histogram.max())));
    Value::Object(latency)
}

/// The latency percentiles and the maximum, in milliseconds, on one line.
pub fn latency_words(histogram: &Histogram) -> String {
    let mut latency = String::new();
    for (name, percent) in PERCENTILES {
        let _ = write!(latency, "{name} {:.2}  ", millis(histogram.percentile(percent)));
    }
    let _ = write!(latency, "max {:.2}", millis(histogram.max()));
    latency
}

/// The agreed mode, the protocol version and the offer, in words.
pub fn mode_words(
    session: &Session,
    offered_compression: Option<Compression>,
    offered_chunked: bool,
) -> String {
    format!(
        "{} (agreed, protocol v{}; offered {})",
        mode(session),
        session.version.number(),
        offered(offered_compression, offered_chunked)
    )
}

/// The time measured, and whether Ctrl-C cut it short, in words.
pub fn measured_words(measured: Duration, interrupted: bool) -> String {
    format!(
        "{:.2} s{}",
        measured.as_secs_f64(),
        if interrupted { " (interrupted)" } else { "" }
    )
}

/// Payload bytes decoded in `measured`, and their rate, in words.
pub fn volume_words(bytes: u64, measured: Duration) -> String {
    let megabytes = bytes as f64 / (1024.0 * 1024.0);
    let seconds = measured.as_secs_f64();
    format!(
        "{megabytes:.1} MiB decoded ({:.1} MiB/s)",
        if seconds > 0.0 { megabytes / seconds } else { 0.0 }
    )
}

impl Report {
    /// Requests answered per second measured (0 when nothing was measured).
    pub fn messages_per_sec(&self) -> f64 {
        per_second(self.messages, self.measured)
    }

    /// The report as one JSON object.
    pub fn json(&self) -> Value {
        json!({
            "url": self.url,
            "mode": mode(&self.session),
            "version": self.session.version.number(),
            "compression": self.session.compression.map(|algorithm| algorithm.name()),
            "chunked": self.session.chunked,
            "connections": self.connections,
            "ops": self.ops.iter().map(|op| op.name()).collect::<Vec<_>>(),
            "warmup_s": self.warmup.as_secs_f64(),
            "duration_s": (self.measured.as_secs_f64() * 1e3).round() / 1e3,
            "interrupted": self.interrupted,
            "messages": self.messages,
            "messages_per_sec": (self.messages_per_sec() * 10.0).round() / 10.0,
            "response_bytes": self.bytes,
            "errors": self.errors,
            "first_errors": self.first_errors,
            "latency_ms": latency_json(&self.histogram),
        })
    }

    /// The report as a table for people.
    pub fn table(&self) -> String {
        let mut table = String::new();
        let mut row = |name: &str, value: String| {
            let _ = writeln!(table, "{name:<14} {value}");
        };
        row("url", self.url.clone());
        row(
            "mode",
            mode_words(&self.session, self.offered_compression, self.offered_chunked),
        );
        row("connections", self.connections.to_string());
        row(
            "loop",
            self.ops.iter().map(|op| op.name()).collect::<Vec<_>>().join(", "),
        );
        row("warm-up", format!("{:.1} s", self.warmup.as_secs_f64()));
        row("measured", measured_words(self.measured, self.interrupted));
        row("messages", self.messages.to_string());
        row("messages/s", format!("{:.1}", self.messages_per_sec()));
        row("responses", volume_words(self.bytes, self.measured));
        row("errors", self.errors.to_string());
        row("latency ms", latency_words(&self.histogram));
        table
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use haystack_wire::connection::Session;
    use haystack_wire::protocol::Version;
    use haystack_wire::{Compression, Op};

    use super::{mode, Histogram, Report};

    fn report() -> Report {
        let mut histogram = Histogram::new();
        for millis in [1, 2, 3, 40] {
            histogram.record(Duration::from_millis(millis));
        }
        Report {
            url: "ws://127.0.0.1:1".into(),
            session: Session {
                version: Version::V2,
                compression: Some(Compression::Zlib),
                chunked: true,
            },
            offered_compression: Some(Compression::Zlib),
            offered_chunked: true,
            connections: 2,
            ops: vec![Op::About, Op::Read],
            warmup: Duration::from_secs(1),
            measured: Duration::from_secs(2),
            interrupted: false,
            messages: 4,
            bytes: 1000,
            errors: 0,
            first_errors: Vec::new(),
            histogram,
        }
    }

    #[test]
    fn a_session_is_named_as_the_reference_names_its_modes() {
        assert_eq!(mode(&Session::V1), "binary");
        assert_eq!(mode(&report().session), "binary+zlib+chunked");
    }

    #[test]
    fn the_json_holds_the_rate_the_errors_and_ordered_percentiles() {
        let json = report().json();
        assert_eq!(json["messages_per_sec"], 2.0);
        assert_eq!(json["errors"], 0);
        assert_eq!(json["mode"], "binary+zlib+chunked");
        let latency = &json["latency_ms"];
        let p50 = latency["p50"].as_f64().unwrap();
        let p90 = latency["p90"].as_f64().unwrap();
        let p99 = latency["p99"].as_f64().unwrap();
        assert!(p50 <= p90 && p90 <= p99, "{latency}");
        assert_eq!(latency["max"], 40.0);
    }

    #[test]
    fn the_table_names_the_agreed_mode_and_the_rate() {
        let table = report().table();
        assert!(
            table.contains("binary+zlib+chunked (agreed, protocol v2; offered zlib, chunked)"),
            "{table}"
        );
        assert!(table.contains("messages/s     2.0"), "{table}");
    }
}
