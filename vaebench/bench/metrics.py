"""Deprecated alias: summaries moved to `vaebench.results.metrics`."""

from vaebench.results.metrics import *  # noqa: F401,F403
from vaebench.results.metrics import GROUP, cells_table, points_table, summarize  # noqa: F401
