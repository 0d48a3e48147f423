"""Built-in estimators, one per module; `BUILTINS` is the list the registry starts from."""

from vaebench.estimators import (
    ais,
    annealing,
    cubo,
    elbo,
    eubo,
    harmonic_mean,
    hmc,
    importance,
    jackknife,
    posterior_draws,
    prior_sampling,
    psis,
    renyi,
    reverse_ais,
    smc,
    streaming,
    sumo,
)

__all__ = ["BUILTINS", "ais", "annealing", "cubo", "elbo", "eubo", "harmonic_mean", "hmc", "importance", "jackknife",
           "posterior_draws", "prior_sampling", "psis", "renyi", "reverse_ais", "smc", "streaming", "sumo"]

BUILTINS = (prior_sampling.SPEC, importance.SPEC, elbo.SPEC, jackknife.SPEC, psis.SPEC, sumo.SPEC, renyi.SPEC,
            cubo.SPEC, ais.SPEC, smc.SPEC, reverse_ais.SPEC, eubo.SPEC, harmonic_mean.SPEC)
