"""Checks of the diagnostics an estimate carries: the effective sample size and the standard error.

The report, the reference files and users' own decisions rely on them, so a wrong ESS or a
stderr off by √K is a correctness failure like a wrong estimate.
"""

from __future__ import annotations

import math

import torch

from vaebench.base import EstimatorSpec
from vaebench.ops import effective_sample_size
from vaebench.testing.harness import ZTests, generator, light, passed, run, supports
from vaebench.testing.problems import problem, replicate
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.ztests import mean_and_se, variance_and_se

__all__ = ["check_ess", "check_stderr_calibrated", "STDERR_FACTOR"]

# A stderr is a first-order approximation (the delta method for log p̂): it must match the
# replicate standard deviation to within this factor in variance (22% in standard deviation),
# beyond the sampling error of the comparison.
STDERR_FACTOR = 1.5


def check_ess(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """A returned ``ess`` lies in [1, K] and equals (Σw)²/Σw² of the returned weights (asked for
    where ``keep_log_weights`` is declared), on two problems at K = 500."""
    k = 500
    options = {"keep_log_weights": True} if supports(spec, "keep_log_weights") else {}
    compared, seen = 0, False
    for name in ("2d-wide-q", "1d-logistic"):
        prob = problem(name)
        est = run(spec, prob.model, prob.x, k, generator(random_state, "ess", name), **options)
        if est.ess is None:
            continue
        seen = True
        ess = est.ess.double()
        slack = 1e-6 * k
        if bool(((ess < 1 - slack) | (ess > k + slack) | ~torch.isfinite(ess)).any()):
            raise CheckFailure(f"ess {ess.tolist()} is outside [1, K = {k}] on {name}")
        if est.log_weights is not None:
            implied = effective_sample_size(est.log_weights.double())
            rel = ((ess - implied).abs() / implied).max().item()
            if rel > 1e-5:
                raise CheckFailure(f"ess {ess.tolist()} but the returned weights give (Σw)²/Σw² = {implied.tolist()} "
                                   f"on {name}: ESS from log weights, or of other weights?", rel, "max relative error")
            compared += 1
    if not seen:
        raise CheckSkipped("the estimator returns no ess")
    return passed("check_ess", "ess in [1, K]" + (" and equal to the ESS of the returned weights" if compared else ""))


def check_stderr_calibrated(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """A returned ``stderr`` is calibrated: at K = 256 over 2000 replicates, the mean of stderr²
    equals the replicate variance of log p̂ within a factor 1.5 (a first-order approximation),
    beyond 5σ of sampling error, on the light points of two problems (≤ 6 tests)."""
    zt = ZTests("check_stderr_calibrated")
    k, reps = 256, 2000
    seen = False
    for name in ("2d-wide-q", "1d-logistic"):
        prob = problem(name)
        rows = light(prob, prob.truth_for(spec))
        if rows is None:
            continue
        est = run(spec, rows.model, replicate(rows.x, reps), k, generator(random_state, "stderr", name))
        if est.stderr is None:
            continue
        seen = True
        b = rows.x.shape[0]
        var, var_se = variance_and_se(est.log_px.double().reshape(reps, b))
        claimed, claimed_se = mean_and_se(est.stderr.double().reshape(reps, b) ** 2)
        log_ratio = torch.log(claimed / var)
        se = torch.sqrt((var_se / var) ** 2 + (claimed_se / claimed) ** 2)
        excess = (log_ratio.abs() - math.log(STDERR_FACTOR)).clamp_min(0)
        zt.add(excess, 0.0, se, lambda i, z, var=var, claimed=claimed, name=name: (
            f"stderr is not calibrated on {name}, point {i}: its mean square is {claimed[i].item():.4g} but the "
            f"replicate variance of log p̂ is {var[i].item():.4g} at K = {k} (ratio "
            f"{claimed[i].item() / var[i].item():.3g}, allowed 1/{STDERR_FACTOR}..{STDERR_FACTOR}; z = {z:.1f})"),
            one_sided=True)
    if not seen:
        raise CheckSkipped("the estimator returns no stderr")
    return zt.result(f"stderr² matches the replicate variance within a factor {STDERR_FACTOR}")
