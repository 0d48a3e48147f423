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
           "precision_tradeoff", "bdmc_gap_vs_t", "k_variance_vs_k", "rmse_vs_time", "point_errors", "error_vs_t"]

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


def _log_axes(ax) -> None:
    """Log-log axes labelled at powers of ten (no '3×10⁰, 2×10⁰' clutter), or at 1-2-5 steps where the data
    span less than a decade and a half (call after plotting)."""
    from matplotlib.ticker import FuncFormatter, LogLocator, NullFormatter

    drawn = [np.asarray(getattr(line, f"get_{a}data")(), dtype=float) for line in ax.get_lines() for a in "xy"]
    xs = np.concatenate([drawn[i] for i in range(0, len(drawn), 2)] or [np.array([])])
    ys = np.concatenate([drawn[i] for i in range(1, len(drawn), 2)] or [np.array([])])
    if not ((xs > 0) & np.isfinite(xs)).any() or not ((ys > 0) & np.isfinite(ys)).any():
        return  # nothing positive to draw on a log axis (e.g. a panel whose cells all failed): stay linear
    ax.set_xscale("log")
    ax.set_yscale("log")
    for axis, limits in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
        low, high = sorted(limits)
        narrow = low > 0 and high / low < 30
        axis.set_major_locator(LogLocator(base=10, subs=(1, 2, 5) if narrow else (1.0,), numticks=12))
        if narrow:
            axis.set_major_formatter(FuncFormatter(lambda v, _: f"{v:g}"))
        axis.set_minor_formatter(NullFormatter())


def _legend_right(fig, axes_with_handles) -> None:
    """One legend for the figure, outside the data on the right (entries collected from every panel)."""
    seen: dict[str, object] = {}
    for ax in axes_with_handles:
        for h, label in zip(*ax.get_legend_handles_labels()):
            seen.setdefault(label, h)
    if seen:
        fig.legend(list(seen.values()), list(seen), loc="center right", bbox_to_anchor=(0.998, 0.5), frameon=False)


def error_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """|bias|, std and RMSE against K per model (log-log): measured solid with markers, theory dashed on
    top, the 2-SE noise floor of the bias dotted, RMSE with its 95% band; panels where an estimator's
    χ² is infinite say so. Models without truth (throughput only) are left out."""
    models = [m for m in summary["model"].unique() if (summary.loc[summary["model"] == m, "rmse"] > 0).any()]
    if not models:
        return None
    colors = _colors(list(summary["estimator"].unique()))
    with plt.rc_context(_STYLE):
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
                _log_axes(ax)
                ax.set_title(f"{model}: {title}")
                ax.set_xlabel("K (samples per data point)")
        from matplotlib.lines import Line2D

        axes[0, 0].add_line(Line2D([], [], color="0.3", ls="--", lw=1.4, label="theory (dashed, on top)"))
        axes[0, 0].add_line(Line2D([], [], color="0.3", ls=":", lw=1, label="2 SE noise floor of |bias|"))
        _legend_right(fig, axes.flat)
        fig.tight_layout(rect=(0, 0, 0.82, 1))
        save_figure(fig, path)
        plt.close(fig)
    return path


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
    colors = _colors(list(gap["model"].unique()))
    positive = gap[(gap["kl"] > 0)]
    if positive.empty:
        return None
    low = max(1e-4, 0.5 * positive["kl"].min())
    with plt.rc_context(_STYLE):
        fig, ax = plt.subplots(figsize=(6.8, 4.6))
        for model, g in gap[gap["kl"] > 0].groupby("model"):
            shown = g["gap"].clip(lower=low)
            ax.errorbar(g["kl"], shown, yerr=np.minimum(2 * g["se"], shown - low * 0.999), fmt="o", ms=3,
                        color=colors[model], label=model, alpha=0.8)
        high = max(positive["kl"].max(), gap["gap"].max()) * 1.5
        ax.plot([low, high], [low, high], "k--", lw=1, label="gap = KL")
        _log_axes(ax)
        ax.set_xlabel("exact KL(q(z|x) ‖ p(z|x))  (nats)")
        ax.set_ylabel("log p(x) − E[ELBO estimate]  (nats, ±2 SE)")
        ax.set_title("ELBO gap against KL, per data point (largest K)")
        ax.legend(loc="center left", bbox_to_anchor=(1.02, 0.5), frameon=False)
        fig.tight_layout()
        save_figure(fig, path)
        plt.close(fig)
    return path


def cost_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """Throughput (samples/s, with the spread over timing repeats) and peak tensor memory against K, per
    estimator (colour and marker) and device (line style)."""
    cost = summary[summary["median_seconds"].notna()] if "median_seconds" in summary else summary.iloc[:0]
    if cost.empty:
        return None
    models = list(cost["model"].unique())
    colors = _colors(list(cost["estimator"].unique()))
    markers = dict(zip(sorted(cost["estimator"].unique()), "osD^v<>ph*"))
    styles = {d: s for d, s in zip(sorted(cost["device"].unique()), ["-", "--", ":", "-."])}
    with plt.rc_context(_STYLE):
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
                _log_axes(ax)
                ax.set_xlabel("K (samples per data point)")
        _legend_right(fig, axes.flat)
        fig.tight_layout(rect=(0, 0, 0.78, 1))
        save_figure(fig, path)
        plt.close(fig)
    return path


class _ModelPanels:
    """A grid of panels, one per model (at most 3 across), with one legend outside on the right:
    ``with _ModelPanels(models, path) as panels: for ax, model in panels: ...``."""

    def __init__(self, models: list[str], path: Path, legend_inches: float = 2.0) -> None:
        self.models, self.path, self.legend_inches = models, path, legend_inches

    def __enter__(self) -> "_ModelPanels":
        self._style = plt.rc_context(_STYLE)
        self._style.__enter__()
        cols = min(3, len(self.models))
        rows = -(-len(self.models) // cols)
        self.fig, self.axes = plt.subplots(rows, cols, figsize=(4.4 * cols + self.legend_inches, 3.2 * rows),
                                           squeeze=False)
        return self

    def __iter__(self):
        return iter(zip(self.axes.flat, self.models))

    def __exit__(self, *exc: object) -> None:
        try:
            if exc[0] is None:
                for ax in list(self.axes.flat)[len(self.models):]:
                    ax.set_visible(False)
                _legend_right(self.fig, self.axes.flat)
                self.fig.tight_layout(rect=(0, 0, 1 - self.legend_inches / self.fig.get_figwidth(), 1))
                save_figure(self.fig, self.path)
        finally:
            plt.close(self.fig)
            self._style.__exit__(*exc)


def k_variance_vs_k(summary: pd.DataFrame, path: Path) -> Path | None:
    """K · Var[p̂ / p] against K per model (mean over points): flat where the estimator averages K
    weights of finite variance (the √K rate), at the level χ² where theory gives it; rising where χ² = ∞."""
    data = summary[np.isfinite(summary.get("k_var_ratio", pd.Series(dtype=float)))] if "k_var_ratio" in summary \
        else summary.iloc[:0]
    data = data[data["k_var_ratio"] > 0]
    if data.empty:
        return None
    models = list(data["model"].unique())
    colors = _colors(list(summary["estimator"].unique()))
    with _ModelPanels(models, path) as panels:
        for ax, model in panels:
            for (est, device, dtype), g in data[data["model"] == model].groupby(["estimator", "device", "dtype"]):
                g = g.sort_values("num_samples")
                ax.plot(g["num_samples"], g["k_var_ratio"], "o-", ms=3, color=colors[est], label=est)
                chi2 = g["chi2_mean"].iloc[0] if "chi2_mean" in g else np.nan
                if np.isfinite(chi2) and chi2 > 0:
                    ax.axhline(chi2, color=colors[est], ls="--", lw=1, label="χ² (theory, dashed)")
            _log_axes(ax)
            ax.set(title=model, xlabel="K", ylabel="K · Var[p̂ / p]  (mean over points)")
    return path


def rmse_vs_time(summary: pd.DataFrame, path: Path) -> Path | None:
    """Per model: RMSE against the wall time of one estimate (all K, one line per estimator): the figure a
    user chooses by — lower left is better."""
    data = summary[summary["median_seconds"].notna() & np.isfinite(summary["rmse"])] if "median_seconds" in summary \
        else summary.iloc[:0]
    data = data[data["rmse"] > 0]
    if data.empty:
        return None
    models = list(data["model"].unique())
    colors = _colors(list(summary["estimator"].unique()))
    with _ModelPanels(models, path) as panels:
        for ax, model in panels:
            for (est, device, dtype), g in data[data["model"] == model].groupby(["estimator", "device", "dtype"]):
                g = g.sort_values("median_seconds")
                ax.plot(g["median_seconds"], g["rmse"], "o-", ms=3, color=colors[est], label=est)
                last = g.iloc[-1]
                ax.annotate(f"K={int(last['num_samples'])}", (last["median_seconds"], last["rmse"]), fontsize=6,
                            color=colors[est], xytext=(2, 2), textcoords="offset points")
            ax.axhline(0.1, color="0.5", ls=":", lw=1, label="0.1 nats")
            _log_axes(ax)
            ax.set(title=model, xlabel="seconds per estimate (all points)", ylabel="RMSE (nats)")
    return path


def error_vs_t(summary: pd.DataFrame, path: Path) -> Path | None:
    """Per model: RMSE (solid) and |bias| (dashed) of annealed estimators against the number of
    annealing distributions T, one colour per K (needs the same estimator at two T or more)."""
    if "num_steps" not in summary:
        return None
    data = summary[summary["num_steps"].notna() & np.isfinite(summary["rmse"])]
    data = data[data.groupby(["model", "base_estimator"])["num_steps"].transform("nunique") > 1]
    if data.empty:
        return None
    models = list(data["model"].unique())
    ks = sorted(data["num_samples"].unique())
    colors = {k: plt.cm.viridis(i / max(1, len(ks) - 1)) for i, k in enumerate(ks)}
    with _ModelPanels(models, path) as panels:
        for ax, model in panels:
            for (base, k), g in data[data["model"] == model].groupby(["base_estimator", "num_samples"]):
                g = g.sort_values("num_steps")
                ax.plot(g["num_steps"], g["rmse"], "o-", ms=3, color=colors[k], label=f"RMSE, K = {k}")
                ax.plot(g["num_steps"], g["bias"].abs(), "s--", ms=3, color=colors[k], mfc="none",
                        label=f"|bias|, K = {k}")
            _log_axes(ax)
            ax.set(title=f"{model}", xlabel="T (annealing distributions)", ylabel="nats")
    return path


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
    colors = _colors(list(points["estimator"].unique()))
    with _ModelPanels(models, path) as panels:
        for ax, model in panels:
            for est, g in per_point[per_point["model"] == model].groupby("estimator"):
                v = np.sort(g["error"].clip(lower=1e-6).to_numpy())
                ax.plot(v, np.arange(1, len(v) + 1) / len(v), "-", color=colors[est], label=est, drawstyle="steps-post")
            ax.axvline(0.1, color="0.5", ls=":", lw=1, label="0.1 nats")
            ax.set_xscale("log")
            ax.set(title=f"{model} (largest K)", xlabel="per-point RMSE (nats)", ylabel="fraction of points ≤")
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


KHAT_RANGE = (-0.5, 2.0)  # k̂ beyond 2 says the same as 2: the weights' tail is extremely heavy


def diagnostics_vs_error(points: pd.DataFrame, path: Path) -> Path | None:
    """One row per model. Left: median |error| in bins of ESS; middle: in bins of the Pareto k̂ (clipped to
    [−0.5, 2], lines at 0.5 and 0.7); right: the reported standard error against the RMS of the actual
    errors (importance-type estimators only: the ELBO's stderr measures noise around the ELBO, not its gap)."""
    usable = points[points["ess"].notna() | points["stderr"].notna()]
    if usable.empty:
        return None
    models = list(usable["model"].unique())
    colors = _colors(list(points["estimator"].unique()))
    lo, hi = KHAT_RANGE
    with plt.rc_context(_STYLE):
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
            _log_axes(left)
            left.set(xlabel="effective sample size of the weights", ylabel="|error| (nats; median, IQR band)",
                     title=f"{model}: error against ESS")
            honest = sub[sub["stderr"].notna() & sub["kl"].isna()]
            for est, g in honest.groupby("estimator"):
                c = _binned(g["stderr"], g["error"])
                right.plot(c["x"], c["rms"], "o-", color=colors[est], label=est, ms=4)
            if not honest.empty:
                span = [honest["stderr"][honest["stderr"] > 0].min(), honest["stderr"].max()]
                right.plot(span, span, "k--", lw=1, label="honest: RMS error = stderr")
            _log_axes(right)
            right.set(xlabel="reported standard error of log p̂ (nats)", ylabel="RMS of the actual errors (nats)",
                      title=f"{model}: is the reported stderr honest?")
        _legend_right(fig, axes.flat)
        fig.tight_layout(rect=(0, 0, 0.84, 1))
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
           "theoretical predictions dashed on top: −χ²/(2K) and sqrt(χ²/K) for importance-type estimators, −KL and "
           "sqrt(Var[log w]/K) for the ELBO. The importance-sampling predictions are drawn where χ²/K < 1 "
           "(the delta method fails beyond) and are absent where χ² is infinite (annotated: no √K rate). Dotted: "
           "twice the standard error of the bias, the noise floor; hollow markers: a bias below it."),
    Figure("elbo_gap_vs_kl", "ELBO gap against KL", elbo_gap_vs_kl,
           "Each point is a data point (log-log, one colour per model): log p(x) minus the mean ELBO estimate "
           "against the exact KL(q ‖ p(z|x)); they should lie on the diagonal. In a linear-Gaussian model with an amortised linear encoder the KL "
           "is the same for every x (the posterior covariance does not depend on x), so each of those models is one "
           "cluster; trained VAEs spread along the diagonal.", source="points"),
    Figure("cost_vs_k", "What it costs", cost_vs_k,
           "Throughput (K·B samples per second, median of timed repeats after a warm-up, device-synchronised; bars "
           "from the slowest to the fastest repeat) and peak tensor memory against K, for every device (named in "
           "the legend; estimators by colour and marker). Memory grows with K until one "
           "block of samples is full and is flat beyond it: the estimator streams over K."),
    Figure("precision", "What precision costs", precision_tradeoff,
           "RMSE against the float64 truth versus throughput at the largest K, per dtype: float64, float32, tf32 "
           "(float32 storage, TF32 matrix products on CUDA) and bfloat16. Filled markers: GPU; hollow: CPU. "
           "Reported, not asserted."),
    Figure("diagnostics", "Do the diagnostics see the error?", diagnostics_vs_error,
           "One row per model. Left and middle: the absolute error of single estimates in bins of their effective "
           "sample size and of the Pareto k̂ of their weights (clipped to [−0.5, 2]; PSIS calls k̂ > 0.7 "
           "unreliable, and k̂ < 0.5 means finite variance). Right: the standard error each importance-type "
           "estimate reports (delta method) against the RMS of the actual errors in its bin; points above the "
           "diagonal are overconfident, as importance sampling is when χ² is infinite. The ELBO is left out there: "
           "its standard error measures its noise around the ELBO, not its distance (the KL) to log p(x).",
           source="points"),
    Figure("k_variance_vs_k", "Is the error shrinking at the √K rate?", k_variance_vs_k,
           "K · Var[p̂ / p] against K (per data point over replicates, mean over points). An average of K "
           "weights with finite variance keeps it flat at χ²(p(z|x) ‖ q) (dashed where theory gives it); a curve "
           "that rises or wanders says the variance is infinite or not yet resolved, and √K error bars do not "
           "apply."),
    Figure("rmse_vs_time", "Accuracy for the time spent", rmse_vs_time,
           "RMSE against the wall time of one estimate of all the model's data points, one line per estimator "
           "through its K values (the largest labelled): the estimator to use is the one lowest at the time you can "
           "spend. The dotted line is 0.1 nats."),
    Figure("error_vs_t", "Annealing: the error against T", error_vs_t,
           "For estimators run at several numbers of annealing distributions T (the sweep's variants, e.g. "
           "ais-T4, ais-T16, ais-T64): RMSE (solid) and |bias| (dashed) against T at each K. AIS is unbiased in "
           "p for every T; its log is biased low by about Var[w/p]/2K, which more temperatures shrink."),
    Figure("point_errors", "How the error is spread over data points", point_errors,
           "Per model, the distribution over data points of each estimator's per-point RMSE at its largest K "
           "(cumulative): one hard point can dominate a mean RMSE, so the median and the worst decile are read "
           "off here.", source="points"),
    Figure("bdmc_gap_vs_t", "How far AIS is from the truth: the BDMC gap against T", bdmc_gap_vs_t,
           "Bidirectional Monte Carlo on data simulated from each model: forward AIS (a stochastic lower bound) and "
           "reverse AIS from the latents that generated the data (a stochastic upper bound) at each number of "
           "annealing distributions T. Their mean gap bounds the error of both; where log p(x) is known, each "
           "bound's own mean distance to it is drawn too. Hollow markers: not resolved from zero (within 2 standard "
           "errors over points), drawn at that noise floor; the grey line is the gap's.", source="bdmc"),
)
