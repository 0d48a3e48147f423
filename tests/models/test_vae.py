"""The VAE: the model contract, its likelihoods against torch and scipy, and sampling (training is in tests/training)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import torch
import torch.nn.functional as F

from vaebench import get_estimator
from vaebench.models.vae import VAE, VAEConfig

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
