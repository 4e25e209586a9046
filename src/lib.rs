//! k8sensus: Kubernetes Lease leader election, written to be read.
//!
//! # Layout
//!
//! - [`elector`]: leader election itself. It knows nothing of the command line or the
//!   sample task, and could be lifted into another program unchanged. Start reading there.
//! - [`cli`]: the flags, as typed.
//! - [`config`]: the flags checked against each other, before any network call.
//! - [`client`]: in-cluster config, else the kubeconfig.
//! - [`telemetry`]: plain or JSON logs.
//! - [`log_event`]: every `event` field in the logs, the contract with programs that read them.
//! - [`shutdown`]: SIGTERM and SIGINT.
//! - [`sample_task`]: the leader's work in this demo.
//! - [`probes`]: `/healthz`, `/readyz` and `/metrics` over HTTP; [`metrics`] fills the last.
//! - [`events`]: Kubernetes Events on the Lease ("X became leader").
//! - [`leader_label`]: the optional `k8sensus.io/role=leader` label on the leader's pod.
//! - [`status`]: the `k8sensus status` command.
//! - [`app`]: the program that ties them together.
//!
//! Outside `src/`, the tests run the real binary (README, "The code"):
//! - `tests/e2e/`: one test binary whose tests share one real kube-apiserver, one module
//!   per area (election, network, visibility, examples, manifests, logs);
//! - `tests/outage.rs`, `tests/probes.rs`, `tests/watch_recovery.rs`: they stop or
//!   restart the API server, so each has its own; `tests/admission_policy.rs` too, since
//!   its policy is cluster-wide;
//! - `tests/support/`: the harness, one file per concept; tests read the logs through its
//!   one parser and decide from the [`log_event`] names, never from a message's wording;
//!   `tests/harness.rs` tests it;
//! - `chaos/`: the fault-injection suite, a program with flags (`make chaos`), which also
//!   writes CHAOS.md from its typed results;
//! - `bench/`: the benchmark against client-go (`make bench`): a program on the same
//!   harness that measures every part (`bench/main.rs`, like `chaos/`: the local part,
//!   `bench/scale/`, `bench/cluster/`); its entry points (flags, builds) and renderer stay
//!   Python (`bench/run.py`, `bench/cluster.py`, `bench/k8sbench/`).

pub mod app;
pub mod cli;
pub mod client;
pub mod config;
pub mod elector;
pub mod events;
pub mod leader_label;
pub mod log_event;
pub mod metrics;
pub mod probes;
pub mod sample_task;
pub mod shutdown;
pub mod status;
pub mod telemetry;
