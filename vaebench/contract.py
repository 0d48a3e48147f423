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

__all__ = ["ContractView", "contract_view", "model_name", "CONTRACT", "OPTIONAL_CONTRACT"]

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
