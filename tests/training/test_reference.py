"""Reference files for high-dimensional latents: contents, header provenance, CLI."""

from __future__ import annotations

import torch

from vaebench.cli import main
from vaebench.models import LinearGaussian
from vaebench.results.reference_file import read_reference, write_reference
from vaebench.training.reference import reference_log_marginal
from vaebench.testing.ztests import assert_z


def test_reference_estimate_is_within_its_stated_error():
    """On a model with exact truth, the large-K reference agrees within its own standard error
    (6 z-tests), and the ESS it reports is in [1, K]."""
    model = LinearGaussian.random(10, 3, seed=2).with_encoder("exact", scale=1.3)
    x = model.sample(6, generator=torch.Generator().manual_seed(0))
    table = reference_log_marginal(model, x, 50_000, batch_size=4)
    assert list(table["index"]) == list(range(6))
    assert_z(table["log_px"].to_numpy(), model.log_marginal(x).numpy(), table["stderr"].to_numpy(), "reference")
    assert ((table["ess"] >= 1) & (table["ess"] <= 50_000)).all()


def test_reference_file_round_trip(tmp_path):
    model = LinearGaussian.random(4, 2, seed=1)
    table = reference_log_marginal(model, model.sample(3, generator=torch.Generator().manual_seed(0)), 100)
    path = write_reference(tmp_path / "ref.csv", table, preset="none", num_samples=100)
    back, header = read_reference(path)
    assert back.equals(table) or (back - table).abs().max().max() < 1e-12
    assert header["num_samples"] == "100" and header["preset"] == "none" and "command" in header and "utc" in header


def test_cli_reference(tmp_path, capsys):
    out = tmp_path / "ref.csv"
    args = ["reference", "synthetic-2d", "--epochs", "1", "-K", "200", "--points", "5", "--out", str(out),
            "--cache", str(tmp_path), "--quiet"]
    assert main(args) == 0
    table, header = read_reference(out)
    assert len(table) == 5 and header["command"] == "vaebench " + " ".join(args) and "checkpoint" in header
    assert header["subset"].startswith("the first 5 of the ") and "of the test split (a prefix, not a random subset" in header["subset"]
    assert header["recipe"].startswith("ELBO; Adam lr 0.001, batch 100, at most 1 epochs") and "ran 1 epochs" in header["recipe"]
    assert "mean log p(x)" in capsys.readouterr().out
    whole = tmp_path / "whole.csv"
    assert main(["reference", "synthetic-2d", "--epochs", "1", "-K", "2", "--split", "valid", "--out", str(whole),
                 "--cache", str(tmp_path), "--quiet"]) == 0
    table, header = read_reference(whole)
    assert header["subset"] == f"all {len(table)} points of the valid split" and len(table) > 5


def test_untrustworthy_rows_are_counted_in_the_header(tmp_path):
    import pandas as pd

    from vaebench.results.reference_file import untrustworthy

    table = pd.DataFrame({"index": [0, 1, 2, 3], "log_px": [-1.0, -2.0, -3.0, -4.0], "stderr": [0.1] * 4,
                          "ess": [500.0, 3.0, 200.0, 50.0], "khat": [0.2, 0.3, 0.9, 0.5]})
    assert untrustworthy(table).tolist() == [False, True, True, False]
    path = write_reference(tmp_path / "ref.csv", table, command="test", untrustworthy_rows="2 of 4")
    _, header = read_reference(path)
    assert header["untrustworthy_rows"] == "2 of 4"


def test_ais_reference_within_its_error_and_bdmc_gap_in_the_header(tmp_path):
    """An AIS reference on a model with exact truth agrees within 5 of its own stderr (8 z-tests);
    the BDMC check on simulated points writes per-point bounds and the mean gap into the header."""
    from vaebench.training.reference import bdmc_check

    model = LinearGaussian.random(10, 3, seed=2).with_encoder("exact", scale=1.3)
    x = model.sample(8, generator=torch.Generator().manual_seed(0))
    table = reference_log_marginal(model, x, 64, batch_size=4, estimator="ais",
                                   options={"num_steps": 20, "leapfrog_steps": 3})
    assert_z(table["log_px"].to_numpy(), model.log_marginal(x).numpy(), table["stderr"].to_numpy(), "AIS reference")
    gaps = bdmc_check(model, 6, 8, batch_size=4, options={"num_steps": 10, "leapfrog_steps": 3})
    assert list(gaps.columns) == ["index", "lower", "upper", "gap"] and len(gaps) == 6
    assert (gaps["gap"] - (gaps["upper"] - gaps["lower"])).abs().max() < 1e-12


def test_cli_reference_with_ais_and_bdmc(tmp_path, capsys):
    out = tmp_path / "ref.csv"
    args = ["reference", "synthetic-2d", "--epochs", "1", "--estimator", "ais", "--option", "num_steps=5",
            "--option", "leapfrog_steps=2", "-K", "4", "--points", "5", "--bdmc-points", "6", "--out", str(out),
            "--cache", str(tmp_path), "--quiet"]
    assert main(args) == 0
    table, header = read_reference(out)
    assert len(table) == 5 and header["estimator"] == "ais" and "num_steps=5" in header["options"]
    assert "nats (mean ± SE over 6 points simulated" in header["bdmc_gap"]
    gaps, bdmc_header = read_reference(tmp_path / header["bdmc_file"])
    assert len(gaps) == 6 and bdmc_header["simulated_points"] == "6"


def test_bdmc_points_need_ais(tmp_path, capsys):
    args = ["reference", "synthetic-2d", "--epochs", "1", "-K", "10", "--points", "2", "--bdmc-points", "3",
            "--out", str(tmp_path / "r.csv"), "--cache", str(tmp_path), "--quiet"]
    assert main(args) == 2
    assert "bdmc_points: the BDMC gap checks an AIS reference" in capsys.readouterr().err


def test_an_edited_reference_is_rejected_and_the_report_says_so(tmp_path):
    """A shipped reference carries the sha256 of its table: +10 nats on some rows is refused, not used."""
    import pytest

    from vaebench.results.references import reference_comparisons
    from vaebench.results.reference_file import ReferenceIntegrityError

    import pandas as pd

    table = pd.DataFrame({"index": range(4), "ais": [-90.0, -91.0, -92.0, -93.0],
                          "below_importance_K1000": [1.0, 2.0, 1.5, 0.5]})
    path = write_reference(tmp_path / "m.vs-estimators.csv", table, reference="m.csv")
    assert read_reference(path)[0]["below_importance_K1000"].sum() == 5.0
    assert reference_comparisons(tmp_path)[0][2] is not None
    text = path.read_text().replace("\n2,-92.0,1.5", "\n2,-92.0,11.5")
    path.write_text(text)
    with pytest.raises(ReferenceIntegrityError, match="changed after it was written"):
        read_reference(path)
    name, header, summary = reference_comparisons(tmp_path)[0]
    assert summary is None and "changed after it was written" in header["integrity_error"]
    path.write_text("".join(line + "\n" for line in text.splitlines() if "table_sha256" not in line))
    with pytest.raises(ReferenceIntegrityError, match="no table_sha256"):
        read_reference(path)


def test_every_shipped_reference_verifies():
    from vaebench.bench.config import GROUND_TRUTH_DIR

    files = sorted(GROUND_TRUTH_DIR.glob("*.csv"))
    assert files, "the shipped references are missing"
    for path in files:
        table, header = read_reference(path)
        assert len(table) > 0 and "table_sha256" in header


def test_the_recipe_names_the_schedule_and_the_binarization():
    from vaebench.training.presets import preset_config
    from vaebench.training.reference import recipe_words

    plain = recipe_words(preset_config("mnist-vae"), {"history": [{}] * 3})
    assert plain.startswith("ELBO; Adam lr 0.001, batch 100") and "ran 3 epochs" in plain and "10^" not in plain
    dynamic = recipe_words(preset_config("dmnist-vae-burda"), {"history": []})
    assert "decayed by 10^(-1/7) per stage of 3^i epochs" in dynamic and "a fresh binarization" in dynamic
    continued = recipe_words(preset_config("mnist-vae-burda7"), {"history": [{}] * 5, "warm_start_epochs_run": 364})
    assert "epochs 365-1093 of the schedule at most (ran 5" in continued
    assert "fresh Adam state from the weights of: ELBO" in continued and continued.endswith("ran 364 epochs, seed 0")
