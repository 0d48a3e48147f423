"""Running one cell of a sweep: the estimate, its truth and theory, its timing and memory.

`run_cell` is a plain top-level function of picklable arguments, so any executor (in-process,
a process pool, a dask cluster) can run it; it returns the record that the store writes.
"""

from __future__ import annotations

import functools
import hashlib
import json
import platform
import statistics
import subprocess
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import torch

from vaebench.bench.config import Cell, ModelEntry, SweepConfig
from vaebench.ops import effective_sample_size, pareto_k
from vaebench.registry import get_estimator
from vaebench.runtime import keep_freed_memory
from vaebench.testing.memory import peak_tensor_bytes

__all__ = ["run_cell", "run_metadata"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}


@functools.lru_cache(maxsize=16)
def _model_and_data(entry_json: str, num_points: int, sweep_seed: int) -> tuple[Any, torch.Tensor, dict[str, list]]:
    """The model, its data points (float64, fixed per model) and per-point theory."""
    from vaebench.models import get_model

    entry = ModelEntry(**json.loads(entry_json))
    model = get_model(entry.model, **entry.options)
    if hasattr(model, "evaluation_data"):  # trained models: their data set's test points
        x = model.evaluation_data(num_points).double()
    else:  # models with closed-form truth: data simulated from the model, fixed per model
        seed = int.from_bytes(hashlib.sha256(f"{sweep_seed}/data/{entry.name}".encode()).digest()[:8], "little") >> 1
        x = model.sample(num_points, generator=torch.Generator().manual_seed(seed)).double()
    return model, x, _theory(model, x)


def _theory(model: Any, x: torch.Tensor) -> dict[str, list]:
    """Truth and per-point theory: χ² of the encoder and of the prior, KL and Var[log w] of the
    encoder, from closed forms or, for trained 2-D models, from one quadrature per proposal."""
    d = model.prior.event_shape.numel()
    zeros = torch.zeros(x.shape[0], d, dtype=torch.float64)
    prior_q = torch.distributions.Independent(torch.distributions.Normal(zeros, torch.ones_like(zeros)), 1)
    if hasattr(model, "integrate"):
        with torch.no_grad():
            encoder = model.proposal(x.to(model.dtype))
        enc, pri = model.integrate(x, encoder), model.integrate(x, prior_q)
        return {"truth": enc.log_marginal.tolist(), "chi2_encoder": enc.chi_square.tolist(),
                "chi2_prior": pri.chi_square.tolist(), "kl": enc.kl.tolist(),
                "log_weight_var": enc.log_weight_variance.tolist(), "quadrature_error": enc.error.tolist()}
    theory: dict[str, list] = {"truth": model.log_marginal(x).tolist()}
    if hasattr(model, "chi_square"):
        theory["chi2_encoder"] = model.chi_square(None, x).tolist()
        theory["chi2_prior"] = model.chi_square(prior_q, x).tolist()
        theory["kl"] = model.kl_to_posterior(None, x).tolist()
        theory["log_weight_var"] = model.log_weight_variance(None, x).tolist()
    return theory


@functools.cache
def _commit() -> str | None:
    """The source commit, with ``+dirty`` when the package's own files have uncommitted changes
    (not the rest of the tree: a report being rewritten in place must not mark itself dirty)."""
    where = Path(__file__).resolve().parents[1]  # the vaebench package
    try:
        head = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=10, cwd=where)
        if head.returncode != 0 or not head.stdout.strip():
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no", "--", "."], capture_output=True,
                               text=True, timeout=10, cwd=where).stdout.strip()
        return head.stdout.strip() + ("+dirty" if dirty else "")
    except (OSError, subprocess.SubprocessError):
        return None


@functools.cache
def _device_name(device: str) -> str:
    if device.startswith("cuda"):
        return torch.cuda.get_device_name(torch.device(device))
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def run_metadata(device: str) -> dict[str, Any]:
    """Versions, device, thread count, commit and time of a measurement."""
    import vaebench

    return {
        "vaebench": vaebench.__version__,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "device_name": _device_name(device),
        "threads": torch.get_num_threads(),
        "commit": _commit(),
        "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
        "host": platform.node(),
    }


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


def run_cell(config: SweepConfig, cell: Cell) -> dict[str, Any]:
    """Run one cell and return its record (plain JSON-able data)."""
    keep_freed_memory()
    entry = config.model_entry(cell.model)
    model, x64, theory = _model_and_data(json.dumps(entry.__dict__, sort_keys=True), config.num_points, config.seed)
    dtype = _DTYPES[cell.dtype]
    model = model.to(dtype, cell.device)
    x = x64.to(dtype=dtype, device=cell.device)
    spec = get_estimator(cell.estimator)
    seed = cell.seed(config.seed)
    # Weights the sweep does not use are not kept, so that memory measures the estimator's
    # streaming working set; only an estimator that declares the option is asked.
    can_drop_weights = spec.option("keep_log_weights") is not None
    declared = dict(config.estimator_options.get(cell.estimator, {}))

    def estimate(keep_weights: bool = False) -> Any:
        options = {**declared, "keep_log_weights": keep_weights} if can_drop_weights else declared
        out = spec(model, x, cell.num_samples, generator=torch.Generator().manual_seed(seed), **options)
        _sync(cell.device)
        return out

    # The first run is the estimate and the warm-up; it keeps the weights, where it can, for the
    # Pareto k̂ of their tail (the cost measurements below run without them).
    start = time.perf_counter()
    est = estimate(keep_weights=True)
    seconds = time.perf_counter() - start
    ess = est.ess if est.ess is not None else (
        effective_sample_size(est.log_weights) if est.log_weights is not None else None)
    khat = pareto_k(est.log_weights) if est.log_weights is not None else None
    record: dict[str, Any] = {
        "cell": cell.__dict__,
        "seed": seed,
        "log_px": est.log_px.double().cpu().tolist(),
        "ess": ess.double().cpu().tolist() if ess is not None else None,
        "khat": khat.cpu().tolist() if khat is not None else None,
        "stderr": est.stderr.double().cpu().tolist() if est.stderr is not None else None,
        "theory": theory,
        "tags": spec.tags.__dict__,
        "seconds": seconds,
        "timing": None,
        "peak_bytes": None,
        "meta": run_metadata(cell.device),
    }
    if cell.replicate == 0:  # cost measurements once per (model, estimator, K, device, dtype)
        repeats = []
        for _ in range(config.timing_repeats):  # the estimate above was the warm-up
            start = time.perf_counter()
            estimate()
            repeats.append(time.perf_counter() - start)
        record["timing"] = {"repeats": repeats, "median": statistics.median(repeats)}
        try:
            record["peak_bytes"] = peak_tensor_bytes(estimate, cell.device)
        except NotImplementedError:
            pass
    return record
