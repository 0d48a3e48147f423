"""The estimator sees only the model contract: shown a model whose truth is present but wrong, it must not change.

Benchmarks hand estimators a `vaebench.contract.ContractView`, so in a sweep an estimator cannot
read the truth. But a plug-in guarded by ``hasattr(model, "posterior")`` or
``getattr(model, "log_marginal", None)`` would fall back to honest work in the kit and quietly use
the truth wherever a user hands it a full model. This check catches it: it calls the estimator on
a model that offers every ground-truth attribute vaebench knows (and records every attribute
asked of it), with *wrong* answers, and compares the estimate with the one on the bare contract
under the same random stream. The comparison is exact, so the check has no false-alarm rate.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor
from torch.distributions import Independent, Normal

from vaebench.base import OPTIONAL_TRUTH, EstimatorSpec
from vaebench.contract import CONTRACT, OPTIONAL_CONTRACT
from vaebench.testing.harness import generator, passed, run, supports
from vaebench.testing.problems import ContractModel, Problem, exact_posterior_samples, problem
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped

__all__ = ["check_sees_only_the_contract", "TRUTH_ATTRIBUTES", "TruthTrap"]

# Attributes that hold a model's truth (the ground-truth protocol and the linear-Gaussian extras).
TRUTH_ATTRIBUTES = ("log_marginal", *OPTIONAL_TRUTH, "elbo", "posterior_samples", "exact_posterior",
                    "log_evidence", "marginal")
_ALLOWED = frozenset(CONTRACT + OPTIONAL_CONTRACT + ("to",))
# How wrong the trap's truth is: far beyond any Monte Carlo error of the kit's problems.
_WRONG_NATS = 7.25


class TruthTrap:
    """The contract of ``model`` plus every truth attribute, all wrong, and a log of what was asked.

    ``log_marginal`` is off by 7.25 nats, ``posterior`` is N(3, 0.5²) per coordinate (far from the
    real one), every other truth method answers a wrong constant; any other attribute is logged
    and raises AttributeError (so ``getattr(model, name, default)`` gets its default).
    """

    def __init__(self, model: ContractModel, log_px: Tensor) -> None:
        object.__setattr__(self, "_model", model)
        object.__setattr__(self, "_log_px", log_px)
        object.__setattr__(self, "asked", [])

    def __getattribute__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_model", "_log_px", "asked", "_wrong"):
            return object.__getattribute__(self, name)
        if name in _ALLOWED:
            return getattr(object.__getattribute__(self, "_model"), name)
        object.__getattribute__(self, "asked").append(name)
        if name in TRUTH_ATTRIBUTES:
            return object.__getattribute__(self, "_wrong")(name)
        raise AttributeError(f"{type(self).__name__} has no attribute {name!r}")

    def __setattr__(self, name: str, value: Any) -> None:
        object.__getattribute__(self, "asked").append(name)
        raise AttributeError(f"the kit's model is read-only (set {name!r})")

    def _wrong(self, name: str) -> Any:
        model, log_px = object.__getattribute__(self, "_model"), object.__getattribute__(self, "_log_px")
        d = model.prior.event_shape.numel()

        def rows(x: Tensor, value: Tensor | float) -> Tensor:
            out = torch.as_tensor(value, dtype=torch.float64).expand(x.shape[0]) if not isinstance(
                value, Tensor) or value.shape[0] != x.shape[0] else value
            return out.to(dtype=x.dtype, device=x.device).clone()

        def log_marginal(x: Tensor, *_: Any) -> Tensor:
            truth = log_px.repeat(x.shape[0] // log_px.shape[0]) if x.shape[0] % log_px.shape[0] == 0 else log_px[:1]
            return rows(x, truth.double() + _WRONG_NATS)

        def posterior(x: Tensor, *_: Any) -> Independent:
            loc = torch.full((x.shape[0], d), 3.0, dtype=x.dtype, device=x.device)
            return Independent(Normal(loc, torch.full_like(loc, 0.5)), 1)

        def constant(*args: Any) -> Tensor:
            x = next((a for a in args if isinstance(a, Tensor)), None)
            return rows(x, 0.4) if x is not None else torch.tensor(0.4)

        def samples(x: Tensor, num: int = 1, *_: Any, **__: Any) -> Tensor:
            return posterior(x).sample((num,))

        return {"log_marginal": log_marginal, "log_evidence": log_marginal, "marginal": log_marginal,
                "elbo": lambda x, *a: log_marginal(x) - 2 * _WRONG_NATS, "posterior": posterior,
                "exact_posterior": posterior, "posterior_samples": samples,
                "evaluation_data": lambda n: torch.zeros(n, model.data_dim)}.get(name, constant)


def _compare(spec: EstimatorSpec, prob: Problem, random_state: int | None) -> tuple[list[str], float]:
    """(attributes asked of the trap, max |change| of log p̂) on ``prob``, same random stream."""
    x, k = prob.x, 64
    g = lambda: generator(random_state, "contract", prob.name)  # noqa: E731
    options = {}
    if spec.tags.needs_exact_posterior and supports(spec, "posterior_samples"):  # drawn by the kit, the same for both
        draws = exact_posterior_samples(prob.model, x, k, generator(random_state, "contract-start", prob.name))
        if draws is None:
            raise CheckSkipped(f"{prob.name} offers no exact posterior samples")
        options["posterior_samples"] = draws
    honest = run(spec, prob.model, x, k, g(), through_contract=False, **options)
    trap = TruthTrap(prob.model, prob.log_px)
    try:
        trapped = run(spec, trap, x, k, g(), through_contract=False, **options)
    except Exception as exc:  # the wrong truth broke it: it was used
        asked = object.__getattribute__(trap, "asked")
        raise CheckFailure(f"on a model that also offers (wrong) truth attributes, the estimator read "
                           f"{_names(asked)} and then failed ({type(exc).__name__}: {exc}) on {prob.name}: it uses "
                           "what the model contract does not give") from None
    asked = list(dict.fromkeys(object.__getattribute__(trap, "asked")))
    change = (trapped.log_px.double() - honest.log_px.double()).abs().max().item()
    return asked, change


def _names(asked: list[str]) -> str:
    return ", ".join(f"model.{n}" for n in dict.fromkeys(asked)) or "nothing beyond the contract"


def check_sees_only_the_contract(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """The estimate on a model that also offers every truth attribute (all wrong: log p(x) off by
    7.25 nats, a far-off posterior, wrong KL and χ²) equals, bit for bit under the same stream, the
    estimate on the bare contract; and no truth attribute is read, even by ``hasattr``. On a
    Gaussian and a logistic problem. Exact: no false-alarm rate."""
    extra: list[str] = []
    for name in ("2d-wide-q", "1d-logistic"):
        prob = problem(name)
        asked, change = _compare(spec, prob, random_state)
        truth_read = [a for a in asked if a in TRUTH_ATTRIBUTES]
        if change != 0.0:
            raise CheckFailure(
                f"the estimate changed by up to {change:.4g} nats on {name} when the model also offered wrong truth "
                f"attributes; it read {_names(asked)}: an estimator must use only the model contract (prior, "
                "log_likelihood, proposal), or a benchmark that hands it a full model crowns a cheat", change,
                "max |change| of log p̂")
        if truth_read:
            raise CheckFailure(
                f"the estimator read {_names(truth_read)} on {name} (a model's truth, not part of the contract); the "
                "estimate did not change here, but one that reaches for the truth when it is offered cannot be "
                "trusted on a model that has it", 0.0, "max |change| of log p̂")
        extra += [a for a in asked if a not in extra]
    note = f"; it asked for {_names(extra)} (not truth, absent, default used)" if extra else ""
    return passed("check_sees_only_the_contract", "unchanged by wrong truth attributes, none read" + note, 0.0,
                  "max |change| of log p̂")
