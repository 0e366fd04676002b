"""Synthetic tampering of real slices, for bench/forensics.py and the unit tests: each function returns a
modified copy and the tampered box [row0, col0, row1, col1] (end exclusive).

- ``copy_move``: a textured square copied elsewhere in the same slice (Fridrich et al. 2003);
- ``inpaint``: a square replaced by a smooth (Gaussian-blurred, noise-free) version, as in-painting or
  removing a nodule does;
- ``paste``: a square replaced by a patch of another image, its mean and spread matched to the target;
- ``lesion``: a Gaussian blob of ``contrast`` times the slice noise added to one slice (CT-GAN-like
  injection, Mirsky et al. 2019), noise kept;
- ``copy_across``: a square of one slice copied into the next.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from validators.pixels.kernels import block_noise


def textured_spot(image: np.ndarray, size: int, rng: np.random.Generator, avoid=None) -> tuple[int, int]:
    """Top-left corner of a size x size square inside the informative, noisy part of ``image`` (not on
    background), away from ``avoid`` (a corner) by at least ``size``."""
    noise = block_noise(image, 8)
    low, high = noise.minimum.min(), noise.maximum.max()
    good = (noise.minimum > low) & (noise.maximum < high) & (noise.sigma > 0.5 * np.median(noise.sigma))
    good = ndimage.binary_erosion(good, iterations=size // 8 + 3)
    rows, cols = np.nonzero(good)
    if avoid is not None:
        far = (np.abs(rows * 8 - avoid[0]) >= size + 8) | (np.abs(cols * 8 - avoid[1]) >= size + 8)
        rows, cols = rows[far], cols[far]
    if rows.size == 0:
        raise ValueError("no textured spot large enough")
    k = rng.integers(rows.size)
    return int(rows[k] * 8 + rng.integers(8)), int(cols[k] * 8 + rng.integers(8))


def _box(r: int, c: int, size: int) -> list[int]:
    return [r, c, r + size, c + size]


def copy_move(image, size, rng):
    out = image.copy()
    r1, c1 = textured_spot(image, size, rng)
    r2, c2 = textured_spot(image, size, rng, avoid=(r1, c1))
    out[r2:r2 + size, c2:c2 + size] = image[r1:r1 + size, c1:c1 + size]
    return out, _box(r2, c2, size)


def inpaint(image, size, rng):
    out = image.copy()
    r, c = textured_spot(image, size, rng)
    smooth = ndimage.gaussian_filter(image.astype(np.float64), 4)
    out[r:r + size, c:c + size] = np.round(smooth[r:r + size, c:c + size]).astype(image.dtype)
    return out, _box(r, c, size)


def paste(image, size, rng, donor):
    out = image.copy()
    r, c = textured_spot(image, size, rng)
    dr, dc = textured_spot(donor, size, rng)
    patch = donor[dr:dr + size, dc:dc + size].astype(np.float64)
    target = image[r:r + size, c:c + size].astype(np.float64)
    patch = (patch - patch.mean()) / (patch.std() + 1e-9) * target.std() + target.mean()
    info = np.iinfo(image.dtype) if image.dtype.kind in "iu" else None
    if info is not None:
        patch = np.clip(np.round(patch), info.min, info.max)
    out[r:r + size, c:c + size] = patch.astype(image.dtype)
    return out, _box(r, c, size)


def lesion(image, size, rng, contrast):
    out = image.astype(np.float64)
    r, c = textured_spot(image, size, rng)
    sigma = float(np.median(block_noise(image, 8).sigma))
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    blob = contrast * sigma * np.exp(-(x ** 2 + y ** 2) / (2 * (size / 4) ** 2))
    out[r:r + size, c:c + size] += blob
    info = np.iinfo(image.dtype) if image.dtype.kind in "iu" else None
    if info is not None:
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(image.dtype), _box(r, c, size)


def copy_across(source, target, size, rng):
    out = target.copy()
    r1, c1 = textured_spot(source, size, rng)
    r2, c2 = textured_spot(target, size, rng)
    out[r2:r2 + size, c2:c2 + size] = source[r1:r1 + size, c1:c1 + size]
    return out, _box(r2, c2, size)


def overlaps(box, other) -> bool:
    return box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]
