"""Reference problems for the statistical checks: linear-Gaussian models with exact answers.

Each problem fixes a model, its encoder q(z|x) and a few data points. Every proposal used here
has finite χ²(p(z|x) ‖ q) and finite E_q[w⁴] (4 S_p⁻¹ − 3 S_q⁻¹ positive definite), so that
both the mean and the variance of p̂ / p obey a central limit theorem and z-tests are valid.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import torch
from torch import Tensor

from vaebench.base import EstimatorSpec
from vaebench.models import LinearGaussian

__all__ = ["Problem", "reference_problems", "replicate", "MAX_CHI_SQUARE"]

# The checks use a problem only where the estimator's own proposal (encoder, or prior when it
# needs none) has χ² at most this: beyond it the weights are so heavy-tailed that a few thousand
# replicates no longer make the mean of p̂/p approximately normal.
MAX_CHI_SQUARE = 10.0


@dataclass(frozen=True)
class Problem:
    """A model with its encoder and data points ``x`` ``[B, D]`` (float64)."""

    name: str
    model: LinearGaussian
    x: Tensor

    def proposal_chi_square(self, spec: EstimatorSpec) -> Tensor:
        """χ²(p(z|x) ‖ q) for the q the estimator samples from (encoder, or the prior)."""
        model = self.model if spec.tags.needs_proposal else self.model.with_encoder("prior")
        return model.chi_square(None, self.x)

    def usable_for(self, spec: EstimatorSpec) -> "Problem | None":
        """The problem restricted to the data points where the estimator's proposal is light-tailed
        enough for z-tests (χ² <= MAX_CHI_SQUARE), or None if there are none."""
        keep = self.proposal_chi_square(spec) <= MAX_CHI_SQUARE
        if not bool(keep.any()):
            return None
        return self if bool(keep.all()) else Problem(self.name, self.model, self.x[keep])

    def log_px(self) -> Tensor:
        """Exact log p(x), ``[B]``."""
        return self.model.log_marginal(self.x)


def _small_model() -> LinearGaussian:
    W = torch.tensor([[0.8, -0.3], [0.2, 0.6], [-0.4, 0.5]], dtype=torch.float64)
    return LinearGaussian(W, torch.tensor([0.5, -1.0, 0.3]), torch.tensor([0.5, 0.8, 0.6]))


def _factor_analysis() -> LinearGaussian:
    base = LinearGaussian.random(6, 3, seed=1)
    return LinearGaussian(0.35 * base.W64, base.b64, base.noise_var64)


@cache
def reference_problems() -> tuple[Problem, ...]:
    """The fixed problems (built once): a 2-D latent with an over-dispersed and a shifted q, and a
    3-D factor-analysis model with an over-dispersed mean-field q."""
    specs = [
        ("2d-wide-q", _small_model(), "exact", dict(scale=1.5)),
        ("2d-shifted-q", _small_model(), "exact", dict(scale=1.3, shift=0.6)),
        ("3d-mean-field-q", _factor_analysis(), "mean-field", dict(scale=1.6)),
    ]
    problems = []
    for i, (name, model, family, opts) in enumerate(specs):
        model = model.with_encoder(family, **opts)
        x = model.sample(3, generator=torch.Generator().manual_seed(100 + i))
        problems.append(Problem(name, model, x))
    return tuple(problems)


def replicate(x: Tensor, replicates: int) -> Tensor:
    """``x`` ``[B, D]`` stacked ``replicates`` times, ``[R * B, D]``; row r*B + b is point b."""
    return x.repeat(replicates, 1)
