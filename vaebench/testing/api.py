"""API checks: output contract, reproducibility, independence of rows and calls, numerics, memory.

These are exact (deterministic) checks: they compare numbers that must be identical or equal to
rounding, so they have no false-alarm rate. Every estimator sees only the `LatentModel`
contract of the kit's problems (`ContractModel`): reaching for the truth is an error.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vaebench.base import EstimatorError, EstimatorSpec
from vaebench.ops import log_mean_exp
from vaebench.testing.harness import generator, passed, run, supports
from vaebench.testing.memory import tensor_memory_profile
from vaebench.testing.problems import ContractModel, problem, reference_problems
from vaebench.testing.outcomes import CheckFailure, CheckResult, CheckSkipped, CheckWarning

# Profiler events one memory measurement may record (a few hundred bytes each, held until it ends).
MEMORY_EVENT_BUDGET = 2_000_000

__all__ = [
    "check_returns_estimate",
    "check_dtype_and_device",
    "check_single_sample",
    "check_log_weights",
    "check_reproducible",
    "check_does_not_mutate_inputs",
    "check_rows_do_not_interact",
    "check_duplicate_rows_are_independent",
    "check_log_weight_shift_invariance",
    "check_calls_in_sequence",
    "check_bounded_memory",
]


def _g(random_state: int | None, *keys: Any) -> torch.Generator:
    return generator(random_state, *keys)


def check_returns_estimate(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """On every problem (seen through the model contract alone) it returns an `Estimate` with
    finite ``log_px`` ``[B]`` and the right ``num_samples``."""
    for prob in reference_problems():
        est = run(spec, prob.model, prob.x, 7, _g(random_state, "returns", prob.name))
        if not torch.isfinite(est.log_px).all():
            raise CheckFailure(f"log_px is not finite for finite input on {prob.name}: {est.log_px.tolist()}")
        if est.num_samples is not None and est.num_samples != 7:
            raise CheckFailure(f"Estimate.num_samples is {est.num_samples} for num_samples=7")
    return passed("check_returns_estimate", "Estimate with finite log_px [B] on every problem")


def check_dtype_and_device(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """``log_px`` has the dtype and device of ``x`` (float32, float64, bfloat16; CUDA where available).

    bfloat16 must give a finite estimate of the right dtype; its accuracy is measured by the
    bench, not asserted here.
    """
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for dtype in (torch.float32, torch.float64, torch.bfloat16):
            # bfloat16 on a mean-field problem: torch has no CPU Cholesky or triangular solve in bf16.
            prob = problem("3d-mean-field-q" if dtype == torch.bfloat16 else "2d-wide-q")
            model = prob.model.to(dtype, device)
            est = run(spec, model, prob.x.to(dtype=dtype, device=device), 5, _g(random_state, "dtype"))
            got = (est.log_px.dtype, est.log_px.device.type)
            if got != (dtype, device):
                raise CheckFailure(f"x is {dtype} on {device} but log_px is {got[0]} on {got[1]}")
            if est.log_weights is not None and est.log_weights.dtype != dtype:
                raise CheckFailure(f"x is {dtype} but log_weights are {est.log_weights.dtype}")
            if not torch.isfinite(est.log_px).all():
                raise CheckFailure(f"log_px is not finite in {dtype} on {device}: {est.log_px.tolist()}")
    return passed("check_dtype_and_device", f"dtype and device follow x (float32, float64, bfloat16) on "
                  f"{', '.join(devices)}")


def check_single_sample(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """K = 1 works and gives a finite estimate."""
    prob = problem("2d-wide-q")
    est = run(spec, prob.model, prob.x, 1, _g(random_state, "k1"))
    if not torch.isfinite(est.log_px).all():
        raise CheckFailure(f"K = 1 gives non-finite log_px {est.log_px.tolist()} (division by K − 1?)")
    return passed("check_single_sample", "K = 1 gives a finite estimate")


def check_log_weights(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Returned log weights are ``[K, B]`` and are what ``log_px`` aggregates, whatever the tags:
    log_px = mean(log_weights) for an estimator that claims ``elbo_in_expectation``, else
    log_px = log mean exp(log_weights). Checked on two problems, asking for the weights where the
    estimator declares ``keep_log_weights``."""
    k = 50
    options = {"keep_log_weights": True} if supports(spec, "keep_log_weights") else {}
    worst, returned = 0.0, False
    for name in ("2d-wide-q", "1d-logistic"):
        prob = problem(name)
        est = run(spec, prob.model, prob.x, k, _g(random_state, "logw", name), **options)
        lw = est.log_weights
        if lw is None:
            continue
        returned = True
        if spec.tags.elbo_in_expectation:
            implied, what = lw.double().mean(0), "mean(log_weights)"
        else:
            implied, what = log_mean_exp(lw.double()), "log mean exp(log_weights)"
        diff = est.log_px.double() - implied
        gap = diff.abs().max().item()
        tol = 64 * torch.finfo(lw.dtype).eps * (1 + implied.abs().max().item())
        if not gap <= tol:
            offset = diff.mean().item()
            hint = " — exactly log K: is the −log K of the mean missing?" if abs(offset - torch.log(
                torch.tensor(float(k))).item()) < 1e-3 else ""
            raise CheckFailure(f"log_px differs from {what} by up to {gap:.3g} (mean offset {offset:.4g}) on {name}"
                               f"{hint}: the returned weights are not what the estimate aggregates", gap,
                               "max |log_px − implied|")
        worst = max(worst, gap)
    if not returned:
        return passed("check_log_weights", "no log weights returned (allowed)")
    return passed("check_log_weights", "log_px is the aggregate of the returned log weights", worst,
                  "max |log_px − implied|")


def check_reproducible(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Same generator seed, same numbers, whatever the global seed; another seed, other numbers.
    On a Gaussian, an affine-prior and a non-Gaussian (Student-t encoder) problem."""
    for name in ("2d-wide-q", "2d-affine-prior", "1d-logistic"):
        prob = problem(name)
        torch.manual_seed(1)
        a = run(spec, prob.model, prob.x, 20, _g(random_state, "repro", name)).log_px
        torch.manual_seed(2)
        b = run(spec, prob.model, prob.x, 20, _g(random_state, "repro", name)).log_px
        if not torch.equal(a, b):
            raise CheckFailure(f"the same generator gave different numbers under different global seeds on {name}: "
                               "the estimator draws from the global random stream instead of `generator`")
        if spec.tags.stochastic and torch.equal(a, run(spec, prob.model, prob.x, 20,
                                                       _g(random_state, "repro-other", name)).log_px):
            raise CheckFailure(f"a different generator seed gave identical numbers on {name}: the estimator ignores "
                               "`generator`")
    return passed("check_reproducible", "deterministic under a fixed generator, independent of the global stream, "
                  "for Gaussian and non-Gaussian proposals")


def _fingerprint(model: ContractModel, x: Tensor) -> list[Tensor]:
    """What the model computes at fixed inputs: changes if its parameters were modified."""
    z = torch.linspace(-2, 2, 5 * x.shape[0] * model.prior.event_shape.numel(), dtype=x.dtype)
    z = z.reshape(5, x.shape[0], -1)
    q = model.proposal(x)
    return [model.log_likelihood(x, z), model.prior.log_prob(z), q.log_prob(z)]


def check_does_not_mutate_inputs(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """``x`` and what the model computes are unchanged by a call."""
    prob = problem("2d-wide-q")
    model = prob.model.to(torch.float64)
    x_in = prob.x.clone()
    before = _fingerprint(model, prob.x)
    run(spec, model, x_in, 10, _g(random_state, "mutate"))
    if not torch.equal(x_in, prob.x):
        raise CheckFailure("the estimator modified x in place")
    if not all(torch.equal(a, b) for a, b in zip(before, _fingerprint(model, prob.x))):
        raise CheckFailure("the estimator modified the model in place (its likelihood, prior or encoder changed)")
    return passed("check_does_not_mutate_inputs", "x and the model are unchanged")


def check_rows_do_not_interact(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Changing one data point changes only its own estimate (same seed, same random stream).

    Catches a log-sum-exp over the batch dimension, rows returned in the wrong order, and any
    other mixing of data points.
    """
    prob = problem("2d-wide-q")
    x2 = prob.x.clone()
    x2[0] = prob.x[0] + 1.5
    a = run(spec, prob.model, prob.x, 30, _g(random_state, "rows")).log_px
    b = run(spec, prob.model, x2, 30, _g(random_state, "rows")).log_px
    drift = (a[1:] - b[1:]).abs().max().item()
    if drift > 1e-9 * (1 + a.abs().max().item()):
        raise CheckFailure(
            f"changing row 0 of x changed the estimates of other rows by up to {drift:.3g}: data points are "
            "mixed (log-sum-exp over the batch? rows returned in another order?)", drift, "max change of other rows")
    if a[0] == b[0]:
        raise CheckFailure("changing row 0 of x did not change its estimate: estimates are not tied to their rows")
    return passed("check_rows_do_not_interact", "each row's estimate depends on that row only", drift,
                  "max change of other rows")


def check_duplicate_rows_are_independent(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Repeated copies of a data point get independent samples (for stochastic estimators)."""
    prob = problem("2d-wide-q")
    est = run(spec, prob.model, prob.x[:1].repeat(64, 1), 10, _g(random_state, "dup")).log_px
    distinct = torch.unique(est).numel()
    if distinct < 32:
        raise CheckFailure(f"64 copies of one data point gave only {distinct} distinct estimates: the same "
                           "latent samples are reused across data points", float(distinct), "distinct estimates")
    return passed("check_duplicate_rows_are_independent", "copies of a data point get independent samples",
                  float(distinct), "distinct estimates of 64")


def check_log_weight_shift_invariance(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """log p(x|z) − c moves the estimate by exactly −c, for c far beyond exp's range.

    float64 with c = ±1000 and float32 with c = ±200: exp(∓c) under- or overflows in that dtype,
    so an estimator that exponentiates without shifting by the maximum returns ±inf or NaN.
    """
    prob = problem("2d-wide-q")
    worst = 0.0
    for dtype, c in ((torch.float64, 1000.0), (torch.float64, -1000.0), (torch.float32, 200.0), (torch.float32, -200.0)):
        m, xd = prob.model.to(dtype), prob.x.to(dtype)
        base = run(spec, m, xd, 40, _g(random_state, "shift")).log_px.double()
        try:
            shifted = run(spec, m.shifted(-c), xd, 40, _g(random_state, "shift")).log_px.double()
        except EstimatorError as exc:
            raise CheckFailure(f"with log p(x|z) shifted by {-c:+g} ({dtype}) the estimator failed: {exc}") from None
        err = (shifted - (base - c)).abs().max().item()
        tol = 64 * torch.finfo(dtype).eps * (abs(c) + base.abs().max().item())
        if not err <= tol:
            raise CheckFailure(
                f"shifting log p(x|z) by {-c:+g} ({dtype}) should move log_px by exactly that, but it is off by "
                f"{err:.3g} (got {shifted.tolist()[:2]}...): exp() without subtracting the maximum?", err,
                "max |error of the shift|")
        worst = max(worst, err / tol)
    return passed("check_log_weight_shift_invariance", "exact under log-weight shifts of ±1000 (f64), ±200 (f32)",
                  worst, "max error / tolerance")


def check_calls_in_sequence(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Calls do not leak state: batches A, B (same shape, other points), C (another model and
    shape), then B and A again give identical numbers for the same seeds; and where the model's
    encoder is the exact posterior, an estimator that samples from it (importance-weighted or
    ELBO claims) returns log p(x) to rounding on every call, whichever call came before."""
    exact, other = problem("2d-exact-q"), problem("2d-wide-q")
    a, b = exact.x[:2], exact.x[1:]
    calls = [("A", exact, a, slice(0, 2)), ("B", exact, b, slice(1, 3)), ("C", other, other.x, slice(0, 3)),
             ("B", exact, b, slice(1, 3)), ("A", exact, a, slice(0, 2))]
    zero_variance = spec.tags.needs_proposal and (spec.tags.importance_weighted or spec.tags.elbo_in_expectation)
    first: dict[str, Tensor] = {}
    for label, prob, x, rows in calls:
        got = run(spec, prob.model, x, 16, _g(random_state, "sequence", label)).log_px.double()
        if label in first and not torch.equal(got, first[label]):
            raise CheckFailure(f"batch {label} gave {got.tolist()} after other batches but {first[label].tolist()} "
                               "before: the estimator keeps state between calls (a cached proposal?)")
        first.setdefault(label, got)
        if zero_variance and prob is exact:
            truth = exact.log_px[rows]
            err = (got - truth).abs().max().item()
            if err > 1e-8 * (1 + truth.abs().max().item()):
                raise CheckFailure(f"with the exact posterior as the encoder, batch {label} is off log p(x) by {err:.3g} "
                                   "(zero variance expected): state from an earlier call, or not sampling from q?")
    return passed("check_calls_in_sequence", "no state leaks between calls (A, B, C, B, A)")


def check_bounded_memory(spec: EstimatorSpec, random_state: int | None = None) -> CheckResult:
    """Peak tensor memory at a large K is at most 1.5x that at K = 10³, plus what the returned
    ``[K, B]`` log weights need (3 copies allowed): the estimator streams over K in chunks.

    The large K is 10⁵ where measuring it costs at most `MEMORY_EVENT_BUDGET` profiler events
    (extrapolated from K = 10³), else the largest power of ten that fits, and never below 10⁴: an
    estimator that keeps ``[K, …]`` temporaries then needs 10x the memory, far above the bound.
    (AIS at its default T = 100 and L = 10 records about 10⁵ events per 10³ chains; at K = 10⁵ the
    profiler alone held 7 GB.) Memory that grows with K is a correctness failure for an estimator
    that claims ``bounded_memory``, and a scalability warning otherwise.
    """
    from vaebench.models import LinearGaussian

    model = LinearGaussian.random(20, 5, seed=4).with_encoder("exact", scale=1.5)
    x = model.sample(8, generator=torch.Generator().manual_seed(0))
    extra = {}
    if spec.tags.needs_exact_posterior and supports(spec, "posterior_samples"):  # one shared start per point
        from vaebench.sampling import sample

        extra["posterior_samples"] = sample(model.posterior(x), (), _g(random_state, "memory-start")).to(x.dtype)

    def measure(k: int) -> tuple[int, int]:
        try:
            return tensor_memory_profile(lambda: run(spec, model, x, k, _g(random_state, "memory"), **extra), x.device)
        except NotImplementedError as exc:
            raise CheckSkipped(str(exc)) from None

    small, events = measure(1000)
    large_k = 100_000
    while large_k > 10_000 and events * (large_k // 1000) > MEMORY_EVENT_BUDGET:
        large_k //= 10
    large, _ = measure(large_k)
    weights = 3 * large_k * x.shape[0] * x.element_size()
    bound = 1.5 * small + weights
    at = f"K = 1e{len(str(large_k)) - 1}"
    text = (f"peak {large / 2**20:.2f} MiB at {at}, {small / 2**20:.2f} MiB at K = 1e3; bound "
            f"1.5x the latter + 3 copies of the returned weights ({weights / 2**20:.1f} MiB) = {bound / 2**20:.1f} MiB")
    if large > bound:
        message = f"memory grows with K — chunk over K with a streaming log-sum-exp: {text}"
        if spec.tags.bounded_memory:
            raise CheckFailure(f"claims bounded_memory but {message}", large / 2**20, f"peak MiB at {at}")
        raise CheckWarning(message, large / 2**20, f"peak MiB at {at}")
    return passed("check_bounded_memory", text, large / 2**20, f"peak MiB at {at}")
