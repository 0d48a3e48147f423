"""How far estimators are from a shipped reference on real data (benchmarks/ground_truth/).

``benchmarks/mnist_vs_ais.py`` writes, beside an AIS reference, the per-point differences between
the reference and other estimators on the same test points (``*.vs-estimators.csv``); the report
summarises every such file it finds.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

__all__ = ["GROUND_TRUTH_DIR", "gap_summary", "reference_comparisons"]

GROUND_TRUTH_DIR = Path(__file__).resolve().parents[2] / "benchmarks" / "ground_truth"


def gap_summary(table: pd.DataFrame) -> pd.DataFrame:
    """Per ``below_<estimator>`` column (reference − estimate): points, mean ± SE, median, 90th percentile."""
    rows = []
    for column in [c for c in table.columns if c.startswith("below_")]:
        d = table[column].dropna().to_numpy(dtype=float)
        rows.append({"estimator": column[len("below_"):], "points": len(d), "mean_nats_below": d.mean(),
                     "se": d.std(ddof=1) / np.sqrt(len(d)) if len(d) > 1 else np.nan, "median": np.median(d),
                     "p90": np.quantile(d, 0.9)})
    return pd.DataFrame(rows)


def reference_comparisons(folder: Path = GROUND_TRUTH_DIR) -> list[tuple[str, dict[str, Any], pd.DataFrame | None]]:
    """(file name, header, `gap_summary`) of every ``*.vs-estimators.csv`` in ``folder``.

    A file that fails its checksum (`read_reference`) is listed with ``header["integrity_error"]``
    and no summary: the report says it was rejected instead of showing its numbers.
    """
    from vaebench.training.reference import ReferenceIntegrityError, read_reference

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
