"""vaebench: benchmark and verify estimators of log p(x) for latent-variable models."""

from vaebench import data, models, ops
from vaebench.base import Estimate, EstimatorError, EstimatorSpec, EstimatorTags, GroundTruth, LatentModel, Option
from vaebench.registry import (
    PluginWarning,
    UnknownEstimatorError,
    get_estimator,
    list_estimators,
    register,
    unregister,
)

__all__ = [
    "Estimate",
    "EstimatorError",
    "EstimatorSpec",
    "EstimatorTags",
    "GroundTruth",
    "LatentModel",
    "Option",
    "PluginWarning",
    "UnknownEstimatorError",
    "data",
    "get_estimator",
    "list_estimators",
    "models",
    "ops",
    "register",
    "unregister",
]

__version__ = "0.1.0"
