"""The evidence lower bound, by Monte Carlo or with the KL term in closed form."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution, kl_divergence

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.options import Option
from vaebench.estimators.streaming import (
    CHUNK_SIZE,
    KEEP_LOG_WEIGHTS,
    PROPOSAL,
    WeightKeeper,
    log_weight_chunks,
    model_proposal,
)
from vaebench.ops import StreamingMoments

__all__ = ["estimate", "SPEC"]


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    analytic_kl: bool = False,
    chunk_size: int | None = None,
    keep_log_weights: bool = True,
) -> Estimate:
    """ELBO(x) = E_q[log p(x, z) − log q(z | x)] averaged over K samples z_k ~ q(z | x).

    Unbiased for the ELBO, which is below log p(x) by exactly KL(q(z|x) ‖ p(z|x)); more samples
    reduce its variance, not that gap. With ``analytic_kl=True`` the estimate is
    (1/K) Σ_k log p(x | z_k) − KL(q(z|x) ‖ p(z)) with the KL in closed form (needs a KL
    registered in `torch.distributions` for the pair). Neither form always has the lower
    variance: as q approaches p(z|x) the Monte Carlo form's variance goes to zero (its terms
    cancel), while the analytic form keeps the variance of log p(x | z).

    Parameters
    ----------
    model : LatentModel
        Needs ``proposal(x)`` unless ``proposal`` is given.
    x : Tensor
        Data ``[B, D]``.
    num_samples : int
        K >= 1.
    generator : torch.Generator, optional
        The random stream.
    proposal : Distribution, optional
        q(z | x) with batch shape ``[B]`` in place of the encoder.
    analytic_kl : bool
        Use the closed-form KL(q ‖ p(z)).
    chunk_size : int, optional
        Samples per chunk; default bounds memory independently of K.
    keep_log_weights : bool
        Return the ``[K, B]`` log weights log p(x, z_k) − log q(z_k | x) (Monte Carlo form only).

    Returns
    -------
    Estimate
        ``log_px`` is the ELBO estimate; ``stderr`` its sample standard error.

    References
    ----------
    Kingma, D. P., & Welling, M. (2014). Auto-encoding variational Bayes. ICLR.
    """
    q = model_proposal(model, x, proposal)
    moments = StreamingMoments()
    if not analytic_kl:
        kept = WeightKeeper(num_samples, keep_log_weights, like=x)
        for log_w in log_weight_chunks(model, x, num_samples, proposal=q, generator=generator, chunk_size=chunk_size):
            moments.update(log_w)
            kept.add(log_w)
        return Estimate(
            log_px=moments.mean().to(x.dtype),
            log_weights=kept.result(),
            stderr=moments.stderr().to(x.dtype),
            num_samples=num_samples,
        )
    try:
        kl = kl_divergence(q, model.prior)
    except NotImplementedError:
        raise NotImplementedError(
            f"analytic_kl=True needs KL({type(q).__name__} ‖ {type(model.prior).__name__}) registered in "
            "torch.distributions; use the Monte Carlo form (analytic_kl=False)"
        ) from None
    chunks = log_weight_chunks(
        model, x, num_samples, proposal=q, generator=generator, chunk_size=chunk_size, likelihood_only=True
    )
    for log_lik in chunks:
        moments.update(log_lik)
    log_px = (moments.mean() - kl.to(torch.float64)).to(x.dtype)
    return Estimate(log_px=log_px, stderr=moments.stderr().to(x.dtype), num_samples=num_samples)


SPEC = EstimatorSpec(
    name="elbo",
    estimate=estimate,
    tags=EstimatorTags(lower_bound=True, needs_proposal=True, elbo_in_expectation=True, bounded_memory=True),
    description="Evidence lower bound E_q[log p(x,z) - log q(z|x)]; analytic_kl=True for the closed-form KL",
    options=(
        PROPOSAL,
        Option("analytic_kl", bool, False, "use the closed-form KL(q || p(z)) (needs one registered in torch)"),
        CHUNK_SIZE,
        KEEP_LOG_WEIGHTS,
    ),
)
