"""Checks at scale: many chunks at large K, and exact accumulation in float32 at large K and |log p|.

Bugs that chunking introduces (reusing one chunk's samples, keeping only the last chunk,
merging chunk sums without rescaling, a running sum that stalls in float32) are invisible at
the K of the other checks, which fit in one chunk.
"""

from __future__ import annotations

import math

import torch

from vaebench.base import EstimatorSpec
from vaebench.testing.harness import ZTests, generator, light, passed, run, supports
from vaebench.testing.problems import problem, replicate
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.claim_checks import claim_tests
from vaebench.testing.ztests import N_SIGMA

__all__ = ["check_large_k", "check_weights_explain_the_variance", "check_float32_accumulation_at_large_k",
           "LARGE_K"]

LARGE_K = 16384


def _chunk_settings(spec: EstimatorSpec) -> list[tuple[str, dict]]:
    settings = [("", {})]
    if supports(spec, "chunk_size"):
        settings.append((" with chunk_size=100", {"chunk_size": 100}))
    return settings


def check_large_k(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """The claims at K = 16384, with the default chunks and, where declared, ``chunk_size=100``
    (164 chunks), over 200 replicates: unbiasedness, bounds, the ELBO, and K·Var[p̂/p] = χ²
    (≤ 24 z-tests)."""
    zt = ZTests("check_large_k")
    prob = problem("2d-wide-q")
    truth = prob.truth_for(spec)
    rows = light(prob, truth)
    if rows is None:
        raise CheckSkipped("no light-tailed point for this estimator's proposal")
    for where, options in _chunk_settings(spec):
        claim_tests(zt, spec, rows, rows.truth_for(spec), LARGE_K, 200,
                    generator(random_state, "large-k", where), where, **options)
    return zt.result("claims hold at K = 16384 across many chunks")


def check_weights_explain_the_variance(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """For an estimator that claims ``unbiased_in_p`` and returns its weights: the replicate
    variance of p̂/p equals the variance of the returned weights over K, as it must when p̂ is
    the mean of K independent weights (K = 16384, 60 replicates; a χ²_{59} test, ≤ 6 tests). Catches weights
    reused across chunks, and weights that are not the ones averaged."""
    if not spec.tags.unbiased_in_p or spec.tags.elbo_in_expectation:
        raise CheckSkipped("applies to estimators that claim unbiased_in_p")
    zt = ZTests("check_weights_explain_the_variance")
    prob = problem("2d-wide-q")
    rows = light(prob, prob.truth_for(spec))
    if rows is None:
        raise CheckSkipped("no light-tailed point for this estimator's proposal")
    keep = {"keep_log_weights": True} if supports(spec, "keep_log_weights") else {}
    reps, b = 60, rows.x.shape[0]
    for where, options in _chunk_settings(spec):
        est = run(spec, rows.model, replicate(rows.x, reps), LARGE_K, generator(random_state, "iid", where),
                  **options, **keep)
        if est.log_weights is None:
            raise CheckSkipped("the estimator returns no log weights")
        log_p = rows.log_px.repeat(reps)
        ratio = torch.exp(est.log_px.double() - log_p).reshape(reps, b)
        w = torch.exp(est.log_weights.double() - log_p)  # [K, R*B]
        within = w.var(0).reshape(reps, b).mean(0)  # E[sample variance of w/p], precise over reps·K weights
        var = ratio.var(0)
        # p̂/p is a mean of 16384 light-tailed weights, so close to normal: (R − 1)·s²/(Var[w]/K) ~ χ²_{R−1}.
        zt.add_variance_ratio(var, reps, within / LARGE_K, lambda i, z, var=var, within=within, where=where: (
            f"K·Var[p̂/p] over replicates is {LARGE_K * var[i].item():.4g} but the returned weights have variance "
            f"{within[i].item():.4g}{where} (z = {z:.1f}), point {i}: the weights are not independent (reused "
            "across chunks?) or not the ones averaged"))
    return zt.result("the replicate variance is that of K independent returned weights")


def check_float32_accumulation_at_large_k(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """float32 stays exact at large K and large |log p|: at log p ≈ −3·10⁴, K = 32768, in chunks
    of 8 where ``chunk_size`` is declared, the float32 estimate is within 0.01 nats plus 5 standard
    deviations of the estimate (an upper 1e-6 confidence bound from 32 float64 replicates) of log p.

    A float32 running log-sum-exp stalls once the increment log(1 + 1/n) of the n-th chunk is
    below half the rounding step at |log p|, after about 1000 chunks here (1.4 nats low at 4096). The model's encoder is the exact
    posterior, so importance-weighted estimators have zero variance and the bound is 0.01 nats.
    """
    from scipy import stats

    prob = problem("2d-exact-q")
    shift, k = -3.0e4, 32768
    truth = prob.log_px + shift
    options = {"chunk_size": 8} if supports(spec, "chunk_size") else {}
    if supports(spec, "keep_log_weights"):
        options["keep_log_weights"] = False
    model32 = prob.model.to(torch.float32).shifted(shift)
    got = run(spec, model32, prob.x.float(), k, generator(random_state, "f32"), **options).log_px.double()
    reps = 32
    model64 = prob.model.shifted(shift)
    extra = {"keep_log_weights": False} if supports(spec, "keep_log_weights") else {}
    ref = run(spec, model64, replicate(prob.x, reps), k, generator(random_state, "f64"), **extra).log_px.double()
    sd = (ref.reshape(reps, -1) - truth).std(0)
    factor = math.sqrt((reps - 1) / stats.chi2.ppf(1e-6, reps - 1))  # upper 1e-6 bound on the SD
    tol = 0.01 + N_SIGMA * factor * sd
    err = (got - truth).abs()
    if bool((err > tol).any()):
        i = int(torch.argmax(err - tol))
        where = f"at log p ≈ {truth[i].item():.0f}, K = {k}{' in chunks of 8' if options.get('chunk_size') else ''}"
        # Name a float32 cause only where float64 is right: otherwise the error is not float32's.
        ref_err = (ref.reshape(reps, -1) - truth).mean(0)
        ref_tol = 0.01 + N_SIGMA * factor * sd / math.sqrt(reps)
        if bool(ref_err[i].abs() > ref_tol[i]):
            cause = (f"; float64 is off by {ref_err[i].item():+.4g} nats as well, so the cause is not float32 "
                     "accumulation: see the checks that fail in float64")
        else:
            cause = ", while float64 is right: a float32 running sum that stalls? accumulate in float64"
        raise CheckFailure(f"float32 {where} is off by {(got - truth)[i].item():+.4g} nats (allowed {tol[i].item():.3g})"
                           f"{cause}", err[i].item(), "nats off")
    return passed("check_float32_accumulation_at_large_k", f"float32 within {err.max().item():.2g} nats at "
                  f"log p ≈ −3e4, K = {k}", err.max().item(), "nats off")
