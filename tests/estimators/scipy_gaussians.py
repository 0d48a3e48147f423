"""A torch Gaussian's batch member as a scipy distribution: the independent side of the quadrature references."""

from __future__ import annotations

import numpy as np
from scipy import stats


def scipy_gaussian(dist, i: int):
    """Batch member ``i`` of a torch MultivariateNormal or Independent Normal as scipy's multivariate_normal."""
    mean = dist.mean[i].numpy()
    cov = dist.covariance_matrix[i].numpy() if hasattr(dist, "covariance_matrix") else np.diag(dist.variance[i].numpy())
    return stats.multivariate_normal(mean, cov)
