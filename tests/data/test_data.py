"""Data loaders: local files only, clear errors when absent, numbers that match the data's README."""

from __future__ import annotations

import gzip
import shutil

import numpy as np
import pytest
import torch

from vaebench import data
from vaebench.data.paths import ENV_VAR
from vaebench.testing.ztests import assert_z


def _mnist_dir():
    try:
        root = data.data_dir()
    except FileNotFoundError as exc:
        pytest.skip(f"MNIST not available: {exc}")
    if not (root / "binarized_mnist.npz").exists():
        pytest.skip(f"no binarized MNIST in {root} (set {ENV_VAR})")
    return root


def test_binarized_mnist_matches_its_published_description():
    """Sizes and pixel fractions as recorded in shared/data/README.md (0.13056, 0.13113, 0.13251)."""
    _mnist_dir()
    for split, n, frac in (("train", 50000, 0.13056), ("valid", 10000, 0.13113), ("test", 10000, 0.13251)):
        x = data.load("binarized-mnist", split)
        assert x.shape == (n, 784) and x.dtype == torch.float32
        assert set(x.unique().tolist()) == {0.0, 1.0}
        assert x.mean().item() == pytest.approx(frac, abs=5e-6)


def test_amat_and_npz_give_the_same_images(tmp_path):
    root = _mnist_dir()
    shutil.copy(root / "binarized_mnist.npz", tmp_path)  # a directory with only the .npz
    from_npz = data.load("binarized-mnist", "test", path=tmp_path)
    with gzip.open(root / "binarized_mnist_test.amat.gz", "rb") as src, open(tmp_path / "binarized_mnist_test.amat", "wb") as dst:
        shutil.copyfileobj(src, dst)  # plain .amat takes precedence over the .npz
    assert torch.equal(data.load("binarized-mnist", "test", path=tmp_path), from_npz)
    assert torch.equal(data.load("binarized-mnist", "test"), from_npz)  # .amat.gz in the shared folder


def test_environment_variable_and_missing_data(tmp_path, monkeypatch):
    root = _mnist_dir()
    monkeypatch.setenv(ENV_VAR, str(root))
    assert data.data_dir() == root
    with pytest.raises(FileNotFoundError, match="no binarized MNIST in .*binarized_mnist.npz"):
        data.load("binarized-mnist", "test", path=tmp_path)
    with pytest.raises(FileNotFoundError, match=f"pass a path .* or set {ENV_VAR}"):
        data.data_dir(tmp_path / "absent")
    with pytest.raises(ValueError, match="split must be one of"):
        data.load("binarized-mnist", "validation")
    with pytest.raises(ValueError, match="unknown data set 'mnsit'"):
        data.load("mnsit")


def test_dynamic_binarization_is_seeded_and_unbiased():
    """The pixel mean is a sum of independent Bernoulli(gray/255) draws: z-test against the
    grayscale mean computed from the IDX bytes with numpy (1 test)."""
    root = _mnist_dir()
    a, b = data.load("dynamic-mnist", "valid", seed=1), data.load("dynamic-mnist", "valid", seed=1)
    assert torch.equal(a, b) and not torch.equal(a, data.load("dynamic-mnist", "valid", seed=2))
    with gzip.open(root / "train-images-idx3-ubyte.gz", "rb") as f:
        gray = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(60000, 784)[50000:] / 255.0
    se = np.sqrt((gray * (1 - gray)).sum()) / gray.size
    assert_z(a.double().mean().item(), gray.mean(), se, "dynamic binarization mean")


def test_synthetic_data_is_fixed_and_binary():
    x = data.load("synthetic-2d", "test")
    assert x.shape == (2000, 64) and set(x.unique().tolist()) == {0.0, 1.0}
    assert torch.equal(x, data.load("synthetic-2d", "test"))
    assert not torch.equal(x, data.load("synthetic-2d", "valid"))


def test_grayscale_is_the_idx_bytes_over_255_and_refuses_binarized_sets():
    root = _mnist_dir()
    gray = data.load_grayscale("dynamic-mnist", "test")
    with gzip.open(root / "t10k-images-idx3-ubyte.gz", "rb") as f:
        expected = np.frombuffer(f.read()[16:], dtype=np.uint8).reshape(10000, 784) / 255.0
    assert gray.shape == (10000, 784) and np.allclose(gray.numpy(), expected, atol=1e-7)
    with pytest.raises(ValueError, match="grayscale images"):
        data.load_grayscale("binarized-mnist", "test")
