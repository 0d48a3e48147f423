"""The results layer: checksummed records, validation on read, quarantine and redo, safe names, schema versions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.bench.test_sweep import tiny_config
from vaebench.bench import load_config, run_sweep
from vaebench.results import SCHEMA_VERSION, RecordError, ResultStore, SchemaVersionError, validate_record
from vaebench.results.schema import seal
from vaebench.results.store import safe_name


@pytest.fixture(scope="module")
def finished(tmp_path_factory) -> tuple[Path, Path]:
    tmp = tmp_path_factory.mktemp("sweep")
    config = tiny_config(tmp)
    run_sweep(load_config(config), tmp / "results", quiet=True)
    return config, tmp / "results"


def _copy(src: Path, dst: Path) -> Path:
    import shutil

    shutil.copytree(src, dst)
    return dst


def test_records_carry_a_schema_version_and_a_checksum(finished):
    _, results = finished
    record = json.loads(next((results / "cells").glob("*.json")).read_text())
    assert record["schema"] == SCHEMA_VERSION and len(record["sha256"]) == 64
    assert validate_record(record) is record


@pytest.mark.parametrize("damage", [
    lambda r: {},                                             # valid JSON, no record
    lambda r: [1, 2],
    lambda r: {**r, "log_px": r["log_px"][:1]},               # a short log_px
    lambda r: {**r, "log_px": [v + 1e-9 for v in r["log_px"]]},  # a silent bit of drift: checksum
    lambda r: {**r, "ess": "many"},
], ids=["empty-object", "list", "short-log-px", "changed-values", "bad-ess"])
def test_damaged_valid_json_is_quarantined_and_redone(finished, tmp_path, damage):
    config, results = finished
    results = _copy(results, tmp_path / "results")
    victim = sorted((results / "cells").glob("*.json"))[0]
    victim.write_text(json.dumps(damage(json.loads(victim.read_text()))))
    with pytest.warns(UserWarning, match="is damaged"):
        run_sweep(load_config(config), results, quiet=True)
    assert (results / "quarantine" / f"cells__{victim.name}").exists()
    assert validate_record(json.loads(victim.read_text()))  # redone, complete and valid


def test_a_damaged_model_file_is_quarantined_and_its_cells_redone(finished, tmp_path):
    config, results = finished
    results = _copy(results, tmp_path / "results")
    model_file = next((results / "models").glob("*.json"))
    model_file.write_text("{\"truth\": 3")
    cells_before = len(list((results / "cells").glob("*.json")))
    with pytest.warns(UserWarning, match="is damaged"):
        run_sweep(load_config(config), results, quiet=True)
    assert json.loads(model_file.read_text())["truth"]
    assert len(list((results / "cells").glob("*.json"))) == cells_before  # every cell of it redone


def test_a_newer_schema_gets_a_clear_message():
    record = seal({"cell": {}, "log_px": [0.0]})
    record["schema"] = SCHEMA_VERSION + 1
    with pytest.raises(SchemaVersionError, match="schema version 3, but this vaebench reads versions 1 and 2"):
        validate_record(record)


def test_version_1_records_are_read_without_a_checksum():
    record = {"cell": {"model": "m", "estimator": "e", "num_samples": 1, "replicate": 0, "device": "cpu",
                       "dtype": "float32"}, "log_px": [-1.0], "tags": {}, "meta": {}, "seconds": 0.1}
    assert validate_record(record) is record
    with pytest.raises(RecordError, match="log_px holds NaN"):
        validate_record({**record, "log_px": [float("nan")]})


@pytest.mark.parametrize("name", ["../../../escaped", "a/b", "..", ".hidden", "", "x" * 300, "a\\b"])
def test_names_that_could_leave_the_directory_are_refused(name, tmp_path):
    with pytest.raises(ValueError, match="to be used as a file name"):
        safe_name(name)
    store = ResultStore(tmp_path / "r", "fp", {}, [])
    with pytest.raises(ValueError, match="file name"):
        store.write(name, {"cell": {"model": "m"}, "theory": {"truth": [0.0]}})
    assert not any(p.name == "escaped" for p in tmp_path.parents[0].rglob("escaped"))


def test_an_edited_truth_file_is_reported_and_not_used(finished, tmp_path):
    """Adding 5 nats to a model's stored truth moved the reported bias silently (issue 21, case 4)."""
    config, results = finished
    results = _copy(results, tmp_path / "results")
    model_file = next((results / "models").glob("*.json"))
    payload = json.loads(model_file.read_text())
    assert len(payload["sha256"]) == 64
    payload["truth"] = [v + 5.0 for v in payload["truth"]]
    model_file.write_text(json.dumps(payload))
    with pytest.warns(UserWarning, match="checksum mismatch"):
        store = ResultStore(results)
    assert (results / "quarantine" / f"models__{model_file.name}").exists() and not model_file.exists()
    assert list(store.records()) == []  # its cells are redone, not reported against the edited truth


def test_a_reader_leaves_a_running_sweeps_temporaries_alone(finished, tmp_path):
    """`vaebench report` opening a store deleted an in-flight cell of a running sweep (issue 21, case 3)."""
    import subprocess
    import sys

    _, results = finished
    results = _copy(results, tmp_path / "results")
    tmp = results / "cells" / ".m__importance__K1__r88.json.abc.tmp"
    tmp.write_text("{}")
    writer = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    try:
        (results / ".lock").write_text(str(writer.pid))
        ResultStore(results)
        assert tmp.exists()
    finally:
        writer.kill()
        writer.wait()
    ResultStore(results)  # the lock's owner is gone: its leftovers are stale
    assert not tmp.exists()


def test_a_newer_schema_record_is_refused_and_left_in_place(finished, tmp_path):
    """`vaebench report` moved such records to quarantine and the next bench recomputed them (issue 21, case 7)."""
    _, results = finished
    results = _copy(results, tmp_path / "results")
    victim = sorted((results / "cells").glob("*.json"))[0]
    record = json.loads(victim.read_text())
    record["schema"] = SCHEMA_VERSION + 1
    victim.write_text(json.dumps(record))
    with pytest.raises(SchemaVersionError, match="nothing in .* was changed"):
        ResultStore(results)
    assert victim.exists() and not (results / "quarantine").exists()


def test_written_files_follow_the_umask(tmp_path):
    import os

    from vaebench.results.store import atomic_write_bytes

    old = os.umask(0o022)
    try:
        atomic_write_bytes(tmp_path / "f", b"x")
    finally:
        os.umask(old)
    assert (tmp_path / "f").stat().st_mode & 0o777 == 0o644


def test_output_folders_say_why_they_cannot_be_made(tmp_path):
    import os

    from vaebench.results.store import make_folder

    os.symlink(tmp_path / "nowhere", tmp_path / "link")
    with pytest.raises(ValueError, match="symbolic link to .*nowhere, which does not exist"):
        make_folder(tmp_path / "link" / "results")
    (tmp_path / "file").write_text("x")
    with pytest.raises(ValueError, match="exists and is not a folder"):
        make_folder(tmp_path / "file")
    assert make_folder(tmp_path / "a" / "b").is_dir()


def test_long_model_names_are_refused_by_the_config_check():
    from vaebench.bench.config import SweepConfig

    data = {"name": "t", "seed": 0, "num_points": 2, "replicates": 1, "num_samples": [1], "estimators": ["prior"],
            "models": [{"name": "m" * 190, "model": "linear-gaussian"}]}
    with pytest.raises(ValueError, match=r"at most 64 characters.*\(190 characters\)"):
        SweepConfig.from_dict(data, source="test")
