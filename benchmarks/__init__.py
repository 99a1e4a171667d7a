"""Benchmarks and training scripts: run each as `python -m benchmarks.<name>` from the repository's root."""
