"""API checks: output contract, reproducibility, independence of rows, numerics, memory.

These are exact (deterministic) checks: they compare numbers that must be identical or equal to
rounding, so they have no false-alarm rate.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import Tensor

from vaebench.base import Estimate, EstimatorError, EstimatorSpec
from vaebench.models import LinearGaussian
from vaebench.ops import log_mean_exp
from vaebench.testing.memory import peak_tensor_bytes
from vaebench.testing.problems import reference_problems
from vaebench.testing.results import CheckFailure, CheckResult, CheckSkipped

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
    "check_bounded_memory",
]


def _problem() -> tuple[LinearGaussian, Tensor]:
    p = reference_problems()[0]
    return p.model, p.x


def _run(spec: EstimatorSpec, model: Any, x: Tensor, k: int, seed: int = 0) -> Estimate:
    return spec(model, x, k, generator=torch.Generator().manual_seed(seed))


def _passed(name: str, explanation: str, statistic: float | None = None, statistic_name: str = "") -> CheckResult:
    return CheckResult(name, "pass", statistic, statistic_name, None, explanation)


def check_returns_estimate(spec: EstimatorSpec) -> CheckResult:
    """Returns an `Estimate` with finite ``log_px`` ``[B]`` and the right ``num_samples``."""
    model, x = _problem()
    est = _run(spec, model, x, 7)  # EstimatorSpec.__call__ validates type, shape and NaN
    if not torch.isfinite(est.log_px).all():
        raise CheckFailure(f"log_px is not finite for finite input: {est.log_px.tolist()}")
    if est.num_samples is not None and est.num_samples != 7:
        raise CheckFailure(f"Estimate.num_samples is {est.num_samples} for num_samples=7")
    return _passed("check_returns_estimate", "Estimate with finite log_px of shape [B]")


def check_dtype_and_device(spec: EstimatorSpec) -> CheckResult:
    """``log_px`` has the dtype and device of ``x`` (float32, float64; CUDA where available)."""
    model, x = _problem()
    devices = ["cpu"] + (["cuda"] if torch.cuda.is_available() else [])
    for device in devices:
        for dtype in (torch.float32, torch.float64):
            est = _run(spec, model.to(dtype, device), x.to(dtype=dtype, device=device), 5)
            got = (est.log_px.dtype, est.log_px.device.type)
            if got != (dtype, device):
                raise CheckFailure(f"x is {dtype} on {device} but log_px is {got[0]} on {got[1]}")
            if est.log_weights is not None and est.log_weights.dtype != dtype:
                raise CheckFailure(f"x is {dtype} but log_weights are {est.log_weights.dtype}")
    return _passed("check_dtype_and_device", f"dtype and device follow x on {', '.join(devices)}")


def check_single_sample(spec: EstimatorSpec) -> CheckResult:
    """K = 1 works and gives a finite estimate."""
    model, x = _problem()
    est = _run(spec, model, x, 1)
    if not torch.isfinite(est.log_px).all():
        raise CheckFailure(f"K = 1 gives non-finite log_px {est.log_px.tolist()} (division by K − 1?)")
    return _passed("check_single_sample", "K = 1 gives a finite estimate")


def check_log_weights(spec: EstimatorSpec) -> CheckResult:
    """Returned log weights are ``[K, B]`` and agree with ``log_px`` as the tags say.

    ``importance_weighted``: log_px = log mean exp(log_weights); ``elbo_in_expectation``:
    log_px = mean(log_weights) (when the weights are returned).
    """
    model, x = _problem()
    k = 50
    est = _run(spec, model, x, k)
    lw = est.log_weights
    if lw is None:
        return _passed("check_log_weights", "no log weights returned (allowed)")
    tags = spec.tags
    if tags.importance_weighted:
        implied, what = log_mean_exp(lw.double()), "log mean exp(log_weights)"
    elif tags.elbo_in_expectation:
        implied, what = lw.double().mean(0), "mean(log_weights)"
    else:
        return _passed("check_log_weights", "log weights have shape [K, B]")
    gap = (est.log_px.double() - implied).abs().max().item()
    if gap > 1e-8 * (1 + implied.abs().max().item()):
        offset = (est.log_px.double() - implied).mean().item()
        hint = ""
        if abs(offset - torch.log(torch.tensor(float(k))).item()) < 1e-3:
            hint = " — exactly log K: is the −log K of the mean missing?"
        raise CheckFailure(f"log_px differs from {what} by up to {gap:.3g} (mean offset {offset:.4g}){hint}",
                           gap, "max |log_px − implied|")
    return _passed("check_log_weights", f"log_px = {what}", gap, "max |log_px − implied|")


def check_reproducible(spec: EstimatorSpec) -> CheckResult:
    """Same generator seed, same numbers, whatever the global seed; another seed, other numbers."""
    model, x = _problem()
    torch.manual_seed(1)
    a = _run(spec, model, x, 20, seed=5).log_px
    torch.manual_seed(2)
    b = _run(spec, model, x, 20, seed=5).log_px
    if not torch.equal(a, b):
        raise CheckFailure("the same generator gave different numbers under different global seeds: "
                           "the estimator draws from the global random stream instead of `generator`")
    if spec.tags.stochastic and torch.equal(a, _run(spec, model, x, 20, seed=6).log_px):
        raise CheckFailure("a different generator seed gave identical numbers: the estimator ignores `generator`")
    return _passed("check_reproducible", "deterministic under a fixed generator, independent of the global stream")


def check_does_not_mutate_inputs(spec: EstimatorSpec) -> CheckResult:
    """``x`` and the model's parameters are unchanged by a call."""
    model, x = _problem()
    x_in = x.clone()
    params = [t.clone() for t in (model.W64, model.b64, model.noise_var64, model.encoder.weight, model.encoder.bias)]
    _run(spec, model, x_in, 10)
    if not torch.equal(x_in, x):
        raise CheckFailure("the estimator modified x in place")
    after = (model.W64, model.b64, model.noise_var64, model.encoder.weight, model.encoder.bias)
    if not all(torch.equal(p, q) for p, q in zip(params, after)):
        raise CheckFailure("the estimator modified the model's parameters in place")
    return _passed("check_does_not_mutate_inputs", "x and the model are unchanged")


def check_rows_do_not_interact(spec: EstimatorSpec) -> CheckResult:
    """Changing one data point changes only its own estimate (same seed, same random stream).

    Catches a log-sum-exp over the batch dimension, rows returned in the wrong order, and any
    other mixing of data points.
    """
    model, x = _problem()
    x2 = x.clone()
    x2[0] = x[0] + 1.5
    a = _run(spec, model, x, 30, seed=3).log_px
    b = _run(spec, model, x2, 30, seed=3).log_px
    drift = (a[1:] - b[1:]).abs().max().item()
    if drift > 1e-9 * (1 + a.abs().max().item()):
        raise CheckFailure(
            f"changing row 0 of x changed the estimates of other rows by up to {drift:.3g}: data points are "
            "mixed (log-sum-exp over the batch? rows returned in another order?)", drift, "max change of other rows")
    if a[0] == b[0]:
        raise CheckFailure("changing row 0 of x did not change its estimate: estimates are not tied to their rows")
    return _passed("check_rows_do_not_interact", "each row's estimate depends on that row only", drift,
                   "max change of other rows")


def check_duplicate_rows_are_independent(spec: EstimatorSpec) -> CheckResult:
    """Repeated copies of a data point get independent samples (for stochastic estimators)."""
    model, x = _problem()
    est = _run(spec, model, x[:1].repeat(64, 1), 10).log_px
    distinct = torch.unique(est).numel()
    if distinct < 32:
        raise CheckFailure(f"64 copies of one data point gave only {distinct} distinct estimates: the same "
                           "latent samples are reused across data points", float(distinct), "distinct estimates")
    return _passed("check_duplicate_rows_are_independent", "copies of a data point get independent samples",
                   float(distinct), "distinct estimates of 64")


class _ShiftedLikelihood:
    """The same model with log p(x|z) − c: the exact log p(x) moves by exactly −c."""

    def __init__(self, model: LinearGaussian, c: float) -> None:
        self._model, self._c = model, c

    def __getattr__(self, name: str) -> Any:
        return getattr(self._model, name)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return self._model.log_likelihood(x, z) - self._c


def check_log_weight_shift_invariance(spec: EstimatorSpec) -> CheckResult:
    """log p(x|z) − c moves the estimate by exactly −c, for c far beyond exp's range.

    float64 with c = ±1000 and float32 with c = ±200: exp(∓c) under- or overflows in that dtype,
    so an estimator that exponentiates without shifting by the maximum returns ±inf or NaN.
    """
    model, x = _problem()
    worst = 0.0
    for dtype, c in ((torch.float64, 1000.0), (torch.float64, -1000.0), (torch.float32, 200.0), (torch.float32, -200.0)):
        m, xd = model.to(dtype), x.to(dtype)
        base = _run(spec, m, xd, 40, seed=9).log_px.double()
        try:
            shifted = _run(spec, _ShiftedLikelihood(m, c), xd, 40, seed=9).log_px.double()
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
    return _passed("check_log_weight_shift_invariance", "exact under log-weight shifts of ±1000 (f64), ±200 (f32)",
                   worst, "max error / tolerance")


def check_bounded_memory(spec: EstimatorSpec) -> CheckResult:
    """Peak tensor memory at K = 10⁵ is at most 1.5x that at K = 10³, plus what the returned
    ``[K, B]`` log weights need (3 copies allowed): the estimator streams over K in chunks."""
    model = LinearGaussian.random(20, 5, seed=4).with_encoder("exact", scale=1.5)
    x = model.sample(8, generator=torch.Generator().manual_seed(0))
    peaks = {}
    for k in (1000, 100_000):
        try:
            peaks[k] = peak_tensor_bytes(lambda: _run(spec, model, x, k), x.device)
        except NotImplementedError as exc:
            raise CheckSkipped(str(exc)) from None
    weights = 3 * 100_000 * x.shape[0] * x.element_size()
    bound = 1.5 * peaks[1000] + weights
    if peaks[100_000] > bound:
        raise CheckFailure(
            f"peak memory {peaks[100_000] / 2**20:.1f} MiB at K = 10⁵ vs {peaks[1000] / 2**20:.2f} MiB at K = 10³ "
            f"(bound {bound / 2**20:.1f} MiB): memory grows with K — chunk over K with a streaming log-sum-exp",
            peaks[100_000] / 2**20, "peak MiB at K = 1e5")
    return _passed("check_bounded_memory", f"peak {peaks[100_000] / 2**20:.2f} MiB at K = 1e5, "
                   f"{peaks[1000] / 2**20:.2f} MiB at K = 1e3", peaks[100_000] / 2**20, "peak MiB at K = 1e5")
