"""The harmonic mean estimator: consistent, an upper bound, and usually of infinite variance (a warning)."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.posterior_draws import POSTERIOR_DRAWS, check_posterior_draws, likelihood_chunks
from vaebench.estimators.streaming import CHUNK_SIZE
from vaebench.ops import StreamingLogMeanExp

__all__ = ["estimate", "SPEC"]


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    posterior_samples: Tensor | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """log p̂ = −log (1/K) Σ_k 1 / p(x | z_k), z_k ~ p(z | x) exact posterior samples.

    E_{p(z|x)}[1 / p(x | z)] = ∫ p(z) / p(x) dz = 1 / p(x), so the mean is unbiased for 1/p(x) and
    the estimate is consistent; by Jensen's inequality E[log p̂] >= log p(x) at every K. But its
    variance, E_{p(z|x)}[p(x | z)^(−2)] − p(x)^(−2) = p(x)^(−1) ∫ p(z) / p(x | z) dz − p(x)^(−2), is
    infinite whenever the likelihood's tails fall faster than the prior's (any Gaussian likelihood
    under a Gaussian prior with data in more than a few dimensions): the estimate converges, slowly
    and erratically, and is dominated by the rare posterior draws of lowest likelihood (Neal's
    "worst Monte Carlo method ever"). It ships as the cautionary example, and does not claim the tag
    ``consistent``, which the kit checks as a rate.

    Parameters
    ----------
    posterior_samples : Tensor
        Independent z ~ p(z | x), ``[K, B, d]`` in x's dtype and device; or one draw per point
        ``[B, d]``, which gives the estimate of that one draw.
    chunk_size : int, optional
        Samples per likelihood call.

    References
    ----------
    Newton, M. A., & Raftery, A. E. (1994). Approximate Bayesian inference with the weighted
    likelihood bootstrap. JRSS B, 56(1), 3-48.
    Neal, R. M. (2008). The harmonic mean of the likelihood: worst Monte Carlo method ever
    (blog post, radfordneal.wordpress.com).
    """
    shared = posterior_samples is not None and posterior_samples.dim() == 2
    z = check_posterior_draws(posterior_samples, x, num_samples, model.prior.event_shape.numel())
    acc = StreamingLogMeanExp()
    for log_lik in likelihood_chunks(model, x, z, chunk_size):
        acc.update(-log_lik)
    if shared:  # K copies of one draw: their ESS and spread say nothing of the estimate's
        return Estimate(log_px=(-acc.log_mean()).to(x.dtype), num_samples=num_samples)
    return Estimate(log_px=(-acc.log_mean()).to(x.dtype), ess=acc.ess().to(x.dtype), stderr=acc.stderr().to(x.dtype),
                    num_samples=num_samples)


SPEC = EstimatorSpec(
    name="harmonic_mean",
    estimate=estimate,
    # Consistent by the law of large numbers, but not claimed: the kit checks consistency as a rate (MSE and
    # bias falling >= 4x over 64x K), and with infinite variance the error can fall slower than any power of K
    # (measured on the kit's logistic problem: the mean error went from 0.48 at K = 16 to 0.18 at K = 1024).
    tags=EstimatorTags(upper_bound=True, needs_exact_posterior=True),
    description="Harmonic mean of the likelihood over exact posterior draws (Newton & Raftery 1994): an upper bound, "
                "consistent only slowly, infinite variance in typical models (a cautionary example)",
    options=(POSTERIOR_DRAWS, CHUNK_SIZE),
    caution="infinite variance in typical models (Neal 2008): do not report its numbers as log-likelihoods",
)
