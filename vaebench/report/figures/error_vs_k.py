"""Report figure error_vs_k.png: How the error shrinks with K."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure, save_figure  # noqa: E402
from vaebench.report.figures.style import STYLE, color_map, legend_right, log_axes  # noqa: E402

__all__ = ["FIGURE", "error_vs_k"]


def error_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """|bias|, std and RMSE against K per model (log-log): measured solid with markers, theory dashed on
    top, the 2-SE noise floor of the bias dotted, RMSE with its 95% band; panels where an estimator's
    χ² is infinite say so. Models without truth (throughput only) are left out."""
    models = [m for m in summary["model"].unique() if (summary.loc[summary["model"] == m, "rmse"] > 0).any()]
    if not models:
        return None
    colors = color_map(list(summary["estimator"].unique()))
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(models), 3, figsize=(13, 3.3 * len(models)), squeeze=False)
        for row, model in enumerate(models):
            sub = summary[summary["model"] == model]
            many = sub[["device", "dtype"]].drop_duplicates().shape[0] > 1
            for col, (metric, theory, title) in enumerate(
                [("bias", "theory_bias", "|bias| (nats)"), ("std", "theory_std", "std (nats)"),
                 ("rmse", "theory_rmse", "RMSE (nats)")]
            ):
                ax = axes[row, col]
                for (est, device, dtype), g in sub.groupby(["estimator", "device", "dtype"]):
                    g = g.sort_values("num_samples")
                    label = f"{est} ({device}, {dtype})" if many else est
                    y = g[metric].abs()
                    ax.plot(g["num_samples"], y, "-", color=colors[est], label=label, zorder=2)
                    # Hollow markers: a bias within 2 standard errors of zero (not resolved by the sweep).
                    resolved = (y > 2 * g["bias_se"]) if metric == "bias" else y.notna()
                    ax.plot(g["num_samples"][resolved], y[resolved], "o", color=colors[est], ms=4, zorder=2)
                    ax.plot(g["num_samples"][~resolved], y[~resolved], "o", mfc="white", color=colors[est], ms=4,
                            zorder=2)
                    if metric == "bias":
                        ax.plot(g["num_samples"], 2 * g["bias_se"], ":", color=colors[est], lw=1, alpha=0.7, zorder=1)
                    if metric == "rmse":
                        ax.fill_between(g["num_samples"], g["rmse_lo"], g["rmse_hi"], color=colors[est], alpha=0.15,
                                        zorder=1)
                    if g[theory].notna().any():  # on top of the measurement, dashed, so it is never hidden
                        ax.plot(g["num_samples"], g[theory].abs(), "--", color="black", lw=1.6, zorder=4)
                        ax.plot(g["num_samples"], g[theory].abs(), "--", color=colors[est], lw=1.1, zorder=5)
                    if col == 1 and np.isinf(g.get("chi2_mean", pd.Series(dtype=float))).any():
                        ax.annotate(f"{est}: χ² = ∞, no √K rate", xy=(0.02, (0.04 + 0.08 * list(colors).index(est)) % 0.9),
                                    xycoords="axes fraction", color=colors[est], fontsize=7)
                log_axes(ax)
                ax.set_title(f"{model}: {title}")
                ax.set_xlabel("K (samples per data point)")
        from matplotlib.lines import Line2D

        axes[0, 0].add_line(Line2D([], [], color="0.3", ls="--", lw=1.4, label="theory (dashed, on top)"))
        axes[0, 0].add_line(Line2D([], [], color="0.3", ls=":", lw=1, label="2 SE noise floor of |bias|"))
        legend_right(fig, axes.flat)
        fig.tight_layout(rect=(0, 0, 0.82, 1))
        save_figure(fig, path)
        plt.close(fig)
    return path


FIGURE = Figure("error_vs_k", "How the error shrinks with K", error_vs_k,
           "Measured |bias|, standard deviation and RMSE (with 95% bootstrap band) of log p̂ against K, with the "
           "theoretical predictions dashed on top: −χ²/(2K) and sqrt(χ²/K) for importance-type estimators, −KL and "
           "sqrt(Var[log w]/K) for the ELBO. The importance-sampling predictions are drawn where χ²/K < 1 "
           "(the delta method fails beyond) and are absent where χ² is infinite (annotated: no √K rate). Dotted: "
           "twice the standard error of the bias, the noise floor; hollow markers: a bias below it.")
