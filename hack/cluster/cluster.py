#!/usr/bin/env python3
"""A real one-node Kubernetes cluster on this machine, inside namespaces of its own.

    cluster.py run --dir DIR [--lifeline-stdin] [--keep] [--image ARCHIVE ...]
        Build (or find cached) the binaries and images, start the cluster (with
        each --image docker-archive imported into containerd too), print
        "READY <DIR/admin.kubeconfig>" on stdout, and stay in the foreground until
        SIGTERM/SIGINT/SIGHUP, or with --lifeline-stdin until stdin closes. With
        --lifeline-stdin, stdin takes one command per line, each answered with one
        "OK ..." or "ERR ..." line: status, egress (the guard's counter), shutdown.
    cluster.py check
        Only the preflight: exit 0 if the cluster can run here, else 1 with the reason.

What runs: etcd, kube-apiserver, kube-controller-manager, kube-scheduler (built by
hack/control-plane), containerd with runc and Debian's CNI bridge plugin, kube-proxy
(iptables mode) and a kubelet, all v1.33.13, in one new network namespace and one private
mount namespace (`unshare --net --mount --propagation slave`). The process that holds
them is this script's "inner" half; every daemon is its child. No netns is named on the
host (nothing under /run/netns), so two runs never collide.

The network namespace: loopback, a veth pair with both ends inside (the node interface,
10.203.0.1/24, and a default route on it), and the CNI bridge for pods (10.244.0.0/24).
Nothing connects it to the host's namespace. An nftables rule counts and drops anything
routed out of the node interface (postrouting, after kube-proxy's DNAT): the egress guard,
whose counter the tests assert is 0. The host reaches the API server through a TCP relay
this runner keeps on 127.0.0.1 (host loopback -> the apiserver on the namespace's
loopback), which is the server the printed kubeconfig names.

The mount namespace shadows every host path a component writes to with a tmpfs or a bind
mount (see MOUNTS), gives the kubelet a resolv.conf with only 127.0.0.1 (DNS never
leaves), and answers the kubelet's machine-wide sysctls with files (see SYSCTLS). Mount
points that do not exist on the host are created and removed again. The kubelet's cgroups
live under /k8sensus-<run> in every hierarchy, created here and removed bottom-up.

Teardown, on every exit path: kube-proxy and the kubelet stop, every container is killed
and deleted through containerd, then containerd and the control plane stop; any process
still in the namespace or the cgroups is killed; cgroups, mount points and DIR are removed.
If this runner is killed outright, a small guard process it started does the same.
Only the Python standard library is used; progress goes to stderr.
"""

from __future__ import annotations

import argparse
import ctypes
import json
import os
import secrets
import select
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent / "control-plane"))
sys.path.insert(0, str(HERE))
import controlplane as cp  # noqa: E402
import images  # noqa: E402

Fatal = cp.Fatal

NODE = "k8sensus-node"
NODE_IF, PEER_IF = "k8sn0", "k8sn1"
NODE_IP, PEER_IP = "10.203.0.1", "10.203.0.2"
POD_CIDR = "10.244.0.0/24"
SERVICE_CIDR = "10.96.0.0/24"
KUBERNETES_SVC_IP = "10.96.0.1"
CNI_BIN = Path("/usr/lib/cni")
NFT_TABLE = "k8sensus_guard"

# Host paths the components write to whatever their flags say: a tmpfs over each, inside
# the private mount namespace, so nothing lands on the host.
MOUNTS = ["/var/lib/cni", "/run/containerd", "/run/runc", "/var/lib/kubelet",
          "/var/log/containers", "/var/log/pods", "/etc/cni"]
# Machine-wide sysctls the kubelet sets at start (pkg/kubelet/cm setupKernelTunables).
# Where the host's value differs, a file with the wanted value is bind-mounted over the
# /proc/sys entry inside the mount namespace: the kubelet is satisfied, the host unchanged.
SYSCTLS = {"vm/overcommit_memory": "1", "vm/panic_on_oom": "0", "kernel/panic": "10",
           "kernel/panic_on_oops": "1", "kernel/keys/root_maxkeys": "1000000",
           "kernel/keys/root_maxbytes": "25000000"}
TOOLS = ["containerd", "containerd-shim-runc-v2", "runc", "ctr", "nft", "iptables", "ip",
         "unshare", "nsenter", "openssl"]
CNI_PLUGINS = ["bridge", "host-local", "loopback"]
START_TIMEOUT = float(os.environ.get("K8SENSUS_CLUSTER_TIMEOUT", "240"))


def log(msg: str) -> None:
    print(f"[cluster] {msg}", file=sys.stderr, flush=True)


def run(*argv: str, check: bool = True, timeout: float = 60) -> subprocess.CompletedProcess:
    proc = subprocess.run(list(argv), capture_output=True, text=True, timeout=timeout,
                          stdin=subprocess.DEVNULL)
    if check and proc.returncode != 0:
        raise Fatal(f"`{' '.join(argv)}` failed (exit {proc.returncode}): "
                    f"{(proc.stderr or proc.stdout).strip()}")
    return proc


# ---------------------------------------------------------------------------
# preflight: fail fast, saying what is missing
# ---------------------------------------------------------------------------


def preflight() -> None:
    if os.geteuid() != 0:
        raise Fatal("the cluster needs root (namespaces, mounts, cgroups, nftables); "
                    "run as root, e.g. `sudo make cluster`")
    missing = [t for t in TOOLS if not shutil.which(t)]
    missing += [f"{CNI_BIN}/{p}" for p in CNI_PLUGINS if not (CNI_BIN / p).exists()]
    if missing:
        raise Fatal(f"missing {', '.join(missing)}: run `make deps` (Debian packages "
                    "containerd runc containernetworking-plugins iptables nftables)")
    if "overlay" not in Path("/proc/filesystems").read_text():
        raise Fatal("the kernel has no overlayfs (containerd's snapshotter needs it)")
    if not Path("/sys/fs/cgroup/memory/cgroup.procs").exists() and \
            not Path("/sys/fs/cgroup/cgroup.controllers").exists():
        raise Fatal("no cgroup hierarchy with the memory controller under /sys/fs/cgroup")
    # Namespaces, veth, bridge and nf_tables, tried in a throwaway network namespace.
    probe = ("ip link add p0 type veth peer name p1 || { echo 'no veth links'; exit 3; }; "
             "ip link add pb0 type bridge || { echo 'no bridge links'; exit 3; }; "
             "nft add table inet probe || { echo 'no nf_tables'; exit 3; }")
    proc = subprocess.run(["unshare", "--net", "--mount", "--propagation", "slave",
                           "sh", "-c", probe], capture_output=True, text=True, timeout=30)
    if proc.returncode != 0:
        raise Fatal("the kernel cannot run the cluster: "
                    f"{(proc.stdout + proc.stderr).strip() or 'unshare --net --mount failed'}")


# ---------------------------------------------------------------------------
# host-side cleanup (the runner on exit, or the guard if the runner was killed)
# ---------------------------------------------------------------------------


def cgroup_dirs(name: str) -> list[Path]:
    """Our cgroup root in every mounted hierarchy (v1 controllers and v2)."""
    out = []
    for line in Path("/proc/self/mounts").read_text().splitlines():
        parts = line.split()
        if parts[2] in ("cgroup", "cgroup2"):
            p = Path(parts[1]) / name
            if p.is_dir():
                out.append(p)
    return out


def ns_inode(pid: int, ns: str) -> int | None:
    try:
        return os.stat(f"/proc/{pid}/ns/{ns}").st_ino
    except OSError:
        return None


def our_pids(state: dict) -> set[int]:
    """Every live process in our network or mount namespace, or in our cgroups."""
    pids: set[int] = set()
    net, mnt = state.get("netns_inode"), state.get("mntns_inode")
    me = os.getpid()
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == me:
            continue
        pid = int(entry)
        try:
            st = Path(f"/proc/{pid}/stat").read_text()
            if st.rsplit(")", 1)[1].split()[0] == "Z":
                continue  # a zombie is stopped; its parent reaps it
        except OSError:
            continue
        if (net and ns_inode(pid, "net") == net) or (mnt and ns_inode(pid, "mnt") == mnt):
            pids.add(pid)
    for d in cgroup_dirs(state.get("cgroup", "-")):
        for procs in d.rglob("cgroup.procs"):
            try:
                pids.update(int(x) for x in procs.read_text().split())
            except OSError:
                pass
    pids.discard(me)
    return pids


def host_cleanup(d: Path, keep: bool = False) -> list[str]:
    """Kill what is left, remove cgroups, created mount points and DIR. Returns problems."""
    problems = []
    try:
        state = json.loads((d / "host-state.json").read_text())
    except (OSError, ValueError):
        state = {}
    for _ in range(50):
        pids = our_pids(state)
        if not pids:
            break
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        time.sleep(0.1)
    else:
        problems.append(f"processes still alive: {sorted(our_pids(state))}")
    for root in cgroup_dirs(state.get("cgroup", "-")):
        for sub in sorted((p for p in root.rglob("*") if p.is_dir()),
                          key=lambda p: len(p.parts), reverse=True) + [root]:
            for _ in range(20):
                try:
                    sub.rmdir()
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    time.sleep(0.1)
            else:
                problems.append(f"cgroup {sub} not removed")
    for created in reversed(state.get("created_dirs", [])):
        try:
            os.rmdir(created)
        except FileNotFoundError:
            pass
        except OSError as e:
            problems.append(f"mount point {created}: {e}")
    if not keep:
        shutil.rmtree(d, ignore_errors=True)
        if d.exists():
            problems.append(f"{d} not removed")
    return problems


def guard_main(d: Path) -> int:
    """Wait for the runner's pipe to close; if it did not say "done", clean up."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGHUP, signal.SIG_IGN)
    data = b""
    while True:
        chunk = os.read(0, 64)
        if not chunk:
            break
        data += chunk
    if b"done" not in data:
        problems = host_cleanup(d)
        print(f"[cluster-guard] the runner died; cleaned up {d}"
              + (f" (problems: {problems})" if problems else ""), file=sys.stderr)
    return 0


# ---------------------------------------------------------------------------
# the inner half: inside the new network and mount namespaces
# ---------------------------------------------------------------------------


class Inner(cp.ControlPlane):
    """etcd and kube-apiserver (from controlplane.py) plus the node's components."""

    def __init__(self, d: Path, bin_dir: Path, run_id: str, images: list[Path]):
        super().__init__(d / "pki", bin_dir)
        self.state = d
        self.run_id = run_id
        self.images = images
        self.procs: dict[str, subprocess.Popen] = {}
        self.logs = d / "logs"

    # -- the namespace's network, mounts, guard --------------------------------

    def setup_namespace(self) -> None:
        s = self.state
        run("ip", "link", "set", "lo", "up")
        run("ip", "link", "add", NODE_IF, "type", "veth", "peer", "name", PEER_IF)
        for ifname in (NODE_IF, PEER_IF):
            # IPv6 off, or the kernel's own link-up chatter (router solicitations) counts.
            v6 = Path(f"/proc/sys/net/ipv6/conf/{ifname}/disable_ipv6")
            if v6.exists():
                v6.write_text("1")
        # The peer end has no address: everything but the node's own and the pods'
        # addresses routes out of the node interface, into the guard below, including
        # the default gateway PEER_IP (which the tests use to see that the guard counts).
        run("ip", "addr", "add", f"{NODE_IP}/24", "dev", NODE_IF)
        run("ip", "link", "set", NODE_IF, "up")
        run("ip", "link", "set", PEER_IF, "up")
        run("ip", "route", "add", "default", "via", PEER_IP, "dev", NODE_IF)
        Path("/proc/sys/net/ipv4/ip_forward").write_text("1")
        nf = Path("/proc/sys/net/bridge/bridge-nf-call-iptables")
        if nf.exists():
            nf.write_text("1")
        guard = f"""table inet {NFT_TABLE} {{
  counter egress {{ }}
  chain postrouting {{
    type filter hook postrouting priority 300; policy accept;
    oifname "{NODE_IF}" counter name egress drop
  }}
}}
"""
        (s / "guard.nft").write_text(guard)
        run("nft", "-f", str(s / "guard.nft"))

        created: list[str] = []
        for m in MOUNTS:
            p = Path(m)
            missing = []
            q = p
            while not q.exists():
                missing.append(q)
                q = q.parent
            for q in reversed(missing):
                q.mkdir()
                created.append(str(q))
            run("mount", "-t", "tmpfs", "-o", "mode=755", "tmpfs", m)
        self.created_dirs = created
        etc = s / "etc"
        etc.mkdir()
        (etc / "resolv.conf").write_text("nameserver 127.0.0.1\n")
        (etc / "hosts").write_text(f"127.0.0.1 localhost\n{NODE_IP} {NODE}\n")
        run("mount", "--bind", str(etc / "resolv.conf"), "/etc/resolv.conf")
        run("mount", "--bind", str(etc / "hosts"), "/etc/hosts")
        sysctl_dir = s / "sysctl"
        sysctl_dir.mkdir()
        for key, want in SYSCTLS.items():
            real = Path("/proc/sys") / key
            if real.exists() and real.read_text().strip() != want:
                f = sysctl_dir / key.replace("/", ".")
                f.write_text(want + "\n")
                run("mount", "--bind", str(f), str(real))
        # The kubelet's cgroup root, in every hierarchy; cpuset needs its cpus and mems.
        for line in Path("/proc/self/mounts").read_text().splitlines():
            parts = line.split()
            if parts[2] in ("cgroup", "cgroup2"):
                g = Path(parts[1]) / self.cgroup
                g.mkdir(exist_ok=True)
                if "cpuset" in parts[3].split(","):
                    for f in ("cpuset.cpus", "cpuset.mems"):
                        (g / f).write_text((Path(parts[1]) / f).read_text())

    @property
    def cgroup(self) -> str:
        return f"k8sensus-{self.run_id}"

    def egress(self) -> tuple[int, int]:
        out = run("nft", "-j", "list", "counter", "inet", NFT_TABLE, "egress").stdout
        for item in json.loads(out)["nftables"]:
            if "counter" in item:
                return item["counter"]["packets"], item["counter"]["bytes"]
        raise Fatal(f"no counter in {out}")

    # -- certificates and kubeconfigs ----------------------------------------

    def pki(self) -> None:
        d = self.dir
        d.mkdir()
        cp.make_pki(d, extra_sans=f"IP:{KUBERNETES_SVC_IP},IP:{NODE_IP},DNS:{NODE}")
        clients = {
            "controller-manager": "/CN=system:kube-controller-manager",
            "scheduler": "/CN=system:kube-scheduler",
            "kubelet": f"/O=system:nodes/CN=system:node:{NODE}",
            "proxy": "/CN=system:kube-proxy",
            "apiserver-kubelet-client": "/O=system:masters/CN=kube-apiserver-kubelet-client",
        }
        cp.genrsa(d, list(clients))
        for name, subj in clients.items():
            cp.sign_leaf(d, name, subj, cp.LEAF_COMMON + "extendedKeyUsage=clientAuth\n")

    def kubeconfig_for(self, name: str) -> Path:
        path = self.state / f"{name}.kubeconfig"
        d = self.dir
        path.write_text(f"""apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {{server: "{self.server}", certificate-authority: "{d / 'ca.crt'}"}}
users:
- name: {name}
  user: {{client-certificate: "{d / (name + '.crt')}", client-key: "{d / (name + '.key')}"}}
contexts:
- name: {name}
  context: {{cluster: local, user: {name}}}
current-context: {name}
""")
        return path

    # -- processes --------------------------------------------------------------

    def start(self, name: str, argv: list[str]) -> subprocess.Popen:
        proc = cp.spawn(argv, self.logs / f"{name}.log")
        self.procs[name] = proc
        return proc

    def apiserver_argv(self) -> list[str]:
        d = self.dir
        argv = [a for a in super().apiserver_argv()
                if not a.startswith(("--bind-address", "--advertise-address",
                                     "--authorization-mode", "--service-cluster-ip-range",
                                     "--endpoint-reconciler-type"))]
        return argv + [
            "--bind-address=0.0.0.0",  # the namespace's addresses only
            f"--advertise-address={NODE_IP}",
            "--authorization-mode=Node,RBAC",
            "--enable-admission-plugins=NodeRestriction",
            f"--service-cluster-ip-range={SERVICE_CIDR}",
            f"--kubelet-client-certificate={d / 'apiserver-kubelet-client.crt'}",
            f"--kubelet-client-key={d / 'apiserver-kubelet-client.key'}",
            # Else `kubectl logs` makes the apiserver resolve the node's name.
            "--kubelet-preferred-address-types=InternalIP",
        ]

    def wait_for(self, what: str, test, timeout: float = START_TIMEOUT) -> None:
        t0 = time.monotonic()
        next_note = t0 + 15
        while not test():
            for name, p in self.procs.items():
                if p.poll() is not None:
                    raise Fatal(f"{name} exited (code {p.returncode}) while waiting for "
                                f"{what}; last lines of its log:\n"
                                f"{cp.tail(self.logs / (name + '.log'))}")
            now = time.monotonic()
            if now - t0 > timeout:
                raise Fatal(f"timed out after {timeout:.0f}s waiting for {what}")
            if now >= next_note:
                log(f"waiting for {what} ({cp.fmt_elapsed(now - t0)})")
                next_note += 15
            time.sleep(0.3)

    def kubectl(self, *args: str, check: bool = False) -> subprocess.CompletedProcess:
        return run(str(self.bin / "kubectl"), f"--kubeconfig={self.kubeconfig}", *args,
                   check=check)

    def ctr(self, *args: str, check: bool = False,
            timeout: float = 120) -> subprocess.CompletedProcess:
        try:
            return run("ctr", f"--address={self.containerd_sock}", "-n", "k8s.io", *args,
                       check=check, timeout=timeout)
        except subprocess.TimeoutExpired:
            if check:
                raise Fatal(f"ctr {' '.join(args)} timed out after {timeout:.0f}s")
            return subprocess.CompletedProcess(args, 1, "", "timed out")

    @property
    def containerd_sock(self) -> Path:
        return self.state / "containerd" / "containerd.sock"

    def start_all(self) -> None:
        s = self.state
        self.logs.mkdir()
        t = time.monotonic()
        self.pki()
        self.start_etcd()
        self.start_apiserver()
        cp.write_kubeconfig(self.kubeconfig, self.server, self.dir)
        log(f"etcd and kube-apiserver up ({time.monotonic() - t:.1f}s)")

        d = self.dir
        b = str(self.bin)
        cm_kubeconfig = self.kubeconfig_for("controller-manager")
        sched_kubeconfig = self.kubeconfig_for("scheduler")
        self.start("kube-controller-manager", [
            f"{b}/kube-controller-manager", f"--kubeconfig={cm_kubeconfig}",
            f"--authentication-kubeconfig={cm_kubeconfig}",
            f"--authorization-kubeconfig={cm_kubeconfig}",
            "--leader-elect=false", "--use-service-account-credentials=true",
            f"--service-account-private-key-file={d / 'sa.key'}",
            f"--root-ca-file={d / 'ca.crt'}",
            f"--cluster-signing-cert-file={d / 'ca.crt'}",
            f"--cluster-signing-key-file={d / 'ca.key'}",
            "--bind-address=127.0.0.1", "--secure-port=10257",
            f"--cert-dir={s / 'controller-manager-certs'}",
        ])
        self.start("kube-scheduler", [
            f"{b}/kube-scheduler", f"--kubeconfig={sched_kubeconfig}",
            f"--authentication-kubeconfig={sched_kubeconfig}",
            f"--authorization-kubeconfig={sched_kubeconfig}",
            "--leader-elect=false", "--bind-address=127.0.0.1", "--secure-port=10259",
            f"--cert-dir={s / 'scheduler-certs'}",
        ])

        # containerd, with every path under DIR.
        c = s / "containerd"
        (s / "cni").mkdir()
        c.mkdir()
        (s / "cni" / "10-k8sensus.conflist").write_text(json.dumps({
            "cniVersion": "1.0.0", "name": "k8sensus-pods",
            "plugins": [
                {"type": "bridge", "bridge": "cni0", "isGateway": True, "ipMasq": False,
                 "hairpinMode": True,
                 "ipam": {"type": "host-local", "ranges": [[{"subnet": POD_CIDR}]],
                          "routes": [{"dst": "0.0.0.0/0"}], "dataDir": str(s / "cni-ipam")}},
                {"type": "loopback"},
            ]}, indent=1))
        (c / "config.toml").write_text(f"""version = 2
root = "{c / 'root'}"
state = "{c / 'state'}"
[grpc]
  address = "{self.containerd_sock}"
[ttrpc]
  address = "{c / 'containerd.sock.ttrpc'}"
[plugins."io.containerd.internal.v1.opt"]
  path = "{c / 'opt'}"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "{images.PAUSE}"
  restrict_oom_score_adj = true
  netns_mounts_under_state_dir = true
  enable_cdi = false
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "{CNI_BIN}"
    conf_dir = "{s / 'cni'}"
""")
        self.start("containerd", ["containerd", f"--config={c / 'config.toml'}",
                                  "--log-level=warn"])
        self.wait_for("containerd's socket",
                      lambda: self.containerd_sock.exists()
                      and self.ctr("version").returncode == 0, timeout=60)
        t = time.monotonic()
        for archive in self.images:
            self.ctr("images", "import", "--snapshotter=overlayfs", str(archive), check=True)
        log(f"images imported into containerd ({time.monotonic() - t:.1f}s)")

        kl = s / "kubelet"
        kl.mkdir()
        (kl / "config.yaml").write_text(f"""apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
authentication:
  anonymous: {{enabled: false}}
  webhook: {{enabled: true}}
  x509: {{clientCAFile: "{d / 'ca.crt'}"}}
authorization: {{mode: Webhook}}
address: {NODE_IP}
port: 10250
healthzBindAddress: 127.0.0.1
readOnlyPort: 0
cgroupDriver: cgroupfs
cgroupRoot: /{self.cgroup}
failCgroupV1: false
failSwapOn: false
podCIDR: {POD_CIDR}
resolvConf: {s / 'etc' / 'resolv.conf'}
podLogsDir: {s / 'pod-logs'}
containerRuntimeEndpoint: unix://{self.containerd_sock}
imageServiceEndpoint: unix://{self.containerd_sock}
evictionHard: {{memory.available: "1Mi", nodefs.available: "1%", nodefs.inodesFree: "1%",
               imagefs.available: "1%"}}
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
makeIPTablesUtilChains: true
serializeImagePulls: false
""")
        self.start("kubelet", [
            f"{b}/kubelet", f"--config={kl / 'config.yaml'}",
            f"--kubeconfig={self.kubeconfig_for('kubelet')}",
            f"--root-dir={kl / 'root'}", f"--cert-dir={kl / 'pki'}",
            f"--hostname-override={NODE}", f"--node-ip={NODE_IP}", "--v=1",
        ])
        (s / "kube-proxy.yaml").write_text(f"""apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
clientConnection: {{kubeconfig: "{self.kubeconfig_for('proxy')}"}}
mode: iptables
clusterCIDR: {POD_CIDR}
hostnameOverride: {NODE}
bindAddress: {NODE_IP}
healthzBindAddress: 127.0.0.1:10256
metricsBindAddress: 127.0.0.1:10249
conntrack: {{maxPerCore: 0, min: 0, tcpEstablishedTimeout: 0s, tcpCloseWaitTimeout: 0s}}
""")
        self.start("kube-proxy", [f"{b}/kube-proxy", f"--config={s / 'kube-proxy.yaml'}"])

        def node_ready() -> bool:
            out = self.kubectl("get", "node", NODE, "-o",
                               'jsonpath={.status.conditions[?(@.type=="Ready")].status}')
            return out.stdout.strip() == "True"
        self.wait_for(f"node {NODE} Ready", node_ready)
        self.wait_for("the default ServiceAccount",
                      lambda: self.kubectl("get", "serviceaccount", "default",
                                           "-n", "default").returncode == 0)

    def stop_all(self) -> None:
        t = time.monotonic()

        def done(what: str) -> None:
            nonlocal t
            log(f"  stopped {what} ({time.monotonic() - t:.1f}s)")
            t = time.monotonic()
        for name in ("kube-proxy", "kubelet"):
            cp.stop_process(self.procs.get(name), name)
        done("kube-proxy and the kubelet")
        if self.procs.get("containerd") and self.procs["containerd"].poll() is None:
            # Kill every container, then delete them all at once, giving up after 10 s:
            # a delete can wait on its shim for long, and whatever is left (shims, their
            # containers) is killed by the host-side cleanup, by namespace and cgroup.
            tasks = self.ctr("tasks", "list", "-q", timeout=10).stdout.split()
            for task in tasks:
                self.ctr("tasks", "kill", "--all", "--signal", "SIGKILL", task, timeout=10)
            deletes = [subprocess.Popen(
                ["ctr", f"--address={self.containerd_sock}", "-n", "k8s.io", "tasks",
                 "delete", task], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
                for task in tasks]
            deadline = time.monotonic() + 10
            for proc in deletes:
                try:
                    proc.wait(timeout=max(0.1, deadline - time.monotonic()))
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
            done(f"and deleted {len(tasks)} containers")
        for name in ("containerd", "kube-scheduler", "kube-controller-manager"):
            cp.stop_process(self.procs.get(name), name)
        done("containerd, the scheduler and the controller-manager")
        self.stop()  # kube-apiserver, then etcd
        done("kube-apiserver and etcd")


def inner_main(args: argparse.Namespace) -> int:
    """Runs as the holder of the namespaces. Talks to the outer half on stdout/stdin."""
    d = Path(args.dir)
    stop = cp.StopSignals(wake=False)
    images = [Path(p) for p in args.image]
    node = Inner(d, Path(args.bin), args.run_id, images)
    code = 0
    try:
        node.setup_namespace()
        host_state = json.loads((d / "host-state.json").read_text())
        host_state["created_dirs"] = node.created_dirs
        tmp = d / "host-state.json.tmp"
        tmp.write_text(json.dumps(host_state))
        os.replace(tmp, d / "host-state.json")
        t0 = time.monotonic()
        node.start_all()
        log(f"node {NODE} Ready, default ServiceAccount present "
            f"({time.monotonic() - t0:.1f}s after the namespace was set up)")
        stop.serving = True
        print(f"INNER-READY {node.server}", flush=True)
        while not stop.reasons:
            r, _, _ = select.select([0], [], [], 1.0)
            if 0 in r:
                line = sys.stdin.readline()
                if not line:
                    break
                if line.strip() == "egress":
                    pk, by = node.egress()
                    print(f"OK egress packets={pk} bytes={by}", flush=True)
                else:
                    print(f"ERR unknown inner command {line.strip()!r}", flush=True)
    except KeyboardInterrupt:
        code = 130
    except (Fatal, subprocess.SubprocessError, OSError) as e:
        log(f"error: {e}")
        print(f"INNER-FAILED {str(e).splitlines()[0]}", flush=True)
        code = 1
    finally:
        stop.serving = True
        t = time.monotonic()
        node.stop_all()
        log(f"components stopped ({time.monotonic() - t:.1f}s)")
    return code


# ---------------------------------------------------------------------------
# the outer half: on the host
# ---------------------------------------------------------------------------

_LIBC = ctypes.CDLL(None, use_errno=True)
CLONE_NEWNET = 0x40000000


def relay(client: socket.socket, upstream: socket.socket) -> None:
    socks = [client, upstream]
    try:
        while True:
            r, _, _ = select.select(socks, [], [], 60)
            if not r:
                continue
            for s in r:
                data = s.recv(65536)
                if not data:
                    return
                (upstream if s is client else client).sendall(data)
    except OSError:
        pass
    finally:
        client.close()
        upstream.close()


def start_relay(holder: int, target_port: int) -> int:
    """127.0.0.1:P on the host -> 127.0.0.1:target_port inside the holder's netns."""
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(64)
    nsfd = os.open(f"/proc/{holder}/ns/net", os.O_RDONLY)

    def acceptor() -> None:
        # This thread alone moves into the cluster's netns: sockets it creates live
        # there; the listening socket, created before, stays on the host's loopback.
        if _LIBC.setns(nsfd, CLONE_NEWNET) != 0:
            log(f"setns failed: errno {ctypes.get_errno()}")
            return
        while True:
            try:
                client, _ = lsock.accept()
                upstream = socket.create_connection(("127.0.0.1", target_port), timeout=10)
                upstream.settimeout(None)
            except OSError:
                try:
                    client.close()
                except (OSError, UnboundLocalError):
                    pass
                continue
            threading.Thread(target=relay, args=(client, upstream), daemon=True).start()
    threading.Thread(target=acceptor, daemon=True).start()
    return lsock.getsockname()[1]


def cmd_run(args: argparse.Namespace) -> int:
    d = Path(args.dir).resolve()
    extra = [Path(a).resolve() for a in args.image]
    try:
        preflight()
        for a in extra:
            if not a.is_file():
                raise Fatal(f"--image {a}: no such file")
    except Fatal as e:
        log(f"cannot start: {e}")
        return 1
    if d.exists() and any(d.iterdir()):
        log(f"{d} is not empty; give run a new or empty directory")
        return 1
    d.mkdir(parents=True, exist_ok=True)
    # Be told (SIGTERM) when whoever started us dies, so that we tear down.
    cp.die_with_parent(signal.SIGTERM, os.getppid())

    stop = cp.StopSignals()
    signal.signal(signal.SIGPIPE, signal.SIG_IGN)

    run_id = f"{os.getpid()}-{secrets.token_hex(3)}"
    host_state = {"cgroup": f"k8sensus-{run_id}", "created_dirs": []}
    (d / "host-state.json").write_text(json.dumps(host_state))
    # The guard: cleans up if this process dies without doing it (SIGKILL).
    guard_r, guard_w = os.pipe()
    guard = subprocess.Popen([sys.executable, __file__, "_guard", "--dir", str(d)],
                             stdin=guard_r, stdout=subprocess.DEVNULL, pass_fds=())
    os.close(guard_r)

    inner: subprocess.Popen | None = None
    code = 0
    try:
        t0 = time.monotonic()
        bin_dir = cp.ensure_built()
        # images.py in a process of its own: it runs buildah in a private mount namespace.
        built = subprocess.run([sys.executable, str(HERE / "images.py"), "build"],
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, text=True,
                               preexec_fn=cp.child_dies_with_us)
        if built.returncode != 0:
            raise Fatal("building the images failed; see the messages above")
        archives = dict(line.split(" ", 1) for line in built.stdout.splitlines() if " " in line)
        pause, app = Path(archives["pause"]), Path(archives["k8sensus"])
        log(f"binaries and images ready ({time.monotonic() - t0:.1f}s)")
        t0 = time.monotonic()
        inner = subprocess.Popen(
            ["unshare", "--net", "--mount", "--propagation", "slave", sys.executable,
             __file__, "_inner", "--dir", str(d), "--bin", str(bin_dir), "--run-id", run_id,
             *(f"--image={a}" for a in [pause, app, *extra])],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True,
            preexec_fn=cp.child_dies_with_us)
        # Record the namespaces at once, so cleanup finds everything in them.
        host_net, host_mnt = ns_inode(os.getpid(), "net"), ns_inode(os.getpid(), "mnt")
        net = mnt = None
        for _ in range(250):
            net, mnt = ns_inode(inner.pid, "net"), ns_inode(inner.pid, "mnt")
            if net and net != host_net and mnt and mnt != host_mnt:
                break
            time.sleep(0.02)
        # Never record the host's own namespaces: cleanup kills whatever is in these.
        if net == host_net or mnt == host_mnt:
            net = mnt = None
        host_state.update(netns_inode=net, mntns_inode=mnt)
        state_now = json.loads((d / "host-state.json").read_text())
        state_now.update(netns_inode=net, mntns_inode=mnt)
        (d / "host-state.json").write_text(json.dumps(state_now))
        line = inner.stdout.readline()
        if not line.startswith("INNER-READY "):
            raise Fatal(f"the cluster did not start: {line.strip() or 'the inner runner exited'}"
                        f" (logs in {d / 'logs'}; rerun with --keep to keep them)")
        port = int(line.split()[1].rsplit(":", 1)[1])
        host_port = start_relay(inner.pid, port)
        server = f"https://127.0.0.1:{host_port}"
        kubeconfig = d / "admin.kubeconfig"
        cp.write_kubeconfig(kubeconfig, server, d / "pki")
        state = {
            "server": server, "kubeconfig": str(kubeconfig),
            "kubectl": str(bin_dir / "kubectl"), "bin_dir": str(bin_dir),
            "containerd_address": str(d / "containerd" / "containerd.sock"),
            "holder_pid": inner.pid, "runner_pid": os.getpid(), "guard_pid": guard.pid,
            "netns_inode": net, "cgroup": host_state["cgroup"], "node": NODE,
            "ca_file": str(d / "pki" / "ca.crt"), "kubernetes_version": cp.K8S_VERSION,
        }
        (d / "state.json").write_text(json.dumps(state, indent=2) + "\n")
        log(f"cluster up in {time.monotonic() - t0:.1f}s; state in {d / 'state.json'}")
        stop.serving = True
        cp.reply(f"READY {kubeconfig}")
        log(f"try: export KUBECONFIG={kubeconfig} PATH={bin_dir}:$PATH; kubectl get nodes")

        stdin_open = args.lifeline_stdin
        buf = bytearray()
        while not stop.reasons:
            fds = [stop.wake_r, inner.stdout] + ([0] if stdin_open else [])
            try:
                ready, _, _ = select.select(fds, [], [], 1.0)
            except InterruptedError:
                continue
            stop.drain(ready)
            if inner.poll() is not None:
                log(f"the cluster's holder exited (code {inner.returncode}); stopping")
                code = 1
                break
            if 0 in ready:
                commands = cp.lifeline_commands(buf)
                if commands is None:
                    log("stdin closed (lifeline); shutting down")
                    break
                go_on = True
                for cmd in commands:
                    if cmd == "status":
                        cp.reply(f"OK cluster=running server={server}")
                    elif cmd == "egress":
                        inner.stdin.write("egress\n")
                        inner.stdin.flush()
                        cp.reply(inner.stdout.readline().strip())
                    elif cmd == "shutdown":
                        cp.reply("OK shutting down")
                        go_on = False
                        break
                    elif cmd:
                        cp.reply(f"ERR unknown command {cmd!r} (status, egress, shutdown)")
                if not go_on:
                    break
        if stop.reasons:
            log(f"received {stop.reasons[0]}; shutting down")
    except KeyboardInterrupt:
        log("interrupted during startup; shutting down")
        code = 130
    except Fatal as e:
        log(f"error: {e}")
        code = 1
    finally:
        stop.serving = True
        t = time.monotonic()
        cp.stop_process(inner, "the cluster's holder", grace=60)
        problems = host_cleanup(d, keep=args.keep)
        os.write(guard_w, b"done")
        os.close(guard_w)
        guard.wait()
        log(f"stopped and cleaned up in {time.monotonic() - t:.1f}s"
            + (f"; PROBLEMS: {problems}" if problems else ""))
        if problems:
            code = code or 1
    return code


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="command", required=True)
    r = sub.add_parser("run")
    r.add_argument("--dir", required=True)
    r.add_argument("--lifeline-stdin", action="store_true")
    r.add_argument("--keep", action="store_true", help="keep DIR (logs) after stopping")
    r.add_argument("--image", action="append", default=[],
                   help="one more docker-archive to import into containerd (repeatable)")
    sub.add_parser("check")
    i = sub.add_parser("_inner")
    i.add_argument("--dir", required=True)
    i.add_argument("--bin", required=True)
    i.add_argument("--run-id", required=True)
    i.add_argument("--image", action="append", default=[])
    g = sub.add_parser("_guard")
    g.add_argument("--dir", required=True)
    args = p.parse_args(argv)
    if args.command == "check":
        try:
            preflight()
        except Fatal as e:
            print(f"cluster: cannot run here: {e}", file=sys.stderr)
            return 1
        return 0
    if args.command == "_guard":
        return guard_main(Path(args.dir))
    if args.command == "_inner":
        return inner_main(args)
    return cmd_run(args)


if __name__ == "__main__":
    sys.exit(main())
