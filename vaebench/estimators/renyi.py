"""The variational Rényi (VR) bound with α in (0, 1): between the ELBO (α → 1) and the IWAE bound (α = 0)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL, log_weight_chunks, model_proposal
from vaebench.options import Option
from vaebench.ops import StreamingLogMeanExp

__all__ = ["estimate", "tempered_log_mean", "SPEC", "ALPHA"]

ALPHA = Option("alpha", float, 0.5, "α of the Rényi divergence, in (0, 1): 1 gives the ELBO, 0 the IWAE bound",
               minimum=0.0, maximum=1.0, kit_values=(0.2, 0.8), domain=(0.05, 0.95))


def tempered_log_mean(model: Any, x: Tensor, num_samples: int, power: float, *, proposal: Distribution,
                      generator: torch.Generator | None, chunk_size: int | None) -> Estimate:
    """(1 / power) · log (1/K) Σ_k w_k^power for z_k ~ q, streamed; with the delta-method stderr and the
    ESS of the tempered weights w^power (power = 1 − α of the Rényi bound, n of the CUBO_n)."""
    acc = StreamingLogMeanExp()
    dtype = x.dtype
    for log_w in log_weight_chunks(model, x, num_samples, proposal=proposal, generator=generator,
                                   chunk_size=chunk_size):
        dtype = log_w.dtype
        acc.update(power * log_w)
    return Estimate(log_px=(acc.log_mean() / power).to(dtype), ess=acc.ess().to(dtype),
                    stderr=(acc.stderr() / power).to(dtype), num_samples=num_samples)


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
    alpha: float = 0.5,
) -> Estimate:
    """L̂_α = 1/(1 − α) · log (1/K) Σ_k (p(x, z_k) / q(z_k | x))^(1 − α), z_k ~ q(z | x).

    Its limit in K is the VR bound L_α = log p(x) − D_α(q ‖ p(z | x)), D_α the Rényi divergence of
    order α, which for α in (0, 1) lies between the ELBO and log p(x) (Li & Turner, 2016, Thm. 1);
    at finite K, Jensen's inequality puts E[L̂_α] below L_α. So the estimate is a lower bound at every
    K, but not consistent: it converges to L_α < log p(x) unless q is the posterior. Pyro's
    ``RenyiELBO`` is the same objective.

    Parameters
    ----------
    model, x, num_samples, generator, proposal, chunk_size
        As for `vaebench.estimators.importance.estimate`.
    alpha : float
        α in (0, 1) (0 and 1 are the IWAE bound and the ELBO: use those estimators).

    References
    ----------
    Li, Y., & Turner, R. E. (2016). Rényi divergence variational inference. NeurIPS.
    """
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1) (0 is the IWAE bound, 1 the ELBO; α < 0 is the cubo estimator), "
                         f"got {alpha}")
    q = model_proposal(model, x, proposal)
    return tempered_log_mean(model, x, num_samples, 1.0 - alpha, proposal=q, generator=generator,
                             chunk_size=chunk_size)


SPEC = EstimatorSpec(
    name="renyi",
    estimate=estimate,
    tags=EstimatorTags(lower_bound=True, needs_proposal=True, exact_at_posterior=True, bounded_memory=True),
    description="Variational Rényi bound (Li & Turner 2016), α in (0, 1): a lower bound at every K, between the "
                "ELBO and log p(x); not consistent",
    options=(PROPOSAL, CHUNK_SIZE, ALPHA),
)
