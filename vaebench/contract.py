"""The model contract an estimator sees: prior, log_likelihood, proposal, and nothing of the truth.

Every call of an estimator through its spec (`EstimatorSpec.__call__`: the library, sweeps,
``vaebench estimate``, references, BDMC) hands it ``contract_view(model)``. The truth
(``log_marginal``, ``posterior``, ``kl_to_posterior``, ...) stays with the caller, which computes
errors itself: a benchmark whose estimators can read the truth can be won by cheating, and an
honest "use the exact posterior when the model offers one" shortcut would be crowned by the report.

The view is a guard against shortcuts (``hasattr``/``getattr`` probes), not a sandbox: Python
cannot hide an object from code that digs through bound methods on purpose. The conformance kit
(`vaebench.testing.isolation`) catches the estimators that read a model's truth when called
directly.
"""

from __future__ import annotations

from typing import Any

from torch import Tensor
from torch.distributions import Distribution

__all__ = ["ContractView", "contract_view", "check_model", "model_name", "CONTRACT", "OPTIONAL_CONTRACT"]

# What every model has (`LatentModel`), and what it may have; nothing else reaches an estimator.
CONTRACT = ("prior", "log_likelihood")
OPTIONAL_CONTRACT = ("proposal", "data_dim", "latent_dim", "dtype", "device")


def model_name(model: Any) -> str:
    """The class name of the model behind a view (for messages that name the user's model)."""
    inner = getattr(model, "contract_of", None)
    return inner if isinstance(inner, str) else type(model).__name__


class ContractView:
    """The `LatentModel` contract of ``model`` and nothing else.

    Parameters
    ----------
    model : LatentModel
        Anything with ``prior`` and ``log_likelihood(x, z)``; its ``proposal``, ``data_dim``,
        ``latent_dim``, ``dtype`` and ``device`` pass through where it has them.
    extras : tuple of str
        Further attributes a caller declares the estimator may use (none for the built-ins).
    """

    __slots__ = ("_model", "_extras", "contract_of")

    def __init__(self, model: Any, extras: tuple[str, ...] = ()) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_extras", tuple(extras))
        object.__setattr__(self, "contract_of", model_name(model))

    @property
    def prior(self) -> Distribution:
        """p(z)."""
        return self._model.prior

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        """log p(x | z), ``[K, B]``."""
        return self._model.log_likelihood(x, z)

    def __getattr__(self, name: str) -> Any:
        if name in OPTIONAL_CONTRACT or name in self._extras:
            return getattr(self._model, name)  # AttributeError where the model lacks it, as getattr expects
        raise AttributeError(
            f"{name!r} is not part of the model contract an estimator sees (prior, log_likelihood and, where the "
            f"model has them, {', '.join(OPTIONAL_CONTRACT)}); the truth stays with the benchmark")

    def __setattr__(self, name: str, value: Any) -> None:
        raise AttributeError(f"the model contract is read-only: an estimator cannot set {name!r}")

    def to(self, *args: Any, **kwargs: Any) -> "ContractView":
        """The view of the model moved to another dtype or device."""
        return ContractView(self._model.to(*args, **kwargs), self._extras)

    def __repr__(self) -> str:
        return f"ContractView({self.contract_of})"


def contract_view(model: Any, extras: tuple[str, ...] = ()) -> Any:
    """``model`` seen through its contract (a `ContractView`); a view is returned as it is."""
    if isinstance(model, ContractView):
        return model
    return ContractView(model, extras)


def _adapter_hint(model: Any) -> str:
    """Which adapter brings ``model`` in, by what it looks like."""
    module = type(model).__module__
    if module.startswith("pythae."):
        return "wrap it with vaebench.adapters.from_pythae(model)"
    if callable(model) and not hasattr(model, "parameters"):
        return ("a function (a Pyro model?): wrap it with vaebench.adapters.from_pyro(model, guide, latent=..., "
                "obs=...)")
    if hasattr(model, "parameters"):
        return ("a torch module: wrap its encoder and decoder with vaebench.adapters.from_modules(encoder, decoder, "
                "likelihood=..., latent_dim=...)")
    return ("wrap a torch module, pythae or Pyro model with vaebench.adapters, or write a class with those two "
            "members")


def check_model(model: Any, x: Tensor) -> Any:
    """The front door: ``model`` honours the `LatentModel` contract on ``x`` ``[B, D]``, or a clear error.

    Checks, on a probe of at most two rows of ``x`` and K = B' + 1 latent samples (so that a
    ``[B, K]`` result cannot pass for ``[K, B]``): ``prior`` is a torch Distribution with event
    shape ``[d]`` and batch shape ``[]``; ``log_likelihood(x, z)`` returns a tensor ``[K, B]`` in x's
    dtype and device, never NaN; ``proposal(x)``, where the model has one, has batch shape ``[B]``
    and event shape ``[d]``. Each error names the method, the shapes seen and the shapes expected.
    The probe z is deterministic (the prior's mean, or zeros): no random stream is touched.

    Returns
    -------
    model
        The model, unchanged.
    """
    import torch

    name = model_name(model)
    if not hasattr(model, "log_likelihood") or not hasattr(model, "prior"):
        raise TypeError(f"{name} is not a latent-variable model: it needs a `prior` (a torch Distribution over z) and "
                        f"`log_likelihood(x, z)`; {_adapter_hint(model)}")
    prior = model.prior
    if not isinstance(prior, Distribution):
        raise TypeError(f"{name}.prior must be a torch.distributions.Distribution over z, got {type(prior).__name__}")
    if len(prior.event_shape) != 1 or tuple(prior.batch_shape) != ():
        hint = (" (a prior inside a data plate? take it out, e.g. Independent(Normal(loc, scale), 1) with loc of "
                "shape [d])") if len(prior.batch_shape) else ""
        raise ValueError(f"{name}.prior must have event shape [d] and batch shape [], got event shape "
                         f"{list(prior.event_shape)} and batch shape {list(prior.batch_shape)}{hint}")
    d = prior.event_shape[0]
    b = min(2, x.shape[0])
    k = b + 1
    probe = x[:b]
    try:
        centre = prior.mean.to(dtype=x.dtype, device=x.device)
        if not bool(torch.isfinite(centre).all()):
            raise NotImplementedError
    except (NotImplementedError, AttributeError):
        centre = torch.zeros(d, dtype=x.dtype, device=x.device)
    z = centre.expand(k, b, d).contiguous()
    with torch.no_grad():
        out = model.log_likelihood(probe, z)
    expected = f"[K, B] = [{k}, {b}] for x [{b}, {x.shape[1]}] and z [K, B, d] = [{k}, {b}, {d}]"
    if not isinstance(out, Tensor):
        raise TypeError(f"{name}.log_likelihood(x, z) must return a torch.Tensor {expected}, got {type(out).__name__}"
                        + (" (convert with torch.as_tensor)" if type(out).__module__.startswith("numpy") else ""))
    if tuple(out.shape) != (k, b):
        hint = " (transposed: return [K, B], samples first)" if tuple(out.shape) == (b, k) else ""
        raise ValueError(f"{name}.log_likelihood(x, z) returned shape {list(out.shape)}; expected {expected}{hint}")
    if out.dtype != x.dtype or out.device != x.device:
        raise ValueError(f"{name}.log_likelihood(x, z) returned {out.dtype} on {out.device} for x {x.dtype} on "
                         f"{x.device}; the model must work in x's dtype and device (model.to({x.dtype}) or x.to(...))")
    if bool(torch.isnan(out).any()):
        raise ValueError(f"{name}.log_likelihood(x, z) returned NaN at z = the prior's mean")
    make = getattr(model, "proposal", None)
    if callable(make):
        with torch.no_grad():
            q = make(probe)
        if not isinstance(q, Distribution):
            raise TypeError(f"{name}.proposal(x) must return a torch.distributions.Distribution, got {type(q).__name__}")
        if tuple(q.batch_shape) != (b,) or tuple(q.event_shape) != (d,):
            raise ValueError(f"{name}.proposal(x) for x [{b}, {x.shape[1]}] has batch shape {list(q.batch_shape)} and "
                             f"event shape {list(q.event_shape)}; expected batch [{b}] and event [{d}] (one q(z|x) "
                             "per row)")
    return model
