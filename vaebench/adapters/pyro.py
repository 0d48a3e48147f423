"""Pyro models in: ``from_pyro(model, guide, latent="z", obs="x")`` -> a vaebench `LatentModel`.

Pyro is an optional extra. The model is a function ``model(x)`` that samples the latent site(s)
inside a data plate and observes ``obs``; the guide ``guide(x)`` samples the same latent sites.

- The prior p(z) is read off the model's trace (conditioned on z, so nothing is drawn) and taken
  out of the data plate: a site with batch shape ``[B]`` whose rows agree becomes one
  distribution with batch shape ``[]`` (or pass ``prior=``).
- log p(x|z) conditions the model on z: the K·B latent rows are run as one plate of K·B points,
  with x repeated, and the ``obs`` site's density is summed over its event (unscaled: a
  ``subsample`` scale of the plate is not applied).
- q(z|x) is the guide's distribution at the latent site(s), traced inside
  `torch.random.fork_rng`, so that the global random stream is left untouched; vaebench then
  draws from it with its own generator.
- Several latent sites are concatenated in the order given when each is a diagonal Gaussian in
  the model and in the guide; otherwise they are refused with the reason.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import torch
from torch import Tensor
from torch.distributions import Distribution, Independent, MultivariateNormal, Normal

from vaebench.adapters.base import AdaptedModel
from vaebench.adapters.likelihoods import Likelihood

__all__ = ["from_pyro"]


def _require_pyro() -> Any:
    try:
        import pyro
    except ImportError:  # pragma: no cover - exercised where pyro is absent
        raise ImportError("from_pyro needs Pyro: pip install 'vaebench[pyro]' (pyro-ppl)") from None
    return pyro


def _trace(fn: Callable[..., Any], x: Tensor, data: dict[str, Tensor] | None = None) -> Any:
    from pyro import poutine

    if data:
        fn = poutine.condition(fn, data=data)
    return poutine.trace(fn).get_trace(x)


def _sites(trace: Any) -> dict[str, dict]:
    """The sample sites of a trace (a plate's subsample site is not one)."""
    from pyro.poutine.util import site_is_subsample

    return {name: site for name, site in trace.nodes.items()
            if site["type"] == "sample" and not site_is_subsample(site)}


def _diagonal_normal(dist: Distribution) -> tuple[Tensor, Tensor] | None:
    """(loc, scale) with the event as the last dimension, for a diagonal Gaussian; else None."""
    depth = 0
    base = dist
    while isinstance(base, Independent):
        depth += base.reinterpreted_batch_ndims
        base = base.base_dist
    if isinstance(base, Normal) and depth + len(base.event_shape) == 1:
        shape = dist.batch_shape + dist.event_shape
        return base.loc.expand(shape), base.scale.expand(shape)
    return None


def _unplate(dist: Distribution, site: str) -> Distribution:
    """The site's distribution for one data point (batch ``[]``), where every point's is the same."""
    if tuple(dist.batch_shape) == ():
        return dist
    if len(dist.batch_shape) != 1:
        raise ValueError(f"from_pyro: the prior at latent site {site!r} has batch shape {list(dist.batch_shape)}; "
                         "expected one data plate (batch [B]) with the latent as the event (use .to_event(1)), or "
                         "pass prior=")
    normal = _diagonal_normal(dist)
    if normal is not None:
        loc, scale = normal
        params = {"loc": loc, "scale": scale}
        make = lambda p: Independent(Normal(p["loc"], p["scale"], validate_args=False), 1, validate_args=False)  # noqa: E731
    elif isinstance(dist, MultivariateNormal):
        params = {"loc": dist.loc.expand(dist.batch_shape + dist.event_shape),
                  "scale_tril": dist.scale_tril.expand(dist.batch_shape + dist.event_shape + dist.event_shape)}
        make = lambda p: MultivariateNormal(p["loc"], scale_tril=p["scale_tril"], validate_args=False)  # noqa: E731
    else:
        raise ValueError(f"from_pyro: cannot take the prior at site {site!r} ({type(dist).__name__}) out of the data "
                         "plate; pass prior= a torch Distribution with event shape [d] and batch shape []")
    for name, value in params.items():
        if not torch.equal(value, value[:1].expand_as(value)):
            raise ValueError(f"from_pyro: the prior at site {site!r} differs between data points ({name}): it is "
                             "not a global p(z); pass prior= if it is one")
    return make({name: value[0] for name, value in params.items()})


class PyroModel(AdaptedModel):
    """An `AdaptedModel` of a Pyro model, traced on the first data it is given (``prepare``) when
    it was built without ``x_example``."""

    def __init__(self, build: Callable[[Tensor], AdaptedModel]) -> None:
        self._build, self._built = build, None

    def __getattr__(self, name: str) -> Any:
        if name.startswith("__") or name in ("_build", "_built"):
            raise AttributeError(name)
        if self._built is None:
            raise AttributeError(f"the Pyro model is traced on data first: call model.prepare(x) (or pass x_example= to "
                                 f"from_pyro) before using {name!r}")
        return getattr(self._built, name)

    @property
    def prior(self) -> Distribution:  # type: ignore[override]
        return self.__getattr__("prior")

    @property
    def dtype(self) -> torch.dtype:  # type: ignore[override]
        return self.__getattr__("dtype")

    @property
    def device(self) -> torch.device:  # type: ignore[override]
        return self.__getattr__("device")

    @property
    def data_dim(self) -> int | None:  # type: ignore[override]
        return self.__getattr__("data_dim")

    def proposal(self, x: Tensor) -> Distribution:
        return self.__getattr__("proposal")(x)

    def log_likelihood(self, x: Tensor, z: Tensor) -> Tensor:
        return self.__getattr__("log_likelihood")(x, z)

    def sample(self, num: int, **kwargs: Any) -> Any:
        return self.__getattr__("sample")(num, **kwargs)

    def to(self, dtype: Any = None, device: Any = None) -> Any:
        return self.__getattr__("to")(dtype, device)

    def prepare(self, x: Any) -> Tensor:
        if self._built is None:
            self._built = self._build(x if isinstance(x, Tensor) else torch.as_tensor(x))
        return self._built.prepare(x)

    def __deepcopy__(self, memo: dict) -> "PyroModel":
        return self  # Pyro functions hold their own modules: a copy would share them anyway

    def __repr__(self) -> str:
        return repr(self._built) if self._built is not None else "PyroModel(not traced yet: call prepare(x))"


def from_pyro(model: Callable[[Tensor], Any], guide: Callable[[Tensor], Any] | None, *,
              latent: str | Sequence[str] = "z", obs: str = "x", prior: Distribution | None = None,
              data_shape: tuple[int, ...] | None = None, x_example: Tensor | None = None) -> AdaptedModel:
    """A vaebench model from a Pyro model and guide.

    Parameters
    ----------
    model : callable
        ``model(x)``: samples the latent site(s) ``latent`` and observes site ``obs`` at x, inside
        a data plate.
    guide : callable or None
        ``guide(x)``: samples the latent site(s) (q(z|x)); None for no encoder.
    latent : str or sequence of str
        The latent site name(s); several are concatenated in this order.
    obs : str
        The observed site.
    prior : Distribution, optional
        p(z) with event shape ``[d]`` and batch shape ``[]``, in place of the one read off the model.
    data_shape : tuple of int, optional
        The shape one data point has in the model (default: that of ``x_example`` past its first
        dimension).
    x_example : Tensor, optional
        A few data points ``[B, D]`` (or ``[B, *data_shape]``) to trace the model on: latent sizes,
        dtype and device are read from that trace. Default: the first data given to ``prepare``.

    Returns
    -------
    AdaptedModel
        A `LatentModel`; ``.to()`` to another dtype or device is refused (build it again from the
        moved model).
    """
    _require_pyro()
    if x_example is None:
        return PyroModel(lambda x: from_pyro(model, guide, latent=latent, obs=obs, prior=prior,
                                             data_shape=data_shape, x_example=x))
    names = [latent] if isinstance(latent, str) else list(latent)
    if not names or not all(isinstance(n, str) for n in names):
        raise TypeError(f"latent must be a site name or a list of them, got {latent!r}")
    if not callable(model) or (guide is not None and not callable(guide)):
        raise TypeError("from_pyro(model, guide, x_example): model and guide must be Pyro functions (callables)")
    if not isinstance(x_example, Tensor) or x_example.dim() < 2:
        raise ValueError("x_example must be a tensor of a few data points [B, D] or [B, *data_shape]")
    shape = tuple(data_shape) if data_shape is not None else tuple(x_example.shape[1:])
    probe = x_example[:2].reshape(min(2, x_example.shape[0]), *shape)
    if not probe.is_floating_point():
        probe = probe.to(torch.get_default_dtype())

    if guide is not None:
        with torch.random.fork_rng(devices=[]):
            guide_sites = _sites(_trace(guide, probe))
        missing = [n for n in names if n not in guide_sites]
        if missing:
            raise ValueError(f"from_pyro: the guide has no sample site {missing[0]!r}; its sites: {sorted(guide_sites)}")
        values = {n: guide_sites[n]["value"] for n in names}
    else:
        if prior is None:
            raise ValueError("from_pyro without a guide needs prior= (the latent size cannot be read off a guide)")
        d = prior.event_shape[0]
        values = {names[0]: torch.zeros(probe.shape[0], d, dtype=probe.dtype, device=probe.device)}
    for n, v in values.items():
        if v.dim() != 2 or v.shape[0] != probe.shape[0]:
            raise ValueError(f"from_pyro: latent site {n!r} has value shape {list(v.shape)} for {probe.shape[0]} "
                             "points; expected [B, d_site] (a vector per data point, inside the data plate)")
    sizes = [values[n].shape[-1] for n in names]
    model_sites = _sites(_trace(model, probe, values))
    if obs not in model_sites or not model_sites[obs]["is_observed"]:
        raise ValueError(f"from_pyro: the model has no observed site {obs!r}; its sample sites: {sorted(model_sites)}")
    others = [n for n, s in model_sites.items() if n != obs and n not in names and not s["is_observed"]]
    if others:
        raise ValueError(f"from_pyro: the model has latent sites {others} besides {names}; pass latent= all of them "
                         "(they are concatenated) or marginalise them in the model")
    if prior is None:
        parts = [_unplate(model_sites[n]["fn"], n) for n in names]
        prior = parts[0] if len(parts) == 1 else _concatenate(parts, names, "prior")
    if tuple(prior.batch_shape) != () or tuple(prior.event_shape) != (sum(sizes),):
        raise ValueError(f"from_pyro: the prior has batch shape {list(prior.batch_shape)} and event shape "
                         f"{list(prior.event_shape)}; expected [] and [{sum(sizes)}] (the latent sites {names})")

    def split(z: Tensor) -> dict[str, Tensor]:
        return dict(zip(names, torch.split(z, sizes, dim=-1)))

    def encode(x: Tensor) -> Distribution:
        with torch.random.fork_rng(devices=[x.device] if x.device.type == "cuda" else []):
            sites = _sites(_trace(guide, x))
        parts = [sites[n]["fn"] for n in names]
        return parts[0] if len(parts) == 1 else _concatenate(parts, names, "guide")

    def decode(z: Tensor) -> dict[str, Tensor]:
        return {"z": z}  # the model itself runs in the likelihood, where x is at hand

    def log_prob(x_rows: Tensor, latents: dict[str, Tensor]) -> Tensor:
        site = _sites(_trace(model, x_rows.reshape(x_rows.shape[0], *shape), split(latents["z"])))[obs]
        value = site["fn"].log_prob(site["value"])
        return value.reshape(value.shape[0], -1).sum(-1) if value.dim() > 1 else value

    likelihood = Likelihood("pyro", f"the Pyro model's observed site {obs!r}: its log_prob at x given z (unscaled)",
                            log_prob, broadcasts=False)
    return AdaptedModel(modules={}, encode=encode if guide is not None else None, decode=decode,
                        likelihood=likelihood, latent_dim=sum(sizes), data_shape=shape, prior=prior,
                        source="Pyro model", rebuild=None,
                        conventions={"latent_sites": ", ".join(f"{n} ({s})" for n, s in zip(names, sizes)),
                                     "observed_site": obs})


def _concatenate(parts: list[Distribution], names: list[str], where: str) -> Distribution:
    """One diagonal Gaussian over the concatenated sites (every part a diagonal Gaussian)."""
    pairs = [_diagonal_normal(p) for p in parts]
    if any(p is None for p in pairs):
        bad = [n for n, p in zip(names, pairs) if p is None]
        raise ValueError(f"from_pyro: several latent sites are concatenated only when each is a diagonal Gaussian; in "
                         f"the {where}, site(s) {bad} are not")
    loc = torch.cat([p[0] for p in pairs], dim=-1)
    scale = torch.cat([p[1] for p in pairs], dim=-1)
    return Independent(Normal(loc, scale, validate_args=False), 1, validate_args=False)
