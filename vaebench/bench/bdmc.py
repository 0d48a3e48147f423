"""The BDMC part of a sweep and of ``vaebench bdmc``: simulate, sandwich, store.

For each model named in a profile's ``[bdmc]`` table (or on the command line), data are simulated
from the model with their latents, forward and reverse AIS run at each T, and the per-point bounds
(with the truth where the model has one) are stored in ``<results>/bdmc/<model>.json``. A model
whose file exists with the same settings is skipped: an interrupted sweep resumes.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import Any

import torch

from vaebench.bench.bdmc_settings import BDMCSettings
from vaebench.bench.dtypes import STORAGE
from vaebench.bench.metadata import run_metadata
from vaebench.results.bdmc import bdmc_path, read_bdmc, write_bdmc
from vaebench.results.schema import RecordError
from vaebench.sampling import derived_seed

__all__ = ["run_bdmc", "bdmc_payload"]

def bdmc_payload(label: str, model: Any, settings: BDMCSettings, seed: int, fingerprint: str,
                 progress: Callable[[str], Any] | None = None) -> dict[str, Any]:
    """Simulate ``settings.num_points`` points from ``model`` and run forward and reverse AIS at each T."""
    from vaebench.estimators.bdmc import sandwich, simulate

    device = str(getattr(model, "device", "cpu"))
    g = torch.Generator(device=device).manual_seed(seed)
    x, z = simulate(model, settings.num_points, g)
    results = sandwich(model, x, z, settings.num_chains, settings.steps, generator=g,
                       progress=(lambda text: progress(f"{label}: {text}")) if progress else None, **settings.options)
    runs = [{"num_steps": r.num_steps, "lower": r.lower.tolist(), "upper": r.upper.tolist(),
             "truth": None if r.truth is None else r.truth.tolist(),
             "truth_error": None if r.truth_error is None else r.truth_error.tolist(),
             "seconds_forward": r.seconds_forward, "seconds_reverse": r.seconds_reverse} for r in results]
    return {"model": label, "settings": {**asdict(settings), "models": [label]}, "seed": seed,
            "fingerprint": fingerprint, "runs": runs, "meta": run_metadata(device)}


def run_bdmc(settings: BDMCSettings, entries: dict[str, dict[str, Any]], results: str | Path, sweep_seed: int,
             progress: Callable[[str], Any] | None = None) -> list[Path]:
    """Run (or find) the BDMC file of every model in ``settings``; ``entries`` maps a sweep label to
    ``{"model": catalogue name, "options": {...}}``."""
    from vaebench.registry import get_model_spec

    written = []
    for label in settings.models:
        entry = entries[label]
        seed = derived_seed(sweep_seed, "bdmc", label)
        fingerprint = settings.fingerprint(entry, seed)
        path = bdmc_path(results, label)
        if path.exists():
            try:
                if read_bdmc(path).get("fingerprint") == fingerprint:
                    written.append(path)
                    continue
            except RecordError:
                pass  # damaged: run it again
        model = get_model_spec(entry["model"]).build(**entry.get("options", {})).to(STORAGE[settings.dtype])
        payload = bdmc_payload(label, model, settings, seed, fingerprint, progress)
        written.append(write_bdmc(path, payload))
    return written
