"""Training: seeded, cached, and checkpoints loaded safely (weights_only, sha256, finite weights, config match)."""

from __future__ import annotations

import dataclasses

import pytest
import torch

from vaebench.models.vae import VAEConfig
from vaebench.training.trainer import CheckpointError, TrainConfig, load_checkpoint, load_or_train

TINY = TrainConfig("synthetic-2d", VAEConfig(64, 2, (16,)), epochs=2, batch_size=200)


def test_training_improves_the_elbo_and_is_seeded(tmp_path):
    model, path, payload = load_or_train(TINY, cache=tmp_path / "a", progress=False)
    history = payload["history"]
    assert len(history) == 2 and history[-1]["valid_objective"] > history[0]["valid_objective"] - 1.0
    again, _, _ = load_or_train(TINY, cache=tmp_path / "b", progress=False)  # retrained elsewhere
    for (k, v), (_, w) in zip(model.state_dict().items(), again.state_dict().items()):
        assert torch.equal(v, w), f"{k} differs between two trainings with the same seed"
    iwae, _, _ = load_or_train(TrainConfig("synthetic-2d", VAEConfig(64, 2, (16,)), objective="iwae", num_samples=5,
                                           epochs=1, batch_size=200), cache=tmp_path / "a", progress=False)
    assert iwae.latent_dim == 2


def test_checkpoints_are_cached_and_loaded_safely(tmp_path, monkeypatch):
    _, path, _ = load_or_train(TINY, cache=tmp_path, progress=False)
    assert path.parent == tmp_path and path.suffix == ".pt" and not list(tmp_path.glob(".*.tmp"))
    calls = []
    real_load = torch.load
    monkeypatch.setattr(torch, "load", lambda *a, **k: calls.append(k) or real_load(*a, **k))
    monkeypatch.setattr("vaebench.training.trainer.train", lambda *a, **k: pytest.fail("retrained a cached model"))
    model, again, _ = load_or_train(TINY, cache=tmp_path, progress=False)
    assert again == path and calls and all(k.get("weights_only") is True for k in calls)


def test_corrupted_or_mismatched_checkpoints_raise(tmp_path, monkeypatch):
    _, path, _ = load_or_train(TINY, cache=tmp_path, progress=False)
    monkeypatch.setattr("vaebench.training.trainer.train", lambda *a, **k: pytest.fail("retrained over a checkpoint"))
    good = path.read_bytes()
    path.write_bytes(good[: len(good) // 2])
    with pytest.raises(CheckpointError, match="cannot be read .* delete it to train again"):
        load_or_train(TINY, cache=tmp_path, progress=False)
    path.write_bytes(good)
    other = TrainConfig("synthetic-2d", VAEConfig(64, 2, (16,)), epochs=3, batch_size=200)
    with pytest.raises(CheckpointError, match="was trained with .* but .* was asked for"):
        load_checkpoint(path, other)


def test_flipped_weight_bytes_and_nan_weights_are_refused(tmp_path, monkeypatch):
    # Issue 11: bytes flipped inside tensor data loaded silently (torch skips the zip CRCs); NaN
    # weights loaded and failed later. Both are refused at load now, and nothing is retrained over.
    _, path, payload = load_or_train(TINY, cache=tmp_path, progress=False)
    monkeypatch.setattr("vaebench.training.trainer.train", lambda *a, **k: pytest.fail("retrained over a checkpoint"))
    good = path.read_bytes()
    weights = payload["state_dict"]["decoder.0.weight"].numpy().tobytes()
    at = good.find(weights[:64])
    assert at > 0, "the tensor data is stored uncompressed in the zip"
    flipped = bytearray(good)
    flipped[at + 10] ^= 0xFF
    path.write_bytes(bytes(flipped))
    with pytest.raises(CheckpointError, match="damaged: its weights do not match their sha256"):
        load_or_train(TINY, cache=tmp_path, progress=False)
    state = {k: v.clone() for k, v in payload["state_dict"].items()}
    state["decoder.0.weight"][0, 0] = float("nan")
    from vaebench.training.trainer import state_digest

    torch.save({**payload, "state_dict": state, "state_sha256": state_digest(state)}, path)
    with pytest.raises(CheckpointError, match="non-finite weights"):
        load_or_train(TINY, cache=tmp_path, progress=False)


def test_burda_schedule_holds_each_stage_for_three_to_the_i_epochs():
    """Stage i of Burda et al. (2016) covers 3^i epochs at 1e-3 · 10^(−i/7): built here from the stage lengths."""
    from vaebench.training.trainer import learning_rate_at

    config = TrainConfig("synthetic-2d", VAEConfig(64, 2, (16,)), schedule="burda", epochs=3280)
    expected = [1e-3 * 10 ** (-i / 7) for i in range(8) for _ in range(3**i)]
    assert len(expected) == 3280
    got = [learning_rate_at(config, e) for e in range(3280)]
    assert max(abs(a - b) / b for a, b in zip(got, expected)) < 1e-12
    constant = TrainConfig("synthetic-2d", VAEConfig(64, 2, (16,)), learning_rate=3e-4)
    assert {learning_rate_at(constant, e) for e in (0, 10, 1000)} == {3e-4}


def test_new_training_fields_keep_the_names_of_earlier_checkpoints():
    """schedule and binarization enter the cache key only away from their defaults."""
    plain = TrainConfig("binarized-mnist", VAEConfig(784, 50, (200, 200)))
    keyed = {k: v for k, v in plain.to_dict().items()
             if k not in ("schedule", "binarization", "start_epoch", "warm_start")}
    import hashlib
    import json

    from vaebench.training.trainer import CHECKPOINT_FORMAT

    body = json.dumps({"config": keyed, "data": "d", "format": CHECKPOINT_FORMAT}, sort_keys=True)
    assert plain.key("d") == hashlib.sha256(body.encode()).hexdigest()[:20]
    assert TrainConfig("binarized-mnist", VAEConfig(784, 50, (200, 200)), schedule="burda").key("d") != plain.key("d")
    continued = TrainConfig("binarized-mnist", VAEConfig(784, 50, (200, 200)), warm_start=plain, start_epoch=50)
    assert len({continued.key("d"), plain.key("d"), dataclasses.replace(continued, start_epoch=51).key("d"),
                dataclasses.replace(continued, warm_start=dataclasses.replace(plain, seed=1)).key("d")}) == 4


def test_a_warm_start_continues_from_the_parent_weights_and_never_ends_worse(tmp_path):
    """A continuation loads its parent (trained first where not cached), counts epochs and the learning rate
    from ``start_epoch``, and keeps the parent's weights when no epoch beats the parent's validation value."""
    from vaebench.training.trainer import _validation_objective, learning_rate_at

    parent = dataclasses.replace(TINY, schedule="burda", epochs=4)
    child = dataclasses.replace(parent, warm_start=parent, start_epoch=4, epochs=3)
    assert TrainConfig.from_dict(child.to_dict()) == child
    model, path, payload = load_or_train(child, cache=tmp_path, progress=False)
    parent_model, parent_path, parent_payload = load_or_train(parent, cache=tmp_path, progress=False)
    assert payload["warm_start_checkpoint"] == parent_path.name
    assert payload["warm_start_sha256"] == parent_payload["state_sha256"]
    assert [h["epoch"] for h in payload["history"]] == [5, 6, 7]
    assert [h["learning_rate"] for h in payload["history"]] == [learning_rate_at(parent, e) for e in (4, 5, 6)]
    assert payload["history"][0]["learning_rate"] < parent_payload["history"][-1]["learning_rate"]  # stage 2
    from vaebench.data import load

    valid = load("synthetic-2d", "valid")
    assert _validation_objective(model, valid, child) >= _validation_objective(parent_model, valid, child)
    # A learning rate that can only diverge: every epoch is worse, so the parent's weights come back exactly.
    wild = dataclasses.replace(child, learning_rate=50.0, epochs=2, patience=5)
    diverged, _, _ = load_or_train(wild, cache=tmp_path, progress=False)
    assert all(torch.equal(v, w) for v, w in zip(diverged.state_dict().values(), parent_model.state_dict().values()))


def test_a_warm_start_needs_a_training_configuration_of_the_same_architecture():
    with pytest.raises(ValueError, match="warm_start must have the same architecture"):
        dataclasses.replace(TINY, warm_start=TrainConfig("synthetic-2d", VAEConfig(64, 2, (32,))))
    with pytest.raises(TypeError, match="warm_start must be a TrainConfig or None"):
        dataclasses.replace(TINY, warm_start="mnist-vae")
    with pytest.raises(ValueError, match="start_epoch must be >= 0"):
        dataclasses.replace(TINY, start_epoch=-1)
    from vaebench.training.trainer import train

    with pytest.raises(ValueError, match="initial_state must be given exactly when config.warm_start is set"):
        train(dataclasses.replace(TINY, warm_start=TINY), torch.zeros(4, 64), torch.zeros(4, 64), progress=False)


def _gray(n: int, seed: int) -> torch.Tensor:
    return torch.rand(n, 64, generator=torch.Generator().manual_seed(seed))


def test_resampled_binarization_draws_a_new_binarization_each_epoch():
    """Probabilities of exactly 0 and 1 binarize to themselves, so resampling then trains the same model as the
    fixed data; probabilities in between give another model (new binary data each epoch)."""
    from vaebench.training.trainer import train

    fixed = TrainConfig("dynamic-mnist", VAEConfig(64, 2, (16,)), epochs=2, batch_size=100)
    resampled = TrainConfig("dynamic-mnist", VAEConfig(64, 2, (16,)), epochs=2, batch_size=100,
                            binarization="resampled")
    binary, valid = (_gray(300, 1) > 0.5).float(), (_gray(100, 2) > 0.5).float()
    a, _ = train(fixed, binary, valid, progress=False)
    b, _ = train(resampled, binary, valid, progress=False)
    assert all(torch.equal(v, w) for v, w in zip(a.state_dict().values(), b.state_dict().values()))
    c, _ = train(resampled, _gray(300, 1), valid, progress=False)
    assert not all(torch.equal(v, w) for v, w in zip(a.state_dict().values(), c.state_dict().values()))
    with pytest.raises(ValueError, match="pixel probabilities in \\[0, 1\\]"):
        train(resampled, _gray(300, 1) * 2, valid, progress=False)


@pytest.mark.parametrize("field, value, message", [
    ("schedule", "cosine", "schedule must be one of"),
    ("binarization", "dynamic", "binarization must be 'fixed' or 'resampled'"),
])
def test_unknown_schedule_or_binarization_is_refused(field, value, message):
    with pytest.raises(ValueError, match=message):
        TrainConfig("dynamic-mnist", VAEConfig(64, 2, (16,)), **{field: value})


def test_resampling_needs_grayscale_data():
    with pytest.raises(ValueError, match="needs grayscale data"):
        TrainConfig("binarized-mnist", VAEConfig(784, 2, (16,)), binarization="resampled")
