"""Shipped checkpoints: each matches its manifest and its preset, loads safely, is used instead of training,
and an edited or missing file is refused."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from vaebench.training.presets import PRESETS, preset_config
from vaebench.training.shipped import (SHIPPED_DIR, ShippedCheckpointError, add_to_manifest, file_sha256, manifest,
                                       shipped_checkpoint)
from vaebench.training.trainer import TrainConfig, load_checkpoint, load_or_train

ENTRIES = sorted(manifest().items())


def test_presets_the_bench_uses_are_shipped():
    shipped = {entry["preset"] for _, entry in ENTRIES}
    assert {"synthetic-2d", "mnist-2d", "mnist-vae", "mnist-iwae5"} <= shipped


@pytest.mark.parametrize("name, entry", ENTRIES, ids=[name for name, _ in ENTRIES])
def test_each_shipped_checkpoint_matches_its_manifest_and_its_preset(name, entry, monkeypatch):
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    path = shipped_checkpoint(name)
    assert path == SHIPPED_DIR / name and file_sha256(path) == entry["sha256"]
    assert entry["preset"] in PRESETS and f"vaebench train {entry['preset']}" in entry["command"]
    model, payload = load_checkpoint(path, preset_config(entry["preset"]))  # weights' sha256, finite, config
    assert calls and all(k.get("weights_only") is True for k in calls)
    # compared as configurations: a checkpoint written before a field existed stores no value for it
    assert TrainConfig.from_dict(payload["config"]) == TrainConfig.from_dict(entry["config"])
    assert len(payload["history"]) == entry["epochs_run"]
    assert name.startswith(f"{preset_config(entry['preset']).data}-{payload['key']}")


def test_a_shipped_continuation_names_a_shipped_parent_with_the_weights_it_started_from():
    continued = [(name, entry) for name, entry in ENTRIES if preset_config(entry["preset"]).warm_start is not None]
    if not continued:
        pytest.skip("no continuation is shipped")
    for name, entry in continued:
        parent = entry["warm_start_checkpoint"]
        assert parent in dict(ENTRIES), f"{name} continues {parent}, which is not shipped"
        _, payload = load_checkpoint(SHIPPED_DIR / name)
        _, parent_payload = load_checkpoint(SHIPPED_DIR / parent, preset_config(entry["preset"]).warm_start)
        assert payload["warm_start_sha256"] == parent_payload["state_sha256"]
        assert entry["warm_start_epochs_run"] == len(parent_payload["history"])
        assert payload["history"][0]["epoch"] == preset_config(entry["preset"]).start_epoch + 1


def test_load_or_train_takes_the_shipped_checkpoint_instead_of_training(tmp_path, monkeypatch):
    entry = next((e for _, e in ENTRIES if e["preset"] == "synthetic-2d"), None)
    if entry is None:
        pytest.skip("synthetic-2d is not shipped")
    monkeypatch.setattr("vaebench.training.trainer.train", lambda *a, **k: pytest.fail("trained a shipped preset"))
    model, path, _ = load_or_train(preset_config("synthetic-2d"), cache=tmp_path / "empty", progress=False)
    assert path.parent == SHIPPED_DIR and not (tmp_path / "empty").exists()  # nothing written to the cache


def _copy_of_the_shipped(tmp_path):
    name, entry = next(iter(ENTRIES))
    folder = tmp_path / "checkpoints"
    folder.mkdir()
    shutil.copyfile(SHIPPED_DIR / name, folder / name)
    add_to_manifest(folder / name, {k: v for k, v in entry.items() if k not in ("sha256", "bytes")}, folder)
    return folder, name


def test_an_edited_shipped_checkpoint_is_refused(tmp_path):
    folder, name = _copy_of_the_shipped(tmp_path)
    assert shipped_checkpoint(name, folder) == folder / name
    data = bytearray((folder / name).read_bytes())
    data[len(data) // 2] ^= 0x01
    (folder / name).write_bytes(bytes(data))
    with pytest.raises(ShippedCheckpointError, match="does not match the sha256 in its manifest"):
        shipped_checkpoint(name, folder)


def test_a_missing_file_or_a_broken_manifest_is_refused_and_an_unlisted_name_is_none(tmp_path):
    folder, name = _copy_of_the_shipped(tmp_path)
    assert shipped_checkpoint("synthetic-2d-0000.pt", folder) is None
    (folder / name).unlink()
    with pytest.raises(ShippedCheckpointError, match="does not hold it"):
        shipped_checkpoint(name, folder)
    (folder / "manifest.json").write_text(json.dumps({name: {"preset": "x"}}))
    with pytest.raises(ShippedCheckpointError, match="not a manifest"):
        shipped_checkpoint(name, folder)
