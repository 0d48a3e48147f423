"""Naive Monte Carlo: average the likelihood over samples from the prior."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.streaming import (
    CHUNK_SIZE,
    KEEP_LOG_WEIGHTS,
    importance_estimate,
    log_weight_chunks,
)

__all__ = ["estimate", "SPEC"]


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    chunk_size: int | None = None,
    keep_log_weights: bool = True,
) -> Estimate:
    """log p̂_K(x) = log (1/K) Σ_k p(x | z_k), z_k ~ p(z).

    Unbiased in p(x) and consistent, but its variance is χ²(p(z|x) ‖ p(z)) / K, which grows
    exponentially with the latent dimension: useful as a baseline and a sanity check, rarely as
    a measurement.

    Parameters
    ----------
    model : LatentModel
    x : Tensor
        Data ``[B, D]``.
    num_samples : int
        K >= 1.
    generator : torch.Generator, optional
        The random stream.
    chunk_size : int, optional
        Samples per chunk; default bounds memory independently of K.
    keep_log_weights : bool
        Return the ``[K, B]`` log likelihoods, which are this estimator's importance weights.

    References
    ----------
    Hammersley, J. M., & Handscomb, D. C. (1964). Monte Carlo Methods, ch. 5. Methuen.
    Wu, Y., Burda, Y., Salakhutdinov, R., & Grosse, R. (2017). On the quantitative analysis of
    decoder-based generative models. ICLR.
    """
    chunks = log_weight_chunks(model, x, num_samples, proposal=None, generator=generator, chunk_size=chunk_size)
    return importance_estimate(chunks, num_samples, keep_log_weights, like=x)


SPEC = EstimatorSpec(
    name="prior",
    estimate=estimate,
    tags=EstimatorTags(
        unbiased_in_p=True, lower_bound=True, consistent=True, importance_weighted=True, bounded_memory=True
    ),
    description="Naive Monte Carlo: mean of p(x|z) over z ~ p(z)",
    options=(CHUNK_SIZE, KEEP_LOG_WEIGHTS),
)
