"""Checks of declared options: every option an estimator declares is exercised, and its claims hold under each value.

The kit knows what four common options mean (``keep_log_weights``, ``proposal``,
``chunk_size``, and any bool or choice option in general) and tests that meaning; for every
other declared option it runs the estimator's claims under each value the declaration lists
(`Option.values_to_try`).
"""

from __future__ import annotations

import torch

from vaebench.base import EstimatorSpec
from vaebench.testing.harness import ZTests, errors, generator, light, passed, run, supports
from vaebench.testing.problems import problem
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.claim_checks import REPLICATES, claim_tests
from vaebench.testing.ztests import mean_and_se, variance_and_se

__all__ = [
    "check_keep_log_weights_option",
    "check_proposal_option",
    "check_chunk_size_option",
    "check_claims_under_every_option_value",
    "SPECIAL_OPTIONS",
]

SPECIAL_OPTIONS = ("keep_log_weights", "proposal", "chunk_size", "posterior_samples")


def _require(spec: EstimatorSpec, option: str) -> None:
    if not supports(spec, option):
        raise CheckSkipped(f"the estimator declares no {option} option")


def check_keep_log_weights_option(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """``keep_log_weights=False`` returns no weights and the same ``log_px`` (same seed), and
    ``True`` returns ``[K, B]`` weights."""
    _require(spec, "keep_log_weights")
    prob = problem("2d-wide-q")
    g = lambda: generator(random_state, "keep")  # noqa: E731
    kept = run(spec, prob.model, prob.x, 50, g(), keep_log_weights=True)
    dropped = run(spec, prob.model, prob.x, 50, g(), keep_log_weights=False)
    if dropped.log_weights is not None:
        raise CheckFailure("keep_log_weights=False still returned log weights")
    if kept.log_weights is None:
        raise CheckFailure("keep_log_weights=True returned no log weights")
    diff = (kept.log_px.double() - dropped.log_px.double()).abs().max().item()
    if diff > 1e-12 * (1 + kept.log_px.double().abs().max().item()):
        raise CheckFailure(f"keep_log_weights changes log_px by up to {diff:.3g} under the same seed: keeping the "
                           "weights must not change the estimate", diff, "max |difference|")
    return passed("check_keep_log_weights_option", "keep_log_weights=False gives the same log_px and no weights")


def check_proposal_option(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """``proposal=`` is used: another proposal gives other numbers under the same seed; the exact
    posterior gives log p(x) to rounding (zero variance, for importance-weighted and ELBO claims);
    and a non-Gaussian proposal (Laplace, on the logistic model) keeps every claim, checked
    against quadrature (z-tests, ≤ 9)."""
    _require(spec, "proposal")
    zt = ZTests("check_proposal_option")
    for name in ("2d-wide-q", "2d-affine-prior"):
        prob = problem(name)
        make_post, post_truth = prob.proposals["posterior"]
        g = lambda: generator(random_state, "proposal", name)  # noqa: E731
        default = run(spec, prob.model, prob.x, 32, g()).log_px.double()
        given = run(spec, prob.model, prob.x, 32, g(), proposal=make_post(prob.x)).log_px.double()
        if torch.equal(default, given):
            raise CheckFailure(f"proposal= the exact posterior gave the same numbers as the encoder on {name}: "
                               "the proposal option is ignored")
        if spec.tags.importance_weighted or spec.tags.elbo_in_expectation:
            err = (given - prob.log_px).abs().max().item()
            if err > 1e-8 * (1 + prob.log_px.abs().max().item()):
                raise CheckFailure(f"with proposal= the exact posterior the estimate is off log p(x) by {err:.3g} on "
                                   f"{name}; zero variance expected (w = p(x) for every z)")
    prob = problem("1d-logistic")
    make_q, truth = prob.proposals["laplace"]
    rows = light(prob, truth)
    if rows is not None:
        claim_tests(zt, spec, rows, truth, 8, REPLICATES, generator(random_state, "proposal", "laplace"),
                    " with proposal= a Laplace distribution", proposal=make_q)
    if zt.count == 0:
        return passed("check_proposal_option", "proposal= is used; the exact posterior gives log p(x)")
    return zt.result("proposal= is used; exact posterior exact; claims hold for a Laplace proposal")


def check_chunk_size_option(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """With ``chunk_size=64``, the claims hold at K = 63, 64, 65 and 129 (just below, at and just
    above a chunk boundary), and ``chunk_size=7`` gives the same distribution as the default at
    K = 100 (two-sample z-tests on the mean and the variance of log p̂)."""
    _require(spec, "chunk_size")
    zt = ZTests("check_chunk_size_option")
    prob = problem("2d-wide-q")
    rows = light(prob, prob.truth_for(spec))
    if rows is None:
        raise CheckSkipped("no light-tailed point for this estimator's proposal")
    truth = rows.truth_for(spec)
    for k in (63, 64, 65, 129):
        claim_tests(zt, spec, rows, truth, k, REPLICATES, generator(random_state, "chunk", k), " with chunk_size=64",
                    chunk_size=64)
    small = errors(spec, rows, 100, REPLICATES, generator(random_state, "chunk-small"), chunk_size=7)
    default = errors(spec, rows, 100, REPLICATES, generator(random_state, "chunk-default"))
    for stat, what in ((mean_and_se, "mean"), (variance_and_se, "variance")):
        (a, sa), (b, sb) = stat(small), stat(default)
        zt.add(a - b, 0.0, torch.sqrt(sa**2 + sb**2), lambda i, z, a=a, b=b, what=what: (
            f"the {what} of log p̂ at K = 100 is {a[i].item():.4g} with chunk_size=7 but {b[i].item():.4g} with the "
            f"default (z = {z:.1f}): the result depends on the chunking"), scale=rows.log_px)
    return zt.result("claims hold across chunk boundaries; chunk_size does not change the distribution")


def check_claims_under_every_option_value(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Every other declared option, at each value it lists (bools both ways, every choice, its
    ``kit_values``): the estimator's claims hold at K = 8 on two problems (z-tests). A problem
    where an option value raises NotImplementedError (e.g. no closed-form KL) is skipped."""
    zt = ZTests("check_claims_under_every_option_value")
    tried = []
    for option in spec.options:
        if option.name in SPECIAL_OPTIONS:
            continue
        for value in option.values_to_try():
            tried.append(f"{option.name}={value!r}")
            for name in ("2d-affine-prior", "1d-logistic"):
                prob = problem(name)
                truth = prob.truth_for(spec)
                rows = light(prob, truth)
                if rows is None:
                    continue
                g = generator(random_state, "option", option.name, repr(value), name)
                try:
                    claim_tests(zt, spec, rows, truth, 8, REPLICATES, g, f" with {option.name}={value!r}",
                                variance=False, **{option.name: value})
                except NotImplementedError:
                    continue
    if not tried:
        raise CheckSkipped("the estimator declares no options beyond keep_log_weights, proposal and chunk_size")
    return zt.result(f"claims hold under {', '.join(tried)}")
