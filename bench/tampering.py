"""Synthetic tampering of real slices, for bench/forensics.py and the unit tests: each function returns a
modified copy and the tampered box [row0, col0, row1, col1] (end exclusive).

- ``copy_move``: a textured square copied elsewhere in the same slice (Fridrich et al. 2003);
- ``inpaint``: a square replaced by a smooth (Gaussian-blurred, sigma 4 px, rounded: noise-free) version,
  as in-painting or removing a nodule does;
- ``paste``: a square replaced by a patch of another image, its mean and spread matched to the target
  (:func:`noise_ratio` says how its noise compares with the noise around it);
- ``lesion``: a Gaussian blob of ``contrast`` times the slice noise added to one slice (CT-GAN-like
  injection, Mirsky et al. 2019), noise kept;
- ``copy_across``: a square of one slice copied into the next.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from validators.pixels.kernels import block_noise


def textured_spot(image: np.ndarray, size: int, rng: np.random.Generator, avoid=None,
                  min_noise: float = 0.0) -> tuple[int, int]:
    """Top-left corner of a size x size square inside the informative, noisy part of ``image`` (not on
    background), away from ``avoid`` (a corner) by at least ``size``, where every 8x8 block's noise is
    at least ``min_noise`` stored values."""
    noise = block_noise(image, 8)
    low, high = noise.minimum.min(), noise.maximum.max()
    good = (noise.minimum > low) & (noise.maximum < high) & (noise.sigma > 0.5 * np.median(noise.sigma)) & \
        (noise.sigma >= min_noise)
    good = ndimage.binary_erosion(good, iterations=size // 8 + 3)
    rows, cols = np.nonzero(good)
    if avoid is not None:
        far = (np.abs(rows * 8 - avoid[0]) >= size + 8) | (np.abs(cols * 8 - avoid[1]) >= size + 8)
        rows, cols = rows[far], cols[far]
    if rows.size == 0:
        raise ValueError("no textured spot large enough")
    k = rng.integers(rows.size)
    return int(rows[k] * 8 + rng.integers(8)), int(cols[k] * 8 + rng.integers(8))


def noise_ratio(image: np.ndarray, box: list[int], ring: int = 16) -> float:
    """Noise inside ``box`` over the noise in the ``ring`` pixels around it, each the median absolute
    Immerkaer residual (robust to edges)."""
    r0, c0, r1, c1 = box
    top, left = max(r0 - ring, 1), max(c0 - ring, 1)
    area = image[top - 1:min(r1 + ring, image.shape[0] - 1) + 1, left - 1:min(c1 + ring, image.shape[1] - 1) + 1]
    area = area.astype(np.float64)
    h = area[:, :-2] - 2 * area[:, 1:-1] + area[:, 2:]
    residual = np.abs(h[:-2] - 2 * h[1:-1] + h[2:])
    inside = np.zeros(residual.shape, bool)
    inside[r0 - top:r1 - top, c0 - left:c1 - left] = True
    # +0.5: rounding alone leaves a median |residual| of about 1.
    return float((np.median(residual[inside]) + 0.5) / (np.median(residual[~inside]) + 0.5))


def inner_spot(image: np.ndarray, size: int, rng: np.random.Generator, margin: int) -> tuple[int, int]:
    """Top-left corner of a size x size square at least ``margin`` pixels inside the frame, on pixels
    above the frame's least value (small frames, where :func:`textured_spot` finds no room)."""
    for _ in range(100):
        r, c = (int(rng.integers(margin, n - margin - size + 1)) for n in image.shape)
        if (image[r:r + size, c:c + size] > image.min()).all():
            return r, c
    raise ValueError("no spot inside the object")


def _box(r: int, c: int, size: int) -> list[int]:
    return [r, c, r + size, c + size]


def copy_move(image, size, rng):
    out = image.copy()
    r1, c1 = textured_spot(image, size, rng)
    r2, c2 = textured_spot(image, size, rng, avoid=(r1, c1))
    out[r2:r2 + size, c2:c2 + size] = image[r1:r1 + size, c1:c1 + size]
    return out, _box(r2, c2, size)


def inpaint(image, size, rng, min_noise=0.0):
    out = image.copy()
    r, c = textured_spot(image, size, rng, min_noise=min_noise)
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


def lesion(image, size, rng, contrast, margin=None):
    out = image.astype(np.float64)
    r, c = textured_spot(image, size, rng) if margin is None else inner_spot(image, size, rng, margin)
    sigma = float(np.median(block_noise(image, 8).sigma))
    y, x = np.mgrid[:size, :size] - (size - 1) / 2
    blob = contrast * sigma * np.exp(-(x ** 2 + y ** 2) / (2 * (size / 4) ** 2))
    out[r:r + size, c:c + size] += blob
    info = np.iinfo(image.dtype) if image.dtype.kind in "iu" else None
    if info is not None:
        out = np.clip(np.round(out), info.min, info.max)
    return out.astype(image.dtype), _box(r, c, size)


def copy_across(source, target, size, rng, margin=None):
    out = target.copy()
    spot = textured_spot if margin is None else lambda image, size, rng: inner_spot(image, size, rng, margin)
    r1, c1 = spot(source, size, rng)
    r2, c2 = spot(target, size, rng)
    out[r2:r2 + size, c2:c2 + size] = source[r1:r1 + size, c1:c1 + size]
    return out, _box(r2, c2, size)


def overlaps(box, other) -> bool:
    return box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]
