"""Training VAEs, and a cache of trained checkpoints keyed by a hash of their full configuration.

Checkpoints hold only tensors and plain data and are loaded with ``torch.load(...,
weights_only=True)``: a cached file is never unpickled as code. They are written atomically
(temporary file, then rename). A checkpoint whose stored configuration differs from the one
asked for, or that cannot be read, raises `CheckpointError`; it is never silently retrained over.
"""

from __future__ import annotations

import copy
import hashlib
import json
import math
import os
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch

from vaebench.models.vae import VAE, VAEConfig
from vaebench.training.shipped import shipped_checkpoint

__all__ = ["TrainConfig", "CheckpointError", "cache_dir", "train", "load_or_train", "load_checkpoint", "training_objective"]

# 2: the payload carries the sha256 of its weights (torch's loader does not check the zip's CRCs, so
# flipped bytes inside tensor data would otherwise load silently).
CHECKPOINT_FORMAT = 2


SCHEDULES = ("constant", "burda")
RESAMPLABLE = ("dynamic-mnist",)
_LATER_FIELDS = {"schedule": "constant", "binarization": "fixed", "start_epoch": 0, "warm_start": None}


def learning_rate_at(config: "TrainConfig", epoch: int) -> float:
    """The learning rate of epoch ``epoch`` (0-based) under ``config.schedule``.

    ``burda``: stage i covers epochs [(3^i - 1)/2, (3^(i+1) - 1)/2) at ``learning_rate * 10**(-i/7)``.
    """
    if epoch < 0:
        raise ValueError(f"epoch must be >= 0, got {epoch}")
    if config.schedule == "constant":
        return config.learning_rate
    stage = 0
    while (3 ** (stage + 1) - 1) // 2 <= epoch:
        stage += 1
    return config.learning_rate * 10 ** (-stage / 7)


class CheckpointError(RuntimeError):
    """A cached checkpoint is damaged or was made for another configuration."""


@dataclass(frozen=True)
class TrainConfig:
    """Everything that determines a trained model (the cache key is a hash of it).

    Attributes
    ----------
    data : str
        A data set name from `vaebench.data.DATASETS`.
    architecture : VAEConfig
    objective : {"elbo", "iwae"}
        The ELBO, or the IWAE bound with ``num_samples`` importance samples.
    num_samples : int
        K of the objective.
    epochs : int
        Maximum number of passes over the training set.
    batch_size, learning_rate, seed : as named (Adam).
    patience : int
        Early stopping: stop after this many epochs without a better validation value of the objective.
    schedule : {"constant", "burda"}
        The learning rate: constant, or the schedule of Burda et al. (2016, §5): stage i = 0, 1, ...
        lasts 3^i epochs at ``learning_rate * 10**(-i/7)`` (eight stages, 3280 epochs, in the paper;
        ``epochs`` truncates it, e.g. 364 epochs = the first six stages).
    binarization : {"fixed", "resampled"}
        ``resampled`` (``dynamic-mnist`` only) draws a new Bernoulli binarization of the grayscale
        training images at every epoch, the dynamic binarization of the IWAE paper; ``fixed`` trains
        on the one binarization the data set loads. Validation always uses the data set's fixed one.
    warm_start : TrainConfig or None
        Start from the weights this other configuration trains to (loaded or trained first) instead of
        a fresh initialisation, with a fresh Adam state: how a schedule is extended past a shipped
        checkpoint. Early stopping starts from the warm start's validation value, so a continuation
        that never improves returns those weights unchanged.
    start_epoch : int
        The epoch of the schedule the first epoch of this training is (``learning_rate_at`` counts
        from it): a warm start at ``start_epoch=364`` with ``schedule="burda"`` runs stage 6 onwards.

    References
    ----------
    Burda, Y., Grosse, R., & Salakhutdinov, R. (2016). Importance weighted autoencoders. ICLR.
    """

    data: str
    architecture: VAEConfig
    objective: str = "elbo"
    num_samples: int = 1
    epochs: int = 50
    batch_size: int = 100
    learning_rate: float = 1e-3
    seed: int = 0
    patience: int = 10
    schedule: str = "constant"
    binarization: str = "fixed"
    start_epoch: int = 0
    warm_start: "TrainConfig | None" = None

    def __post_init__(self) -> None:
        if self.objective not in ("elbo", "iwae"):
            raise ValueError(f"objective must be 'elbo' or 'iwae', got {self.objective!r}")
        if self.schedule not in SCHEDULES:
            raise ValueError(f"schedule must be one of {SCHEDULES}, got {self.schedule!r}")
        if self.binarization not in ("fixed", "resampled"):
            raise ValueError(f"binarization must be 'fixed' or 'resampled', got {self.binarization!r}")
        if self.binarization == "resampled" and self.data not in RESAMPLABLE:
            raise ValueError(f"binarization='resampled' needs grayscale data ({', '.join(RESAMPLABLE)}), "
                             f"got data={self.data!r}")
        for key in ("num_samples", "epochs", "batch_size", "patience"):
            if getattr(self, key) < 1:
                raise ValueError(f"{key} must be >= 1, got {getattr(self, key)}")
        if self.start_epoch < 0:
            raise ValueError(f"start_epoch must be >= 0, got {self.start_epoch}")
        if self.warm_start is not None:
            if not isinstance(self.warm_start, TrainConfig):
                raise TypeError(f"warm_start must be a TrainConfig or None, got {type(self.warm_start).__name__}")
            if self.warm_start.architecture != self.architecture:
                raise ValueError(f"warm_start must have the same architecture: {self.warm_start.architecture} "
                                 f"differs from {self.architecture}")

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "architecture": self.architecture.to_dict(),
                "warm_start": None if self.warm_start is None else self.warm_start.to_dict()}

    def _keyed_dict(self) -> dict[str, Any]:
        # Fields added after checkpoints were shipped enter the key only when they differ from their
        # default, so the configurations trained before them keep their names.
        config = {k: v for k, v in self.to_dict().items() if k not in _LATER_FIELDS or v != _LATER_FIELDS[k]}
        if self.warm_start is not None:
            config["warm_start"] = self.warm_start._keyed_dict()
        return config

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        parent = data.get("warm_start")
        return cls(**{**data, "architecture": VAEConfig(**data["architecture"]),
                      "warm_start": None if parent is None else cls.from_dict(parent)})

    def key(self, data_fingerprint: str) -> str:
        config = self._keyed_dict()
        body = json.dumps({"config": config, "data": data_fingerprint, "format": CHECKPOINT_FORMAT},
                          sort_keys=True)
        return hashlib.sha256(body.encode()).hexdigest()[:20]


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """``path``, else ``$VAEBENCH_CACHE``, else ``$XDG_CACHE_HOME/vaebench`` (~/.cache/vaebench)."""
    if path is not None:
        return Path(path)
    if os.environ.get("VAEBENCH_CACHE"):
        return Path(os.environ["VAEBENCH_CACHE"])
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "vaebench"


def _fingerprint(*tensors: torch.Tensor) -> str:
    h = hashlib.sha256()
    for t in tensors:
        h.update(str(tuple(t.shape)).encode())
        h.update(t.to(torch.uint8 if bool(((t == 0) | (t == 1)).all()) else t.dtype).cpu().numpy().tobytes())
    return h.hexdigest()[:20]


def training_objective(model: VAE, x: torch.Tensor, config: TrainConfig, generator: torch.Generator) -> torch.Tensor:
    """The mean over ``x`` of the bound being trained: the ELBO, or the IWAE bound with K = ``num_samples``
    (Burda et al., 2016), one Monte Carlo draw of each from ``generator``."""
    from vaebench.estimators import elbo, importance

    estimator = importance if config.objective == "iwae" else elbo
    return estimator.estimate(model, x, config.num_samples, generator=generator, keep_log_weights=False).log_px.mean()


@torch.no_grad()
def _validation_objective(model: VAE, x: torch.Tensor, config: TrainConfig) -> float:
    """The training objective on the validation set under a fixed stream: early stopping watches the
    bound being optimised (an IWAE-trained model's ELBO can fall while its IWAE bound rises)."""
    g = torch.Generator(device=x.device).manual_seed(config.seed + 3)
    chunk = max(1, 20000 // config.num_samples)
    return sum(training_objective(model, part, config, g).item() * part.shape[0] for part in x.split(chunk)) / x.shape[0]


def train(
    config: TrainConfig,
    train_x: torch.Tensor,
    valid_x: torch.Tensor,
    *,
    device: str | torch.device = "cpu",
    progress: bool = True,
    label: str | None = None,
    initial_state: dict[str, torch.Tensor] | None = None,
) -> tuple[VAE, list[dict[str, float]]]:
    """Train a VAE with Adam; keep the parameters with the best validation value of the training
    objective (``label`` names the model in progress lines).

    ``initial_state`` (the weights of ``config.warm_start``) replaces the fresh initialisation and
    sets the value early stopping must beat. History epochs count from ``config.start_epoch``.

    With ``config.binarization == "resampled"`` ``train_x`` holds the grayscale probabilities each
    epoch binarizes afresh. Returns the trained model (float32, on ``device``) and the per-epoch
    history (train objective, validation objective, learning rate, seconds).
    """
    if config.binarization == "resampled" and not bool(((train_x >= 0) & (train_x <= 1)).all()):
        raise ValueError("train_x must hold pixel probabilities in [0, 1] when binarization='resampled'")
    if (initial_state is None) != (config.warm_start is None):
        raise ValueError("initial_state must be given exactly when config.warm_start is set")
    torch.manual_seed(config.seed)  # parameter initialisation
    model = VAE(config.architecture).to(device)
    if initial_state is not None:
        model.load_state_dict(initial_state)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.learning_rate)
    # A continuation draws other shuffles and binarizations than the epochs it follows.
    stream = config.seed + 7919 * config.start_epoch
    g_shuffle = torch.Generator().manual_seed(stream + 1)
    g_sample = torch.Generator(device=device).manual_seed(stream + 2)
    train_x, valid_x = train_x.to(device), valid_x.to(device)
    g_binarize = torch.Generator(device=device).manual_seed(stream + 4)
    best = -math.inf if initial_state is None else _validation_objective(model.eval(), valid_x, config)
    best_state, stale, history = copy.deepcopy(model.state_dict()), 0, []
    bar = None
    label = label or f"{config.data} {config.architecture.data_dim}-{config.architecture.latent_dim}"
    if progress and sys.stderr.isatty():  # a bar on a terminal; one line per epoch otherwise
        from tqdm.auto import tqdm

        bar = tqdm(total=config.epochs, desc=f"train {label}", unit="epoch")
    for epoch in range(config.start_epoch, config.start_epoch + config.epochs):
        start, total = time.perf_counter(), 0.0
        for group in optimizer.param_groups:
            group["lr"] = learning_rate_at(config, epoch)
        # dynamic binarization: ``train_x`` holds grayscale probabilities, binarized afresh each epoch
        epoch_x = torch.bernoulli(train_x, generator=g_binarize) if config.binarization == "resampled" else train_x
        model.train()
        for idx in torch.randperm(train_x.shape[0], generator=g_shuffle).split(config.batch_size):
            loss = -training_objective(model, epoch_x[idx.to(device)], config, g_sample)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            total -= loss.item() * len(idx)
        model.eval()
        valid = _validation_objective(model, valid_x, config)
        history.append({"epoch": epoch + 1, "train_objective": total / train_x.shape[0], "valid_objective": valid,
                        "learning_rate": learning_rate_at(config, epoch), "seconds": time.perf_counter() - start})
        if bar is not None:
            bar.set_postfix(train=f"{history[-1]['train_objective']:.2f}", valid=f"{valid:.2f}")
            bar.update(1)
        elif progress:
            print(f"[train {label}] epoch {epoch + 1}/{config.start_epoch + config.epochs}: objective "
                  f"{history[-1]['train_objective']:.3f}, valid {valid:.3f}", file=sys.stderr, flush=True)
        if valid > best:
            best, best_state, stale = valid, copy.deepcopy(model.state_dict()), 0
        else:
            stale += 1
            if stale >= config.patience:
                break
    if bar is not None:
        bar.close()
    model.load_state_dict(best_state)
    return model.eval(), history


def _save(path: Path, payload: dict[str, Any]) -> None:
    """Write a checkpoint atomically. It is serialised in memory first: torch's zip writer reports a
    full disk as "unexpected pos ...", where a plain write raises OSError(ENOSPC), which says so."""
    import io

    from vaebench.results.store import atomic_write_bytes

    buffer = io.BytesIO()
    torch.save(payload, buffer)
    path.parent.mkdir(parents=True, exist_ok=True)
    atomic_write_bytes(path, buffer.getvalue())


def check_cache_writable(folder: Path) -> None:
    """Refuse, before any training, a checkpoint cache the result could not be written to."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        fd, probe = tempfile.mkstemp(dir=folder, prefix=".write-test.", suffix=".tmp")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(f"the checkpoint cache {folder} is not writable ({exc.strerror or exc}); choose another "
                              "with --cache DIR or $VAEBENCH_CACHE before training") from None


def state_digest(state: dict[str, torch.Tensor]) -> str:
    """sha256 of a state dict: every tensor's name, dtype, shape and bytes, in name order."""
    h = hashlib.sha256()
    for name in sorted(state):
        t = state[name].detach().cpu().contiguous()
        h.update(f"{name}|{t.dtype}|{tuple(t.shape)}|".encode())
        h.update(t.view(torch.uint8).numpy().tobytes() if t.numel() else b"")
    return h.hexdigest()


def load_checkpoint(path: str | os.PathLike, expected: TrainConfig | None = None,
                    device: str | torch.device = "cpu") -> tuple[VAE, dict[str, Any]]:
    """Load a checkpoint safely (``weights_only=True``, so nothing is unpickled), verify the sha256 of its
    weights and that they are finite, and check it against ``expected``."""
    path = Path(path)
    try:
        payload = torch.load(path, map_location=device, weights_only=True)
        config = TrainConfig.from_dict(payload["config"])
        state = payload["state_dict"]
    except Exception as exc:
        raise CheckpointError(f"checkpoint {path} cannot be read ({type(exc).__name__}: {exc}); "
                              "delete it to train again") from None
    digest = payload.get("state_sha256") if isinstance(payload, dict) else None
    if digest is None:
        raise CheckpointError(f"checkpoint {path} carries no checksum (written by an older vaebench); delete it to "
                              "train again")
    if state_digest(state) != digest:
        raise CheckpointError(f"checkpoint {path} is damaged: its weights do not match their sha256; delete it to "
                              "train again")
    bad = [k for k, v in state.items() if v.is_floating_point() and not bool(torch.isfinite(v).all())]
    if bad:
        raise CheckpointError(f"checkpoint {path} holds non-finite weights in {bad}; delete it to train again")
    if expected is not None and config != expected:
        raise CheckpointError(f"checkpoint {path} was trained with {config} but {expected} was asked for; "
                              "delete it to train again")
    model = VAE(config.architecture).to(device)
    try:
        model.load_state_dict(state)
    except RuntimeError as exc:
        raise CheckpointError(f"checkpoint {path} does not fit its architecture: {exc}") from None
    return model.eval(), payload


def load_or_train(
    config: TrainConfig,
    *,
    data_path: str | os.PathLike | None = None,
    cache: str | os.PathLike | None = None,
    device: str | torch.device = "cpu",
    progress: bool = True,
) -> tuple[VAE, Path, dict[str, Any]]:
    """The trained model for ``config``: from the cache if there, else from the checkpoints shipped with
    vaebench (`vaebench.training.shipped`), else trained and cached.

    Returns the model, the checkpoint path and the checkpoint's payload (config, history, key).
    """
    from vaebench.data import load, load_grayscale

    train_x = load_grayscale(config.data, "train", path=data_path) if config.binarization == "resampled" \
        else load(config.data, "train", path=data_path)
    valid_x = load(config.data, "valid", path=data_path)
    key = config.key(_fingerprint(train_x, valid_x))
    path = cache_dir(cache) / f"{config.data}-{key}.pt"
    if path.exists():
        model, payload = load_checkpoint(path, config, device)
        return model, path, payload
    shipped = shipped_checkpoint(path.name)  # the same configuration and data, trained and shipped with vaebench
    if shipped is not None:
        model, payload = load_checkpoint(shipped, config, device)
        return model, shipped, payload
    check_cache_writable(path.parent)
    if progress:
        print(f"[train] {config.data} (latent {config.architecture.latent_dim}): no checkpoint in {path.parent}, training "
              f"(cache empty); later runs load it", file=sys.stderr, flush=True)
    initial_state, parent = None, {}
    if config.warm_start is not None:
        parent_model, parent_path, parent_payload = load_or_train(config.warm_start, data_path=data_path, cache=cache,
                                                                  device=device, progress=progress)
        initial_state = parent_model.state_dict()
        parent = {"warm_start_checkpoint": parent_path.name, "warm_start_sha256": parent_payload["state_sha256"],
                  "warm_start_epochs_run": len(parent_payload.get("history") or [])}
    model, history = train(config, train_x, valid_x, device=device, progress=progress, initial_state=initial_state)
    state = {k: v.detach().cpu() for k, v in model.state_dict().items()}
    payload = {"format": CHECKPOINT_FORMAT, "key": key, "config": config.to_dict(), "state_dict": state,
               "state_sha256": state_digest(state), "history": history, **parent}
    _save(path, payload)
    return model, path, payload
