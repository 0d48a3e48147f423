"""Built-in estimators, one per module; `BUILTINS` is the list the registry starts from."""

from vaebench.estimators import ais, annealing, elbo, hmc, importance, jackknife, prior_sampling, psis, reverse_ais, streaming

__all__ = ["BUILTINS", "ais", "annealing", "elbo", "hmc", "importance", "jackknife", "prior_sampling", "psis", "reverse_ais", "streaming"]

BUILTINS = (prior_sampling.SPEC, importance.SPEC, elbo.SPEC, jackknife.SPEC, psis.SPEC, ais.SPEC, reverse_ais.SPEC)
