"""Generator-driven sampling: reproducible, and distributed as the distribution says (KS tests)."""

from __future__ import annotations

import numpy as np
import pytest
import scipy.stats as st
import torch
from torch.distributions import Gamma, Independent, MultivariateNormal, Normal

from vaebench.sampling import resolve_generator, sample

# Kolmogorov-Smirnov tests have an exact null distribution; each asserts p > 1e-6 (false-alarm
# rate 1e-6 per test, seeds fixed).
P_MIN = 1e-6

DISTS = {
    "normal": lambda: Normal(torch.tensor([0.5, -2.0]), torch.tensor([2.0, 0.1])),
    "independent": lambda: Independent(Normal(torch.tensor([0.5, -2.0]), torch.tensor([2.0, 0.1])), 1),
    "mvn": lambda: MultivariateNormal(torch.tensor([0.5, -2.0]), torch.tensor([[4.0, 0.1], [0.1, 0.01]])),
    "gamma (fallback)": lambda: Gamma(torch.tensor([2.0, 0.5]), torch.tensor([1.0, 3.0])),
}


@pytest.mark.parametrize("name", list(DISTS))
def test_sample_is_reproducible_and_shaped(name):
    dist = DISTS[name]()
    a = sample(dist, (7, 3), torch.Generator().manual_seed(4))
    b = sample(dist, (7, 3), torch.Generator().manual_seed(4))
    c = sample(dist, (7, 3), torch.Generator().manual_seed(5))
    assert a.shape == (7, 3) + dist.batch_shape + dist.event_shape
    assert torch.equal(a, b) and not torch.equal(a, c)


@pytest.mark.parametrize("name", list(DISTS))
def test_sample_has_the_right_marginals(name):
    dist = DISTS[name]()
    draws = sample(dist, (20000,), torch.Generator().manual_seed(0)).numpy()
    if name == "gamma (fallback)":
        refs = [st.gamma(2.0, scale=1.0).cdf, st.gamma(0.5, scale=1 / 3.0).cdf]
    elif name == "mvn":
        refs = [st.norm(0.5, 2.0).cdf, st.norm(-2.0, 0.1).cdf]
    else:
        refs = [st.norm(0.5, 2.0).cdf, st.norm(-2.0, 0.1).cdf]
    for j, cdf in enumerate(refs):
        assert st.kstest(draws[:, j], cdf).pvalue > P_MIN


def test_mvn_sample_has_the_right_correlation():
    dist = DISTS["mvn"]()
    draws = sample(dist, (20000,), torch.Generator().manual_seed(0)).double()
    r = torch.corrcoef(draws.T)[0, 1].item()
    # Fisher z-transform: atanh(r) ~ N(atanh(ρ), 1 / (n − 3)).
    z = (torch.atanh(torch.tensor(r)) - torch.atanh(torch.tensor(0.5))) * (20000 - 3) ** 0.5
    assert abs(z) < 5


def test_sample_does_not_touch_the_global_stream():
    torch.manual_seed(0)
    expected = torch.rand(3)
    torch.manual_seed(0)
    for dist in DISTS.values():
        sample(dist(), (5,), torch.Generator().manual_seed(1))
    assert torch.equal(torch.rand(3), expected)


def test_resolve_generator():
    g = torch.Generator().manual_seed(0)
    assert resolve_generator(g, torch.device("cpu")) is g
    torch.manual_seed(3)
    a = resolve_generator(None, torch.device("cpu")).initial_seed()
    torch.manual_seed(3)
    assert resolve_generator(None, torch.device("cpu")).initial_seed() == a
    with pytest.raises(TypeError, match="generator must be a torch.Generator"):
        resolve_generator(42, torch.device("cpu"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_cpu_generator_drives_cuda_reproducibly():
    a = resolve_generator(torch.Generator().manual_seed(1), torch.device("cuda")).initial_seed()
    b = resolve_generator(torch.Generator().manual_seed(1), torch.device("cuda")).initial_seed()
    assert a == b


@pytest.mark.parametrize("family", ["diagonal", "full", "student-t"])
def test_sample_with_log_prob_matches_torch_and_scipy(family):
    # The reparameterised density log q = −½|ε|² − Σ log diag(L) − (d/2) log 2π against torch's
    # log_prob and scipy's, on random inputs; the draws are exactly those of `sample`.
    import scipy.stats as st
    from torch.distributions import Independent, MultivariateNormal, Normal, StudentT

    from vaebench.sampling import sample, sample_with_log_prob

    g = torch.Generator().manual_seed(3)
    loc = torch.randn(4, 3, generator=g, dtype=torch.float64)
    if family == "diagonal":
        q = Independent(Normal(loc, torch.rand(4, 3, generator=g, dtype=torch.float64) + 0.2), 1)
    elif family == "full":
        a = torch.randn(4, 3, 3, generator=g, dtype=torch.float64)
        q = MultivariateNormal(loc, scale_tril=torch.linalg.cholesky(a @ a.mT + 0.5 * torch.eye(3, dtype=torch.float64)))
    else:
        q = Independent(StudentT(4.0, loc, torch.ones(4, 3, dtype=torch.float64)), 1)
    z, log_q = sample_with_log_prob(q, (50,), torch.Generator().manual_seed(7))
    assert torch.equal(z, sample(q, (50,), torch.Generator().manual_seed(7)))
    assert torch.allclose(log_q, q.log_prob(z), rtol=1e-12, atol=1e-12)
    if family == "full":
        ref = [st.multivariate_normal(loc[b].numpy(), (q.scale_tril[b] @ q.scale_tril[b].T).numpy()).logpdf(z[:, b].numpy())
               for b in range(4)]
    elif family == "diagonal":
        ref = [st.norm(loc[b].numpy(), q.base_dist.scale[b].numpy()).logpdf(z[:, b].numpy()).sum(-1) for b in range(4)]
    else:
        ref = [st.t(4.0, loc[b].numpy()).logpdf(z[:, b].numpy()).sum(-1) for b in range(4)]
    assert np.allclose(np.stack(ref, 1), log_q.numpy(), rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize("family", ["independent-normal", "mvn", "mvn-broadcast-scale"])
def test_restrict_rows_keeps_the_chosen_points_of_the_batch(family):
    """The restricted distribution's mean, covariance and log density are those of the chosen rows of the whole."""
    from vaebench.sampling import restrict_rows

    g = torch.Generator().manual_seed(0)
    loc = torch.randn(6, 3, generator=g, dtype=torch.float64)
    if family == "independent-normal":
        dist = Independent(Normal(loc, torch.rand(6, 3, generator=g, dtype=torch.float64) + 0.1), 1)
    else:
        a = torch.randn(6 if family == "mvn" else 1, 3, 3, generator=g, dtype=torch.float64)
        dist = MultivariateNormal(loc, scale_tril=torch.linalg.cholesky(a @ a.mT + 0.5 * torch.eye(3)).expand(6, 3, 3))
    rows = torch.tensor([4, 1, 5])
    sub = restrict_rows(dist, rows)
    z = torch.randn(2, 6, 3, generator=g, dtype=torch.float64)
    assert sub.batch_shape == (3,) and sub.event_shape == (3,)
    assert torch.allclose(sub.mean, dist.mean[rows])
    assert torch.allclose(sub.log_prob(z[:, rows]), dist.log_prob(z)[:, rows])


def test_restrict_rows_declines_other_families():
    from vaebench.sampling import restrict_rows

    assert restrict_rows(Gamma(torch.ones(4), torch.ones(4)), torch.tensor([0, 2])) is None
    assert restrict_rows(Normal(torch.zeros(()), torch.ones(())), torch.tensor([0])) is None
