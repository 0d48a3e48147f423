"""Exact ground truth for models with a 1- or 2-dimensional latent: `QuadratureGroundTruth` wraps a
model and answers log p(x), the posterior, KL(q‖p(z|x)) and χ² from the adaptive quadrature of
`vaebench.models.integrator` (float64, with a stated error bound per data point).
"""

from __future__ import annotations

import copy
import math
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution, constraints

from vaebench.models.integrator import QuadratureResult, as_float64, integrate, log_integrand, stable_cholesky, tensor_grid

__all__ = ["QuadraturePosterior", "QuadratureGroundTruth"]


class QuadraturePosterior(Distribution):
    """p(z | x) with batch shape ``[B]``: exact density, moments and sampling from the grid.

    ``log_prob`` is exact pointwise (log p(x|z) + log p(z) − log p(x), with log p(x) to the
    quadrature's stated error), so importance sampling with this proposal returns log p(x) for
    every sample. ``sample`` draws grid cells by their posterior mass and jitters uniformly
    within the cell: accurate to the grid spacing, not exact.
    """

    arg_constraints: dict = {}
    support = constraints.real_vector
    has_rsample = False

    def __init__(self, model: Any, x: Tensor, result: QuadratureResult, grid: tuple[Tensor, Tensor, Tensor]) -> None:
        self._model, self._x, self._result = model, x, result
        self._z, self._log_mass, self._spacing = grid
        super().__init__(batch_shape=x.shape[:1], event_shape=result.mean.shape[1:], validate_args=False)

    @property
    def mean(self) -> Tensor:
        return self._result.mean

    @property
    def covariance_matrix(self) -> Tensor:
        return self._result.covariance

    @property
    def variance(self) -> Tensor:
        return torch.diagonal(self._result.covariance, dim1=-2, dim2=-1)

    def log_prob(self, value: Tensor) -> Tensor:
        value = value.to(torch.float64)
        with torch.no_grad():
            joint = self._model.log_likelihood(self._x, value) + self._model.prior.log_prob(value)
        return joint - self._result.log_marginal

    def sample(self, sample_shape: torch.Size = torch.Size()) -> Tensor:
        shape = torch.Size(sample_shape)
        n = int(math.prod(shape)) if shape else 1
        idx = torch.distributions.Categorical(logits=self._log_mass.T).sample((n,))  # [n, B]
        z = self._z[idx, torch.arange(self._z.shape[1])]  # [n, B, d]
        jitter = (torch.rand(z.shape, dtype=z.dtype) - 0.5) * self._spacing[None, :, :]
        return (z + jitter).reshape(*shape, *z.shape[1:]) if shape else (z + jitter)[0]


class QuadratureGroundTruth:
    """A model with a 1-2 dimensional latent, given exact ground truth by quadrature.

    Delegates the model contract (prior, log_likelihood, proposal, ...) to the wrapped model and
    adds ``log_marginal``, ``posterior``, ``kl_to_posterior``, ``chi_square``, ``elbo`` and
    ``integrate`` (with error bounds).
    """

    def __init__(self, model: Any, tol: float = 1e-4, dataset: str | None = None) -> None:
        self.model, self.tol, self.dataset = model, tol, dataset
        self._cache: dict[tuple, tuple[Tensor, Any, QuadratureResult]] = {}

    def __getattr__(self, name: str) -> Any:
        inner = self.__dict__.get("model")
        if inner is None:  # not initialised yet (copy and pickle build the object before its __dict__)
            raise AttributeError(name)
        return getattr(inner, name)

    def __deepcopy__(self, memo: dict) -> "QuadratureGroundTruth":
        """A copy whose wrapped model shares no storage with this one; the memo of quadrature results
        (the truth of the original parameters, computed by the bench) is shared."""
        import copy

        twin = QuadratureGroundTruth(copy.deepcopy(self.model, memo), self.tol, self.dataset)
        twin._cache = self._cache
        return twin

    # Conversions keep the wrapper (and its truth): delegating them would return the bare model.
    def double(self) -> "QuadratureGroundTruth":
        return self.to(torch.float64)

    def float(self) -> "QuadratureGroundTruth":
        return self.to(torch.float32)

    def cuda(self, device: Any = None) -> "QuadratureGroundTruth":
        return self.to(device=torch.device("cuda") if device is None else torch.device("cuda", device)
                       if isinstance(device, int) else device)

    def cpu(self) -> "QuadratureGroundTruth":
        return self.to(device="cpu")

    @property
    def prior(self) -> Distribution:
        return self.model.prior

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return self.model.log_likelihood(x, z)

    def to(self, dtype: Any = None, device: Any = None) -> "QuadratureGroundTruth":
        """The same wrapper around the model converted as `torch.nn.Module.to` would."""
        if isinstance(dtype, (str, torch.device)):
            dtype, device = None, dtype
        model = copy.deepcopy(self.model) if isinstance(self.model, torch.nn.Module) else self.model
        if isinstance(model, torch.nn.Module):
            model = model.to(device=device, dtype=dtype)
        else:
            model = model.to(dtype, device)
        return QuadratureGroundTruth(model, self.tol, self.dataset)

    def evaluation_data(self, num_points: int, split: str = "test") -> Tensor | None:
        """The first ``num_points`` of the data set the model was trained on (None without one)."""
        if self.dataset is None:
            return None
        from vaebench.data import load

        return load(self.dataset, split)[:num_points]

    def integrate(self, x: Tensor, q: Distribution | None = None) -> QuadratureResult:
        return integrate(self.model, x, q, tol=self.tol)

    def _with_encoder(self, x: Tensor, q: Distribution | None) -> QuadratureResult:
        """One quadrature per (x, q), reused by the protocol's methods (a handful kept)."""
        key = (id(x), x._version, id(q))
        if key not in self._cache:
            if len(self._cache) >= 4:
                self._cache.pop(next(iter(self._cache)))
            # x and q are held with the result, so their ids cannot be reused while it is cached.
            self._cache[key] = (x, q, integrate(self.model, x, q if q is not None else self._encoder(x), tol=self.tol))
        return self._cache[key][2]

    def log_marginal(self, x: Tensor) -> Tensor:
        """log p(x) by quadrature, float64 ``[B]`` (error below ``tol`` unless reported otherwise)."""
        return self._with_encoder(x, None).log_marginal

    def log_marginal_error(self, x: Tensor) -> Tensor:
        """The quadrature's error bound on log p(x), in nats, ``[B]``."""
        return self._with_encoder(x, None).error

    def log_weight_variance(self, q: Distribution | None, x: Tensor) -> Tensor | None:
        """Var_q[log w] by quadrature (default q: the encoder)."""
        return self._with_encoder(x, q).log_weight_variance

    def posterior(self, x: Tensor) -> QuadraturePosterior:
        res = integrate(self.model, x, tol=self.tol)
        m64 = as_float64(self.model)
        x64 = x.detach().double()
        # The grid of the result, rebuilt to sample from (posterior mass per cell).
        L = stable_cholesky(res.covariance, 1e-12 * torch.diagonal(res.covariance, dim1=-2, dim2=-1).mean(-1))
        d = res.mean.shape[1]
        u, logw = tensor_grid(65 if d == 2 else 1025, d, 7.0)
        z, logf = log_integrand(m64, x64, u, res.mean, L)
        spacing = (L @ torch.full((d,), 14.0 / 64 if d == 2 else 14.0 / 1024, dtype=torch.float64)).abs()
        return QuadraturePosterior(m64, x64, res, (z, logf + logw[:, None], spacing.expand(x.shape[0], d)))

    def kl_to_posterior(self, q: Distribution | None, x: Tensor) -> Tensor:
        """KL(q ‖ p(z|x)) by quadrature (default q: the encoder)."""
        return self._with_encoder(x, q).kl

    def chi_square(self, q: Distribution | None, x: Tensor) -> Tensor:
        """χ²(p(z|x) ‖ q) by quadrature (default q: the encoder)."""
        return self._with_encoder(x, q).chi_square

    def elbo(self, x: Tensor, q: Distribution | None = None) -> Tensor:
        """ELBO(q) = log p(x) − KL(q ‖ p(z|x)), both by quadrature."""
        res = self._with_encoder(x, q)
        return res.log_marginal - res.kl

    def _encoder(self, x: Tensor) -> Distribution:
        with torch.no_grad():
            return as_float64(self.model).proposal(x.detach().double())

    def __repr__(self) -> str:
        return f"QuadratureGroundTruth({self.model!r}, tol={self.tol})"
