"""Sweeps of estimators × models × K: configuration, execution, crash-safe results, metrics."""

from vaebench.bench.config import Cell, ModelEntry, SweepConfig, load_config, profile_path
from vaebench.bench.runner import SerialExecutor, make_executor, open_store, run_sweep
from vaebench.results.store import ResultsMismatchError, ResultStore

__all__ = [
    "Cell",
    "ModelEntry",
    "ResultStore",
    "ResultsMismatchError",
    "SerialExecutor",
    "SweepConfig",
    "load_config",
    "make_executor",
    "open_store",
    "profile_path",
    "run_sweep",
]
