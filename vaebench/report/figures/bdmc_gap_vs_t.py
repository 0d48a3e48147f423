"""Report figure bdmc_gap_vs_t.png: How far AIS is from the truth: the BDMC gap against T."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.report.figures.figure import Figure, save_figure  # noqa: E402
from vaebench.report.figures.style import STYLE  # noqa: E402

__all__ = ["FIGURE", "bdmc_gap_vs_t"]


def _resolved_or_floor(ax, t, value, floor, style: str, color: str, label: str) -> None:
    """``value`` where it exceeds ``floor`` (filled markers), else a hollow marker at the floor: on log
    axes a quantity within its noise cannot be drawn as itself."""
    value, floor = np.asarray(value, dtype=float), np.asarray(floor, dtype=float)
    resolved = value > floor
    ax.plot(t, np.where(resolved, value, floor), style, color=color, label=label, markerfacecolor="none")
    ax.plot(t[resolved], value[resolved], style[0], color=color)


def bdmc_gap_vs_t(bdmc: pd.DataFrame, path: Path) -> Path | None:
    """Per model (one panel each, log-log): the mean BDMC gap against T, and where the truth is known
    each bound's mean distance to it; hollow markers sit on the 2-SE noise floor (not resolved)."""
    from matplotlib.ticker import LogLocator, NullFormatter, ScalarFormatter

    if bdmc is None or bdmc.empty:
        return None
    models = list(bdmc["model"].unique())
    cols = min(3, len(models))
    rows = -(-len(models) // cols)
    with plt.rc_context(STYLE):
        fig, axes = plt.subplots(rows, cols, figsize=(max(6.5, 4.3 * cols), 3.1 * rows + 0.8), squeeze=False)
        for ax, model in zip(axes.flat, models):
            g = bdmc[bdmc["model"] == model].sort_values("num_steps")
            t = g["num_steps"].to_numpy()
            _resolved_or_floor(ax, t, g["gap"], 2 * g["gap_se"], "o-", "C0", "gap: E[upper − lower]")
            if "forward_bias" in g and g["forward_bias"].notna().any():
                _resolved_or_floor(ax, t, -g["forward_bias"], 2 * g["forward_bias_se"], "s--", "C1",
                                   "log p − E[forward AIS]")
                _resolved_or_floor(ax, t, g["reverse_bias"], 2 * g["reverse_bias_se"], "^:", "C2",
                                   "E[reverse AIS] − log p")
            ax.plot(t, 2 * g["gap_se"], "-", color="0.6", lw=0.8, label="noise floor: 2 SE of the gap")
            ax.set(xlabel="T (annealing distributions)", ylabel="nats", title=model)
            drawn = np.concatenate([line.get_ydata() for line in ax.get_lines()]).astype(float)
            if not ((drawn > 0) & np.isfinite(drawn)).any() or not (np.isfinite(t) & (t > 0)).any():
                ax.text(0.5, 0.5, "no finite BDMC result to draw", ha="center", va="center", transform=ax.transAxes)
                continue  # every run of this model failed: a log axis has nothing to show
            ax.set(xscale="log", yscale="log")
            ax.xaxis.set_major_locator(LogLocator(base=10))
            ax.xaxis.set_major_formatter(ScalarFormatter())
            ax.xaxis.set_minor_formatter(NullFormatter())
        for ax in list(axes.flat)[len(models):]:
            ax.set_visible(False)
        handles, labels = axes.flat[0].get_legend_handles_labels()
        fig.legend(handles, labels, loc="lower center", ncol=4 if cols > 1 else 2, frameon=False)
        fig.tight_layout(rect=(0, 0.8 / fig.get_figheight(), 1, 1))
        save_figure(fig, path)
        plt.close(fig)
    return path


FIGURE = Figure("bdmc_gap_vs_t", "How far AIS is from the truth: the BDMC gap against T", bdmc_gap_vs_t,
           "Bidirectional Monte Carlo on data simulated from each model: forward AIS (a stochastic lower bound) and "
           "reverse AIS from the latents that generated the data (a stochastic upper bound) at each number of "
           "annealing distributions T. Their mean gap bounds the error of both; where log p(x) is known, each "
           "bound's own mean distance to it is drawn too. Hollow markers: not resolved from zero (within 2 standard "
           "errors over points), drawn at that noise floor; the grey line is the gap's.", source="bdmc")
