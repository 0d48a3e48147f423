"""Report figure point_errors.png: How the error is spread over data points."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure  # noqa: E402
from vaebench.report.figures.style import ModelPanels, color_map  # noqa: E402

__all__ = ["FIGURE", "point_errors"]


def point_errors(points: pd.DataFrame, path: Path) -> Path | None:
    """For models with per-point truth from quadrature or many points: the distribution over data points of
    each estimator's per-point RMSE at its largest K (one hard point can dominate a mean)."""
    data = points[np.isfinite(points["error"])]
    if data.empty:
        return None
    top = data[data["num_samples"] == data.groupby(["model", "estimator"])["num_samples"].transform("max")]
    per_point = top.groupby(["model", "estimator", "point"])["error"].apply(lambda e: float(np.sqrt((e**2).mean())))
    per_point = per_point.reset_index()
    models = list(per_point["model"].unique())
    colors = color_map(list(points["estimator"].unique()))
    with ModelPanels(models, path) as panels:
        for ax, model in panels:
            for est, g in per_point[per_point["model"] == model].groupby("estimator"):
                v = np.sort(g["error"].clip(lower=1e-6).to_numpy())
                ax.plot(v, np.arange(1, len(v) + 1) / len(v), "-", color=colors[est], label=est, drawstyle="steps-post")
            ax.axvline(0.1, color="0.5", ls=":", lw=1, label="0.1 nats")
            ax.set_xscale("log")
            ax.set(title=f"{model} (largest K)", xlabel="per-point RMSE (nats)", ylabel="fraction of points ≤")
    return path


FIGURE = Figure("point_errors", "How the error is spread over data points", point_errors,
           "Per model, the distribution over data points of each estimator's per-point RMSE at its largest K "
           "(cumulative): one hard point can dominate a mean RMSE, so the median and the worst decile are read "
           "off here.", source="points")
