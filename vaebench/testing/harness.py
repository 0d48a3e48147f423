"""What every check shares: seeded random streams, running an estimator on a problem, z-test bookkeeping.

Seeds are derived from the kit's ``random_state`` and the check's own keys (check name, problem,
K), so that ``check_estimator(spec, random_state=s)`` gives a different, reproducible draw of
every check for each ``s``: that is how the false-alarm rates are measured
(benchmarks/kit_calibration.py).
"""

from __future__ import annotations

import math
from typing import Any, Callable

import numpy as np
import torch
from torch import Tensor

from vaebench.base import Estimate, EstimatorSpec
from vaebench.sampling import derived_seed, fork_generator
from vaebench.testing.problems import Problem, ProposalTruth, exact_posterior_samples, replicate
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.ztests import N_SIGMA, two_sided_p

__all__ = ["generator", "run", "errors", "ZTests", "passed", "supports", "light", "ULP_FLOOR", "z_from_p"]

# Absolute floor of a standard error, in units of float64 rounding of |log p| + 1: an exact
# (zero-variance) estimator differs from the truth by a few ulps, which must not read as z = 20.
ULP_FLOOR = 64 * torch.finfo(torch.float64).eps


def z_from_p(p_values: Tensor) -> Tensor:
    """|z| of a standard normal with the same two-sided tail probability (capped at 40)."""
    from scipy import stats

    p = torch.as_tensor(p_values, dtype=torch.float64).clamp(min=1e-300, max=1.0).cpu().numpy()
    return torch.as_tensor(stats.norm.isf(p / 2)).clamp(max=40.0)


def generator(random_state: int | None, *keys: Any) -> torch.Generator:
    """A CPU generator seeded from ``random_state`` and ``keys`` (stable across runs and machines)."""
    return torch.Generator().manual_seed(derived_seed(0 if random_state is None else random_state, *keys))


def supports(spec: EstimatorSpec, option: str) -> bool:
    """Does the estimator declare ``option``?"""
    return spec.option(option) is not None


def run(spec: EstimatorSpec, model: Any, x: Tensor, k: int, g: torch.Generator, *, through_contract: bool = True,
        **options: Any) -> Estimate:
    """One call of the estimator (through the spec, so input and output are validated).

    ``through_contract=False`` hands the estimator ``model`` itself instead of its contract view
    (`EstimatorSpec.call_on_model`), as `vaebench.testing.isolation` needs.

    The spec's ``kit_options`` apply unless ``options`` sets them. An estimator that needs exact
    posterior samples (``needs_exact_posterior``) gets ``posterior_samples=`` ``[K, B, d]``, independent
    draws on a stream seeded from ``g``, unless given; a model without an exact posterior skips the check.
    """
    x = x.to(getattr(model, "dtype", x.dtype))
    options = {**spec.kit_defaults, **options}
    if spec.tags.needs_exact_posterior and options.get("posterior_samples") is None and supports(
            spec, "posterior_samples"):
        draws = exact_posterior_samples(model, x, k, fork_generator(g, x.device))
        if draws is None:
            raise CheckSkipped(f"{type(model).__name__} offers no exact posterior samples")
        options["posterior_samples"] = draws
    call = spec if through_contract else spec.call_on_model
    return call(model, x, k, generator=g, **options)


def errors(spec: EstimatorSpec, problem: Problem, k: int, replicates: int, g: torch.Generator,
           **options: Any) -> Tensor:
    """log p̂ − log p for ``replicates`` independent runs per data point, ``[R, B]`` float64.

    The replicates are rows of one batch (``check_rows_do_not_interact`` makes that sound).
    ``options`` may hold a callable ``proposal``: it is called with the replicated data.
    """
    x = replicate(problem.x, replicates)
    if callable(options.get("proposal")) and not isinstance(options["proposal"], torch.distributions.Distribution):
        options = {**options, "proposal": options["proposal"](x)}
    est = run(spec, problem.model, x, k, g, **options)
    return est.log_px.double().reshape(replicates, problem.x.shape[0]) - problem.log_px


def light(problem: Problem, truth: ProposalTruth) -> Problem | None:
    """The problem restricted to its light-tailed points for ``truth``'s proposal, or None."""
    if problem.heavy and truth is problem.encoder:
        return None
    keep = truth.light
    if not bool(keep.any()):
        return None
    return problem if bool(keep.all()) else problem.rows(keep)


def passed(name: str, explanation: str, statistic: float | None = None, statistic_name: str = "") -> CheckResult:
    return CheckResult(name, "pass", statistic, statistic_name, None, explanation)


class ZTests:
    """A check's z-tests: tracks the worst |z|, the count (for a Bonferroni p-value) and the first failure.

    ``add(observed, expected, se, describe, scale)`` tests every element; the standard error is
    floored at `ULP_FLOOR` · (1 + |scale|). A test fails beyond ``threshold`` (N_SIGMA unless a
    check sets a family-wise one); ``one_sided=True`` fails only for z > threshold.
    """

    def __init__(self, name: str, threshold: float = N_SIGMA) -> None:
        self.name, self.threshold = name, threshold
        self.z, self.count, self.failure = 0.0, 0, None

    def add(self, observed: Tensor, expected: Tensor | float, se: Tensor, describe: Callable[[int, float], str],
            scale: Tensor | float = 0.0, one_sided: bool = False) -> None:
        observed = observed.double()
        floor = ULP_FLOOR * (1 + torch.as_tensor(scale, dtype=torch.float64).abs())
        se = torch.sqrt(se.double() ** 2 + floor**2)
        z = ((observed - expected) / se).flatten()
        if one_sided:
            z = z.clamp_min(0)
        self.add_z(z, describe)

    def add_p(self, p_values: Tensor, signs: Tensor, describe: Callable[[int, float], str]) -> None:
        """Tests given by exact two-sided p-values (χ², F, t, Levene): each is turned into the normal z with
        the same two-sided tail, so every test of the kit fails at the same false-alarm rate."""
        self.add_z(z_from_p(p_values) * torch.sign(signs.double()).where(signs != 0, torch.ones(())), describe)

    def add_variance_ratio(self, sample_var: Tensor, n: int, expected_var: Tensor,
                           describe: Callable[[int, float], str]) -> None:
        """(n − 1) s² / σ² ~ χ²_{n−1} for n normal samples with known variance σ²: an exact test where the
        samples are close to normal (estimates at large K), unlike a z from the sample's own 4th moment."""
        from scipy import stats

        stat = ((n - 1) * sample_var / expected_var).double().cpu().numpy()
        lower, upper = stats.chi2.cdf(stat, n - 1), stats.chi2.sf(stat, n - 1)
        p = torch.as_tensor(2 * np.minimum(lower, upper)).clamp(max=1.0)
        self.add_p(p, torch.as_tensor(upper - lower).neg(), describe)

    def add_z(self, z: Tensor, describe: Callable[[int, float], str]) -> None:
        z = z.flatten()
        if not bool(torch.isfinite(z).all()):
            i = int((~torch.isfinite(z)).nonzero()[0])
            self.failure = self.failure or describe(i, float("nan"))
            self.z = math.inf
            self.count += z.numel()
            return
        self.count += z.numel()
        if z.numel() == 0:
            return
        i = int(torch.argmax(z.abs()))
        if abs(z[i].item()) > abs(self.z):
            self.z = z[i].item()
        if self.failure is None and z.abs().max() > self.threshold:
            self.failure = describe(i, z[i].item())

    def fail(self, message: str) -> None:
        """Record a failure found by a non-z criterion (an exact identity, a bound)."""
        self.failure = self.failure or message

    def result(self, passed_text: str) -> CheckResult:
        if self.count == 0 and self.failure is None:
            raise CheckSkipped("no reference problem applies to this estimator")
        p = min(1.0, self.count * two_sided_p(self.z)) if math.isfinite(self.z) else 0.0
        if self.failure is not None:
            raise CheckFailure(self.failure, abs(self.z), "max |z|", p, self.count)
        return CheckResult(self.name, "pass", abs(self.z), "max |z|", p, passed_text, self.count)
