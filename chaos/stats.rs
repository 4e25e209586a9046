//! The few statistics the results need. Self-contained, so that tests/harness.rs can include
//! it and test it once.

/// The nearest-rank percentile of sorted values: the smallest value with at least `p` % of
/// the values at or below it. `None` for no values.
pub fn percentile(sorted: &[f64], p: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    Some(sorted[rank.clamp(1, sorted.len()) - 1])
}

/// `x` to the millisecond (of a second), as the results show durations.
pub fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}
