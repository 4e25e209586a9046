"""What is deployed: the client-go reference's image, and the overlay of the project's
kustomization that deploys it."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from ..build import build_client_go_ref
from ..common import LEASE, REPO
from ..processes import run_cmd
from .config import DEPLOYMENT, IMAGES, IMPLS


def client_go_image() -> tuple[Path, str, Path, bool]:
    binary, cached = build_client_go_ref()
    out = run_cmd([sys.executable, str(IMAGES), "client-go-ref", str(binary)], timeout=1800,
                        heartbeat="building or finding the client-go-ref image", show_stderr=True)
    _, archive, name = out.strip().splitlines()[-1].split()
    return Path(archive), name, binary, cached


def client_go_overlay(work: Path, image: str) -> Path:
    """The project's kustomization, into namespace client-go, with the reference's image and
    arguments: every other field (RBAC, strategy, probes, resources, security) as shipped."""
    d = work / "client-go-overlay"
    d.mkdir()
    name, tag = image.split(":")
    (d / "kustomization.yaml").write_text(f"""\
# bench/cluster.py: the project's kustomization (namespace, RBAC, Deployment, Service, PDB),
# deployed into its own namespace with the client-go reference's image and arguments.
apiVersion: kustomize.config.k8s.io/v1beta1
kind: Kustomization
namespace: {IMPLS['client_go']['ns']}
resources:
  - {os.path.relpath(REPO, d)}
images:
  - name: k8sensus
    newName: {name}
    newTag: "{tag}"
patches:
  - target: {{kind: Deployment, name: {DEPLOYMENT}}}
    patch: |-
      - op: replace
        path: /spec/template/spec/containers/0/args
        value:
          - --lease-name={LEASE}
          - --lease-namespace=$(POD_NAMESPACE)
          - --probe-addr=:8080
""")
    return d
