"""Presets: named configurations, `pretrained`, and `vaebench train`."""

from __future__ import annotations

import time

import pytest
import torch

from vaebench.models.vae import VAEConfig
from vaebench.training.presets import preset_config, pretrained

def test_presets_and_pretrained(tmp_path):
    for name in ("mnist-vae", "mnist-iwae5", "mnist-iwae50"):
        assert preset_config(name).architecture == VAEConfig(784, 50, (200, 200), "tanh", "bernoulli")
    assert (preset_config("mnist-vae").objective, preset_config("mnist-vae").num_samples) == ("elbo", 1)
    assert (preset_config("mnist-iwae5").objective, preset_config("mnist-iwae5").num_samples) == ("iwae", 5)
    assert (preset_config("mnist-iwae50").objective, preset_config("mnist-iwae50").num_samples) == ("iwae", 50)
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
