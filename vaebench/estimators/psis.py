"""Pareto-smoothed importance sampling (PSIS): the largest weights replaced by a fitted Pareto tail."""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL, log_weight_chunks, model_proposal
from vaebench.ops import StreamingLogMeanExp, generalized_pareto_fit, pareto_tail_size

__all__ = ["estimate", "smooth_log_weights", "SPEC"]


def smooth_log_weights(log_w: Tensor) -> Tensor:
    """The Pareto-smoothed log weights ``[K, B]`` float64 (Vehtari et al., 2024, §3).

    The largest M = min(K/5, 3√K) weights of each column are replaced, in their order, by the
    quantiles (i − ½)/M, i = 1 … M, of a generalised Pareto fitted to their exceedances over the
    (M + 1)-th largest (`vaebench.ops.generalized_pareto_fit`), capped at the largest raw weight.
    Columns with M < 5 (K < 25) or a bounded tail (all top weights equal to rounding) are left as
    they are.
    """
    lw = log_w.double()
    k_total = lw.shape[0]
    m_tail = pareto_tail_size(k_total)
    if m_tail < 5:
        return lw.clone()
    order = torch.argsort(lw, dim=0)
    ranked = torch.gather(lw, 0, order)  # ascending
    top = ranked[-1]
    threshold = ranked[-m_tail - 1]
    tail = ranked[-m_tail:]
    x = torch.exp(tail - top) - torch.exp(threshold - top)  # exceedances on the scale of the largest weight
    k_hat, sigma = generalized_pareto_fit(x)
    p = (torch.arange(1, m_tail + 1, dtype=torch.float64, device=lw.device)[:, None] - 0.5) / m_tail
    small_k = k_hat.abs() < 1e-8
    safe_k = torch.where(small_k, torch.ones_like(k_hat), k_hat)
    quantiles = torch.where(small_k, -sigma * torch.log1p(-p), sigma * torch.expm1(-safe_k * torch.log1p(-p)) / safe_k)
    smoothed = torch.log((torch.exp(threshold - top) + quantiles).clamp(min=torch.finfo(torch.float64).tiny, max=1.0)) + top
    bounded = (top - threshold) <= 64 * torch.finfo(log_w.dtype).eps * top.abs().clamp_min(1.0)
    fit_ok = torch.isfinite(k_hat) & torch.isfinite(sigma) & (sigma > 0) & ~bounded
    ranked[-m_tail:] = torch.where(fit_ok, smoothed, tail)
    return torch.empty_like(lw).scatter_(0, order, ranked)


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
) -> Estimate:
    """log p̂ = log (1/K) Σ_k w̃_k, the w̃ the Pareto-smoothed importance weights of z_k ~ q(z | x).

    Smoothing lowers the largest weights towards the fitted tail's quantiles: less variance than
    importance sampling, at the cost of a bias that vanishes as K grows (the estimator is
    consistent), and of the IWAE bound's guarantees (it is neither unbiased in p nor a bound).
    ``Estimate.khat`` is the Pareto k̂ of the raw weights, PSIS's own diagnostic: above 0.7 the
    smoothed estimate is unreliable too. ``stderr`` and ``ess`` are those of the smoothed weights
    (delta method). All K weights are held: memory grows with K.

    Parameters
    ----------
    model : LatentModel
        Needs ``proposal(x)`` unless ``proposal`` is given.
    x : Tensor
        Data ``[B, D]``.
    num_samples : int
        K >= 1 (below 25 there is no tail to smooth and this is importance sampling).
    generator : torch.Generator, optional
        The random stream.
    proposal : Distribution, optional
        Any distribution over z with batch shape ``[B]`` in place of the encoder.
    chunk_size : int, optional
        Samples per likelihood call; results do not depend on it in distribution.

    References
    ----------
    Vehtari, A., Simpson, D., Gelman, A., Yao, Y., & Gabry, J. (2024). Pareto smoothed importance
    sampling. JMLR, 25(72), 1-58 (arXiv:1507.02646, 2015).
    """
    q = model_proposal(model, x, proposal)
    log_w = torch.cat(list(log_weight_chunks(model, x, num_samples, proposal=q, generator=generator,
                                             chunk_size=chunk_size)), 0)
    k = log_w.shape[0]
    # The reduction of importance sampling (log mean, Kish ESS, delta-method SE), over the smoothed weights.
    acc = StreamingLogMeanExp()
    acc.update(smooth_log_weights(log_w))
    tail = torch.topk(log_w.double(), min(k, pareto_tail_size(k) + 1), dim=0).values
    return Estimate(acc.log_mean().to(log_w.dtype), ess=acc.ess().to(log_w.dtype), stderr=acc.stderr().to(log_w.dtype),
                    num_samples=k, log_weight_tail=tail)

SPEC = EstimatorSpec(
    name="psis",
    estimate=estimate,
    tags=EstimatorTags(consistent=True, needs_proposal=True, exact_at_posterior=True),
    description="Pareto-smoothed importance sampling (Vehtari et al.): the largest weights replaced by a fitted "
                "Pareto tail; lower variance, biased, neither a bound nor unbiased; k̂ of the raw weights",
    options=(PROPOSAL, CHUNK_SIZE),
)
