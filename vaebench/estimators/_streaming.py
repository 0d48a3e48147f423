"""Deprecated alias: the chunked sample loop is public as `vaebench.estimators.streaming`."""

import warnings

from vaebench.estimators.streaming import *  # noqa: F401,F403
from vaebench.estimators.streaming import __all__  # noqa: F401

warnings.warn("vaebench.estimators._streaming moved to vaebench.estimators.streaming", DeprecationWarning, 2)
