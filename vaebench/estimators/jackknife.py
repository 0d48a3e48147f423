"""Jackknife variational inference (JVI, first order): the IWAE bound with its 1/K bias removed."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.ops import effective_sample_size
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL, importance_estimate, log_weight_chunks, model_proposal

__all__ = ["estimate", "leave_one_out_drops", "SPEC"]


def leave_one_out_drops(log_w: Tensor) -> Tensor:
    """d_i = L_K − L_{K−1}^(−i) for each i, ``[K, B]`` float64, from log weights ``[K, B]`` (K >= 2).

    L_K is the log mean of all K weights, L^(−i) that of the K − 1 others. With m the largest log
    weight, e_k = exp(log w_k − m) and s = Σ_k e_k >= 1,

        d_i = −log1p(−e_i / s) + log1p(−1/K),

    which is exactly 0 when the weights are equal and never subtracts two nearly equal logs (so the
    jackknife, which multiplies these by K − 1, keeps its precision at large K); for the largest weight,
    where the others sum to less than it (s < 2) and 1 − 1/s could cancel, d = log s − log Σ_{k≠i} e_k
    + log1p(−1/K) with the remainder summed directly.
    """
    log_w = log_w.double()
    k = log_w.shape[0]
    top = log_w.max(0).values
    scaled = torch.exp(log_w - top)
    total = scaled.sum(0)
    drops = -torch.log1p(-(scaled / total).clamp(max=1.0)) + math.log1p(-1.0 / k)
    argmax = log_w.argmax(0, keepdim=True)
    rest = torch.logsumexp(log_w.scatter(0, argmax, -math.inf) - top, 0)
    # Where the others sum to at least the largest (s >= 2), 1/s <= 1/2 and the general form is exact enough
    # (and exactly 0 for equal weights); below, the remainder is summed on its own.
    largest = torch.where(total >= 2, -torch.log1p(-1.0 / total), torch.log(total) - rest) + math.log1p(-1.0 / k)
    drops.scatter_(0, argmax, largest.unsqueeze(0))
    return drops


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """log p̂ = K · L_K − (K − 1) · (1/K) Σ_i L_{K−1}^(−i), L the log mean of the importance weights.

    L_K, the log of importance sampling with K samples from q(z | x), has bias
    −χ²/(2K) + O(1/K²) (the IWAE bound). The first-order jackknife of Quenouille and Tukey
    combines it with its K leave-one-out versions so that the 1/K terms cancel: the bias is
    O(1/K²). The result is neither a bound nor unbiased in p(x); it can exceed log p(x). K = 1
    leaves nothing to delete and returns the importance estimate with one sample.

    The standard error is the jackknife's own: sqrt((K − 1)/K · Σ_i (L^(−i) − mean L^(−i))²), an
    estimate of the standard deviation of L_K, which the correction leaves at the same order.
    All K log weights are held (``[K, B]`` float64) and none are returned (they do not explain
    this estimate): memory grows with K.

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
        Any distribution over z with batch shape ``[B]`` in place of the encoder.
    chunk_size : int, optional
        Samples per likelihood call; results do not depend on it in distribution.

    References
    ----------
    Nowozin, S. (2018). Debiasing evidence approximations: on importance-weighted autoencoders and
    jackknife variational inference. ICLR.
    Quenouille, M. H. (1956). Notes on bias in estimation. Biometrika, 43(3/4), 353-360.
    """
    q = model_proposal(model, x, proposal)
    chunks = list(log_weight_chunks(model, x, num_samples, proposal=q, generator=generator, chunk_size=chunk_size))
    if num_samples == 1:
        return importance_estimate(iter(chunks), 1, keep_log_weights=True, like=x)
    log_w = torch.cat(chunks, 0)
    w64 = log_w.double()
    k = w64.shape[0]
    full = torch.logsumexp(w64, 0) - math.log(k)
    drops = leave_one_out_drops(w64)
    # K L_K − (K − 1) mean_i L^(−i) = L_K + (K − 1) mean_i d_i, with d_i = L_K − L^(−i).
    jvi = full + (k - 1) * drops.mean(0)
    stderr = torch.sqrt((k - 1) / k * ((drops - drops.mean(0)) ** 2).sum(0))
    ess = effective_sample_size(w64)
    return Estimate(jvi.to(log_w.dtype), ess=ess.to(log_w.dtype), stderr=stderr.to(log_w.dtype), num_samples=k)


SPEC = EstimatorSpec(
    name="jackknife",
    estimate=estimate,
    tags=EstimatorTags(consistent=True, needs_proposal=True, exact_at_posterior=True, bias_order=2),
    description="Jackknife variational inference (Nowozin 2018), first order: the IWAE bound with its 1/K bias "
                "removed (bias O(1/K²); neither a bound nor unbiased)",
    options=(PROPOSAL, CHUNK_SIZE),
)
