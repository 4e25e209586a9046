//! The progress line every step prints, `[bench MM:SS.s] what`, counted from the run's
//! start (bench/run.py's, when it passes `--since`), as bench/run.py prints its own.

use std::sync::OnceLock;

use crate::support::lease_watch::epoch_now;

static SINCE: OnceLock<f64> = OnceLock::new();

/// Sets the run's start, seconds since the epoch (once; later calls change nothing).
pub fn set_since(since: f64) {
    let _ = SINCE.set(since);
}

/// Seconds since the run's start.
pub fn elapsed_s() -> f64 {
    epoch_now() - SINCE.get().copied().unwrap_or_else(epoch_now)
}

/// Prints one progress line on stdout.
pub fn log(msg: &str) {
    let e = elapsed_s().max(0.0);
    println!("[bench {:02}:{:04.1}] {msg}", (e / 60.0) as u64, e % 60.0);
}

/// Seconds as a progress line writes them: ms below 1 s, else s with 3 decimals.
pub fn fs_log(v: Option<f64>) -> String {
    match v {
        None => "n/a".into(),
        Some(v) if v < 1.0 => format!("{:.0} ms", v * 1000.0),
        Some(v) => format!("{v:.3} s"),
    }
}

/// A duration as `XmYYs`.
pub fn elapsed(seconds: f64) -> String {
    format!(
        "{}m{:02}s",
        (seconds / 60.0) as u64,
        (seconds % 60.0) as u64
    )
}
