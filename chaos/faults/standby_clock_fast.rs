//! `standby_clock_fast`: one standby's clock runs 10 % fast (libfaketime), then the leader is
//! partitioned as in `partition_leader`. The skewed standby's real clock rate is measured in
//! every trial, so a skew that did not take effect fails the trial instead of passing it.

use std::path::PathBuf;
use std::time::Duration;

use k8sensus::log_event;
use rand::Rng;

use super::{partition_for, secs};
use crate::fleet::Fleet;
use crate::support::overlap;
use crate::support::stats::{percentile, round3};
use crate::trial::Trial;
use crate::{T, TASK_PERIOD};

/// How fast the skewed standby's clock runs: the README's example of a tolerated skew.
pub const SKEW: f64 = 1.10;

pub fn what() -> String {
    format!(
        "one standby's clock running {:.0} % fast (libfaketime), then the leader partitioned as in partition_leader",
        (SKEW - 1.0) * 100.0
    )
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let library = libfaketime()?;
    let mut fleet = Fleet::new("chaos-skew");
    for name in ["replica-a", "replica-b"] {
        fleet.add(name, Vec::new());
    }
    t.fleet = Some(fleet);
    let leader = t.fleet().converged(&[], Duration::from_secs(30)).await?;
    // The skewed replica joins as a standby. libfaketime makes CLOCK_MONOTONIC (and the wall
    // clock) run SKEW times as fast for it; `mono_ns` is read through the vDSO, which
    // libfaketime cannot reach, so its runs stay on the true host clock for the checker.
    let skewed = t.fleet().add(
        "replica-fast",
        vec![
            ("LD_PRELOAD".into(), library.display().to_string()),
            ("FAKETIME".into(), format!("+0 x{SKEW}")),
        ],
    );
    t.fleet().watch_lease();
    tokio::time::sleep(Duration::from_secs(2)).await;
    t.warm_up().await;
    let hold = T.lease_duration + secs(t.rng.random_range(0.3..2.0));
    partition_for(t, leader, hold).await;
    let next = t.note_takeover_delay(leader);
    t.notes.skewed_standby_took_over = Some(next.as_deref() == Some("replica-fast"));

    // Measure the skewed replica's clock as Rust sees it: its task ticks every 100 ms of its
    // own (faked) tokio clock, and each run is stamped with the true CLOCK_MONOTONIC. If it
    // did not take over, kill whoever leads so that it does (it is the fastest to expire).
    let gone = t.gone.clone();
    let now_leading = t.fleet().converged(&gone, Duration::from_secs(30)).await?;
    if now_leading != skewed {
        let name = t.fleet().replicas[now_leading].name.clone();
        t.fleet().replicas[now_leading].kill9();
        t.gone.push(name);
        t.notes.killed_to_let_it_lead = Some(true);
        let gone = t.gone.clone();
        t.fleet().converged(&gone, Duration::from_secs(30)).await?;
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The median spacing of its runs on the true clock: robust to a tick skipped under load.
    let replica = &t.fleet().replicas[skewed];
    let terms = overlap::terms_in_logs(&replica.name, &replica.logs());
    let Some(term) = terms.iter().max_by_key(|t| t.runs).filter(|t| t.runs >= 10) else {
        return Err("the skewed replica never led long enough to measure its clock".into());
    };
    let runs: Vec<u64> = replica
        .logs()
        .iter()
        .filter(|l| l.json["event"] == log_event::WORK_RUN)
        .filter_map(|l| l.json["mono_ns"].as_u64())
        .filter(|m| (term.first_ns..=term.last_ns).contains(m))
        .collect();
    let mut spacings: Vec<f64> = runs.windows(2).map(|w| (w[1] - w[0]) as f64).collect();
    spacings.sort_by(f64::total_cmp);
    let median = percentile(&spacings, 50.0).unwrap_or(f64::NAN) / 1e9;
    let rate = TASK_PERIOD.as_secs_f64() / median;
    t.notes.measured_clock_rate = Some(round3(rate));
    if !(SKEW - 0.05..SKEW + 0.05).contains(&rate) {
        return Err(format!(
            "the skewed replica's clock ran at {rate:.3}x the host's, not about {SKEW}x: libfaketime did not take effect as intended"
        ));
    }
    Ok(())
}

/// libfaketime's preload library, or an error that says how to install it.
/// `K8SENSUS_LIBFAKETIME` names it where it is not in a usual place (hack/install-deps.sh
/// honours it too): it describes the machine, not the run, so it is not a flag.
pub fn libfaketime() -> Result<PathBuf, String> {
    if let Some(path) = std::env::var_os("K8SENSUS_LIBFAKETIME") {
        let path = PathBuf::from(path);
        return if path.is_file() {
            Ok(path)
        } else {
            Err(format!(
                "K8SENSUS_LIBFAKETIME={} is not a file",
                path.display()
            ))
        };
    }
    let mut candidates = vec![
        PathBuf::from("/usr/lib/faketime/libfaketimeMT.so.1"),
        PathBuf::from("/usr/local/lib/faketime/libfaketimeMT.so.1"),
    ];
    if let Ok(dirs) = std::fs::read_dir("/usr/lib") {
        for dir in dirs.flatten() {
            candidates.push(dir.path().join("faketime/libfaketimeMT.so.1"));
        }
    }
    candidates.into_iter().find(|p| p.is_file()).ok_or_else(|| {
        "the standby_clock_fast fault needs libfaketime, which was not found \
         (looked for faketime/libfaketimeMT.so.1 under /usr/lib, /usr/lib/<arch> and /usr/local/lib). \
         Install it with `apt-get install faketime` (Debian/Ubuntu; it pulls in libfaketime), \
         or point K8SENSUS_LIBFAKETIME at libfaketimeMT.so.1"
            .to_string()
    })
}
