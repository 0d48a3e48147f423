"""MNIST: Larochelle's statically binarized split, and grayscale IDX with dynamic binarization."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import torch

__all__ = ["load_binarized_mnist", "load_dynamic_mnist", "load_mnist_grayscale", "SPLITS"]

SPLITS = ("train", "valid", "test")


def _check_split(split: str) -> None:
    if split not in SPLITS:
        raise ValueError(f"split must be one of {SPLITS}, got {split!r}")


def _open(path: Path):
    return gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")


def load_binarized_mnist(split: str, root: Path) -> torch.Tensor:
    """The static binarization of Larochelle & Murray (2011): float32 ``[N, 784]`` of 0/1.

    Reads ``binarized_mnist_{split}.amat`` (plain or ``.gz``) or, failing that, the arrays
    ``train``/``valid``/``test`` of ``binarized_mnist.npz`` (50000/10000/10000 images).

    References
    ----------
    Larochelle, H., & Murray, I. (2011). The neural autoregressive distribution estimator. AISTATS.
    """
    _check_split(split)
    for name in (f"binarized_mnist_{split}.amat", f"binarized_mnist_{split}.amat.gz"):
        path = root / name
        if path.is_file():
            with _open(path) as f:
                array = np.loadtxt(f, dtype=np.uint8)
            break
    else:
        npz = root / "binarized_mnist.npz"
        if not npz.is_file():
            raise FileNotFoundError(
                f"no binarized MNIST in {root}: expected binarized_mnist_{split}.amat[.gz] or binarized_mnist.npz"
            )
        with np.load(npz, allow_pickle=False) as archive:
            array = archive[split]
    if array.ndim != 2 or array.shape[1] != 784 or not np.isin(array, (0, 1)).all():
        raise ValueError(f"binarized MNIST {split} in {root} is malformed: shape {array.shape}, expected [N, 784] of 0/1")
    return torch.from_numpy(array.astype(np.float32))


def _read_idx_images(path: Path) -> np.ndarray:
    with _open(path) as f:
        data = f.read()
    magic, count, rows, cols = np.frombuffer(data[:16], dtype=">i4")
    if magic != 2051:
        raise ValueError(f"{path} is not an IDX image file (magic {magic}, expected 2051)")
    return np.frombuffer(data[16:], dtype=np.uint8).reshape(count, rows * cols)


def load_mnist_grayscale(split: str, root: Path) -> torch.Tensor:
    """Grayscale MNIST as pixel intensities gray / 255 in [0, 1], float32 ``[N, 784]``.

    ``train`` is the first 50000 training images, ``valid`` the last 10000, ``test`` the 10000
    test images (the split of the binarized sets).
    """
    _check_split(split)
    stem = "t10k" if split == "test" else "train"
    for name in (f"{stem}-images-idx3-ubyte", f"{stem}-images-idx3-ubyte.gz"):
        if (root / name).is_file():
            images = _read_idx_images(root / name)
            break
    else:
        raise FileNotFoundError(f"no {stem}-images-idx3-ubyte[.gz] in {root}")
    if split == "train":
        images = images[:50000]
    elif split == "valid":
        images = images[50000:]
    return torch.from_numpy(images.astype(np.float32) / 255.0)


def load_dynamic_mnist(split: str, root: Path, seed: int = 0) -> torch.Tensor:
    """Grayscale MNIST binarized by sampling each pixel from Bernoulli(gray / 255), seeded.

    The splits of `load_mnist_grayscale`; float32 ``[N, 784]`` of 0/1. Training with a fresh
    binarization per epoch (``TrainConfig(binarization="resampled")``) starts from the grayscale.
    """
    gray = load_mnist_grayscale(split, root)
    return torch.bernoulli(gray, generator=torch.Generator().manual_seed(seed))
