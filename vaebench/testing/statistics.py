"""Statistical checks against exact truth on the reference problems, chosen by the tags.

Every check is a set of z-tests at ``N_SIGMA`` = 5 under fixed seeds. Replicates are rows: the
data points repeated R times form one batch (``check_rows_do_not_interact`` makes that sound).
Each check's docstring states how many z-tests it makes; the false-alarm rate of a check on a
correct estimator is at most that number times 5.7e-7 (two-sided) under the normal
approximation, which the problems' finite fourth moments justify.
"""

from __future__ import annotations


import torch
from torch import Tensor

from vaebench.base import EstimatorSpec
from vaebench.testing.problems import Problem, reference_problems, replicate
from vaebench.testing.results import CheckFailure, CheckResult, CheckSkipped
from vaebench.testing.stats import N_SIGMA, mean_and_se, two_sided_p, variance_and_se

__all__ = [
    "check_unbiased_in_p",
    "check_lower_bound",
    "check_upper_bound",
    "check_consistent",
    "check_elbo_gap_is_kl",
    "check_variance_is_chi_square_over_k",
    "check_batch_subset_in_distribution",
]

REPLICATES = 2000


def _usable(spec: EstimatorSpec) -> list[Problem]:
    problems = [q for p in reference_problems() if (q := p.usable_for(spec)) is not None]
    if not problems:
        raise CheckSkipped("no reference problem has a light-tailed enough proposal for this estimator")
    return problems


def _errors(spec: EstimatorSpec, problem: Problem, k: int, seed: int, replicates: int = REPLICATES) -> Tensor:
    """log p̂ − log p for ``replicates`` independent runs per data point, ``[R, B]`` float64."""
    x = problem.x
    est = spec(problem.model, replicate(x, replicates), k, generator=torch.Generator().manual_seed(seed))
    return est.log_px.double().reshape(replicates, x.shape[0]) - problem.log_px()


class _Worst:
    """Tracks the worst |z| over a check's z-tests, and the first failure's description."""

    def __init__(self) -> None:
        self.z, self.count, self.failure = 0.0, 0, None

    def add(self, z: Tensor, describe) -> None:
        self.count += z.numel()
        i = int(torch.argmax(z.abs()))
        if abs(z.flatten()[i].item()) > abs(self.z):
            self.z = z.flatten()[i].item()
        if self.failure is None and z.abs().max() > N_SIGMA:
            self.failure = describe(i, z.flatten()[i].item())

    def result(self, name: str, passed: str) -> CheckResult:
        p = min(1.0, self.count * two_sided_p(self.z))
        if self.failure is not None:
            raise CheckFailure(self.failure, abs(self.z), "max |z|", p)
        return CheckResult(name, "pass", abs(self.z), "max |z|", p, passed)


def check_unbiased_in_p(spec: EstimatorSpec) -> CheckResult:
    """E[p̂ / p] = 1 at K = 1 and K = 8 on every usable problem (≤ 18 z-tests)."""
    worst = _Worst()
    for problem in _usable(spec):
        for k in (1, 8):
            ratio = torch.exp(_errors(spec, problem, k, seed=k))
            mean, se = mean_and_se(ratio)
            z = (mean - 1) / se

            def describe(i: int, zi: float, mean=mean, k=k, problem=problem) -> str:
                m = mean[i].item()
                hint = ""
                if k > 1 and abs(m / k - 1) < 0.05:
                    hint = " — about K: is the −log K of the mean missing?"
                elif k > 1 and abs(m - k / (k - 1)) < 0.02:
                    hint = " — about K/(K−1): dividing by K − 1?"
                return f"E[p̂/p] = {m:.4g}, not 1 (z = {zi:.1f}) at K = {k} on {problem.name}, point {i}{hint}"

            worst.add(z, describe)
    return worst.result("check_unbiased_in_p", "E[p̂/p] = 1 within 5σ")


def _bound(spec: EstimatorSpec, sign: float, name: str, word: str) -> CheckResult:
    worst = _Worst()
    for problem in _usable(spec):
        for k in (1, 8, 64):
            mean, se = mean_and_se(_errors(spec, problem, k, seed=100 + k))
            z = sign * mean / se  # > 0 when the bound is violated
            z_violation = torch.clamp(z, min=0)

            def describe(i: int, zi: float, mean=mean, k=k, problem=problem) -> str:
                return (f"claims a {word} bound but E[log p̂] − log p = {mean[i].item():+.4g} (z = {zi:.1f}) at K = {k} "
                        f"on {problem.name}, point {i}")

            worst.add(z_violation, describe)
    return worst.result(name, f"E[log p̂] is on the {word} side of log p(x) within 5σ")


def check_lower_bound(spec: EstimatorSpec) -> CheckResult:
    """E[log p̂] ≤ log p(x) at K = 1, 8, 64 (one-sided; ≤ 27 z-tests)."""
    return _bound(spec, +1.0, "check_lower_bound", "lower")


def check_upper_bound(spec: EstimatorSpec) -> CheckResult:
    """E[log p̂] ≥ log p(x) at K = 1, 8, 64 (one-sided; ≤ 27 z-tests)."""
    return _bound(spec, -1.0, "check_upper_bound", "upper")


def check_consistent(spec: EstimatorSpec) -> CheckResult:
    """From K = 16 to K = 1024 both the mean squared error and the mean error (the bias) shrink
    at least 4x on every usable problem (a √K-consistent estimator's MSE falls 64x, an IWAE-type
    bias 64x). One-sided z-tests, 2 per data point (≤ 18).

    The bias test is what catches an error floor that the variance hides at small K, such as
    averaging per-chunk estimates in log space.
    """
    worst = _Worst()
    for problem in _usable(spec):
        err_small = _errors(spec, problem, 16, seed=16, replicates=1000)
        err_large = _errors(spec, problem, 1024, seed=1024, replicates=1000)
        for stat, what in ((lambda e: e**2, "MSE"), (lambda e: e, "mean error")):
            (m1, s1), (m2, s2) = mean_and_se(stat(err_small)), mean_and_se(stat(err_large))
            z = torch.clamp((m2.abs() - m1.abs() / 4) / torch.sqrt(s2**2 + s1**2 / 16), min=0)

            def describe(i: int, zi: float, m1=m1, m2=m2, what=what, problem=problem) -> str:
                return (f"claims consistency but the {what} goes from {m1[i].item():.4g} at K = 16 to "
                        f"{m2[i].item():.4g} at K = 1024 on {problem.name}, point {i} (z = {zi:.1f}): "
                        "the error does not shrink with K")

            worst.add(z, describe)
    return worst.result("check_consistent", "MSE and bias shrink at least 4x from K = 16 to 1024")


def check_elbo_gap_is_kl(spec: EstimatorSpec) -> CheckResult:
    """log p(x) − E[estimate] = KL(q ‖ p(z|x)) at K = 1 and 8 on every problem (18 z-tests)."""
    worst = _Worst()
    for problem in reference_problems():
        kl = problem.model.kl_to_posterior(None, problem.x)
        for k in (1, 8):
            mean, se = mean_and_se(_errors(spec, problem, k, seed=200 + k))
            z = (mean + kl) / se

            def describe(i: int, zi: float, mean=mean, kl=kl, k=k, problem=problem) -> str:
                return (f"log p(x) − E[estimate] = {-mean[i].item():.4g} but KL(q ‖ p(z|x)) = {kl[i].item():.4g} "
                        f"(z = {zi:.1f}) at K = {k} on {problem.name}, point {i}")

            worst.add(z, describe)
    return worst.result("check_elbo_gap_is_kl", "log p(x) − E[estimate] = KL(q ‖ p(z|x)) within 5σ")


def check_variance_is_chi_square_over_k(spec: EstimatorSpec) -> CheckResult:
    """K·Var[p̂ / p] = χ²(p(z|x) ‖ q) at K = 8 on every usable problem (≤ 9 z-tests)."""
    worst = _Worst()
    k = 8
    for problem in _usable(spec):
        ratio = torch.exp(_errors(spec, problem, k, seed=300))
        var, se = variance_and_se(ratio)
        chi2 = problem.proposal_chi_square(spec)
        z = (k * var - chi2) / (k * se)

        def describe(i: int, zi: float, var=var, chi2=chi2, problem=problem) -> str:
            return (f"K·Var[p̂/p] = {k * var[i].item():.4g} but χ² = {chi2[i].item():.4g} (z = {zi:.1f}) at K = {k} "
                    f"on {problem.name}, point {i}: not K independent importance weights from q")

        worst.add(z, describe)
    return worst.result("check_variance_is_chi_square_over_k", "K·Var[p̂/p] = χ² within 5σ")


def check_batch_subset_in_distribution(spec: EstimatorSpec) -> CheckResult:
    """Estimating one data point alone gives the same distribution as inside the full batch
    (two-sample z-test of the means, 1 test)."""
    problem = reference_problems()[0]
    x, model = problem.x, problem.model
    g = torch.Generator().manual_seed(400)
    full = spec(model, replicate(x, 1000), 8, generator=g).log_px.double().reshape(1000, -1)[:, 0]
    alone = spec(model, replicate(x[:1], 1000), 8, generator=g).log_px.double()
    (m1, s1), (m2, s2) = mean_and_se(full), mean_and_se(alone)
    z = ((m1 - m2) / torch.sqrt(s1**2 + s2**2)).reshape(1)
    worst = _Worst()
    worst.add(z, lambda i, zi: (
        f"point 0 estimated inside the batch averages {m1.item():.4g} but alone {m2.item():.4g} (z = {zi:.1f}): "
        "the estimate depends on the rest of the batch"))
    return worst.result("check_batch_subset_in_distribution", "a row's estimate does not depend on the batch")
