"""The benchmark's parts, shared by its three entry points: bench/run.py (local processes
on one kube-apiserver, `make bench`), bench/cluster.py (Deployments in the one-node
cluster, `make bench-cluster`) and bench/render.py (results.json → BENCHMARKS.md, the
README's table and the SVGs). Only the standard library.

# Layout

What every part uses:

- `common`: the repository's paths, the Lease's name, the timings, log() (the progress
  line) and BenchError (the error that ends a run).
- `processes`: child processes that die with the driver (spawn(), PR_SET_PDEATHSIG, from
  the main thread only), and run_cmd().
- `session`: what both drivers do around their measuring: the recorded command line, the
  seed, signals as KeyboardInterrupt, one run at a time (bench/.run.lock), the render.
- `build`: `make build`, and bench/client-go-ref built and cached.
- `provenance`: the machine, the git commit and build inputs, the caches, the hashes.
- `machine_load`: LoadSampler, the share of CPUs busy per phase.
- `control_plane`: etcd + kube-apiserver with an audit log, its API, and the audit log read.
- `lease_watch`: LeaseWatcher, the driver's watch on every Lease, and what trials ask of it.
- `schedule`: trial loops as generators stepped by the main thread (run_all(), drive()).
- `stats`: percentiles and the summaries results.json keeps.
- `results`: results.json read and written (the cluster section kept), and the local
  part's figures as it keeps them.

The local part (bench/run.py), in the order it runs:

- `driver`: the run's shared state (Run), prepare, build, start the control plane, stop
  everything.
- `replicas`: namespaces, ServiceAccounts and kubeconfigs; Replica and ReplicaSet.
- `trials`: crash, graceful and first-leadership trials.
- `steady`: the steady-state window, its requests per role and its memory.
- `local`: the 3-replica part's steps, from the namespaces to first leadership.
- `timeline`: the sample of trials the picture shows.
- `scale`: the scale part, one Lease with N candidates for each N.
- `scale_planes`: its steady control planes, one per implementation, for the steady-state
  windows that run beside the trials.

The cluster part is in Rust: bench/cluster.py runs the bench program's cluster part
(bench/cluster/, whose mod.rs lists its modules) after building the client-go image with
`build` and `processes`.

`render/`, bench/render.py's sections and pictures:

- `fmt`: how a figure is written, and the rows the machine-load tables share.
- `benchmarks_md`: BENCHMARKS.md, one function per section; `scale_md` and `cluster_md`
  the sections at scale and in the cluster.
- `readme`: the README's comparison table, between its markers.
- `svg`, `timeline_svg`, `scale_svg`: the SVG document, the timeline, the charts at scale.

bench/test_k8sbench.py tests the pure parts (`python3 -m unittest discover -s bench`).
"""
