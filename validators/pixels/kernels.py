"""numba kernels of the pixel forensics, each with the plain numpy reference its tests compare it with.

- :func:`block_noise`: per block of ``block`` x ``block`` pixels, the noise standard deviation by
  Immerkaer's estimator (J. Immerkaer, "Fast noise variance estimation", CVIU 64(2), 1996: the mean
  absolute response to the 3x3 mask [[1,-2,1],[-2,4,-2],[1,-2,1]], which cancels linear structure, times
  sqrt(pi/2)/6), the block's least and greatest value and its mean.
- :func:`window_hashes`: a 32-bit polynomial hash of every ``window`` x ``window`` window (rolled down the
  columns, Horner along the rows), mixed by murmur3's finaliser, and the positions of the windows whose
  mixed hash falls in a 1/2**bits sample. 32 bits halve the cost of 64 (twice the SIMD lanes); equal
  hashes are always confirmed on the pixels, so collisions cost a comparison, never a false finding. The
  sample depends on content only, so the two copies of a copied region are sampled alike
  (content-defined sampling, as in winnowing: Schleimer, Wilkerson, Aiken, SIGMOD 2003).

- :func:`histogram`: the distinct values of a frame of integers of up to 16 bits and their counts, by
  counting into 65536 bins (np.unique sorts: ~10x slower).
- :func:`seam_squares`: the squares of a frame whose four sides are seams (breaks between adjacent
  pixels, see :mod:`.seams`), from running sums of the per-boundary seam evidence along rows and down
  columns, so that a side's mean costs two reads, and a map of the corners that pass the pre-test, so
  that a square's corners cost a byte each.
- :func:`block_value_pairs`: per block, how many of its distinct values v have v + 1 among its values
  too, the count of its commonest value, and the standard deviation of its values (see :mod:`.gaps`),
  by sorting the blocks of a row of blocks all at once with a sorting network; :func:`gap_squares`, the
  squares of blocks whose pairs fall short of those expected and of their ring's, from integral images.

Kernels take C-contiguous 2-D integer or float arrays and scalars only; the public functions check and
prepare. NUMBA_CACHE_DIR is the plugin's to set before import.
"""

from __future__ import annotations

import functools
import math
import threading
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


class SeamSquares(NamedTuple):
    """Squares whose outline is a seam (one per top-left corner, the size with the best score):
    score, top row, left column, side (pixels); float64 and int64 arrays of equal length."""

    scores: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    sides: np.ndarray


SEAM_REACH = 8     # pixels beyond each corner where a side's seam must not go on
SEAM_MARGIN = SEAM_REACH   # pixels around a square: its seams' reach, 4-pixel outer strips, steps beside
SEAM_STRIP = 4     # pixels: width of the strips either side of a seam whose texture is compared
SEAM_TEXTURE_FLOOR = 1.0   # stored values added to a strip's mean absolute second difference (rounding, flat areas)
SEAM_CORNER = 16   # pixels of a top-left corner's two sides that the pre-test reads
SEAM_LATTICE_SPAN = 4.0   # log ratio of unit-step shares (ring over square) that counts in full
SEAM_FIELD = 21    # bits of each count packed in the int64 running sums: a box of up to 2^20 pixels
_SEAM_BELOW, _SEAM_UNITS = SEAM_FIELD, 2 * SEAM_FIELD   # shifts of the lower-neighbour and unit-step counts


@njit(cache=True, nogil=True)
def _seam_sums(image, steps, down, along, counts, texture):
    """The running sums the square search reads, in one pass over the frame, of five maps:

    - the seam evidence at each pixel's left boundary (between columns c-1 and c), summed down each
      column into ``down`` (rows + 1 x cols; ``down[r, c]`` sums rows 0 .. r-1);
    - the seam evidence at each pixel's upper boundary (between rows r-1 and r), summed along each row
      into ``along`` (rows x cols + 1);
    - three counts packed in one int64 (SEAM_FIELD bits each, see :func:`_field`), summed over rows
      and columns into ``counts`` (rows + 1 x cols + 1): 1 where the pixel differs from its right
      neighbour, 1 where it differs from its lower neighbour, and how many of those two neighbours
      differ from it by exactly 1 stored value (one map instead of three: a third less memory
      written, and the box sums of all three wanted from any square's 80x80 pixels at most, each field
      of a box sum is exact although the running sums of a large frame carry from field to field);
    - the absolute second difference along the row, |x[r, c-1] + x[r, c+1] - 2 x[r, c]| (0 in the
      first and last columns), and down the column (0 in the first and last rows), each summed over rows
      and columns into ``texture[0]`` and ``texture[1]`` (2 x rows + 1 x cols + 1, int64, or uint32 modulo
      2^32 where every strip's sum is below that: see :func:`_strip_share`).

    Evidence: (d - n) / (d + n + 1), in (-1, 1), where d is the absolute step across the boundary and
    n the mean absolute step of the two steps on each side of it (a sharp break in otherwise continuous
    content scores near 1; an edge blurred over two pixels or more, or noise, near 0 or below); 0 where
    those steps do not all exist. Summed in float32 (``down``, ``along``: a side's mean is wanted to
    1e-4) in the order numpy's cumsum takes; the counts in int64. The steps and the evidence are in the
    type of ``steps`` (5 x cols, scratch): float32 for pixels of up to 16 bits, where d, n, d - n and
    d + n + 1 are exact and the float32 quotient is the float64 one rounded to float32 (double rounding
    is innocuous for division when 53 >= 2 x 24 + 2: S. A. Figueroa, SIGNUM Newsletter 30(3), 1995), so
    twice the SIMD lanes give the same sums; float64 otherwise. Each map is a loop of its own along the
    row, with no dependency between columns (they vectorise), the 2-D sums added down each column there;
    only the running sums along the rows are chains, three in one loop, and the float32 evidence
    ``along`` four rows at a time (:func:`_running_rows`)."""
    height, width = image.shape
    span = max(width - 5, 0)      # columns 3 .. width - 3 have two steps on each side
    for k in range(1, min(3, height)):
        _absolute_steps(image[k - 1], image[k], steps[k % 5])
    d = np.zeros(width, steps.dtype)
    across = np.zeros((4, width), steps.dtype)     # of the last four rows, summed along them four at a time
    # Per column, the three maps summed down the rows so far: their running sums along a row are the 2-D sums.
    flags = np.zeros(width, np.int64)
    curvature = np.zeros(width, np.int64)
    curvature_down = np.zeros(width, np.int64)
    no_sums = np.zeros(0, down.dtype)
    down[0] = 0
    counts[0] = 0
    texture[:, 0] = 0
    for r in range(height):
        row = image[r]
        if r + 2 < height:
            _absolute_steps(image[r + 1], image[r + 2], steps[(r + 2) % 5])
        _absolute_steps(row[:width - 1], row[1:], d[1:])
        previous, current = down[r], down[r + 1]
        current[:min(3, width)] = previous[:min(3, width)]
        current[3 + span:] = previous[3 + span:]
        _evidence(d[1:1 + span], d[2:2 + span], d[3:3 + span], d[4:4 + span], d[5:5 + span], previous[3:3 + span],
                  current[3:3 + span])
        if 3 <= r < height - 2:
            _evidence(steps[(r - 2) % 5], steps[(r - 1) % 5], steps[r % 5], steps[(r + 1) % 5], steps[(r + 2) % 5],
                      no_sums, across[r % 4])
        else:
            across[r % 4] = 0
        if r % 4 == 3:
            _running_rows(across, along[r - 3:r + 1])
        _flag_steps(d[1:], flags[:width - 1], 0)
        if r < height - 1:
            _flag_steps(steps[(r + 1) % 5], flags, _SEAM_BELOW)
        if width > 2:
            _add_absolute_curvature(row[:width - 2], row[1:width - 1], row[2:], curvature[1:width - 1])
        # The first and last rows stand in for their missing neighbours: a second difference of 0.
        above, beneath = (image[r - 1], image[r + 1]) if 0 < r < height - 1 else (row, row)
        _add_absolute_curvature(above, row, beneath, curvature_down)
        counted, rough, rough_down = counts[r + 1], texture[0, r + 1], texture[1, r + 1]
        counted[0] = 0
        rough[0] = 0
        rough_down[0] = 0
        k, t, u = np.int64(0), np.int64(0), np.int64(0)
        for c in range(width):
            k += flags[c]
            t += curvature[c]
            u += curvature_down[c]
            counted[c + 1] = k
            rough[c + 1] = t
            rough_down[c + 1] = u
    rest = height % 4
    _running_rows(across[:rest], along[height - rest:])


@njit(cache=True, nogil=True)
def _running_rows(values, sums):
    """``sums[i, c + 1] = sums[i, c] + values[i, c]`` in the type of ``sums``, ``sums[i, 0] = 0``: the
    running sums along each row, of four rows at a time (four independent chains: one alone waits on
    each of its additions)."""
    total = sums.dtype.type
    rows, width = values.shape
    for i in range(0, rows - 3, 4):
        v0, v1, v2, v3 = values[i], values[i + 1], values[i + 2], values[i + 3]
        s0, s1, s2, s3 = sums[i], sums[i + 1], sums[i + 2], sums[i + 3]
        a0, a1, a2, a3 = total(0), total(0), total(0), total(0)
        s0[0], s1[0], s2[0], s3[0] = a0, a1, a2, a3
        for c in range(width):
            a0 += total(v0[c])
            a1 += total(v1[c])
            a2 += total(v2[c])
            a3 += total(v3[c])
            s0[c + 1], s1[c + 1], s2[c + 1], s3[c + 1] = a0, a1, a2, a3
    for i in range(rows - rows % 4, rows):
        a = total(0)
        sums[i, 0] = a
        for c in range(width):
            a += total(values[i, c])
            sums[i, c + 1] = a


@njit(cache=True, nogil=True)
def _absolute_steps(before, after, out):
    """``out[c] = |after[c] - before[c]|``, in the type of ``out``."""
    for c in range(out.size):
        out[c] = abs(out.dtype.type(after[c]) - out.dtype.type(before[c]))


@njit(cache=True, nogil=True, error_model="numpy")
def _evidence(s0, s1, s2, s3, s4, previous, out):
    """``out[c]`` = the seam evidence (s2 - n) / (s2 + n + 1) of the step ``s2[c]``, n the mean of the
    steps s0, s1, s3 and s4 beside it; plus ``previous[c]`` in the type of ``out`` unless ``previous`` is
    empty. numpy's error model: the denominator is at least 1, and Python's test for division by zero
    keeps the loop from vectorising (0.3 ms of a 512x512 slice instead of 0.05)."""
    one, quarter = s2.dtype.type(1.0), s2.dtype.type(0.25)
    if previous.size == 0:
        for c in range(out.size):
            n = (((s0[c] + s1[c]) + s3[c]) + s4[c]) * quarter
            out[c] = (s2[c] - n) / (s2[c] + n + one)
    else:
        for c in range(out.size):
            n = (((s0[c] + s1[c]) + s3[c]) + s4[c]) * quarter
            out[c] = previous[c] + out.dtype.type((s2[c] - n) / (s2[c] + n + one))


@njit(cache=True, nogil=True)
def _flag_steps(steps, flags, shift):
    """Add to ``flags[c]`` 1 at bit ``shift`` where ``steps[c]`` is not 0, and 1 at bit _SEAM_UNITS where it
    is exactly 1."""
    for c in range(flags.size):
        flags[c] += (np.int64(steps[c] != 0) << shift) + (np.int64(steps[c] == 1.0) << _SEAM_UNITS)


@njit(cache=True, nogil=True)
def _add_absolute_curvature(before, middle, after, out):
    """``out[c] += |before[c] + after[c] - 2 middle[c]|`` (int64: exact for integer pixels)."""
    for c in range(out.size):
        out[c] += abs((np.int64(before[c]) + np.int64(after[c])) - 2 * np.int64(middle[c]))


@njit(cache=True, nogil=True)
def _outline_score(down, along, r, c, s):
    """The mean, over the four sides of the square, of the side's mean evidence less the larger mean
    evidence (if positive) of its line's SEAM_REACH pixels beyond either end: a long straight edge
    (collimator, table, grey bar, step wedge) goes on past a square's corners, a pasted patch's seam
    stops there."""
    b, e, k = r + s, c + s, SEAM_REACH
    total = 0.0
    for line, first, last, sums, across in ((c, r, b, down, False), (e, r, b, down, False),
                                            (r, c, e, along, True), (b, c, e, along, True)):
        if across:
            side = np.float64(sums[line, last] - sums[line, first]) / s
            beyond = max(np.float64(sums[line, first] - sums[line, first - k]),
                         np.float64(sums[line, last + k] - sums[line, last])) / k
        else:
            side = np.float64(sums[last, line] - sums[first, line]) / s
            beyond = max(np.float64(sums[first, line] - sums[first - k, line]),
                         np.float64(sums[last + k, line] - sums[last, line])) / k
        total += side - max(beyond, 0.0)
    return total / 4


@njit(cache=True, nogil=True)
def _texture_contrast(texture, r, c, s):
    """How much the texture inside the square differs from outside it, the same way on all four sides,
    the larger of :func:`_directional_contrast` along rows (``texture[0]``) and down columns
    (``texture[1]``): a patch from another image differs from its surroundings in how rough it is, or
    in which direction (the correlated noise of a CT reconstruction kernel or of ultrasound speckle is
    smoother along one axis than the other)."""
    return max(_directional_contrast(texture[0], r, c, s), _directional_contrast(texture[1], r, c, s))


@njit(cache=True, nogil=True)
def _directional_contrast(texture, r, c, s):
    """Per side, the ratio of the mean absolute second difference (``texture``: its 2-D running sum)
    in the 4-pixel strip inside to the strip outside (the pixels whose difference straddles the seam
    left out, each mean plus SEAM_TEXTURE_FLOOR stored values); if all four ratios are above 1, the log
    of the least, if all are below 1, minus the log of the greatest (the least absolute log ratio, one
    log instead of four), else 0; at most 1. A natural region is rarely smoother or rougher than its
    surroundings on all four sides of a square."""
    b, e, w, f = r + s, c + s, SEAM_STRIP, SEAM_TEXTURE_FLOOR
    ratios = ((_strip_share(texture, r, c + 1, b, c + 1 + w) + f) / (_strip_share(texture, r, c - 1 - w, b, c - 1) + f),
              (_strip_share(texture, r, e - 1 - w, b, e - 1) + f) / (_strip_share(texture, r, e + 1, b, e + 1 + w) + f),
              (_strip_share(texture, r + 1, c, r + 1 + w, e) + f) / (_strip_share(texture, r - 1 - w, c, r - 1, e) + f),
              (_strip_share(texture, b - 1 - w, c, b - 1, e) + f) / (_strip_share(texture, b + 1, c, b + 1 + w, e) + f))
    low, high = min(ratios), max(ratios)
    if low > 1.0:
        return min(math.log(low), 1.0)
    if high < 1.0:
        return min(-math.log(high), 1.0)
    return 0.0


@njit(cache=True, nogil=True)
def _lattice_contrast(counts, r, c, s):
    """How much rarer steps of exactly 1 stored value are inside the square than in the SEAM_MARGIN-pixel
    ring around it, among the steps to a right or lower neighbour that are not 0: log((U_ring + 1) /
    (N_ring + 1) x (N_in + 1) / (U_in + 1)) over SEAM_LATTICE_SPAN, within 0 .. 1. A patch whose values
    went through round(a x + b) with a > 1 (rescaled to match its new surroundings) skips values: its
    steps are multiples of about a, never 1 (M. C. Stamm, K. J. R. Liu, IEEE TIFS 5(3), 2010)."""
    b, e, m = r + s, c + s, SEAM_MARGIN
    inner, outer = _box_sum(counts, r, c, b, e), _box_sum(counts, r - m, c - m, b + m, e + m)
    units, steps = _field(inner, _SEAM_UNITS), _field(inner, 0) + _field(inner, _SEAM_BELOW)
    units_ring = _field(outer, _SEAM_UNITS) - units
    steps_ring = _field(outer, 0) + _field(outer, _SEAM_BELOW) - steps
    ratio = (units_ring + 1.0) / (steps_ring + 1.0) * (steps + 1.0) / (units + 1.0)
    return min(max(math.log(ratio), 0.0) / SEAM_LATTICE_SPAN, 1.0)


@njit(cache=True, nogil=True)
def _box_sum(total, r0, c0, r1, c1):
    """The sum of the 2-D running sum ``total`` over rows r0 .. r1-1, columns c0 .. c1-1."""
    return total[r1, c1] - total[r0, c1] - total[r1, c0] + total[r0, c0]


@njit(cache=True, nogil=True)
def _field(packed, shift):
    """The count at bit ``shift`` of a box sum of packed counts (:func:`_seam_sums`)."""
    return (packed >> shift) & ((1 << SEAM_FIELD) - 1)


@njit(cache=True, nogil=True)
def _strip_share(total, r0, c0, r1, c1):
    """The mean of the 2-D running sum ``total`` over rows r0 .. r1-1, columns c0 .. c1-1; a ``total`` of
    32-bit integers holds the sums modulo 2^32, which gives every box sum below 2^32 exactly."""
    box = np.int64(total[r1, c1]) - np.int64(total[r0, c1]) - np.int64(total[r1, c0]) + np.int64(total[r0, c0])
    if total.itemsize == 4:
        box &= 0xFFFFFFFF
    return box / ((r1 - r0) * (c1 - c0))


@njit(cache=True, nogil=True)
def _square_varied(counts, r, c, s, share, inside):
    """:func:`_strips_varied` along rows and down columns (the packed ``counts`` of pixels that differ
    from their right and from their lower neighbour): a ramp, such as a grey bar, varies one way only."""
    return _strips_varied(counts, 0, r, c, s, share, inside) and \
        _strips_varied(counts, _SEAM_BELOW, r, c, s, share, inside)


@njit(cache=True, nogil=True)
def _strips_varied(counts, shift, r, c, s, share, inside):
    """The four 4-pixel strips outside the square's four sides, and if ``inside`` the four inside them
    (the pixels next to the seam left out), each have ``share`` of their pixels or more counted in the
    field of ``counts`` at bit ``shift`` (:func:`_seam_sums`): the square and its surroundings are
    textured, not flat graphics or background."""
    b, e, k = r + s, c + s, shift
    if not (_count_share(counts, k, r, c - 5, b, c - 1) >= share and _count_share(counts, k, r, e, b, e + 4) >= share
            and _count_share(counts, k, r - 5, c, r - 1, e) >= share and _count_share(counts, k, b, c, b + 4, e) >= share):
        return False
    return not inside or _count_share(counts, k, r, c, b, c + 4) >= share and \
        _count_share(counts, k, r, e - 5, b, e - 1) >= share and _count_share(counts, k, r, c, r + 4, e) >= share and \
        _count_share(counts, k, b - 5, c, b - 1, e) >= share


@njit(cache=True, nogil=True)
def _count_share(counts, shift, r0, c0, r1, c1):
    """The mean over rows r0 .. r1-1, columns c0 .. c1-1 of the count at bit ``shift`` of ``counts``."""
    return _field(_box_sum(counts, r0, c0, r1, c1), shift) / ((r1 - r0) * (c1 - c0))


_TOP, _BOTTOM = 1, 2     # bits of :func:`_corner_flags`


@njit(cache=True, nogil=True)
def _corner_flags(down, along, corner, flags):
    """Which corners of a square at each pixel boundary point (y, x) pass the pre-test, in ``flags``
    (2 x rows x cols): in ``flags[0]``, _TOP where a top-left corner's mean evidence over the SEAM_CORNER
    pixels of its left side, and over those of its top side, each mean taken alone, sum to at least 2
    ``corner``, _BOTTOM where a bottom-left corner's evidence summed over the SEAM_CORNER pixels of its
    two sides is at least 2 ``corner`` SEAM_CORNER; in ``flags[1]`` the same sum at a top-right
    (_TOP) and a bottom-right (_BOTTOM) corner. A row's tests are two loops that vectorise (0.19 ms for a
    512x512 frame); the search then reads a byte per corner (the running sums that a square's three
    other corners read are 2 MB apart: the whole search took 0.77 ms of 693_UNCR.dcm reading them, 0.53
    with this map)."""
    rows, cols = flags.shape[1:]
    k = SEAM_CORNER
    n = max(cols - k, 0)
    flags[0, :, n:] = 0
    flags[1, :, :min(k, cols)] = 0
    for y in range(rows):
        above, middle, below = down[max(y - k, 0)], down[y], down[min(y + k, rows)]
        tops, bottoms = y + k <= rows, y >= k
        left, right = along[y, :n], along[y, k:k + n]
        _corner_tests(above[:n], middle[:n], below[:n], left, right, corner, tops, bottoms, True, flags[0, y, :n])
        _corner_tests(above[k:], middle[k:], below[k:], left, right, corner, tops, bottoms, False, flags[1, y, k:])


@njit(cache=True, nogil=True)
def _corner_tests(above, middle, below, left, right, corner, tops, bottoms, top_left, flags):
    """The tests of :func:`_corner_flags` on one row of points: ``down`` read SEAM_CORNER rows above and
    below (top only where ``tops``, bottom only where ``bottoms``: the rows those reach exist), ``along``
    SEAM_CORNER columns apart; a top-left corner's test if ``top_left``, else a top-right one's. Float32
    differences, as the running sums are. (Both sides in one loop would read eight arrays and write two:
    more than the aliasing checks LLVM makes before it vectorises a loop.)"""
    top, bottom = np.uint8(_TOP * tops), np.uint8(_BOTTOM * bottoms)
    least = 2 * corner * SEAM_CORNER
    for j in range(flags.size):
        side = right[j] - left[j]
        if top_left:
            passed = np.float64(below[j] - middle[j]) / SEAM_CORNER + np.float64(side) / SEAM_CORNER >= 2 * corner
        else:
            passed = np.float64((below[j] - middle[j]) + side) >= least
        flags[j] = (top * np.uint8(passed)) | (bottom * np.uint8(np.float64((middle[j] - above[j]) + side) >= least))


@njit(cache=True, nogil=True)
def _seam_squares(down, along, counts, texture, flags, first, end, smallest, largest, corner, weight,
                  lattice, threshold, share, scores, rows, cols, sides):
    """For each top-left corner whose first SEAM_CORNER pixels of left and top side have a mean
    evidence of at least ``corner`` (:func:`_corner_flags`), the side in smallest .. largest with the
    best score among the squares whose bottom-right corner, or else both top-right and bottom-left
    corners, pass the same test: the outline's seam score (:func:`_outline_score`) plus ``weight``
    times the texture contrast across it (:func:`_texture_contrast`, at most 1) plus ``lattice`` times
    the unit-step contrast (:func:`_lattice_contrast`, at most 1); stored when that is at least
    ``threshold`` and the square is textured (:func:`_square_varied`; outside only when the unit-step
    contrast is 1). Top-left corners on rows ``first`` .. ``end`` - 1 only.
    ``down``: the running sum of the column-boundary evidence down each column (rows + 1 x cols),
    ``along``: of the row-boundary evidence along each row (rows x cols + 1), ``counts``: 2-D running
    sums of the pixels that differ from their right and lower neighbours and of unit steps, packed,
    ``texture``: of the absolute second differences along rows and down columns (2 x rows + 1 x cols
    + 1), ``flags``: scratch (2 x rows x cols uint8). Returns how many were stored (at most len(scores))."""
    height, width = along.shape[0], down.shape[1]
    _corner_flags(down, along, corner, flags)
    count = 0
    c0, c1 = SEAM_MARGIN, width - SEAM_MARGIN - smallest + 1     # left columns searched
    corners = np.empty(max(c1 - c0, 0), np.int64)
    for r in range(max(first, SEAM_MARGIN), min(end, height - SEAM_MARGIN - smallest + 1)):
        top = flags[0, r]
        passed = 0
        for c in range(c0, c1):     # a loop of its own: inside the search's, the scan takes 10x longer
            if top[c] & _TOP:
                corners[passed] = c
                passed += 1
        for c in corners[:passed]:
            best, best_side = -1.0, 0
            for s in range(smallest, min(largest, height - SEAM_MARGIN - r, width - SEAM_MARGIN - c) + 1):
                b, e = r + s, c + s
                if not (flags[1, b, e] & _BOTTOM or flags[1, r, e] & _TOP and flags[0, b, c] & _BOTTOM):
                    continue
                score = _outline_score(down, along, r, c, s)
                if score + weight + lattice < threshold or score + weight + lattice <= best:
                    continue
                score += weight * _texture_contrast(texture, r, c, s)
                # A square whose unit steps are all gone is a rescaled patch: smooth inside, not flat graphics.
                skips = _lattice_contrast(counts, r, c, s) if lattice else 0.0
                score += lattice * skips
                if score > best and score >= threshold and _square_varied(counts, r, c, s, share, skips < 1.0):
                    best, best_side = score, s
            if best_side and count < scores.size:
                scores[count], rows[count], cols[count], sides[count] = best, r, c, best_side
                count += 1
    return count


def seam_sums_reference(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """What :func:`_seam_sums` computes, with numpy slicing and cumsum."""
    across_columns, across_rows, varied, varied_down, units = _seam_maps_reference(image)
    height, width = varied.shape
    down = np.zeros((height + 1, width), np.float32)
    down[1:] = np.cumsum(across_columns.astype(np.float32), axis=0, dtype=np.float32)
    along = np.zeros((height, width + 1), np.float32)
    along[:, 1:] = np.cumsum(across_rows.astype(np.float32), axis=1, dtype=np.float32)
    counts = np.zeros((height + 1, width + 1), np.int64)
    flags = varied.astype(np.int64) + (varied_down.astype(np.int64) << _SEAM_BELOW) + \
        (units.astype(np.int64) << _SEAM_UNITS)
    counts[1:, 1:] = np.cumsum(np.cumsum(flags, axis=0), axis=1)
    pixels = _frame(image, 1).astype(np.int64)
    curvature = np.zeros((2, height, width), np.int64)
    curvature[0, :, 1:-1] = np.abs(pixels[:, :-2] + pixels[:, 2:] - 2 * pixels[:, 1:-1])
    curvature[1, 1:-1] = np.abs(pixels[:-2] + pixels[2:] - 2 * pixels[1:-1])
    texture = np.zeros((2, height + 1, width + 1), np.int64)
    texture[:, 1:, 1:] = np.cumsum(np.cumsum(curvature, axis=2), axis=1)
    return down, along, counts, texture


_SCRATCH = threading.local()
_SCRATCH_KEPT = 1 << 20     # pixels: the running sums of larger frames are not kept between calls


def _seam_buffers(height: int, width: int, texture: type) -> tuple[np.ndarray, ...]:
    """The running sums of :func:`_seam_sums` for a frame of this shape (the texture sums of type
    ``texture``) and the corner flags, the calling thread's own from its previous call of the same
    shape when the frame has at most _SCRATCH_KEPT pixels: the first touch of 6 MB of fresh pages costs
    as much as the sums themselves."""
    kept = getattr(_SCRATCH, "sums", None)
    if kept is not None and kept[0].shape == (height + 1, width) and kept[3].dtype == texture:
        return kept
    sums = np.empty((height + 1, width), np.float32), np.empty((height, width + 1), np.float32), \
        np.empty((height + 1, width + 1), np.int64), np.empty((2, height + 1, width + 1), texture), \
        np.empty((2, height, width), np.uint8)
    _SCRATCH.sums = sums if height * width <= _SCRATCH_KEPT else None
    return sums


def _texture_type(dtype: np.dtype, largest: int) -> type:
    """uint32 for the texture sums (:func:`_seam_sums`) where every strip's sum is below 2^32: pixels of up to
    16 bits, second differences below 2^17, strips of 4 x ``largest`` pixels; a third less memory written
    than int64."""
    return np.uint32 if dtype.itemsize <= 2 and SEAM_STRIP * largest < 1 << 15 else np.int64


def seam_squares(image: np.ndarray, smallest: int, largest: int, corner: float, weight: float, lattice: float,
                 threshold: float, share: float, capacity: int = 4096, band_pixels: int = 1 << 20) -> SeamSquares:
    """Squares of ``smallest`` to ``largest`` pixels a side, at least SEAM_MARGIN pixels inside a 2-D
    frame, whose outline is a seam: a score of at least ``threshold``, the mean seam evidence over the
    outline (:func:`_seam_sums`, :func:`_outline_score`) plus ``weight`` times the texture contrast
    across it (:func:`_texture_contrast`); a top-left corner, and the bottom-right one or else both
    others, of at least ``corner`` over the SEAM_CORNER pixels of each side next to them (the pre-test
    that keeps the search within a few milliseconds); textured strips on both sides of every side
    (``share`` of their pixels differing from a neighbour, each way). One per top-left corner, at most
    ``capacity``. Raises ValueError on frames the kernels do not take.

    The running sums take 26 bytes a pixel: a frame of more than ``band_pixels`` is searched in bands
    of rows of about that many pixels, each with the rows its squares reach above and below (the
    float32 sums then start at each band, so that scores may differ from the whole frame's in their
    sixth digit).
    """
    if smallest < SEAM_CORNER:
        raise ValueError(f"squares of {smallest} px: at least {SEAM_CORNER}")
    image = _frame(image, 1)
    height, width = image.shape
    step = max(largest, band_pixels // width)
    before, after = SEAM_MARGIN + 3, largest + SEAM_MARGIN + 3    # rows a square's outline reaches
    buffers = _seam_buffers(min(height, before + step + after), width, _texture_type(image.dtype, largest))
    steps = np.empty((5, width), _exact_type(image.dtype, 1))     # float32 where steps of the pixels are exact
    arrays = [np.empty(capacity), *(np.empty(capacity, np.int64) for _ in range(3))]
    n = 0
    for first in range(0, height, step):
        start, stop = max(first - before, 0), min(first + step + after, height)
        rows = stop - start
        sums = buffers[0][:rows + 1], buffers[1][:rows], buffers[2][:rows + 1], buffers[3][:, :rows + 1]
        _seam_sums(image[start:stop], steps, *sums)
        found = _seam_squares(*sums, buffers[4][:, :rows], first - start, first + step - start, smallest, largest, corner, weight,
                              lattice, threshold, share, *(a[n:] for a in arrays))
        arrays[1][n:n + found] += start
        n += found
    return SeamSquares(*(a[:n] for a in arrays))


def _seam_maps_reference(image: np.ndarray) -> tuple[np.ndarray, ...]:
    """The five maps :func:`_seam_sums` sums."""
    image = _frame(image, 1).astype(np.float64)
    maps = [np.zeros(image.shape) for _ in range(5)]
    for source, target, flip in ((image, maps[0], False), (image.T, maps[1], True)):
        d = np.zeros(source.shape)
        d[:, 1:] = np.abs(source[:, 1:] - source[:, :-1])
        n = (((d[:, 1:-4] + d[:, 2:-3]) + d[:, 4:-1]) + d[:, 5:]) * 0.25
        mid = d[:, 3:-2]
        (target.T if flip else target)[:, 3:-2] = (mid - n) / (mid + n + 1.0)
    maps[2][:, :-1] = image[:, 1:] != image[:, :-1]
    maps[3][:-1] = image[1:] != image[:-1]
    maps[4][:, :-1] = np.abs(image[:, 1:] - image[:, :-1]) == 1
    maps[4][:-1] += np.abs(image[1:] - image[:-1]) == 1
    return tuple(maps)


def _outline_score_reference(down: np.ndarray, along: np.ndarray, r: int, c: int, s: int) -> float:
    """What :func:`_outline_score` computes, side by side."""
    b, e, k = r + s, c + s, SEAM_REACH
    sides = [down[r:b + 1, c], down[r:b + 1, e], along[r, c:e + 1], along[b, c:e + 1]]
    reaches = [(down[r - k, c], down[b + k, c]), (down[r - k, e], down[b + k, e]),
               (along[r, c - k], along[r, e + k]), (along[b, c - k], along[b, e + k])]
    total = 0.0
    for line, (before, after) in zip(sides, reaches):
        beyond = max(float(line[0] - before), float(after - line[-1])) / k
        total += float(line[-1] - line[0]) / s - max(beyond, 0.0)
    return total / 4


def _lattice_contrast_reference(counts: np.ndarray, r: int, c: int, s: int) -> float:
    """What :func:`_lattice_contrast` computes, from the square's and its ring's boxes."""
    m, mask = SEAM_MARGIN, (1 << SEAM_FIELD) - 1
    def box(r0, c0, r1, c1):
        total = int(counts[r1, c1]) - int(counts[r0, c1]) - int(counts[r1, c0]) + int(counts[r0, c0])
        return [(total >> shift) & mask for shift in (0, _SEAM_BELOW, _SEAM_UNITS)]
    inner, outer = box(r, c, r + s, c + s), box(r - m, c - m, r + s + m, c + s + m)
    units, steps = inner[2], inner[0] + inner[1]
    units_ring, steps_ring = outer[2] - units, outer[0] + outer[1] - steps
    ratio = (units_ring + 1.0) / (steps_ring + 1.0) * (steps + 1.0) / (units + 1.0)
    return min(max(math.log(ratio), 0.0) / SEAM_LATTICE_SPAN, 1.0)


def _texture_contrast_reference(texture: np.ndarray, r: int, c: int, s: int) -> float:
    """What :func:`_texture_contrast` computes, from the strips' boxes."""
    b, e, w, f = r + s, c + s, SEAM_STRIP, SEAM_TEXTURE_FLOOR
    pairs = [((r, c + 1, b, c + 1 + w), (r, c - 1 - w, b, c - 1)), ((r, e - 1 - w, b, e - 1), (r, e + 1, b, e + 1 + w)),
             ((r + 1, c, r + 1 + w, e), (r - 1 - w, c, r - 1, e)), ((b - 1 - w, c, b - 1, e), (b + 1, c, b + 1 + w, e))]
    contrasts = []
    for sums in texture:
        def mean(r0, c0, r1, c1):
            return (sums[r1, c1] - sums[r0, c1] - sums[r1, c0] + sums[r0, c0]) / ((r1 - r0) * (c1 - c0))
        ratios = [(mean(*inside) + f) / (mean(*outside) + f) for inside, outside in pairs]
        # math.log, as the kernel (numpy's own log may differ from libm's in the last bit).
        contrasts.append(min(math.log(min(ratios)), 1.0) if min(ratios) > 1 else
                         min(-math.log(max(ratios)), 1.0) if max(ratios) < 1 else 0.0)
    return max(contrasts)


def seam_squares_reference(image: np.ndarray, smallest: int, largest: int, corner: float, weight: float,
                           lattice: float, threshold: float, share: float) -> SeamSquares:
    """What :func:`seam_squares` computes: the corner pre-test on whole arrays, then every side of
    every corner that passes, in plain Python."""
    down, along, counts, texture = seam_sums_reference(image)
    height, width = along.shape[0], down.shape[1]
    m, k = SEAM_MARGIN, SEAM_CORNER
    found = []
    r_end, c_end = height - m - smallest + 1, width - m - smallest + 1
    if r_end <= m or c_end <= m:
        return SeamSquares(np.empty(0), *(np.empty(0, np.int64) for _ in range(3)))
    left = (down[m + k:r_end + k, m:c_end] - down[m:r_end, m:c_end]).astype(np.float64) / k
    top = (along[m:r_end, m + k:c_end + k] - along[m:r_end, m:c_end]).astype(np.float64) / k
    varied = getattr(_square_varied, "py_func", _square_varied)
    for r, c in zip(*np.nonzero(left + top >= 2 * corner)):
        r, c = int(r) + m, int(c) + m
        best = None
        for s in range(smallest, min(largest, height - m - r, width - m - c) + 1):
            b, e = r + s, c + s
            corners = [((down[b, e] - down[b - k, e]) + (along[b, e] - along[b, e - k])),
                       ((down[r + k, e] - down[r, e]) + (along[r, e] - along[r, e - k])),
                       ((down[b, c] - down[b - k, c]) + (along[b, c + k] - along[b, c]))]
            bottom_right, top_right, bottom_left = (float(x) >= 2 * corner * k for x in corners)
            if not (bottom_right or top_right and bottom_left):
                continue
            score = _outline_score_reference(down, along, r, c, s) + weight * _texture_contrast_reference(texture, r, c, s)
            skips = _lattice_contrast_reference(counts, r, c, s) if lattice else 0.0
            score += lattice * skips
            if score >= threshold and (best is None or score > best[0]) and varied(counts, r, c, s, share, skips < 1):
                best = (score, r, c, s)
        if best is not None:
            found.append(best)
    columns = list(zip(*found)) or [(), (), (), ()]
    return SeamSquares(np.array(columns[0], float), *(np.array(x, np.int64) for x in columns[1:]))


class ValuePairs(NamedTuple):
    """Per block (rows x cols of blocks): ``pairs``, how many distinct values v of the block have v + 1
    among its values too; ``commonest``, the count of its commonest value; ``spread``, the standard
    deviation of its values (stored values); ``minimum`` and ``maximum``."""

    pairs: np.ndarray
    commonest: np.ndarray
    spread: np.ndarray
    minimum: np.ndarray
    maximum: np.ndarray


@functools.cache
def merge_network(n: int) -> np.ndarray:
    """The comparators (i, j), i < j, of Batcher's odd-even merge sort of ``n`` elements, in order (K. E.
    Batcher, "Sorting networks and their applications", AFIPS SJCC 1968): 543 for 64. Applied to every
    block at once, each comparator is a min and a max along a row of lanes, which vectorise."""
    pairs = []
    p = 1
    while p < n:
        k = p
        while k >= 1:
            for j in range(k % p, n - k, 2 * k):
                for i in range(min(k, n - j - k)):
                    if (i + j) // (2 * p) == (i + j + k) // (2 * p):
                        pairs.append((i + j, i + j + k))
            k //= 2
        p *= 2
    return np.array(pairs, np.int64).reshape(-1, 2)


@njit(cache=True, nogil=True)
def _block_value_pairs(image, block, low, network, lanes, pairs, commonest, spread, minimum, maximum):
    """Fill the :class:`ValuePairs` arrays, one row of blocks at a time: its pixels less ``low`` go into
    ``lanes`` (block * block rows, one column per block, a type that holds the frame's range), the
    sorting ``network`` sorts every column at once, and the sorted columns give the pairs (neighbours
    1 apart), the longest run of equal values, the sums for the spread, the least and the greatest."""
    rows, cols = pairs.shape
    n = block * block
    one = np.int32(1)
    found = np.zeros(cols, np.int32)
    run = np.ones(cols, np.int32)
    top = np.ones(cols, np.int32)
    total = np.zeros(cols)
    square = np.zeros(cols)
    for bi in range(rows):
        for y in range(block):
            row = image[bi * block + y]
            for x in range(block):
                lane = lanes[y * block + x]
                for bj in range(cols):
                    lane[bj] = row[bj * block + x] - low
        for c in range(network.shape[0]):
            first, second = lanes[network[c, 0]], lanes[network[c, 1]]
            for bj in range(cols):
                lo, hi = min(first[bj], second[bj]), max(first[bj], second[bj])
                first[bj] = lo
                second[bj] = hi
        found[:] = 0
        run[:] = 1
        top[:] = 1
        total[:] = 0
        square[:] = 0
        for k in range(n):
            values = lanes[k]
            for bj in range(cols):
                t = np.float64(values[bj])
                total[bj] += t
                square[bj] += t * t
        for k in range(1, n):
            before, after = lanes[k - 1], lanes[k]
            for bj in range(cols):
                # In int32, modulo 2^32 for 64-bit lanes: a step of 0 or 1 is still one (the values are
                # sorted and less than 2^32 apart), and twice as many blocks fit a vector.
                step = np.int32(after[bj]) - np.int32(before[bj])
                found[bj] += np.int32(step == 1)
                run[bj] = (run[bj] + one) * np.int32(step == 0) + np.int32(step != 0)
                top[bj] = max(top[bj], run[bj])
        for bj in range(cols):
            mean = total[bj] / n
            pairs[bi, bj] = found[bj]
            commonest[bi, bj] = top[bj]
            spread[bi, bj] = math.sqrt(max(square[bj] / n - mean * mean, 0.0))
            minimum[bi, bj] = np.float64(lanes[0, bj]) + low
            maximum[bi, bj] = np.float64(lanes[n - 1, bj]) + low


def block_value_pairs(image: np.ndarray, block: int = 8) -> ValuePairs:
    """:class:`ValuePairs` of each whole ``block`` x ``block`` block of a 2-D frame of integers of up to
    32 bits (DICOM's widest; the kernel's steps are taken modulo 2^32), the last partial rows and
    columns left out. Raises ValueError on other pixel types and frames smaller than one block."""
    image = _frame(image, block)
    if image.dtype.kind not in "iu" or image.itemsize > 4:
        raise ValueError(f"value pairs of {image.dtype} pixels: integers of up to 32 bits only")
    rows, cols = image.shape[0] // block, image.shape[1] // block
    whole = image[:rows * block, :cols * block]
    low, high = int(whole.min()), int(whole.max())
    # 16-bit lanes hold twice as many blocks a vector as 32-bit ones: most frames' ranges fit.
    lanes = np.empty((block * block, cols), np.uint16 if high - low < 1 << 16 else np.int64)
    arrays = [np.empty((rows, cols), np.int64), np.empty((rows, cols), np.int64), *(np.empty((rows, cols))
                                                                                     for _ in range(3))]
    _block_value_pairs(image, block, low, merge_network(block * block), lanes, *arrays)
    return ValuePairs(*arrays)


def block_value_pairs_reference(image: np.ndarray, block: int = 8) -> ValuePairs:
    """What :func:`block_value_pairs` computes, by sorting each block's values."""
    image = _frame(image, block).astype(np.int64)
    rows, cols = image.shape[0] // block, image.shape[1] // block
    values = image[:rows * block, :cols * block].reshape(rows, block, cols, block).transpose(0, 2, 1, 3)
    values = np.sort(values.reshape(rows, cols, block * block), axis=2)
    steps = np.diff(values, axis=2)
    runs = [np.diff(np.flatnonzero(np.r_[True, row != 0, True])).max() for row in steps.reshape(-1, steps.shape[2])]
    return ValuePairs(np.count_nonzero(steps == 1, axis=2), np.array(runs, np.int64).reshape(rows, cols),
                      values.std(axis=2), values[..., 0].astype(np.float64), values[..., -1].astype(np.float64))


class GapSquares(NamedTuple):
    """Squares of blocks whose values skip their neighbours (see :mod:`.gaps`; one per top-left block, the
    side with the best score): score, top block row, left block column, side (blocks); float64 and
    int64 arrays of equal length, by row and column."""

    scores: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    sides: np.ndarray


@njit(cache=True, nogil=True)
def _integral(values, total):
    """``total[i, j]`` = the sum of ``values[:i, :j]``."""
    rows, cols = values.shape
    total[0, :] = 0
    for i in range(rows):
        total[i + 1, 0] = 0
        run = 0.0
        for j in range(cols):
            run += values[i, j]
            total[i + 1, j + 1] = total[i, j + 1] + run


@njit(cache=True, nogil=True)
def _square_sum(total, r, c, side):
    return total[r + side, c + side] - total[r, c + side] - total[r + side, c] + total[r, c]


@njit(cache=True, nogil=True)
def _gap_squares(observed, expected, informative, smallest, largest, moat, least_expected, ring_share, least,
                 scores, rows, cols, sides):
    """For each top-left block, the side in smallest .. largest (blocks) with the best score of the squares
    whose blocks are all informative, whose ring (the blocks ``moat`` blocks beyond its sides) is at
    least ``ring_share`` informative and whose expected pairs reach ``least_expected``, scoring at least
    ``least``: min(log((O + 1) / (E + 1)) of the ring, 0) less that of the square. Returns how many were
    stored (at most len(scores), one per block)."""
    height, width = observed.shape
    o = np.empty((height + 1, width + 1))
    e = np.empty((height + 1, width + 1))
    n = np.empty((height + 1, width + 1))
    _integral(observed, o)
    _integral(expected, e)
    _integral(informative, n)
    gap = moat + 1
    factor = math.exp(least) if least > -np.inf else 0.0
    count = 0
    for i in range(gap, height - smallest - gap + 1):
        for j in range(gap, width - smallest - gap + 1):
            best, best_side = 0.0, 0
            for side in range(smallest, min(largest, height - gap - i, width - gap - j) + 1):
                if _square_sum(n, i, j, side) != side * side:
                    break           # a larger square holds the same block that is not informative
                e_in = _square_sum(e, i, j, side)
                o_in = _square_sum(o, i, j, side)
                # The ring's factor is at most 1: most squares fail on their own sums.
                if e_in < least_expected or e_in + 1 < factor * (o_in + 1):
                    continue
                outer, inner = side + 2 * gap, side + 2 * gap - 2
                ring = outer * outer - inner * inner
                if _square_sum(n, i - gap, j - gap, outer) - _square_sum(n, i - gap + 1, j - gap + 1, inner) < \
                        ring_share * ring:
                    continue
                o_ring = _square_sum(o, i - gap, j - gap, outer) - _square_sum(o, i - gap + 1, j - gap + 1, inner)
                e_ring = _square_sum(e, i - gap, j - gap, outer) - _square_sum(e, i - gap + 1, j - gap + 1, inner)
                # The ratio first, its log only for the squares kept: most squares score far below.
                contrast = min((o_ring + 1) / (e_ring + 1), 1.0) * (e_in + 1) / (o_in + 1)
                if contrast >= factor and contrast > best:
                    best, best_side = contrast, side
            if best_side and count < scores.size:
                scores[count], rows[count], cols[count], sides[count] = math.log(best), i, j, best_side
                count += 1
    return count


def gap_squares(observed: np.ndarray, expected: np.ndarray, informative: np.ndarray, smallest: int, largest: int,
                moat: int, least_expected: float, ring_share: float, least: float) -> GapSquares:
    """Squares of ``smallest`` to ``largest`` blocks, from per-block maps of observed and expected value
    pairs and of the informative blocks (:func:`_gap_squares`)."""
    maps = [np.ascontiguousarray(m, dtype=np.float64) for m in (observed, expected, informative)]
    arrays = [np.empty(observed.size), *(np.empty(observed.size, np.int64) for _ in range(3))]
    count = _gap_squares(*maps, smallest, largest, moat, least_expected, ring_share, least, *arrays)
    return GapSquares(*(a[:count] for a in arrays))


def gap_squares_reference(observed: np.ndarray, expected: np.ndarray, informative: np.ndarray, smallest: int,
                          largest: int, moat: int, least_expected: float, ring_share: float,
                          least: float) -> GapSquares:
    """What :func:`gap_squares` computes, with sliding windows per side."""
    gap = moat + 1

    def scored(side: int) -> tuple[np.ndarray, np.ndarray]:
        outer = side + 2 * gap
        windows = [np.lib.stride_tricks.sliding_window_view(np.asarray(m, np.float64), (outer, outer))
                   for m in (observed, expected, informative)]
        inside = [w[..., gap:gap + side, gap:gap + side].sum((-2, -1)) for w in windows]
        ring = [w.sum((-2, -1)) - w[..., 1:-1, 1:-1].sum((-2, -1)) for w in windows]
        score = np.minimum(np.log((ring[0] + 1) / (ring[1] + 1)), 0) - np.log((inside[0] + 1) / (inside[1] + 1))
        return score, (inside[2] == side * side) & (inside[1] >= least_expected) & \
            (ring[2] >= ring_share * (outer * outer - (outer - 2) ** 2)) & (score >= least)

    return GapSquares(*_best_squares_reference(observed.shape, smallest, largest, gap, scored))


def _best_squares_reference(shape: tuple[int, int], smallest: int, largest: int, gap: int,
                            scored) -> tuple[np.ndarray, ...]:
    """Per top-left block, the side of smallest .. largest blocks with the best score: ``scored(side)``
    gives the scores and whether each counts, per window of side + 2 ``gap`` blocks (a square and its
    ring). Scores, rows, columns and sides, by row and column."""
    height, width = shape
    best = np.full((height, width), -np.inf)
    sides = np.zeros((height, width), np.int64)
    for side in range(smallest, largest + 1):
        if min(height, width) < side + 2 * gap:
            break
        score, ok = scored(side)
        r, c = np.nonzero(ok)
        better = score[r, c] > best[r + gap, c + gap]
        best[r[better] + gap, c[better] + gap] = score[r, c][better]
        sides[r[better] + gap, c[better] + gap] = side
    rows, cols = np.nonzero(sides)
    return best[rows, cols], rows.astype(np.int64), cols.astype(np.int64), sides[rows, cols]


class NoisySquares(NamedTuple):
    """Squares of blocks noisier than the ring of blocks around them (one per top-left block, the side
    with the best score): score, top block row, left block column, side (blocks); float64 and int64
    arrays of equal length."""

    scores: np.ndarray
    rows: np.ndarray
    cols: np.ndarray
    sides: np.ndarray


NOISY_MOAT = 1     # blocks between a square and its ring: the blocks a pasted patch covers in part


@njit(cache=True, nogil=True)
def _noisy_squares(sigma, smallest, largest, least, scores, rows, cols, sides):
    """For each top-left block, the side in smallest .. largest (blocks) with the best score of at least
    ``least``: log(the least ``sigma`` inside the square / the greatest on the ring of blocks NOISY_MOAT
    blocks beyond its sides); NaN blocks (not informative) stop a square that holds them and skip a
    ring that does. A top-left block below e^least times the three blocks of the ring that every side's
    ring holds is passed over first (most blocks), and a square stops growing once its least sigma
    inside falls below that. Returns how many were stored (at most len(scores))."""
    height, width = sigma.shape
    gap = NOISY_MOAT + 1
    factor = math.exp(least)
    count = 0
    for i in range(gap, height - smallest - gap + 1):
        for j in range(gap, width - smallest - gap + 1):
            top = sigma[i, j]
            if not (top >= factor * sigma[i - gap, j - gap] and top >= factor * sigma[i - gap, j]
                    and top >= factor * sigma[i, j - gap]):
                continue
            corner = max(sigma[i - gap, j - gap], sigma[i - gap, j], sigma[i, j - gap])
            inner = np.inf
            best, best_side = -np.inf, 0
            for k in range(1, min(largest, height - gap - i, width - gap - j) + 1):
                for a in range(k):        # the square grows by its last row and column
                    x, y = sigma[i + k - 1, j + a], sigma[i + a, j + k - 1]
                    if np.isnan(x) or np.isnan(y):
                        inner = np.nan
                        break
                    inner = min(inner, x, y)
                # Those ring blocks are on every larger square's ring, and its least inside is no larger.
                if np.isnan(inner) or inner < factor * corner:
                    break
                if k < smallest:
                    continue
                r0, c0, r1, c1 = i - gap, j - gap, i + k - 1 + gap, j + k - 1 + gap
                ring = 0.0
                for a in range(k + 2 * gap):
                    ring = max(ring, _nan_as_inf(sigma[r0, c0 + a]), _nan_as_inf(sigma[r1, c0 + a]),
                               _nan_as_inf(sigma[r0 + a, c0]), _nan_as_inf(sigma[r0 + a, c1]))
                if not (inner > 0.0 and 0.0 < ring < np.inf):     # NaN on the ring, or flat blocks
                    continue
                score = math.log(inner / ring)
                if score >= least and score > best:
                    best, best_side = score, k
            if best_side and count < scores.size:
                scores[count], rows[count], cols[count], sides[count] = best, i, j, best_side
                count += 1
    return count


@njit(cache=True, nogil=True)
def _nan_as_inf(value):
    """``value``, or +inf if it is NaN: the max of numba's floats may pass over a NaN, and one NaN block
    must spoil the ring that holds it (an infinite greatest sigma, so that no score passes)."""
    return np.inf if np.isnan(value) else value


def noisy_squares(sigma: np.ndarray, smallest: int, largest: int, least: float,
                  capacity: int = 4096) -> NoisySquares:
    """Squares of ``smallest`` to ``largest`` blocks of a block noise map (:func:`block_noise`'s sigma,
    NaN where a block is not informative) whose least sigma is at least e^``least`` times the greatest
    on the ring of blocks NOISY_MOAT blocks beyond their sides (:func:`_noisy_squares`); at most
    ``capacity``."""
    sigma = np.ascontiguousarray(sigma, dtype=np.float64)
    arrays = [np.empty(capacity), *(np.empty(capacity, np.int64) for _ in range(3))]
    n = _noisy_squares(sigma, smallest, largest, least, *arrays)
    return NoisySquares(*(a[:n] for a in arrays))


def noisy_squares_reference(sigma: np.ndarray, smallest: int, largest: int, least: float) -> NoisySquares:
    """What :func:`noisy_squares` computes, with sliding windows per side."""
    sigma = np.asarray(sigma, dtype=np.float64)
    gap = NOISY_MOAT + 1

    def scored(k: int) -> tuple[np.ndarray, np.ndarray]:
        window = np.lib.stride_tricks.sliding_window_view(sigma, (k + 2 * gap, k + 2 * gap))
        inner = window[..., gap:gap + k, gap:gap + k].reshape(*window.shape[:2], -1)
        ring = np.concatenate([window[..., 0, :], window[..., -1, :], window[..., :, 0], window[..., :, -1]], -1)
        with np.errstate(invalid="ignore", divide="ignore"):
            lowest, highest = inner.min(-1), ring.max(-1)
            score = np.log(lowest / highest)
        return score, ~np.isnan(score) & (highest > 0) & (score >= least)

    return NoisySquares(*_best_squares_reference(sigma.shape, smallest, largest, gap, scored))


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels for the frame types decoders give."""
    for dtype in (np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64):
        frame = np.zeros((16, 16), dtype)
        block_noise(frame)
        window_hashes(frame)
        if frame.dtype.kind in "iu" and frame.itemsize <= 2:
            histogram(frame)
        if frame.dtype.kind in "iu":
            seam_squares(np.zeros((48, 48), dtype), 24, 32, 0.1, 0.2, 0.1, 0.3, 0.25)
            block_value_pairs(frame)
            if frame.itemsize >= 2:
                frame[0, 0] = np.iinfo(dtype).max      # a range beyond 16 bits: 64-bit lanes
                block_value_pairs(frame)
    noisy_squares(np.ones((8, 8)), 2, 3, 0.1)
    gap_squares(np.ones((8, 8)), np.ones((8, 8)), np.ones((8, 8)), 2, 3, 1, 1.0, 0.9, 0.0)
