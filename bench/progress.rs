//! The progress line every step prints, `[bench MM:SS.s] what`, counted from the run's
//! start (bench/run.py's, when it passes `--since`), as bench/run.py prints its own.

use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crate::support::lease_watch::epoch_now;

static SINCE: OnceLock<f64> = OnceLock::new();

/// Between two "still ..." lines of a long wait, as bench/run.py's builds print theirs.
const HEARTBEAT_S: f64 = 30.0;
/// How often a long wait looks again.
const WAIT_POLL: Duration = Duration::from_millis(100);

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

/// Waits until `done()`, a progress line `  ... still {what} (XmYYs)` every 30 s, so that a
/// long wait does not look hung.
pub fn heartbeat_until(done: impl Fn() -> bool, what: &str) {
    let start = Instant::now();
    let mut next = HEARTBEAT_S;
    while !done() {
        std::thread::sleep(WAIT_POLL);
        let so_far = start.elapsed().as_secs_f64();
        if so_far >= next {
            log(&format!("  ... still {what} ({})", elapsed(so_far)));
            next += HEARTBEAT_S;
        }
    }
}
