"""The cluster part's fixed settings: the runner's scripts, the Deployments' names, the
timings, and how often the driver looks."""

from __future__ import annotations

from ..common import LOG_DIR as BENCH_LOG_DIR
from ..common import REPO, TIMINGS

CLUSTER = REPO / "hack" / "cluster" / "cluster.py"
IMAGES = REPO / "hack" / "cluster" / "images.py"
LOG_DIR = BENCH_LOG_DIR / "cluster"
REPLICAS = 3
SELECTOR = "app.kubernetes.io/name=k8sensus"  # the Deployment's selector, in both namespaces
DEPLOYMENT = "k8sensus"
CONTAINER = "k8sensus"  # the container's name in deployment.yaml, in both namespaces
LD = TIMINGS["lease_duration_s"]
RP = TIMINGS["retry_period_s"]
SETTLE = 3.0  # seconds a deployment must look steady before a fault
API_POLL = 0.25  # seconds between two reads of a deployment's pods
LOG_POLL = 0.05  # seconds between two looks at the pods' lines (the tailer reads them as often)
IMPLS = {"k8sensus": {"key": "k8sensus", "ns": "k8sensus"},
         "client_go": {"key": "client-go", "ns": "client-go"}}
