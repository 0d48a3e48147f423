"""The VAE model contract, training with tiny budgets, and the checkpoint cache."""

from __future__ import annotations

import time

import numpy as np
import pytest
import scipy.stats as st
import torch
import torch.nn.functional as F

from vaebench import get_estimator
from vaebench.training.presets import preset_config, pretrained
from vaebench.training.trainer import CheckpointError, TrainConfig, load_checkpoint, load_or_train
from vaebench.models.vae import VAE, VAEConfig

TINY = TrainConfig("synthetic-2d", VAEConfig(64, 2, (16,)), epochs=2, batch_size=200)


def test_iwae_architecture_by_name():
    vae = VAE("iwae")
    sizes = [(m.in_features, m.out_features) for m in vae.modules() if isinstance(m, torch.nn.Linear)]
    assert sizes == [(784, 200), (200, 200), (200, 100), (50, 200), (200, 200), (200, 784)]
    assert all(isinstance(m, torch.nn.Tanh) for m in vae.encoder[1::2])
    with pytest.raises(ValueError, match="unknown architecture 'iwea'"):
        VAE("iwea")
    with pytest.raises(ValueError, match="activation must be one of"):
        VAEConfig(10, 2, activation="gelu")


def test_bernoulli_likelihood_against_a_direct_formula():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(12, 3, (8,)))
    x, z = torch.bernoulli(torch.rand(4, 12)), torch.randn(5, 4, 3)
    logits = vae.decoder(z)
    direct = (x * F.logsigmoid(logits) + (1 - x) * F.logsigmoid(-logits)).sum(-1)
    torch.testing.assert_close(vae.log_likelihood(x, z), direct)
    assert vae.log_likelihood(x, z).shape == (5, 4)


def test_gaussian_likelihood_against_scipy():
    torch.manual_seed(0)
    vae = VAE(VAEConfig(6, 2, (8,), likelihood="gaussian")).double()
    with torch.no_grad():
        vae.log_sigma.copy_(torch.linspace(-1, 0.5, 6, dtype=torch.float64))
    x, z = torch.randn(3, 6, dtype=torch.float64), torch.randn(2, 3, 2, dtype=torch.float64)
    mean = vae.decoder(z).detach().numpy()
    ref = st.norm.logpdf(x.numpy(), mean, np.exp(np.linspace(-1, 0.5, 6))).sum(-1)
    np.testing.assert_allclose(vae.log_likelihood(x, z).detach().numpy(), ref, rtol=1e-12)


def test_vae_works_with_every_estimator_in_both_dtypes():
    vae = VAE(VAEConfig(12, 3, (8,))).requires_grad_(False)
    for dtype in (torch.float32, torch.float64):
        m = vae.to(dtype)
        x = torch.bernoulli(torch.rand(4, 12, dtype=dtype))
        for name in ("prior", "importance", "elbo"):
            est = get_estimator(name)(m, x, 20, generator=torch.Generator().manual_seed(0))
            assert est.log_px.dtype == dtype and torch.isfinite(est.log_px).all()
    with pytest.raises(ValueError, match="x is torch.float32 .* the model works in torch.float64"):
        get_estimator("importance")(vae.to(torch.float64), torch.zeros(2, 12), 5)


def test_training_improves_the_elbo_and_is_seeded(tmp_path):
    model, path, payload = load_or_train(TINY, cache=tmp_path / "a", progress=False)
    history = payload["history"]
    assert len(history) == 2 and history[-1]["valid_elbo"] > history[0]["valid_elbo"] - 1.0
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


def test_presets_and_pretrained(tmp_path):
    assert preset_config("mnist-iwae50").architecture == VAEConfig(784, 50, (200, 200), "tanh", "bernoulli")
    with pytest.raises(ValueError, match="unknown preset 'mnist-2'. Did you mean 'mnist-2d'"):
        preset_config("mnist-2")
    model = pretrained("synthetic-2d", epochs=1, cache=tmp_path, progress=False)
    x = torch.zeros(3, 64)
    lp = model.log_marginal(x)
    assert lp.shape == (3,) and lp.dtype == torch.float64 and torch.isfinite(lp).all()
    start = time.perf_counter()
    pretrained("synthetic-2d", epochs=1, cache=tmp_path, progress=False)  # from the cache
    assert time.perf_counter() - start < 5


def test_cli_train(tmp_path, capsys):
    from vaebench.cli import main

    assert main(["train", "synthetic-2d", "--epochs", "1", "--cache", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint: " in out and str(tmp_path) in out
    assert main(["train", "nope", "--cache", str(tmp_path)]) == 2


@pytest.mark.parametrize("dtype", [torch.float64, torch.float32])
def test_written_out_bernoulli_likelihood_matches_torch_and_scipy(dtype):
    import numpy as np
    import scipy.stats as st
    from torch.distributions import Bernoulli, Independent

    torch.manual_seed(0)
    vae = VAE(VAEConfig(12, 3, (8,))).to(dtype)
    g = torch.Generator().manual_seed(1)
    x = (torch.rand(4, 12, generator=g) < 0.4).to(dtype)
    z = 3 * torch.randn(6, 4, 3, generator=g, dtype=dtype)  # large |logits| too
    with torch.no_grad():
        ours = vae.log_likelihood(x, z)
        logits = vae.decoder(z)
        torch_ref = Independent(Bernoulli(logits=logits), 1).log_prob(x)
    p = torch.sigmoid(logits.double()).numpy()
    scipy_ref = st.bernoulli(p).logpmf(x.double().numpy()).sum(-1)
    tol = 1e-10 if dtype == torch.float64 else 1e-4
    assert torch.allclose(ours, torch_ref, atol=tol, rtol=tol)
    assert np.allclose(ours.double().numpy(), scipy_ref, atol=1e-6, rtol=1e-6)


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


def test_sample_returns_data_with_the_latents_that_generated_it():
    """x ~ p(x | z) given the returned z: mean(x − sigmoid(decoder(z))) = 0 within 5σ (Bernoulli variance
    known given z), and the same generator seed gives the same draws."""
    vae = VAE(VAEConfig(30, 2, (16,))).double()
    x, z = vae.sample(4000, generator=torch.Generator().manual_seed(0), return_latents=True)
    assert x.shape == (4000, 30) and z.shape == (4000, 2) and set(x.unique().tolist()) <= {0.0, 1.0}
    with torch.no_grad():
        p = torch.sigmoid(vae.decoder(z))
    z_score = (x - p).sum() / torch.sqrt((p * (1 - p)).sum())
    assert abs(float(z_score)) < 5
    again = vae.sample(4000, generator=torch.Generator().manual_seed(0))
    assert torch.equal(again, x)
    with pytest.raises(ValueError, match="num must be an integer >= 1"):
        vae.sample(0)
