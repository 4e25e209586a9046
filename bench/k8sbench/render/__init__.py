"""bench/render.py's sections and pictures: everything it writes comes from results.json.
bench/k8sbench/__init__.py lists its modules."""
