"""Hand-fused importance sampling loops: the speed anchors that `importance` is measured against.

Written as a careful user would write them for one model, with no generality: the encoder runs
once; then, for each chunk of samples, z = μ + σ ε is drawn, the decoder runs, the log-likelihood
is one fused call, and log p(z) − log q(z | x) is written out in closed form for the standard
normal prior and the diagonal Gaussian encoder; the chunks are reduced by a running log-sum-exp
in float64. They return log p̂ ``[B]`` and are checked against `importance` in distribution
(tests/benchmarks/test_hand_loop.py), so a speed ratio compares like with like.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor

__all__ = ["vae_bernoulli_is", "factor_analysis_is"]

_LOG_2PI = math.log(2 * math.pi)


def _reduce(acc: Tensor | None, log_w: Tensor) -> Tensor:
    lse = torch.logsumexp(log_w.double(), 0)
    return lse if acc is None else torch.logaddexp(acc, lse)


@torch.no_grad()
def vae_bernoulli_is(vae, x: Tensor, num_samples: int, generator: torch.Generator, chunk: int = 4096) -> Tensor:
    """log p̂_K(x) for a `vaebench.models.VAE` with a Bernoulli decoder."""
    mean, std = vae.encode(x)
    log_std_sum = torch.log(std).sum(-1)
    acc, done = None, 0
    while done < num_samples:
        k = min(chunk, num_samples - done)
        eps = torch.randn((k, *mean.shape), generator=generator, dtype=mean.dtype, device=mean.device)
        z = torch.addcmul(mean, std, eps)
        logits = vae.decoder(z)
        log_lik = -torch.nn.functional.binary_cross_entropy_with_logits(
            logits, x.expand_as(logits), reduction="none").sum(-1)
        # log N(z; 0, I) − log N(z; μ, σ²) = −½|z|² + ½|ε|² + Σ log σ
        log_w = log_lik - 0.5 * (z * z).sum(-1) + 0.5 * (eps * eps).sum(-1) + log_std_sum
        acc = _reduce(acc, log_w)
        done += k
    return (acc - math.log(num_samples)).to(x.dtype)


@torch.no_grad()
def factor_analysis_is(model, x: Tensor, num_samples: int, generator: torch.Generator, chunk: int = 4096) -> Tensor:
    """log p̂_K(x) for a `vaebench.models.LinearGaussian` with a mean-field (diagonal) encoder."""
    q = model.proposal(x)
    mean, std = q.base_dist.loc, q.base_dist.scale
    W, b = model._W, model._b
    inv_noise = 1 / model._noise_std
    const = inv_noise.log().sum() - 0.5 * x.shape[1] * _LOG_2PI
    log_std_sum = torch.log(std).sum(-1)
    acc, done = None, 0
    while done < num_samples:
        k = min(chunk, num_samples - done)
        eps = torch.randn((k, *mean.shape), generator=generator, dtype=mean.dtype, device=mean.device)
        z = torch.addcmul(mean, std, eps)
        resid = (torch.addmm(b, z.reshape(-1, z.shape[-1]), W.mT).reshape(k, *x.shape) - x) * inv_noise
        log_lik = const - 0.5 * (resid * resid).sum(-1)
        log_w = log_lik - 0.5 * (z * z).sum(-1) + 0.5 * (eps * eps).sum(-1) + log_std_sum
        acc = _reduce(acc, log_w)
        done += k
    return (acc - math.log(num_samples)).to(x.dtype)
