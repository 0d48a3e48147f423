"""Report figure elbo_gap_vs_kl.png: ELBO gap against KL."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure, save_figure  # noqa: E402
from vaebench.report.figures.style import STYLE, color_map, log_axes  # noqa: E402

__all__ = ["FIGURE", "elbo_gap_vs_kl"]


def elbo_gap_vs_kl(points: pd.DataFrame, path: Path) -> Path | None:
    """Per data point, log-log: log p(x) − mean ELBO estimate against the exact KL(q ‖ p(z|x)), one colour
    per model (a gap at or below zero is drawn at the bottom, hollow)."""
    elbo = points[points["kl"].notna()]
    if elbo.empty:
        return None
    top = elbo[elbo["num_samples"] == elbo.groupby(["model", "estimator"])["num_samples"].transform("max")]
    gap = top.groupby(["model", "estimator", "device", "dtype", "point"]).agg(
        gap=("error", lambda e: -e.mean()), se=("error", lambda e: e.std(ddof=1) / np.sqrt(len(e))), kl=("kl", "first"))
    gap = gap.reset_index()
    colors = color_map(list(gap["model"].unique()))
    positive = gap[(gap["kl"] > 0)]
    if positive.empty:
        return None
    low = max(1e-4, 0.5 * positive["kl"].min())
    with plt.rc_context(STYLE):
        fig, ax = plt.subplots(figsize=(6.8, 4.6))
        for model, g in gap[gap["kl"] > 0].groupby("model"):
            shown = g["gap"].clip(lower=low)
            ax.errorbar(g["kl"], shown, yerr=np.minimum(2 * g["se"], shown - low * 0.999), fmt="o", ms=3,
                        color=colors[model], label=model, alpha=0.8)
        high = max(positive["kl"].max(), gap["gap"].max()) * 1.5
        ax.plot([low, high], [low, high], "k--", lw=1, label="gap = KL")
        log_axes(ax)
        ax.set_xlabel("exact KL(q(z|x) ‖ p(z|x))  (nats)")
        ax.set_ylabel("log p(x) − E[ELBO estimate]  (nats, ±2 SE)")
        ax.set_title("ELBO gap against KL, per data point (largest K)")
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


FIGURE = Figure("elbo_gap_vs_kl", "ELBO gap against KL", elbo_gap_vs_kl,
           "Each point is a data point (log-log, one colour per model): log p(x) minus the mean ELBO estimate "
           "against the exact KL(q ‖ p(z|x)); they should lie on the diagonal. In a linear-Gaussian model with an amortised linear encoder the KL "
           "is the same for every x (the posterior covariance does not depend on x), so each of those models is one "
           "cluster; trained VAEs spread along the diagonal.", source="points")
