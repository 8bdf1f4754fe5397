//! Per-command latency histograms, as Redis keeps them for INFO latencystats and LATENCY
//! HISTOGRAM: HdrHistogram's layout for values of 1 ns to 1 s at two significant digits
//! (256 sub-buckets per power of two, 3,072 counts), so the percentiles and buckets read the
//! same as Redis's. Counts are atomics: connections add their pending samples without a lock.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

/// log2 of half the sub-buckets per bucket.
const HALF_MAG: u32 = 7;
const HALF: usize = 1 << HALF_MAG;
/// Values below 256 have a slot each; above, a slot covers `2^bucket` values.
const SUB_MASK: u64 = (2 * HALF as u64) - 1;
/// Buckets to reach `MAX`: 256 << 22 > 10^9.
const BUCKETS: usize = 23;
/// Number of counts.
pub const LEN: usize = (BUCKETS + 1) * HALF;
/// Recorded values are clamped to `MIN..=MAX` nanoseconds, as Redis does.
pub const MIN: u64 = 1;
pub const MAX: u64 = 1_000_000_000;

fn bucket_of(v: u64) -> u32 {
    64 - (v | SUB_MASK).leading_zeros() - (HALF_MAG + 1)
}

/// The count slot of a value (nanoseconds, clamped first to `MIN..=MAX`).
pub fn slot_of(ns: u64) -> usize {
    let v = ns.clamp(MIN, MAX);
    let bucket = bucket_of(v);
    (((bucket as usize) + 1) << HALF_MAG) + (v >> bucket) as usize - HALF
}

/// The smallest value counted in slot `i`.
fn value_at(i: usize) -> u64 {
    match (i >> HALF_MAG).checked_sub(1) {
        Some(bucket) => ((i & (HALF - 1)) + HALF) as u64 * (1 << bucket),
        None => (i & (HALF - 1)) as u64,
    }
}

/// The smallest and the largest value counted with `v` in its slot.
fn equivalent_range(v: u64) -> (u64, u64) {
    let bucket = bucket_of(v);
    let low = (v >> bucket) << bucket;
    (low, low + (1 << bucket) - 1)
}

/// One command's counts.
pub struct Histogram {
    counts: Box<[AtomicU64]>,
}

impl Default for Histogram {
    fn default() -> Self {
        Histogram {
            counts: (0..LEN).map(|_| AtomicU64::new(0)).collect(),
        }
    }
}

impl Histogram {
    /// Adds `n` samples to slot `slot` (see [`slot_of`]).
    pub fn add(&self, slot: usize, n: u64) {
        if let Some(c) = self.counts.get(slot) {
            c.fetch_add(n, Relaxed);
        }
    }

    /// Every count back to zero (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for c in self.counts.iter() {
            c.store(0, Relaxed);
        }
    }

    /// The counts as they are now.
    pub fn snapshot(&self) -> Snapshot {
        let counts: Vec<u64> = self.counts.iter().map(|c| c.load(Relaxed)).collect();
        let total = counts.iter().sum();
        Snapshot { counts, total }
    }
}

/// A histogram's counts at one moment.
pub struct Snapshot {
    counts: Vec<u64>,
    /// Samples recorded (a command's calls).
    pub total: u64,
}

impl Snapshot {
    /// The value (nanoseconds) at `percentile` (0..=100) as HdrHistogram answers it: the
    /// largest value of the slot holding that rank's sample, the smallest for percentile 0.
    pub fn percentile(&self, percentile: f64) -> u64 {
        let rank = ((percentile.min(100.0) / 100.0) * self.total as f64 + 0.5) as u64;
        let rank = rank.max(1);
        let mut seen = 0;
        let mut value = 0;
        for (i, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                value = value_at(i);
                break;
            }
        }
        let (low, high) = equivalent_range(value);
        if percentile == 0.0 {
            low
        } else {
            high
        }
    }

    /// LATENCY HISTOGRAM's `histogram_usec`: at each power of two from 1024 ns, the largest
    /// value of its slot in whole microseconds and how many samples are at or below that
    /// slot, where that number grew. Walked as HdrHistogram's logarithmic iterator walks
    /// (samples past the last power of two inside the range are in no row, as in Redis).
    pub fn log_buckets(&self) -> Vec<(u64, u64)> {
        let mut rows = Vec::new();
        let mut level: u64 = 1024;
        let mut level_low = equivalent_range(level).0;
        // The walk: the slot reached, its value and largest value, samples up to it.
        let (mut next, mut value, mut high, mut seen) = (0usize, 0u64, 0u64, 0u64);
        let mut before = 0;
        while seen < self.total || value_at(next) > level_low {
            while value < level_low {
                let Some(&c) = self.counts.get(next) else {
                    return rows;
                };
                seen += c;
                value = value_at(next);
                high = equivalent_range(value).1;
                next += 1;
            }
            level *= 2;
            level_low = equivalent_range(level).0;
            if seen > before {
                rows.push((high / 1000, seen));
            }
            before = seen;
        }
        rows
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(samples: &[(u64, u64)]) -> Snapshot {
        let h = Histogram::default();
        for &(ns, n) in samples {
            h.add(slot_of(ns), n);
        }
        h.snapshot()
    }

    #[test]
    fn slots_follow_hdr_layout() {
        assert_eq!(slot_of(0), slot_of(1), "clamped to 1 ns");
        assert_eq!(slot_of(1), 1);
        assert_eq!(value_at(slot_of(255)), 255);
        assert_eq!(value_at(slot_of(1000)), 1000);
        assert_eq!(equivalent_range(1000), (1000, 1003));
        assert_eq!(equivalent_range(7000), (6976, 7007));
        assert_eq!(equivalent_range(32768), (32768, 33023));
        assert!(slot_of(u64::MAX) < LEN);
        for i in 1..LEN {
            assert!(value_at(i) > value_at(i - 1), "slot {i}");
            if value_at(i) <= MAX {
                assert_eq!(slot_of(value_at(i).max(1)), i.max(1));
            }
        }
    }

    /// Figures read from stock Redis 7.0.15: a 7 us HELLO answers p0=6.976, p50=7.007 and
    /// the bucket `8 -> 1`; 0 us commands are 1 ns samples (p50=0.001, bucket `1`).
    #[test]
    fn percentiles_and_buckets_read_as_in_redis() {
        let one = of(&[(7000, 1)]);
        assert_eq!(one.percentile(0.0), 6976);
        assert_eq!(one.percentile(50.0), 7007);
        assert_eq!(one.percentile(100.0), 7007);
        assert_eq!(one.log_buckets(), vec![(8, 1)]);

        // (The shape of a GET run on stock: p99=1.003, p99.99=3.007, buckets 1 2 4 8 264.)
        let get = of(&[
            (0, 19900),
            (1000, 89),
            (2000, 7),
            (3000, 2),
            (8000, 1),
            (262_000, 1),
        ]);
        assert_eq!(get.total, 20000);
        assert_eq!(get.percentile(50.0), 1);
        assert_eq!(get.percentile(99.0), 1);
        assert_eq!(get.percentile(99.6), 1003);
        assert_eq!(get.percentile(99.99), 3007);
        assert_eq!(get.percentile(100.0), 262_143);
        assert_eq!(
            get.log_buckets(),
            vec![(1, 19989), (2, 19996), (4, 19998), (8, 19999), (264, 20000)]
        );
        assert!(of(&[]).log_buckets().is_empty());
        // Past 2^29 ns the last samples are counted in `total` only.
        let slow = of(&[(1000, 1), (MAX, 1)]);
        assert_eq!(slow.log_buckets().last().map(|r| r.1), Some(1));
        assert_eq!(slow.percentile(100.0), equivalent_range(MAX).1);
    }
}
