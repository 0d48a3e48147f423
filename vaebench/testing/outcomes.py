"""What a check returns or raises."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult", "CheckFailure", "CheckSkipped", "CheckWarning", "CORRECTNESS_VERDICTS"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one estimator.

    Attributes
    ----------
    check : str
        The check's function name.
    verdict : str
        ``"pass"``; ``"fail"`` or ``"error"`` (the estimator raised): correctness failures;
        ``"warn"``: a scalability finding (e.g. memory that grows with K from an estimator that
        does not claim to stream); ``"skip"``; ``"xfail"`` (an expected failure).
    statistic : float or None
        The test statistic (a z-score for z-tests; a maximum deviation for exact checks).
    statistic_name : str
        What ``statistic`` is, e.g. ``"max |z|"``.
    p_value : float or None
        Bonferroni-corrected two-sided p-value of the worst z, where the check is a z-test.
    explanation : str
        One line: what was checked, or on failure what is wrong.
    tests : int or None
        How many z-tests the statistic is the worst of (for false-alarm bookkeeping).
    """

    check: str
    verdict: str
    statistic: float | None = None
    statistic_name: str = ""
    p_value: float | None = None
    explanation: str = ""
    tests: int | None = None


class CheckFailure(AssertionError):
    """A check found the estimator does not do what it claims."""

    def __init__(self, explanation: str, statistic: float | None = None, statistic_name: str = "",
                 p_value: float | None = None, tests: int | None = None) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.statistic = statistic
        self.statistic_name = statistic_name
        self.p_value = p_value
        self.tests = tests


class CheckWarning(Exception):
    """A scalability finding, not a correctness failure (verdict ``"warn"``)."""

    def __init__(self, explanation: str, statistic: float | None = None, statistic_name: str = "") -> None:
        super().__init__(explanation)
        self.explanation, self.statistic, self.statistic_name = explanation, statistic, statistic_name


CORRECTNESS_VERDICTS = ("fail", "error")


class CheckSkipped(Exception):
    """A check does not apply here (e.g. no CUDA device, or no usable reference problem)."""
