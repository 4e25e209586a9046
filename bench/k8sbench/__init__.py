"""The benchmark's Python parts, shared by its three entry points: bench/run.py (local
processes on one kube-apiserver, `make bench`), bench/cluster.py (Deployments in the
one-node cluster, `make bench-cluster`) and bench/render.py (results.json → BENCHMARKS.md,
the README's table and the SVGs). Only the standard library. The local, scale and cluster
parts themselves are a Rust program on the test harness the chaos suite shares
(bench/main.rs and its modules, bench/local/, bench/scale/, bench/cluster/, on
tests/support/); run.py and cluster.py run it.

# Layout

What is Python here, and why: the entry points' flags, one run at a time, the builds
(make, go, controlplane.py, buildah) with their heartbeats, the results file's merge (it
keeps every section a run did not measure byte for byte, in its order), and the renderers.
Everything that measures, and every concept the test harness has (replicas, control
planes, the Lease watch, the audit log, percentiles, provenance, pod logs), is the Rust
program's, on tests/support/, once.

What both entry points use:

- `common`: the repository's paths, log() (the progress line) and BenchError (the error
  that ends a run).
- `processes`: child processes that die with the driver (spawn(), hack/control-plane's
  child_dies_with_us, from the main thread only), run_cmd(), and run_program(), which runs
  a part of the Rust program to its end, passing Ctrl-C on.
- `session`: what both drivers do around their measuring: the recorded command line, the
  seed, signals as KeyboardInterrupt, one run at a time (bench/.run.lock), the render.
- `build`: `make build`, bench/client-go-ref built and cached, the control plane's
  binaries, the Rust program (`cargo test --test bench --no-run`), the images alongside;
  the caches found at the start, and the source snapshot (the program's
  --source-snapshot).
- `results`: results.json read and written (the sections a run did not measure kept),
  and the machine section completed with what only Python knows.

bench/run.py's parts, in the order it runs:

- `driver`: the run's shared state (Run), prepare, build, the control plane's binaries,
  stop everything.
- `local`: the local part: its Rust program run with the run's binaries, seed and counts,
  and its results merged with what run.py alone knows (the builds).
- `scale_part`: the scale part: the same program with --scale-only (bench/scale/, one
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
