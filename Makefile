# k8sensus: the two commands that matter are `make demo` and `make test`.
# `make help` lists the rest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# The release build. The Dockerfile runs exactly this command (hack/lint.sh checks it).
CARGO_BUILD_RELEASE := cargo build --release --locked --bin k8sensus
CONTROL_PLANE := python3 hack/control-plane/controlplane.py
CLUSTER := python3 hack/cluster/cluster.py

.PHONY: help build demo test deps lint fmt-check clippy doc manifests control-plane-bin control-plane images cluster clean

# Every target has a `## [group] what it does` comment; `make help` lists them by group, the
# groups in the order they first appear below (a target without a group is under "other").
help: ## [start here] list the targets, grouped
	@awk -F':.*## ' '/^[a-z][a-z-]*:.*## / { \
	    group = "other"; text = $$2; \
	    if (match(text, /^\[[^]]+\] /)) { group = substr(text, 2, RLENGTH - 3); text = substr(text, RLENGTH + 1) } \
	    if (!(group in seen)) { seen[group] = 1; order[++n] = group } \
	    lines[group] = lines[group] sprintf("  make %-18s %s\n", $$1, text) \
	  } END { for (i = 1; i <= n; i++) printf "%s%s:\n%s", (i > 1 ? "\n" : ""), order[i], lines[order[i]] }' $(MAKEFILE_LIST)

build: ## [build and run] build the release binary, target/release/k8sensus
	$(CARGO_BUILD_RELEASE)

demo: ## [start here] the kind walkthrough on a one-node cluster here (or, where it cannot run, three local replicas)
	@hack/demo-cluster.sh

test: deps lint control-plane-bin images ## [start here] every check CI runs: formatting, clippy, docs, manifests, unit, CLI and end-to-end tests, examples, the walkthrough on a real cluster, the benchmark's unit tests
	@echo "==> python3 -m unittest discover -s bench (the benchmark's pure parts: no control plane, cluster or replica; about a second)"
	python3 -m unittest discover -s bench
	@echo "==> cargo test (unit, CLI, examples, end-to-end against the real kube-apiserver, the chaos suite's and the benchmark's smoke runs, and the walkthrough on a real cluster)"
	# tests/e2e/examples.rs runs target/debug/examples/*: cargo test builds the examples but
	# does not put them there (a fresh target/ has none), cargo build --examples does.
	cargo build --locked --examples
	cargo test --locked --all-targets
	@echo "==> cargo test --doc (the examples in the API docs compile)"
	cargo test --locked --doc
	@echo "==> make test: all checks passed"

deps: ## [checks] install (as root, on Debian) or name the system packages the tests need
	@echo "==> hack/install-deps.sh (go, python3, openssl, setpriv, libfaketime; as root also containerd, runc, CNI plugins, nftables, iptables, buildah, mmdebstrap, gcc)"
	@hack/install-deps.sh

lint: fmt-check clippy doc manifests ## [checks] formatting, clippy, rustdoc, and the Dockerfile and manifests

fmt-check: ## [checks] cargo fmt --check
	@echo "==> cargo fmt --check"
	cargo fmt --all -- --check

clippy: ## [checks] cargo clippy on every target (library, binary, tests, examples), warnings as errors
	@echo "==> cargo clippy -D warnings"
	cargo clippy --locked --all-targets -- -D warnings

doc: ## [checks] the API docs (cargo doc), with rustdoc's warnings (broken links, ...) as errors
	@echo "==> cargo doc -D warnings"
	RUSTDOCFLAGS="-D warnings" cargo doc --locked --no-deps

manifests: ## [checks] hadolint on the Dockerfile; schema validation, kube-score and checkov on the manifests
	@echo "==> hack/lint.sh (Dockerfile and manifests)"
	hack/lint.sh

control-plane-bin: ## [build and run] build (once per machine, cached) etcd, kube-apiserver, kubectl, kube-controller-manager, kube-scheduler, kube-proxy and kubelet from Go modules
	@echo "==> Kubernetes binaries (the first build on a machine takes several minutes)"
	@$(CONTROL_PLANE) build >/dev/null

control-plane: ## [build and run] run a local control plane in the foreground and print its kubeconfig; Ctrl-C stops it
	@dir=$$(mktemp -d -t k8sensus-cp-XXXXXX) && rmdir "$$dir" && \
	  echo "==> starting etcd and kube-apiserver in $$dir (Ctrl-C to stop)" && \
	  echo "==> in every other terminal: eval \"\$$(python3 hack/control-plane/controlplane.py env --dir $$dir)\"" && \
	  $(CONTROL_PLANE) run --dir "$$dir"

images: ## [build and run] build (cached by their inputs) the pause image and the k8sensus image from the Dockerfile, with buildah, offline
	@if reason=$$($(CLUSTER) check 2>&1); then \
	  echo "==> images: pause, and k8sensus:0.1.0 from the Dockerfile (the first build takes about 15 minutes)"; \
	  python3 hack/cluster/images.py build >/dev/null; \
	else echo "==> images: skipped, the cluster cannot run here: $${reason#cluster: cannot run here: }"; fi

cluster: ## [build and run] run a one-node cluster (pods in containers) in the foreground and print its kubeconfig; Ctrl-C stops it
	@dir=$$(mktemp -d -t k8sensus-cluster-XXXXXX) && rmdir "$$dir" && \
	  echo "==> starting a one-node cluster in $$dir (Ctrl-C to stop)" && \
	  $(CLUSTER) run --dir "$$dir"

clean: ## [build and run] remove build output (the control plane cache outside the repository is kept)
	cargo clean

# `bench` is also the name of a directory: without .PHONY, make would call it up to date.
# BENCH_CLUSTER=0 skips the cluster part (it also skips itself where the cluster cannot run).
.PHONY: bench
bench: deps ## [measure] failover time, API load, memory and size, k8sensus side by side with client-go, locally and in a real cluster (writes bench/results.json and BENCHMARKS.md; BENCH_CLUSTER=0 skips the cluster part)
	@# With the cluster part to come, run.py builds its images alongside its own builds
	@# (on a fresh machine the builds take longer than the measuring), before measuring.
	@if [ "$(BENCH_CLUSTER)" = 0 ]; then python3 bench/run.py && \
	  echo "==> make bench: the cluster part skipped (BENCH_CLUSTER=0)"; \
	elif reason=$$($(CLUSTER) check 2>&1); then python3 bench/run.py --images && python3 bench/cluster.py; \
	else python3 bench/run.py && \
	  echo "==> make bench: the cluster part skipped, the cluster cannot run here: $${reason#cluster: cannot run here: }"; fi

.PHONY: bench-cluster
bench-cluster: deps ## [measure] only the cluster part of `make bench` (as root: delete the leader pod, rollout restart, container crash, in the one-node cluster); keeps the rest of bench/results.json
	python3 bench/cluster.py

.PHONY: bench-scale
bench-scale: deps ## [measure] only the scale part of `make bench` (one Lease, N = 3, 10, 30, 100 candidates); keeps the rest of bench/results.json
	python3 bench/run.py --scale-only

# `chaos` is also the name of a directory: without .PHONY, make would call it up to date.
# The suite is a program with flags (`cargo test --test chaos -- --help`); cargo runs it from
# the repository's root, so the relative paths land in chaos/. The same program then writes
# CHAOS.md from the results file (--render-only), failed trials or not.
.PHONY: chaos
chaos: control-plane-bin ## [measure] fault injection: 20 randomized trials of each fault, checked for overlapping leaders (writes chaos/results.json and CHAOS.md)
	rm -f chaos/*.log
	status=0; cargo test --locked --test chaos -- --trials 20 --out chaos/results.json || status=$$?; \
	cargo test --locked --test chaos -- --render-only chaos/results.json; exit $$status
