"""Example vaebench plug-in: defensive importance sampling."""

from vaebench_defensive.estimators import SPEC, estimate

__all__ = ["SPEC", "estimate"]
