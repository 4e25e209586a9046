//! End-to-end tests: the real binary, its examples and its manifests against one real
//! kube-apiserver, shared by every test here.
//!
//! One test binary, one control plane (started by the first test that needs it, torn down
//! when the binary exits); one module per area. Each test works in namespaces of its own
//! with a randomly named suffix, so the tests stay independent of each other and may run in
//! parallel. Tests that stop or restart the API server cannot share it, and nor can one that
//! installs a cluster-wide admission policy: they are binaries of their own
//! (tests/outage.rs, tests/probes.rs, tests/watch_recovery.rs, tests/admission_policy.rs).

#[path = "../support/mod.rs"]
mod support;

mod command;
mod election;
mod examples;
mod logs;
mod manifests;
mod network;
mod visibility;
