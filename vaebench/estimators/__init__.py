"""Built-in estimators, one per module; `BUILTINS` is the list the registry starts from."""

from vaebench.estimators import elbo, importance, prior_sampling, streaming

__all__ = ["BUILTINS", "elbo", "importance", "prior_sampling", "streaming"]

BUILTINS = (prior_sampling.SPEC, importance.SPEC, elbo.SPEC)
