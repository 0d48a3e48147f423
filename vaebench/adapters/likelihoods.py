"""Decoder likelihoods by convention: what a decoder's output means, as a density over x.

Each likelihood turns a decoder output for N latent rows into log p(x | z) ``[N]`` (x flattened to
``[N, D]``) and, where it can, draws x from it (data simulated from the model for BDMC). The
densities are torch's (`torch.distributions`, or `torch.nn.functional.binary_cross_entropy` for
the clamped convention of models trained with it).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Bernoulli, Distribution, Normal

__all__ = ["Likelihood", "resolve_likelihood", "LIKELIHOODS"]

LIKELIHOODS = {
    "bernoulli-logits": "the decoder returns logits l: log p(x|z) = Σ x l − softplus(l) (torch Bernoulli)",
    "bernoulli-probs": "the decoder returns probabilities p: log p(x|z) = −BCE(p, x), each log clamped at −100 as "
                       "torch's binary_cross_entropy does (the loss such models were trained with)",
    "gaussian": "the decoder returns the mean μ: log p(x|z) = Σ log N(x; μ, σ²), σ fixed (sigma=) or learned "
                "(sigma= a callable returning it)",
}


@dataclass(frozen=True)
class Likelihood:
    """A decoder likelihood: ``log_prob(x, out) -> log p(x|z)`` summed over the last dimension, and
    ``sample`` where known.

    Built-in likelihoods take x ``[B, D]`` and the decoder output ``[K, B, D]`` and broadcast
    (``[K, B]`` out, no copy of x per sample); ``broadcasts=False`` ones (the user's callables,
    Distributions, Pyro) get x repeated to the output's rows, ``[N, D]`` and ``[N, ...]``.

    Attributes
    ----------
    name : str
        One of `LIKELIHOODS`, ``"distribution"`` (the decoder returns a torch Distribution) or
        ``"callable"`` (the user's function).
    convention : str
        The convention in words, recorded with every number computed under it.
    needs_unit_interval : bool
        x must lie in [0, 1] (Bernoulli likelihoods).
    """

    name: str
    convention: str
    log_prob: Callable[[Tensor, Any], Tensor]
    sample: Callable[[Any, torch.Generator], Tensor] | None = None
    needs_unit_interval: bool = False
    broadcasts: bool = True


def _bernoulli_logits() -> Likelihood:
    def log_prob(x: Tensor, logits: Tensor) -> Tensor:
        return Bernoulli(logits=logits, validate_args=False).log_prob(x.to(logits.dtype)).sum(-1)

    def sample(logits: Tensor, g: torch.Generator) -> Tensor:
        u = torch.rand(logits.shape, generator=g, dtype=logits.dtype, device=logits.device)
        return (u < torch.sigmoid(logits)).to(logits.dtype)

    return Likelihood("bernoulli-logits", LIKELIHOODS["bernoulli-logits"], log_prob, sample, True)


def _clamped_bernoulli_log_prob(x: Tensor, probs: Tensor) -> Tensor:
    """Σ_j max(log p_j, −100) for x_j = 1 and max(log(1 − p_j), −100) for x_j = 0: torch's BCE convention.

    Written out for binary x (a select, one log, one clamp) because torch's CPU binary_cross_entropy
    is 5x slower on ``[K, B, D]`` (``python -m benchmarks.bernoulli_probs_kernel``); soft targets
    (x strictly between 0 and 1) go to torch. Tested against torch and scipy in
    tests/adapters/test_modules.py.
    """
    target = x.to(probs.dtype)
    if bool(((target == 0) | (target == 1)).all()):  # checked on x [B, D], not on the [K, B, D] output
        low, high = torch.aminmax(probs)  # one pass
        if bool(low < 0) or bool(high > 1):
            raise ValueError("likelihood 'bernoulli-probs': the decoder returned values outside [0, 1]; if it returns "
                             "logits, use likelihood='bernoulli-logits'")
        chosen = torch.where(target.bool(), probs, 1 - probs)
        return torch.log(chosen).clamp_(min=-100).sum(-1)
    try:
        return -torch.nn.functional.binary_cross_entropy(probs, target.expand_as(probs), reduction="none").sum(-1)
    except RuntimeError as exc:  # torch checks the range itself
        if "between 0 and 1" not in str(exc):
            raise
        raise ValueError("likelihood 'bernoulli-probs': the decoder returned values outside [0, 1]; if it returns "
                         "logits, use likelihood='bernoulli-logits'") from None


def _bernoulli_probs() -> Likelihood:
    def sample(probs: Tensor, g: torch.Generator) -> Tensor:
        u = torch.rand(probs.shape, generator=g, dtype=probs.dtype, device=probs.device)
        return (u < probs).to(probs.dtype)

    return Likelihood("bernoulli-probs", LIKELIHOODS["bernoulli-probs"], _clamped_bernoulli_log_prob, sample, True)


def _gaussian(sigma: Any) -> Likelihood:
    if sigma is None:
        raise ValueError("likelihood 'gaussian' needs sigma=: the decoder's standard deviation (a float, a tensor "
                         "[D], or a callable returning one, for a learned σ)")
    if not callable(sigma):
        if isinstance(sigma, bool) or not isinstance(sigma, (int, float, Tensor)):
            raise TypeError(f"sigma must be a positive float, a tensor [D] or a callable, got {type(sigma).__name__}")
        if not bool(torch.all(torch.as_tensor(sigma) > 0)):
            raise ValueError(f"sigma must be positive, got {sigma!r}")

    def scale(like: Tensor) -> Tensor:
        value = sigma() if callable(sigma) else sigma
        return torch.as_tensor(value, dtype=like.dtype, device=like.device)

    def log_prob(x: Tensor, mean: Tensor) -> Tensor:
        return Normal(mean, scale(mean), validate_args=False).log_prob(x.to(mean.dtype)).sum(-1)

    def sample(mean: Tensor, g: torch.Generator) -> Tensor:
        noise = torch.randn(mean.shape, generator=g, dtype=mean.dtype, device=mean.device)
        return mean + scale(mean) * noise

    shown = "learned (a callable)" if callable(sigma) else f"{float(torch.as_tensor(sigma).double().mean()):.4g}"
    return Likelihood("gaussian", f"{LIKELIHOODS['gaussian']}; σ = {shown} (mean over pixels); constant "
                      f"−(D/2) log 2π included ({math.log(2 * math.pi) / 2:.4f} nats per pixel)", log_prob, sample)


def _distribution() -> Likelihood:
    def log_prob(x: Tensor, dist: Distribution) -> Tensor:
        value = dist.log_prob(x.reshape(dist.batch_shape + dist.event_shape)
                              if x.numel() == (dist.batch_shape + dist.event_shape).numel() else x)
        return value.reshape(value.shape[0], -1).sum(-1)

    def sample(dist: Distribution, g: torch.Generator) -> Tensor:
        from vaebench.sampling import sample as draw

        return draw(dist, (), g)

    return Likelihood("distribution", "the decoder returns a torch Distribution over x: its log_prob, summed over "
                      "pixels", log_prob, sample, broadcasts=False)


def _user_callable(fn: Callable[..., Tensor]) -> Likelihood:
    name = getattr(fn, "__qualname__", type(fn).__name__)

    def log_prob(x: Tensor, out: Any) -> Tensor:
        value = fn(out, x)
        if not isinstance(value, Tensor):
            raise TypeError(f"likelihood {name}(output, x) must return a tensor [N], got {type(value).__name__}")
        return value

    return Likelihood("callable", f"the user's function {name}(decoder output, x) -> log p(x|z) [N]", log_prob,
                      broadcasts=False)


def resolve_likelihood(likelihood: Any, sigma: Any = None) -> Likelihood:
    """A `Likelihood` from a name in `LIKELIHOODS`, ``"distribution"``, a callable
    ``f(decoder_output, x) -> [N]``, or a `Likelihood` itself."""
    if isinstance(likelihood, Likelihood):
        return likelihood
    if isinstance(likelihood, str):
        makers = {"bernoulli-logits": _bernoulli_logits, "bernoulli-probs": _bernoulli_probs,
                  "distribution": _distribution}
        if likelihood == "gaussian":
            return _gaussian(sigma)
        if likelihood in makers:
            return makers[likelihood]()
        from vaebench.validation import unknown_name_message

        raise ValueError(unknown_name_message("likelihood", likelihood, [*LIKELIHOODS, "distribution"])
                         + "; or pass a callable f(decoder_output, x) -> log p(x|z) [N]")
    if callable(likelihood):
        return _user_callable(likelihood)
    raise TypeError(f"likelihood must be one of {sorted(LIKELIHOODS)}, 'distribution' or a callable "
                    f"f(decoder_output, x) -> [N], got {type(likelihood).__name__}")
