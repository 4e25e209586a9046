//! Test support, one file per concept. Every test binary that runs k8sensus includes this
//! module (`mod support;`, or `#[path]` from tests/e2e/); its own tests are in
//! tests/harness.rs.
//!
//! - [`runner`]: the runners in hack/ (control plane, cluster) on a lifeline.
//! - [`control_plane`]: one etcd + kube-apiserver per test binary; kubectl and kube clients.
//! - [`namespace`]: a fresh namespace per test, with rbac.yaml and a ServiceAccount token.
//! - [`lease`]: the Lease's name, the timings, and waiting until it names a leader.
//! - [`replica`]: `k8sensus` processes with their logs collected; any elector's replicas with
//!   a log file each, restarted, signalled and measured (the benchmark's).
//! - [`log`]: the one parser of k8sensus's log lines (JSON or plain) and their `event` field.
//! - [`process`]: a child's output as it arrives; bounded waits for its exit; the lasting
//!   thread that spawns children tied to this process.
//! - [`watch`]: the one list-then-watch loop, resumed, on a thread of its own.
//! - [`lease_watch`]: the one Lease watcher (list, then watch, resumed), every write kept.
//! - [`audit`]: kube-apiserver with an audit log, and the log read request by request.
//! - [`libtest`]: the flags `cargo test` hands the programs without libtest's harness, and
//!   how their filter selects.
//! - [`stats`]: the one percentile (linear interpolation) and the trials' summary.
//! - [`provenance`]: the commit, the build inputs' hash, a file's sha256, the machine.
//! - [`http`]: the one HTTP client, for the probe server.
//! - [`metrics`]: the one reader of /metrics.
//! - [`wait`]: polling with a bound.
//! - [`overlap`]: the checker for two leaders working at once.
//! - [`proxy`]: a TCP proxy with a fault switch, between a replica and the API server.
//! - [`cluster`]: the one-node cluster of tests/cluster.rs.
//!
//! Nothing outlives the test run: the runners tear everything down when their stdin closes,
//! which happens when this process exits, however it exits; each replica runs under
//! `setpriv --pdeathsig KILL`, so it dies with the test thread that started it, and is also
//! killed when its [`Replica`] is dropped (including on panic).
//!
//! The items most tests use are re-exported here, so that `use support::*;` brings them in.

// Each test binary uses a different part of this module, and of its re-exports.
#![allow(dead_code, unused_imports)]

pub mod audit;
pub mod cluster;
pub mod control_plane;
pub mod http;
pub mod lease;
pub mod lease_watch;
pub mod libtest;
pub mod log;
pub mod metrics;
pub mod namespace;
pub mod overlap;
pub mod process;
pub mod provenance;
pub mod proxy;
pub mod replica;
pub mod runner;
pub mod stats;
pub mod wait;
pub mod watch;

pub use control_plane::{ControlPlane, client_for, control_plane, run_kubectl};
pub use http::{http_get, readiness_during_shutdown};
pub use lease::{LEASE, Timings, sigterm_and_time_takeover, wait_for_leader, wait_for_new_leader};
pub use log::{LogLine, parse_line};
pub use metrics::{Metrics, api_errors, master_status, wait_for_master_status};
pub use namespace::{TestNamespace, random_suffix, rbac_yaml_for};
pub use process::{Output, run_to_end, wait_exit};
pub use replica::{Replica, SpawnOptions, assert_no_panics};
pub use wait::{wait_for, wait_until};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_k8sensus");
/// The repository's root, where the manifests and hack/ are.
pub const REPO: &str = env!("CARGO_MANIFEST_DIR");
