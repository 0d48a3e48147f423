"""Report figure diagnostics.png: Do the diagnostics see the error?"""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure, save_figure  # noqa: E402
from vaebench.report.figures.style import STYLE, color_map, legend_right, log_axes  # noqa: E402

__all__ = ["FIGURE", "diagnostics_vs_error"]

KHAT_RANGE = (-0.5, 2.0)  # k̂ beyond 2 says the same as 2: the weights' tail is extremely heavy


def _binned(x: pd.Series, y: pd.Series, bins: int = 12) -> pd.DataFrame:
    """y summarised in log-spaced bins of x (bins with fewer than 5 points dropped)."""
    ok = (x > 0) & np.isfinite(x) & np.isfinite(y)
    x, y = x[ok], y[ok]
    if x.empty:
        return pd.DataFrame(columns=["x", "median", "lo", "hi", "rms", "n"])
    edges = np.geomspace(x.min(), x.max() * (1 + 1e-9), bins + 1)
    groups = pd.DataFrame({"x": x, "y": y}).groupby(pd.cut(x, edges), observed=True)
    out = groups.agg(x=("x", lambda v: float(np.exp(np.log(v).mean()))), median=("y", "median"),
                     lo=("y", lambda v: v.quantile(0.25)), hi=("y", lambda v: v.quantile(0.75)),
                     rms=("y", lambda v: float(np.sqrt((v**2).mean()))), n=("y", "size"))
    return out[out["n"] >= 5]


def diagnostics_vs_error(points: pd.DataFrame, path: Path) -> Path | None:
    """One row per model. Left: median |error| in bins of ESS; middle: in bins of the Pareto k̂ (clipped to
    [−0.5, 2], lines at 0.5 and 0.7); right: the reported standard error against the RMS of the actual
    errors (importance-type estimators only: the ELBO's stderr measures noise around the ELBO, not its gap)."""
    usable = points[points["ess"].notna() | points["stderr"].notna()]
    if usable.empty:
        return None
    models = list(usable["model"].unique())
    colors = color_map(list(points["estimator"].unique()))
    lo, hi = KHAT_RANGE
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(len(models), 3, figsize=(14, 3.4 * len(models)), squeeze=False)
        for row, model in enumerate(models):
            left, middle, right = axes[row]
            sub = points[points["model"] == model]
            drawn = False
            for est, g in sub[np.isfinite(sub["khat"])].groupby("estimator"):
                k = g["khat"].clip(lo, hi)
                binned = g.assign(k=k).groupby(pd.cut(k, np.linspace(lo, hi + 1e-9, 16)), observed=True).agg(
                    x=("k", "mean"), median=("error", lambda e: e.abs().median()), n=("error", "size"))
                binned = binned[(binned["n"] >= 5) & (binned["median"] > 0)]
                middle.plot(binned["x"], binned["median"], "o-", color=colors[est], label=est, ms=4)
                drawn |= not binned.empty
            for value, text in ((0.5, "k̂ = 0.5"), (0.7, "k̂ = 0.7 (PSIS: unreliable above)")):
                middle.axvline(value, color="k", ls=":" if value == 0.7 else "--", lw=1, label=text)
            middle.set(xlim=(lo, hi), yscale="log" if drawn else "linear", xlabel=f"Pareto k̂ of the weights (clipped to [{lo:g}, {hi:g}])",
                       ylabel="median |log p̂ − log p(x)| (nats)", title=f"{model}: error against k̂")
            for est, g in sub[sub["ess"].notna()].groupby("estimator"):
                b = _binned(g["ess"], g["error"].abs())
                left.plot(b["x"], b["median"], "o-", color=colors[est], label=est, ms=4)
                left.fill_between(b["x"], b["lo"], b["hi"], color=colors[est], alpha=0.15)
            log_axes(left)
            left.set(xlabel="effective sample size of the weights", ylabel="|error| (nats; median, IQR band)",
                     title=f"{model}: error against ESS")
            honest = sub[sub["stderr"].notna() & sub["kl"].isna()]
            for est, g in honest.groupby("estimator"):
                c = _binned(g["stderr"], g["error"])
                right.plot(c["x"], c["rms"], "o-", color=colors[est], label=est, ms=4)
            if not honest.empty:
                span = [honest["stderr"][honest["stderr"] > 0].min(), honest["stderr"].max()]
                right.plot(span, span, "k--", lw=1, label="honest: RMS error = stderr")
            log_axes(right)
            right.set(xlabel="reported standard error of log p̂ (nats)", ylabel="RMS of the actual errors (nats)",
                      title=f"{model}: is the reported stderr honest?")
        legend_right(fig, axes.flat)
        fig.tight_layout(rect=(0, 0, 0.84, 1))
        save_figure(fig, path)
        plt.close(fig)
    return path


FIGURE = Figure("diagnostics", "Do the diagnostics see the error?", diagnostics_vs_error,
           "One row per model. Left and middle: the absolute error of single estimates in bins of their effective "
           "sample size and of the Pareto k̂ of their weights (clipped to [−0.5, 2]; PSIS calls k̂ > 0.7 "
           "unreliable, and k̂ < 0.5 means finite variance). Right: the standard error each importance-type "
           "estimate reports (delta method) against the RMS of the actual errors in its bin; points above the "
           "diagonal are overconfident, as importance sampling is when χ² is infinite. The ELBO is left out there: "
           "its standard error measures its noise around the ELBO, not its distance (the KL) to log p(x).",
           source="points")
