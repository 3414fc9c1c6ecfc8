//! Summaries of repeated measurements: medians (the figure that counts on a
//! noisy machine), p90, min and max.

use std::time::Duration;

#[derive(Debug, Clone, Copy)]
pub struct Summary {
    pub median: f64,
    pub p90: f64,
    pub min: f64,
    pub max: f64,
}

/// The median of plain numbers (NaN when there are none).
pub fn median(v: &[f64]) -> f64 {
    let mut v = v.to_vec();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    match n {
        0 => f64::NAN,
        _ if n % 2 == 1 => v[n / 2],
        _ => (v[n / 2 - 1] + v[n / 2]) / 2.0,
    }
}

/// Summarises samples in milliseconds.
pub fn summarize(samples: &[Duration]) -> Summary {
    let mut v: Vec<f64> = samples.iter().map(|d| d.as_secs_f64() * 1000.0).collect();
    v.sort_by(|a, b| a.partial_cmp(b).unwrap());
    let n = v.len();
    if n == 0 {
        return Summary { median: f64::NAN, p90: f64::NAN, min: f64::NAN, max: f64::NAN };
    }
    let median = median(&v);
    let p90 = v[((n as f64 * 0.9).ceil() as usize).clamp(1, n) - 1];
    Summary { median, p90, min: v[0], max: v[n - 1] }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        let ms = |v: &[u64]| v.iter().map(|&x| Duration::from_millis(x)).collect::<Vec<_>>();
        let s = summarize(&ms(&[5, 1, 3]));
        assert_eq!((s.median, s.p90, s.min, s.max), (3.0, 5.0, 1.0, 5.0));
        assert_eq!(summarize(&ms(&[1, 2, 3, 4])).median, 2.5);
        assert_eq!(summarize(&ms(&(1..=10).collect::<Vec<_>>())).p90, 9.0);
    }
}
