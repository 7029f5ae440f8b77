//! [`LatencyHistogram`]: a fixed-size, lock-free histogram of durations, and [`Latency`],
//! the percentiles read from it.
//!
//! Log-linear buckets in nanoseconds: each power of two is split into [`SUB_BUCKETS`]
//! equal buckets (exact below [`SUB_BUCKETS`] ns), up to 2^48 ns (about 78 hours);
//! longer durations are counted in the last bucket. Recording is one index
//! computation and one relaxed atomic add: O(1), no lock, no allocation, `no_std`.
//!
//! Error bound: a bucket `[lower, lower + width)` has `width <= lower / SUB_BUCKETS`, and a
//! percentile is reported as the middle of the bucket holding the sample of that rank, so
//! it is within `width / 2 <= value / 16` (6.25 %) of that sample (below 2^48 ns).

use crate::sync::atomic::{AtomicUsize, Ordering};
use alloc::vec::Vec;
use core::time::Duration;

/// log2 of [`SUB_BUCKETS`].
const SUB_BITS: u32 = 3;
/// Buckets per power of two.
const SUB_BUCKETS: usize = 1 << SUB_BITS;
/// The highest power of two with buckets of its own (the last bucket ends at 2^48 ns,
/// about 78 hours).
const TOP_EXPONENT: u32 = 47;
/// Every bucket: the exact ones below [`SUB_BUCKETS`], then [`SUB_BUCKETS`] per power of
/// two from 2^[`SUB_BITS`] to 2^[`TOP_EXPONENT`].
const BUCKETS: usize = SUB_BUCKETS + (TOP_EXPONENT - SUB_BITS + 1) as usize * SUB_BUCKETS;

/// A histogram of durations with a bounded relative error (see the module's docs).
pub(crate) struct LatencyHistogram {
    buckets: [AtomicUsize; BUCKETS],
}

impl LatencyHistogram {
    pub(crate) fn new() -> Self {
        Self { buckets: [const { AtomicUsize::new(0) }; BUCKETS] }
    }

    /// Counts one duration of `nanos` nanoseconds. (Counts wrap on overflow, as the
    /// dispatcher's counters do.)
    pub(crate) fn record(&self, nanos: u64) {
        self.buckets[bucket_of(nanos)].fetch_add(1, Ordering::Relaxed);
    }

    /// The samples' count and their 50th, 95th and 99th percentiles; `None` before the
    /// first sample. (Read bucket by bucket: a snapshot taken while samples are recorded
    /// may include some of them and not others.)
    pub(crate) fn latency(&self) -> Option<Latency> {
        let counts: Vec<usize> = self.buckets.iter().map(|b| b.load(Ordering::Relaxed)).collect();
        let count = counts.iter().fold(0_u64, |sum, &n| sum.saturating_add(n as u64));
        if count == 0 {
            return None;
        }
        let at = |per_mille| Duration::from_nanos(percentile(&counts, count, per_mille));
        Some(Latency { count, p50: at(500), p95: at(950), p99: at(990) })
    }
}

/// The bucket of a duration of `nanos` nanoseconds.
fn bucket_of(nanos: u64) -> usize {
    if nanos < SUB_BUCKETS as u64 {
        return nanos as usize;
    }
    let exponent = u64::BITS - 1 - nanos.leading_zeros();
    if exponent > TOP_EXPONENT {
        return BUCKETS - 1;
    }
    let shift = exponent - SUB_BITS;
    let sub = (nanos >> shift) as usize & (SUB_BUCKETS - 1);
    SUB_BUCKETS + (shift as usize) * SUB_BUCKETS + sub
}

/// The lower bound and width of bucket `index`, in nanoseconds.
fn bounds(index: usize) -> (u64, u64) {
    if index < SUB_BUCKETS {
        return (index as u64, 1);
    }
    let shift = ((index - SUB_BUCKETS) / SUB_BUCKETS) as u32;
    let sub = ((index - SUB_BUCKETS) % SUB_BUCKETS) as u64;
    ((SUB_BUCKETS as u64 + sub) << shift, 1 << shift)
}

/// The value reported for the `per_mille`-th per-mille of `count` samples in `counts`
/// (nearest rank): the middle of the bucket holding the sample of that rank.
fn percentile(counts: &[usize], count: u64, per_mille: u64) -> u64 {
    // The rank, rounded up, at least 1: `ceil(count * per_mille / 1000)`.
    let rank = (count.saturating_mul(per_mille).div_ceil(1000)).max(1);
    let mut seen = 0_u64;
    for (index, &n) in counts.iter().enumerate() {
        seen = seen.saturating_add(n as u64);
        if seen >= rank {
            let (lower, width) = bounds(index);
            return lower + width / 2;
        }
    }
    // Unreachable when `count` is the sum of `counts`: the last bucket's middle.
    let (lower, width) = bounds(BUCKETS - 1);
    lower + width / 2
}

/// Percentiles of one kind of duration of a job type, from a histogram whose reported
/// values are within 6.25 % of the sample of their rank (nanosecond resolution, exact
/// below 8 ns; durations above about 78 hours are all reported as about 76 hours).
///
/// ```
/// use orchestrator_core::Latency;
/// let latency = Latency::default();
/// assert_eq!(latency.count, 0);
/// assert!(latency.p50 <= latency.p95 && latency.p95 <= latency.p99);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub struct Latency {
    /// Samples recorded (wraps on overflow).
    pub count: u64,
    /// The median.
    pub p50: Duration,
    /// The 95th percentile.
    pub p95: Duration,
    /// The 99th percentile.
    pub p99: Duration,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_contiguous_and_cover_every_value() {
        let mut expected_lower = 0;
        for index in 0..BUCKETS {
            let (lower, width) = bounds(index);
            assert_eq!(lower, expected_lower, "bucket {index}");
            assert_eq!(bucket_of(lower), index);
            assert_eq!(bucket_of(lower + width - 1), index);
            // The documented bound: a bucket is at most 1/8 of its lower bound wide.
            assert!(index < SUB_BUCKETS || width * SUB_BUCKETS as u64 <= lower, "bucket {index}");
            expected_lower = lower + width;
        }
        assert_eq!(expected_lower, 1 << (TOP_EXPONENT + 1));
        assert_eq!(bucket_of(u64::MAX), BUCKETS - 1);
    }

    #[test]
    fn every_value_is_reported_within_its_bound() {
        let mut value = 1_u64;
        while value < 1 << (TOP_EXPONENT + 1) {
            let (lower, width) = bounds(bucket_of(value));
            let reported = lower + width / 2;
            assert!(reported.abs_diff(value) * 16 <= value, "{value} reported as {reported}");
            value = value * 9 / 8 + 1;
        }
    }

    /// Percentiles of a known distribution (1 µs to 10 ms, uniform): each within 6.25 %
    /// of the exact nearest-rank value.
    #[test]
    fn percentiles_of_a_uniform_distribution() {
        let histogram = LatencyHistogram::new();
        let samples: Vec<u64> = (1..=10_000).map(|i| i * 1_000).collect();
        // Recorded out of order: a histogram does not care.
        for &s in samples.iter().rev() {
            histogram.record(s);
        }
        let latency = histogram.latency().unwrap_or_default();
        assert_eq!(latency.count, 10_000);
        for (reported, exact) in [(latency.p50, 5_000_000_u64), (latency.p95, 9_500_000), (latency.p99, 9_900_000)] {
            let reported = reported.as_nanos() as u64;
            assert!(reported.abs_diff(exact) * 16 <= exact, "reported {reported} ns, exact {exact} ns");
        }
    }

    /// A skewed distribution: 98 fast samples and 2 slow ones. p50 and p95 see the fast
    /// ones, p99 the slow ones.
    #[test]
    fn percentiles_of_a_long_tail() {
        let histogram = LatencyHistogram::new();
        for _ in 0..98 {
            histogram.record(2_000);
        }
        histogram.record(3_000_000_000);
        histogram.record(3_000_000_000);
        let latency = histogram.latency().unwrap_or_default();
        assert_eq!(latency.count, 100);
        assert!(latency.p50.as_nanos().abs_diff(2_000) * 16 <= 2_000);
        assert!(latency.p95.as_nanos().abs_diff(2_000) * 16 <= 2_000);
        assert!(latency.p99.as_nanos().abs_diff(3_000_000_000) * 16 <= 3_000_000_000);
    }

    #[test]
    fn small_values_are_exact_and_huge_ones_saturate() {
        let histogram = LatencyHistogram::new();
        assert_eq!(histogram.latency(), None);
        histogram.record(5);
        assert_eq!(histogram.latency().map(|l| l.p99), Some(Duration::from_nanos(5)));
        let huge = LatencyHistogram::new();
        huge.record(u64::MAX);
        let p50 = huge.latency().map_or(Duration::ZERO, |l| l.p50);
        assert!(p50 > Duration::from_secs(75 * 3600) && p50 < Duration::from_secs(77 * 3600), "{p50:?}");
    }
}
