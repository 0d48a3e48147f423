"""Read a pytest-benchmark JSON of benchmarks/test_throughput.py and print estimator / floor ratios.

Usage: ``python -m benchmarks.ratios [RESULT.json]`` (default: the newest file under .benchmarks/).
Times are medians. ``draw`` and ``densities`` are the stages of an importance estimate timed on
their own (as fractions of the floor); ``rest`` is what importance spends beyond the floor and
those two stages: its streaming reduction and bookkeeping.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pandas as pd


def newest_result(root: Path = Path(".benchmarks")) -> Path:
    files = sorted(root.glob("*/*.json"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise SystemExit(f"no pytest-benchmark JSON under {root}/: run `nox -s microbench` first")
    return files[-1]


def load(path: Path) -> pd.DataFrame:
    """One row per timed benchmark: model, device, K, stage and the median time in seconds."""
    rows = [
        {
            **{key: b["extra_info"].get(key) for key in ("model", "device", "num_samples", "stage")},
            "median_s": b["stats"]["median"],
        }
        for b in json.loads(path.read_text())["benchmarks"]
        if b["extra_info"].get("stage") not in (None, "peak-memory")
    ]
    return pd.DataFrame(rows)


def ratio_table(results: pd.DataFrame) -> pd.DataFrame:
    """Per model, device and K: the floor's time and every stage's time divided by it."""
    wide = results.pivot_table(index=["model", "device", "num_samples"], columns="stage", values="median_s")
    table = pd.DataFrame({"floor_ms": 1e3 * wide["floor"]})
    for column in sorted(c for c in wide.columns if c.startswith("estimator:")):
        table[column.split(":", 1)[1] + "/floor"] = wide[column] / wide["floor"]
    if {"draw", "densities", "estimator:importance"} <= set(wide.columns):
        table["draw/floor"] = wide["draw"] / wide["floor"]
        table["densities/floor"] = wide["densities"] / wide["floor"]
        unavoidable = wide[["floor", "draw", "densities"]].sum(axis=1, min_count=3)
        table["rest/floor"] = (wide["estimator:importance"] - unavoidable) / wide["floor"]
    return table


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", nargs="?", type=Path, help="a pytest-benchmark JSON (default: the newest)")
    args = parser.parse_args(argv)
    path = args.result or newest_result()
    print(f"{path}\n")
    print(ratio_table(load(path)).to_markdown(floatfmt=".2f"))


if __name__ == "__main__":
    main()
