"""Your model, your number: ``vaebench evaluate`` / `evaluate` — a log-likelihood to publish, with its advice.

`evaluate(model, x, out=...)` checks the model at the front door, runs the ladder (the ELBO,
importance sampling at several K, AIS at several T), checks the stated stderr against replicates,
runs BDMC on data simulated from the model, and writes a folder: ``points.csv`` (per point and
setting: log p̂, stderr, ESS, k̂), ``summary.csv``, ``stderr_checks.csv``, ``bdmc.csv``,
``report.md`` and ``index.html`` (the headline, the advice, the conventions), and
``manifest.json`` (conventions, checksums of model, data and every file written).
"""

from __future__ import annotations

import json
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import Tensor

from vaebench.contract import check_model, model_name
from vaebench.sampling import derived_seed
from vaebench.evaluation.advice import Advice, advise, bdmc_summary
from vaebench.evaluation.ladder import (EvaluationSettings, replicate_spread, rung_summary, rungs, run_rung,
                                        bdmc_gaps, truth_column)
from vaebench.evaluation.sources import data_checksum, model_checksum, resolve_data, resolve_model, folder_name
from vaebench.version import __version__
from vaebench.validation import check_data

__all__ = ["Evaluation", "EvaluationSettings", "evaluate", "prepare_data", "resolve_data", "resolve_model",
           "folder_name"]


@dataclass(frozen=True)
class Evaluation:
    """What `evaluate` found: the advice, the tables, the conventions, and where they were written."""

    advice: Advice
    summary: pd.DataFrame
    points: pd.DataFrame
    checks: pd.DataFrame
    bdmc: pd.DataFrame | None
    conventions: dict[str, str]
    out: Path | None


def prepare_data(model: Any, x: Any) -> Tensor:
    """``x`` as the model's estimators take it: the adapter's ``prepare`` where there is one, else
    flattened to ``[B, D]`` and cast to the model's dtype and device (integer and bool data included)."""
    if callable(getattr(model, "prepare", None)):
        return model.prepare(x)
    if isinstance(x, np.ndarray):
        x = torch.from_numpy(x)
    if not isinstance(x, Tensor):
        raise TypeError(f"x must be a torch.Tensor or numpy array [B, D], got {type(x).__name__}")
    x = x.reshape(x.shape[0], -1) if x.dim() > 2 else x
    dtype = getattr(model, "dtype", None)
    device = getattr(model, "device", None)
    if not isinstance(dtype, torch.dtype):
        try:
            dtype = model.prior.mean.dtype
        except (AttributeError, NotImplementedError):
            dtype = torch.get_default_dtype()
    return x.to(dtype=dtype, device=device if device is not None else x.device)


def _partial_path(out: Path, identity: str, label: str) -> Path:
    import hashlib

    return Path(out) / ".partial" / f"{hashlib.sha256((identity + label).encode()).hexdigest()[:32]}.csv"


def _resume(out: str | Path | None, identity: str, label: str) -> tuple[pd.DataFrame, float] | None:
    """A rung finished by an earlier run of the same evaluation (same model, data, settings), if any."""
    if out is None:
        return None
    path = _partial_path(Path(out), identity, label)
    if not path.is_file():
        return None
    from vaebench.results.reference_file import ReferenceIntegrityError, read_reference

    try:
        table, header = read_reference(path)
    except (ReferenceIntegrityError, ValueError, OSError):
        return None  # damaged: computed again
    return table, float(header.get("seconds", "nan"))


def _keep(out: str | Path | None, identity: str, label: str, table: pd.DataFrame, seconds: float) -> None:
    if out is None:
        return
    from vaebench.results.reference_file import write_reference

    write_reference(_partial_path(Path(out), identity, label), table, command="vaebench evaluate (partial)",
                    rung=label, seconds=f"{seconds:.6g}")


def _write(out: Path, files: dict[str, bytes], manifest: dict[str, Any]) -> None:
    import hashlib

    from vaebench.results.store import atomic_write_bytes, make_folder

    make_folder(out)
    for name, data in files.items():
        atomic_write_bytes(out / name, data)
    manifest["files"] = {name: hashlib.sha256(data).hexdigest() for name, data in files.items()}
    atomic_write_bytes(out / "manifest.json", (json.dumps(manifest, indent=2, default=str) + "\n").encode())


def evaluate(model: Any, x: Any, *, settings: EvaluationSettings | None = None, out: str | Path | None = None,
             provenance: dict[str, str] | None = None, progress: Callable[[str], Any] | None = None) -> Evaluation:
    """Evaluate log p(x) of ``model`` on ``x`` as a paper would report it, with the advice for this model.

    Parameters
    ----------
    model : LatentModel
        Any model honouring the contract (`vaebench.check_model` runs first): a catalogue model or
        one from `vaebench.adapters`.
    x : Tensor or array
        The data, ``[N, D]`` or image-shaped (``prepare_data``).
    settings : EvaluationSettings, optional
        The ladder, BDMC, replicates, accuracy, seed (defaults: `EvaluationSettings`).
    out : path, optional
        A folder to write the tables, the page and the manifest to.
    provenance : dict, optional
        Where model and data came from (`resolve_model`, `resolve_data` give it).

    Returns
    -------
    Evaluation
    """
    settings = settings or EvaluationSettings()
    x = check_data(prepare_data(model, x), model)
    check_model(model, x)
    g = torch.Generator(device=x.device).manual_seed(settings.seed)
    has_proposal = callable(getattr(model, "proposal", None))
    ladder = rungs(settings, has_proposal)
    model_sha, data_sha = model_checksum(model), data_checksum(x)
    identity = json.dumps([model_sha, data_sha, asdict(settings), str(x.dtype), str(x.device)], default=str)
    tables, seconds = [], {}
    for rung in ladder:
        # Each rung has a stream of its own (derived from the seed and its label) and is kept in
        # out/.partial/ as soon as it is done: an interrupted evaluation resumes where it stopped.
        found = _resume(out, identity, rung.label)
        if found is not None:
            table, took = found
            if progress:
                progress(f"{rung.label}: kept from an earlier run of this evaluation")
        else:
            rung_stream = torch.Generator(device=x.device).manual_seed(derived_seed(settings.seed, rung.label))
            table, took = run_rung(model, x, rung, rung_stream, settings.batch_size, progress)
            _keep(out, identity, rung.label, table, took)
        tables.append(table)
        seconds[rung.label] = took
    points = pd.concat(tables, ignore_index=True)
    exact = truth_column(model, x)
    if exact is not None:
        points["truth"] = np.tile(exact, len(ladder))
    summary = rung_summary(points, seconds, [r.label for r in ladder])

    head = ladder[-1] if ladder[-1].estimator == "ais" else [r for r in ladder if r.estimator != "elbo"][-1]
    sampling_top = [r for r in ladder if r.estimator in ("importance", "prior")][-1]
    checks = []
    n_check = min(settings.check_points, x.shape[0])
    if settings.replicates:
        for rung in [head] + ([sampling_top] if sampling_top is not head else []):
            first_run = points[(points["rung"] == rung.label) & (points["point"] < n_check)]
            checks.append(replicate_spread(model, x[:n_check], rung, first_run, settings.replicates, g,
                                           settings.batch_size))
        if progress:
            progress(f"stderr check: {settings.replicates} more runs on {n_check} points")
    bdmc, bdmc_reason = bdmc_gaps(model, settings, g, progress)
    data_dim = x.shape[1]
    advice = advise(summary, points, checks, bdmc, settings.accuracy, data_dim)
    checks_table = pd.DataFrame(checks)

    conventions = {
        "sign and units": "log p(x) in nats (not the NLL); bits/dim = −log p(x) / (D ln 2) with D = "
                          f"{data_dim}",
        "model_class": model_name(model), **dict(getattr(model, "conventions", {}) or {}),
        **(provenance or {}),
        "model_sha256": model_sha, "data_sha256": data_sha,
        "points": str(x.shape[0]), "dtype": str(x.dtype).replace("torch.", ""), "device": str(x.device),
        "seed": str(settings.seed), "settings": json.dumps(asdict(settings), default=str),
        "vaebench": __version__, "torch": torch.__version__,
        "python": platform.python_version(), "utc": datetime.now(timezone.utc).isoformat(timespec="seconds"),
    }
    truth = None
    if exact is not None:
        head_rows = points[points["rung"] == advice.headline_rung]
        err = head_rows["log_px"].to_numpy() - exact
        hits = {r: float((points[points["rung"] == r]["log_px"].to_numpy() - exact).mean())
                for r in summary["rung"]}
        text = "; ".join(f"{r}: {e:+.3f}" for r, e in hits.items())
        truth = {"headline_error": float(err.mean()), "headline_error_se": float(err.std(ddof=1) / np.sqrt(len(err)))
                 if len(err) > 1 else 0.0, "first_accurate_text": f"mean error by setting: {text}"}
    result = Evaluation(advice, summary, points, checks_table, bdmc, conventions, None)
    if out is None:
        return result
    out = Path(out)
    title = f"vaebench evaluate: {conventions.get('model', conventions['model_class'])}"
    bdmc_table = bdmc_summary(bdmc)
    page_args = (advice, summary, checks_table, bdmc_table, bdmc_reason, conventions, truth)
    from vaebench.evaluation.page import html_page, markdown

    files = {"points.csv": points.to_csv(index=False).encode(), "summary.csv": summary.to_csv(index=False).encode(),
             "stderr_checks.csv": checks_table.to_csv(index=False).encode(),
             "report.md": (markdown(title, *page_args) + "\n").encode(), "index.html": html_page(title, *page_args)}
    if bdmc is not None:
        files["bdmc.csv"] = bdmc.to_csv(index=False).encode()
    manifest = {"headline": advice.headline, "log_px": advice.log_px, "mc_se": advice.mc_se,
                "bits_per_dim": advice.bits_per_dim, "estimator": advice.headline_rung,
                "bdmc_gap": advice.bdmc_gap, "conventions": conventions}
    _write(out, files, manifest)
    import shutil

    shutil.rmtree(out / ".partial", ignore_errors=True)  # everything is in the final files now
    return Evaluation(advice, summary, points, checks_table, bdmc, conventions, out)
