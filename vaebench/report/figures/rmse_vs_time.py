"""Report figure rmse_vs_time.png: Accuracy for the time spent."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure  # noqa: E402
from vaebench.report.figures.style import ModelPanels, color_map, log_axes  # noqa: E402

__all__ = ["FIGURE", "rmse_vs_time"]


def rmse_vs_time(summary: pd.DataFrame, path: Path) -> Path | None:
    """Per model: RMSE against the wall time of one estimate (all K, one line per estimator): the figure a
    user chooses by — lower left is better."""
    data = summary[summary["median_seconds"].notna() & np.isfinite(summary["rmse"])] if "median_seconds" in summary \
        else summary.iloc[:0]
    data = data[data["rmse"] > 0]
    if data.empty:
        return None
    models = list(data["model"].unique())
    colors = color_map(list(summary["estimator"].unique()))
    with ModelPanels(models, path) as panels:
        for ax, model in panels:
            for (est, device, dtype), g in data[data["model"] == model].groupby(["estimator", "device", "dtype"]):
                g = g.sort_values("median_seconds")
                ax.plot(g["median_seconds"], g["rmse"], "o-", ms=3, color=colors[est], label=est)
                last = g.iloc[-1]
                ax.annotate(f"K={int(last['num_samples'])}", (last["median_seconds"], last["rmse"]), fontsize=6,
                            color=colors[est], xytext=(2, 2), textcoords="offset points")
            ax.axhline(0.1, color="0.5", ls=":", lw=1, label="0.1 nats")
            log_axes(ax)
            ax.set(title=model, xlabel="seconds per estimate (all points)", ylabel="RMSE (nats)")
    return path


FIGURE = Figure("rmse_vs_time", "Accuracy for the time spent", rmse_vs_time,
           "RMSE against the wall time of one estimate of all the model's data points, one line per estimator "
           "through its K values (the largest labelled): the estimator to use is the one lowest at the time you can "
           "spend. The dotted line is 0.1 nats.")
