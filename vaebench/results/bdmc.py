"""Stored BDMC results: per model, forward and reverse AIS bounds per data point at each T.

One checksummed JSON file per model under ``<results>/bdmc/``, written atomically; the report
renders them as its BDMC section. The same format is what ``vaebench bdmc --out`` writes.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Any

from vaebench.results.schema import RecordError, checksum
from vaebench.results.store import atomic_write_json, safe_name

__all__ = ["BDMC_DIR", "bdmc_path", "write_bdmc", "read_bdmc", "load_bdmc_dir", "bdmc_table", "BDMC_SCHEMA"]

BDMC_DIR = "bdmc"
BDMC_SCHEMA = 1
_RUN_KEYS = ("num_steps", "lower", "upper", "truth", "truth_error", "seconds_forward", "seconds_reverse")


def bdmc_path(results: str | Path, model: str) -> Path:
    """Where the BDMC file of ``model`` lives in a results directory (the name is checked safe)."""
    return Path(results) / BDMC_DIR / f"{safe_name(model, 'model name')}.json"


def write_bdmc(path: str | Path, payload: dict[str, Any]) -> Path:
    """Seal ``payload`` (``model``, ``settings``, ``runs``, ``meta``) with its checksum and write it atomically."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**payload, "kind": "bdmc", "schema": BDMC_SCHEMA}
    body.pop("sha256", None)
    body["sha256"] = checksum(body)
    atomic_write_json(path, body)
    return path


def read_bdmc(path: str | Path) -> dict[str, Any]:
    """A BDMC file, verified: its checksum, its kind and the shape of every run; else `RecordError`."""
    path = Path(path)
    try:
        body = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as exc:
        raise RecordError(f"{path}: not a readable JSON file ({exc})") from None
    if not isinstance(body, dict) or body.get("kind") != "bdmc":
        raise RecordError(f"{path}: not a BDMC result (kind {body.get('kind') if isinstance(body, dict) else None!r})")
    if body.get("sha256") != checksum(body):
        raise RecordError(f"{path}: checksum mismatch (the file was changed or damaged after it was written)")
    runs = body.get("runs")
    if not isinstance(runs, list) or not runs:
        raise RecordError(f"{path}: 'runs' must be a non-empty list")
    for run in runs:
        if not isinstance(run, dict) or any(k not in run for k in _RUN_KEYS):
            raise RecordError(f"{path}: every run needs {list(_RUN_KEYS)}")
        if len(run["lower"]) != len(run["upper"]) or (run["truth"] is not None and len(run["truth"]) != len(run["lower"])):
            raise RecordError(f"{path}: lower, upper and truth must have one value per point")
    return body


def load_bdmc_dir(results: str | Path) -> list[dict[str, Any]]:
    """Every BDMC file of a results directory, verified, sorted by model name."""
    folder = Path(results) / BDMC_DIR
    return [read_bdmc(p) for p in sorted(folder.glob("*.json"))] if folder.is_dir() else []


def _mean_se(values: Any) -> tuple[float, float]:
    import numpy as np

    values = np.asarray(values, dtype=float)
    se = float(values.std(ddof=1) / math.sqrt(len(values))) if len(values) > 1 else math.nan
    return float(values.mean()), se


def bdmc_table(payloads: list[dict[str, Any]], n_sigma: float = 5.0) -> Any:
    """One row per model and T: the mean bounds, the mean gap (± SE over points) and its median, and
    where the truth is known each bound's mean error (± SE), ``covered`` (the share of points whose
    truth, within its stated error, lies between their bounds) and ``sandwich``: whether
    E[lower] ≤ log p(x) ≤ E[upper] holds within ``n_sigma`` standard errors plus the truth's error bound."""
    import numpy as np
    import pandas as pd

    rows = []
    for body in payloads:
        settings = body.get("settings", {})
        for run in body["runs"]:
            lower, upper = np.asarray(run["lower"], dtype=float), np.asarray(run["upper"], dtype=float)
            gap, gap_se = _mean_se(upper - lower)
            row = {"model": body["model"], "num_steps": run["num_steps"], "points": len(lower),
                   "chains": settings.get("num_chains"), "gap": gap, "gap_se": gap_se,
                   "gap_median": float(np.median(upper - lower)), "lower": float(lower.mean()),
                   "upper": float(upper.mean()), "seconds": run["seconds_forward"] + run["seconds_reverse"]}
            if run["truth"] is not None:
                truth = np.asarray(run["truth"], dtype=float)
                error = np.asarray(run["truth_error"] if run["truth_error"] is not None else 0.0, dtype=float)
                slack = float(np.max(error))
                (below, below_se), (above, above_se) = _mean_se(lower - truth), _mean_se(upper - truth)
                row.update(forward_bias=below, forward_bias_se=below_se, reverse_bias=above, reverse_bias_se=above_se,
                           covered=float(((lower <= truth + error) & (truth - error <= upper)).mean()),
                           sandwich=bool(below <= n_sigma * below_se + slack and above >= -n_sigma * above_se - slack))
            rows.append(row)
    return pd.DataFrame(rows)
