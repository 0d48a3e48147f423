"""Measured power of the conformance kit: how often each deliberately wrong estimator is rejected.

Every bug of the zoo (tests/zoo.py) is run through the check that must name it under many
independent ``random_state`` values, at the default exploration budget; the share of runs in
which that check fails is its power, printed with a 95% lower confidence bound. A bug caught only
now and then is a finding, not a success. Results go to a CSV (resumable) and a Markdown table.

    python -m benchmarks.kit_power --seeds 100 --workers 2 [--bugs NAME ...]
"""

from __future__ import annotations

import argparse
import os
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from pathlib import Path

import pandas as pd

HERE = Path(__file__).resolve().parent


def _init() -> None:
    import torch

    torch.set_num_threads(1)


def _one(bug: str, seed: int) -> dict:
    from tests.zoo import ZOO
    from vaebench.testing import check_estimator

    entry = next(b for b in ZOO if b.spec.name == bug)
    start = time.perf_counter()
    table = check_estimator(entry.spec, random_state=seed, checks=[entry.caught_by])
    verdict = table["verdict"].iloc[0]
    return {"bug": bug, "check": entry.caught_by, "seed": seed, "verdict": verdict,
            "rejected": verdict in ("fail", "error"), "statistic": table["statistic"].iloc[0],
            "seconds": time.perf_counter() - start}


def _lower95(hits: int, runs: int) -> float:
    from scipy import stats

    return 0.0 if hits == 0 else float(stats.beta.ppf(0.05, hits, runs - hits + 1))


def main() -> None:
    from tests.zoo import ZOO

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=100)
    parser.add_argument("--bugs", nargs="+", default=[b.spec.name for b in ZOO])
    parser.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 2)))
    parser.add_argument("--out", default=str(HERE / "results" / "kit_power.csv"))
    args = parser.parse_args()
    out = Path(args.out)
    done = pd.read_csv(out) if out.exists() else pd.DataFrame(columns=["bug", "seed"])
    finished = set(zip(done["bug"], done["seed"]))
    todo = [(b, s) for s in range(args.seeds) for b in args.bugs if (b, s) not in finished]
    start = time.time()
    with ProcessPoolExecutor(args.workers, initializer=_init) as pool:
        futures = [pool.submit(_one, b, s) for b, s in todo]
        for i, fut in enumerate(as_completed(futures), 1):
            pd.DataFrame([fut.result()]).to_csv(out, mode="a", header=not out.exists() or out.stat().st_size == 0,
                                                index=False)
            if i % 20 == 0 or i == len(futures):
                print(f"{i}/{len(futures)} runs in {time.time() - start:.0f} s", flush=True)
    rows = pd.read_csv(out)
    table = (rows.groupby(["bug", "check"]).agg(runs=("seed", "size"), rejected=("rejected", "sum"),
                                                 median_s=("seconds", "median")).reset_index())
    table["power"] = table["rejected"] / table["runs"]
    table["95% lower"] = [_lower95(int(h), int(n)) for h, n in zip(table["rejected"], table["runs"])]
    what = {b.spec.name: b.what for b in ZOO}
    table.insert(1, "bug is", table["bug"].map(what))
    (out.with_suffix(".md")).write_text(
        "# Measured power of the kit on the zoo of wrong estimators\n\n"
        f"`python -m benchmarks.kit_power --seeds {args.seeds}`: each bug through the check that must name it, "
        "at the default exploration budget, one run per `random_state`.\n\n"
        + table.sort_values(["power", "bug"]).to_markdown(index=False, floatfmt=".3g") + "\n")
    print(table.to_string(index=False))


if __name__ == "__main__":
    main()
