"""z-tests for stochastic assertions, shared by the conformance kit and vaebench's own tests.

Every stochastic assertion compares an observed statistic to its expectation in units of a
standard error that is known in closed form or estimated from the same samples, and fails beyond
``N_SIGMA`` = 5: a two-sided false-alarm rate of 5.7e-7 per compared number under the normal
approximation (tests state the number of compared numbers, so the per-test rate is that many
times larger, still below 1e-4). Seeds are fixed, so a pass or fail is reproducible.
"""

from __future__ import annotations

import math

import numpy as np
import torch

__all__ = [
    "N_SIGMA",
    "assert_z",
    "assert_z_below",
    "mean_and_se",
    "two_sided_p",
    "variance_and_se",
    "z_scores",
]

N_SIGMA = 5.0


def two_sided_p(z: float) -> float:
    """Two-sided normal tail probability P(|Z| >= |z|)."""
    return math.erfc(abs(z) / math.sqrt(2))


def _np(t: torch.Tensor | np.ndarray | float) -> np.ndarray:
    return t.detach().double().cpu().numpy() if isinstance(t, torch.Tensor) else np.asarray(t, dtype=float)


def z_scores(observed, expected, stderr) -> np.ndarray:
    """(observed − expected) / stderr, elementwise."""
    return (_np(observed) - _np(expected)) / _np(stderr)


def assert_z(observed, expected, stderr, what: str, n_sigma: float = N_SIGMA) -> None:
    """Two-sided z-test: every |z| <= n_sigma."""
    z = z_scores(observed, expected, stderr)
    worst = int(np.argmax(np.abs(z)))
    assert np.all(np.abs(z) <= n_sigma), (
        f"{what}: |z| = {abs(z.flat[worst]):.2f} > {n_sigma} at index {worst} "
        f"(observed {np.ravel(_np(observed))[worst] if np.ndim(observed) else float(_np(observed)):.6g}, "
        f"expected {np.ravel(np.broadcast_to(_np(expected), z.shape))[worst]:.6g})"
    )


def assert_z_below(observed, bound, stderr, what: str, n_sigma: float = N_SIGMA) -> None:
    """One-sided z-test of observed <= bound: every z <= n_sigma (false alarm 2.9e-7 per number)."""
    z = z_scores(observed, bound, stderr)
    assert np.all(z <= n_sigma), f"{what}: z = {z.max():.2f} > {n_sigma} (observed exceeds the bound)"


def mean_and_se(samples: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample mean and its standard error along ``dim``."""
    n = samples.shape[dim]
    return samples.mean(dim), samples.std(dim) / n**0.5


def variance_and_se(samples: torch.Tensor, dim: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample variance and its standard error sqrt(Var[(x − x̄)²] / n) along ``dim`` (needs E x⁴ < ∞)."""
    n = samples.shape[dim]
    centred_sq = (samples - samples.mean(dim, keepdim=True)) ** 2
    return centred_sq.sum(dim) / (n - 1), centred_sq.std(dim) / n**0.5
