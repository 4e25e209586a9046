//! The sets' namespaces: one per set, each with one ServiceAccount and kubeconfig per
//! replica; the trial sets' on the run's control plane, each implementation's steady sets'
//! on its steady control plane.

use super::Kubeconfigs;
use super::planes::SteadyPlane;
use crate::driver::Bench;
use crate::support::namespace::setup_namespaces;

/// The namespaces of one implementation's sets at N = `n`: (trial set's, steady set's). The
/// seed is in every name, as in the local part's; the steady sets' names differ from the trial
/// sets' too, so that their replicas' log files (`<namespace>-<identity>.log`) do not mix.
pub fn scale_namespaces(seed: u64, key: &str, n: usize) -> (String, String) {
    let s = seed % 100_000;
    (
        format!("bench-{s}-n{n}-{key}"),
        format!("bench-{s}-n{n}-steady-{key}"),
    )
}

/// Every trial set's namespace, on the run's control plane (the trials'), for every N.
pub fn trial_namespaces(bench: &Bench) -> Result<Kubeconfigs, String> {
    let settings = &bench.settings;
    let ns = &settings.scale.ns;
    let trial: Vec<(String, usize)> = bench
        .impls
        .iter()
        .flat_map(|i| {
            ns.iter()
                .map(|&n| (scale_namespaces(settings.seed, &i.key, n).0, n))
        })
        .collect();
    let plane = &bench.plane;
    bench.rt.block_on(setup_namespaces(
        &plane.cp,
        &plane.admin,
        &bench.work.join("kubeconfigs"),
        &trial,
    ))
}

/// Each implementation's steady sets' namespaces, on its steady control plane.
pub fn steady_namespaces(bench: &Bench, planes: &[SteadyPlane]) -> Result<Kubeconfigs, String> {
    let mut kubeconfigs = Kubeconfigs::new();
    for (implementation, p) in bench.impls.iter().zip(planes) {
        let mine: Vec<(String, usize)> = bench
            .settings
            .scale
            .ns
            .iter()
            .map(|&n| {
                (
                    scale_namespaces(bench.settings.seed, &implementation.key, n).1,
                    n,
                )
            })
            .collect();
        kubeconfigs.extend(bench.rt.block_on(setup_namespaces(
            &p.plane.cp,
            &p.plane.admin,
            &bench.work.join("kubeconfigs"),
            &mine,
        ))?);
    }
    Ok(kubeconfigs)
}
