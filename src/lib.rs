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
//! - [`shutdown`]: SIGTERM and SIGINT.
//! - [`sample_task`]: the leader's work in this demo.
//! - [`app`]: the program that ties them together.

pub mod app;
pub mod cli;
pub mod client;
pub mod config;
pub mod elector;
pub mod sample_task;
pub mod shutdown;
pub mod telemetry;
