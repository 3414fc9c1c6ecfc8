//! A fixed-bucket latency histogram with atomic counters: what the metrics
//! endpoint exposes for RPCs and pulls. Constant memory, lock-free records.

use std::sync::atomic::{AtomicU64, Ordering};

/// Upper bounds in seconds (Prometheus' default buckets, plus 30 and 60 s
/// for pulls).
pub const BOUNDS: [f64; 13] =
    [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];

#[derive(Debug, Default)]
pub struct Histogram {
    /// Per bucket (not cumulative); the last one is +Inf.
    counts: [AtomicU64; BOUNDS.len() + 1],
    /// Sum of observations in microseconds.
    sum_micros: AtomicU64,
}

/// A point-in-time copy.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// Cumulative counts for each bound of [`BOUNDS`], then +Inf (the total).
    pub cumulative: Vec<u64>,
    pub sum_seconds: f64,
}

impl Histogram {
    pub fn observe(&self, seconds: f64) {
        let i = BOUNDS.iter().position(|b| seconds <= *b).unwrap_or(BOUNDS.len());
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        self.sum_micros.fetch_add((seconds * 1e6) as u64, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> Snapshot {
        let mut acc = 0;
        let cumulative = self.counts.iter().map(|c| {
            acc += c.load(Ordering::Relaxed);
            acc
        });
        Snapshot {
            cumulative: cumulative.collect(),
            sum_seconds: self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6,
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn buckets_are_cumulative() {
        let h = super::Histogram::default();
        for s in [0.001, 0.02, 0.02, 100.0] {
            h.observe(s);
        }
        let s = h.snapshot();
        assert_eq!(s.cumulative[0], 1);
        assert_eq!(s.cumulative[2], 3);
        assert_eq!(*s.cumulative.last().unwrap(), 4);
        assert!((s.sum_seconds - 100.041).abs() < 1e-3);
    }
}
