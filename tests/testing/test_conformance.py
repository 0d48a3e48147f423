"""The conformance kit on the built-ins (all pass) and on the zoo of wrong estimators (each rejected)."""

from __future__ import annotations

import pytest
import torch

from tests.zoo import ZOO, unchunked
from vaebench import EstimatorSpec, EstimatorTags
from vaebench.estimators import BUILTINS
from vaebench.testing import check_estimator, parametrize_with_checks, yield_checks
from vaebench.testing.harness import ULP_FLOOR, ZTests
from vaebench.testing.outcomes import CheckFailure


# The annealing estimators (needs_grad: HMC chains) take most of the kit's time: their whole kit
# runs in the slow session (`nox -s kit`, a CI step of its own); the rest runs with the unit tests.
FAST_BUILTINS = [spec for spec in BUILTINS if not spec.tags.needs_grad]
ANNEALING_BUILTINS = [spec for spec in BUILTINS if spec.tags.needs_grad]


@parametrize_with_checks(FAST_BUILTINS)
def test_builtins_conform(estimator, check):
    check(estimator)


@pytest.mark.slow
@parametrize_with_checks(ANNEALING_BUILTINS)
def test_annealing_builtins_conform(estimator, check):
    check(estimator)


def _bug_param(bug):
    return pytest.param(bug, id=bug.spec.name, marks=[pytest.mark.slow] if bug.spec.tags.needs_grad else [])


@pytest.mark.parametrize("bug", [_bug_param(b) for b in ZOO])
def test_every_bug_is_rejected_by_the_check_that_names_it(bug):
    assert bug.caught_by in {c.__name__ for c in yield_checks(bug.spec)}, "the naming check must apply to the bug"
    table = check_estimator(bug.spec, checks=[bug.caught_by])
    verdicts = dict(zip(table["check"], table["verdict"]))
    assert not table.attrs["passed"], f"{bug.spec.name} ({bug.what}) passed {bug.caught_by}"
    assert verdicts[bug.caught_by] in ("fail", "error"), f"{bug.spec.name}: verdicts {verdicts}"


def test_memory_growth_is_a_warning_without_the_streaming_claim():
    tags = EstimatorTags(unbiased_in_p=True, lower_bound=True, consistent=True, needs_proposal=True,
                         importance_weighted=True)
    table = check_estimator(EstimatorSpec("unchunked_honest", unchunked, tags), checks=["check_bounded_memory"])
    assert table["verdict"].tolist() == ["warn"]
    assert table.attrs["passed"] and table.attrs["warnings"] == 1


def test_expected_failures_turn_into_xfail_and_unexpected_passes_into_failures():
    bug = next(b for b in ZOO if b.spec.name == "always_float32")
    table = check_estimator(bug.spec, expected_failures={"check_dtype_and_device": "known", "check_single_sample": "x"},
                            checks=["check_dtype_and_device", "check_single_sample"])
    verdicts = dict(zip(table["check"], table["verdict"]))
    assert verdicts["check_dtype_and_device"] == "xfail"
    assert verdicts["check_single_sample"] == "fail"  # it passes, but was declared as failing
    assert not table.attrs["passed"]


def test_table_columns_and_names():
    table = check_estimator("importance", checks=["check_unbiased_in_p", "check_log_weights"])
    assert list(table.columns) == ["check", "verdict", "statistic", "statistic_name", "p_value", "explanation",
                                   "tests", "seconds", "explained_by"]
    assert table.attrs == {"estimator": "importance", "passed": True, "warnings": 0}
    assert table.set_index("check").loc["check_unbiased_in_p", "tests"] > 30


def test_random_state_gives_other_reproducible_draws():
    stat = lambda s: check_estimator("importance", random_state=s, checks=["check_unbiased_in_p"])["statistic"][0]  # noqa: E731
    assert stat(3) == stat(3)
    assert stat(3) != stat(4)


def test_an_exact_estimator_passes_through_the_ulp_floor():
    zt = ZTests("t")
    log_p = torch.tensor([-5.0, -4.0], dtype=torch.float64)
    zt.add(torch.tensor([1 + 4e-16, 1 - 4e-16], dtype=torch.float64), 1.0, torch.zeros(2), lambda i, z: "x",
           scale=log_p)
    assert zt.result("ok").verdict == "pass"
    assert ULP_FLOOR < 1e-13
    zt.add(torch.tensor([1 + 1e-10], dtype=torch.float64), 1.0, torch.zeros(1), lambda i, z: "off", scale=log_p[:1])
    with pytest.raises(CheckFailure, match="off"):
        zt.result("ok")
