"""The cluster part of the benchmark (bench/cluster.py): both implementations as
Deployments in the one-node cluster. bench/k8sbench/__init__.py lists its modules."""
