"""The conformance kit: checks that an estimator does what its tags claim.

``check_estimator(spec)`` returns a table of verdicts; ``parametrize_with_checks([spec])`` runs
the same checks from a plug-in's own pytest suite. Checks are plain functions, split by category
in `vaebench.testing.api` (exact checks of the contract) and `vaebench.testing.statistics`
(z-tests against exact truth on `vaebench.testing.problems`).
"""

from vaebench.testing.api import (
    check_bounded_memory,
    check_does_not_mutate_inputs,
    check_dtype_and_device,
    check_duplicate_rows_are_independent,
    check_log_weight_shift_invariance,
    check_log_weights,
    check_reproducible,
    check_returns_estimate,
    check_rows_do_not_interact,
    check_single_sample,
)
from vaebench.testing.results import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.runner import check_estimator, parametrize_with_checks, yield_checks
from vaebench.testing.statistics import (
    check_batch_subset_in_distribution,
    check_consistent,
    check_elbo_gap_is_kl,
    check_lower_bound,
    check_unbiased_in_p,
    check_upper_bound,
    check_variance_is_chi_square_over_k,
)

__all__ = [
    "CheckFailure",
    "CheckResult",
    "CheckSkipped",
    "check_batch_subset_in_distribution",
    "check_bounded_memory",
    "check_consistent",
    "check_does_not_mutate_inputs",
    "check_dtype_and_device",
    "check_duplicate_rows_are_independent",
    "check_elbo_gap_is_kl",
    "check_estimator",
    "check_log_weight_shift_invariance",
    "check_log_weights",
    "check_lower_bound",
    "check_reproducible",
    "check_returns_estimate",
    "check_rows_do_not_interact",
    "check_single_sample",
    "check_unbiased_in_p",
    "check_upper_bound",
    "check_variance_is_chi_square_over_k",
    "parametrize_with_checks",
    "yield_checks",
]
