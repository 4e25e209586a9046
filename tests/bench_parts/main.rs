//! The benchmark program's pure parts (bench/), tested here, where libtest runs them: the
//! program itself is a test target without libtest's harness, so its files cannot hold
//! tests. Its modules are included as they are, the same list as bench/main.rs. No API
//! server is needed.
//!
//! - `local_part.rs`: the local part's rules, steady-state roles, timeline sample and results'
//!   keys.
//! - `scale_part.rs`: the scale part's windows, namespaces, takeover requests and section.

// The program's modules are included whole; not every item is used here.
#![allow(dead_code)]

#[path = "../support/mod.rs"]
mod support;

#[path = "../../bench/args.rs"]
mod args;
#[path = "../../bench/cluster/mod.rs"]
mod cluster;
#[path = "../../bench/driver.rs"]
mod driver;
#[path = "../../bench/first.rs"]
mod first;
#[path = "../../bench/local/mod.rs"]
mod local;
#[path = "../../bench/machine_load.rs"]
mod machine_load;
#[path = "../../bench/progress.rs"]
mod progress;
#[path = "../../bench/replicas.rs"]
mod replicas;
#[path = "../../bench/results.rs"]
mod results;
#[path = "../../bench/scale/mod.rs"]
mod scale;
#[path = "../../bench/steady.rs"]
mod steady;
#[path = "../../bench/timeline.rs"]
mod timeline;
#[path = "../../bench/trials.rs"]
mod trials;

mod local_part;
mod scale_part;
