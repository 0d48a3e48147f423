"""from_modules: plain torch modules as a LatentModel, checked against closed forms and scipy."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import scipy.stats
import torch
from torch import nn

import vaebench as vb
from vaebench.adapters import from_modules


class FlatOnlyDecoder(nn.Module):
    """A decoder that, like pythae's, accepts z of shape [N, d] only."""

    def __init__(self, d: int, D: int) -> None:
        super().__init__()
        self.linear = nn.Linear(d, D)

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        assert z.dim() == 2, "this decoder takes [N, d]"
        return self.linear(z).reshape(z.shape[0], 1, 2, -1)  # image-shaped output, as conv decoders give


def _linear_gaussian_modules(D: int = 4, d: int = 2, sigma: float = 0.5, seed: int = 0):
    torch.manual_seed(seed)
    decoder = nn.Linear(d, D).double()
    encoder = nn.Linear(D, 2 * d).double()
    W, b = decoder.weight.detach(), decoder.bias.detach()
    exact = torch.distributions.MultivariateNormal(b, W @ W.T + sigma**2 * torch.eye(D, dtype=torch.float64))
    return encoder, decoder, exact


def test_ten_lines_to_a_verified_number(generator):
    """The README snippet: a linear-Gaussian decoder (exact log p(x) in closed form) and any encoder."""
    encoder, decoder, exact = _linear_gaussian_modules()
    x = exact.sample((6,))
    # --- user code (README "Evaluate your own model") ---
    model = vb.adapters.from_modules(encoder, decoder, likelihood="gaussian", sigma=0.5, latent_dim=2)
    est = vb.get_estimator("importance")(model, model.prepare(x), 20000, generator=generator)
    # ---
    err = est.log_px - exact.log_prob(x)
    assert (err.abs() < 5 * est.stderr + 1e-6).all(), (err, est.stderr)  # 5σ per point: false alarm ~6e-7 each
    assert est.khat is not None and est.khat.shape == (6,)


def test_log_likelihood_matches_scipy_for_each_convention(generator):
    torch.manual_seed(1)
    D, d, K, B = 6, 3, 4, 5
    decoder = nn.Sequential(nn.Linear(d, 8), nn.Tanh(), nn.Linear(8, D)).double()
    z = torch.randn(K, B, d, dtype=torch.float64, generator=generator)
    x_bin = (torch.rand(B, D, generator=generator) < 0.4).double()
    out = decoder(z).detach().numpy()
    xb = x_bin.numpy()[None]
    logits_model = from_modules(None, decoder, likelihood="bernoulli-logits", latent_dim=d)
    expected = scipy.stats.bernoulli.logpmf(xb, 1 / (1 + np.exp(-out))).sum(-1)
    np.testing.assert_allclose(logits_model.log_likelihood(x_bin, z).detach().numpy(), expected, rtol=1e-10)

    probs_decoder = nn.Sequential(decoder, nn.Sigmoid())
    probs_model = from_modules(None, probs_decoder, likelihood="bernoulli-probs", latent_dim=d)
    p = 1 / (1 + np.exp(-out))
    clamped = np.where(xb == 1, np.maximum(np.log(p), -100), np.maximum(np.log1p(-p), -100)).sum(-1)
    np.testing.assert_allclose(probs_model.log_likelihood(x_bin, z).detach().numpy(), clamped, rtol=1e-10)
    soft = torch.rand(B, D, dtype=torch.float64, generator=generator)  # soft targets: torch's BCE itself
    expected = -torch.nn.functional.binary_cross_entropy(torch.sigmoid(decoder(z)), soft.expand(K, B, D),
                                                         reduction="none").sum(-1)
    torch.testing.assert_close(probs_model.log_likelihood(soft, z), expected)
    saturated = from_modules(None, nn.Sequential(decoder, nn.Hardsigmoid()), likelihood="bernoulli-probs", latent_dim=d)
    big = 50 * torch.ones(K, B, d, dtype=torch.float64)  # p = 0 or 1 exactly: each log clamped at −100
    assert torch.isfinite(saturated.log_likelihood(x_bin, big)).all()
    out_of_range = from_modules(None, decoder, likelihood="bernoulli-probs", latent_dim=d)  # logits, not probabilities
    with pytest.raises(ValueError, match="outside \\[0, 1\\].*bernoulli-logits"):
        out_of_range.log_likelihood(x_bin, 10 * z)

    x_real = torch.randn(B, D, dtype=torch.float64, generator=generator)
    sigma = torch.linspace(0.3, 1.2, D, dtype=torch.float64)
    gauss = from_modules(None, decoder, likelihood="gaussian", sigma=sigma, latent_dim=d)
    expected = scipy.stats.norm.logpdf(x_real.numpy()[None], out, sigma.numpy()).sum(-1)
    np.testing.assert_allclose(gauss.log_likelihood(x_real, z).detach().numpy(), expected, rtol=1e-10)

    custom = from_modules(None, decoder, likelihood=lambda mean, x: -((x - mean) ** 2).sum(-1), latent_dim=d)
    np.testing.assert_allclose(custom.log_likelihood(x_real, z).detach().numpy(),
                               -((x_real.numpy()[None] - out) ** 2).sum(-1), rtol=1e-10)


@pytest.mark.parametrize("form", ["mean_logvar", "mean_scale", "mean_log_scale", "stacked", "distribution"])
def test_every_encoder_output_form_gives_the_same_posterior(form):
    torch.manual_seed(2)
    mean, log_sd = torch.randn(3, 2), 0.3 * torch.randn(3, 2)

    class Encoder(nn.Module):
        def forward(self, x):
            if form == "mean_logvar":
                return mean, 2 * log_sd
            if form == "mean_scale":
                return mean, log_sd.exp()
            if form == "mean_log_scale":
                return mean, log_sd
            if form == "stacked":
                return torch.cat([mean, 2 * log_sd], -1)
            return torch.distributions.Normal(mean, log_sd.exp())

    encoder_output = "mean_logvar" if form in ("stacked",) else form
    model = from_modules(Encoder(), nn.Linear(2, 4), likelihood="bernoulli-logits", latent_dim=2,
                         encoder_output=encoder_output)
    q = model.proposal(torch.zeros(3, 4))
    assert tuple(q.batch_shape) == (3,) and tuple(q.event_shape) == (2,)
    torch.testing.assert_close(q.mean, mean)
    torch.testing.assert_close(q.variance, (2 * log_sd).exp())


def test_flat_only_decoder_and_image_shaped_uint8_data_just_work(generator):
    D, d = 6, 2
    model = from_modules(nn.Linear(D, 2 * d), FlatOnlyDecoder(d, D), likelihood="bernoulli-logits", latent_dim=d)
    images = (torch.rand(5, 1, 2, 3, generator=generator) < 0.5).to(torch.uint8)
    x = model.prepare(images)
    assert x.shape == (5, D) and x.dtype == torch.float32
    assert model.conventions["data_shape"].startswith("1x2x3")
    for name in ("prior", "importance", "elbo", "ais"):
        options = {"num_steps": 3} if name == "ais" else {}
        est = vb.get_estimator(name)(model, x, 7, generator=generator, **options)
        assert torch.isfinite(est.log_px).all()


def test_frictions_give_clear_errors():
    model = from_modules(nn.Linear(4, 4), nn.Linear(2, 4), likelihood="bernoulli-logits", latent_dim=2)
    with pytest.raises(ValueError, match=r"values in \[0, 255\].*binarize"):
        model.prepare(torch.tensor([[0, 255, 3, 1], [1, 0, 0, 0]], dtype=torch.uint8))
    with pytest.raises(ValueError, match="points of shape"):
        from_modules(nn.Linear(4, 4), nn.Linear(2, 4), likelihood="bernoulli-logits", latent_dim=2,
                     data_shape=(1, 2, 2)).prepare(torch.zeros(2, 5))
    wrong = from_modules(nn.Linear(4, 4), nn.Linear(2, 3), likelihood="bernoulli-logits", latent_dim=2)
    with pytest.raises(ValueError, match=r"decoder returned shape \[6, 3\].*K·B = 6"):
        vb.check_model(wrong, torch.zeros(2, 4))
    bad_encoder = from_modules(nn.Linear(4, 3), nn.Linear(2, 4), likelihood="bernoulli-logits", latent_dim=2)
    with pytest.raises(TypeError, match="the encoder returned Tensor of shape"):
        vb.check_model(bad_encoder, torch.zeros(2, 4))
    with pytest.raises(ValueError, match="needs sigma="):
        from_modules(None, nn.Linear(2, 4), likelihood="gaussian", latent_dim=2)
    with pytest.raises(ValueError, match="unknown likelihood 'bernoulli'"):
        from_modules(None, nn.Linear(2, 4), likelihood="bernoulli", latent_dim=2)
    with pytest.raises(TypeError, match="float32.*the model's dtype.*prepare"):
        vb.get_estimator("importance")(model, torch.zeros(2, 4, dtype=torch.uint8), 3)
    with pytest.raises(ValueError, match=r"flatten image-shaped data with x.flatten\(1\)"):
        vb.get_estimator("importance")(model, torch.zeros(2, 1, 2, 2), 3)


def test_to_moves_a_copy_and_copies_share_nothing():
    encoder, decoder = nn.Linear(4, 4), nn.Linear(2, 4)
    model = from_modules(encoder, decoder, likelihood="bernoulli-logits", latent_dim=2)
    moved = model.to(torch.float64)
    assert moved.dtype == torch.float64 and moved.prior.mean.dtype == torch.float64
    assert decoder.weight.dtype == torch.float32 and model.dtype == torch.float32
    x = torch.zeros(3, 4, dtype=torch.float64)
    assert vb.get_estimator("importance")(moved, x, 5).log_px.dtype == torch.float64
    copied = copy.deepcopy(model)
    with torch.no_grad():
        copied.modules["decoder"].weight.add_(100.0)
    z = torch.ones(2, 3, 2)
    # The copy's own decoder is used, and the original is unchanged.
    assert not torch.allclose(copied.log_likelihood(x.float(), z), model.log_likelihood(x.float(), z))
    assert decoder.weight.abs().max() < 10


def test_modules_are_put_in_eval_mode():
    decoder = nn.Sequential(nn.Linear(2, 4), nn.Dropout(0.5))
    model = from_modules(None, decoder, likelihood="bernoulli-logits", latent_dim=2)
    z = torch.randn(50, 1, 2)
    x = torch.ones(1, 4)
    torch.testing.assert_close(model.log_likelihood(x, z), model.log_likelihood(x, z))


def test_check_model_points_to_the_right_adapter():
    with pytest.raises(TypeError, match="from_pyro"):
        vb.check_model(lambda x: None, torch.zeros(2, 3))
    with pytest.raises(TypeError, match="from_modules"):
        vb.check_model(nn.Linear(3, 3), torch.zeros(2, 3))
