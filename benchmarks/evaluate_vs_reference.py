"""``vaebench evaluate`` on the ELBO-trained MNIST VAE (mnist-vae) against the shipped AIS reference of the same test points.

Run the evaluation first (about 70 min on one CPU core)::

    vaebench evaluate mnist-vae --data binarized-mnist:test --points 1000 --check-points 50 \\
        --out benchmarks/results/evaluate-mnist-vae-e300
    python -m benchmarks.evaluate_vs_reference benchmarks/results/evaluate-mnist-vae-e300

It compares, point by point, every rung of the evaluation with the reference
(``benchmarks/ground_truth/mnist-vae-e300-test1000-ais-T1000-K16.csv``, verified by its checksum),
states whether the headline agrees with it within the stated errors (5 combined Monte Carlo SEs),
and writes ``benchmarks/results/evaluate_vs_reference.md``.

The AIS reference is of a 300-epoch checkpoint of this recipe (binarized-mnist-725ac96b…, not
shipped). The results on record were made with that checkpoint on 2026-12-02, when the recipe was
named mnist-iwae50; today ``vaebench evaluate mnist-vae`` loads the shipped 100-epoch checkpoint, a
different model, so a rerun needs an AIS reference of that checkpoint (``vaebench reference
mnist-vae --estimator ais ...``, about an hour per 1000 points on 2 cores). The shipped mnist-vae's
own reference is ``mnist-vae-test-importance-K5000.csv`` (all 10000 test points).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import pandas as pd

from vaebench.results.reference_file import read_reference

REFERENCE = Path("benchmarks/ground_truth/mnist-vae-e300-test1000-ais-T1000-K16.csv")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("evaluation", type=Path, help="the folder `vaebench evaluate --out` wrote")
    parser.add_argument("--reference", type=Path, default=REFERENCE)
    parser.add_argument("--out", type=Path, default=Path("benchmarks/results/evaluate_vs_reference.md"))
    args = parser.parse_args()
    reference, header = read_reference(args.reference)
    manifest = json.loads((args.evaluation / "manifest.json").read_text())
    points = pd.read_csv(args.evaluation / "points.csv")
    ref = reference.set_index("index")
    rows = []
    for rung, g in points.groupby("rung", sort=False):
        g = g.set_index("point")
        common = g.index.intersection(ref.index)
        d = g.loc[common, "log_px"] - ref.loc[common, "log_px"]
        mc = np.sqrt((g.loc[common, "stderr"].fillna(0) ** 2 + ref.loc[common, "stderr"] ** 2).sum()) / len(common)
        rows.append({"rung": rung, "points": len(common), "minus_reference": d.mean(),
                     "se_paired": d.std(ddof=1) / np.sqrt(len(d)), "mc_se_combined": mc})
    table = pd.DataFrame(rows)
    head = table.set_index("rung").loc[manifest["estimator"]]
    tolerance = 5 * max(head["se_paired"], head["mc_se_combined"])
    agrees = abs(head["minus_reference"]) <= tolerance
    text = (f"# vaebench evaluate mnist-vae (300-epoch budget) against the shipped AIS reference\n\n"
            f"Evaluation: `{args.evaluation}` (model sha256 {manifest['conventions']['model_sha256'][:16]}…, data "
            f"sha256 {manifest['conventions']['data_sha256'][:16]}…); reference: `{args.reference.name}` "
            f"(checkpoint {header.get('checkpoint')}, {header.get('options')}, K = {header.get('num_samples')}, "
            f"table sha256 verified).\n\n"
            f"Headline: {manifest['headline']}\n\n"
            f"Headline ({manifest['estimator']}) minus reference: {head['minus_reference']:+.4f} nats (paired SE "
            f"{head['se_paired']:.4f}, combined Monte Carlo SE {head['mc_se_combined']:.4f}): "
            f"**{'agrees' if agrees else 'DISAGREES'}** within 5 SE ({tolerance:.4f} nats).\n\n"
            "Every rung, per point minus the reference (mean over the points):\n\n"
            + table.to_markdown(index=False, floatfmt=".4f") + "\n")
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
