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


def test_the_schedule_presets_differ_only_where_their_names_say():
    """The -iwae5-burda presets are the -vae-burda ones with the IWAE bound; the -burda7 presets continues mnist-vae-burda's
    parents' weights through exactly the schedule's seventh stage (epochs 365-1093 at 1e-3 · 10^(-6/7))."""
    import dataclasses

    from vaebench.training.trainer import learning_rate_at

    for vae, iwae in [("mnist-vae-burda", "mnist-iwae5-burda"), ("dmnist-vae-burda", "dmnist-iwae5-burda")]:
        assert dataclasses.replace(preset_config(iwae), objective="elbo", num_samples=1) == preset_config(vae)
    for parent, child in [("mnist-vae-burda", "mnist-vae-burda7"), ("dmnist-vae-burda", "dmnist-vae-burda7")]:
        start, longer = preset_config(parent), preset_config(child)
        assert longer.warm_start == start and longer.start_epoch == start.epochs == 364
        assert longer.start_epoch + longer.epochs == sum(3**i for i in range(7))
        rates = {learning_rate_at(longer, e) for e in range(longer.start_epoch, longer.start_epoch + longer.epochs)}
        assert len(rates) == 1 and abs(rates.pop() - 1e-3 * 10 ** (-6 / 7)) < 1e-15
        assert dataclasses.replace(longer, warm_start=None, start_epoch=0, epochs=364) == start


def test_cli_train(tmp_path, capsys):
    from vaebench.cli import main

    assert main(["train", "synthetic-2d", "--epochs", "1", "--cache", str(tmp_path), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "checkpoint: " in out and str(tmp_path) in out
    assert main(["train", "nope", "--cache", str(tmp_path)]) == 2
