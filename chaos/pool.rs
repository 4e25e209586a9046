//! The schedule: every fault's trials spread over the whole run, a few at a time, each on a
//! thread of its own; the kube-apiserver restarts, which disturb every namespace, alone at
//! the end.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};

use crate::args::Settings;
use crate::faults::Fault;
use crate::trial::{TrialRecord, run_trial};

/// Runs every trial the settings ask for; the records come in the order the trials ended.
pub fn run_all(settings: &Settings) -> Vec<TrialRecord> {
    // Round robin, so that every fault's trials are spread over the whole run.
    let mut shared = Vec::new();
    let mut exclusive = Vec::new();
    for index in 0..settings.trials {
        for &fault in &settings.faults {
            if fault.exclusive() {
                exclusive.push((fault, index));
            } else {
                shared.push((fault, index));
            }
        }
    }
    let mut records = run_pool(shared, settings);
    for (fault, index) in exclusive {
        records.push(run_trial(fault, index, settings));
    }
    records
}

/// Runs `jobs` on `settings.parallel` threads, each trial on a thread of its own runtime
/// (replicas die with the thread that started them, so a trial stays on one thread from start
/// to end).
fn run_pool(jobs: Vec<(Fault, usize)>, settings: &Settings) -> Vec<TrialRecord> {
    let queue = Arc::new(Mutex::new(VecDeque::from(jobs)));
    let records = Arc::new(Mutex::new(Vec::new()));
    std::thread::scope(|scope| {
        for _ in 0..settings.parallel {
            let (queue, records) = (queue.clone(), records.clone());
            scope.spawn(move || {
                loop {
                    let Some((fault, index)) = queue.lock().unwrap().pop_front() else {
                        return;
                    };
                    let record = run_trial(fault, index, settings);
                    records.lock().unwrap().push(record);
                }
            });
        }
    });
    Arc::try_unwrap(records).unwrap().into_inner().unwrap()
}
