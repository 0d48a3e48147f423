"""Report figure k_variance_vs_k.png: Is the error shrinking at the √K rate?"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure  # noqa: E402
from vaebench.report.figures.style import ModelPanels, color_map, log_axes  # noqa: E402

__all__ = ["FIGURE", "k_variance_vs_k"]


def k_variance_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """K · Var[p̂ / p] against K per model (mean over points): flat where the estimator averages K
    weights of finite variance (the √K rate), at the level χ² where theory gives it; rising where χ² = ∞."""
    data = summary[np.isfinite(summary.get("k_var_ratio", pd.Series(dtype=float)))] if "k_var_ratio" in summary \
        else summary.iloc[:0]
    data = data[data["k_var_ratio"] > 0]
    if data.empty:
        return None
    models = list(data["model"].unique())
    colors = color_map(list(summary["estimator"].unique()))
    with ModelPanels(models, path) as panels:
        for ax, model in panels:
            for (est, device, dtype), g in data[data["model"] == model].groupby(["estimator", "device", "dtype"]):
                g = g.sort_values("num_samples")
                ax.plot(g["num_samples"], g["k_var_ratio"], "o-", ms=3, color=colors[est], label=est)
                chi2 = g["chi2_mean"].iloc[0] if "chi2_mean" in g else np.nan
                if np.isfinite(chi2) and chi2 > 0:
                    ax.axhline(chi2, color=colors[est], ls="--", lw=1, label="χ² (theory, dashed)")
            log_axes(ax)
            ax.set(title=model, xlabel="K", ylabel="K · Var[p̂ / p]  (mean over points)")
    return path


FIGURE = Figure("k_variance_vs_k", "Is the error shrinking at the √K rate?", k_variance_vs_k,
           "K · Var[p̂ / p] against K (per data point over replicates, mean over points). An average of K "
           "weights with finite variance keeps it flat at χ²(p(z|x) ‖ q) (dashed where theory gives it); a curve "
           "that rises or wanders says the variance is infinite or not yet resolved, and √K error bars do not "
           "apply.")
