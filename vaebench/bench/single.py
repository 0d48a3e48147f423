"""One estimate on data simulated from a catalogue model: what ``vaebench estimate`` runs."""

from __future__ import annotations

import time
from typing import Any

import torch

from vaebench.base import truth_of
from vaebench.bench.config import check_device_name
from vaebench.bench.dtypes import ESTIMATE_DTYPES, storage_dtype
from vaebench.registry import get_estimator, get_model_spec
from vaebench.validation import check_num_samples

__all__ = ["estimate_on_model"]


def _summary(values: torch.Tensor) -> dict[str, float]:
    v = values.double()
    return {"mean": v.mean().item(), "std": v.std().item() if v.numel() > 1 else 0.0,
            "min": v.min().item(), "max": v.max().item()}


def _device(device: str) -> str:
    check_device_name(device, "--device")
    if device.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device {device!r} was asked for but no CUDA device is available here; use --device cpu")
        index = int(device.split(":")[1]) if ":" in device else 0
        if index >= torch.cuda.device_count():
            raise ValueError(f"device {device!r} does not exist: {torch.cuda.device_count()} CUDA device(s) here")
    return device


def estimate_on_model(model: str, estimator: str, num_samples: int, *, model_options: dict[str, Any] | None = None,
                      batch_size: int = 64, seed: int = 0, dtype: str = "float32", device: str = "cpu",
                      options: dict[str, Any] | None = None, progress: bool = False,
                      force: bool = False, timeout: float | None = None) -> dict[str, Any]:
    """Simulate ``batch_size`` points from a catalogue model, estimate log p(x), compare with the truth.

    A run beyond the budget of `vaebench.bench.cost` is refused before any work unless ``force``;
    an estimate that runs past ``timeout`` seconds is stopped with `TimeoutError`.

    Returns a plain dict: the estimate, the truth (where the model has one) and their error,
    summarised over points and per point, with the time taken and samples per second.
    """
    spec = get_estimator(estimator)
    model_spec = get_model_spec(model)
    num_samples = check_num_samples(num_samples)
    if isinstance(batch_size, bool) or not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size (-B) must be an integer >= 1, got {batch_size!r}")
    storage = storage_dtype(dtype, "dtype (--dtype)", ESTIMATE_DTYPES)
    device = _device(device)
    if isinstance(seed, bool) or not isinstance(seed, int) or seed < 0:
        raise ValueError(f"seed must be an integer >= 0, got {seed!r}")
    options = dict(options or {})
    if spec.option("keep_log_weights") is not None:  # nothing here reads the weights: do not keep them
        options.setdefault("keep_log_weights", False)
    options = spec.validate_options(options)
    from vaebench.bench.config import check_timeout
    from vaebench.bench.cost import check_budget, estimator_rows
    from vaebench.bench.deadline import CellTimeout, time_limit

    timeout = check_timeout(timeout, "timeout (--timeout)")

    check_budget(estimator_rows(spec.name, num_samples, batch_size, options), f"{spec.name} with K = {num_samples} "
                 f"on B = {batch_size} points", force)
    built = model_spec.build(**(model_options or {})).to(storage, device)
    g = torch.Generator(device=device).manual_seed(seed)
    x = _simulate(built, batch_size, g, storage, device)
    if progress and num_samples * batch_size >= 10**7:
        print(f"[estimate] {spec.name}: K = {num_samples}, B = {batch_size} ...", flush=True)
    start = time.perf_counter()
    try:
        with time_limit(timeout):
            result = spec(built, x, num_samples, generator=g, **options)
            if x.device.type == "cuda":
                torch.cuda.synchronize(x.device)
    except CellTimeout:
        raise TimeoutError(f"{spec.name} with K = {num_samples} on B = {batch_size} points ran past the timeout of "
                           f"{timeout:g} s (--timeout); give it longer, or a smaller K or -B") from None
    seconds = time.perf_counter() - start
    exact = truth_of(built).log_marginal(x)
    est = result.log_px.double().cpu()
    report: dict[str, Any] = {
        "model": repr(built), "estimator": spec.name, "num_samples": num_samples, "batch_size": batch_size,
        "seed": seed, "dtype": dtype, "device": device, "options": {k: repr(v) for k, v in options.items()},
        "seconds": seconds, "samples_per_second": num_samples * batch_size / seconds, "estimate": _summary(est),
    }
    per_point: dict[str, list[float]] = {"estimate": est.tolist()}
    if exact is not None:
        exact = exact.double().cpu()
        report["exact"] = _summary(exact)
        report["error"] = _summary(est - exact)
        report["rmse"] = (est - exact).pow(2).mean().sqrt().item()
        per_point.update(exact=exact.tolist(), error=(est - exact).tolist())
    for name in ("stderr", "ess"):
        value = getattr(result, name)
        if value is not None:
            report[name] = _summary(value.cpu())
            per_point[name] = value.double().cpu().tolist()
    report["per_point"] = per_point
    return report


def _simulate(model: Any, batch_size: int, g: torch.Generator, dtype: torch.dtype, device: str) -> torch.Tensor:
    """The first points of the model's evaluation data (trained models), or data simulated from it."""
    data = truth_of(model).evaluation_data(batch_size)
    if data is not None:
        return data.to(dtype=dtype, device=device)
    return model.sample(batch_size, generator=g)
