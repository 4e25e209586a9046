#!/usr/bin/env python3
"""A real, local Kubernetes control plane for k8sensus's tests and demo.

This is the same idea as controller-runtime's "envtest": run a real etcd and a
real kube-apiserver as ordinary local processes (no containers, no kubelet, no
controller-manager) and talk to them over loopback with a client certificate.
Nothing here is a mock: the Lease API, resourceVersion conflicts, watches,
RBAC and ServiceAccount tokens are all served by upstream Kubernetes code.

The binaries (kube-apiserver, kubectl, etcd) are built from Go modules by the
small Go module next to this file, and cached outside the repository.

Subcommands (see README.md for the details):

    controlplane.py build
        Ensure the binaries are built; print their directory as the last line
        of stdout.

    controlplane.py run --dir DIR [--lifeline-stdin] [--keep]
        Start etcd + kube-apiserver with state in DIR, print
        "READY <DIR/admin.kubeconfig>" and stay in the foreground until
        SIGTERM/SIGINT/SIGHUP or, with --lifeline-stdin, until stdin closes.
        With --lifeline-stdin, stdin also takes one command per line
        (status, stop-apiserver, kill-apiserver, start-apiserver, shutdown),
        each answered with one "OK ..." or "ERR ..." line on stdout.

    controlplane.py env --dir DIR
        Print shell "export" lines for a control plane running in DIR.

Only the Python standard library is used. Everything except the READY line and
the answers to stdin commands goes to stderr, so stdout can be parsed.
"""

from __future__ import annotations

import argparse
import base64
import ctypes
import fcntl
import hashlib
import http.client
import json
import os
import platform
import re
import secrets
import select
import shutil
import signal
import socket
import ssl
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from pathlib import Path
from typing import IO, Callable

# ---------------------------------------------------------------------------
# Versions and build settings
# ---------------------------------------------------------------------------

K8S_VERSION = "v1.33.13"
ETCD_VERSION = "v3.5.21"
# Kubernetes 1.33 asks for Go 1.24; older toolchains cannot build it.
MIN_GO = (1, 24)

# Where the Go build module lives (this file's directory).
MODULE_DIR = Path(__file__).resolve().parent
# All seven under one cache key: the control plane for the process-level tests, and the
# node components hack/cluster runs for the one-node cluster.
BINARIES = ("kube-apiserver", "kubectl", "etcd", "kube-controller-manager", "kube-scheduler",
            "kube-proxy", "kubelet")

# The version strings the binaries report. Without them `/version` says
# v0.0.0 and `kubectl version` cannot be matched to the server. Upstream sets
# the same variables in both packages (hack/lib/version.sh).
_MAJOR, _MINOR = K8S_VERSION.lstrip("v").split(".")[:2]
LDFLAGS = " ".join(
    ["-s", "-w"]
    + [
        f"-X {pkg}.{var}={val}"
        for pkg in ("k8s.io/component-base/version", "k8s.io/client-go/pkg/version")
        for var, val in (
            ("gitVersion", K8S_VERSION),
            ("gitMajor", _MAJOR),
            ("gitMinor", _MINOR),
            ("gitTreeState", "clean"),
        )
    ]
)

# How long to wait for the API server to become ready, and how often to say so.
READYZ_TIMEOUT = float(os.environ.get("K8SENSUS_READYZ_TIMEOUT", "180"))
ETCD_TIMEOUT = 60.0
STOP_GRACE = 10.0  # seconds between SIGTERM and SIGKILL on teardown
HEARTBEAT = 20.0  # seconds between "still building" lines

PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def log(msg: str) -> None:
    """Progress and diagnostics: always stderr, never stdout."""
    print(f"[controlplane] {msg}", file=sys.stderr, flush=True)


class Fatal(Exception):
    """An error that ends the program with a message and exit code 1."""


def fmt_elapsed(seconds: float) -> str:
    m, s = divmod(int(seconds), 60)
    return f"{m}m{s:02d}s" if m else f"{s}s"


# ---------------------------------------------------------------------------
# Build and cache
# ---------------------------------------------------------------------------


def cache_root() -> Path:
    """${K8SENSUS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/k8sensus}/control-plane"""
    base = os.environ.get("K8SENSUS_CACHE")
    if not base:
        xdg = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
        base = os.path.join(xdg, "k8sensus")
    return Path(base) / "control-plane"


def build_inputs() -> list[Path]:
    """Every file whose content decides what the build produces."""
    files = [MODULE_DIR / "go.mod", MODULE_DIR / "go.sum"]
    files += sorted((MODULE_DIR / "cmd").rglob("*.go"))
    return files


def cache_key() -> str:
    """Versions + platform + a short hash of the build module and ldflags.

    A changed go.mod/go.sum/main.go gives a new key and so a rebuild; an
    unchanged tree finds the binaries of an earlier run.
    """
    h = hashlib.sha256()
    for f in build_inputs():
        h.update(str(f.relative_to(MODULE_DIR)).encode() + b"\0")
        h.update(f.read_bytes() + b"\0")
    h.update(LDFLAGS.encode())
    arch = {"x86_64": "amd64", "aarch64": "arm64"}.get(platform.machine(), platform.machine())
    return f"k8s-{K8S_VERSION}-etcd-{ETCD_VERSION}-linux-{arch}-{h.hexdigest()[:12]}"


def bin_dir_complete(bin_dir: Path) -> bool:
    return all(os.access(bin_dir / b, os.X_OK) for b in BINARIES)


def die_with_parent(sig: int, parent: int) -> bool:
    """Have the kernel send sig to this process when its parent dies.

    PR_SET_PDEATHSIG delivers sig when the process that started this one dies,
    even if that process was SIGKILLed and could not clean up. parent is the
    pid the caller knows as its parent: if it already died (say between fork
    and prctl), nobody will send sig, so it is sent now. Returns False if prctl
    refused. The one implementation for both uses: a child about to exec
    (child_dies_with_us, SIGKILL) and hack/cluster's runner (SIGTERM, to tear down).
    """
    ok = _LIBC.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0
    if os.getppid() != parent:
        os.kill(os.getpid(), sig)
    return ok


def child_dies_with_us() -> None:
    """preexec_fn: make the child die with us (SIGKILL), in its own process group.

    The one for every child the runners and bench/ start.

    The own process group keeps a terminal's Ctrl-C away from the children:
    the runner receives it and tears them down in order.
    """
    os.setpgid(0, 0)
    if not die_with_parent(signal.SIGKILL, _PARENT_PID):
        os._exit(127)


# Loaded in the parent so that the child (after fork, before exec) only calls.
_LIBC = ctypes.CDLL(None, use_errno=True)
_PARENT_PID = os.getpid()


def run_with_heartbeat(cmd: list[str], cwd: Path, env: dict[str, str], what: str,
                       env_shown: str | None = None,
                       on_line: Callable[[str], None] | None = None,
                       tail: int | None = None) -> None:
    """Run a long command quietly, saying every HEARTBEAT s that it still runs.

    Its output is kept in a temporary file and shown only if it fails (only its
    last `tail` lines when given), together with the exact command, so a broken
    proxy or compiler error is obvious. env_shown is the environment printed
    before that command (default: the Go build's); hack/cluster uses this helper
    for its image builds too. on_line, when given, is called with each output
    line as it arrives (hack/cluster shows the Dockerfile's STEP lines with it).
    """
    log(f"{what}: {' '.join(_shell_quote(c) for c in cmd)}")
    start = time.monotonic()
    with tempfile.TemporaryFile(mode="w+b") as out:
        proc = subprocess.Popen(
            cmd, cwd=cwd, env=env, stdin=subprocess.DEVNULL,
            stdout=out if on_line is None else subprocess.PIPE,
            stderr=subprocess.STDOUT, preexec_fn=child_dies_with_us,
        )
        reader = None
        if on_line is not None:
            reader = threading.Thread(target=_copy_lines, args=(proc.stdout, out, on_line),
                                      daemon=True)
            reader.start()
        next_beat = start + HEARTBEAT
        try:
            while True:
                try:
                    rc = proc.wait(timeout=1.0)
                    break
                except subprocess.TimeoutExpired:
                    pass
                now = time.monotonic()
                if now >= next_beat:
                    log(f"  ... still running {what} ({fmt_elapsed(now - start)} elapsed)")
                    next_beat += HEARTBEAT
        except BaseException:  # Ctrl-C / SIGTERM: do not leave go running
            proc.kill()
            proc.wait()
            raise
        if reader is not None:
            reader.join(timeout=5)
        elapsed = time.monotonic() - start
        if rc != 0:
            out.seek(0)
            text = out.read().decode(errors="replace")
            if tail is not None:
                text = "\n".join(text.splitlines()[-tail:])
            if env_shown is None:
                env_shown = ("GOTOOLCHAIN=local CGO_ENABLED=0 "
                             f"GOFLAGS={_shell_quote(env.get('GOFLAGS', ''))} ")
            raise Fatal(
                f"{what} failed (exit {rc}) after {fmt_elapsed(elapsed)}\n"
                f"command: (cd {cwd} && {env_shown}"
                f"{' '.join(_shell_quote(c) for c in cmd)})\n"
                f"output:\n{text.rstrip()}"
            )
    log(f"{what} done in {fmt_elapsed(elapsed)}")


def _copy_lines(pipe: IO[bytes], out: IO[bytes], on_line: Callable[[str], None]) -> None:
    """run_with_heartbeat's reader: keep each output line and hand it to on_line."""
    for line in pipe:
        out.write(line)
        on_line(line.decode(errors="replace"))


def _shell_quote(s: str) -> str:
    return s if re.fullmatch(r"[\w@%+=:,./-]+", s) else "'" + s.replace("'", "'\\''") + "'"


def check_go() -> str:
    go = shutil.which("go")
    if not go:
        raise Fatal(
            "the Go toolchain (`go`) is not on PATH; it is needed once to build "
            f"Kubernetes and etcd. Install Go >= {MIN_GO[0]}.{MIN_GO[1]} "
            "and put it on PATH (or set K8SENSUS_CONTROL_PLANE_BIN to a directory "
            "that already holds the seven binaries)."
        )
    out = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                         env={**os.environ, "GOTOOLCHAIN": "local"})
    m = re.match(r"go(\d+)\.(\d+)", out.stdout.strip())
    if out.returncode != 0 or not m:
        raise Fatal(f"`go env GOVERSION` failed: {out.stdout}{out.stderr}")
    if (int(m[1]), int(m[2])) < MIN_GO:
        raise Fatal(f"{out.stdout.strip()} is too old: Kubernetes {K8S_VERSION} needs "
                    f"Go >= {MIN_GO[0]}.{MIN_GO[1]}; install a newer Go")
    return go


def ensure_built() -> Path:
    """Return the directory with the binaries, building them if needed."""
    override = os.environ.get("K8SENSUS_CONTROL_PLANE_BIN")
    if override:
        bin_dir = Path(override).resolve()
        if not bin_dir_complete(bin_dir):
            raise Fatal(f"K8SENSUS_CONTROL_PLANE_BIN={override} lacks one of {BINARIES}")
        return bin_dir

    root = cache_root()
    key = cache_key()
    final = root / key
    bin_dir = final / "bin"
    if bin_dir_complete(bin_dir):  # fast path: no lock needed to read
        return bin_dir

    root.mkdir(parents=True, exist_ok=True)
    # One lock for every key: two builds of different keys compile mostly the
    # same packages, and the second finds them in Go's build cache.
    lock_path = root / ".build.lock"
    with open(lock_path, "w") as lock:
        # One builder at a time. Others (e.g. several `cargo test` binaries
        # starting at once) wait here and then find the finished directory.
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            log(f"another process is building (for {key}); waiting for it ...")
            fcntl.flock(lock, fcntl.LOCK_EX)
        if bin_dir_complete(bin_dir):
            log("built by the other process")
            return bin_dir
        build_into(root, key, final)
    return bin_dir


def build_into(root: Path, key: str, final: Path) -> None:
    """Build in a temporary directory, then rename it into place atomically."""
    go = check_go()
    # Under the lock nobody else builds this key: leftovers are from crashes.
    for stale in root.glob(f".tmp-{key}-*"):
        shutil.rmtree(stale, ignore_errors=True)
    if final.exists():  # incomplete directory from a manual edit or old bug
        shutil.rmtree(final)

    tmp = root / f".tmp-{key}-{os.getpid()}"
    src = tmp / "src"
    out_bin = tmp / "bin"
    out_bin.mkdir(parents=True)
    # Build from a copy of the module: `go mod download` may touch go.sum, and
    # the repository's working tree must never be written by a build.
    for f in build_inputs():
        dest = src / f.relative_to(MODULE_DIR)
        dest.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(f, dest)

    env = {
        **os.environ,
        "GOTOOLCHAIN": "local",  # never try to download another toolchain
        "CGO_ENABLED": "0",  # static binaries, no C compiler needed
        "GOFLAGS": (os.environ.get("GOFLAGS", "") + " -mod=readonly").strip(),
    }
    log(f"building Kubernetes {K8S_VERSION} + etcd {ETCD_VERSION} into {final}")
    log("a cold build downloads a few hundred MB of modules and compiles for "
        "several minutes; later runs reuse the cache")
    t0 = time.monotonic()
    try:
        run_with_heartbeat([go, "mod", "download"], src, env, "step 1/2 go mod download")
        run_with_heartbeat(
            [go, "build", "-trimpath", "-ldflags", LDFLAGS, "-o", str(out_bin) + "/",
             "./cmd/..."],
            src, env, "step 2/2 go build",
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    missing = [b for b in BINARIES if not (out_bin / b).exists()]
    if missing:
        raise Fatal(f"go build succeeded but did not produce {missing}")
    goversion = subprocess.run([go, "env", "GOVERSION"], capture_output=True, text=True,
                               env=env).stdout.strip()
    (tmp / "build-info.json").write_text(json.dumps({
        "kubernetes": K8S_VERSION, "etcd": ETCD_VERSION, "go": goversion,
        "ldflags": LDFLAGS, "built_at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "build_seconds": round(time.monotonic() - t0, 1),
    }, indent=2) + "\n")
    shutil.rmtree(src)
    os.rename(tmp, final)  # atomic: readers see nothing or a complete dir
    log(f"build finished in {fmt_elapsed(time.monotonic() - t0)}")


# ---------------------------------------------------------------------------
# Certificates (openssl)
# ---------------------------------------------------------------------------


def openssl(*args: str, cwd: Path) -> None:
    proc = subprocess.run(["openssl", *args], cwd=cwd, capture_output=True, text=True)
    if proc.returncode != 0:
        raise Fatal(f"openssl {' '.join(args)} failed:\n{proc.stdout}{proc.stderr}")


LEAF_COMMON = ("basicConstraints=critical,CA:FALSE\n"
               "keyUsage=critical,digitalSignature,keyEncipherment\n"
               "authorityKeyIdentifier=keyid\n")
CERT_DAYS = "3650"


def genrsa(d: Path, names: list[str]) -> None:
    """RSA 2048 keys NAME.key in d, generated in parallel (the slow part)."""
    keygens = [subprocess.Popen(["openssl", "genrsa", "-out", f"{name}.key", "2048"], cwd=d,
                                stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
               for name in names]
    for proc in keygens:
        out, _ = proc.communicate()
        if proc.returncode != 0:
            raise Fatal(f"openssl {' '.join(proc.args[1:])} failed:\n{out.decode()}")


def sign_leaf(d: Path, name: str, subject: str, extensions: str) -> None:
    """NAME.crt for NAME.key, signed by d's CA (ca.crt, ca.key)."""
    openssl("req", "-new", "-key", f"{name}.key", "-subj", subject,
            "-out", f"{name}.csr", cwd=d)
    (d / f"{name}.ext").write_text(extensions)
    openssl("x509", "-req", "-in", f"{name}.csr", "-CA", "ca.crt", "-CAkey", "ca.key",
            "-set_serial", str(secrets.randbits(63)), "-sha256", "-days", CERT_DAYS,
            "-extfile", f"{name}.ext", "-out", f"{name}.crt", cwd=d)
    (d / f"{name}.csr").unlink()
    (d / f"{name}.ext").unlink()


def make_pki(d: Path, extra_sans: str = "IP:10.0.0.1") -> None:
    """CA, API server serving cert, admin client cert, service-account keys.

    All keys are RSA 2048 (PKCS#8 PEM, openssl 3's default). Certificates are
    valid for ten years; the directory is thrown away after the run anyway.
    extra_sans: more subjectAltNames for the serving certificate (by default
    the `kubernetes` Service's ClusterIP, the first IP of 10.0.0.0/24).
    """
    if not shutil.which("openssl"):
        raise Fatal("openssl is not on PATH: install it (Debian: apt-get install openssl)")
    genrsa(d, ["ca", "apiserver", "admin", "sa"])

    # The CA. keyCertSign is what lets it sign; rustls/webpki insist on it.
    openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", CERT_DAYS,
            "-subj", "/CN=k8sensus-test-ca",
            "-addext", "basicConstraints=critical,CA:TRUE",
            "-addext", "keyUsage=critical,keyCertSign,cRLSign,digitalSignature",
            "-addext", "subjectKeyIdentifier=hash",
            "-out", "ca.crt", cwd=d)

    # Serving certificate: the names a client may use for the API server.
    sign_leaf(d, "apiserver", "/CN=kube-apiserver",
              LEAF_COMMON + "extendedKeyUsage=serverAuth\n"
              "subjectAltName=IP:127.0.0.1,DNS:localhost,DNS:kubernetes,"
              f"DNS:kubernetes.default,DNS:kubernetes.default.svc,{extra_sans}\n")
    # Admin client: the group system:masters bypasses RBAC entirely.
    sign_leaf(d, "admin", "/O=system:masters/CN=admin",
              LEAF_COMMON + "extendedKeyUsage=clientAuth\n")

    # Service-account token signing key pair (RSA, as the API server expects).
    openssl("rsa", "-in", "sa.key", "-pubout", "-out", "sa.pub", cwd=d)
    for key in d.glob("*.key"):
        key.chmod(0o600)


def b64file(p: Path) -> str:
    return base64.b64encode(p.read_bytes()).decode()


def write_kubeconfig(path: Path, server: str, d: Path) -> None:
    """A self-contained kubeconfig: CA, client cert and key are embedded."""
    path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: k8sensus-test
  cluster:
    server: {server}
    certificate-authority-data: {b64file(d / "ca.crt")}
users:
- name: admin
  user:
    client-certificate-data: {b64file(d / "admin.crt")}
    client-key-data: {b64file(d / "admin.key")}
contexts:
- name: admin@k8sensus-test
  context:
    cluster: k8sensus-test
    user: admin
    namespace: default
current-context: admin@k8sensus-test
preferences: {{}}
""")
    path.chmod(0o600)


# ---------------------------------------------------------------------------
# Processes
# ---------------------------------------------------------------------------


def free_port() -> int:
    """A port the kernel considers free on 127.0.0.1 right now.

    There is a small window before the server binds it; start_* retry with
    fresh ports if the server then fails to bind.
    """
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def spawn(argv: list[str], logfile: Path) -> subprocess.Popen:
    """Start a child with its output appended to logfile, tied to our life."""
    with open(logfile, "ab") as out:
        out.write(f"\n==== {time.strftime('%H:%M:%S')} starting: {' '.join(argv)}\n".encode())
        out.flush()
        return subprocess.Popen(argv, stdin=subprocess.DEVNULL, stdout=out,
                                stderr=subprocess.STDOUT, preexec_fn=child_dies_with_us)


def stop_process(proc: subprocess.Popen | None, name: str, sig: int = signal.SIGTERM,
                 grace: float = STOP_GRACE) -> None:
    """Signal proc (SIGTERM by default), escalate to SIGKILL after grace s."""
    if proc is None or proc.poll() is not None:
        return
    try:
        proc.send_signal(sig)
    except ProcessLookupError:
        pass
    try:
        proc.wait(timeout=grace)
    except subprocess.TimeoutExpired:
        log(f"{name} did not stop within {grace:.0f}s; sending SIGKILL")
        proc.kill()
        proc.wait()


def tail(path: Path, lines: int = 40) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


class ControlPlane:
    """etcd + kube-apiserver with all their state in one directory."""

    def __init__(self, d: Path, bin_dir: Path):
        self.dir = d
        self.bin = bin_dir
        self.etcd: subprocess.Popen | None = None
        self.apiserver: subprocess.Popen | None = None
        self.etcd_port = 0
        self.api_port = 0
        self.kubeconfig = d / "admin.kubeconfig"
        self.apiserver_stopped_on_purpose = False
        # Set by the runner: True once a signal asked us to stop, so that a
        # `start-apiserver` still waiting for /readyz gives up at once.
        self.stop_requested = lambda: False

    @property
    def etcd_url(self) -> str:
        return f"http://127.0.0.1:{self.etcd_port}"

    @property
    def server(self) -> str:
        return f"https://127.0.0.1:{self.api_port}"

    # -- etcd ---------------------------------------------------------------

    def start_etcd(self) -> None:
        for attempt in range(3):
            self.etcd_port, peer = free_port(), free_port()
            peer_url = f"http://127.0.0.1:{peer}"
            data = self.dir / "etcd-data"
            shutil.rmtree(data, ignore_errors=True)  # a failed attempt's leftovers
            self.etcd = spawn([
                str(self.bin / "etcd"),
                "--name=k8sensus",
                f"--data-dir={data}",
                f"--listen-client-urls={self.etcd_url}",
                f"--advertise-client-urls={self.etcd_url}",
                f"--listen-peer-urls={peer_url}",
                f"--initial-advertise-peer-urls={peer_url}",
                f"--initial-cluster=k8sensus={peer_url}",
                "--initial-cluster-state=new",
                "--unsafe-no-fsync",  # tests: speed over durability
                "--log-level=warn",
            ], self.dir / "etcd.log")
            if self._wait_etcd():
                log(f"etcd ready at {self.etcd_url} (pid {self.etcd.pid})")
                return
            log(f"etcd exited early (attempt {attempt + 1}); retrying with other ports")
        raise Fatal(f"etcd did not start; last lines of {self.dir / 'etcd.log'}:\n"
                    f"{tail(self.dir / 'etcd.log')}")

    def _wait_etcd(self) -> bool:
        deadline = time.monotonic() + ETCD_TIMEOUT
        while time.monotonic() < deadline:
            if self.etcd.poll() is not None:
                return False
            try:
                with urllib.request.urlopen(f"{self.etcd_url}/health", timeout=2) as r:
                    if json.load(r).get("health") == "true":
                        return True
            except (OSError, ValueError, http.client.HTTPException):
                pass
            time.sleep(0.2)
        stop_process(self.etcd, "etcd", signal.SIGKILL)
        raise Fatal(f"etcd not healthy after {ETCD_TIMEOUT:.0f}s:\n{tail(self.dir / 'etcd.log')}")

    # -- kube-apiserver -------------------------------------------------------

    def apiserver_argv(self) -> list[str]:
        d = self.dir
        return [
            str(self.bin / "kube-apiserver"),
            f"--etcd-servers={self.etcd_url}",
            "--bind-address=127.0.0.1",
            "--advertise-address=127.0.0.1",
            f"--secure-port={self.api_port}",
            f"--cert-dir={d / 'apiserver-certs'}",
            f"--tls-cert-file={d / 'apiserver.crt'}",
            f"--tls-private-key-file={d / 'apiserver.key'}",
            f"--client-ca-file={d / 'ca.crt'}",
            "--authorization-mode=RBAC",
            "--service-account-issuer=https://kubernetes.default.svc",
            f"--service-account-key-file={d / 'sa.pub'}",
            f"--service-account-signing-key-file={d / 'sa.key'}",
            "--service-cluster-ip-range=10.0.0.0/24",
            # No kubelet/nodes: do not maintain the `kubernetes` Endpoints.
            "--endpoint-reconciler-type=none",
        ]

    def start_apiserver(self, keep_port: bool = False) -> None:
        """Start kube-apiserver and wait for /readyz; a restart reuses the port."""
        attempts = 1 if keep_port else 3
        for attempt in range(attempts):
            if not keep_port:
                self.api_port = free_port()
            self.apiserver = spawn(self.apiserver_argv(), self.dir / "apiserver.log")
            if self._wait_readyz():
                return
            if attempt + 1 < attempts:
                log(f"kube-apiserver exited early (attempt {attempt + 1}); retrying")
        raise Fatal(f"kube-apiserver did not start; last lines of "
                    f"{self.dir / 'apiserver.log'}:\n{tail(self.dir / 'apiserver.log')}")

    def _ssl_context(self) -> ssl.SSLContext:
        ctx = ssl.create_default_context(cafile=str(self.dir / "ca.crt"))
        ctx.load_cert_chain(str(self.dir / "admin.crt"), str(self.dir / "admin.key"))
        return ctx

    def _wait_readyz(self) -> bool:
        """True once /readyz answers 200; False if the process exits first."""
        ctx = self._ssl_context()
        start = time.monotonic()
        next_note = start + 10
        while True:
            if self.apiserver.poll() is not None:
                return False
            if self.stop_requested():
                raise Fatal("interrupted while waiting for /readyz")
            try:
                with urllib.request.urlopen(f"{self.server}/readyz", context=ctx,
                                            timeout=5) as r:
                    if r.status == 200:
                        log(f"kube-apiserver ready at {self.server} (pid {self.apiserver.pid},"
                            f" {time.monotonic() - start:.1f}s)")
                        return True
            except (OSError, http.client.HTTPException):
                pass  # not listening yet, or 500 while post-start hooks run
            now = time.monotonic()
            if now - start > READYZ_TIMEOUT:
                stop_process(self.apiserver, "kube-apiserver", signal.SIGKILL)
                raise Fatal(f"kube-apiserver not ready after {READYZ_TIMEOUT:.0f}s; "
                            f"last lines of its log:\n{tail(self.dir / 'apiserver.log')}")
            if now >= next_note:
                log(f"waiting for kube-apiserver /readyz ({fmt_elapsed(now - start)} elapsed)")
                next_note += 10
            time.sleep(0.25)

    def apiserver_running(self) -> bool:
        return self.apiserver is not None and self.apiserver.poll() is None

    # -- whole ----------------------------------------------------------------

    def start(self) -> None:
        make_pki(self.dir)
        self.start_etcd()
        self.start_apiserver()
        write_kubeconfig(self.kubeconfig, self.server, self.dir)
        self.write_state()

    def write_state(self) -> None:
        state = {
            "server": self.server,
            "kubeconfig": str(self.kubeconfig),
            "kubectl": str(self.bin / "kubectl"),
            "bin_dir": str(self.bin),
            "apiserver_pid": self.apiserver.pid if self.apiserver_running() else None,
            "etcd_pid": self.etcd.pid if self.etcd else None,
            "etcd_url": self.etcd_url,
            "ca_file": str(self.dir / "ca.crt"),
            "runner_pid": os.getpid(),
            "kubernetes_version": K8S_VERSION,
        }
        tmp = self.dir / "state.json.tmp"
        tmp.write_text(json.dumps(state, indent=2) + "\n")
        os.replace(tmp, self.dir / "state.json")

    def stop(self) -> None:
        """Apiserver first (it flushes to etcd), then etcd."""
        stop_process(self.apiserver, "kube-apiserver")
        stop_process(self.etcd, "etcd")


# ---------------------------------------------------------------------------
# run: the foreground loop and the stdin protocol
# ---------------------------------------------------------------------------


def reply(line: str) -> None:
    """One answer line on stdout. A closed stdout is not our problem."""
    try:
        sys.stdout.write(line + "\n")
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        pass


def handle_command(cp: ControlPlane, cmd: str) -> bool:
    """Execute one stdin command; return False when the runner should exit."""
    if cmd == "status":
        api = f"running pid={cp.apiserver.pid}" if cp.apiserver_running() else "stopped"
        etcd = "running" if cp.etcd and cp.etcd.poll() is None else "stopped"
        reply(f"OK apiserver={api} etcd={etcd} server={cp.server}")
    elif cmd in ("stop-apiserver", "kill-apiserver"):
        if not cp.apiserver_running():
            reply("OK apiserver already stopped")
        else:
            sig = signal.SIGTERM if cmd == "stop-apiserver" else signal.SIGKILL
            cp.apiserver_stopped_on_purpose = True
            stop_process(cp.apiserver, "kube-apiserver", sig)
            cp.write_state()
            reply("OK apiserver stopped" if cmd == "stop-apiserver" else "OK apiserver killed")
    elif cmd == "start-apiserver":
        if cp.apiserver_running():
            reply(f"ERR apiserver already running pid={cp.apiserver.pid}")
        else:
            try:
                cp.apiserver_stopped_on_purpose = False
                cp.start_apiserver(keep_port=True)
                cp.write_state()
                reply(f"OK apiserver ready pid={cp.apiserver.pid}")
            except Fatal as e:
                first = str(e).splitlines()[0]
                reply(f"ERR {first} (see {cp.dir / 'apiserver.log'})")
    elif cmd == "shutdown":
        reply("OK shutting down")
        return False
    elif cmd:
        reply(f"ERR unknown command {cmd!r} (status, stop-apiserver, kill-apiserver, "
              "start-apiserver, shutdown)")
    return True



class StopSignals:
    """SIGTERM, SIGINT and SIGHUP as a request to stop, for a runner that starts children.

    While it starts up (`serving` false) a signal raises KeyboardInterrupt, which unwinds
    to the runner's teardown. Once it serves, a signal only records its name in `reasons`
    and, through the wakeup fd, makes `wake_r` readable, so that select() returns and the
    teardown happens in the main loop's own time. Set `serving` again before the teardown:
    a second signal must not interrupt it. `wake=False` leaves the wakeup fd alone (for a
    loop that polls instead).
    """

    def __init__(self, wake: bool = True):
        self.reasons: list[str] = []
        self.serving = False
        self.wake_r: int | None = None
        if wake:
            self.wake_r, wake_w = os.pipe()
            os.set_blocking(wake_w, False)
            signal.set_wakeup_fd(wake_w)
        for s in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(s, self._on_signal)

    def _on_signal(self, signum, _frame):
        self.reasons.append(signal.Signals(signum).name)
        if not self.serving:
            raise KeyboardInterrupt

    def drain(self, ready: list) -> None:
        """Empties the wakeup pipe if select() found it readable."""
        if self.wake_r is not None and self.wake_r in ready:
            os.read(self.wake_r, 512)


def lifeline_commands(buf: bytearray) -> list[str] | None:
    """Reads what stdin has (after select() said it is readable) into `buf` and returns
    the whole command lines received, or None when stdin has closed: the lifeline, whose
    end means stop."""
    chunk = os.read(0, 4096)
    if not chunk:
        return None
    buf += chunk
    lines = []
    while b"\n" in buf:
        raw, _, rest = bytes(buf).partition(b"\n")
        buf[:] = rest
        lines.append(raw.decode(errors="replace").strip())
    return lines

def cmd_run(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve()
    if d.exists() and any(d.iterdir()):
        raise Fatal(f"{d} is not empty; give run a new or empty directory")
    d.mkdir(parents=True, exist_ok=True)

    cp = ControlPlane(d, Path("."))
    code = 0
    # Signals: during startup they abort it (KeyboardInterrupt unwinds to the
    # teardown below); once READY they only set a flag and wake up select()
    # through the wakeup fd, so teardown happens in the main loop's own time.
    stop = StopSignals()
    cp.stop_requested = lambda: bool(stop.reasons)
    # A reader that goes away must not kill us before the children are down.
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    try:
        cp.bin = ensure_built()
        t0 = time.monotonic()
        cp.start()
        log(f"control plane up in {time.monotonic() - t0:.1f}s; state in {d / 'state.json'}")
        stop.serving = True
        reply(f"READY {cp.kubeconfig}")

        buf = bytearray()
        stdin_open = args.lifeline_stdin
        etcd_warned = api_warned = False
        while not stop.reasons:
            fds = [stop.wake_r] + ([0] if stdin_open else [])
            try:
                ready, _, _ = select.select(fds, [], [], 1.0)
            except InterruptedError:
                continue
            stop.drain(ready)
            if 0 in ready:
                commands = lifeline_commands(buf)
                if commands is None:
                    log("stdin closed (lifeline); shutting down")
                    break
                if not all(handle_command(cp, command) for command in commands):
                    break
            # Tell the operator (once) if a child died without being told to.
            if cp.etcd.poll() is not None and not etcd_warned:
                log(f"etcd exited unexpectedly (code {cp.etcd.returncode}); see {d / 'etcd.log'}")
                etcd_warned = True
            if not cp.apiserver_running() and not cp.apiserver_stopped_on_purpose \
                    and not api_warned:
                log(f"kube-apiserver exited unexpectedly (code {cp.apiserver.returncode}); "
                    f"see {d / 'apiserver.log'}")
                api_warned = True
            if cp.apiserver_running():
                api_warned = False
        if stop.reasons:
            log(f"received {stop.reasons[0]}; shutting down")
    except KeyboardInterrupt:
        log("interrupted during startup; shutting down")
        code = 130
    except Fatal as e:
        log(f"error: {e}")
        code = 1
    finally:
        stop.serving = True  # a second signal must not interrupt the teardown
        cp.stop()
        if args.keep:
            log(f"kept {d}")
        else:
            shutil.rmtree(d, ignore_errors=True)
        log("stopped")
    return code


# ---------------------------------------------------------------------------
# Entry point
# ---------------------------------------------------------------------------


def cmd_build(_args: argparse.Namespace) -> int:
    bin_dir = ensure_built()
    log(f"binaries: {', '.join(BINARIES)}")
    print(bin_dir, flush=True)
    return 0


def cmd_env(args: argparse.Namespace) -> int:
    state_file = Path(args.dir).resolve() / "state.json"
    try:
        state = json.loads(state_file.read_text())
    except OSError:
        raise Fatal(f"no {state_file}: is `controlplane.py run --dir {args.dir}` running?")
    print(f"export KUBECONFIG={_shell_quote(state['kubeconfig'])}")
    print(f"export PATH={_shell_quote(state['bin_dir'])}:\"$PATH\"")
    return 0


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("build", help="build (or find cached) binaries; print their directory")
    r = sub.add_parser("run", help="run etcd + kube-apiserver until told to stop")
    r.add_argument("--dir", required=True, help="new or empty directory for all state")
    r.add_argument("--lifeline-stdin", action="store_true",
                   help="stop when stdin closes; read control commands from it")
    r.add_argument("--keep", action="store_true", help="do not delete DIR on exit")
    e = sub.add_parser("env", help="print shell exports for a running control plane")
    e.add_argument("--dir", required=True)
    args = p.parse_args(argv)

    # SIGTERM/SIGHUP unwind like Ctrl-C, so that an interrupted build kills
    # `go` and removes its temporary directory (`run` installs its own).
    def interrupt(_signum, _frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, interrupt)
    signal.signal(signal.SIGHUP, interrupt)
    try:
        return {"build": cmd_build, "run": cmd_run, "env": cmd_env}[args.command](args)
    except Fatal as err:
        log(f"error: {err}")
        return 1
    except KeyboardInterrupt:
        log("interrupted")
        return 130


if __name__ == "__main__":
    sys.exit(main())
