"""from_pythae: pythae's VAE family, checked against quadrature of pythae's own decoder and against get_nll."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.integrate
import torch

import vaebench as vb

pythae = pytest.importorskip("pythae", reason="pythae is an optional extra: pip install 'vaebench[pythae]'")
from pythae.models import IWAE, VAE, VAMP, BetaVAE, BetaVAEConfig, IWAEConfig, VAEConfig, VAMPConfig  # noqa: E402


def _exact_by_quadrature(model, x: torch.Tensor) -> np.ndarray:
    """log p(x) of a 1-D latent pythae VAE: pythae's decoder and BCE under scipy's quad (independent of vaebench)."""
    out = []
    for row in x:
        def integrand(z: float) -> float:
            with torch.no_grad():
                p = model.decoder(torch.tensor([[z]], dtype=torch.float32))["reconstruction"].reshape(-1).double()
                log_lik = -torch.nn.functional.binary_cross_entropy(p, row.double(), reduction="sum")
            return float(torch.exp(log_lik + 100.0)) * np.exp(-0.5 * z * z) / np.sqrt(2 * np.pi)

        value, _ = scipy.integrate.quad(integrand, -9, 9, limit=200, epsabs=0, epsrel=1e-8)
        out.append(np.log(value) - 100.0)
    return np.array(out)


def test_ten_lines_to_a_verified_number(generator):
    torch.manual_seed(0)
    pythae_model = VAE(VAEConfig(input_dim=(1, 4, 4), latent_dim=1, reconstruction_loss="bce"))
    images = (torch.rand(5, 1, 4, 4, generator=generator) < 0.4).to(torch.uint8)
    # --- user code (README "Evaluate your own model") ---
    model = vb.adapters.from_pythae(pythae_model)
    est = vb.get_estimator("importance")(model, model.prepare(images), 20000, generator=generator)
    # ---
    exact = _exact_by_quadrature(pythae_model, images.reshape(5, -1).float())
    err = est.log_px.double().numpy() - exact
    assert (np.abs(err) < 5 * est.stderr.double().numpy() + 1e-4).all(), (err, est.stderr)


def test_agrees_with_pythae_get_nll(generator):
    """pythae's own importance-sampling estimate of the same model and points (K = 1000, its RNG)."""
    torch.manual_seed(1)
    pythae_model = VAE(VAEConfig(input_dim=(1, 6, 6), latent_dim=2, reconstruction_loss="bce"))
    images = (torch.rand(4, 1, 6, 6, generator=generator) < 0.5).float()
    model = vb.adapters.from_pythae(pythae_model)
    est = vb.get_estimator("importance")(model, model.prepare(images), 20000, generator=generator)
    torch.manual_seed(2)
    theirs = np.array([pythae_model.get_nll(images[i : i + 1], n_samples=1000, batch_size=1000) for i in range(4)])
    # get_nll's own Monte Carlo error at K = 1000 is about sqrt(20) times vaebench's at K = 20000.
    tol = 5 * np.sqrt(21) * est.stderr.double().numpy() + 1e-4
    assert (np.abs(theirs - est.log_px.double().numpy()) < tol).all()


def test_mse_convention_is_unit_variance_gaussian_with_its_constant():
    torch.manual_seed(3)
    pythae_model = BetaVAE(BetaVAEConfig(input_dim=(5,), latent_dim=2, reconstruction_loss="mse"))
    model = vb.adapters.from_pythae(pythae_model)
    z = torch.randn(3, 2, 2)
    x = torch.randn(2, 5)
    with torch.no_grad():
        mean = pythae_model.decoder(z.reshape(-1, 2))["reconstruction"].reshape(3, 2, 5)
    expected = -0.5 * ((x - mean) ** 2).sum(-1) - 2.5 * np.log(2 * np.pi)
    torch.testing.assert_close(model.log_likelihood(x, z), expected)


def test_iwae_keeps_image_shape_for_the_encoder_and_supports_to():
    model = vb.adapters.from_pythae(IWAE(IWAEConfig(input_dim=(1, 3, 3), latent_dim=2, reconstruction_loss="bce")))
    assert model.data_shape == (1, 3, 3) and model.data_dim == 9
    moved = model.to(torch.float64)
    x = moved.prepare(torch.ones(2, 1, 3, 3))
    assert x.dtype == torch.float64
    assert vb.get_estimator("ais")(moved, x, 4, num_steps=3).log_px.dtype == torch.float64


def test_unsupported_models_are_named_with_the_reason():
    with pytest.raises(TypeError, match="does not support VAMP: its prior is a VampPrior"):
        vb.adapters.from_pythae(VAMP(VAMPConfig(input_dim=(1, 4, 4), latent_dim=2)))
    with pytest.raises(TypeError, match="from_pythae"):
        vb.check_model(VAE(VAEConfig(input_dim=(4,), latent_dim=2)), torch.zeros(2, 4))
