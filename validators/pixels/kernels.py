"""numba kernels of the pixel forensics, each with the plain numpy reference its tests compare it with.

- :func:`block_noise`: per block of ``block`` x ``block`` pixels, the noise standard deviation by
  Immerkaer's estimator (J. Immerkaer, "Fast noise variance estimation", CVIU 64(2), 1996: the mean
  absolute response to the 3x3 mask [[1,-2,1],[-2,4,-2],[1,-2,1]], which cancels linear structure, times
  sqrt(pi/2)/6), the block's least and greatest value and its mean.
- :func:`window_hashes`: a 64-bit polynomial hash of every ``window`` x ``window`` window, rolled over rows
  and columns in O(1) per pixel, and the positions of the windows whose mixed hash falls in a 1/2**bits
  sample. The sample depends on content only, so the two copies of a copied region are sampled alike
  (content-defined sampling, as in winnowing: Schleimer, Wilkerson, Aiken, SIGMOD 2003).

Kernels take C-contiguous 2-D integer or float arrays and scalars only; the public functions check and
prepare. NUMBA_CACHE_DIR is the plugin's to set before import.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# Immerkaer 1996, eq. 5: sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * N|.
NOISE_SCALE = float(np.sqrt(np.pi / 2) / 6)
# Odd 64-bit multipliers for the row and column polynomials and the final mixing (splitmix64's constants,
# as signed int64: numba's int64 arithmetic wraps like uint64).
_P = np.int64(0x100000001B3)
_Q = np.int64(-7046029254386353131)        # 0x9E3779B97F4A7C15
_MIX = np.int64(-4658895280553007687)      # 0xBF58476D1CE4E5B9


class BlockNoise(NamedTuple):
    """Per block (rows x cols of blocks): noise sigma (stored-value units), minimum, maximum, mean."""

    sigma: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray


@njit(cache=True, nogil=True)
def _block_noise(image, block, residual, minimum, maximum, total):
    """Fill the per-block sums of |Immerkaer residual|, minima, maxima and sums of values. The residual of
    a pixel on the image border (no 3x3 neighbourhood) is not counted. Row by row into a buffer, then
    per block, so that the inner loops are plain and vectorise."""
    rows, cols = residual.shape
    height, width = image.shape
    span = cols * block
    values = np.empty(span + 2)
    line = np.zeros(span + 2)
    for i in range(rows * block):
        bi = i // block
        for j in range(span):
            values[j] = image[i, j]
        if 0 < i < height - 1:
            last = min(span + 1, width - 1)
            for j in range(1, last):
                up = np.float64(image[i - 1, j - 1]) - 2.0 * image[i - 1, j] + image[i - 1, j + 1]
                mid = np.float64(image[i, j - 1]) - 2.0 * image[i, j] + image[i, j + 1]
                down = np.float64(image[i + 1, j - 1]) - 2.0 * image[i + 1, j] + image[i + 1, j + 1]
                line[j] = abs(up - 2.0 * mid + down)
        for bj in range(cols):
            low = values[bj * block]
            high = low
            acc = 0.0
            noise = 0.0
            for j in range(bj * block, (bj + 1) * block):
                v = values[j]
                low = min(low, v)
                high = max(high, v)
                acc += v
                noise += line[j]
            minimum[bi, bj] = min(minimum[bi, bj], low)
            maximum[bi, bj] = max(maximum[bi, bj], high)
            total[bi, bj] += acc
            residual[bi, bj] += noise
        line[:] = 0.0


def _residual_counts(rows: int, cols: int, block: int, height: int, width: int) -> np.ndarray:
    """How many pixels of each block have a full 3x3 neighbourhood."""
    ys = np.arange(rows * block)
    xs = np.arange(cols * block)
    inner_y = ((ys >= 1) & (ys < height - 1)).reshape(rows, block).sum(1)
    inner_x = ((xs >= 1) & (xs < width - 1)).reshape(cols, block).sum(1)
    return np.outer(inner_y, inner_x).astype(np.float64)


def block_noise(image: np.ndarray, block: int = 8) -> BlockNoise:
    """Noise, range and mean of each whole ``block`` x ``block`` block of a 2-D frame (the last partial
    rows and columns are left out). Raises ValueError on a frame smaller than one block."""
    image = _frame(image, block)
    rows, cols = image.shape[0] // block, image.shape[1] // block
    residual = np.zeros((rows, cols))
    minimum = np.full((rows, cols), np.inf)
    maximum = np.full((rows, cols), -np.inf)
    total = np.zeros((rows, cols))
    _block_noise(image, block, residual, minimum, maximum, total)
    counts = _residual_counts(rows, cols, block, *image.shape)
    return BlockNoise(NOISE_SCALE * residual / counts, minimum, maximum, total / (block * block))


def block_noise_reference(image: np.ndarray, block: int = 8) -> BlockNoise:
    """What :func:`block_noise` computes, with numpy convolution and reshaping."""
    image = _frame(image, block).astype(np.float64)
    rows, cols = image.shape[0] // block, image.shape[1] // block
    h = image[:, :-2] - 2 * image[:, 1:-1] + image[:, 2:]
    m = np.abs(h[:-2] - 2 * h[1:-1] + h[2:])
    full = np.zeros_like(image)
    full[1:-1, 1:-1] = m
    tiles = full[:rows * block, :cols * block].reshape(rows, block, cols, block)
    values = image[:rows * block, :cols * block].reshape(rows, block, cols, block)
    counts = _residual_counts(rows, cols, block, *image.shape)
    return BlockNoise(NOISE_SCALE * tiles.sum((1, 3)) / counts, values.min((1, 3)), values.max((1, 3)),
                      values.mean((1, 3)))


@njit(cache=True, nogil=True)
def _window_hashes(image, window, keep_mask, hashes, rows, cols):
    """Hash every window x window window; store the hash and top-left corner of those whose mixed hash
    has its top bits within ``keep_mask`` zero, unless the window to its left has the same hash (flat
    areas would otherwise fill the sample). Returns how many were stored (at most len(hashes))."""
    height, width = image.shape
    p_pow = np.int64(1)
    q_pow = np.int64(1)
    for _ in range(window):
        p_pow *= _P
        q_pow *= _Q
    column = np.zeros(width, dtype=np.int64)
    count = 0
    for i in range(height):
        for j in range(width):
            column[j] = column[j] * _Q + np.int64(image[i, j])
            if i >= window:
                column[j] -= q_pow * np.int64(image[i - window, j])
        if i < window - 1:
            continue
        h = np.int64(0)
        previous = np.int64(0)
        for j in range(width):
            h = h * _P + column[j]
            if j >= window:
                h -= p_pow * column[j - window]
            if j >= window - 1:
                mixed = (h ^ (h >> 31)) * _MIX
                repeat = j >= window and mixed == previous
                previous = mixed
                if (mixed & keep_mask) == 0 and not repeat and count < hashes.size:
                    hashes[count] = mixed
                    rows[count] = i - window + 1
                    cols[count] = j - window + 1
                    count += 1
    return count


class Windows(NamedTuple):
    """Sampled windows of one frame: hash, top row, left column (int64 arrays of equal length)."""

    hashes: np.ndarray
    rows: np.ndarray
    cols: np.ndarray


def _keep_mask(bits: int) -> np.int64:
    """The mask of the top ``bits`` bits of an int64: a hash is kept when they are all zero."""
    return np.int64(-(1 << (64 - bits))) if bits else np.int64(0)


def window_hashes(image: np.ndarray, window: int = 8, bits: int = 4) -> Windows:
    """The content-sampled (1 in 2**bits) ``window`` x ``window`` windows of a 2-D integer frame with their
    hashes; float frames are hashed by their bit patterns. Of a run of equal hashes along a row only the
    first is kept; at most one window per 2**(bits-1), plus one per row, is kept."""
    image = _frame(image, window)
    if image.dtype.kind == "f":
        image = image.view(np.int32 if image.itemsize == 4 else np.int64)
    capacity = (image.shape[0] - window + 1) * (image.shape[1] - window + 1) // (1 << max(bits - 1, 0)) \
        + image.shape[0] + 64
    hashes = np.empty(capacity, np.int64)
    rows = np.empty(capacity, np.int64)
    cols = np.empty(capacity, np.int64)
    n = _window_hashes(image, window, _keep_mask(bits), hashes, rows, cols)
    return Windows(hashes[:n], rows[:n], cols[:n])


def window_hashes_reference(image: np.ndarray, window: int = 8, bits: int = 4) -> Windows:
    """What :func:`window_hashes` computes, by the polynomial's definition over every window (slow)."""
    image = _frame(image, window)
    if image.dtype.kind == "f":
        image = image.view(np.int32 if image.itemsize == 4 else np.int64)
    with np.errstate(over="ignore"):
        values = image.astype(np.int64)
        powers_p = np.array([_pow(_P, window - 1 - k) for k in range(window)], np.int64)
        powers_q = np.array([_pow(_Q, window - 1 - k) for k in range(window)], np.int64)
        windows = np.lib.stride_tricks.sliding_window_view(values, (window, window))
        h = np.einsum("abij,i,j->ab", windows, powers_q, powers_p)
        mixed = (h ^ (h >> 31)) * _MIX
    keep = (mixed & _keep_mask(bits)) == 0
    keep[:, 1:] &= mixed[:, 1:] != mixed[:, :-1]
    r, c = np.nonzero(keep)
    return Windows(mixed[keep], r.astype(np.int64), c.astype(np.int64))


def _pow(base: np.int64, exponent: int) -> np.int64:
    result = np.int64(1)
    with np.errstate(over="ignore"):
        for _ in range(exponent):
            result = result * base
    return result


def _frame(image: np.ndarray, size: int) -> np.ndarray:
    if image.ndim != 2:
        raise ValueError(f"expected a 2-D frame, got shape {image.shape}")
    if image.shape[0] < size or image.shape[1] < size:
        raise ValueError(f"frame {image.shape} smaller than {size} x {size}")
    if image.dtype.kind not in "iuf" or image.dtype.kind == "f" and image.itemsize not in (4, 8):
        raise ValueError(f"pixel type {image.dtype} not supported")
    # numba takes native byte order only (big endian data decoded by pydicom keeps its order).
    return np.ascontiguousarray(image, dtype=image.dtype.newbyteorder("="))


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels for the frame types decoders give."""
    for dtype in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64):
        frame = np.zeros((16, 16), dtype)
        block_noise(frame)
        window_hashes(frame)
