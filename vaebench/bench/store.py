"""Deprecated alias: results storage moved to `vaebench.results.store`."""

from vaebench.results.store import *  # noqa: F401,F403
from vaebench.results.store import ResultsMismatchError, ResultStore  # noqa: F401
