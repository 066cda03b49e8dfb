"""Deterministic seeds for every random draw of a search, derived from the node's one seed.

Each draw gets its own seed from (base seed, algorithm-specific keys), so a run is reproducible and
any single draw can be re-made alone, whatever the batching.
"""

from __future__ import annotations

MASK_64 = 0xFFFFFFFFFFFFFFFF


def _splitmix64(value: int) -> int:
    value = (value + 0x9E3779B97F4A7C15) & MASK_64
    value = ((value ^ (value >> 30)) * 0xBF58476D1CE4E5B9) & MASK_64
    value = ((value ^ (value >> 27)) * 0x94D049BB133111EB) & MASK_64
    return value ^ (value >> 31)


def derive_seed(base_seed: int, *keys: int) -> int:
    """A well-mixed 63-bit seed for the draw named by ``keys`` (small non-negative integers)."""
    value = base_seed & MASK_64
    for key in keys:
        value = _splitmix64(value ^ _splitmix64(key & MASK_64))
    return value >> 1


def offset_seed(base_seed: int, index: int) -> int:
    """``base_seed + index`` wrapped at 2**64: candidate ``i`` of a random search, as KSampler numbers seeds."""
    return (base_seed + index) & MASK_64
