"""The advice for one model: the headline number, which estimator and which K or T, and what to trust.

Everything here is computed from the evaluation's own estimates, never from a truth: on a user's
model there is none. On models with exact truth the advice is checked against it (tests).

- The headline estimator is AIS at the largest T (importance at the largest K without AIS). Its
  number is the mean over points, with the Monte Carlo SE of that mean (√Σ stderr² / N) and, apart,
  the spread over points. All these estimators are stochastic lower bounds: the headline is a lower
  bound too, by at most the BDMC gap on simulated data (Grosse et al., 2015), a bound that holds on
  data like the simulated and is an indication, not a proof, on real data (Wu et al., 2017).
- "Reaches the accuracy": a rung's mean is within ``accuracy`` nats of the headline's, judged on the
  paired per-point differences (their mean and its SE); for AIS at T, also its BDMC gap is within
  ``accuracy``.
- The stderr is trusted where the replicates' spread is at most 1.5 times the stated stderr and at
  most 10 % of the points have k̂ > 0.7 (Vehtari et al., 2024).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["Advice", "advise", "TRUST_RATIO", "TRUST_KHAT_SHARE"]

TRUST_RATIO = 1.5
TRUST_KHAT_SHARE = 0.1


@dataclass(frozen=True)
class Advice:
    """The conclusions of an evaluation, as numbers and as sentences."""

    headline_rung: str
    log_px: float
    mc_se: float
    sd_over_points: float
    bits_per_dim: float
    bdmc_gap: float | None
    bdmc_gap_se: float | None
    below_headline: dict[str, tuple[float, float]]
    first_accurate: dict[str, str | None]
    stderr_trusted: dict[str, bool]
    lines: list[str]
    headline: str


def _paired(points: pd.DataFrame, rung: str, reference: str) -> tuple[float, float]:
    """Mean and SE over points of (reference − rung): how far a rung is below the reference."""
    a = points[points["rung"] == reference].set_index("point")["log_px"]
    b = points[points["rung"] == rung].set_index("point")["log_px"]
    d = (a - b).dropna()
    if len(d) == 0:
        return math.nan, math.nan
    return float(d.mean()), float(d.std(ddof=1) / math.sqrt(len(d))) if len(d) > 1 else 0.0


def _trusted(row: pd.Series, check: dict[str, Any] | None) -> tuple[bool, str]:
    khat_share = row.get("khat_over_0.7")
    reasons = []
    if check is not None and check["ratio"] > TRUST_RATIO:
        reasons.append(f"the spread over {check['runs']} runs is {check['ratio']:.2f}× the stated stderr")
    if khat_share is not None and not pd.isna(khat_share) and khat_share > TRUST_KHAT_SHARE:
        reasons.append(f"k̂ > 0.7 on {100 * khat_share:.0f}% of points")
    if reasons:
        return False, "; ".join(reasons)
    if check is None:
        return not (khat_share is None or pd.isna(khat_share)), "k̂ fine; no replicates run"
    return True, f"spread over {check['runs']} runs {check['ratio']:.2f}× the stated stderr"


def advise(summary: pd.DataFrame, points: pd.DataFrame, checks: list[dict[str, Any]], bdmc: pd.DataFrame | None,
           accuracy: float, data_dim: int) -> Advice:
    """The `Advice` from an evaluation's rung summary, per-point table, stderr checks and BDMC table."""
    ais = summary[summary["estimator"] == "ais"]
    sampling = summary[summary["estimator"].isin(["importance", "prior"])]
    head = ais.iloc[-1] if len(ais) else sampling.iloc[-1]
    label = head["rung"]
    log_px, mc_se, sd = float(head["mean_log_px"]), float(head["mc_se"]), float(head["sd_over_points"])
    bpd = -log_px / (data_dim * math.log(2))
    gaps: dict[int, tuple[float, float]] = {}
    if bdmc is not None:
        for t, g in bdmc.groupby("T"):
            gaps[int(t)] = (float(g["gap"].mean()), float(g["gap"].std(ddof=1) / math.sqrt(len(g))) if len(g) > 1 else 0.0)
    head_t = None if pd.isna(head["T"]) else int(head["T"])
    gap, gap_se = gaps.get(head_t, (None, None)) if head_t is not None else (None, None)

    below = {r: _paired(points, r, label) for r in summary["rung"] if r != label}
    by_check = {c["rung"]: c for c in checks}
    lines: list[str] = []
    first: dict[str, str | None] = {}
    for family, rows in (("importance", sampling), ("ais", ais)):
        if not len(rows):
            continue
        hit = None
        for _, row in rows.iterrows():
            mean, se = below.get(row["rung"], (0.0, 0.0))
            ok = mean <= accuracy
            if family == "ais" and int(row["T"]) in gaps:
                ok = ok and gaps[int(row["T"])][0] <= accuracy
            if ok:
                hit = row["rung"]
                break
        first[family] = hit
        if hit is None:
            last = rows.iloc[-1]["rung"]
            mean, se = below.get(last, (math.nan, math.nan))
            what = (f"{last} is {mean:.3f} ± {se:.3f} nats below the headline" if family != "ais" or last != label
                    else f"the BDMC gap at {last} is {gaps.get(head_t, (math.nan,))[0]:.3f} nats")
            lines.append(f"{family}: no rung reaches {accuracy:g} nats ({what}): raise "
                         f"{'K' if family == 'importance' else 'T'}.")
        elif hit == label:
            lines.append(f"{family}: {hit} is the first setting that reaches {accuracy:g} nats "
                         f"(its BDMC gap {gap:.3f} ± {gap_se:.3f} nats on simulated data)." if gap is not None else
                         f"{family}: {hit}, the headline, is the reference the others are judged against.")
        else:
            mean, se = below[hit]
            lines.append(f"{family}: {hit} is the first setting within {accuracy:g} nats of the headline "
                         f"({mean:.3f} ± {se:.3f} nats below it).")
    trusted: dict[str, bool] = {}
    for _, row in summary.iterrows():
        if row["estimator"] == "elbo":
            continue
        ok, why = _trusted(row, by_check.get(row["rung"]))
        trusted[row["rung"]] = ok
        if row["rung"] in by_check or row["rung"] == label:
            lines.append(f"stderr of {row['rung']}: {'trusted' if ok else 'not trusted'} ({why}).")
    elbo = summary[summary["estimator"] == "elbo"]
    importance_top = sampling.iloc[-1]["rung"] if len(sampling) else None
    tail = []
    if importance_top is not None and importance_top != label:
        m, s = below[importance_top]
        tail.append(f"{importance_top} is {m:.3f} ± {s:.3f} below")
    if len(elbo):
        m, s = below[elbo.iloc[0]["rung"]]
        tail.append(f"the ELBO is {m:.3f} ± {s:.3f} below")
    gap_text = (f"; BDMC gap at this T on {int(bdmc['point'].nunique())} simulated points {gap:.3f} ± {gap_se:.3f} "
                "nats" if gap is not None else "; no BDMC gap (see the BDMC section)")
    headline = (f"log p(x) = {log_px:.2f} ± {mc_se:.2f} nats ({bpd:.4f} bits/dim), {label}, mean over "
                f"{int(head['points'])} points (± Monte Carlo SE of the mean; SD over points {sd:.2f}){gap_text}"
                + (f"; {', '.join(tail)}" if tail else "") + ".")
    return Advice(label, log_px, mc_se, sd, bpd, gap, gap_se, below, first, trusted, lines, headline)


def bdmc_summary(bdmc: pd.DataFrame | None) -> pd.DataFrame | None:
    """Mean gap ± SE per T over the simulated points."""
    if bdmc is None:
        return None
    rows = [{"T": int(t), "points": len(g), "mean_gap": g["gap"].mean(),
             "se": g["gap"].std(ddof=1) / np.sqrt(len(g)) if len(g) > 1 else 0.0, "median_gap": g["gap"].median()}
            for t, g in bdmc.groupby("T")]
    return pd.DataFrame(rows)
