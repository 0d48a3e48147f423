"""This package's own conformance test, written as any plug-in author would write it."""

from vaebench.testing import parametrize_with_checks
from vaebench_defensive import SPEC


@parametrize_with_checks([SPEC])
def test_conformance(estimator, check):
    check(estimator)
