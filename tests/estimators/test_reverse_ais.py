"""Reverse AIS: what it needs (exact posterior samples) and how it refuses what it cannot use."""

from __future__ import annotations

import pytest
import torch

import vaebench as vb
from tests.estimators.annealing_cases import seeded

rev = vb.get_estimator("reverse_ais")

@pytest.mark.parametrize("shape", [(3, 2), (2, 3), (5, 2, 2), (4, 2, 2, 1), (2,)])
def test_posterior_samples_of_the_wrong_shape_are_refused(small_model, shape):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match=r"posterior_samples must have shape \[B, d\] = \[2, 2\] or \[K, B, d\]"):
        rev(small_model, x, 4, generator=seeded(1), posterior_samples=torch.zeros(shape, dtype=x.dtype), num_steps=3)


def test_reverse_without_posterior_samples_says_how_to_get_them(small_model):
    x = small_model.sample(2, generator=seeded(1))
    with pytest.raises(ValueError, match="return_latents=True"):
        rev(small_model, x, 4, generator=seeded(1), num_steps=3)
