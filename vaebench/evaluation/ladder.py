"""The estimates an evaluation makes: a ladder of importance K, the ELBO, a ladder of AIS T, BDMC, replicates.

Every rung runs over all points in batches, with streams drawn from one seeded generator, and keeps
per point the estimate, its stderr, ESS and Pareto k̂ (from the weights' tail: no ``[K, B]``
weights are kept). Replicates (fresh streams, on the first points) measure the real spread of an
estimate, against which the stated stderr is judged.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vaebench.base import truth_of
from vaebench.registry import get_estimator

__all__ = ["EvaluationSettings", "Rung", "rungs", "run_rung", "replicate_spread", "bdmc_gaps", "truth_column",
           "rung_summary"]


@dataclass(frozen=True)
class EvaluationSettings:
    """What an evaluation runs (the defaults are what ``vaebench evaluate`` uses).

    Attributes
    ----------
    importance_k : tuple of int
        The K of importance sampling with the encoder (the IWAE bound at each K).
    elbo_k : int
        Samples per point of the ELBO's Monte Carlo average.
    ais_steps : tuple of int
        The T of AIS from the encoder (HMC transitions, sigmoid schedule); empty: no AIS.
    ais_chains : int
        AIS chains per point (the K of its importance average).
    bdmc_points : int
        Points simulated from the model for BDMC at each T (0: none).
    check_points, replicates : int
        The stderr check: ``replicates`` more runs of the headline estimator and of importance at the
        largest K, on the first ``check_points`` points.
    accuracy : float
        The accuracy (nats, mean over points) the advice is about.
    batch_size : int
        Points per estimator call.
    seed : int
    """

    importance_k: tuple[int, ...] = (1, 10, 100, 1000, 5000)
    elbo_k: int = 100
    ais_steps: tuple[int, ...] = (10, 100, 1000)
    ais_chains: int = 16
    bdmc_points: int = 50
    check_points: int = 100
    replicates: int = 2
    accuracy: float = 0.1
    batch_size: int = 100
    seed: int = 0
    ais_options: dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from vaebench.validation import check_positive_int

        for name in ("importance_k", "ais_steps"):
            values = tuple(getattr(self, name))
            for v in values:
                check_positive_int(v, name, "a list of integers >= 1")
            object.__setattr__(self, name, tuple(sorted(set(values))))
        if not self.importance_k:
            raise ValueError("importance_k must hold at least one K")
        for name in ("elbo_k", "ais_chains", "batch_size", "check_points"):
            check_positive_int(getattr(self, name), name, "an integer >= 1")
        for name in ("bdmc_points", "replicates", "seed"):
            value = getattr(self, name)
            if isinstance(value, bool) or not isinstance(value, int) or value < 0:
                raise ValueError(f"{name} must be an integer >= 0, got {value!r}")
        if not (isinstance(self.accuracy, (int, float)) and not isinstance(self.accuracy, bool) and self.accuracy > 0):
            raise ValueError(f"accuracy must be a positive number of nats, got {self.accuracy!r}")


@dataclass(frozen=True)
class Rung:
    """One estimator setting: ``label`` (e.g. ``importance K=1000``), estimator name, K, T, options."""

    label: str
    estimator: str
    num_samples: int
    num_steps: int | None = None
    options: dict[str, Any] = field(default_factory=dict)


def rungs(settings: EvaluationSettings, has_proposal: bool) -> list[Rung]:
    """The ladder: the ELBO and importance at each K (with an encoder; from the prior without), AIS at each T."""
    if has_proposal:
        out = [Rung(f"elbo K={settings.elbo_k}", "elbo", settings.elbo_k)]
        out += [Rung(f"importance K={k}", "importance", k) for k in settings.importance_k]
    else:
        out = [Rung(f"prior K={k}", "prior", k) for k in settings.importance_k]
    init = {} if has_proposal else {"init": "prior"}
    out += [Rung(f"ais T={t} K={settings.ais_chains}", "ais", settings.ais_chains, t,
                 {"num_steps": t, **init, **settings.ais_options}) for t in settings.ais_steps]
    return out


def run_rung(model: Any, x: Tensor, rung: Rung, generator: torch.Generator, batch_size: int,
             progress: Callable[[str], Any] | None = None) -> tuple[pd.DataFrame, float]:
    """Per point ``log_px``, ``stderr``, ``ess``, ``khat`` of one rung, and the seconds it took."""
    spec = get_estimator(rung.estimator)
    options = dict(rung.options)
    if spec.option("keep_log_weights") is not None:
        options["keep_log_weights"] = False  # k̂ comes from the weights' tail
    frames = []
    start = time.perf_counter()
    for first in range(0, x.shape[0], batch_size):
        est = spec(model, x[first : first + batch_size], rung.num_samples, generator=generator, **options)
        n = est.log_px.shape[0]
        column = lambda v: v.double().cpu().numpy() if v is not None else np.full(n, np.nan)  # noqa: E731
        frames.append(pd.DataFrame({"point": np.arange(first, first + n), "log_px": column(est.log_px),
                                    "stderr": column(est.stderr), "ess": column(est.ess), "khat": column(est.khat)}))
    if x.device.type == "cuda":
        torch.cuda.synchronize(x.device)
    seconds = time.perf_counter() - start
    if progress:
        progress(f"{rung.label}: {seconds:.1f} s")
    table = pd.concat(frames, ignore_index=True)
    table.insert(0, "rung", rung.label)
    table.insert(1, "estimator", rung.estimator)
    table.insert(2, "K", rung.num_samples)
    table.insert(3, "T", rung.num_steps if rung.num_steps is not None else np.nan)
    return table, seconds


def replicate_spread(model: Any, x: Tensor, rung: Rung, first_run: pd.DataFrame, replicates: int,
                     generator: torch.Generator, batch_size: int) -> dict[str, float]:
    """The stderr check of one rung: its real spread over ``replicates`` + 1 runs against the stated stderr.

    Returns the pooled per-point standard deviation over runs (``spread``), the root mean square of
    the stated stderr (``stated``) and their ratio: about 1 where the stderr is right, above 1 where it
    is optimistic (heavy-tailed weights: the delta method sees only the weights drawn).
    """
    runs = [first_run["log_px"].to_numpy()[: x.shape[0]]]
    for _ in range(replicates):
        table, _ = run_rung(model, x, rung, generator, batch_size)
        runs.append(table["log_px"].to_numpy())
    values = np.stack(runs)  # [R + 1, N]
    spread = float(np.sqrt(np.mean(np.var(values, axis=0, ddof=1))))
    stated = float(np.sqrt(np.nanmean(first_run["stderr"].to_numpy()[: x.shape[0]] ** 2)))
    if stated > 0:
        ratio = spread / stated
    else:  # a stderr of 0 is right only where every run agrees (weights constant: the exact posterior)
        ratio = 1.0 if spread <= 1e-9 * (1 + float(np.abs(values).max())) else float("inf")
    return {"rung": rung.label, "points": int(x.shape[0]), "runs": replicates + 1, "spread": spread,
            "stated": stated, "ratio": ratio}


def bdmc_gaps(model: Any, settings: EvaluationSettings, generator: torch.Generator,
              progress: Callable[[str], Any] | None = None) -> tuple[pd.DataFrame | None, str | None]:
    """Forward and reverse AIS at each T on points simulated from the model: per (T, point) bounds and gap.

    Returns the table, or None and the reason BDMC could not run (no sampler, no AIS asked for).
    """
    from vaebench.estimators.bdmc import sandwich, simulate

    if not settings.ais_steps or settings.bdmc_points == 0:
        return None, "not asked for (no AIS steps or --bdmc-points 0)"
    try:
        x, z = simulate(model, settings.bdmc_points, generator)
    except (ValueError, AttributeError) as exc:
        return None, f"the model cannot simulate data: {exc}"
    frames = []
    init = {} if callable(getattr(model, "proposal", None)) else {"init": "prior"}
    for first in range(0, x.shape[0], settings.batch_size):
        rows = slice(first, first + settings.batch_size)
        for result in sandwich(model, x[rows], z[rows], settings.ais_chains, settings.ais_steps, generator=generator,
                               **init, **settings.ais_options):
            frames.append(pd.DataFrame({"T": result.num_steps, "point": np.arange(first, first + len(result.lower)),
                                        "lower": result.lower.numpy(), "upper": result.upper.numpy(),
                                        "gap": result.gap.numpy()}))
    if progress:
        progress(f"BDMC on {settings.bdmc_points} simulated points: done")
    return pd.concat(frames, ignore_index=True), None


def truth_column(model: Any, x: Tensor) -> np.ndarray | None:
    """The model's exact log p(x) per point, where it has one (catalogue models; never used by the advice)."""
    exact = truth_of(model).log_marginal(x)
    return None if exact is None else exact.double().cpu().numpy()


def rung_summary(points: pd.DataFrame, seconds: dict[str, float], order: Sequence[str]) -> pd.DataFrame:
    """Per rung: mean log p̂, its Monte Carlo SE (√Σ stderr² / N), SD over points, diagnostics, seconds."""
    rows = []
    for label in order:
        g = points[points["rung"] == label]
        n = len(g)
        rows.append({"rung": label, "estimator": g["estimator"].iloc[0], "K": int(g["K"].iloc[0]),
                     "T": g["T"].iloc[0], "points": n, "mean_log_px": g["log_px"].mean(),
                     "mc_se": float(np.sqrt(np.nansum(g["stderr"] ** 2)) / n),
                     "sd_over_points": g["log_px"].std(ddof=1) if n > 1 else 0.0,
                     "median_ess": g["ess"].median(), "ess_below_10": float((g["ess"] < 10).mean()),
                     "median_khat": g["khat"].median(),
                     "khat_over_0.7": float((g["khat"] > 0.7).mean()) if g["khat"].notna().any() else np.nan,
                     "seconds": seconds[label]})
    return pd.DataFrame(rows)
