"""Contracts every part of vaebench agrees on: model protocols, estimates and estimator specs."""

from __future__ import annotations

import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.distributions import Distribution

__all__ = [
    "LatentModel",
    "GroundTruth",
    "Estimate",
    "EstimatorTags",
    "EstimatorSpec",
    "EstimatorError",
]


class EstimatorError(RuntimeError):
    """An estimator raised, or returned something that breaks the `Estimate` contract."""


@runtime_checkable
class LatentModel(Protocol):
    """A latent-variable model p(x, z) = p(x | z) p(z), batched over data and samples.

    Data ``x`` is ``[B, D]``; latent samples ``z`` are ``[K, B, d]``.
    """

    @property
    def prior(self) -> Distribution:
        """p(z), with event shape ``[d]`` and empty batch shape."""

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z) of shape ``[K, B]`` for ``x`` ``[B, D]`` and ``z`` ``[K, B, d]``."""


@runtime_checkable
class GroundTruth(Protocol):
    """A model whose log p(x) is known (exactly, or to a stated error)."""

    def log_marginal(self, x: Tensor) -> Tensor:
        """log p(x) of shape ``[B]`` (float64)."""


@dataclass(frozen=True)
class Estimate:
    """What an estimator returns.

    Attributes
    ----------
    log_px : Tensor
        The estimate of log p(x), one per data point, ``[B]``. This is what callers consume.
    log_weights : Tensor or None
        Diagnostics: the log importance weights ``[K, B]`` when the estimator has them and was
        asked to keep them (they cost memory proportional to K).
    ess : Tensor or None
        Diagnostics: effective sample size of the weights, ``[B]``, computed while streaming.
    stderr : Tensor or None
        Diagnostics: a Monte Carlo standard error of ``log_px``, ``[B]`` (delta method for
        importance estimates; sample standard error for averages).
    num_samples : int or None
        The K that produced the estimate.
    """

    log_px: Tensor
    log_weights: Tensor | None = None
    ess: Tensor | None = None
    stderr: Tensor | None = None
    num_samples: int | None = None

    def to(self, *args: Any, **kwargs: Any) -> "Estimate":
        """Move every tensor field, as `torch.Tensor.to` does."""
        moved = {
            f.name: (v.to(*args, **kwargs) if isinstance(v, Tensor) else v)
            for f in fields(self)
            for v in [getattr(self, f.name)]
        }
        return Estimate(**moved)


@dataclass(frozen=True)
class EstimatorTags:
    """What an estimator claims and what it needs; the conformance checks are chosen from these.

    Attributes
    ----------
    unbiased_in_p : bool
        E[exp(log_px)] = p(x) exactly, for every K.
    lower_bound : bool
        E[log_px] <= log p(x) for every K.
    upper_bound : bool
        E[log_px] >= log p(x) for every K.
    consistent : bool
        log_px -> log p(x) in probability as K -> infinity.
    needs_proposal : bool
        Uses q(z|x): the model's ``proposal(x)`` or a ``proposal=`` option.
    needs_grad : bool
        Differentiates the model's log density in z (HMC, AIS with gradient-based kernels); such
        an estimator enables grad itself (`torch.enable_grad`), as specs are called under no_grad.
    needs_exact_posterior : bool
        Needs exact posterior samples (e.g. reverse AIS chains in BDMC).
    stochastic : bool
        The output depends on the random stream (all Monte Carlo estimators).
    importance_weighted : bool
        p̂ is the mean of K i.i.d. importance weights p(x, z) / q(z) with z ~ q, q the model's
        proposal (the prior when ``needs_proposal`` is False), so Var[p̂ / p] = χ²(p(z|x) ‖ q) / K
        and any returned log weights satisfy log_px = log mean exp(log_weights).
    elbo_in_expectation : bool
        E[log_px] = ELBO(q) = log p(x) − KL(q(z|x) ‖ p(z|x)) for the model's proposal q.
    """

    unbiased_in_p: bool = False
    lower_bound: bool = False
    upper_bound: bool = False
    consistent: bool = False
    needs_proposal: bool = False
    needs_grad: bool = False
    needs_exact_posterior: bool = False
    stochastic: bool = True
    importance_weighted: bool = False
    elbo_in_expectation: bool = False

    def __post_init__(self) -> None:
        for f in fields(self):
            if not isinstance(getattr(self, f.name), bool):
                raise TypeError(f"EstimatorTags.{f.name} must be a bool, got {getattr(self, f.name)!r}")


_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True)
class EstimatorSpec:
    """An estimator: its name, its function, its claims.

    Calling the spec runs the estimator with input validation before and output validation
    after, so that bad input and a misbehaving plug-in both fail with a message that says what
    is wrong. The call runs under `torch.no_grad`: an estimate is a measurement, and with a
    model's trainable parameters autograd would otherwise keep every chunk's activations, so
    memory would grow with K (353 MiB at K = 1000 for the IWAE-architecture VAE, against 4 MiB).
    Call ``spec.estimate`` directly for a differentiable estimate (a training objective), and
    use `torch.enable_grad` inside an estimator that differentiates in z (``needs_grad``).

    Parameters
    ----------
    name : str
        Lower-case registry name (letters, digits, ``_`` and ``-``).
    estimate : callable
        ``estimate(model, x, num_samples, *, generator, **options) -> Estimate``.
    tags : EstimatorTags
        Claims and needs.
    description : str
        One line for listings.
    """

    name: str
    estimate: Callable[..., Estimate]
    tags: EstimatorTags = field(default_factory=EstimatorTags)
    description: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"EstimatorSpec name must be a lower-case identifier like 'my_is', got {self.name!r}"
            )
        if not callable(self.estimate):
            raise TypeError(f"EstimatorSpec {self.name!r}: estimate must be callable, got {self.estimate!r}")
        if not isinstance(self.tags, EstimatorTags):
            raise TypeError(f"EstimatorSpec {self.name!r}: tags must be an EstimatorTags, got {self.tags!r}")

    def __call__(
        self,
        model: LatentModel,
        x: Tensor,
        num_samples: int,
        *,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> Estimate:
        """Validate the input, run the estimator, validate its output."""
        from vaebench.validation import check_data, check_estimate, check_num_samples

        x = check_data(x, model)
        num_samples = check_num_samples(num_samples)
        try:
            with torch.no_grad():
                result = self.estimate(model, x, num_samples, generator=generator, **options)
        except (ValueError, TypeError, NotImplementedError):
            raise  # argument errors already say what is wrong
        except Exception as exc:
            raise EstimatorError(f"estimator {self.name!r} raised {type(exc).__name__}: {exc}") from exc
        return check_estimate(result, x, num_samples, self.name)
