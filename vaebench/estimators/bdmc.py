"""Bidirectional Monte Carlo: forward and reverse AIS on data simulated from the model.

On data x simulated with its latents z (exact posterior samples), forward AIS gives a stochastic
lower bound and reverse AIS from z a stochastic upper bound on log p(x); the gap between them
bounds the error of both, at that number of annealing steps T (Grosse, Ghahramani & Adams, 2015;
Wu et al., 2017). `sandwich` runs both at several T and returns, per T, both bounds with the truth where the
model's log p(x) is known; `vaebench.results.bdmc.bdmc_table` summarises them (gap, each bound's error).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor

from vaebench.contract import model_name
from vaebench.base import truth_of
from vaebench.estimators import ais, reverse_ais
from vaebench.sampling import resolve_generator

__all__ = ["Sandwich", "simulate", "sandwich"]


@dataclass(frozen=True)
class Sandwich:
    """Per-point bounds at one T (float64 ``[B]``), the truth where known, and the seconds each took."""

    num_steps: int
    lower: Tensor
    upper: Tensor
    truth: Tensor | None
    truth_error: Tensor | None
    seconds_forward: float
    seconds_reverse: float

    @property
    def gap(self) -> Tensor:
        return self.upper - self.lower


def simulate(model: Any, num_points: int, generator: torch.Generator | None) -> tuple[Tensor, Tensor]:
    """x ``[N, D]`` and the latents z ``[N, d]`` that generated it (``model.sample(..., return_latents=True)``)."""
    draw = getattr(model, "sample", None)
    if not callable(draw):
        raise ValueError(f"{model_name(model)} cannot simulate data (no sample(n, generator=, return_latents=) "
                         "method): BDMC needs data drawn from the model with the latents that generated it")
    x, z = draw(num_points, generator=generator, return_latents=True)
    return x, z


def sandwich(model: Any, x: Tensor, z: Tensor, num_chains: int, steps: Sequence[int], *,
             generator: torch.Generator | None = None, progress: Callable[[str], Any] | None = None,
             **options: Any) -> list[Sandwich]:
    """Forward (`ais`) and reverse (`reverse_ais`, from ``z``) AIS with ``num_chains`` chains per point at
    each T in ``steps``; ``options`` are the declared options of both (schedule, leapfrog_steps, ...)."""
    g = resolve_generator(generator, x.device)
    truth = truth_of(model)
    exact = truth.log_marginal(x)
    error = truth.log_marginal_error(x) if exact is not None else None
    results = []
    for t in steps:
        if progress:
            progress(f"T = {t}: forward")
        start = time.perf_counter()
        lower = ais.SPEC(model, x, num_chains, generator=g, num_steps=t, keep_log_weights=False, **options)
        middle = time.perf_counter()
        if progress:
            progress(f"T = {t}: reverse")
        upper = reverse_ais.SPEC(model, x, num_chains, generator=g, num_steps=t, posterior_samples=z, **options)
        end = time.perf_counter()
        results.append(Sandwich(t, lower.log_px.double().cpu(), upper.log_px.double().cpu(),
                                None if exact is None else exact.double().cpu(),
                                None if error is None else error.double().cpu(), middle - start, end - middle))
    return results
