"""Fixtures shared by every test directory."""

# The real-worker harness: scf_worker, scf_worker_factory (see tests/workers.py).
from tests.workers import scf_worker, scf_worker_factory  # noqa: F401
