"""Deprecated alias: moved to `vaebench.training.trainer` (training sits above models and estimators)."""

from vaebench.training.trainer import *  # noqa: F401,F403
from vaebench.training.trainer import __all__  # noqa: F401
