//! The one definition of a percentile, and the summary of a list of trial figures that the
//! results files keep. The benchmark's definition: linear interpolation between the closest
//! ranks (numpy's default), so that a p90 of a few trials falls between two of them rather
//! than on one.

use serde::{Deserialize, Serialize};

/// The `p`-th percentile of `values` (in any order), interpolating linearly between the two
/// closest ranks: with the values sorted, position `(n - 1) · p / 100`. `None` for no values.
pub fn percentile(values: &[f64], p: f64) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    let mut s = values.to_vec();
    s.sort_by(f64::total_cmp);
    let pos = (s.len() - 1) as f64 * p / 100.0;
    let lo = pos.floor() as usize;
    let hi = (lo + 1).min(s.len() - 1);
    Some(s[lo] + (s[hi] - s[lo]) * (pos - lo as f64))
}

/// The arithmetic mean; `None` for no values.
pub fn mean(values: &[f64]) -> Option<f64> {
    (!values.is_empty()).then(|| values.iter().sum::<f64>() / values.len() as f64)
}

/// The median (the 50th percentile: the mean of the middle two for an even count).
pub fn median(values: &[f64]) -> Option<f64> {
    percentile(values, 50.0)
}

/// `x` to the millisecond (of a second), as the results show durations.
pub fn round3(x: f64) -> f64 {
    round(x, 3)
}

/// `x` to `digits` decimals, as the results files write their figures.
pub fn round(x: f64, digits: i32) -> f64 {
    let f = 10f64.powi(digits);
    (x * f).round() / f
}

/// One figure over a set of trials, as the results files keep it: p50, p90, max, min and
/// mean of the trials that gave it, how many did, and how many failed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub p50: Option<f64>,
    pub p90: Option<f64>,
    pub max: Option<f64>,
    pub min: Option<f64>,
    pub mean: Option<f64>,
    pub trials: usize,
    pub failed_trials: usize,
}

impl Summary {
    /// The summary of `values`, with `failed` trials that gave none.
    pub fn of(values: &[f64], failed: usize) -> Self {
        Summary {
            p50: percentile(values, 50.0),
            p90: percentile(values, 90.0),
            max: values.iter().copied().reduce(f64::max),
            min: values.iter().copied().reduce(f64::min),
            mean: mean(values),
            trials: values.len(),
            failed_trials: failed,
        }
    }
}
