"""Report figure precision.png: What precision costs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure, save_figure  # noqa: E402
from vaebench.report.figures.style import STYLE, color_map  # noqa: E402

__all__ = ["FIGURE", "precision_tradeoff"]


def precision_tradeoff(summary: pd.DataFrame, path: Path) -> Path | None:
    """Per model: RMSE against float64 truth versus throughput, one point per (estimator, dtype, device)
    at the largest K measured, so that what TF32 or bfloat16 costs in nats sits beside what it buys."""
    cost = summary[summary["median_seconds"].notna()] if "median_seconds" in summary else summary.iloc[:0]
    if cost.empty or cost["dtype"].nunique() < 2 or cost["rmse"].notna().sum() == 0:
        return None
    top = cost[cost["num_samples"] == cost.groupby(["model", "estimator", "device", "dtype"])["num_samples"]
               .transform("max")]
    models = [m for m in top["model"].unique() if top.loc[top["model"] == m, "rmse"].notna().any()]
    colors = color_map(list(top["estimator"].unique()))
    markers = dict(zip(["float64", "float32", "tf32", "bfloat16"], ["o", "s", "^", "D"]))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(1, len(models), figsize=(4.2 * len(models), 3.6), squeeze=False)
        for ax, model in zip(axes[0], models):
            for (est, dtype, device), g in top[top["model"] == model].groupby(["estimator", "dtype", "device"]):
                ax.plot(g["samples_per_s"], g["rmse"], markers.get(dtype, "x"), color=colors[est], ms=6,
                        mfc="none" if device == "cpu" else colors[est], label=f"{est}, {dtype}, {device}")
            ax.set_xscale("log")
            ax.set_yscale("log")
            ax.set_xlabel("samples / s")
            ax.set_ylabel("RMSE against float64 truth (nats)")
            ax.set_title(f"{model} (largest K)")
        axes[0, -1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


FIGURE = Figure("precision", "What precision costs", precision_tradeoff,
           "RMSE against the float64 truth versus throughput at the largest K, per dtype: float64, float32, tf32 "
           "(float32 storage, TF32 matrix products on CUDA) and bfloat16. Filled markers: GPU; hollow: CPU. "
           "Reported, not asserted.")
