"""Choosing checks by tags and running them: `check_estimator` and `parametrize_with_checks`.

Modelled on scikit-learn's ``utils/estimator_checks.py``: one generator of checks, two wrappers
(a table for notebooks and the CLI, a pytest decorator for a plug-in's own test suite), and
expected failures given as ``{check_name: reason}``.
"""

from __future__ import annotations

import functools
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from typing import Any

from vaebench.base import EstimatorSpec
from vaebench.testing import api, claim_checks, diagnostics, explore, isolation, options, scale
from vaebench.testing.outcomes import CORRECTNESS_VERDICTS, CheckFailure, CheckResult, CheckSkipped, CheckWarning

__all__ = ["Check", "ScalabilityWarning", "yield_checks", "check_estimator", "parametrize_with_checks"]

Check = Callable[..., CheckResult]


class ScalabilityWarning(UserWarning):
    """A conformance check found a scalability problem (not a correctness failure)."""


def yield_checks(spec: EstimatorSpec) -> Iterator[Check]:
    """The checks that apply to ``spec``, chosen by its tags and its declared options.

    Every check takes ``(spec, random_state=None)``. The consistency of returned weights with
    ``log_px`` and the diagnostics are checked whatever the tags say; option checks run for the
    options the estimator declares.
    """
    tags = spec.tags
    yield api.check_returns_estimate
    yield api.check_dtype_and_device
    yield api.check_single_sample
    yield api.check_log_weights
    yield api.check_reproducible
    yield api.check_does_not_mutate_inputs
    yield api.check_rows_do_not_interact
    if tags.stochastic:
        yield api.check_duplicate_rows_are_independent
    yield api.check_log_weight_shift_invariance
    yield api.check_calls_in_sequence
    yield isolation.check_sees_only_the_contract
    yield api.check_bounded_memory
    yield claim_checks.check_single_point_batch
    if tags.unbiased_in_p:
        yield claim_checks.check_unbiased_in_p
    if tags.unbiased_in_log_p:
        yield claim_checks.check_unbiased_in_log_p
    if tags.lower_bound:
        yield claim_checks.check_lower_bound
    if tags.upper_bound:
        yield claim_checks.check_upper_bound
    if tags.upper_bound_in_limit and not tags.upper_bound:
        yield claim_checks.check_upper_bound_in_limit
    if tags.consistent:
        yield claim_checks.check_consistent
    if tags.bias_order is not None:
        yield claim_checks.check_bias_order
    if tags.elbo_in_expectation:
        yield claim_checks.check_elbo_gap_is_kl
    if tags.importance_weighted:
        yield claim_checks.check_variance_is_chi_square_over_k
    yield scale.check_large_k
    if tags.unbiased_in_p and not tags.elbo_in_expectation:
        yield scale.check_weights_explain_the_variance
    yield scale.check_float32_accumulation_at_large_k
    yield diagnostics.check_ess
    yield diagnostics.check_stderr_calibrated
    if spec.option("keep_log_weights") is not None:
        yield options.check_keep_log_weights_option
    if spec.option("proposal") is not None:
        yield options.check_proposal_option
    if spec.option("chunk_size") is not None:
        yield options.check_chunk_size_option
    if any(o.name not in options.SPECIAL_OPTIONS for o in spec.options):
        yield options.check_claims_under_every_option_value
    yield explore.check_exact_identities_explored
    yield explore.check_claims_explored


def _run_one(check: Check, spec: EstimatorSpec, expected_failures: Mapping[str, str],
             random_state: int | None = None) -> CheckResult:
    name = check.__name__
    try:
        result = check(spec, random_state=random_state)
    except CheckSkipped as exc:
        return CheckResult(name, "skip", explanation=str(exc))
    except CheckWarning as exc:
        return CheckResult(name, "warn", exc.statistic, exc.statistic_name, None, exc.explanation)
    except CheckFailure as exc:
        verdict = "xfail" if name in expected_failures else "fail"
        return CheckResult(name, verdict, exc.statistic, exc.statistic_name, exc.p_value, exc.explanation, exc.tests)
    except Exception as exc:  # the estimator raised: report it, keep going
        verdict = "xfail" if name in expected_failures else "error"
        return CheckResult(name, verdict, explanation=f"{type(exc).__name__}: {exc}")
    if name in expected_failures:
        return CheckResult(name, "fail", result.statistic, result.statistic_name, result.p_value,
                           f"expected to fail ({expected_failures[name]}) but passed", result.tests)
    return result


def check_estimator(
    spec: EstimatorSpec | str,
    *,
    expected_failures: Mapping[str, str] | None = None,
    progress: Callable[[CheckResult], Any] | None = None,
    random_state: int | None = None,
    checks: Sequence[str] | None = None,
    budget: Any = "default",
) -> Any:
    """Run every check that applies to ``spec`` and return a table of the outcomes.

    Parameters
    ----------
    spec : EstimatorSpec or str
        The estimator, or the name of an installed one.
    expected_failures : mapping, optional
        ``{check_name: reason}`` for checks known not to hold for this estimator.
    progress : callable, optional
        Called with each `CheckResult` as it finishes.
    random_state : int, optional
        Seeds every check's random streams (default 0): another value is another independent
        draw of each statistical check, which is how their false-alarm rates are measured.
    checks : sequence of str, optional
        Run only the checks of these names.
    budget : {"default", "thorough"} or int
        How many random configurations the exploring checks draw (`vaebench.testing.explore`).

    Returns
    -------
    pandas.DataFrame
        One row per check: check, verdict, statistic, statistic_name, p_value, explanation,
        tests, seconds, explained_by (for a failure, the more basic failed check that may account
        for it; see `explained_by`). ``df.attrs["passed"]`` is True when no check failed or errored (correctness);
        ``df.attrs["warnings"]`` counts scalability warnings (``"warn"`` verdicts).
    """
    import pandas as pd

    if isinstance(spec, str):
        from vaebench.registry import get_estimator

        spec = get_estimator(spec)
    expected = dict(expected_failures or {})
    rows = []
    for check in yield_checks(spec):
        if checks is not None and check.__name__ not in checks:
            continue
        start = time.perf_counter()
        with explore.kit_budget(budget):
            result = _run_one(check, spec, expected, random_state)
        rows.append({**result.__dict__, "seconds": time.perf_counter() - start})
        if progress is not None:
            progress(result)
    table = pd.DataFrame(rows)
    if not table.empty:
        table["explained_by"] = explained_by(table)
    table.attrs["estimator"] = spec.name
    table.attrs["passed"] = bool(~table["verdict"].isin(CORRECTNESS_VERDICTS).any())
    table.attrs["warnings"] = int((table["verdict"] == "warn").sum())
    return table


# From the most basic to the most derived: a failure of an earlier check can account for later ones
# (a missing −log K fails the weights check, unbiasedness, the bounds and float32 alike), never the reverse.
ROOT_CAUSE_ORDER = (
    "check_returns_estimate", "check_single_sample", "check_dtype_and_device", "check_log_weights",
    "check_rows_do_not_interact", "check_reproducible", "check_sees_only_the_contract", "check_calls_in_sequence",
    "check_exact_identities_explored", "check_unbiased_in_p", "check_unbiased_in_log_p", "check_lower_bound",
    "check_upper_bound", "check_upper_bound_in_limit",
    "check_elbo_gap_is_kl",
)


def explained_by(table: Any) -> list[str]:
    """For each failed check, the most basic other failed check that may account for it ("" for none).

    A check that fails on its own (first in `ROOT_CAUSE_ORDER` among the failures, or outside it)
    explains itself; a later failure is reported as possibly following from the earlier one, so a
    reader fixes causes first instead of chasing each symptom's hint."""
    failed = [c for c, v in zip(table["check"], table["verdict"]) if v in CORRECTNESS_VERDICTS]
    roots = [c for c in ROOT_CAUSE_ORDER if c in failed]
    out = []
    for check, verdict in zip(table["check"], table["verdict"]):
        root = roots[0] if roots else ""
        out.append(root if verdict in CORRECTNESS_VERDICTS and root and root != check else "")
    return out


def _as_pytest_check(check: Check) -> Check:
    """The check, with `CheckSkipped` turned into ``pytest.skip``."""

    @functools.wraps(check)
    def run(spec: EstimatorSpec, random_state: int | None = None, budget: Any = "default") -> CheckResult:
        import pytest

        try:
            with explore.kit_budget(budget):
                return check(spec, random_state=random_state)
        except CheckSkipped as exc:
            pytest.skip(str(exc))
        except CheckWarning as exc:  # a scalability finding: reported, not failed
            warnings.warn(f"{check.__name__}: {exc.explanation}", ScalabilityWarning, 2)

    return run


def parametrize_with_checks(
    specs: Sequence[EstimatorSpec], *, expected_failures: Mapping[str, Mapping[str, str]] | None = None,
    random_state: int | None = None, budget: Any = "default",
) -> Any:
    """A ``pytest.mark.parametrize("estimator, check", ...)`` over every applicable check.

    Parameters
    ----------
    specs : sequence of EstimatorSpec
    expected_failures : mapping, optional
        ``{estimator_name: {check_name: reason}}``; those cases are marked ``xfail(strict=True)``.
    random_state : int, optional
        Seeds the checks' random streams (see `check_estimator`).
    budget : {"default", "thorough"} or int
        Random configurations per exploring check (see `check_estimator`).

    Examples
    --------
    >>> @parametrize_with_checks([SPEC])          # doctest: +SKIP
    ... def test_conformance(estimator, check):
    ...     check(estimator)
    """
    import pytest

    expected = expected_failures or {}
    params = []
    for spec in specs:
        for check in yield_checks(spec):
            marks = []
            reason = expected.get(spec.name, {}).get(check.__name__)
            if reason is not None:
                marks.append(pytest.mark.xfail(reason=reason, strict=True))
            bound = functools.partial(_as_pytest_check(check), random_state=random_state, budget=budget)
            functools.update_wrapper(bound, check)
            params.append(pytest.param(spec, bound, id=f"{spec.name}-{check.__name__}", marks=marks))
    return pytest.mark.parametrize("estimator, check", params)
