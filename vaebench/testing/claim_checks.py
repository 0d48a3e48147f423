"""Statistical checks of an estimator's claims against exact truth, chosen by its tags.

Replicates are rows: the data points repeated R times form one batch. Every z-test fails beyond
``N_SIGMA`` = 5 and runs only on light-tailed points (χ² ≤ `MAX_CHI_SQUARE`, finite fourth
moment of the weights), where the sample mean and variance are close to normal; its standard
error is floored at a few ulps so that exact estimators pass. On the heavy-tailed problem, where
no CLT for the variance holds, unbiasedness is tested from below with Maurer's inequality for
non-negative variables, which needs only the second moment (1 + χ²/K) and is conservative by
construction. Each check's docstring states its number of tests; measured false-alarm rates are
in the README (benchmarks/kit_calibration.py).
"""

from __future__ import annotations

import math
from typing import Any

import torch
from torch import Tensor

from vaebench.base import EstimatorSpec
from vaebench.testing.harness import ZTests, errors, generator, light, run
from vaebench.testing.problems import Problem, ProposalTruth, problem, reference_problems, replicate
from vaebench.testing.outcomes import CheckResult
from vaebench.testing.ztests import N_SIGMA, mean_and_se, variance_and_se

__all__ = [
    "check_unbiased_in_p",
    "check_unbiased_in_log_p",
    "check_upper_bound_in_limit",
    "check_lower_bound",
    "check_upper_bound",
    "check_consistent",
    "check_bias_order",
    "check_elbo_gap_is_kl",
    "check_variance_is_chi_square_over_k",
    "check_single_point_batch",
    "claim_tests",
    "REPLICATES",
    "CLT_K",
]

REPLICATES = 2000
# From this K on, p̂/p is treated as normal (a mean of thousands of light-tailed weights), so the
# variance is tested exactly against a χ² distribution instead of by a z from its fourth moment.
CLT_K = 1024
# Maurer (2003): for i.i.d. Y >= 0, P(E Y − Ȳ_n >= t) <= exp(−n t² / (2 E Y²)). With
# z = (1 − Ȳ_n) √(n / E Y²) the bound is exp(−z²/2); this z is the one-sided normal 5σ rate.
_MAURER_Z = math.sqrt(2 * math.log(1 / (0.5 * math.erfc(N_SIGMA / math.sqrt(2)))))


def claim_tests(zt: ZTests, spec: EstimatorSpec, prob: Problem, truth: ProposalTruth, k: int, replicates: int,
                g: torch.Generator | None, where: str, variance: bool = True, errors_given: Tensor | None = None,
                **options: Any) -> Tensor:
    """z-tests of every claim of the tags at one K on ``prob``'s light points; returns the errors
    (``errors_given``: log p̂ − log p ``[R, B]`` already computed by the caller).

    ``unbiased_in_p``: E[p̂/p] = 1. ``unbiased_in_log_p``: E[log p̂] = log p. ``lower_bound`` / ``upper_bound``: E[log p̂] on the claimed side
    of log p (one-sided). ``elbo_in_expectation``: E[log p̂] = ELBO(q). ``importance_weighted``
    (with ``variance``): K·Var[p̂/p] = χ²(p(z|x) ‖ q). ``truth`` describes q.
    """
    err = errors(spec, prob, k, replicates, g, **options) if errors_given is None else errors_given
    tags, lp = spec.tags, prob.log_px
    at = f"at K = {k} on {prob.name}{where}"
    mean, se = mean_and_se(err)
    if tags.unbiased_in_p:
        m, s = mean_and_se(torch.exp(err))
        zt.add(m, 1.0, s, lambda i, z: _unbiased_text(m, i, z, k, prob, where), scale=lp)
    if tags.unbiased_in_log_p:
        zt.add(mean, 0.0, se, lambda i, z: (f"claims E[log p̂] = log p but E[log p̂] − log p = {mean[i].item():+.4g} "
                                            f"(z = {z:.1f}) {at}, point {i}"), scale=lp)
    if tags.lower_bound:
        zt.add(mean, 0.0, se, lambda i, z: (f"claims a lower bound but E[log p̂] − log p = {mean[i].item():+.4g} "
                                            f"(z = {z:.1f}) {at}, point {i}"), scale=lp, one_sided=True)
    if tags.upper_bound:
        zt.add(-mean, 0.0, se, lambda i, z: (f"claims an upper bound but E[log p̂] − log p = {mean[i].item():+.4g} "
                                             f"(z = {z:.1f}) {at}, point {i}"), scale=lp, one_sided=True)
    if tags.elbo_in_expectation:
        gap = truth.elbo - lp
        zt.add(mean, gap, se, lambda i, z: (f"E[log p̂] − log p = {mean[i].item():.4g} but ELBO − log p = "
                                            f"−KL(q ‖ p(z|x)) = {gap[i].item():.4g} (z = {z:.1f}) {at}, point {i}"),
               scale=lp)
    if tags.importance_weighted and variance:
        var, s = variance_and_se(torch.exp(err))
        chi2 = truth.chi_square

        def describe(i: int, z: float) -> str:
            return (f"K·Var[p̂/p] = {k * var[i].item():.4g} but χ² = {chi2[i].item():.4g} (z = {z:.1f}) {at}, point {i}: "
                    "not K independent weights from q")

        if k >= CLT_K:  # p̂/p is close to normal: the sample variance follows a scaled χ²_{R−1}
            zt.add_variance_ratio(var, replicates, chi2 / k, describe)
        else:  # small K: a z-test with the sample's own fourth moment, over many replicates
            zt.add(k * var, chi2, k * s, describe, scale=lp)
    return err


def _maurer_lower(zt: ZTests, ratio: Tensor, second_moment: Tensor, at: str) -> None:
    """One-sided test of E[p̂/p] >= 1 valid for any tail: scaled so that failure is z > N_SIGMA."""
    n = ratio.shape[0]
    mean = ratio.mean(0)
    z = (1 - mean) * torch.sqrt(n / second_moment)
    zt.add_z((z * N_SIGMA / _MAURER_Z).clamp_min(0), lambda i, zi: (
        f"E[p̂/p] = {mean[i].item():.4g} is below 1 beyond Maurer's bound for heavy-tailed weights "
        f"(scaled z = {zi:.1f}) {at}, point {i}: weights truncated or dropped?"))


def check_unbiased_in_p(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """E[p̂/p] = 1 at K = 1 and 8 on every problem's light points (≤ 36 z-tests); for importance-
    weighted estimators also at K = 8 on the heavy-tailed problem over 131072 replicates, from
    below by Maurer's inequality (3 tests; a 3.5% low bias, as truncated weights give, fails)."""
    zt = ZTests("check_unbiased_in_p")
    for prob in reference_problems():
        truth = prob.truth_for(spec)
        rows = light(prob, truth)
        if rows is None:
            continue
        for k in (1, 8):
            g = generator(random_state, zt.name, prob.name, k)
            ratio = torch.exp(errors(spec, rows, k, REPLICATES, g))
            m, s = mean_and_se(ratio)
            zt.add(m, 1.0, s, lambda i, z, m=m, k=k, rows=rows: _unbiased_text(m, i, z, k, rows, ""), scale=rows.log_px)
    heavy = problem("2d-narrow-q")
    if spec.tags.importance_weighted and spec.tags.needs_proposal:
        k = 8
        g = generator(random_state, zt.name, heavy.name, k)
        ratio = torch.exp(errors(spec, heavy, k, 2**17, g))
        _maurer_lower(zt, ratio, 1 + heavy.encoder.chi_square / k, f"at K = {k} on {heavy.name}")
    return zt.result("E[p̂/p] = 1 within 5σ (and within Maurer's bound on heavy tails)")


def _unbiased_text(m: Tensor, i: int, z: float, k: int, rows: Problem, where: str) -> str:
    hint = ""
    if k > 1 and abs(m[i].item() / k - 1) < 0.05:
        hint = " — about K: is the −log K of the mean missing?"
    elif k > 1 and abs(m[i].item() - k / (k - 1)) < 0.02:
        hint = " — about K/(K−1): dividing by K − 1?"
    return f"E[p̂/p] = {m[i].item():.4g}, not 1 (z = {z:.1f}) at K = {k} on {rows.name}{where}, point {i}{hint}"


def _bound(spec: EstimatorSpec, sign: float, name: str, word: str, random_state: int | None) -> CheckResult:
    zt = ZTests(name)
    for prob in reference_problems():
        rows = light(prob, prob.truth_for(spec))
        if rows is None:
            continue
        for k in (1, 8, 64):
            mean, se = mean_and_se(errors(spec, rows, k, REPLICATES, generator(random_state, name, prob.name, k)))
            zt.add(sign * mean, 0.0, se, lambda i, z, mean=mean, k=k, rows=rows: (
                f"claims a {word} bound but E[log p̂] − log p = {mean[i].item():+.4g} (z = {z:.1f}) at K = {k} "
                f"on {rows.name}, point {i}"), scale=rows.log_px, one_sided=True)
    return zt.result(f"E[log p̂] is on the {word} side of log p(x) within 5σ")


def check_lower_bound(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """E[log p̂] ≤ log p(x) at K = 1, 8, 64 on every problem's light points (one-sided; ≤ 54 tests)."""
    return _bound(spec, +1.0, "check_lower_bound", "lower", random_state)


def check_upper_bound(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """E[log p̂] ≥ log p(x) at K = 1, 8, 64 on every problem's light points (one-sided; ≤ 54 tests)."""
    return _bound(spec, -1.0, "check_upper_bound", "upper", random_state)


# check_unbiased_in_log_p: replicates per point. An estimator unbiased in log p (SUMO) typically has
# infinite variance; the z-tests use the sample's own standard deviation (a self-normalised sum, whose
# tails stay close to Gaussian for heavy-tailed, nearly symmetric terms), and the false-alarm rate is
# measured (benchmarks/kit_calibration.py --checks check_unbiased_in_log_p).
LOG_P_REPLICATES = 20_000


def check_unbiased_in_log_p(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """E[log p̂] = log p(x) at K = 1 and 4 on every problem's light points, R = 20000 replicates
    (two-sided, ≤ 36 z-tests). The IWAE bound (bias ≈ −χ²/2K), the ELBO and a Russian roulette whose
    terms are not reweighted by their survival probability all fail."""
    zt = ZTests("check_unbiased_in_log_p")
    for prob in reference_problems():
        rows = light(prob, prob.truth_for(spec))
        if rows is None:
            continue
        for k in (1, 4):
            mean, se = mean_and_se(errors(spec, rows, k, LOG_P_REPLICATES, generator(random_state, zt.name, prob.name, k)))
            zt.add(mean, 0.0, se, lambda i, z, mean=mean, k=k, rows=rows: (
                f"claims E[log p̂] = log p but E[log p̂] − log p = {mean[i].item():+.4g} (z = {z:.1f}) at K = {k} on "
                f"{rows.name}, point {i}"), scale=rows.log_px)
    return zt.result("E[log p̂] = log p(x) within 5σ")


# check_upper_bound_in_limit: the two K of the extrapolation and the replicates per point.
LIMIT_K = (256, 2048)
LIMIT_REPLICATES = 1000


def check_upper_bound_in_limit(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """lim_K E[log p̂_K] ≥ log p(x), from K = 256 and 2048 on every problem's light points (one-sided,
    ≤ 18 z-tests, R = 1000). The limit is extrapolated as for a 1/K bias (Richardson):

        L̂∞ = m₂₀₄₈ + (m₂₀₄₈ − m₂₅₆) / 7,

    which for an estimate that rises to its limit like −c/K (the log of a mean of K i.i.d. terms) is
    exact to O(1/K²) and for one already at its limit is the mean itself. A bound that holds only in
    the limit (the Monte Carlo CUBO is biased low at finite K) passes; an estimator converging below
    log p(x) (the ELBO, a Rényi bound with α > 0) fails.
    """
    zt = ZTests("check_upper_bound_in_limit")
    small, large = LIMIT_K
    step = (large / small) - 1
    for prob in reference_problems():
        rows = light(prob, prob.truth_for(spec))
        if rows is None:
            continue
        (m1, s1), (m2, s2) = (mean_and_se(errors(spec, rows, k, LIMIT_REPLICATES,
                                                 generator(random_state, zt.name, prob.name, k))) for k in LIMIT_K)
        limit = m2 + (m2 - m1) / step
        se = torch.sqrt(((1 + 1 / step) * s2) ** 2 + (s1 / step) ** 2)
        zt.add(-limit, 0.0, se, lambda i, z, limit=limit, rows=rows: (
            f"claims an upper bound in the limit K → ∞ but the extrapolated limit of E[log p̂] − log p is "
            f"{limit[i].item():+.4g} (z = {z:.1f}; from K = {small} and {large}) on {rows.name}, point {i}"),
            scale=rows.log_px, one_sided=True)
    return zt.result("the extrapolated limit of E[log p̂] is at or above log p(x) within 5σ")


def check_consistent(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """From K = 16 to K = 1024 both the mean squared error and the mean error (the bias) shrink
    at least 4x (a √K-consistent estimator's MSE falls 64x, an IWAE-type bias 64x), on three
    problems with different priors and likelihoods. One-sided z-tests, 2 per point (≤ 18).

    The bias test is what catches an error floor that the variance hides at small K, such as
    averaging per-chunk estimates in log space.
    """
    zt = ZTests("check_consistent")
    for name in ("2d-wide-q", "2d-affine-prior", "1d-logistic"):
        prob = problem(name)
        rows = light(prob, prob.truth_for(spec))
        if rows is None:
            continue
        err_small = errors(spec, rows, 16, 1000, generator(random_state, zt.name, name, 16))
        err_large = errors(spec, rows, 1024, 1000, generator(random_state, zt.name, name, 1024))
        for stat, what in ((lambda e: e**2, "MSE"), (lambda e: e, "mean error")):
            (m1, s1), (m2, s2) = mean_and_se(stat(err_small)), mean_and_se(stat(err_large))
            z = torch.clamp((m2.abs() - m1.abs() / 4) / torch.sqrt(s2**2 + s1**2 / 16), min=0)
            zt.add_z(z, lambda i, zi, m1=m1, m2=m2, what=what, rows=rows: (
                f"claims consistency but the {what} goes from {m1[i].item():.4g} at K = 16 to {m2[i].item():.4g} at "
                f"K = 1024 on {rows.name}, point {i} (z = {zi:.1f}): the error does not shrink with K"))
    return zt.result("MSE and bias shrink at least 4x from K = 16 to 1024")


def check_elbo_gap_is_kl(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """log p(x) − E[estimate] = KL(q ‖ p(z|x)) at K = 1 and 8 on every problem's light points
    (≤ 36 z-tests); the ELBO of each problem's encoder is exact (closed form or quadrature)."""
    zt = ZTests("check_elbo_gap_is_kl")
    for prob in reference_problems():
        rows = light(prob, prob.encoder)
        if rows is None:
            continue
        kl = rows.log_px - rows.encoder.elbo
        for k in (1, 8):
            mean, se = mean_and_se(errors(spec, rows, k, REPLICATES, generator(random_state, zt.name, prob.name, k)))
            zt.add(mean, -kl, se, lambda i, z, mean=mean, kl=kl, k=k, rows=rows: (
                f"log p(x) − E[estimate] = {-mean[i].item():.4g} but KL(q ‖ p(z|x)) = {kl[i].item():.4g} "
                f"(z = {z:.1f}) at K = {k} on {rows.name}, point {i}"), scale=rows.log_px)
    return zt.result("log p(x) − E[estimate] = KL(q ‖ p(z|x)) within 5σ")


def check_variance_is_chi_square_over_k(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """K·Var[p̂ / p] = χ²(p(z|x) ‖ q) at K = 8 on every problem's light points (≤ 18 z-tests)."""
    zt = ZTests("check_variance_is_chi_square_over_k")
    k = 8
    for prob in reference_problems():
        truth = prob.truth_for(spec)
        rows = light(prob, truth)
        if rows is None:
            continue
        ratio = torch.exp(errors(spec, rows, k, REPLICATES, generator(random_state, zt.name, prob.name)))
        var, se = variance_and_se(ratio)
        chi2 = rows.truth_for(spec).chi_square
        zt.add(k * var, chi2, k * se, lambda i, z, var=var, chi2=chi2, rows=rows: (
            f"K·Var[p̂/p] = {k * var[i].item():.4g} but χ² = {chi2[i].item():.4g} (z = {z:.1f}) at K = {k} on "
            f"{rows.name}, point {i}: not K independent importance weights from q"), scale=rows.log_px)
    return zt.result("K·Var[p̂/p] = χ² within 5σ")


# check_bias_order: K and 4K, the replicates per point, and the slack on the claimed rate (room for
# the next order's term at moderate K: a true order-p bias falls 4^p-fold, at least 4^p / 1.5 is asked).
BIAS_ORDER_K = 4
BIAS_ORDER_REPLICATES = 50_000
BIAS_ORDER_SLACK = 1.5


def check_bias_order(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """The bias falls from K = 4 to K = 16 at least (16/4)^p / 1.5-fold for the claimed order p
    (`EstimatorTags.bias_order`), on four problems' light points with different priors, likelihoods
    and proposals. One-sided z-tests (≤ 12), with R = 50000 replicates per point:

        z = (|b̂(16)| − 1.5 · 4^(−p) · |b̂(4)|) / sqrt(se₁₆² + (1.5 · 4^(−p) · se₄)²).

    An IWAE-type estimator (bias ≈ −χ²/2K) that claims p = 2 leaves |b(16)| = b(4)/4, not b(4)/16, and
    fails; an estimator whose error does not shrink (the ELBO) fails any p. Where b(4) is within noise,
    the test asks only that b(16) be within noise too.
    """
    order = spec.tags.bias_order
    zt = ZTests("check_bias_order")
    small, large = BIAS_ORDER_K, 4 * BIAS_ORDER_K
    ratio = BIAS_ORDER_SLACK * (small / large) ** order
    for name in ("2d-wide-q", "2d-shifted-q", "3d-mean-field-q", "2d-affine-prior"):
        prob = problem(name)
        rows = light(prob, prob.truth_for(spec))
        if rows is None:
            continue
        (m1, s1), (m2, s2) = (mean_and_se(errors(spec, rows, k, BIAS_ORDER_REPLICATES,
                                                 generator(random_state, zt.name, name, k))) for k in (small, large))
        z = torch.clamp((m2.abs() - ratio * m1.abs()) / torch.sqrt(s2**2 + (ratio * s1) ** 2), min=0)
        zt.add_z(z, lambda i, zi, m1=m1, m2=m2, rows=rows: (
            f"claims a bias of order 1/K^{order} but it goes from {m1[i].item():+.4g} at K = {small} to "
            f"{m2[i].item():+.4g} at K = {large} on {rows.name}, point {i} (z = {zi:.1f}): a 1/K^{order} bias "
            f"would fall {(large / small) ** order:g}-fold"))
    return zt.result(f"the bias falls at the claimed 1/K^{order} rate from K = {small} to {large}")


def check_single_point_batch(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """A point estimated alone (B = 1, 200 separate calls) has the same mean and spread of log p̂ as
    inside a batch (Welch's t-test and the Brown-Forsythe test, 2 per problem, on two problems)."""
    from scipy import stats

    zt = ZTests("check_single_point_batch")
    calls, k = 200, 8
    for name in ("2d-wide-q", "1d-logistic"):
        prob = problem(name)
        if light(prob, prob.truth_for(spec)) is None or not bool(prob.truth_for(spec).light[0]):
            continue
        g = generator(random_state, zt.name, name)
        inside = run(spec, prob.model, replicate(prob.x, REPLICATES), k, g).log_px.double()
        inside = inside.reshape(REPLICATES, -1)[:, 0]
        alone = torch.stack([run(spec, prob.model, prob.x[:1], k, g).log_px.double()[0] for _ in range(calls)])
        # Welch's t-test for the means and the Brown-Forsythe (median-centred Levene) test for the spreads:
        # both keep their false-alarm rate for the skewed, heavy-ish distribution of log p̂ at small K.
        m1, m2, v1, v2 = inside.mean(), alone.mean(), inside.var(), alone.var()
        t = stats.ttest_ind(alone.numpy(), inside.numpy(), equal_var=False)
        zt.add_p(torch.tensor([t.pvalue]), torch.tensor([t.statistic]), lambda i, z: (
            f"with B = 1 on {name} the mean of log p̂ is {m2.item():.4g}, inside a batch {m1.item():.4g} (z = {z:.1f})"))
        lev = stats.levene(alone.numpy(), inside.numpy(), center="median")
        zt.add_p(torch.tensor([lev.pvalue]), torch.tensor([float(v2 - v1)]), lambda i, z: (
            f"with B = 1 on {name} the variance of log p̂ is {v2.item():.4g}, inside a batch {v1.item():.4g} "
            f"(z = {z:.1f}): a single-point code path that differs"))
    return zt.result("a point alone (B = 1) is estimated as inside a batch")
