"""Contracts every part of vaebench agrees on: model protocols, estimates and estimator specs."""

from __future__ import annotations

import functools
import inspect
import math
import re
from dataclasses import dataclass, field, fields
from typing import Any, Callable, Protocol, runtime_checkable

import torch
from torch import Tensor
from torch.distributions import Distribution

from vaebench.options import DeclaresOptions, Option
from vaebench.validation import check_data, check_num_samples

__all__ = [
    "LatentModel",
    "GroundTruth",
    "Estimate",
    "EstimatorTags",
    "EstimatorSpec",
    "EstimatorError",
    "OPTIONAL_TRUTH",
    "Truth",
    "check_estimate",
    "truth_of",
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
    """A model whose log p(x) is known (exactly, or to a stated error).

    ``log_marginal(x)`` is required. The optional methods of the protocol are listed in
    `OPTIONAL_TRUTH`; a model offers them by defining them, and answers None where a quantity is
    not available for it. Callers ask through `truth_of`, never by probing attributes.
    """

    def log_marginal(self, x: Tensor) -> Tensor:
        """log p(x) of shape ``[B]`` (float64)."""


OPTIONAL_TRUTH = {
    "posterior": "posterior(x) -> p(z | x) as a Distribution with batch shape [B]",
    "kl_to_posterior": "kl_to_posterior(q, x) -> KL(q ‖ p(z|x)), [B] (q None: the encoder)",
    "chi_square": "chi_square(q, x) -> χ²(p(z|x) ‖ q), [B] (q None: the encoder; inf where divergent)",
    "log_weight_variance": "log_weight_variance(q, x) -> Var_q[log p(x, z) − log q(z)], [B]",
    "log_marginal_error": "log_marginal_error(x) -> bound on |error| of log_marginal, [B] (0 for closed forms)",
    "evaluation_data": "evaluation_data(n) -> the n data points a benchmark evaluates the model on",
}


class Truth:
    """The ground-truth protocol of a model, asked uniformly: every method answers or returns None.

    ``truth_of(model).chi_square(q, x)`` is the model's χ² if it offers one, else None; so is
    every method in `OPTIONAL_TRUTH`, and ``log_marginal`` (None for a model without truth).
    """

    def __init__(self, model: Any) -> None:
        self.model = model
        self.available = isinstance(model, GroundTruth)

    def _ask(self, method: str, *args: Any) -> Any:
        fn = getattr(self.model, method, None)
        return fn(*args) if callable(fn) else None

    def log_marginal(self, x: Tensor) -> Tensor | None:
        return self.model.log_marginal(x) if self.available else None

    def __getattr__(self, method: str) -> Callable[..., Any]:
        if method not in OPTIONAL_TRUTH:
            raise AttributeError(f"{method!r} is not part of the ground-truth protocol; it has log_marginal and "
                                 f"{sorted(OPTIONAL_TRUTH)}")
        return lambda *args: self._ask(method, *args)


def truth_of(model: Any) -> Truth:
    """The ground-truth protocol of ``model`` (see `Truth`)."""
    return Truth(model)


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
    log_weight_tail : Tensor or None
        Diagnostics: the largest M + 1 log weights per point (``[M + 1, B]``, M =
        `vaebench.ops.pareto_tail_size` (K)), kept by streaming estimators when the full weights are
        not, so that `khat` is available without them.

    ``khat`` (a property, computed on first use) is the Pareto k̂ of the weights per point,
    float64 ``[B]`` (Vehtari et al., 2024): below 0.5 the weights have finite variance and the
    stderr can be trusted; above 0.7 the estimate and its stderr are unreliable. None where the
    estimator keeps no weights (the ELBO, reverse AIS); NaN where K is too small to fit a tail.
    """

    log_px: Tensor
    log_weights: Tensor | None = None
    ess: Tensor | None = None
    stderr: Tensor | None = None
    num_samples: int | None = None
    log_weight_tail: Tensor | None = None

    @functools.cached_property
    def khat(self) -> Tensor | None:
        """Pareto k̂ per point (see the class docstring), from the kept weights or their tail."""
        from vaebench.ops import pareto_k, pareto_k_from_tail

        if self.log_weights is not None:
            return pareto_k(self.log_weights)
        if self.log_weight_tail is not None and self.num_samples is not None:
            return pareto_k_from_tail(self.log_weight_tail, self.num_samples, eps=torch.finfo(self.log_px.dtype).eps)
        return None

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
    unbiased_in_log_p : bool
        E[log_px] = log p(x) exactly, for every K (SUMO, Luo et al. 2020). Then neither bound holds
        strictly and the bias is zero at every order.
    lower_bound : bool
        E[log_px] <= log p(x) for every K.
    upper_bound : bool
        E[log_px] >= log p(x) for every K.
    upper_bound_in_limit : bool
        lim_{K→∞} E[log_px] >= log p(x), while at finite K the estimate may fall below log p(x):
        the Monte Carlo estimates of the χ upper bound (CUBO, Dieng et al. 2017) and of the Rényi
        bounds with α < 0 (Li & Turner 2016) are biased low, so they bound log p(x) from above only
        in the limit. Implied by ``upper_bound`` (a bound at every K).
    consistent : bool
        log_px -> log p(x) in probability as K -> infinity, at a usable rate: the kit checks that the
        MSE and the bias both fall at least 4x from K = 16 to 1024 (an estimator that converges
        slower than that, like the harmonic mean, should not claim it).
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
    bounded_memory : bool
        Peak memory does not grow with K (beyond any returned ``[K, B]`` log weights): the
        estimator streams over K in chunks. Without this claim, memory that grows with K is a
        scalability warning from the kit, not a correctness failure.
    exact_at_posterior : bool
        When the proposal is the exact posterior p(z|x), every weight is p(x) and the estimate is
        log p(x) to rounding, at any K (importance sampling, the ELBO, AIS and reverse AIS started
        from it; not a defensive mixture). Implied by ``importance_weighted`` and
        ``elbo_in_expectation``.
    bias_order : int or None
        The bias E[log_px] − log p(x) shrinks at least as fast as 1/K^bias_order once K is
        moderate: 1 for the IWAE bound (bias ≈ −χ²/2K), 2 for first-order jackknife variational
        inference (Nowozin, 2018). None claims nothing (the ELBO's bias does not shrink with K).
    """

    unbiased_in_p: bool = False
    unbiased_in_log_p: bool = False
    lower_bound: bool = False
    upper_bound: bool = False
    upper_bound_in_limit: bool = False
    consistent: bool = False
    needs_proposal: bool = False
    needs_grad: bool = False
    needs_exact_posterior: bool = False
    stochastic: bool = True
    importance_weighted: bool = False
    elbo_in_expectation: bool = False
    bounded_memory: bool = False
    exact_at_posterior: bool = False
    bias_order: int | None = None

    def __post_init__(self) -> None:
        for f in fields(self):
            if f.name == "bias_order":
                continue
            if not isinstance(getattr(self, f.name), bool):
                raise TypeError(f"EstimatorTags.{f.name} must be a bool, got {getattr(self, f.name)!r}")
        order = self.bias_order
        if order is not None and (isinstance(order, bool) or not isinstance(order, int) or order < 1):
            raise TypeError(f"EstimatorTags.bias_order must be an integer >= 1 or None, got {order!r}")
        if self.unbiased_in_log_p and (self.lower_bound or self.upper_bound):
            raise ValueError("EstimatorTags: unbiased_in_log_p contradicts lower_bound and upper_bound (a bound that "
                             "is met with equality in expectation at every K is claimed by unbiased_in_log_p alone)")
        if self.lower_bound and (self.upper_bound or self.upper_bound_in_limit):
            raise ValueError("EstimatorTags: lower_bound with upper_bound or upper_bound_in_limit claims E[log_px] = "
                             "log p(x); claim unbiased_in_log_p for that")


_NAME = re.compile(r"^[a-z][a-z0-9_\-]*$")


@dataclass(frozen=True)
class EstimatorSpec(DeclaresOptions):
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
    options : tuple of Option
        The keyword options the estimator accepts (default none). Anything else passed to the
        spec is refused with the list of declared options.
    caution : str
        A warning every report prints beside this estimator's numbers (e.g. the harmonic mean's
        infinite variance); empty for none.
    kit_options : mapping, optional
        Declared options the conformance kit passes on every call unless a check sets them itself:
        a cheap configuration for an expensive estimator (AIS runs the kit at T = 4). The claims
        must hold for every option value, so testing them at a cheap one is sound; the kit still
        tries each value in ``Option.values_to_try``. Stored as a tuple of (name, value) pairs.
    """

    kind = "estimator"
    name: str
    estimate: Callable[..., Estimate]
    tags: EstimatorTags = field(default_factory=EstimatorTags)
    description: str = ""
    options: tuple[Option, ...] = ()
    kit_options: Any = ()
    caution: str = ""

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not _NAME.match(self.name):
            raise ValueError(
                f"EstimatorSpec name must be a lower-case identifier like 'my_is', got {self.name!r}"
            )
        if not callable(self.estimate):
            raise TypeError(f"EstimatorSpec {self.name!r}: estimate must be callable, got {self.estimate!r}")
        if not isinstance(self.tags, EstimatorTags):
            raise TypeError(f"EstimatorSpec {self.name!r}: tags must be an EstimatorTags, got {self.tags!r}")
        if not isinstance(self.caution, str):
            raise TypeError(f"EstimatorSpec {self.name!r}: caution must be a str, got {self.caution!r}")
        object.__setattr__(self, "options", tuple(self.options))
        if not all(isinstance(o, Option) for o in self.options):
            raise TypeError(f"EstimatorSpec {self.name!r}: options must be vaebench.Option objects")
        names = [o.name for o in self.options]
        if len(set(names)) != len(names):
            raise ValueError(f"EstimatorSpec {self.name!r}: option names must be unique, got {names}")
        kit = dict(self.kit_options)
        object.__setattr__(self, "kit_options", tuple(sorted(self.validate_options(kit).items())))
        try:
            params = inspect.signature(self.estimate).parameters
        except (TypeError, ValueError):
            return
        takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        missing = [n for n in names if n not in params and not takes_any]
        if missing:
            raise TypeError(f"EstimatorSpec {self.name!r} declares options {missing} that its estimate function "
                            "does not accept")

    @property
    def kit_defaults(self) -> dict[str, Any]:
        """`kit_options` as a dict."""
        return dict(self.kit_options)

    def __call__(
        self,
        model: LatentModel,
        x: Tensor,
        num_samples: int,
        *,
        generator: torch.Generator | None = None,
        **options: Any,
    ) -> Estimate:
        """Validate the input and the options, run the estimator on the model's contract (a
        `vaebench.contract.ContractView`: the truth stays with the caller), validate its output."""
        from vaebench.contract import contract_view

        return self.call_on_model(contract_view(model), x, num_samples, generator=generator, **options)

    def call_on_model(self, model: Any, x: Tensor, num_samples: int, *, generator: torch.Generator | None = None,
                      **options: Any) -> Estimate:
        """As calling the spec, but on ``model`` itself rather than its contract view: for the
        conformance kit, which shows estimators models with wrong truth attributes to catch those
        that read them (`vaebench.testing.isolation`). Benchmarks never call this."""
        from vaebench.contract import check_model

        x = check_data(x, model)
        check_model(model, x)
        num_samples = check_num_samples(num_samples)
        options = self.validate_options(options)
        try:
            with torch.no_grad():
                result = self.estimate(model, x, num_samples, generator=generator, **options)
        except (ValueError, TypeError, NotImplementedError):
            raise  # argument errors already say what is wrong
        except Exception as exc:
            raise EstimatorError(f"estimator {self.name!r} raised {type(exc).__name__}: {exc}") from exc
        return check_estimate(result, x, num_samples, self.name)


def check_estimate(result: Any, x: Tensor, num_samples: int, name: str) -> Any:
    """Check an estimator's output against the `Estimate` contract; raise `EstimatorError` if broken.

    ``log_px`` is ``[B]``, finite or −inf (a point of zero estimated probability), never NaN or
    +inf; ``log_weights`` is ``[K, B]``; ``ess`` and ``stderr`` are ``[B]``, ``ess`` finite in
    [1, K] and ``stderr`` >= 0 (not NaN). The library, sweeps and the kit all apply this one check.
    """
    if not isinstance(result, Estimate):
        raise EstimatorError(f"estimator {name!r} must return a vaebench.Estimate, got {type(result).__name__}")
    batch = x.shape[0]
    expected = {"log_px": (batch,), "log_weights": (num_samples, batch), "ess": (batch,), "stderr": (batch,)}
    for field_name, shape in expected.items():
        value = getattr(result, field_name)
        if value is None and field_name != "log_px":
            continue
        if not isinstance(value, Tensor) or tuple(value.shape) != shape:
            got = list(value.shape) if isinstance(value, Tensor) else type(value).__name__
            raise EstimatorError(f"estimator {name!r} returned {field_name} of shape {got}; expected {list(shape)}")
    tail = result.log_weight_tail
    if tail is not None and (not isinstance(tail, Tensor) or tail.dim() != 2 or tail.shape[1] != batch
                             or tail.shape[0] > num_samples):
        got = list(tail.shape) if isinstance(tail, Tensor) else type(tail).__name__
        raise EstimatorError(f"estimator {name!r} returned log_weight_tail of shape {got}; expected [m, {batch}] "
                             f"with m <= K = {num_samples} (the largest log weights per point)")
    lp = result.log_px
    if bool(torch.isnan(lp).any()):
        raise EstimatorError(f"estimator {name!r} returned NaN in log_px for finite input")
    if bool((lp == math.inf).any()):
        raise EstimatorError(f"estimator {name!r} returned +inf in log_px: log p(x) is finite or -inf")
    if result.stderr is not None:
        se = result.stderr.double()
        if bool((torch.isnan(se) | (se < 0)).any()):
            raise EstimatorError(f"estimator {name!r} returned a stderr that is negative or NaN: a standard error "
                                 "is >= 0 (inf where unknown)")
    if result.ess is not None:
        ess = result.ess.double()  # returned in x's dtype: bfloat16 rounds 975 to 976
        slack = max(1e-6, 4 * torch.finfo(result.ess.dtype).eps) * num_samples + 1e-9
        if bool((~torch.isfinite(ess) | (ess < 1 - slack) | (ess > num_samples + slack)).any()):
            bad = ess[~torch.isfinite(ess) | (ess < 1 - slack) | (ess > num_samples + slack)][:3].tolist()
            raise EstimatorError(f"estimator {name!r} returned ess {bad}: an effective sample size lies in "
                                 f"[1, K = {num_samples}]")
    return result
