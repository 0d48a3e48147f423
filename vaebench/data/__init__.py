"""Data sets by name: ``vb.data.load(NAME, split)``. Real data are read from local copies only."""

from __future__ import annotations

import os

from torch import Tensor

from vaebench.data.mnist import SPLITS, load_binarized_mnist, load_dynamic_mnist, load_mnist_grayscale
from vaebench.data.paths import ENV_VAR, data_dir
from vaebench.data.synthetic import SyntheticGenerator, load_synthetic
from vaebench.validation import unknown_name_message

__all__ = ["DATASETS", "ENV_VAR", "SPLITS", "SyntheticGenerator", "data_dir", "load", "load_grayscale", "missing"]

DATASETS = {
    "binarized-mnist": "Larochelle & Murray's static binarization of MNIST (50000/10000/10000, 784 pixels)",
    "dynamic-mnist": "grayscale MNIST binarized by seeded Bernoulli sampling (50000/10000/10000, 784 pixels)",
    "synthetic-2d": "samples of a fixed nonlinear model with a 2-D latent (20000/2000/2000, 64 pixels)",
}


def missing(name: str, path: str | os.PathLike | None = None) -> str | None:
    """Why the data set ``name`` cannot be loaded here, or None if it can (checks files only)."""
    if name == "synthetic-2d":
        return None
    try:
        root = data_dir(path)
    except FileNotFoundError as exc:
        return str(exc)
    wanted = ("binarized_mnist.npz", "binarized_mnist_test.amat", "binarized_mnist_test.amat.gz") \
        if name == "binarized-mnist" else ("train-images-idx3-ubyte", "train-images-idx3-ubyte.gz")
    if not any((root / f).is_file() for f in wanted):
        return f"no {name} files in {root} (expected one of {', '.join(wanted)}); set {ENV_VAR}"
    return None


def load(name: str, split: str = "train", *, path: str | os.PathLike | None = None, seed: int = 0) -> Tensor:
    """The data set ``name`` as a float32 tensor ``[N, D]``.

    Parameters
    ----------
    name : str
        One of `DATASETS`.
    split : {"train", "valid", "test"}
    path : path, optional
        Directory holding the files; default ``$VAEBENCH_DATA``, then ../shared/data.
    seed : int
        Seed of the dynamic binarization (``dynamic-mnist`` only).
    """
    if name == "synthetic-2d":
        return load_synthetic(split)
    if name == "binarized-mnist":
        return load_binarized_mnist(split, data_dir(path))
    if name == "dynamic-mnist":
        return load_dynamic_mnist(split, data_dir(path), seed=seed)
    raise ValueError(unknown_name_message("data set", name, list(DATASETS)))


def load_grayscale(name: str, split: str = "train", *, path: str | os.PathLike | None = None) -> Tensor:
    """The pixel probabilities a dynamically binarized data set samples from (``dynamic-mnist``), float32 in [0, 1]."""
    if name != "dynamic-mnist":
        raise ValueError(f"name must be a data set with grayscale images ('dynamic-mnist'), got {name!r}")
    return load_mnist_grayscale(split, data_dir(path))
