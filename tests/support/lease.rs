//! The Lease the replicas elect on: its name, the election timings as flags, reading it as
//! the admin sees it, and waiting until it names a leader.

use std::collections::HashMap;
use std::time::Duration;

use k8s_openapi::api::coordination::v1::Lease;
use k8sensus::log_event;
use kube::api::Api;

use super::namespace::TestNamespace;
use super::replica::Replica;
use super::wait::wait_for;

/// The Lease every test replica elects on (each test in a namespace of its own).
pub const LEASE: &str = "k8sensus-lease";

/// The three election timings, as flags.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub lease_duration: Duration,
    pub renew_deadline: Duration,
    pub retry_period: Duration,
}

impl Timings {
    /// Short timings that keep the suite fast: 4 s / 3 s / 0.5 s (margin LD-RD-RP = 0.5 s).
    pub const SHORT: Timings = Timings {
        lease_duration: Duration::from_secs(4),
        renew_deadline: Duration::from_secs(3),
        retry_period: Duration::from_millis(500),
    };
    /// The walkthrough's timings: 15 s / 10 s / 2 s.
    pub const REAL: Timings = Timings {
        lease_duration: Duration::from_secs(15),
        renew_deadline: Duration::from_secs(10),
        retry_period: Duration::from_secs(2),
    };

    /// The generous bound for a takeover after a crash: LD + 2·RP·1.2 + 3 s.
    pub fn crash_failover_bound(&self) -> Duration {
        self.lease_duration + self.retry_period.mul_f64(2.0 * 1.2) + Duration::from_secs(3)
    }

    pub(super) fn flags(&self) -> Vec<String> {
        let ms = |d: Duration| format!("{}ms", d.as_millis());
        vec![
            format!("--lease-duration={}", ms(self.lease_duration)),
            format!("--renew-deadline={}", ms(self.renew_deadline)),
            format!("--retry-period={}", ms(self.retry_period)),
        ]
    }
}

impl TestNamespace {
    /// The namespace's Leases, as the admin.
    pub async fn leases(&self) -> Api<Lease> {
        Api::namespaced(self.cp.admin_client().await, &self.name)
    }

    /// The Lease as the admin sees it, if it exists.
    pub async fn lease(&self) -> Option<Lease> {
        self.leases().await.get_opt(LEASE).await.expect("get lease")
    }

    /// The Lease's holderIdentity, if any (empty counts as none).
    pub async fn holder(&self) -> Option<String> {
        self.lease()
            .await
            .and_then(|l| l.spec)
            .and_then(|s| s.holder_identity)
            .filter(|h| !h.is_empty())
    }
}

/// Waits until the Lease names one of `replicas` and that replica's work has started, and
/// returns its index. (The first leader of a namespace creates the Lease, and its work starts
/// a lease duration after it found the Lease missing.)
pub async fn wait_for_leader(ns: &TestNamespace, replicas: &[Replica], timeout: Duration) -> usize {
    let names: HashMap<String, usize> = replicas
        .iter()
        .enumerate()
        .map(|(i, r)| (r.name.clone(), i))
        .collect();
    let found = wait_for(timeout, || async {
        let i = ns.holder().await.and_then(|h| names.get(&h).copied())?;
        let working = replicas[i]
            .logs()
            .iter()
            .rev()
            .find_map(|l| match l.event() {
                Some(log_event::WORK_STARTED) => Some(true),
                Some(log_event::WORK_STOPPED) => Some(false),
                _ => None,
            })
            .unwrap_or(false);
        working.then_some(i)
    })
    .await;
    match found {
        Some(i) => i,
        None => panic!(
            "no replica became leader within {timeout:?}; the Lease is {:?}",
            ns.lease().await.and_then(|l| l.spec)
        ),
    }
}

/// Waits until the Lease names one of `replicas` other than `old` and returns its index.
pub async fn wait_for_new_leader(
    ns: &TestNamespace,
    replicas: &[Replica],
    old: &str,
    timeout: Duration,
) -> Option<usize> {
    wait_for(timeout, || async {
        let holder = ns.holder().await.filter(|h| h != old)?;
        replicas.iter().position(|r| r.name == holder)
    })
    .await
}

/// Sends SIGTERM to `replicas[leader]`, waits for it to exit 0 after releasing the Lease, and
/// returns who took over and how long after the release was logged.
pub async fn sigterm_and_time_takeover(
    ns: &TestNamespace,
    replicas: &mut [Replica],
    leader: usize,
) -> (String, Duration) {
    replicas[leader].signal("TERM");
    let status = replicas[leader]
        .wait_exit(Duration::from_secs(15))
        .expect("the leader exits after SIGTERM");
    assert_eq!(status.code(), Some(0), "exit status after SIGTERM");
    let released_at = replicas[leader]
        .events(log_event::RELEASED)
        .first()
        .expect("the old leader released the lease")
        .at;
    let old = replicas[leader].name.clone();
    let new = wait_for(Duration::from_secs(10), || async {
        ns.holder().await.filter(|h| *h != old)
    })
    .await
    .expect("a standby takes over the released lease");
    (new, released_at.elapsed())
}
