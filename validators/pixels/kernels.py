"""numba kernels of the pixel forensics, each with the plain numpy reference its tests compare it with.

- :func:`block_noise`: per block of ``block`` x ``block`` pixels, the noise standard deviation by
  Immerkaer's estimator (J. Immerkaer, "Fast noise variance estimation", CVIU 64(2), 1996: the mean
  absolute response to the 3x3 mask [[1,-2,1],[-2,4,-2],[1,-2,1]], which cancels linear structure, times
  sqrt(pi/2)/6), the block's least and greatest value and its mean.
- :func:`window_hashes`: a 32-bit polynomial hash of every ``window`` x ``window`` window (rolled down the
  columns, Horner along the rows), mixed by murmur3's finaliser, and the positions of the windows whose
  mixed hash falls in a 1/2**bits sample. 32 bits halve the cost of 64 (twice the SIMD lanes); equal
  hashes are always confirmed on the pixels, so collisions cost a comparison, never a false finding. The sample depends on content only, so the two copies of a copied region are sampled alike
  (content-defined sampling, as in winnowing: Schleimer, Wilkerson, Aiken, SIGMOD 2003).

- :func:`histogram`: the distinct values of a frame of integers of up to 16 bits and their counts, by
  counting into 65536 bins (np.unique sorts: ~10x slower).

Kernels take C-contiguous 2-D integer or float arrays and scalars only; the public functions check and
prepare. NUMBA_CACHE_DIR is the plugin's to set before import.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# Immerkaer 1996, eq. 5: sigma = sqrt(pi/2) / (6 (W-2)(H-2)) * sum |I * N|.
NOISE_SCALE = float(np.sqrt(np.pi / 2) / 6)
# Odd 32-bit multipliers of the row (FNV's prime) and column (golden ratio) polynomials, and murmur3's
# fmix32 constants (A. Appleby, MurmurHash3). uint32 throughout the kernel: mixing in int64 would stop
# the loops from vectorising on 16 lanes.
_P = np.uint32(0x01000193)
_Q = np.uint32(0x9E3779B1)
_MIX1 = np.uint32(0x85EBCA6B)
_MIX2 = np.uint32(0xC2B2AE35)
_LOW = 0xFFFFFFFF


class BlockNoise(NamedTuple):
    """Per block (rows x cols of blocks): noise sigma (stored-value units), minimum, maximum, mean."""

    sigma: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray
    mean: np.ndarray


@njit(cache=True, nogil=True)
def _block_noise(image, block, vertical, noise, sigma, minimum, maximum, mean):
    """Fill the per-block noise sigma (Immerkaer's mean |residual| times NOISE_SCALE), minimum, maximum
    and mean. The residual of a pixel on the image border (no 3x3 neighbourhood) is not counted. The
    mask is separable, [1,-2,1] down the columns then along the row; ``vertical`` (the vertical second
    differences of one row) and ``noise`` (per column, the sums over a block's rows) are in a type the
    sums are exact in (float32 for pixels of 16 bits or fewer, float64 otherwise). Every inner loop runs
    along a row with no dependency between columns, so that it vectorises."""
    rows, cols = sigma.shape
    height, width = image.shape
    span = cols * block
    low = np.empty(span, image.dtype)    # in the pixels' own type: min and max vectorise best there
    high = np.empty(span, image.dtype)
    acc = np.zeros(span)
    last = min(span, width - 1)     # residual columns 1 .. last - 1 lie in whole blocks
    exact = vertical.dtype.type
    noise[:] = 0
    for i in range(rows * block):
        row = image[i]
        if i % block == 0:
            low[:] = row[:span]
            high[:] = row[:span]
        if 0 < i < height - 1:
            up, down = image[i - 1], image[i + 1]
            for j in range(min(span + 1, width)):
                x = exact(row[j])
                vertical[j] = (exact(up[j]) + exact(down[j])) - (x + x)   # 2 * x would widen float32
            for j in range(1, last):
                noise[j] += abs(vertical[j - 1] - (vertical[j] + vertical[j]) + vertical[j + 1])
        for j in range(span):
            low[j] = min(low[j], row[j])
            high[j] = max(high[j], row[j])
            acc[j] += row[j]
        if i % block == block - 1:
            bi = i // block
            for bj in range(cols):
                a = bj * block
                r, lo, hi, t = np.float64(0), np.float64(low[a]), np.float64(high[a]), 0.0
                for j in range(a, a + block):     # plain loops: slicing costs more than a block's sums
                    r += noise[j]
                    lo = min(lo, low[j])
                    hi = max(hi, high[j])
                    t += acc[j]
                inner = _inner(bi * block, block, height) * _inner(a, block, width)
                sigma[bi, bj] = NOISE_SCALE * r / inner if inner else np.nan
                minimum[bi, bj] = lo
                maximum[bi, bj] = hi
                mean[bi, bj] = t / (block * block)
            noise[:] = 0
            acc[:] = 0


@njit(cache=True, nogil=True)
def _inner(start, block, size):
    """How many of the indices start .. start + block - 1 have both neighbours within 0 .. size - 1."""
    return max(0, min(start + block, size - 1) - max(start, 1))


def _exact_type(dtype: np.dtype, block: int) -> type:
    """float32 holds every second difference of pixels of up to 16 bits (|value| <= 16 * 2**16), and the
    sum of 16 of them, exactly (< 2**24)."""
    return np.float32 if dtype.kind in "iu" and dtype.itemsize <= 2 and block <= 16 else np.float64


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
    sigma, minimum, maximum, mean = (np.empty((rows, cols)) for _ in range(4))
    exact = _exact_type(image.dtype, block)
    _block_noise(image, block, np.empty(image.shape[1], exact), np.empty(cols * block, exact), sigma,
                 minimum, maximum, mean)
    return BlockNoise(sigma, minimum, maximum, mean)


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
def _fold(value):
    """A pixel as the 32 bits the hash takes: the two halves of 64-bit values xor-ed (a double's low half
    alone is zero for whole numbers)."""
    v = np.int64(value)
    return np.uint32((v ^ (v >> 32)) & _LOW)


@njit(cache=True, nogil=True)
def _double(source, target, size, power):
    """``target[j] = source[j] * power + source[j + size]``: two spans of ``size`` columns joined. Sliced
    first, so that the loop indexes plainly and vectorises (an offset index inside the loop does not)."""
    n = source.size - 2 * size + 1
    left, right, out = source[:n], source[size:size + n], target[:n]
    for j in range(n):
        out[j] = left[j] * power + right[j]


@njit(cache=True, nogil=True)
def _window_hashes(image, window, keep_mask, hashes, rows, cols):
    """Hash every window x window window (``window`` a power of two); store the hash and top-left corner
    of those whose mixed hash has its top bits within ``keep_mask`` zero, unless the window to its left
    has the same hash (flat areas would otherwise fill the sample). Returns how many were stored (at
    most len(hashes)).

    Row by row: the column polynomials roll down (two multiply-adds per pixel); the row polynomial over
    ``window`` columns is built by doubling (spans of 2, 4, ... columns: log2(window) multiply-adds per
    pixel, where Horner's rule takes ``window``), then mixed. These loops have no dependency between
    columns and vectorise; only the sampling is a scalar pass, with a branch that is rarely taken."""
    height, width = image.shape
    span = width - window + 1
    q_pow = np.uint32(1)
    for _ in range(window):
        q_pow = np.uint32(q_pow * _Q)
    column = np.zeros(width, dtype=np.uint32)
    spans = np.empty((2, width), dtype=np.uint32)     # doubling passes alternate between the two rows
    count = 0
    for i in range(height):
        row = image[i]
        if i < window:
            for j in range(width):
                column[j] = column[j] * _Q + _fold(row[j])
        else:
            old = image[i - window]
            for j in range(width):
                column[j] = column[j] * _Q + _fold(row[j]) - q_pow * _fold(old[j])
        if i < window - 1:
            continue
        source = column
        size, power, level = 1, _P, 0
        while size < window:     # target[j]: the polynomial of columns j .. j + 2 size - 1
            _double(source, spans[level % 2], size, power)
            source = spans[level % 2]
            size *= 2
            power = np.uint32(power * power)
            level += 1
        target = spans[level % 2]
        for j in range(span):
            h = source[j]
            h ^= h >> np.uint32(16)
            h = np.uint32(h * _MIX1)      # numba widens uint32 products: reduce before shifting
            h ^= h >> np.uint32(13)
            h = np.uint32(h * _MIX2)
            target[j] = h ^ (h >> np.uint32(16))
        top = i - window + 1
        for j in range(span):
            m = target[j]
            if (m & keep_mask) == 0 and (j == 0 or m != target[j - 1]) and count < hashes.size:
                hashes[count] = m
                rows[count] = top
                cols[count] = j
                count += 1
    return count


class Windows(NamedTuple):
    """Sampled windows of one frame: hash, top row, left column (int64 arrays of equal length)."""

    hashes: np.ndarray
    rows: np.ndarray
    cols: np.ndarray


def _keep_mask(bits: int) -> np.uint32:
    """The mask of the top ``bits`` bits of a 32-bit hash: a hash is kept when they are all zero."""
    return np.uint32(((1 << bits) - 1) << (32 - bits))


def window_hashes(image: np.ndarray, window: int = 8, bits: int = 4) -> Windows:
    """The content-sampled (1 in 2**bits) ``window`` x ``window`` windows of a 2-D integer frame with their
    32-bit hashes; float frames are hashed by their bit patterns. Of a run of equal hashes along a row
    only the first is kept; at most one window per 2**(bits-1), plus one per row, is kept. ``window``
    must be a power of two."""
    if window < 1 or window & (window - 1):
        raise ValueError(f"window {window} is not a power of two")
    image = _hashable(_frame(image, window))
    capacity = (image.shape[0] - window + 1) * (image.shape[1] - window + 1) // (1 << max(bits - 1, 0)) \
        + image.shape[0] + 64
    hashes = np.empty(capacity, np.int64)
    rows = np.empty(capacity, np.int64)
    cols = np.empty(capacity, np.int64)
    n = _window_hashes(image, window, _keep_mask(bits), hashes, rows, cols)
    return Windows(hashes[:n], rows[:n], cols[:n])


def window_hashes_reference(image: np.ndarray, window: int = 8, bits: int = 4) -> Windows:
    """What :func:`window_hashes` computes, in numpy: the column polynomial as a sum of ``window``
    shifted, weighted copies of the frame, then the row polynomial likewise (2 x window passes)."""
    image = _hashable(_frame(image, window))
    values = image.astype(np.int64)
    values = (values ^ (values >> 32)).astype(np.uint64) & np.uint64(_LOW)
    height, width = values.shape
    # uint64 arrays wrap silently; every product of 32-bit factors is exact before the reduction.
    column = sum(values[a:height - window + 1 + a] * np.uint64(pow(int(_Q), window - 1 - a, 1 << 32))
                 for a in range(window)) & np.uint64(_LOW)
    h = sum(column[:, b:width - window + 1 + b] * np.uint64(pow(int(_P), window - 1 - b, 1 << 32))
            for b in range(window)) & np.uint64(_LOW)
    h ^= h >> np.uint64(16)
    h = (h * np.uint64(_MIX1)) & np.uint64(_LOW)
    h ^= h >> np.uint64(13)
    h = (h * np.uint64(_MIX2)) & np.uint64(_LOW)
    mixed = (h ^ (h >> np.uint64(16))).astype(np.int64)
    keep = (mixed & _keep_mask(bits)) == 0
    keep[:, 1:] &= mixed[:, 1:] != mixed[:, :-1]
    r, c = np.nonzero(keep)
    return Windows(mixed[keep], r.astype(np.int64), c.astype(np.int64))


def _hashable(image: np.ndarray) -> np.ndarray:
    """Float frames as the integers of their bit patterns."""
    if image.dtype.kind == "f":
        return image.view(np.int32 if image.itemsize == 4 else np.int64)
    return image


@njit(cache=True, nogil=True)
def _count(image, offset, counts):
    """``counts[value + offset] += 1`` for every pixel; returns the least and greatest bin used."""
    low, high = counts.size, -1
    for i in range(image.shape[0]):
        row = image[i]
        for j in range(row.size):
            k = np.int64(row[j]) + offset
            counts[k] += 1
            low = min(low, k)
            high = max(high, k)
    return low, high


def histogram(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (ascending, float64) of a 2-D frame of integers of up to 16 bits, and their
    counts (int64). Raises ValueError on other pixel types."""
    image = _frame(image, 1)
    if image.dtype.kind not in "iu" or image.itemsize > 2:
        raise ValueError(f"histogram of {image.dtype} pixels: integers of up to 16 bits only")
    offset = 1 << (8 * image.itemsize - 1) if image.dtype.kind == "i" else 0
    counts = np.zeros(1 << (8 * image.itemsize), np.int64)
    low, high = _count(image, offset, counts)
    present = np.flatnonzero(counts[low:high + 1]) + low
    return (present - offset).astype(np.float64), counts[present]


def histogram_reference(image: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """What :func:`histogram` computes, with np.unique."""
    values, counts = np.unique(image, return_counts=True)
    return values.astype(np.float64), counts.astype(np.int64)


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
        if frame.dtype.kind in "iu" and frame.itemsize <= 2:
            histogram(frame)
