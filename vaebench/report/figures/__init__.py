"""The report's figures (matplotlib, Agg backend), each answering one question at a glance.

A figure is a module here that defines its drawing function and ``FIGURE`` (a `Figure`), and one
line in `FIGURES`, which sets the order of the report.
"""

from __future__ import annotations

from vaebench.report.figures import (
    bdmc_gap_vs_t,
    cost_vs_k,
    diagnostics_vs_error,
    elbo_gap_vs_kl,
    error_vs_k,
    error_vs_t,
    k_variance_vs_k,
    point_errors,
    precision_tradeoff,
    rmse_vs_time,
)
from vaebench.report.figures.figure import Figure

__all__ = ["FIGURES", "Figure"]

FIGURES: tuple[Figure, ...] = (
    error_vs_k.FIGURE,
    elbo_gap_vs_kl.FIGURE,
    cost_vs_k.FIGURE,
    precision_tradeoff.FIGURE,
    diagnostics_vs_error.FIGURE,
    k_variance_vs_k.FIGURE,
    rmse_vs_time.FIGURE,
    error_vs_t.FIGURE,
    point_errors.FIGURE,
    bdmc_gap_vs_t.FIGURE,
)
