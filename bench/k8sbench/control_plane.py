"""The control plane's binaries (hack/control-plane/controlplane.py build), which the Rust
programs start their control planes from; and the admin's API on a runner's API server
(ControlPlane), which the cluster part's runner (cluster/runner.py) uses."""

from __future__ import annotations

import http.client
import json
import ssl
import sys
import time
import urllib.parse
from pathlib import Path

from .common import REPO
from .lease_watch import parse_time
from .processes import run_cmd

CONTROLPLANE = REPO / "hack" / "control-plane" / "controlplane.py"


def control_plane_binaries() -> tuple[Path, dict]:
    """The binaries as built by controlplane.py (built now or cached), and how they were had."""
    t0, started = time.monotonic(), time.time()
    # controlplane.py prints its own progress (a cold build takes minutes) on stderr.
    real = Path(run_cmd([sys.executable, str(CONTROLPLANE), "build"], timeout=3600, show_stderr=True)
                .strip().splitlines()[-1])
    info = {"seconds": round(time.monotonic() - t0, 1), "cached": True}
    try:
        bi = json.loads((real.parent / "build-info.json").read_text())
        info["cached"] = parse_time(bi["built_at"]) < started - 1
        info["build_info"] = bi
    except (OSError, ValueError, KeyError):
        pass
    return real, info


class ControlPlane:
    """A runner's API server (`dir` holds its state.json), with request() as the cluster
    admin. The runner itself is started and stopped by its subclass (cluster.runner.Cluster)."""

    dir: Path

    def connect(self, pki: Path) -> None:
        """Reads the runner's state.json (in self.dir) and the admin client certificate (in
        `pki`): the API server's address, kubeconfig and kubectl, and the TLS context."""
        self.state = json.loads((self.dir / "state.json").read_text())
        self.kubeconfig = self.state["kubeconfig"]
        self.kubectl = self.state["kubectl"]
        self.server = self.state["server"]
        u = urllib.parse.urlparse(self.server)
        self.host, self.port = u.hostname, u.port
        self.ctx = ssl.create_default_context(cafile=self.state["ca_file"])
        self.ctx.load_cert_chain(str(pki / "admin.crt"), str(pki / "admin.key"))

    def request(self, method: str, path: str, body=None) -> tuple[int, dict]:
        conn = http.client.HTTPSConnection(self.host, self.port, context=self.ctx, timeout=30)
        try:
            data = json.dumps(body).encode() if body is not None else None
            conn.request(method, path, body=data,
                         headers={"Content-Type": "application/json", "Accept": "application/json"})
            r = conn.getresponse()
            raw = r.read()
            try:
                return r.status, json.loads(raw) if raw else {}
            except ValueError:
                return r.status, {"raw": raw.decode(errors="replace")}
        finally:
            conn.close()
