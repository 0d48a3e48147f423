"""Shared numerics: log-mean-exp (whole and streamed over chunks), normalised weights, ESS.

Every estimator that averages over K samples goes through the accumulators here, so that memory
does not grow with K and the numerics live in one place.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = [
    "log_mean_exp",
    "normalized_weights",
    "effective_sample_size",
    "generalized_pareto_fit",
    "pareto_k",
    "pareto_k_from_tail",
    "pareto_tail_size",
    "chunk_sizes",
    "StreamingLogMeanExp",
    "StreamingMoments",
]


def log_mean_exp(log_w: Tensor, dim: int = 0) -> Tensor:
    """log( mean(exp(log_w)) ) along ``dim``, computed stably."""
    return torch.logsumexp(log_w, dim=dim) - math.log(log_w.shape[dim])


def normalized_weights(log_w: Tensor, dim: int = 0) -> Tensor:
    """Self-normalised importance weights w_k / sum_j w_j along ``dim``."""
    return torch.softmax(log_w, dim=dim)


def effective_sample_size(log_w: Tensor, dim: int = 0) -> Tensor:
    """Kish's effective sample size (sum w)^2 / sum w^2 along ``dim``.

    References
    ----------
    Kong, A. (1992). A note on importance sampling using standardized weights. Technical report
    348, Department of Statistics, University of Chicago.
    """
    return torch.exp(2 * torch.logsumexp(log_w, dim=dim) - torch.logsumexp(2 * log_w, dim=dim))


def pareto_tail_size(num_samples: int) -> int:
    """M = min(K / 5, 3 √K): how many of the largest of K weights the Pareto k̂ fit uses."""
    return min(num_samples // 5, math.ceil(3 * math.sqrt(num_samples)))


def pareto_k(log_w: Tensor, dim: int = 0) -> Tensor:
    """Pareto k̂ of the importance weights: the shape of a generalised Pareto fitted to the tail.

    The largest M = min(K / 5, 3 √K) weights above the next one are fitted with the profile
    posterior-mean estimator of Zhang & Stephens (2009), with the weakly informative prior
    towards 0.5 of Vehtari et al.; computed in float64, vectorised over the other dimension.
    k̂ < 0.5: finite variance; k̂ > 0.7: the estimate is unreliable (PSIS diagnostic). NaN where
    K is too small for a tail (M < 5).

    References
    ----------
    Zhang, J., & Stephens, M. A. (2009). A new and efficient estimation method for the
    generalized Pareto distribution. Technometrics, 51(3), 316-325.
    Vehtari, A., Simpson, D., Gelman, A., Yao, Y., & Gabry, J. (2024). Pareto smoothed importance
    sampling. JMLR, 25(72).
    """
    lw = log_w.movedim(dim, 0)
    k_total = lw.shape[0]
    m_tail = pareto_tail_size(k_total)
    if m_tail < 5:
        return torch.full(lw.shape[1:], float("nan"), dtype=torch.float64, device=lw.device)
    eps = torch.finfo(lw.dtype).eps if lw.dtype.is_floating_point else torch.finfo(torch.float64).eps
    return pareto_k_from_tail(torch.topk(lw.double(), m_tail + 1, dim=0).values, k_total, eps=eps)


def generalized_pareto_fit(x: Tensor) -> tuple[Tensor, Tensor]:
    """(k̂, σ̂) of a generalised Pareto fitted to exceedances ``x`` ``[M, B]`` (ascending, >= 0), float64.

    The profile posterior-mean estimator of Zhang & Stephens (2009) on a grid of 30 + √M values of
    θ = −k/σ; σ̂ = −k/θ̂ from the unregularised k, then k̂ pulled towards 0.5 with the weakly
    informative prior of Vehtari et al. (2024, weight 10 against M), as PSIS does.
    """
    x = x.double()
    n = x.shape[0]
    m_grid = 30 + int(math.sqrt(n))
    j = torch.arange(1, m_grid + 1, dtype=torch.float64, device=x.device)[:, None]
    quartile = x[int(n / 4 + 0.5) - 1].clamp_min(torch.finfo(torch.float64).tiny)
    theta = 1 / x[-1] + (1 - torch.sqrt(m_grid / (j - 0.5))) / (3 * quartile)  # [m, B]
    k_theta = torch.log1p(-theta[:, None, :] * x[None]).mean(1)  # [m, B]
    profile = n * (torch.log(-theta / k_theta) - k_theta - 1)
    weights = torch.softmax(profile, dim=0)
    theta_hat = (weights * theta).sum(0)
    k_raw = torch.log1p(-theta_hat * x).mean(0)
    sigma = -k_raw / theta_hat
    return (n * k_raw + 10 * 0.5) / (n + 10), sigma


def pareto_k_from_tail(top_log_w: Tensor, num_samples: int, eps: float = torch.finfo(torch.float32).eps) -> Tensor:
    """`pareto_k` of K = ``num_samples`` weights from their largest log weights only, ``[m, B]`` (any
    order, m >= M + 1 with M = `pareto_tail_size` (K)): what a streaming estimator keeps instead of
    all K (`StreamingLogMeanExp` with ``keep_top``). Equal to ``pareto_k`` of the full weights.

    ``eps``: the machine epsilon of the dtype the log weights were computed in. Tails whose log
    weights agree to within 64 rounding steps of their size are rounding noise around a constant
    (the exact posterior as proposal): bounded, k̂ = −∞, not a fit to the noise (which gave 193)."""
    m_tail = pareto_tail_size(num_samples)
    lw = top_log_w.double()
    if m_tail < 5:
        return torch.full(lw.shape[1:], float("nan"), dtype=torch.float64, device=lw.device)
    if lw.shape[0] < m_tail + 1:
        raise ValueError(f"pareto_k_from_tail needs the {m_tail + 1} largest of {num_samples} log weights, got "
                         f"{lw.shape[0]}")
    top = torch.topk(lw, m_tail + 1, dim=0).values.flip(0)  # ascending; top[0] is the threshold
    shift = top[-1]
    w = torch.exp(top - shift)
    x = w[1:] - w[:1]  # exceedances over the threshold, ascending, [M, B]
    k_hat, _ = generalized_pareto_fit(x)
    # All top weights equal (to rounding): a bounded tail, k = −∞ by convention.
    rounding = 64 * eps * top[-1].abs().clamp_min(1.0)
    return torch.where(top[-1] - top[0] > rounding, k_hat, torch.full_like(k_hat, -math.inf))


def chunk_sizes(total: int, chunk: int) -> list[int]:
    """Split ``total`` samples into chunks of at most ``chunk``: ``[chunk, ..., rest]``."""
    full, rest = divmod(total, chunk)
    return [chunk] * full + ([rest] if rest else [])


def _accumulation_dtype(dtype: torch.dtype) -> torch.dtype:
    """float64 for every floating input: running sums must not lose increments (see below)."""
    return torch.float64 if dtype.is_floating_point else dtype


class StreamingLogMeanExp:
    """log-mean-exp over a stream of ``[k, B]`` chunks, with memory independent of the total K.

    Keeps log sum w and log sum w^2 per data point, which also give the effective sample size
    and the delta-method standard error of log mean w, Var[log p̂] ≈ Var[w] / (K E[w]^2).

    The running sums are kept, and each chunk reduced, in float64 whatever the input dtype. In
    float32 a running log-sum-exp stalls: once the increment log(1 + 1/n) of the n-th chunk falls
    below half the rounding step at |log p|, it is dropped (at log p ≈ −3e4, K = 2·10⁵ in chunks
    of 8, a float32 accumulator ends 1.4 nats low). Results are float64; callers cast them back.

    ``keep_top`` > 0 also keeps the largest ``keep_top`` log weights per point (``top()``), which is
    all the Pareto k̂ fit needs (`pareto_k_from_tail`): k̂ without keeping the K weights.
    """

    def __init__(self, keep_top: int = 0) -> None:
        self._lse: Tensor | None = None
        self._lse2: Tensor | None = None
        self._top: Tensor | None = None
        self.keep_top = keep_top
        self.count = 0

    def update(self, log_w: Tensor) -> None:
        """Fold in a chunk of log weights of shape ``[k, B]``."""
        log_w = log_w.to(_accumulation_dtype(log_w.dtype))
        lse = torch.logsumexp(log_w, dim=0)
        lse2 = torch.logsumexp(2 * log_w, dim=0)
        if self._lse is None:
            self._lse, self._lse2 = lse, lse2
        else:
            self._lse = torch.logaddexp(self._lse, lse)
            self._lse2 = torch.logaddexp(self._lse2, lse2)
        if self.keep_top > 0:
            pool = log_w if self._top is None else torch.cat([self._top, log_w])
            self._top = torch.topk(pool, min(self.keep_top, pool.shape[0]), dim=0).values
        self.count += log_w.shape[0]

    def top(self) -> Tensor | None:
        """The largest ``keep_top`` log weights per point seen so far, ``[m, B]`` float64 (None when off)."""
        return self._top

    def _require(self) -> tuple[Tensor, Tensor]:
        if self._lse is None or self._lse2 is None:
            raise RuntimeError("StreamingLogMeanExp received no samples")
        return self._lse, self._lse2

    def log_mean(self) -> Tensor:
        """log( (1/K) sum_k w_k ), ``[B]``."""
        lse, _ = self._require()
        return lse - math.log(self.count)

    def ess(self) -> Tensor:
        """Effective sample size (sum w)^2 / sum w^2, ``[B]``."""
        lse, lse2 = self._require()
        return torch.exp(2 * lse - lse2)

    def stderr(self) -> Tensor:
        """Delta-method standard error of ``log_mean()``: sqrt((K / ESS - 1) / K), ``[B]``.

        K / ESS - 1 = K sum w^2 / (sum w)^2 - 1 is the plug-in estimate of Var[w] / E[w]^2.
        """
        k = self.count
        rel_var = (k / self.ess() - 1).clamp_min(0)
        return torch.sqrt(rel_var / k)


class StreamingMoments:
    """Mean and variance over a stream of ``[k, B]`` chunks (Chan et al.'s pairwise merge).

    References
    ----------
    Chan, T. F., Golub, G. H., & LeVeque, R. J. (1979). Updating formulae and a pairwise algorithm
    for computing sample variances. Technical report STAN-CS-79-773, Stanford University.
    """

    def __init__(self) -> None:
        self._mean: Tensor | None = None
        self._m2: Tensor | None = None
        self.count = 0

    def update(self, values: Tensor) -> None:
        """Fold in a chunk of shape ``[k, B]`` (accumulated in float64, as `StreamingLogMeanExp`)."""
        values = values.to(_accumulation_dtype(values.dtype))
        k = values.shape[0]
        mean = values.mean(dim=0)
        m2 = ((values - mean) ** 2).sum(dim=0)
        if self._mean is None or self._m2 is None:
            self._mean, self._m2, self.count = mean, m2, k
            return
        n = self.count + k
        delta = mean - self._mean
        self._mean = self._mean + delta * (k / n)
        self._m2 = self._m2 + m2 + delta**2 * (self.count * k / n)
        self.count = n

    def mean(self) -> Tensor:
        """Sample mean, ``[B]``."""
        if self._mean is None:
            raise RuntimeError("StreamingMoments received no samples")
        return self._mean

    def variance(self) -> Tensor:
        """Unbiased sample variance (NaN-free: zero when K = 1), ``[B]``."""
        if self._m2 is None:
            raise RuntimeError("StreamingMoments received no samples")
        return self._m2 / max(self.count - 1, 1)

    def stderr(self) -> Tensor:
        """Standard error of the mean, ``[B]``."""
        return torch.sqrt(self.variance() / self.count)
