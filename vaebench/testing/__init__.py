"""The conformance kit: checks that an estimator does what its tags and options claim.

``check_estimator(spec)`` returns a table of verdicts; ``parametrize_with_checks([spec])`` runs
the same checks from a plug-in's own pytest suite. Checks are plain functions
``check(spec, random_state=None)``, split by category: `vaebench.testing.api` (exact checks of
the contract), `vaebench.testing.claim_checks` (z-tests of the claims against exact truth on
`vaebench.testing.problems`), `vaebench.testing.options` (every declared option),
`vaebench.testing.scale` (large K, many chunks, float32 accumulation) and
`vaebench.testing.diagnostics` (ESS and stderr) and `vaebench.testing.isolation` (the estimator
sees only the model contract).
"""

from vaebench.testing.api import (
    check_bounded_memory,
    check_calls_in_sequence,
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
from vaebench.testing.diagnostics import check_ess, check_stderr_calibrated
from vaebench.testing.isolation import check_sees_only_the_contract
from vaebench.testing.options import (
    check_chunk_size_option,
    check_claims_under_every_option_value,
    check_keep_log_weights_option,
    check_proposal_option,
)
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped, CheckWarning
from vaebench.testing.runner import ScalabilityWarning, check_estimator, parametrize_with_checks, yield_checks
from vaebench.testing.scale import (
    check_float32_accumulation_at_large_k,
    check_large_k,
    check_weights_explain_the_variance,
)
from vaebench.testing.claim_checks import (
    check_bias_order,
    check_consistent,
    check_elbo_gap_is_kl,
    check_lower_bound,
    check_single_point_batch,
    check_unbiased_in_log_p,
    check_unbiased_in_p,
    check_upper_bound,
    check_upper_bound_in_limit,
    check_variance_is_chi_square_over_k,
)

__all__ = [
    "CheckFailure",
    "CheckResult",
    "CheckSkipped",
    "CheckWarning",
    "ScalabilityWarning",
    "check_bounded_memory",
    "check_calls_in_sequence",
    "check_chunk_size_option",
    "check_claims_under_every_option_value",
    "check_bias_order",
    "check_consistent",
    "check_does_not_mutate_inputs",
    "check_dtype_and_device",
    "check_duplicate_rows_are_independent",
    "check_elbo_gap_is_kl",
    "check_ess",
    "check_estimator",
    "check_float32_accumulation_at_large_k",
    "check_keep_log_weights_option",
    "check_large_k",
    "check_log_weight_shift_invariance",
    "check_log_weights",
    "check_lower_bound",
    "check_proposal_option",
    "check_reproducible",
    "check_returns_estimate",
    "check_rows_do_not_interact",
    "check_single_point_batch",
    "check_sees_only_the_contract",
    "check_single_sample",
    "check_stderr_calibrated",
    "check_unbiased_in_log_p",
    "check_unbiased_in_p",
    "check_upper_bound",
    "check_upper_bound_in_limit",
    "check_variance_is_chi_square_over_k",
    "check_weights_explain_the_variance",
    "parametrize_with_checks",
    "yield_checks",
]
