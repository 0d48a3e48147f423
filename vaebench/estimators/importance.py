"""Importance sampling with a proposal q(z | x); its log is the IWAE bound."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.streaming import (
    CHUNK_SIZE,
    KEEP_LOG_WEIGHTS,
    PROPOSAL,
    importance_estimate,
    log_weight_chunks,
    model_proposal,
)

__all__ = ["estimate", "SPEC"]


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
    keep_log_weights: bool = True,
) -> Estimate:
    """log p̂_K(x) = log (1/K) Σ_k p(x, z_k) / q(z_k | x), z_k ~ q(z | x).

    p̂_K is unbiased for p(x); its log is a lower bound in expectation (the IWAE bound), increasing
    in K, with E[log p̂_K] ≈ log p(x) − χ²(p(z|x) ‖ q) / (2K) for large K.

    Parameters
    ----------
    model : LatentModel
        Needs ``proposal(x)`` unless ``proposal`` is given.
    x : Tensor
        Data ``[B, D]``.
    num_samples : int
        K >= 1.
    generator : torch.Generator, optional
        The random stream; the same generator state gives the same numbers.
    proposal : Distribution, optional
        Any distribution over z with batch shape ``[B]`` in place of the encoder (the exact
        posterior gives a zero-variance estimate; the prior gives naive Monte Carlo).
    chunk_size : int, optional
        Samples per chunk; default bounds memory independently of K. Results do not depend on it
        in distribution.
    keep_log_weights : bool
        Return the ``[K, B]`` log weights (memory grows with K; turn off for very large K).

    Returns
    -------
    Estimate
        ``log_px`` ``[B]`` with log weights, ESS and delta-method standard error.

    References
    ----------
    Burda, Y., Grosse, R., & Salakhutdinov, R. (2016). Importance weighted autoencoders. ICLR.
    """
    q = model_proposal(model, x, proposal)
    chunks = log_weight_chunks(model, x, num_samples, proposal=q, generator=generator, chunk_size=chunk_size)
    return importance_estimate(chunks, num_samples, keep_log_weights, like=x)


SPEC = EstimatorSpec(
    name="importance",
    estimate=estimate,
    tags=EstimatorTags(
        unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True, importance_weighted=True,
        bounded_memory=True, bias_order=1,
    ),
    description="Importance sampling from q(z|x) (the encoder or proposal=); log of it is the IWAE bound",
    options=(PROPOSAL, CHUNK_SIZE, KEEP_LOG_WEIGHTS),
)
