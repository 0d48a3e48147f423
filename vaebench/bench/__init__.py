"""Sweeps of estimators × models × K: configuration, execution, crash-safe results, metrics."""

from vaebench.bench.config import Cell, ModelEntry, SweepConfig, load_config, profile_path
from vaebench.bench.runner import SerialExecutor, make_executor, run_sweep
from vaebench.bench.store import ResultsMismatchError, ResultStore

__all__ = [
    "Cell",
    "ModelEntry",
    "ResultStore",
    "ResultsMismatchError",
    "SerialExecutor",
    "SweepConfig",
    "load_config",
    "make_executor",
    "profile_path",
    "run_sweep",
]
