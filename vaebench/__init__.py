"""vaebench: benchmark and verify estimators of log p(x) for latent-variable models."""

from vaebench import adapters, data, models, ops
from vaebench.base import (
    Estimate,
    EstimatorError,
    EstimatorSpec,
    EstimatorTags,
    GroundTruth,
    LatentModel,
    Truth,
    truth_of,
)
from vaebench.contract import check_model
from vaebench.models.catalogue import ModelSpec
from vaebench.options import Option
from vaebench.version import __version__  # noqa: F401 (the package's version attribute)
from vaebench.registry import (
    PluginWarning,
    UnknownEstimatorError,
    UnknownModelError,
    get_estimator,
    get_model_spec,
    list_estimators,
    list_models,
    register,
    register_model,
    unregister,
    unregister_model,
)

__all__ = [
    "Estimate",
    "adapters",
    "EstimatorError",
    "EstimatorSpec",
    "EstimatorTags",
    "GroundTruth",
    "LatentModel",
    "ModelSpec",
    "Option",
    "Truth",
    "UnknownModelError",
    "check_model",
    "PluginWarning",
    "UnknownEstimatorError",
    "data",
    "get_estimator",
    "get_model_spec",
    "list_estimators",
    "list_models",
    "models",
    "ops",
    "register",
    "register_model",
    "truth_of",
    "unregister",
    "unregister_model",
]

