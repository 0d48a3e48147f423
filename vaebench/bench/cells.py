"""Running one cell of a sweep: the estimate, its truth and theory, its timing and memory.

`run_cell` is a plain top-level function of picklable arguments, so any executor (in-process,
a process pool, a dask cluster) can run it; it returns the record that the store writes.
"""

from __future__ import annotations

import contextlib
import copy
import functools
import json
import statistics
import time
from typing import Any

import torch

from vaebench.base import EstimatorError, truth_of
from vaebench.bench.config import Cell, ModelEntry, SweepConfig
from vaebench.bench.deadline import CellTimeout, time_limit
from vaebench.bench.dtypes import STORAGE
from vaebench.bench.metadata import run_metadata
from vaebench.ops import effective_sample_size, pareto_k
from vaebench.registry import get_estimator
from vaebench.runtime import Contention, keep_freed_memory
from vaebench.sampling import derived_seed
from vaebench.testing.memory import peak_tensor_bytes

__all__ = ["run_cell"]


@functools.lru_cache(maxsize=16)
def _model_and_data(entry_json: str, num_points: int, sweep_seed: int) -> tuple[Any, torch.Tensor, dict[str, list]]:
    """The model, its data points (float64, fixed per model) and per-point theory."""
    from vaebench.registry import get_model_spec

    entry = ModelEntry(**json.loads(entry_json))
    model = get_model_spec(entry.model).build(**entry.options)
    data = truth_of(model).evaluation_data(num_points)
    if data is not None:  # trained models: their data set's test points
        x = data.double()
    else:  # models with closed-form truth: data simulated from the model, fixed per model
        seed = derived_seed(sweep_seed, "data", entry.name)
        x = model.sample(num_points, generator=torch.Generator().manual_seed(seed)).double()
    return model, x, _theory(model, x)


def _listed(value: Any) -> list | None:
    return None if value is None else value.double().cpu().tolist()


def _theory(model: Any, x: torch.Tensor) -> dict[str, Any]:
    """Truth and per-point theory, asked of the model's ground-truth protocol: χ² of the encoder
    and of the model's own prior, KL and Var[log w] of the encoder, and the truth's error bound.
    A model without truth gives ``truth: None`` (its cells measure cost only)."""
    truth = truth_of(model)
    theory: dict[str, Any] = {"truth": _listed(truth.log_marginal(x)),
                              "dims": [int(x.shape[1]), int(model.prior.event_shape.numel())]}
    if not truth.available:
        return theory
    prior = model.prior.expand(torch.Size([x.shape[0]]))  # the model's actual prior, one per point
    theory.update(chi2_encoder=_listed(truth.chi_square(None, x)), chi2_prior=_listed(truth.chi_square(prior, x)),
                  kl=_listed(truth.kl_to_posterior(None, x)), log_weight_var=_listed(truth.log_weight_variance(None, x)),
                  quadrature_error=_listed(truth.log_marginal_error(x)))
    return {k: v for k, v in theory.items() if v is not None}


def _sync(device: str) -> None:
    if device.startswith("cuda"):
        torch.cuda.synchronize(torch.device(device))


@contextlib.contextmanager
def precision(name: str, device: str):
    """The matmul precision of a sweep dtype: TF32 products for "tf32" on CUDA, full float32 otherwise."""
    if not device.startswith("cuda"):
        yield
        return
    saved = torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32
    torch.backends.cuda.matmul.allow_tf32 = torch.backends.cudnn.allow_tf32 = name == "tf32"
    try:
        yield
    finally:
        torch.backends.cuda.matmul.allow_tf32, torch.backends.cudnn.allow_tf32 = saved


def _fingerprint(model: Any, x: torch.Tensor) -> list[torch.Tensor]:
    """What the model computes at fixed inputs: it changes if a plug-in modified the model."""
    d = model.prior.event_shape.numel()
    z = torch.linspace(-1.5, 1.5, 2 * x.shape[0] * d, dtype=x.dtype, device=x.device).reshape(2, x.shape[0], d)
    with torch.no_grad():
        return [model.log_likelihood(x, z), model.prior.log_prob(z)]


def run_cell(config: SweepConfig, cell: Cell) -> dict[str, Any]:
    """Run one cell and return its record (plain JSON-able data).

    The estimator gets its own copy of the data; afterwards the copy and the model are checked
    unchanged. An estimator that raises, returns something that breaks the `Estimate` contract
    or modifies its inputs gives a record with ``error`` set (and no estimates): the sweep goes
    on, and the report lists the failure.
    """
    keep_freed_memory()
    entry = config.model_entry(cell.model)
    model, x64, theory = _model_and_data(json.dumps(entry.__dict__, sort_keys=True), config.num_points, config.seed)
    dtype = STORAGE[cell.dtype]
    # A copy of its own: LinearGaussian.to() shares its float64 parameters, so a model modified in one
    # cell would otherwise stay modified in the cache and corrupt every later cell of that model.
    model = copy.deepcopy(model).to(dtype, cell.device)
    x_ref = x64.to(dtype=dtype, device=cell.device)
    spec = get_estimator(config.estimator_of(cell.estimator))
    seed = cell.seed(config.seed)
    # Weights the sweep does not use are not kept, so that memory measures the estimator's
    # streaming working set; only an estimator that declares the option is asked.
    can_drop_weights = spec.option("keep_log_weights") is not None
    declared = config.options_of(cell.estimator)
    before = _fingerprint(model, x_ref)
    record: dict[str, Any] = {"cell": cell.__dict__, "seed": seed, "theory": theory, "tags": spec.tags.__dict__,
                              "estimator": {"name": spec.name, "options": declared, "caution": spec.caution},
                              "timing": None, "peak_bytes": None, "meta": run_metadata(cell.device)}
    start = time.perf_counter()
    try:
        inputs = {**declared, **_posterior_draws(spec, model, x_ref, cell.num_samples, seed)}
    except ValueError as exc:
        return _failed(record, exc, start)

    def estimate(keep_weights: bool = False) -> Any:
        """One call, checked like the first whichever it is: the Estimate contract, x and the model unchanged."""
        options = {**inputs, "keep_log_weights": keep_weights} if can_drop_weights else inputs
        x = x_ref.clone()  # the estimator's own copy: one that writes into x harms no other cell
        with time_limit(config.timeout), precision(cell.dtype, cell.device):
            out = spec(model, x, cell.num_samples, generator=torch.Generator().manual_seed(seed), **options)
            _sync(cell.device)
        if not torch.equal(x, x_ref):
            raise EstimatorError(f"estimator {spec.name!r} modified its input x in place")
        if not all(torch.equal(a, b) for a, b in zip(before, _fingerprint(model, x_ref))):
            raise EstimatorError(f"estimator {spec.name!r} modified the model in place")
        return out

    try:
        return _measure(record, estimate, cell, config.timing_repeats, start)
    except CellTimeout as exc:  # one call ran past the timeout (a BaseException: _measure does not catch it)
        failed = _failed(record, exc, start)
        failed["error"] = (f"a call of the estimator {exc} during {record.get('stage', 'the estimate')} (a longer "
                           f"one: timeout in the config or --timeout; a rerun with a longer timeout runs this cell again)")
        failed["timed_out"] = config.timeout
        return failed


def _posterior_draws(spec: Any, model: Any, x: torch.Tensor, num_samples: int, seed: int) -> dict[str, Any]:
    """``{"posterior_samples": z}`` with K independent exact draws z ~ p(z | x) ``[K, B, d]`` for an estimator
    that needs them (the harmonic mean, the EUBO, reverse AIS), from the model's closed-form posterior
    (the benchmark holds the truth, the estimator gets only the draws); {} for any other estimator.
    A model without a closed-form posterior raises ValueError (the cell fails, with that reason)."""
    if not spec.tags.needs_exact_posterior or spec.option("posterior_samples") is None:
        return {}
    from vaebench.sampling import sample

    truth = truth_of(model)
    error = truth.log_marginal_error(x)
    posterior = truth.posterior(x) if error is not None and bool((error == 0).all()) else None
    if posterior is None:
        raise ValueError(f"{spec.name} needs exact posterior samples, and this model has no closed-form posterior "
                         "(quadrature models are not sampled exactly); run it on a linear-Gaussian model")
    g = torch.Generator(device=x.device).manual_seed(derived_seed(seed, "posterior draws"))
    return {"posterior_samples": sample(posterior, (num_samples,), g).to(x.dtype)}


def _measure(record: dict[str, Any], estimate: Any, cell: Cell, timing_repeats: int, start: float) -> dict[str, Any]:
    """The estimate, then (once per model, estimator, K, device and dtype) its cost: ``record``
    completed, or the record of a failed cell."""
    # The first run is the estimate and the warm-up; it keeps the weights, where it can, for the
    # Pareto k̂ of their tail (the cost measurements below run without them).
    try:
        est = estimate(keep_weights=True)
    except Exception as exc:  # noqa: BLE001 - the estimator's or the model's failure is this cell's, not the sweep's
        return _failed(record, exc, start)
    seconds = time.perf_counter() - start
    ess = est.ess if est.ess is not None else (
        effective_sample_size(est.log_weights) if est.log_weights is not None else None)
    khat = pareto_k(est.log_weights) if est.log_weights is not None else None
    record.update({
        "log_px": est.log_px.double().cpu().tolist(),
        "ess": ess.double().cpu().tolist() if ess is not None else None,
        "khat": khat.cpu().tolist() if khat is not None else None,
        "stderr": est.stderr.double().cpu().tolist() if est.stderr is not None else None,
        "seconds": seconds,
    })
    if cell.replicate == 0:  # cost measurements once per (model, estimator, K, device, dtype)
        record["stage"] = "the timing repeats"
        repeats = []
        try:
            with Contention() as contention:  # over all repeats: CPU time is counted in 10 ms ticks
                for _ in range(timing_repeats):  # the estimate above was the warm-up
                    begin = time.perf_counter()
                    estimate()
                    repeats.append(time.perf_counter() - begin)
            record["timing"] = {"repeats": repeats, "median": statistics.median(repeats),
                                "others_cores": contention.others, "waited_cores": contention.waited,
                                "load": contention.load, "contaminated": contention.contaminated}
            record["stage"] = "the memory measurement"
            try:
                record["peak_bytes"] = peak_tensor_bytes(estimate, cell.device)
            except NotImplementedError:
                pass
        except Exception as exc:  # noqa: BLE001 - a repeat that fails makes the whole cell untrustworthy
            return _failed(record, exc, start, "on a repeat call (timing or memory): ")
    record.pop("stage", None)
    return record


def _failed(record: dict[str, Any], exc: BaseException, start: float, where: str = "") -> dict[str, Any]:
    """The record of a failed cell: the reason, no estimates (the sweep goes on)."""
    keep = {k: v for k, v in record.items()
            if k not in ("log_px", "ess", "khat", "stderr", "timing", "peak_bytes", "stage")}
    return {**keep, "timing": None, "peak_bytes": None, "error": f"{where}{type(exc).__name__}: {exc}", "log_px": None,
            "seconds": time.perf_counter() - start}
