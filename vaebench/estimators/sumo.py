"""SUMO: Russian-roulette debiasing of the IWAE bound, an estimator unbiased in log p(x)."""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.base import Estimate, EstimatorSpec, EstimatorTags
from vaebench.contract import model_name
from vaebench.estimators.streaming import CHUNK_SIZE, PROPOSAL, latent_block_size, model_proposal, resolve_chunk_size
from vaebench.options import Option
from vaebench.ops import chunk_sizes
from vaebench.sampling import resolve_generator, restrict_rows, sample_with_log_prob

__all__ = ["estimate", "draw_extra_terms", "roulette_series", "survival", "SPEC", "TAIL_EXPONENT"]

TAIL_EXPONENT = Option(
    "tail_exponent", float, 1.5,
    "α of the number of correction terms J: P(J >= j) = (K / (K + j − 1))^α (expected extra samples ≈ K/(α − 1))",
    minimum=1.0, kit_values=(1.2,), domain=(1.2, 2.0))


def survival(j: Tensor, base: int, alpha: float) -> Tensor:
    """P(J >= j) = (K / (K + j − 1))^α for j >= 1, float64 (K = ``base``)."""
    j = j.double()
    return torch.exp(alpha * (math.log(base) - torch.log(base + j - 1)))


def draw_extra_terms(batch: int, base: int, alpha: float, generator: torch.Generator, device: Any) -> Tensor:
    """J ~ P(J >= j) = (K / (K + j − 1))^α, one per data point, int64 ``[B]``, J >= 1 (inverse CDF).

    J >= j iff K U^(−1/α) − K + 1 >= j for U uniform on (0, 1], so J = floor(K U^(−1/α) − K + 1).
    """
    u = 1.0 - torch.rand(batch, generator=generator, device=device, dtype=torch.float64)  # (0, 1]
    j = torch.floor(base * torch.exp(-torch.log(u) / alpha) - base + 1)
    return j.clamp(1, 2**53).to(torch.int64)


def estimate(
    model: Any,
    x: Tensor,
    num_samples: int,
    *,
    generator: torch.Generator | None = None,
    proposal: Distribution | None = None,
    chunk_size: int | None = None,
    tail_exponent: float = 1.5,
) -> Estimate:
    """log p̂ = L_K + Σ_{j=1}^{J} (L_{K+j} − L_{K+j−1}) / P(J >= j), L_n the IWAE bound of the first n
    of one sequence of importance weights from q(z | x), J random and independent of them.

    L_n increases to log p(x) in expectation, so the telescoping series L_K + Σ_j (L_{K+j} − L_{K+j−1})
    has expectation log p(x); the Russian roulette keeps a random number J of its terms and reweights
    each by the probability of reaching it, so E[log p̂] = log p(x) exactly, for every K (Luo et al.,
    2020). With P(J >= j) = (K / (K + j − 1))^α the expected cost is about K + K/(α − 1) weights.

    The variance: the terms shrink like 1/(K + j) while their weights grow like (K + j)^α / K^α,
    so Var[log p̂] < ∞ needs Σ_j P(J >= j)^(-1) (K + j)^(−2) < ∞, i.e. α < 1, where the expected cost is
    infinite. No choice has both: randomised truncation gets finite variance at finite expected cost
    only when the MSE of the truncated terms falls faster than 1/n (Rhee & Glynn, 2015), and that of
    the IWAE bound falls like χ²/n. For α > 1, as here, the expected cost is finite, the mean is finite and the variance is
    infinite: the error has a tail of index about α / (α − 1/2), so its sample variance keeps growing
    with the number of draws and RMSE curves of SUMO are noisy. No stderr is reported for that reason.

    A point's J extra weights are streamed: memory does not grow with K or J. Once half the points'
    series have ended, samples are drawn only for the points still in play (q restricted to them by
    `vaebench.sampling.restrict_rows`, or the encoder asked again for them); the likelihood is always
    evaluated only for those.

    Parameters
    ----------
    model : LatentModel
        Needs ``proposal(x)`` unless ``proposal`` is given.
    x : Tensor
        Data ``[B, D]``.
    num_samples : int
        K >= 1, the weights of the first IWAE term (the base of the series).
    generator : torch.Generator, optional
        The random stream (J, then the latent samples).
    proposal : Distribution, optional
        Any distribution over z with batch shape ``[B]`` in place of the encoder.
    chunk_size : int, optional
        Samples per likelihood call; results do not depend on it in distribution.
    tail_exponent : float
        α > 1 of P(J >= j) (see above).

    References
    ----------
    Luo, Y., Beatson, A., Norouzi, M., Zhu, J., Duvenaud, D., Adams, R. P., & Chen, R. T. Q. (2020).
    SUMO: Unbiased estimation of log marginal probability for latent variable models. ICLR.
    Rhee, C.-h., & Glynn, P. W. (2015). Unbiased estimation with square root convergence for SDE
    models. Operations Research, 63(5), 1026-1043.
    """
    if not tail_exponent > 1:
        raise ValueError(f"tail_exponent must be > 1 (at 1 the expected number of samples is infinite), got "
                         f"{tail_exponent}")
    q = model_proposal(model, x, proposal)
    g = resolve_generator(generator, x.device)
    extra = draw_extra_terms(x.shape[0], num_samples, tail_exponent, g, x.device)
    value = roulette_series(model, x, num_samples, extra, lambda j: survival(j, num_samples, tail_exponent),
                            proposal=q, encoder=proposal is None, generator=g, chunk_size=chunk_size)
    return Estimate(value.to(x.dtype), num_samples=num_samples)


def roulette_series(model: Any, x: Tensor, num_samples: int, extra: Tensor, survival_of: Any, *,
                    proposal: Distribution, encoder: bool, generator: torch.Generator,
                    chunk_size: int | None = None) -> Tensor:
    """L_K + Σ_{j=1}^{J_b} (L_{K+j} − L_{K+j−1}) / survival_of(j) per point b, float64 ``[B]``, for the
    given J ``extra`` ``[B]``: the series of `estimate`, streamed (``encoder``: ``proposal`` is the
    model's encoder, which may be asked again for a subset of points)."""
    q, g = proposal, generator
    prior = model.prior
    batch, latent_dim = x.shape[0], prior.event_shape.numel()
    total = num_samples + extra  # weights each point needs: K, then J more
    log_sum = torch.full((batch,), -math.inf, dtype=torch.float64, device=x.device)  # log Σ of the weights so far
    value = torch.zeros(batch, dtype=torch.float64, device=x.device)
    drawn, needed = 0, int(total.max())
    rows, q_rows = torch.arange(batch, device=x.device), q  # the points sampled for, and q on them
    in_play = -1  # how many points the chunk rule was last resolved for
    while drawn < needed:
        active = torch.nonzero(total > drawn).squeeze(1)  # points whose series is still running
        if active.numel() <= rows.numel() // 2:  # most points are done: sample only for those still running
            narrowed = restrict_rows(q, active)
            if narrowed is None and encoder:  # the encoder is a function of x: ask it for those points
                narrowed = model_proposal(model, x[active], None)
            if narrowed is not None:
                rows, q_rows = active, narrowed
        if active.numel() != in_play:
            # the chunk rule on the points in play: as they finish, chunks of more samples fit the same memory
            x_active, in_play = x[active], active.numel()
            chunk = resolve_chunk_size(chunk_size, x_active, latent_dim)
        k = min(latent_block_size(chunk, x_active, latent_dim), int(total[active].max()) - drawn)
        z, log_q = sample_with_log_prob(q_rows, (k,), g)
        if rows.numel() != active.numel():
            keep = torch.searchsorted(rows, active)
            z, log_q = z[:, keep], log_q[:, keep]
        log_w = (prior.log_prob(z) - log_q).double()
        start = 0
        for part in chunk_sizes(k, chunk):
            log_lik = model.log_likelihood(x_active, z[start: start + part])
            if tuple(log_lik.shape) != (part, active.numel()):
                raise ValueError(f"{model_name(model)}.log_likelihood returned shape {list(log_lik.shape)}; the model "
                                 f"contract requires [K, B] = [{part}, {active.numel()}]")
            log_w[start: start + part] += log_lik.double()
            start += part
        # L_n for n = drawn + 1 ... drawn + k, from the running log-sum of each active point's weights
        running = torch.logaddexp(log_sum[active].unsqueeze(0), torch.logcumsumexp(log_w, 0))
        n = torch.arange(drawn + 1, drawn + k + 1, device=x.device, dtype=torch.float64).unsqueeze(1)
        bound = running - torch.log(n)
        previous = torch.cat([(log_sum[active] - math.log(drawn)).unsqueeze(0) if drawn else bound[:1], bound[:-1]])
        # the first IWAE term L_K, then each correction (L_n − L_{n−1}) / P(J >= n − K) while n <= K + J
        first = (n == num_samples).double()
        j = n - num_samples
        in_series = (j >= 1) & (n <= total[active].unsqueeze(0))
        terms = torch.where(in_series, (bound - previous) / survival_of(j.clamp(min=1)), torch.zeros_like(bound))
        value[active] += (first * bound).sum(0) + terms.sum(0)
        log_sum[active] = running[-1]
        drawn += k
    return value


SPEC = EstimatorSpec(
    name="sumo",
    estimate=estimate,
    tags=EstimatorTags(unbiased_in_log_p=True, consistent=True, needs_proposal=True, exact_at_posterior=True,
                       bounded_memory=True),
    description="SUMO (Luo et al. 2020): the IWAE bound debiased by Russian roulette; unbiased in log p(x), "
                "infinite variance (finite expected cost)",
    options=(PROPOSAL, CHUNK_SIZE, TAIL_EXPONENT),
    caution="infinite variance for every tail_exponent with finite cost: its RMSE and any stderr are unreliable",
)
