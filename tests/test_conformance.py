"""The conformance kit on the built-ins (all pass) and on the zoo of wrong estimators (each rejected)."""

from __future__ import annotations

import pytest

from tests.zoo import ZOO
from vaebench.estimators import BUILTINS
from vaebench.testing import check_estimator, parametrize_with_checks


@parametrize_with_checks(list(BUILTINS))
def test_builtins_conform(estimator, check):
    check(estimator)


@pytest.mark.parametrize("bug", ZOO, ids=lambda b: b.spec.name)
def test_every_bug_is_rejected_by_the_check_that_names_it(bug):
    table = check_estimator(bug.spec)
    verdicts = dict(zip(table["check"], table["verdict"]))
    assert not table.attrs["passed"], f"{bug.spec.name} ({bug.what}) passed every check"
    assert verdicts.get(bug.caught_by) in ("fail", "error"), (
        f"{bug.spec.name}: expected {bug.caught_by} to fail, verdicts {verdicts}")


def test_expected_failures_turn_into_xfail_and_unexpected_passes_into_failures():
    bug = next(b for b in ZOO if b.spec.name == "always_float32")
    table = check_estimator(bug.spec, expected_failures={"check_dtype_and_device": "known", "check_single_sample": "x"})
    verdicts = dict(zip(table["check"], table["verdict"]))
    assert verdicts["check_dtype_and_device"] == "xfail"
    assert verdicts["check_single_sample"] == "fail"  # it passes, but was declared as failing
    assert not table.attrs["passed"]


def test_table_columns_and_names():
    table = check_estimator("importance")
    assert list(table.columns) == ["check", "verdict", "statistic", "statistic_name", "p_value", "explanation", "seconds"]
    assert table.attrs == {"estimator": "importance", "passed": True}
