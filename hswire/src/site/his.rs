//! hisRead ranges and the 5-minute series served for them.

use libhaystack::val::{Date, DateTime, Dict, Value};

use super::records::{number, PointModel, SAMPLES_PER_DAY};
use super::SiteError;

/// The longest range served, in days (both ends counted). A leap year fits; anything longer
/// is refused so that one request cannot make the server build an unbounded series.
pub const MAX_RANGE_DAYS: i64 = 366;

/// Every sample whose absolute index (5-minute steps since 1970-01-01T00:00Z) is a multiple
/// of this is NaN, so that NaN numbers show up in every long enough series.
pub const NAN_EVERY: i64 = 997;

/// A whole-day range, both dates included.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DayRange {
    pub start: Date,
    pub end: Date,
}

impl DayRange {
    /// Days in the range, both ends counted.
    pub fn days(&self) -> i64 {
        self.end.signed_duration_since(*self.start).num_days() + 1
    }
}

/// Parses a hisRead `range`: `today`, `yesterday`, `YYYY-MM-DD`, or `YYYY-MM-DD,YYYY-MM-DD`
/// (both dates inclusive), relative to `today` for the first two.
pub fn parse_range(text: &str, today: Date) -> Result<DayRange, SiteError> {
    let bad = |reason: &'static str| SiteError::BadRange {
        range: super::error::excerpt(text),
        reason,
    };
    let trimmed = text.trim();
    let range = match trimmed {
        "today" => DayRange {
            start: today,
            end: today,
        },
        "yesterday" => {
            let day = Date::from(today.pred_opt().ok_or_else(|| bad("no day before today"))?);
            DayRange { start: day, end: day }
        }
        _ => match trimmed.split_once(',') {
            None => {
                let day = parse_date(trimmed).map_err(bad)?;
                DayRange { start: day, end: day }
            }
            Some((start, end)) => DayRange {
                start: parse_date(start.trim()).map_err(bad)?,
                end: parse_date(end.trim()).map_err(bad)?,
            },
        },
    };
    if range.end < range.start {
        return Err(SiteError::ReversedRange {
            range: super::error::excerpt(text),
        });
    }
    let days = range.days();
    if days > MAX_RANGE_DAYS {
        return Err(SiteError::RangeTooLong {
            range: super::error::excerpt(text),
            days,
            max: MAX_RANGE_DAYS,
        });
    }
    Ok(range)
}

/// Parses exactly `YYYY-MM-DD`. Stricter than chrono's own parser on purpose: a range is
/// either one of the documented forms or an error the client can read.
fn parse_date(text: &str) -> Result<Date, &'static str> {
    const EXPECTED: &str = "expected today, yesterday, YYYY-MM-DD or YYYY-MM-DD,YYYY-MM-DD";
    let bytes = text.as_bytes();
    let shaped = bytes.len() == 10
        && bytes[4] == b'-'
        && bytes[7] == b'-'
        && bytes
            .iter()
            .enumerate()
            .all(|(i, b)| i == 4 || i == 7 || b.is_ascii_digit());
    if !shaped {
        return Err(EXPECTED);
    }
    let field = |from: usize, to: usize| text[from..to].parse::<u32>().map_err(|_| EXPECTED);
    let year = i32::try_from(field(0, 4)?).map_err(|_| EXPECTED)?;
    Date::from_ymd(year, field(5, 7)?, field(8, 10)?).map_err(|_| "no such date")
}

/// Days from 1970-01-01 to `date`.
pub fn day_number(date: Date) -> i64 {
    // The epoch is always a valid date; the fallback keeps this total without a panic path.
    match Date::from_ymd(1970, 1, 1) {
        Ok(epoch) => date.signed_duration_since(*epoch).num_days(),
        Err(_) => 0,
    }
}

/// `date` at `hour:minute` UTC.
pub fn timestamp(date: Date, hour: u32, minute: u32) -> Option<DateTime> {
    Some(DateTime::from(date.and_hms_opt(hour, minute, 0)?.and_utc()))
}

/// The start of the day after `date`, UTC: the exclusive end of a range ending on `date`.
pub fn end_of(date: Date) -> Option<DateTime> {
    timestamp(Date::from(date.succ_opt()?), 0, 0)
}

/// The rows (`ts`, `val`) of `model` over `range`, one every 5 minutes.
pub fn series(model: &PointModel, range: DayRange) -> Result<Vec<Dict>, SiteError> {
    // The range was checked against MAX_RANGE_DAYS, which bounds this allocation.
    let days = usize::try_from(range.days()).unwrap_or(0);
    let mut rows = Vec::with_capacity(days * SAMPLES_PER_DAY as usize);
    let overflow = || SiteError::BadRange {
        range: format!("{},{}", range.start, range.end),
        reason: "outside the supported calendar",
    };
    let mut day = range.start;
    loop {
        let first_sample = day_number(day) * SAMPLES_PER_DAY;
        for step in 0..SAMPLES_PER_DAY {
            let minutes = (step * 5) as u32;
            let ts = timestamp(day, minutes / 60, minutes % 60).ok_or_else(overflow)?;
            let sample = first_sample + step;
            let val = if sample.rem_euclid(NAN_EVERY) == 0 {
                f64::NAN
            } else {
                model.value_at(sample)
            };
            let mut row = Dict::new();
            row.insert("ts".to_string(), Value::from(ts));
            row.insert("val".to_string(), number(val, &model.unit));
            rows.push(row);
        }
        if day >= range.end {
            break;
        }
        day = Date::from(day.succ_opt().ok_or_else(overflow)?);
    }
    Ok(rows)
}
