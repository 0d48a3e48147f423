"""`elbo`: its closed form and variance, and the analytic-KL form's needs."""

from __future__ import annotations

import pytest
import torch

from tests.estimators.test_statistics import per_point, replicated
from vaebench import get_estimator
from vaebench.testing.ztests import assert_z, mean_and_se, variance_and_se


@pytest.mark.parametrize("analytic_kl", [False, True])
def test_elbo_estimator_matches_closed_form_and_its_variance(small_model, generator, analytic_kl):
    """Monte Carlo ELBO: mean = closed-form ELBO; K·Var = Var_q[log w] in the Monte Carlo form."""
    model = small_model.with_encoder("mean-field", scale=1.2, shift=0.3)
    x, xr = replicated(model)
    k = 5
    est = get_estimator("elbo")(model, xr, k, generator=generator, analytic_kl=analytic_kl)
    values = per_point(est.log_px)
    mean, se = mean_and_se(values)
    assert_z(mean, model.elbo(x), se, f"E[ELBO estimate] (analytic_kl={analytic_kl})")
    if not analytic_kl:
        var, se_var = variance_and_se(values)
        assert_z(k * var, model.log_weight_variance(None, x), k * se_var, "K·Var[ELBO estimate]")
        # The per-estimate stderr is a consistent estimate of the same spread.
        assert_z(est.stderr.pow(2).mean() * k, model.log_weight_variance(None, x).mean(),
                 (est.stderr.pow(2) * k).std() / len(est.stderr) ** 0.5 + 1e-12, "reported stderr")


def test_analytic_kl_needs_a_registered_kl(small_model):
    x = small_model.sample(3, generator=torch.Generator().manual_seed(0))
    q = small_model.posterior(x)  # MultivariateNormal vs Independent(Normal) prior: no closed form in torch
    with pytest.raises(NotImplementedError, match="analytic_kl=True needs KL"):
        get_estimator("elbo")(small_model, x, 3, proposal=q, analytic_kl=True)


# ---------------------------------------------------------------- bad input: clear errors
