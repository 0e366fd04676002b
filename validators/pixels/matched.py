"""The matched filter of the lesion check (:mod:`.lesions`): per residual of a slice (the slice less its
prediction from its neighbours) and per blob sd, the response to a zero-mean Gaussian blob as a signal-to-noise
ratio, its normalised cross-correlation with the blob (the shape gate), and the local energy of a map
(the clutter measure).

- :func:`matched_filter_reference`: scipy.ndimage's separable filters (correlate1d, uniform_filter, mode
  "reflect") and numpy's medians, whole arrays at a time.
- :func:`matched_filter`: a numba kernel that does the same operations in the same order and types, one
  difference at a time in the cache: each filter pass sums in float64 and rounds to float32 where scipy
  does (its line buffers are float64, its outputs the input's float32), the box filter is scipy's running
  sum divided by the width, and the medians are exact order statistics. Its maps are the reference's bit
  for bit (tests). Kernels that divide use numba's numpy error model: no zero test per division, so that
  the loops vectorise, and a zero divisor gives inf as numpy does.

- :func:`local_energy` / :func:`local_energy_reference`: the mean square of each map over a window (the
  same box filter in the same order).

The filters take ``differences`` (n, rows, columns) float32, residuals or differences of slices, and the
white-noise sd of each (``sigmas``). Kernels take C-contiguous arrays and scalars only; NUMBA_CACHE_DIR is
the plugin's to set before import.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from scipy import ndimage

HALF_WIDTH = 2.5            # template half-width in sd
_FLOOR = np.float32(1e-12)  # least local energy, so that a flat window's correlation is 0, not 0/0


class Template(NamedTuple):
    """The sampled Gaussian of one blob sd (float32, as the maps), its width, the factor of the window's
    mean that makes it zero-mean, and the norm of the zero-mean template."""

    g: np.ndarray
    width: int
    offset: float
    norm: float


def template(scale: float, dtype: np.dtype) -> Template:
    """The Gaussian of sd ``scale`` (pixels) over +-HALF_WIDTH sd, in ``dtype``."""
    radius = int(np.ceil(HALF_WIDTH * scale))
    width = 2 * radius + 1
    x = np.arange(-radius, radius + 1)
    g = np.exp(-x * x / (2 * scale * scale)).astype(dtype)
    mean_g = float(g.sum()) ** 2 / width ** 2
    norm = float(np.sqrt(float((g * g).sum()) ** 2 - width ** 2 * mean_g ** 2))
    return Template(g, width, mean_g * width * width, norm)


def matched_filter(differences: np.ndarray, scale: float,
                   sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal-to-noise ratio and normalised cross-correlation maps (float32, the shape of ``differences``)
    of each difference with the zero-mean blob of sd ``scale``, and the noise each ratio is of (float64,
    one per difference), as :func:`matched_filter_reference` computes them, by the numba kernel.
    ``differences``: finite float32 (n, rows, columns)."""
    if differences.dtype != np.float32 or differences.ndim != 3:
        raise ValueError("differences must be a float32 array of (n, rows, columns)")
    t = template(scale, differences.dtype)
    snr = np.empty(differences.shape, np.float32)
    shape = np.empty(differences.shape, np.float32)
    noise = np.empty(len(differences))
    _matched_maps(np.ascontiguousarray(differences), t.g.astype(np.float64), np.float32(t.offset), t.norm,
                  np.float32(t.norm), np.float32(t.width * t.width), np.ascontiguousarray(sigmas, np.float64),
                  snr, shape, noise)
    return snr, shape, noise


def matched_filter_reference(differences: np.ndarray, scale: float,
                             sigmas: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Signal-to-noise ratio and normalised cross-correlation of each of ``differences`` (n, rows,
    columns; residuals or differences of slices, whose white noise has sd ``sigmas[i]`` per pixel) with
    a zero-mean Gaussian blob of sd ``scale``, computed separably: the Gaussian's response minus its
    mean times the window's sum. The noise of the response is the larger of the white noise's and the
    robust spread of the response over the slice (1.4826 median absolute deviation), which holds
    coloured noise and the anatomy's own change; the ratio is 0 where both are 0 (identical or
    noise-free slices). Returns the ratio and correlation maps and the noise of each (float64; the
    response is the ratio times it)."""
    t = template(scale, differences.dtype)
    window = (1, t.width, t.width)  # each difference alone
    response = ndimage.correlate1d(ndimage.correlate1d(differences, t.g, 1, mode="reflect"), t.g, 2, mode="reflect")
    local_mean = ndimage.uniform_filter(differences, window, mode="reflect")
    response -= t.offset * local_mean
    energy = ndimage.uniform_filter(differences * differences, window, mode="reflect")
    energy -= local_mean * local_mean
    shape = response / (t.norm * np.sqrt(np.maximum(energy, 1e-12) * (t.width * t.width)))
    flat = response.reshape(len(response), -1)
    centre = medians(flat)[:, None]
    spread = 1.4826 * medians(np.abs(flat - centre)).astype(np.float64)
    noise = np.maximum(sigmas * t.norm, spread)
    # Divided in the maps' own type, as by a Python float.
    snr = response / np.where(noise > 0, noise, 1).astype(response.dtype)[:, None, None]
    snr[noise <= 0] = 0
    return snr, shape, noise


def medians(rows: np.ndarray) -> np.ndarray:
    """np.median of each row of finite values, the same values in the same type, from one partition
    instead of np.median's two: the lower middle value of an even row is the greatest before the upper."""
    middle = rows.shape[1] // 2
    parted = np.partition(rows, middle, axis=1)
    upper = parted[:, middle]
    if rows.shape[1] % 2:
        return upper
    return (parted[:, :middle].max(axis=1) + upper) / 2


@njit(cache=True, nogil=True)
def _reflect(i, n):
    """Index ``i`` of a line of ``n`` extended by mirroring about its ends (scipy's "reflect": d c b a | a b
    c d | d c b a), repeated when the extension is longer than the line."""
    period = 2 * n
    i = i % period
    return i if i < n else period - 1 - i


@njit(cache=True, nogil=True)
def _correlate_down(image, g, out):
    """scipy's correlate1d of ``image`` with the symmetric ``g`` down the columns: per pixel the centre tap,
    then the pairs from the outermost in, summed in float64; rows of the sum in a buffer so that the inner
    loops run along a row and vectorise."""
    rows, cols = image.shape
    radius = len(g) // 2
    total = np.empty(cols)
    for i in range(rows):
        row = image[i]
        for c in range(cols):
            total[c] = np.float64(row[c]) * g[radius]
        for j in range(radius, 0, -1):
            above, below, w = image[_reflect(i - j, rows)], image[_reflect(i + j, rows)], g[radius - j]
            for c in range(cols):
                total[c] += (np.float64(above[c]) + np.float64(below[c])) * w
        for c in range(cols):
            out[i, c] = total[c]


@njit(cache=True, nogil=True)
def _edges(length, radius):
    """Where the ``radius`` values before and after a line of ``length`` come from (see _reflect)."""
    before, after = np.empty(radius, np.int64), np.empty(radius, np.int64)
    for k in range(radius):
        before[k] = _reflect(-radius + k, length)
        after[k] = _reflect(length + k, length)
    return before, after


@njit(cache=True, nogil=True)
def _extend(row, before, after, line):
    """``row`` in float64 with its reflected ends, into ``line``."""
    radius, cols = len(before), len(row)
    for k in range(radius):
        line[k] = row[before[k]]
        line[radius + cols + k] = row[after[k]]
    for c in range(cols):
        line[radius + c] = row[c]


@njit(cache=True, nogil=True)
def _correlate_along(image, g, out):
    """scipy's correlate1d of ``image`` with the symmetric ``g`` along the rows, in the same order."""
    rows, cols = image.shape
    radius = len(g) // 2
    before, after = _edges(cols, radius)
    line = np.empty(cols + 2 * radius)
    total = np.empty(cols)
    for i in range(rows):
        _extend(image[i], before, after, line)
        centre = line[radius:radius + cols]
        for c in range(cols):
            total[c] = centre[c] * g[radius]
        for j in range(radius, 0, -1):
            # Views, so that the indices are plain loop counters (no negative-index wrap) and the loop vectorises.
            left, right, w = line[radius - j:radius - j + cols], line[radius + j:radius + j + cols], g[radius - j]
            for c in range(cols):
                total[c] += (left[c] + right[c]) * w
        for c in range(cols):
            out[i, c] = total[c]


@njit(cache=True, nogil=True, error_model="numpy")
def _box_down(image, width, out):
    """scipy's uniform_filter1d down the columns: a running sum in float64 (the first window's, then the
    entering value less the leaving one), divided by the width; the columns side by side."""
    rows, cols = image.shape
    radius = width // 2
    size = np.float64(width)
    total = np.zeros(cols)
    for k in range(-radius, radius + 1):
        row = image[_reflect(k, rows)]
        for c in range(cols):
            total[c] += row[c]
    for c in range(cols):
        out[0, c] = total[c] / size
    for i in range(1, rows):
        entering, leaving = image[_reflect(i + radius, rows)], image[_reflect(i - radius - 1, rows)]
        for c in range(cols):
            total[c] += np.float64(entering[c]) - np.float64(leaving[c])
            out[i, c] = total[c] / size


@njit(cache=True, nogil=True, error_model="numpy")
def _box_along(image, width, out):
    """scipy's uniform_filter1d along the rows, in the same order. A row's running sum is one chain of
    dependent additions: four rows run side by side, so that their chains overlap in the processor."""
    rows, cols = image.shape
    radius = width // 2
    size = np.float64(width)
    before, after = _edges(cols, radius)
    lines = np.zeros((4, cols + 2 * radius))
    sums = np.empty((4, cols))
    for first in range(0, rows, 4):
        count = min(4, rows - first)
        for a in range(count):
            _extend(image[first + a], before, after, lines[a])
        t0 = t1 = t2 = t3 = 0.0
        for k in range(width):
            t0 += lines[0, k]
            t1 += lines[1, k]
            t2 += lines[2, k]
            t3 += lines[3, k]
        sums[0, 0], sums[1, 0], sums[2, 0], sums[3, 0] = t0, t1, t2, t3
        for c in range(1, cols):
            t0 += lines[0, c + width - 1] - lines[0, c - 1]
            t1 += lines[1, c + width - 1] - lines[1, c - 1]
            t2 += lines[2, c + width - 1] - lines[2, c - 1]
            t3 += lines[3, c + width - 1] - lines[3, c - 1]
            sums[0, c], sums[1, c], sums[2, c], sums[3, c] = t0, t1, t2, t3
        for a in range(count):
            for c in range(cols):
                out[first + a, c] = sums[a, c] / size


@njit(cache=True, nogil=True)
def _ordered_keys(values, keys):
    """Keys of float32 ``values`` (viewed as uint32) in the values' order: a positive float's bits with the
    sign bit set, a negative one's inverted."""
    bits = values.view(np.uint32)
    for j in range(len(bits)):
        b = bits[j]
        keys[j] = b ^ (np.uint32(0xFFFFFFFF) if b >> 31 else np.uint32(0x80000000))


@njit(cache=True, nogil=True)
def _value(key):
    """The float32 of an ordered key (the inverse of _ordered_keys)."""
    bits = np.empty(1, np.uint32)
    bits[0] = key ^ np.uint32(0x80000000) if key >> 31 else ~key
    return bits.view(np.float32)[0]


@njit(cache=True, nogil=True)
def _select(keys, rank, candidates, counts):
    """The key of rank ``rank`` (0 = least) of ``keys``, by radix selection on 12, 12 and 8 bits: count the
    keys per digit, keep those in the digit that holds the rank. Linear in the keys whatever their order
    (a quickselect slows down on the smooth, partly ordered maps here)."""
    prefix = np.uint32(0)
    found = len(keys)
    for shift, digits in ((20, 4096), (8, 4096), (0, 256)):
        mask = np.uint32(digits - 1)
        counts[:digits] = 0
        source = keys if shift == 20 else candidates
        for j in range(found):
            counts[(source[j] >> shift) & mask] += 1
        digit = 0
        while rank >= counts[digit]:
            rank -= counts[digit]
            digit += 1
        prefix |= np.uint32(digit) << shift
        kept = 0
        for j in range(found):
            key = source[j]
            if (key >> shift) & mask == digit:
                candidates[kept] = key
                kept += 1
        found = kept
    return prefix


@njit(cache=True, nogil=True)
def _median(values, keys, candidates, counts):
    """np.median of finite float32 ``values``, in float32: of an even count, the mean of the greatest key
    below the upper middle one (or the upper one itself, if it is tied) and the upper one."""
    _ordered_keys(values, keys)
    middle = len(keys) // 2
    upper = _select(keys, middle, candidates, counts)
    if len(keys) % 2:
        return _value(upper)
    below, lower = 0, np.uint32(0)
    for j in range(len(keys)):
        if keys[j] < upper:
            below += 1
            lower = max(lower, keys[j])
    if below < middle:
        lower = upper
    return (_value(lower) + _value(upper)) / np.float32(2)


@njit(cache=True, nogil=True, error_model="numpy")
def _matched_maps(differences, g, offset, norm, norm32, area, sigmas, snr, shape, noises):
    """Fill ``snr``, ``shape`` and ``noises`` of each difference (see matched_filter_reference), one
    difference at a time. ``offset``, ``norm32`` and ``area`` are float32, as numpy applies a Python
    float to float32 maps."""
    n, rows, cols = differences.shape
    width = len(g)
    half = np.empty((rows, cols), np.float32)
    squares = np.empty((rows, cols), np.float32)
    mean = np.empty((rows, cols), np.float32)
    energy = np.empty((rows, cols), np.float32)
    flat = np.empty(rows * cols, np.float32)
    keys, candidates, counts = np.empty(rows * cols, np.uint32), np.empty(rows * cols, np.uint32), np.empty(4096, np.int64)
    for k in range(n):
        difference, response, correlation = differences[k], snr[k], shape[k]
        _correlate_down(difference, g, half)
        _correlate_along(half, g, response)
        _box_down(difference, width, half)
        _box_along(half, width, mean)
        for i in range(rows):
            for c in range(cols):
                squares[i, c] = difference[i, c] * difference[i, c]
        _box_down(squares, width, half)
        _box_along(half, width, energy)
        for i in range(rows):
            for c in range(cols):
                m = mean[i, c]
                r = response[i, c] - offset * m
                e = energy[i, c] - m * m
                response[i, c] = r
                correlation[i, c] = r / (norm32 * np.sqrt((e if e > _FLOOR else _FLOOR) * area))
                flat[i * cols + c] = r
        centre = _median(flat, keys, candidates, counts)
        for i in range(rows):
            for c in range(cols):
                flat[i * cols + c] = abs(response[i, c] - centre)
        noise = max(sigmas[k] * norm, 1.4826 * np.float64(_median(flat, keys, candidates, counts)))
        noises[k] = noise
        divisor = np.float32(noise) if noise > 0 else np.float32(1)
        for i in range(rows):
            for c in range(cols):
                response[i, c] = response[i, c] / divisor if noise > 0 else np.float32(0)



def local_energy(maps: np.ndarray, width: int) -> np.ndarray:
    """The mean square of each of ``maps`` (float32, n x rows x columns) over ``width`` x ``width`` windows
    (float32), as :func:`local_energy_reference` computes it, by the numba kernel."""
    if maps.dtype != np.float32 or maps.ndim != 3:
        raise ValueError("maps must be a float32 array of (n, rows, columns)")
    out = np.empty(maps.shape, np.float32)
    _energy_maps(np.ascontiguousarray(maps), width, out)
    return out


def local_energy_reference(maps: np.ndarray, width: int) -> np.ndarray:
    """:func:`local_energy` in scipy: the squares' uniform filter over each map alone, mode "reflect"."""
    return ndimage.uniform_filter(maps * maps, (1, width, width), mode="reflect")


@njit(cache=True, nogil=True)
def _energy_maps(maps, width, out):
    """Each map's squares (float32, as numpy squares a float32 array) through the box filter down the
    columns, then along the rows, as scipy filters the axes in turn."""
    n, rows, cols = maps.shape
    squares = np.empty((rows, cols), np.float32)
    half = np.empty((rows, cols), np.float32)
    for k in range(n):
        image = maps[k]
        for i in range(rows):
            for c in range(cols):
                squares[i, c] = image[i, c] * image[i, c]
        _box_down(squares, width, half)
        _box_along(half, width, out[k])
