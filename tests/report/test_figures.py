"""Every registered figure draws from a small sweep's tables, and draws nothing from empty ones.

The figures are taken from `vaebench.report.figures.FIGURES`, so a new figure is tested here the
moment it is registered; if it needs data this sweep lacks, extend the sweep rather than skip it.
"""

from __future__ import annotations

import pandas as pd
import pytest

from vaebench.bench import load_config, run_sweep
from vaebench.report import figures
from vaebench.report.render import figure_tables

SMALL = """
name = "figures"
seed = 5
num_points = 6
num_samples = [1, 4, 16]
replicates = 3
estimators = ["prior", "importance", "elbo", "ais-T1", "ais-T2"]
dtypes = ["float64", "float32"]
timing_repeats = 1

[[models]]
name = "ppca-3x1"
model = "ppca"
options = { data_dim = 3, latent_dim = 1, seed = 2, encoder = "exact", encoder_scale = 1.3 }

[[variants]]
name = "ais-T1"
estimator = "ais"
options = { num_steps = 1 }
num_samples = [1, 4]

[[variants]]
name = "ais-T2"
estimator = "ais"
options = { num_steps = 2, leapfrog_steps = 2 }
num_samples = [1, 4]

[bdmc]
models = ["ppca-3x1"]
steps = [1, 2]
num_chains = 2
num_points = 4
options = { leapfrog_steps = 2 }
"""

PNG = b"\x89PNG\r\n\x1a\n"


@pytest.fixture(scope="module")
def tables(tmp_path_factory):
    folder = tmp_path_factory.mktemp("figures")
    (folder / "small.toml").write_text(SMALL)
    results = folder / "results"
    run_sweep(load_config(folder / "small.toml"), results, quiet=True)
    return figure_tables(results)


def test_figure_names_are_unique_and_sources_known():
    names = [f.name for f in figures.FIGURES]
    assert len(names) == len(set(names))
    assert {f.source for f in figures.FIGURES} <= {"summary", "points", "bdmc"}


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda f: f.name)
def test_every_figure_draws_a_png(figure, tables, tmp_path):
    path = figure.draw(tables[figure.source], tmp_path / f"{figure.name}.png")
    assert path == tmp_path / f"{figure.name}.png", f"{figure.name} drew nothing from the small sweep's tables"
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 5_000
    assert figure.title and figure.caption


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda f: f.name)
def test_every_figure_draws_nothing_from_an_empty_table(figure, tables, tmp_path):
    empty = tables[figure.source].iloc[0:0]
    assert figure.draw(empty, tmp_path / "empty.png") is None
    assert not (tmp_path / "empty.png").exists()


@pytest.mark.parametrize("figure", figures.FIGURES, ids=lambda f: f.name)
def test_every_figure_survives_cells_that_all_failed(figure, tables, tmp_path):
    """A table whose numbers are all NaN (every cell of a model failed) is drawn or skipped, never an error."""
    broken = tables[figure.source].copy()
    numeric = [c for c in broken.columns if pd.api.types.is_float_dtype(broken[c])]
    broken[numeric] = float("nan")
    figure.draw(broken, tmp_path / "broken.png")
