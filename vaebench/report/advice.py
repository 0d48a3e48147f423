"""What the report opens with: the models, and which estimator and K to use, derived from the run.

- `models_table`: per model its sizes, encoder, and the theory that predicts the estimators'
  behaviour (χ² of the encoder and of the prior, KL, Var[log w]) as distributions over points.
- `recommendations`: per model and estimator, the smallest K (and its wall time) that reaches
  |bias| < 0.1 nats and RMSE < 0.1 nats on the median point and on the worst decile; whether the
  reported standard error can be trusted there; and how well ESS and Pareto k̂ separated good
  estimates from bad ones in this run.
- `winners_at_budget`: per model and wall-time budget, the estimator with the lowest RMSE among the
  K it can afford in that time (the choice a researcher with a fixed compute budget faces).
- `claims_and_verified`: what each estimator claims, beside what this run's data verified (a claim
  is verified only where the sweep tested it: bounds by a one-sided 5σ test of the mean error at
  every K, consistency by the RMSE falling with K; unbiasedness in p is left to the kit).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pandas as pd

__all__ = ["models_table", "recommendations", "claims_and_verified", "winners_at_budget", "TARGET_NATS", "BUDGETS"]

TARGET_NATS = 0.1
_N_SIGMA = 5.0
_ENCODER_WORDS = {"exact": "exact-family", "mean-field": "mean-field", "prior": "the prior"}


def _spread(values: Any) -> str:
    """'median / 90th percentile / max' of per-point values (∞ counted)."""
    v = np.asarray([np.nan if x is None else x for x in (values or [])], dtype=float)
    v = v[~np.isnan(v)]
    if v.size == 0:
        return "-"
    inf = int(np.isinf(v).sum())
    finite = v[np.isfinite(v)]
    if finite.size == 0:
        return f"∞ at all {inf} points"
    text = (f"{np.quantile(v, 0.5, method='higher'):.3g} / {np.quantile(v, 0.9, method='higher'):.3g} / "
            f"{v.max():.3g}")
    return text + (f" (∞ at {inf} of {v.size})" if inf else "")


def _encoder(options: dict[str, Any], family: str) -> str:
    if "encoder" not in options and family not in ("linear-gaussian", "ppca"):
        return "trained (amortised Gaussian)" if family not in ("iwae-init",) else "initialised, untrained"
    words = _ENCODER_WORDS.get(options.get("encoder", "mean-field"), str(options.get("encoder")))
    extras = []
    if options.get("encoder_scale", 1.0) != 1.0:
        extras.append(f"sd × {options['encoder_scale']:g}")
    if options.get("encoder_shift", 0.0):
        extras.append(f"shift {options['encoder_shift']:g} sd")
    return words + (f" ({', '.join(extras)})" if extras else "")


def models_table(records: list[dict], config: dict) -> pd.DataFrame:
    """One row per model: family, D, d, encoder, points, and the per-point theory as
    median / 90th percentile / max."""
    entries = {m["name"]: m for m in config.get("models", [])}
    rows, seen = [], set()
    for rec in records:
        model = rec["cell"]["model"]
        if model in seen:
            continue
        seen.add(model)
        theory, entry = rec["theory"], entries.get(model, {"model": "?", "options": {}})
        dims = theory.get("dims") or [None, None]
        error = theory.get("quadrature_error")
        rows.append({
            "model": model, "family": entry["model"], "D": dims[0], "d": dims[1],
            "encoder": _encoder(entry.get("options", {}), entry["model"]), "points": len(rec["log_px"]),
            "truth": "none" if theory.get("truth") is None else ("quadrature" if error and max(error) > 0 else
                                                                 "closed form"),
            "χ² encoder (med / p90 / max)": _spread(theory.get("chi2_encoder")),
            "χ² prior (med / p90 / max)": _spread(theory.get("chi2_prior")),
            "KL (med / p90 / max)": _spread(theory.get("kl")),
            "Var[log w] (med / p90 / max)": _spread(theory.get("log_weight_var")),
            "truth error bound": f"{max(error):.1g}" if error else ("0" if theory.get("truth") is not None else "-"),
        })
    return pd.DataFrame(rows)


def _first_k(g: pd.DataFrame, ok: pd.Series) -> tuple[Any, Any]:
    hits = g[ok.reindex(g.index, fill_value=False)]
    if hits.empty:
        return None, None
    row = hits.sort_values("num_samples").iloc[0]
    return int(row["num_samples"]), row.get("median_seconds", np.nan)


def _calibration(points: pd.DataFrame) -> float:
    """mean reported stderr² over the replicate variance of log p̂, pooled over points (NaN without stderr)."""
    if points["stderr"].isna().all() or points["replicate"].nunique() < 2:
        return np.nan
    var = points.groupby("point")["log_px"].var(ddof=1)
    reported = points.groupby("point")["stderr"].apply(lambda s: float((s**2).mean()))
    return float(reported.mean() / var.mean()) if var.mean() > 0 else np.nan


def _separation(points: pd.DataFrame) -> str:
    """How well k̂ > 0.7 and ESS < 10 flagged the estimates that missed the target in this run."""
    good = points["error"].abs() < TARGET_NATS
    parts = []
    for name, column, flagged in (("k̂ > 0.7", "khat", points["khat"] > 0.7), ("ESS < 10", "ess", points["ess"] < 10)):
        known = points[column].notna()
        if not known.any() or flagged[known].all() or (~flagged[known]).all():
            continue
        ok_in = good[known & ~flagged].mean()
        ok_out = good[known & flagged].mean()
        parts.append(f"{name}: {ok_out:.0%} within {TARGET_NATS:g} nats, else {ok_in:.0%}")
    return "; ".join(parts) or "not separable here (no flagged or no unflagged estimates)"


def recommendations(summary: pd.DataFrame, points: pd.DataFrame) -> pd.DataFrame:
    """One row per (model, estimator) with truth (the first device and dtype of the run)."""
    rows = []
    for (model, est), g in summary.groupby(["model", "estimator"], sort=False):
        device, dtype = g.iloc[0]["device"], g.iloc[0]["dtype"]
        g = g[(g["device"] == device) & (g["dtype"] == dtype)].sort_values("num_samples")
        if not np.isfinite(g["rmse"]).any():
            continue
        close = g["bias"].abs() < TARGET_NATS
        k_med, t_med = _first_k(g, close & (g["rmse_point_median"] < TARGET_NATS))
        k_worst, t_worst = _first_k(g, close & (g["rmse_point_p90"] < TARGET_NATS))
        sel = (points["model"] == model) & (points["estimator"] == est) & (points["device"] == device) & (
            points["dtype"] == dtype)
        at_k = k_worst or k_med or int(g["num_samples"].max())
        ratio = _calibration(points[sel & (points["num_samples"] == at_k)])
        trust = ("-" if not np.isfinite(ratio) else
                 f"{'yes' if 1 / 1.5 <= ratio <= 1.5 else 'no'} (reported / actual variance {ratio:.2g} at K={at_k})")
        def when(k: Any, t: Any) -> str:
            if k is None:
                return f"not reached (K ≤ {int(g['num_samples'].max())})"
            return f"K = {k}" + (f" ({t * 1e3:.3g} ms)" if t is not None and np.isfinite(t) else "")
        rows.append({"model": model, "estimator": est, "median point": when(k_med, t_med),
                     "worst decile": when(k_worst, t_worst), "stderr trustworthy": trust,
                     "diagnostics in this run": _separation(points[sel])})
    return pd.DataFrame(rows)


def claims_and_verified(summary: pd.DataFrame, tags: dict[str, dict], cautions: dict[str, str] | None = None
                        ) -> pd.DataFrame:
    """Per (model, estimator): its claims, what this run verified of them (or found broken), and the
    estimator's caution (`EstimatorSpec.caution`, e.g. the harmonic mean's infinite variance)."""
    rows = []
    for (model, est), g in summary.groupby(["model", "estimator"], sort=False):
        g = g.sort_values("num_samples")
        broken = int(g["nonfinite_estimates"].sum()) if "nonfinite_estimates" in g else 0
        if not np.isfinite(g["rmse"]).any() and not broken:
            continue
        t = tags.get(est, {})
        claims = [w for k, w in (("unbiased_in_p", "unbiased in p"), ("unbiased_in_log_p", "unbiased in log p"),
                                 ("lower_bound", "lower bound"), ("upper_bound", "upper bound"),
                                 ("upper_bound_in_limit", "upper bound in the limit K → ∞"),
                                 ("consistent", "consistent")) if t.get(k)]
        found = []
        if broken:
            worst = g.loc[g["nonfinite_estimates"] > 0].iloc[0]
            value = worst["nonfinite_example"]
            bound = (" (a lower bound cannot be +inf)" if t.get("lower_bound") and value > 0 else
                     " (an upper bound cannot be −inf)" if t.get("upper_bound") and value < 0 else "")
            found.append(f"BROKEN: {broken} estimates are infinite or absurd (e.g. {value:.3g} at "
                         f"K={worst['num_samples']}){bound}")
        se = g["bias_se"].replace(0, np.nan)
        z = (g["bias"] / se).to_numpy()
        for tag, sign, word in (("lower_bound", 1, "lower bound"), ("upper_bound", -1, "upper bound")):
            if t.get(tag) and np.isfinite(z).any():
                worst = np.nanmax(sign * z)
                k_bad = g["num_samples"].to_numpy()[np.nanargmax(sign * z)]
                found.append(f"{word}: held at every K (max z {worst:+.1f})" if worst <= _N_SIGMA
                             else f"{word}: VIOLATED at K={k_bad} (z {worst:+.1f})")
        if t.get("unbiased_in_log_p") and np.isfinite(z).any():
            worst = np.nanmax(np.abs(z))
            k_bad = g["num_samples"].to_numpy()[np.nanargmax(np.abs(z))]
            found.append(f"unbiased in log p: held at every K (max |z| {worst:.1f})" if worst <= _N_SIGMA
                         else f"unbiased in log p: VIOLATED at K={k_bad} (z {z[np.nanargmax(np.abs(z))]:+.1f})")
        if t.get("upper_bound_in_limit") and not t.get("upper_bound") and np.isfinite(z).any():
            below = g["num_samples"].to_numpy()[np.isfinite(z) & (z < -_N_SIGMA)]
            found.append("upper bound in the limit: " + (f"below log p(x) at K = {', '.join(map(str, below))} (allowed: "
                                                         "it holds only in the limit)" if below.size else
                                                         "at or above log p(x) at every K run"))
        if t.get("consistent") and len(g) > 1:
            lo, hi = g.iloc[0], g.iloc[-1]
            fell = hi["rmse_hi"] < lo["rmse_lo"]
            found.append(f"consistent: RMSE {lo['rmse']:.3g} → {hi['rmse']:.3g} from K={lo['num_samples']} to "
                         f"{hi['num_samples']}" + ("" if fell else " (not resolved)"))
        if t.get("unbiased_in_p"):
            found.append("unbiased in p: tested by `vaebench check`, not by a sweep")
        rows.append({"model": model, "estimator": est, "claims": ", ".join(claims) or "-",
                     "verified in this run": "; ".join(found) or "-",
                     "caution": (cautions or {}).get(est, "") or "-"})
    return pd.DataFrame(rows)


# Wall-time budgets of the winners table, in seconds per call (the sweep's points at once).
BUDGETS = (1e-3, 1e-2, 1e-1, 1.0)


def _budget_label(seconds: float) -> str:
    return f"≤ {seconds * 1e3:g} ms" if seconds < 1 else f"≤ {seconds:g} s"


def winners_at_budget(summary: pd.DataFrame, tags: dict[str, dict], cautions: dict[str, str] | None = None,
                      budgets: tuple[float, ...] = BUDGETS) -> pd.DataFrame:
    """Per model with truth and per budget: the estimator with the lowest RMSE among its cells whose
    median wall time is within the budget, as "estimator (K, RMSE)".

    The first device and dtype of the run are compared. Estimators given exact posterior draws
    (``needs_exact_posterior``: reverse AIS, the EUBO, the harmonic mean) are left out: the draws are
    free to them here and do not exist for a real model. A winner with a caution is marked "⚠".
    """
    cautions = cautions or {}
    rows = []
    for model, g in summary.groupby("model", sort=False):
        device, dtype = g.iloc[0]["device"], g.iloc[0]["dtype"]
        g = g[(g["device"] == device) & (g["dtype"] == dtype) & np.isfinite(g["rmse"]) & g["median_seconds"].notna()]
        g = g[[not tags.get(e, {}).get("needs_exact_posterior") for e in g["estimator"]]].reset_index(drop=True)
        if g.empty:
            continue
        row: dict[str, Any] = {"model": model, "device / dtype": f"{device} / {dtype}"}
        for budget in budgets:
            fits = g[g["median_seconds"] <= budget]
            if fits.empty:
                row[_budget_label(budget)] = "-"
                continue
            best = fits.loc[fits["rmse"].idxmin()]
            mark = " ⚠" if cautions.get(best["estimator"]) else ""
            row[_budget_label(budget)] = f"{best['estimator']}{mark} (K={int(best['num_samples'])}, {best['rmse']:.3g})"
        rows.append(row)
    return pd.DataFrame(rows)
