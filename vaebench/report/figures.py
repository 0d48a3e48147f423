"""The report's figures (matplotlib, Agg backend), each answering one question at a glance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from vaebench.results.store import atomic_write_bytes  # noqa: E402

__all__ = ["FIGURES", "Figure", "error_vs_k", "elbo_gap_vs_kl", "cost_vs_k", "diagnostics_vs_error",
           "precision_tradeoff", "bdmc_gap_vs_t"]

_STYLE = {"figure.dpi": 110, "axes.grid": True, "grid.alpha": 0.3, "font.size": 9, "legend.fontsize": 8}


def save_figure(fig, path: Path) -> None:
    """PNG written atomically: a full disk leaves the old file or none, never a truncated one."""
    import io

    buffer = io.BytesIO()
    fig.savefig(buffer, format="png")
    atomic_write_bytes(Path(path), buffer.getvalue())


def _colors(names: list[str]) -> dict[str, str]:
    cycle = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    return {n: cycle[i % len(cycle)] for i, n in enumerate(sorted(names))}


def error_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """|bias|, std and RMSE against K per model (log-log), theory dashed, RMSE with its 95% band.
    Models without truth (throughput only) have no error and are left out."""
    models = [m for m in summary["model"].unique() if (summary.loc[summary["model"] == m, "rmse"] > 0).any()]
    if not models:
        return None
    colors = _colors(list(summary["estimator"].unique()))
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(len(models), 3, figsize=(12, 3.3 * len(models)), squeeze=False)
        for row, model in enumerate(models):
            sub = summary[summary["model"] == model]
            for col, (metric, theory, title) in enumerate(
                [("bias", "theory_bias", "|bias| (nats)"), ("std", "theory_std", "std (nats)"),
                 ("rmse", "theory_rmse", "RMSE (nats)")]
            ):
                ax = axes[row, col]
                for (est, device, dtype), g in sub.groupby(["estimator", "device", "dtype"]):
                    g = g.sort_values("num_samples")
                    label = f"{est} ({device}, {dtype})" if sub[["device", "dtype"]].drop_duplicates().shape[0] > 1 else est
                    y = g[metric].abs()
                    ax.plot(g["num_samples"], y, "-", color=colors[est], label=label)
                    # Hollow markers: a bias within 2 standard errors of zero (not resolved by the sweep).
                    resolved = (y > 2 * g["bias_se"]) if metric == "bias" else y.notna()
                    ax.plot(g["num_samples"][resolved], y[resolved], "o", color=colors[est], ms=4)
                    ax.plot(g["num_samples"][~resolved], y[~resolved], "o", mfc="white", color=colors[est], ms=4)
                    if metric == "rmse":
                        ax.fill_between(g["num_samples"], g["rmse_lo"], g["rmse_hi"], color=colors[est], alpha=0.15)
                    if g[theory].notna().any():
                        ax.plot(g["num_samples"], g[theory].abs(), "--", color=colors[est], alpha=0.8, lw=1)
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_title(f"{model}: {title}")
                ax.set_xlabel("K (samples per data point)")
            axes[row, 0].legend(title="solid: measured, dashed: theory", loc="lower left")
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


def elbo_gap_vs_kl(points: pd.DataFrame, path: Path) -> Path | None:
    """Per data point: log p(x) − mean ELBO estimate against the exact KL(q ‖ p(z|x))."""
    elbo = points[points["kl"].notna()]
    if elbo.empty:
        return None
    top = elbo[elbo["num_samples"] == elbo.groupby(["model", "estimator"])["num_samples"].transform("max")]
    gap = top.groupby(["model", "estimator", "device", "dtype", "point"]).agg(
        gap=("error", lambda e: -e.mean()), se=("error", lambda e: e.std(ddof=1) / np.sqrt(len(e))), kl=("kl", "first"))
    gap = gap.reset_index()
    colors = _colors(list(gap["model"].unique()))
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(5, 4.5))
        for model, g in gap.groupby("model"):
            ax.errorbar(g["kl"], g["gap"], yerr=2 * g["se"], fmt="o", ms=3, color=colors[model], label=model, alpha=0.8)
        lim = [0, max(gap["kl"].max(), gap["gap"].max()) * 1.1]
        ax.plot(lim, lim, "k--", lw=1, label="gap = KL")
        ax.set_xlabel("exact KL(q(z|x) ‖ p(z|x))  (nats)")
        ax.set_ylabel("log p(x) − E[ELBO estimate]  (nats, ±2 SE)")
        ax.set_title("ELBO gap against KL, per data point (largest K)")
        ax.legend()
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


def cost_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """Throughput (samples/s) and peak tensor memory against K, per estimator and device."""
    cost = summary[summary["median_seconds"].notna()] if "median_seconds" in summary else summary.iloc[:0]
    if cost.empty:
        return None
    models = list(cost["model"].unique())
    colors = _colors(list(cost["estimator"].unique()))
    styles = {d: s for d, s in zip(sorted(cost["device"].unique()), ["-", "--", ":", "-."])}
    with plt.rc_context(_STYLE):
        fig, axes = plt.subplots(len(models), 2, figsize=(13, 3.3 * len(models)), squeeze=False)
        for row, model in enumerate(models):
            sub = cost[cost["model"] == model]
            for (est, device, dtype), g in sub.groupby(["estimator", "device", "dtype"]):
                g = g.sort_values("num_samples")
                where = f"{device}: {g['device_name'].iloc[0]}" if "device_name" in g and g["device_name"].notna().any() \
                    else device
                kw = dict(color=colors[est], ls=styles[device], marker="o", ms=4, label=f"{est} ({where}, {dtype})")
                axes[row, 0].plot(g["num_samples"], g["samples_per_s"], **kw)
                axes[row, 1].plot(g["num_samples"], g["peak_mib"], **kw)
            axes[row, 0].set_title(f"{model}: throughput (K·B samples / s, median)")
            axes[row, 1].set_title(f"{model}: peak tensor memory (MiB)")
            for ax in axes[row]:
                ax.set_xscale("log")
                ax.set_yscale("log")
                ax.set_xlabel("K (samples per data point)")
            # outside the data: with several devices and dtypes the legend would cover the curves
            axes[row, 1].legend(loc="center left", bbox_to_anchor=(1.02, 0.5), fontsize=7)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


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
    """Left: median |error| in bins of ESS; middle: in bins of the Pareto k̂ (do the diagnostics
    flag bad estimates?). Right: the estimate's reported standard error against the RMS of its
    actual errors (is it honest?)."""
    with_ess, with_se = points[points["ess"].notna()], points[points["stderr"].notna()]
    with_k = points[np.isfinite(points["khat"])] if "khat" in points else points.iloc[:0]
    if with_ess.empty and with_se.empty:
        return None
    colors = _colors(list(points["estimator"].unique()))
    with plt.rc_context(_STYLE):
        fig, (left, middle, right) = plt.subplots(1, 3, figsize=(16, 4.3))
        drawn = {"middle": False, "left": False, "right": False}
        for est, g in with_k.groupby("estimator"):
            edges = np.linspace(max(-0.5, g["khat"].min()), g["khat"].max() + 1e-9, 13)
            binned = g.groupby(pd.cut(g["khat"], edges), observed=True).agg(
                x=("khat", "mean"), median=("error", lambda e: e.abs().median()), n=("error", "size"))
            binned = binned[(binned["n"] >= 5) & (binned["median"] > 0)]
            middle.plot(binned["x"], binned["median"], "o-", color=colors[est], label=est, ms=4)
            drawn["middle"] |= not binned.empty
        middle.axvline(0.7, color="k", ls=":", lw=1, label="k̂ = 0.7 (PSIS: unreliable above)")
        middle.set(yscale="log" if drawn["middle"] else "linear", xlabel="Pareto k̂ of the weights",
                   ylabel="median |log p̂ − log p(x)|  (nats)", title="Error against Pareto k̂")
        middle.legend()
        for est, g in with_ess.groupby("estimator"):
            b = _binned(g["ess"], g["error"].abs())
            left.plot(b["x"], b["median"], "o-", color=colors[est], label=est, ms=4)
            left.fill_between(b["x"], b["lo"], b["hi"], color=colors[est], alpha=0.15)
            drawn["left"] |= bool((b["median"] > 0).any())
        for est, g in with_se.groupby("estimator"):
            c = _binned(g["stderr"], g["error"])
            right.plot(c["x"], c["rms"], "o-", color=colors[est], label=est, ms=4)
            drawn["right"] |= bool((c["rms"] > 0).any() and (c["x"] > 0).any())
        if not drawn["left"] or not drawn["right"]:  # nothing positive to draw on log axes
            for name, ax in (("left", left), ("right", right)):
                if not drawn[name]:
                    ax.set_visible(False)
        left.set(xscale="log", yscale="log", xlabel="effective sample size of the weights",
                 ylabel="|log p̂ − log p(x)|  (nats; median, IQR band)", title="Error against ESS")
        lims = list(right.get_xlim())
        right.plot(lims, lims, "k--", lw=1, label="honest: RMS error = stderr")
        right.set(xscale="log", yscale="log", xlabel="reported standard error of log p̂ (nats)",
                  ylabel="RMS of the actual errors in the bin (nats)", title="Is the reported stderr honest?")
        left.legend()
        right.legend()
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


def precision_tradeoff(summary: pd.DataFrame, path: Path) -> Path | None:
    """Per model: RMSE against float64 truth versus throughput, one point per (estimator, dtype, device)
    at the largest K measured, so that what TF32 or bfloat16 costs in nats sits beside what it buys."""
    cost = summary[summary["median_seconds"].notna()] if "median_seconds" in summary else summary.iloc[:0]
    if cost.empty or cost["dtype"].nunique() < 2 or cost["rmse"].notna().sum() == 0:
        return None
    top = cost[cost["num_samples"] == cost.groupby(["model", "estimator", "device", "dtype"])["num_samples"]
               .transform("max")]
    models = [m for m in top["model"].unique() if top.loc[top["model"] == m, "rmse"].notna().any()]
    colors = _colors(list(top["estimator"].unique()))
    markers = dict(zip(["float64", "float32", "tf32", "bfloat16"], ["o", "s", "^", "D"]))
    with plt.rc_context(_STYLE):
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
    with plt.rc_context(_STYLE):
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
            ax.set(xscale="log", yscale="log", xlabel="T (annealing distributions)", ylabel="nats", title=model)
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


@dataclass(frozen=True)
class Figure:
    """One figure of the report: its file name, title, function, caption and input table."""

    name: str
    title: str
    draw: Callable[[pd.DataFrame, Path], Path | None]
    caption: str
    source: str = "summary"  # or "points", "bdmc"


FIGURES: tuple[Figure, ...] = (
    Figure("error_vs_k", "How the error shrinks with K", error_vs_k,
           "Measured |bias|, standard deviation and RMSE (with 95% bootstrap band) of log p̂ against K, with the "
           "theoretical predictions dashed: −χ²/(2K) and sqrt(χ²/K) for importance-type estimators, −KL and "
           "sqrt(Var[log w]/K) for the ELBO. The importance-sampling predictions are drawn where χ²/K < 1 "
           "(the delta method fails beyond) and are absent where χ² is infinite (no √K rate). Hollow markers: "
           "a bias within 2 standard errors of zero."),
    Figure("elbo_gap_vs_kl", "ELBO gap against KL", elbo_gap_vs_kl,
           "Each point is a data point: log p(x) minus the mean ELBO estimate against the exact KL(q ‖ p(z|x)); "
           "they should lie on the diagonal. In a linear-Gaussian model with an amortised linear encoder the KL "
           "is the same for every x (the posterior covariance does not depend on x), so each of those models is one "
           "cluster; trained VAEs spread along the diagonal.", source="points"),
    Figure("cost_vs_k", "What it costs", cost_vs_k,
           "Throughput (K·B samples per second, median of timed repeats after a warm-up, device-synchronised) and "
           "peak tensor memory against K, for every device (named in the legend). Memory grows with K until one "
           "block of samples is full and is flat beyond it: the estimator streams over K."),
    Figure("precision", "What precision costs", precision_tradeoff,
           "RMSE against the float64 truth versus throughput at the largest K, per dtype: float64, float32, tf32 "
           "(float32 storage, TF32 matrix products on CUDA) and bfloat16. Filled markers: GPU; hollow: CPU. "
           "Reported, not asserted."),
    Figure("diagnostics", "Do the diagnostics see the error?", diagnostics_vs_error,
           "Left and middle: the absolute error of single estimates in bins of their effective sample size and "
           "of the Pareto k̂ of their weights (PSIS calls k̂ > 0.7 unreliable). Right: the "
           "standard error each estimate reports (delta method for importance sampling, sample SE for the ELBO) "
           "against the RMS of the actual errors in its bin; points above the diagonal are overconfident, as "
           "importance sampling is when χ² is infinite. The ELBO's standard error measures its noise around the "
           "ELBO, not its distance (the KL) to log p(x).", source="points"),
    Figure("bdmc_gap_vs_t", "How far AIS is from the truth: the BDMC gap against T", bdmc_gap_vs_t,
           "Bidirectional Monte Carlo on data simulated from each model: forward AIS (a stochastic lower bound) and "
           "reverse AIS from the latents that generated the data (a stochastic upper bound) at each number of "
           "annealing distributions T. Their mean gap bounds the error of both; where log p(x) is known, each "
           "bound's own mean distance to it is drawn too. Hollow markers: not resolved from zero (within 2 standard "
           "errors over points), drawn at that noise floor; the grey line is the gap's.", source="bdmc"),
)
