"""vaebench's MNIST presets against the literature, from the shipped full-test-split references.

    python -m benchmarks.literature_table          # writes benchmarks/results/literature_table.md

Each reference file ``benchmarks/ground_truth/PRESET-test-importance-K5000.csv`` (importance
sampling with the encoder, k = 5000: the protocol of Burda et al. 2016) is read through its
checksum (`read_reference`); a preset's mean log p(x) over the points has the standard error of
the mean over points. A pair of presets on the same data is compared point by point (a paired
difference), which removes the spread between test images from the comparison; the published
differences are those of the paper's Table 1, where no standard error is given.

Published rows (as quoted in vaebench's issue 25; the IWAE paper's Table 1, one stochastic layer,
dynamically binarized MNIST: VAE -86.76, IWAE k = 5 -85.54, k = 50 -84.78; static-binarization
reproductions of the VAE about -89.8 to -89.9).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from vaebench.results.reference_file import read_reference

GROUND_TRUTH = Path("benchmarks/ground_truth")
OUT = Path("benchmarks/results/literature_table.md")

# preset -> (binarization, published value or None, where it comes from)
PUBLISHED = {
    "mnist-vae": ("static", -89.8, "static-binarization reproductions (-89.8 to -89.9)"),
    "mnist-vae-burda": ("static", -89.8, "static-binarization reproductions (-89.8 to -89.9)"),
    "mnist-vae-burda7": ("static", -89.8, "static-binarization reproductions (-89.8 to -89.9)"),
    "mnist-iwae5": ("static", None, "no static row quoted"),
    "mnist-iwae5-burda": ("static", None, "no static row quoted"),
    "dmnist-vae-burda": ("dynamic", -86.76, "Burda et al. 2016, Table 1"),
    "dmnist-vae-burda7": ("dynamic", -86.76, "Burda et al. 2016, Table 1"),
    "dmnist-iwae5-burda": ("dynamic", -85.54, "Burda et al. 2016, Table 1"),
}
# (better, baseline, published improvement or None, what the pair isolates)
PAIRS = [
    ("mnist-iwae5-burda", "mnist-vae-burda", 86.76 - 85.54,
     "the IWAE bound (K = 5) instead of the ELBO, both with the first six stages of the paper's schedule"),
    ("dmnist-iwae5-burda", "dmnist-vae-burda", 86.76 - 85.54,
     "the same on dynamic binarization, the setting of the paper's Table 1"),
    ("mnist-iwae5", "mnist-vae", 86.76 - 85.54, "the IWAE bound (K = 5) instead of the ELBO, both constant lr, 100 epochs"),
    ("mnist-vae-burda", "mnist-vae", None, "the paper's decaying learning rate (six stages) instead of a constant one"),
    ("mnist-vae-burda7", "mnist-vae-burda", None, "the schedule's seventh stage (729 epochs at 1.4e-4)"),
    ("dmnist-vae-burda7", "dmnist-vae-burda", None, "the schedule's seventh stage, dynamic binarization"),
]


def load(folder: Path) -> dict[str, tuple[pd.Series, dict[str, str]]]:
    """{preset: (log p(x) per test index, header)} of every full-split k = 5000 reference in ``folder``."""
    found = {}
    for path in sorted(folder.glob("*-test-importance-K5000.csv")):
        table, header = read_reference(path)
        found[header["preset"]] = (table.set_index("index")["log_px"], header)
    order = list(PUBLISHED)  # the table's order: static, then dynamic; unknown presets last
    return dict(sorted(found.items(), key=lambda kv: order.index(kv[0]) if kv[0] in order else len(order)))


def summary(found: dict[str, tuple[pd.Series, dict[str, str]]]) -> pd.DataFrame:
    rows = []
    for preset, (log_px, header) in found.items():
        binarization, published, source = PUBLISHED.get(preset, ("?", None, "not in the table"))
        se = log_px.std(ddof=1) / np.sqrt(len(log_px))
        rows.append({"preset": preset, "binarization": binarization, "subset": header.get("subset", "?"),
                     "points": len(log_px), "mean": log_px.mean(), "se": se, "published": published,
                     "minus_published": None if published is None else log_px.mean() - published, "source": source})
    return pd.DataFrame(rows)


def paired(found: dict[str, tuple[pd.Series, dict[str, str]]]) -> pd.DataFrame:
    rows = []
    for better, baseline, published, what in PAIRS:
        if better not in found or baseline not in found:
            continue
        a, b = found[better][0], found[baseline][0]
        common = a.index.intersection(b.index)
        d = a.loc[common] - b.loc[common]
        rows.append({"pair": f"{better} - {baseline}", "points": len(common), "difference": d.mean(),
                     "se_paired": d.std(ddof=1) / np.sqrt(len(d)), "published": published, "isolates": what})
    return pd.DataFrame(rows)


def markdown(table: pd.DataFrame, pairs: pd.DataFrame) -> str:
    def num(v, fmt="{:.2f}"):
        return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else fmt.format(v)

    def differ(v, se):
        return "—" if v is None or (isinstance(v, float) and np.isnan(v)) else f"{v:+.2f} ± {se:.2f}"

    lines = ["# vaebench's MNIST presets against the literature", "",
             "Importance sampling with the encoder, k = 5000, on the full test split (`python -m "
             "benchmarks.literature_table`, from the checksummed files in `benchmarks/ground_truth/`). ± is the "
             "standard error of the mean over test points.", "",
             "| preset | binarization | points | ours | published | ours − published | source |", "|---|---|---|---|---|---|---|"]
    for r in table.itertuples():
        lines.append(f"| `{r.preset}` | {r.binarization} | {r.points} | {r.mean:.2f} ± {r.se:.2f} | "
                     f"{num(r.published)} | {differ(r.minus_published, r.se)} | {r.source} |")
    lines += ["", "Paired over the same test points (the difference of the two estimates per point):", "",
              "| pair | points | difference | published (Table 1: dynamic, 3280 epochs) | isolates |", "|---|---|---|---|---|"]
    for r in pairs.itertuples():
        lines.append(f"| {r.pair} | {r.points} | {r.difference:+.2f} ± {r.se_paired:.2f} | "
                     f"{num(r.published, '{:+.2f}')} | {r.isolates} |")
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--ground-truth", type=Path, default=GROUND_TRUTH)
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args(argv)
    found = load(args.ground_truth)
    text = markdown(summary(found), paired(found))
    args.out.write_text(text, encoding="utf-8")
    print(text)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
