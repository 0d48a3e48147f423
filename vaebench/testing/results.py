"""What a check returns or raises."""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["CheckResult", "CheckFailure", "CheckSkipped"]


@dataclass(frozen=True)
class CheckResult:
    """The outcome of one check on one estimator.

    Attributes
    ----------
    check : str
        The check's function name.
    verdict : str
        ``"pass"``, ``"fail"``, ``"error"`` (the estimator raised), ``"skip"`` or ``"xfail"``.
    statistic : float or None
        The test statistic (a z-score for z-tests; a maximum deviation for exact checks).
    statistic_name : str
        What ``statistic`` is, e.g. ``"max |z|"``.
    p_value : float or None
        Bonferroni-corrected two-sided p-value of the worst z, where the check is a z-test.
    explanation : str
        One line: what was checked, or on failure what is wrong.
    """

    check: str
    verdict: str
    statistic: float | None = None
    statistic_name: str = ""
    p_value: float | None = None
    explanation: str = ""


class CheckFailure(AssertionError):
    """A check found the estimator does not do what it claims."""

    def __init__(self, explanation: str, statistic: float | None = None, statistic_name: str = "",
                 p_value: float | None = None) -> None:
        super().__init__(explanation)
        self.explanation = explanation
        self.statistic = statistic
        self.statistic_name = statistic_name
        self.p_value = p_value


class CheckSkipped(Exception):
    """A check does not apply here (e.g. no CUDA device, or no usable reference problem)."""
