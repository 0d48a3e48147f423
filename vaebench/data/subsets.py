"""How the points of an evaluation were chosen, in words: every reported number names its split and subset."""

from __future__ import annotations

__all__ = ["subset_words"]


def subset_words(used: int, total: int, split: str) -> str:
    """``all N points of the SPLIT split``, or the prefix used, said to be one (the binarized MNIST test
    split is not in random order, so its first points are not a random sample of it)."""
    where = "the file" if split == "file" else f"the {split} split"
    if used == total:
        return f"all {total} points of {where}"
    return (f"the first {used} of the {total} points of {where} (a prefix, not a random subset: the binarized "
            "MNIST test split is not in random order)")
