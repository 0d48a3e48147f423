"""Deprecated alias: moved to `vaebench.training.presets` (training sits above models and estimators)."""

from vaebench.training.presets import *  # noqa: F401,F403
from vaebench.training.presets import __all__  # noqa: F401
