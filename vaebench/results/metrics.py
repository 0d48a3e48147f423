"""Summaries of sweep records with pandas: error against the truth, theory, diagnostics, cost.

Per (model, estimator, K, device, dtype), over the sweep's data points p and replicates r, with
error e_pr = log p̂ − log p(x_p):
- bias = mean e; its standard error from the per-point replicate variances;
- std = sqrt(mean_p Var_r e_pr) (the spread of one estimate around its own mean);
- RMSE = sqrt(mean e²), with a bootstrap interval over replicates;
- theory, where the model gives it: importance-type estimators (``importance_weighted`` tag)
  have bias ≈ −χ²/(2K) and std ≈ sqrt(χ²/K) (delta method; given only where mean χ²/K < 1,
  as it fails beyond); ELBO-type
  estimators have bias −KL(q ‖ p(z|x)) exactly and std sqrt(Var_q[log w] / K) exactly;
- ESS/K, the Pareto k̂ of the weights (mean, and the share of estimates above 0.7, the PSIS
  threshold of unreliability), throughput (K·B / median time) and peak tensor memory.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["points_table", "cells_table", "summarize", "GROUP"]

GROUP = ["model", "estimator", "num_samples", "device", "dtype"]
CONTAMINATED_CORES = 0.1  # cores of CPU time other processes took while a timing ran (vaebench.runtime)


def points_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per (cell, data point)."""
    frames = []
    for rec in records:
        cell, theory = rec["cell"], rec["theory"]
        n = len(rec["log_px"])
        frame = pd.DataFrame({**{k: [v] * n for k, v in cell.items()}, "point": range(n),
                              "log_px": rec["log_px"],
                              "truth": theory["truth"] if theory.get("truth") is not None else [np.nan] * n})
        for key in ("ess", "stderr", "khat"):
            frame[key] = rec[key] if rec.get(key) is not None else np.nan
        tags = rec["tags"]
        chi2 = theory.get("chi2_encoder" if tags["needs_proposal"] else "chi2_prior")
        frame["chi2"] = chi2 if (chi2 is not None and tags["importance_weighted"]) else np.nan
        frame["kl"] = theory["kl"] if (tags["elbo_in_expectation"] and "kl" in theory) else np.nan
        frame["log_weight_var"] = (theory["log_weight_var"] if (tags["elbo_in_expectation"] and "log_weight_var" in theory)
                                   else np.nan)
        frames.append(frame)
    if not frames:
        raise ValueError("no finished cells to summarise")
    points = pd.concat(frames, ignore_index=True)
    points["error"] = points["log_px"] - points["truth"]
    return points


def cells_table(records: Iterable[dict[str, Any]]) -> pd.DataFrame:
    """One row per cell with its cost measurements (timing and memory on replicate 0)."""
    rows = []
    for rec in records:
        timing = rec.get("timing") or {}
        repeats = timing.get("repeats") or []
        rows.append({**rec["cell"], "seconds": rec["seconds"], "median_seconds": timing.get("median"),
                     "min_seconds": min(repeats) if repeats else None, "max_seconds": max(repeats) if repeats else None,
                     "peak_bytes": rec.get("peak_bytes"), "num_points": len(rec["log_px"]),
                     "device_name": rec["meta"]["device_name"], "threads": rec["meta"]["threads"],
                     "others_cores": timing.get("others_cores"), "waited_cores": timing.get("waited_cores"),
                     # judged here from the measured CPU time of other processes and the time this
                     # process waited for a core (not the load average, which counts a multi-threaded
                     # run's own threads on a many-core machine)
                     "contaminated": max(timing.get("others_cores") or 0.0,
                                         timing.get("waited_cores") or 0.0) > CONTAMINATED_CORES})
    return pd.DataFrame(rows)


def _bootstrap_rmse(errors: np.ndarray, rng: np.random.Generator, draws: int = 400) -> tuple[float, float]:
    """95% interval of the RMSE, resampling replicates (rows of ``errors`` [R, P])."""
    r = errors.shape[0]
    if r < 2:
        return (np.nan, np.nan)
    idx = rng.integers(0, r, size=(draws, r))
    rmse = np.sqrt((errors[idx] ** 2).mean(axis=(1, 2)))
    return tuple(np.quantile(rmse, [0.025, 0.975]))


def _k_var_ratio(wide: np.ndarray, k: int) -> float:
    with np.errstate(over="ignore", invalid="ignore"):
        return float(np.mean(k * np.exp(wide).var(axis=0, ddof=1)))


def summarize(points: pd.DataFrame, cells: pd.DataFrame | None = None, seed: int = 0) -> pd.DataFrame:
    """The summary table, one row per (model, estimator, K, device, dtype)."""
    rng = np.random.default_rng(seed)
    rows = []
    for key, g in points.groupby(GROUP, sort=True):
        k = key[2]
        wide = g.pivot(index="replicate", columns="point", values="error").to_numpy()  # [R, P]
        r, p = wide.shape
        var_p = wide.var(axis=0, ddof=1) if r > 1 else np.full(p, np.nan)
        bias = wide.mean()
        per_point = g.groupby("point").first()
        chi2, kl, lwv = per_point["chi2"].to_numpy(), per_point["kl"].to_numpy(), per_point["log_weight_var"].to_numpy()
        if np.isfinite(kl).all():
            theory_bias, theory_std = -kl.mean(), np.sqrt((lwv / k).mean())
            theory_rmse = np.sqrt((kl**2 + lwv / k).mean())
        elif np.isfinite(chi2).all() and (chi2 / k).mean() < 1:  # the delta method needs χ²/K small
            theory_bias, theory_std = -(chi2 / (2 * k)).mean(), np.sqrt((chi2 / k).mean())
            theory_rmse = np.sqrt(((chi2 / (2 * k)) ** 2 + chi2 / k).mean())
        else:
            theory_bias = theory_std = theory_rmse = np.nan
        lo, hi = _bootstrap_rmse(wide, rng)
        point_rmse = np.sqrt((wide**2).mean(axis=0))  # [P]
        known = np.isfinite(g["truth"]) if "truth" in g else g["error"].notna()
        has_truth = bool(known.any())
        # Estimates of ±inf or beyond 1e30 nats on a model with truth: never "no truth", always said.
        estimate = g["log_px"] if "log_px" in g else g["error"]
        broken = g[known & ~(np.abs(estimate) < 1e30)]
        rows.append({
            **dict(zip(GROUP, key)),
            "has_truth": has_truth, "nonfinite_estimates": len(broken),
            "nonfinite_example": float(estimate[broken.index[0]]) if len(broken) else np.nan,
            "replicates": r, "points": p,
            "bias": bias, "bias_se": np.sqrt(var_p.sum() / r) / p if r > 1 else np.nan,
            "std": np.sqrt(np.nanmean(var_p)) if r > 1 and np.isfinite(var_p).any() else np.nan,
            "rmse": np.sqrt((wide**2).mean()), "rmse_lo": lo, "rmse_hi": hi,
            # Robust headlines: one hard data point can dominate the mean (RMSE 13.6 nats on one
            # mnist-2d point against a median of 0.18), so the per-point RMSE's median, 90th
            # percentile and worst point are reported beside it.
            "rmse_point_median": np.median(point_rmse), "rmse_point_p90": np.quantile(point_rmse, 0.9),
            "worst_point": int(per_point.index[int(np.argmax(point_rmse))]) if np.isfinite(point_rmse).any() else -1,
            "theory_bias": theory_bias, "theory_std": theory_std, "theory_rmse": theory_rmse,
            "chi2_mean": np.nanmean(chi2) if np.isfinite(chi2).any() else (np.inf if np.isinf(chi2).any() else np.nan),
            "kl_mean": np.nanmean(kl) if np.isfinite(kl).any() else np.nan,
            # K·Var[p̂/p], per point over replicates, mean over points (as χ² is): flat in K where the
            # estimator has the √K rate of an average of K weights with finite variance (χ² < ∞).
            "k_var_ratio": _k_var_ratio(wide, k) if r > 1 else np.nan,
            "ess_over_k": g["ess"].mean() / k,
            "khat_mean": g["khat"].replace(-np.inf, np.nan).mean(),
            "khat_over_0.7": (g["khat"] > 0.7).mean() if g["khat"].notna().any() else np.nan,
        })
    summary = pd.DataFrame(rows)
    if cells is not None and not cells.empty:
        cost = cells[cells["replicate"] == 0].set_index(GROUP)[["median_seconds", "min_seconds", "max_seconds",
                                                                 "peak_bytes", "num_points", "threads", "device_name",
                                                                 "contaminated"]]
        summary = summary.join(cost, on=GROUP)
        work = summary["num_samples"] * summary["num_points"]
        summary["samples_per_s"] = work / summary["median_seconds"]
        # The spread over timing repeats: slowest and fastest repeat.
        summary["samples_per_s_lo"] = work / summary["max_seconds"].astype(float)
        summary["samples_per_s_hi"] = work / summary["min_seconds"].astype(float)
        summary["peak_mib"] = summary["peak_bytes"] / 2**20
    return summary
