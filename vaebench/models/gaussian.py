"""Closed forms between Gaussian distributions given as torch distributions (float64)."""

from __future__ import annotations

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

__all__ = ["gaussian_moments", "as_multivariate_normal", "chi_square_gaussian"]


def gaussian_moments(dist: Distribution, dtype: torch.dtype = torch.float64) -> tuple[Tensor, Tensor]:
    """Mean ``[..., d]`` and covariance ``[..., d, d]`` of a Gaussian over a vector.

    Accepts `MultivariateNormal`, `LowRankMultivariateNormal` and ``Independent(Normal, 1)``.
    """
    if isinstance(dist, Independent) and isinstance(dist.base_dist, Normal) and dist.reinterpreted_batch_ndims == 1:
        mean = dist.base_dist.loc.to(dtype)
        var = dist.base_dist.scale.to(dtype) ** 2
        return mean.expand(dist.batch_shape + dist.event_shape), torch.diag_embed(
            var.expand(dist.batch_shape + dist.event_shape)
        )
    if isinstance(dist, MultivariateNormal) or type(dist).__name__ == "LowRankMultivariateNormal":
        return dist.mean.to(dtype), dist.covariance_matrix.to(dtype)
    raise TypeError(
        "expected a Gaussian over a vector (MultivariateNormal, LowRankMultivariateNormal or "
        f"Independent(Normal, 1)), got {type(dist).__name__}"
    )


def as_multivariate_normal(dist: Distribution, dtype: torch.dtype = torch.float64) -> MultivariateNormal:
    """The same Gaussian as a `MultivariateNormal` in ``dtype``."""
    mean, cov = gaussian_moments(dist, dtype)
    return MultivariateNormal(mean, covariance_matrix=cov)


def chi_square_gaussian(p: Distribution, q: Distribution) -> Tensor:
    """χ²(p ‖ q) = E_q[(p/q)²] − 1 for Gaussians; ``inf`` where it diverges.

    With Λ = 2 S_p⁻¹ − S_q⁻¹ (the integral is finite only when Λ is positive definite) and the
    problem translated so that m_p = 0 (the divergence is translation invariant; this avoids the
    cancellation of large quadratic terms), δ = m_q − m_p, η = −S_q⁻¹ δ:

        log E_q[(p/q)²] = ½ log|S_q| − log|S_p| − ½ log|Λ| + ½ ηᵀ Λ⁻¹ η + ½ δᵀ S_q⁻¹ δ.

    References
    ----------
    Nielsen, F., & Nock, R. (2014). On the chi square and higher-order chi distances for
    approximating f-divergences. IEEE Signal Processing Letters, 21(1), 10-13.
    """
    m_p, s_p = gaussian_moments(p)
    m_q, s_q = gaussian_moments(q)
    m_p, m_q = torch.broadcast_tensors(m_p, m_q)
    s_p, s_q = torch.broadcast_tensors(s_p, s_q)
    prec_p = torch.cholesky_inverse(torch.linalg.cholesky(s_p))
    chol_q = torch.linalg.cholesky(s_q)
    prec_q = torch.cholesky_inverse(chol_q)
    lam = 2 * prec_p - prec_q
    chol_lam, info = torch.linalg.cholesky_ex(0.5 * (lam + lam.mT))
    finite = info == 0
    # Where Λ is not positive definite use the identity so the algebra stays finite, then mask.
    eye = torch.eye(lam.shape[-1], dtype=lam.dtype, device=lam.device)
    chol_lam = torch.where(finite[..., None, None], chol_lam, eye)
    delta = (m_q - m_p).unsqueeze(-1)
    eta = -(prec_q @ delta)
    quad_eta = (eta * torch.cholesky_solve(eta, chol_lam)).sum((-2, -1))
    quad_delta = (delta * (prec_q @ delta)).sum((-2, -1))
    logdet = lambda chol: 2 * torch.log(torch.diagonal(chol, dim1=-2, dim2=-1)).sum(-1)  # noqa: E731
    log_e = (
        0.5 * logdet(chol_q)
        - torch.logdet(s_p)
        - 0.5 * logdet(chol_lam)
        + 0.5 * quad_eta
        + 0.5 * quad_delta
    )
    return torch.where(finite, torch.expm1(log_e), torch.full_like(log_e, float("inf")))
