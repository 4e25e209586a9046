"""The benchmark's Python parts, shared by its three entry points: bench/run.py (local
processes on one kube-apiserver, `make bench`), bench/cluster.py (Deployments in the
one-node cluster, `make bench-cluster`) and bench/render.py (results.json → BENCHMARKS.md,
the README's table and the SVGs). Only the standard library. The local, scale and cluster
parts themselves are a Rust program on the test harness the chaos suite shares
(bench/main.rs and its modules, bench/scale.rs, bench/cluster/, on tests/support/); run.py
and cluster.py run it.

# Layout

What every part uses:

- `common`: the repository's paths, the Lease's name, the timings, log() (the progress
  line) and BenchError (the error that ends a run).
- `processes`: child processes that die with the driver (spawn(), PR_SET_PDEATHSIG, from
  the main thread only), and run_cmd().
- `session`: what both drivers do around their measuring: the recorded command line, the
  seed, signals as KeyboardInterrupt, one run at a time (bench/.run.lock), the render.
- `build`: `make build`, bench/client-go-ref built and cached, and the benchmark's Rust
  program (`cargo test --test bench --no-run`).
- `provenance`: the machine, the git commit and build inputs, the caches, the hashes.
- `machine_load`: LoadSampler, the share of CPUs busy per phase.
- `control_plane`: the control plane's binaries (controlplane.py build), and the admin's
  API on a runner's API server (the cluster runner's).
- `lease_watch`: LeaseWatcher, the cluster driver's watch on every Lease, and what trials
  ask of it.
- `schedule`: the cluster's trial loops as generators stepped by the main thread
  (run_all(), drive()).
- `stats`: percentiles and the summaries the cluster section keeps.
- `results`: results.json read and written (the sections a run did not measure kept).

bench/run.py's parts, in the order it runs:

- `driver`: the run's shared state (Run), prepare, build, the control plane's binaries,
  stop everything.
- `local`: the local part: its Rust program run with the run's binaries, seed and counts,
  and its results merged with what run.py alone knows (the builds).
- `scale_part`: the scale part: the same program with --scale-only (bench/scale.rs, one
  Lease with N candidates for each N), which writes its section into the results file.

bench/cluster.py builds the client-go image and the program with `build`, runs the
program's cluster part (bench/cluster/, whose mod.rs lists its modules) and merges its
section with `results`.

`render/`, bench/render.py's sections and pictures:

- `fmt`: how a figure is written, and the rows the machine-load tables share.
- `benchmarks_md`: BENCHMARKS.md, one function per section; `scale_md` and `cluster_md`
  the sections at scale and in the cluster.
- `readme`: the README's comparison table, between its markers.
- `svg`, `timeline_svg`, `scale_svg`: the SVG document, the timeline, the charts at scale.

bench/test_k8sbench.py tests the pure parts (`python3 -m unittest discover -s bench`).
"""
