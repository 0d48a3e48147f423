"""Deprecated alias: moved to `vaebench.training.reference` (training sits above models and estimators)."""

from vaebench.training.reference import *  # noqa: F401,F403
from vaebench.training.reference import __all__  # noqa: F401
