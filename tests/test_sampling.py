"""Generator-driven sampling: reproducible, and distributed as the distribution says (KS tests)."""

from __future__ import annotations

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
