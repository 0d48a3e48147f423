"""Report figure cost_vs_k.png: What it costs."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure, save_figure  # noqa: E402
from vaebench.report.figures.style import STYLE, color_map, legend_right, log_axes  # noqa: E402

__all__ = ["FIGURE", "cost_vs_k"]


def cost_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """Throughput (samples/s, with the spread over timing repeats) and peak tensor memory against K, per
    estimator (colour and marker) and device (line style)."""
    cost = summary[summary["median_seconds"].notna()] if "median_seconds" in summary else summary.iloc[:0]
    if cost.empty:
        return None
    models = list(cost["model"].unique())
    colors = color_map(list(cost["estimator"].unique()))
    markers = dict(zip(sorted(cost["estimator"].unique()), "osD^v<>ph*"))
    styles = {d: s for d, s in zip(sorted(cost["device"].unique()), ["-", "--", ":", "-."])}
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(models), 2, figsize=(13, 3.3 * len(models)), squeeze=False)
        for row, model in enumerate(models):
            sub = cost[cost["model"] == model]
            for (est, device, dtype), g in sub.groupby(["estimator", "device", "dtype"]):
                g = g.sort_values("num_samples")
                where = f"{device}: {g['device_name'].iloc[0]}" if "device_name" in g and g["device_name"].notna().any() \
                    else device
                kw = dict(color=colors[est], ls=styles[device], marker=markers.get(est, "o"), ms=4, mfc="none",
                          label=f"{est} ({where}, {dtype})")
                if "samples_per_s_lo" in g and g["samples_per_s_lo"].notna().any():
                    err = [g["samples_per_s"] - g["samples_per_s_lo"], g["samples_per_s_hi"] - g["samples_per_s"]]
                    axes[row, 0].errorbar(g["num_samples"], g["samples_per_s"], yerr=err, capsize=2, **kw)
                else:
                    axes[row, 0].plot(g["num_samples"], g["samples_per_s"], **kw)
                axes[row, 1].plot(g["num_samples"], g["peak_mib"], **kw)
            axes[row, 0].set_title(f"{model}: samples / s (bars: repeats' range)")
            axes[row, 1].set_title(f"{model}: peak tensor memory (MiB)")
            for ax in axes[row]:
                log_axes(ax)
                ax.set_xlabel("K (samples per data point)")
        legend_right(fig, axes.flat)
        fig.tight_layout(rect=(0, 0, 0.78, 1))
        save_figure(fig, path)
        plt.close(fig)
    return path


FIGURE = Figure("cost_vs_k", "What it costs", cost_vs_k,
           "Throughput (K·B samples per second, median of timed repeats after a warm-up, device-synchronised; bars "
           "from the slowest to the fastest repeat) and peak tensor memory against K, for every device (named in "
           "the legend; estimators by colour and marker). Memory grows with K until one "
           "block of samples is full and is flat beyond it: the estimator streams over K.")
