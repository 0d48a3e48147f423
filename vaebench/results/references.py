"""How far estimators are from a reference on real data, as stored in a run's ``references/``.

``benchmarks/mnist_vs_ais.py`` writes, beside an AIS reference, the per-point differences between
the reference and other estimators on the same test points (``*.vs-estimators.csv``, shipped in
``benchmarks/ground_truth/``); ``vaebench bench`` copies the shipped ones into the run's results,
and the report summarises every such file the run holds (it reads nothing outside the run).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from vaebench.results.reference_file import ReferenceIntegrityError, read_reference

__all__ = ["REFERENCES", "gap_summary", "reference_comparisons", "store_references"]

REFERENCES = "references"  # the folder of a results directory that holds its reference comparisons


def gap_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per ``below_<estimator>`` column (reference − estimate): points, mean ± SE, median, 90th percentile."""
    rows = []
    for column in [c for c in table.columns if c.startswith("below_")]:
        d = table[column].dropna().to_numpy(dtype=float)
        rows.append({"estimator": column[len("below_"):], "points": len(d), "mean_nats_below": d.mean(),
                     "se": d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan, "median": np.median(d),
                     "p90": np.quantile(d, 0.9)})
    return pd.DataFrame(rows)


def store_references(sources: Path, results: Path) -> list[Path]:
    """Copy every ``*.vs-estimators.csv`` of ``sources`` into ``results/references/`` (atomically,
    byte for byte: their checksums are verified when the report reads them)."""
    from vaebench.results.store import atomic_write_bytes

    files = sorted(Path(sources).glob("*.vs-estimators.csv")) if Path(sources).is_dir() else []
    written = []
    for path in files:
        target = Path(results) / REFERENCES / path.name
        target.parent.mkdir(exist_ok=True)
        atomic_write_bytes(target, path.read_bytes())
        written.append(target)
    return written


def reference_comparisons(folder: Path) -> list[tuple[str, dict[str, Any], pd.DataFrame | None]]:
    """(file name, header, `gap_summary`) of every ``*.vs-estimators.csv`` in ``folder`` (a run's
    ``results/references/``).

    A file that fails its checksum (`read_reference`) is listed with ``header["integrity_error"]``
    and no summary: the report says it was rejected instead of showing its numbers.
    """
    if not folder.is_dir():
        return []
    found: list[tuple[str, dict[str, Any], pd.DataFrame | None]] = []
    for path in sorted(folder.glob("*.vs-estimators.csv")):
        try:
            table, header = read_reference(path)
        except ReferenceIntegrityError as exc:
            found.append((path.name, {"integrity_error": str(exc)}, None))
            continue
        found.append((path.name, header, gap_summary(table)))
    return found
