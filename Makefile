# k8sensus: the two commands that matter are `make demo` and `make test`.
# `make help` lists the rest.

SHELL := /bin/bash
.SHELLFLAGS := -euo pipefail -c

# The release build. The Dockerfile runs exactly this command (hack/lint.sh checks it).
CARGO_BUILD_RELEASE := cargo build --release --locked --bin k8sensus
CONTROL_PLANE := python3 hack/control-plane/controlplane.py

.PHONY: help build demo test deps lint fmt-check clippy manifests unit e2e control-plane-bin control-plane clean

help: ## list the targets
	@grep -E '^[a-z-]+:.*## ' $(MAKEFILE_LIST) | awk -F':.*## ' '{printf "  make %-18s %s\n", $$1, $$2}'

build: ## build the release binary, target/release/k8sensus
	$(CARGO_BUILD_RELEASE)

demo: ## three replicas elect a leader on a local control plane; the leader is killed; another takes over
	@hack/demo.sh

test: deps lint control-plane-bin ## every check CI runs: formatting, clippy, manifests, unit, CLI and end-to-end tests
	@echo "==> cargo test (unit, CLI, and end-to-end against the real kube-apiserver)"
	cargo test --locked --all-targets
	@echo "==> make test: all checks passed"

deps: ## install (as root, on Debian) or name the system packages the tests need
	@echo "==> hack/install-deps.sh (go, python3, openssl, setpriv, libfaketime)"
	@hack/install-deps.sh

lint: fmt-check clippy manifests ## formatting, clippy, and the Dockerfile and manifests

fmt-check:
	@echo "==> cargo fmt --check"
	cargo fmt --all -- --check

clippy:
	@echo "==> cargo clippy -D warnings"
	cargo clippy --locked --all-targets -- -D warnings

manifests: ## hadolint on the Dockerfile, schema validation of rbac.yaml and deployment.yaml
	@echo "==> hack/lint.sh (Dockerfile, rbac.yaml, deployment.yaml)"
	hack/lint.sh

control-plane-bin: ## build (once per machine, cached) etcd, kube-apiserver and kubectl from Go modules
	@echo "==> control plane binaries (the first build on a machine takes several minutes)"
	@$(CONTROL_PLANE) build >/dev/null

control-plane: ## run a local control plane in the foreground and print its kubeconfig; Ctrl-C stops it
	@dir=$$(mktemp -d -t k8sensus-cp-XXXXXX) && rmdir "$$dir" && \
	  echo "==> starting etcd and kube-apiserver in $$dir (Ctrl-C to stop)" && \
	  echo "==> in every other terminal: eval \"\$$(python3 hack/control-plane/controlplane.py env --dir $$dir)\"" && \
	  $(CONTROL_PLANE) run --dir "$$dir"

clean: ## remove build output (the control plane cache outside the repository is kept)
	cargo clean

# `bench` is also the name of a directory: without .PHONY, make would call it up to date.
.PHONY: bench
bench: ## failover time, API load, memory and size, k8sensus side by side with client-go (writes bench/results.json and BENCHMARKS.md)
	python3 bench/run.py

.PHONY: bench-scale
bench-scale: ## only the scale part of `make bench` (one Lease, N = 3, 10, 30, 100 candidates); keeps the rest of bench/results.json
	python3 bench/run.py --scale-only

# `chaos` is also the name of a directory: without .PHONY, make would call it up to date.
.PHONY: chaos
chaos: control-plane-bin ## fault injection: 20 randomized trials of each fault, checked for overlapping leaders (writes chaos/results.json and CHAOS.md)
	rm -f chaos/*.log
	status=0; K8SENSUS_CHAOS_TRIALS=20 K8SENSUS_CHAOS_RESULTS=$(CURDIR)/chaos/results.json \
	  cargo test --locked --test chaos -- --nocapture || status=$$?; \
	python3 chaos/render.py; exit $$status
