"""Report figure error_vs_t.png: Annealing: the error against T."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure  # noqa: E402
from vaebench.report.figures.style import ModelPanels, log_axes  # noqa: E402

__all__ = ["FIGURE", "error_vs_t"]


def error_vs_t(summary: pd.DataFrame, path: Path) -> Path | None:
    """Per model: RMSE (solid) and |bias| (dashed) of annealed estimators against the number of
    annealing distributions T, one colour per K (needs the same estimator at two T or more)."""
    if "num_steps" not in summary:
        return None
    data = summary[summary["num_steps"].notna() & np.isfinite(summary["rmse"])]
    data = data[data.groupby(["model", "base_estimator"])["num_steps"].transform("nunique") > 1]
    if data.empty:
        return None
    models = list(data["model"].unique())
    ks = sorted(data["num_samples"].unique())
    colors = {k: plt.cm.viridis(i / max(1, len(ks) - 1)) for i, k in enumerate(ks)}
    with ModelPanels(models, path) as panels:
        for ax, model in panels:
            for (base, k), g in data[data["model"] == model].groupby(["base_estimator", "num_samples"]):
                g = g.sort_values("num_steps")
                ax.plot(g["num_steps"], g["rmse"], "o-", ms=3, color=colors[k], label=f"RMSE, K = {k}")
                ax.plot(g["num_steps"], g["bias"].abs(), "s--", ms=3, color=colors[k], mfc="none",
                        label=f"|bias|, K = {k}")
            log_axes(ax)
            ax.set(title=f"{model}", xlabel="T (annealing distributions)", ylabel="nats")
    return path


FIGURE = Figure("error_vs_t", "Annealing: the error against T", error_vs_t,
           "For estimators run at several numbers of annealing distributions T (the sweep's variants, e.g. "
           "ais-T4, ais-T16, ais-T64): RMSE (solid) and |bias| (dashed) against T at each K. AIS is unbiased in "
           "p for every T; its log is biased low by about Var[w/p]/2K, which more temperatures shrink.")
