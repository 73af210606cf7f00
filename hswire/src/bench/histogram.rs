//! A latency histogram of fixed size: log-linear buckets over nanoseconds.
//!
//! Values below 128 ns have a bucket each; above, every power of two is split
//! into 64 equal buckets, so a bucket is at most 1/64 (about 1.6%) of the
//! values it holds wide, from 128 ns up to `u64::MAX` ns. The buckets are
//! allocated once (30 KiB), whatever the number of samples; the largest value
//! is kept exactly.

use std::time::Duration;

/// Linear buckets per power of two, as a power of two.
const SUB_BITS: u32 = 6;
/// Linear buckets per power of two.
const SUB: u64 = 1 << SUB_BITS;
/// Values below this have a bucket each.
const LINEAR: u64 = 2 * SUB;
/// Buckets in all: the linear ones, then 64 for each of the 57 powers of two above.
const BUCKETS: usize = (LINEAR + (u64::BITS as u64 - SUB_BITS as u64 - 1) * SUB) as usize;

/// Counts of latencies in log-linear buckets.
#[derive(Clone, Debug)]
pub struct Histogram {
    counts: Box<[u64]>,
    total: u64,
    max: u64,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram::new()
    }
}

impl Histogram {
    /// An empty histogram.
    pub fn new() -> Histogram {
        Histogram {
            counts: vec![0; BUCKETS].into_boxed_slice(),
            total: 0,
            max: 0,
        }
    }

    /// Adds one sample.
    pub fn record(&mut self, latency: Duration) {
        let nanos = u64::try_from(latency.as_nanos()).unwrap_or(u64::MAX);
        if let Some(count) = self.counts.get_mut(bucket_of(nanos)) {
            *count = count.saturating_add(1);
        }
        self.total = self.total.saturating_add(1);
        self.max = self.max.max(nanos);
    }

    /// Adds every sample of `other`.
    pub fn merge(&mut self, other: &Histogram) {
        for (count, more) in self.counts.iter_mut().zip(other.counts.iter()) {
            *count = count.saturating_add(*more);
        }
        self.total = self.total.saturating_add(other.total);
        self.max = self.max.max(other.max);
    }

    /// How many samples it holds.
    pub fn samples(&self) -> u64 {
        self.total
    }

    /// The largest sample, exactly.
    pub fn max(&self) -> Duration {
        Duration::from_nanos(self.max)
    }

    /// The `percent` percentile by nearest rank: the top of the bucket holding
    /// the sample of rank ⌈percent/100 × n⌉, never more than the largest sample.
    /// Zero when empty. Percentiles of one histogram never decrease with `percent`.
    pub fn percentile(&self, percent: f64) -> Duration {
        if self.total == 0 {
            return Duration::ZERO;
        }
        let share = (percent.clamp(0.0, 100.0) / 100.0) * self.total as f64;
        // As a float, `share` is at most `total`; the cast saturates, and rank 0 means the first.
        let rank = (share.ceil() as u64).clamp(1, self.total);
        let mut seen = 0u64;
        for (bucket, count) in self.counts.iter().enumerate() {
            seen = seen.saturating_add(*count);
            if seen >= rank {
                return Duration::from_nanos(top_of(bucket).min(self.max));
            }
        }
        Duration::from_nanos(self.max)
    }
}

/// The bucket of `nanos`.
fn bucket_of(nanos: u64) -> usize {
    if nanos < LINEAR {
        return nanos as usize;
    }
    // `nanos` has at least SUB_BITS + 2 bits: keep its top SUB_BITS + 1.
    let shift = u64::BITS - nanos.leading_zeros() - (SUB_BITS + 1);
    let mantissa = (nanos >> shift) - SUB;
    (LINEAR + u64::from(shift - 1) * SUB + mantissa) as usize
}

/// The largest value of `bucket`.
fn top_of(bucket: usize) -> u64 {
    let bucket = bucket as u64;
    if bucket < LINEAR {
        return bucket;
    }
    let shift = (bucket - LINEAR) / SUB + 1;
    let mantissa = (bucket - LINEAR) % SUB + SUB;
    // The top bucket's top is u64::MAX; (mantissa + 1) << shift would overflow there.
    ((mantissa << shift) - 1).saturating_add(1 << shift)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::{bucket_of, top_of, Histogram, BUCKETS};

    #[test]
    fn every_value_falls_in_a_bucket_whose_top_is_within_a_sixty_fourth_above_it() {
        let mut value = 1u64;
        while value < u64::MAX / 3 {
            for probe in [value, value + 1, value * 3 / 2, value * 2 - 1] {
                let bucket = bucket_of(probe);
                assert!(bucket < BUCKETS, "{probe} -> {bucket}");
                let top = top_of(bucket);
                assert!(top >= probe, "{probe}: top {top}");
                assert!((top - probe) as f64 <= probe as f64 / 64.0, "{probe}: top {top}");
            }
            value *= 2;
        }
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
        assert_eq!(top_of(BUCKETS - 1), u64::MAX);
    }

    #[test]
    fn percentiles_are_ordered_and_close_to_the_samples() {
        let mut histogram = Histogram::new();
        for micros in 1..=1000u64 {
            histogram.record(Duration::from_micros(micros));
        }
        let p50 = histogram.percentile(50.0);
        let p90 = histogram.percentile(90.0);
        let p99 = histogram.percentile(99.0);
        let max = histogram.max();
        assert!(
            p50 <= p90 && p90 <= p99 && p99 <= max,
            "{p50:?} {p90:?} {p99:?} {max:?}"
        );
        for (percentile, exact) in [(p50, 500.0), (p90, 900.0), (p99, 990.0)] {
            let micros = percentile.as_secs_f64() * 1e6;
            assert!(micros >= exact && micros <= exact * 1.02, "{micros} vs {exact}");
        }
        assert_eq!(max, Duration::from_micros(1000));
        assert_eq!(histogram.samples(), 1000);
    }

    #[test]
    fn a_merged_histogram_holds_the_samples_of_both() {
        let (mut one, mut two) = (Histogram::new(), Histogram::new());
        one.record(Duration::from_millis(1));
        two.record(Duration::from_millis(3));
        two.record(Duration::from_millis(2));
        one.merge(&two);
        assert_eq!(one.samples(), 3);
        assert_eq!(one.max(), Duration::from_millis(3));
        let p50 = one.percentile(50.0).as_secs_f64() * 1e3;
        assert!((2.0..=2.04).contains(&p50), "{p50}");
    }

    #[test]
    fn an_empty_histogram_reports_zero() {
        let histogram = Histogram::new();
        assert_eq!(histogram.percentile(99.0), Duration::ZERO);
        assert_eq!(histogram.max(), Duration::ZERO);
    }

    #[test]
    fn a_latency_beyond_u64_nanoseconds_is_kept_in_the_top_bucket() {
        let mut histogram = Histogram::new();
        histogram.record(Duration::MAX);
        assert_eq!(histogram.samples(), 1);
        assert_eq!(histogram.percentile(100.0), Duration::from_nanos(u64::MAX));
    }
}
