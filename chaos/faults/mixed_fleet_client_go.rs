//! `mixed_fleet_client_go`: two k8sensus replicas and two of client-go's reference elector
//! (bench/client-go-ref) share one Lease; the leader, of either kind, is killed or sent
//! SIGTERM, each of the four combinations in turn.

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::REPO;
use crate::fleet::Fleet;
use crate::trial::Trial;

pub fn what() -> String {
    "two k8sensus replicas and two client-go reference replicas (bench/client-go-ref) on one Lease; the leader, of either kind, killed with `kill -9` or SIGTERM (each of the four combinations in turn)".into()
}

pub async fn run(t: &mut Trial) -> Result<(), String> {
    let binary = client_go_ref()?;
    // Each combination in turn: (which kind leads, which signal).
    let go_leads = t.index % 2 == 1;
    let sigterm = t.index % 4 >= 2;
    let mut fleet = Fleet::new("chaos-mixed");
    // The kind that is to lead starts first, alone.
    let order: [(&str, bool); 4] = if go_leads {
        [
            ("go-a", true),
            ("rs-a", false),
            ("go-b", true),
            ("rs-b", false),
        ]
    } else {
        [
            ("rs-a", false),
            ("go-a", true),
            ("rs-b", false),
            ("go-b", true),
        ]
    };
    let start = |fleet: &mut Fleet, (name, go): (&str, bool)| {
        if go {
            fleet.add_client_go(name, &binary);
        } else {
            fleet.add(name, Vec::new());
        }
    };
    start(&mut fleet, order[0]);
    t.fleet = Some(fleet);
    let leader = t.fleet().converged(&[], Duration::from_secs(30)).await?;
    for &replica in &order[1..] {
        start(t.fleet(), replica);
    }
    tokio::time::sleep(Duration::from_secs(1)).await;
    t.warm_up().await;
    let name = t.fleet().replicas[leader].name.clone();
    t.notes.leader_kind = Some(if go_leads { "client-go" } else { "k8sensus" }.into());
    t.notes.signal = Some(if sigterm { "TERM" } else { "KILL" }.into());
    t.fault_on(leader);
    t.gone.push(name.clone());
    if sigterm {
        t.fleet().replicas[leader].signal("TERM");
        let status = t.fleet().replicas[leader].wait_exit(Duration::from_secs(15));
        t.healed();
        match status {
            Some(s) if s.code() == Some(0) => {}
            Some(s) => return Err(format!("{name} exited with {s} after SIGTERM, not 0")),
            None => return Err(format!("{name} did not exit within 15 s of SIGTERM")),
        }
    } else {
        t.fleet().replicas[leader].kill9();
        t.healed();
    }
    Ok(())
}

/// The client-go reference elector (bench/client-go-ref), built once per run with `go build`
/// into the target directory.
pub fn client_go_ref() -> Result<PathBuf, String> {
    static BUILT: std::sync::OnceLock<Result<PathBuf, String>> = std::sync::OnceLock::new();
    BUILT
        .get_or_init(|| {
            let out = PathBuf::from(env!("CARGO_TARGET_TMPDIR")).join("client-go-ref/client-go-ref");
            let status = std::process::Command::new("go")
                .args(["build", "-trimpath", "-o"])
                .arg(&out)
                .arg(".")
                .current_dir(Path::new(REPO).join("bench/client-go-ref"))
                .env("CGO_ENABLED", "0")
                .status()
                .map_err(|e| format!("cannot run `go build` for bench/client-go-ref (is Go installed? make deps): {e}"))?;
            if !status.success() {
                return Err(format!("`go build` of bench/client-go-ref failed: {status}"));
            }
            Ok(out)
        })
        .clone()
}
