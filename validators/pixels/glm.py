"""The local general linear model of the lesion check (:mod:`.lesions`): per pixel of a slice, its window of
+-HALF_WIDTH blob sd (scipy's "reflect" edges, as the matched filter) fitted by least squares on a
constant, the same window of each of its neighbouring slices and a Gaussian blob centred there, all
together; the blob's t-statistic (its coefficient over its standard error, K. J. Friston et al.,
"Statistical parametric maps in functional imaging: a general linear approach", Human Brain Mapping 2,
1995). The neighbours predict what the slice shares with them, as the cubic prediction does, but with
weights of this window's own; the blob, its own regressor, is not absorbed by them (per-pixel weights
without it were, see :mod:`.lesions`).

- :func:`blob_t_reference`: one least-squares fit (numpy's lstsq) a pixel, the obvious way.
- :func:`blob_t`: a numba kernel on the box's windows: the window sums of the slices and of their products
  from integral images, the blob's cross-products by a separable correlation, and per pixel a Cholesky
  factor of the centred normal equations. With the blob the last regressor, its t is the last entry of the
  forward-substituted right-hand side over the residual sd (A = L L^T: the blob's variance factor is
  1 / L[q, q]^2 and its coefficient z[q] / L[q, q]), so no back-substitution. Its maps are the reference's
  to rounding (tests).

Images are 2-D, all of one shape, of any real type (the sums are float64); the box is [row0, row1) x
[col0, col1) of the target's pixels. A window the regressors span exactly (a constant or linearly dependent neighbours), or one
the fit leaves no residual in, has t 0.
"""

from __future__ import annotations

import numpy as np
from numba import njit

HALF_WIDTH = 2.0            # window half-width in blob sd (see :func:`blob_g`)


def blob_g(scale: float) -> np.ndarray:
    """The 1-D Gaussian of sd ``scale`` (pixels) over +-HALF_WIDTH sd (float64): the blob is its outer
    product, sampled as the matched filter's template (:func:`.matched.template`) over a narrower window
    (+-2 sd found more blobs of 6 noise sigma than the template's +-2.5: see :mod:`.lesions`)."""
    radius = int(np.ceil(HALF_WIDTH * scale))
    x = np.arange(-radius, radius + 1)
    return np.exp(-x * x / (2 * scale * scale))


def blob_t(target: np.ndarray, neighbours: list[np.ndarray], scale: float,
           box: tuple[int, int, int, int]) -> np.ndarray:
    """The blob's t-statistic at each pixel of ``box`` (row0, row1, col0, col1) of ``target``, fitted on a
    constant, ``neighbours`` and the blob of sd ``scale``, by the numba kernel."""
    g = blob_g(scale)
    crop = _windows(target, neighbours, len(g) // 2, box)
    out = np.empty((box[1] - box[0], box[3] - box[2]))
    _blob_t(crop, g, out)
    return out


class LazyMap:
    """The blob's t map of one slice (:func:`blob_t`), computed as boxes of it are asked for: the lesion
    check asks for the windows about its candidates, in the slice itself and in the slices around it, which
    ask for the same places again. A box is computed on the bounding box of its pixels not computed yet."""

    def __init__(self, target: np.ndarray, neighbours: list[np.ndarray], scale: float) -> None:
        self.target, self.neighbours, self.scale = target, neighbours, scale
        self.t: np.ndarray | None = None
        self.done: np.ndarray | None = None

    def over(self, box: tuple[int, int, int, int]) -> np.ndarray:
        """The t map over ``box`` (row0, row1, col0, col1) of the slice."""
        if self.t is None or self.done is None:
            self.t, self.done = np.empty(self.target.shape), np.zeros(self.target.shape, bool)
        missing = ~self.done[box[0]:box[1], box[2]:box[3]]
        if missing.any():
            rows, cols = np.nonzero(missing.any(1))[0], np.nonzero(missing.any(0))[0]
            new = (box[0] + rows[0], box[0] + rows[-1] + 1, box[2] + cols[0], box[2] + cols[-1] + 1)
            self.t[new[0]:new[1], new[2]:new[3]] = blob_t(self.target, self.neighbours, self.scale, new)
            self.done[new[0]:new[1], new[2]:new[3]] = True
        return self.t[box[0]:box[1], box[2]:box[3]]


def blob_t_reference(target: np.ndarray, neighbours: list[np.ndarray], scale: float,
                     box: tuple[int, int, int, int]) -> np.ndarray:
    """:func:`blob_t` by one np.linalg.lstsq a pixel."""
    g = blob_g(scale)
    width = len(g)
    crop = _windows(target, neighbours, width // 2, box)
    blob = np.outer(g, g).ravel()
    out = np.zeros((box[1] - box[0], box[3] - box[2]))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            window = crop[:, i:i + width, j:j + width].reshape(len(crop), -1)
            design = np.column_stack([np.ones(width * width), *window[1:], blob])
            beta, _, rank, _ = np.linalg.lstsq(design, window[0], rcond=None)
            residual = window[0] - design @ beta
            dof = width * width - design.shape[1]
            centred = window[0] - window[0].mean()
            if rank < design.shape[1] or not residual @ residual > 1e-12 * (centred @ centred):
                continue
            variance = float(residual @ residual) / dof
            factor = np.linalg.inv(design.T @ design)[-1, -1]
            out[i, j] = beta[-1] / np.sqrt(variance * factor)
    return out


def _windows(target: np.ndarray, neighbours: list[np.ndarray], radius: int,
             box: tuple[int, int, int, int]) -> np.ndarray:
    """(1 + len(neighbours), rows, columns) float64: the images over ``box`` grown by ``radius``, mirrored
    about the image's edges (scipy's "reflect"), each less its mean there (the constant regressor makes the
    fit blind to it, and the sums lose less to cancellation)."""
    rows = _span(box[0] - radius, box[1] + radius, target.shape[0])
    cols = _span(box[2] - radius, box[3] + radius, target.shape[1])
    crop = np.empty((1 + len(neighbours), box[1] - box[0] + 2 * radius, box[3] - box[2] + 2 * radius))
    for a, image in enumerate([target, *neighbours]):
        crop[a] = image[rows][:, cols]
    return crop - crop.mean(axis=(1, 2), keepdims=True)


def _span(start: int, stop: int, length: int) -> slice | np.ndarray:
    """Indices start .. stop - 1 of a line of ``length`` extended by mirroring about its ends
    (d c b a | a b c d | d c b a): a slice where they are all inside."""
    if 0 <= start and stop <= length:
        return slice(start, stop)
    index = np.arange(start, stop) % (2 * length)
    return np.where(index < length, index, 2 * length - 1 - index)


@njit(cache=True, nogil=True)
def _integral(image, out):
    """The integral image of ``image`` into ``out`` (one row and column more, the first ones 0): each row's
    running sum, then the row above added (a loop along the row that vectorises)."""
    rows, cols = image.shape
    out[0, :] = 0.0
    for i in range(rows):
        above, here, line = out[i], out[i + 1], image[i]
        here[0] = 0.0
        running = 0.0
        for j in range(cols):
            running += line[j]
            here[j + 1] = running
        for j in range(cols + 1):
            here[j] += above[j]


@njit(cache=True, nogil=True)
def _blob_t(crop, g, out):
    """The blob's t map of ``crop[0]`` on ``crop[1:]``, a constant and the blob (see the module's docstring)
    into ``out`` (rows, columns), ``crop`` being the box grown by the template's radius."""
    m, height, width = crop.shape
    w = len(g)
    rows, cols = out.shape
    n = np.float64(w * w)
    g_sum = np.sum(g) ** 2
    g_square = np.sum(g * g) ** 2
    sums = np.empty((m + m * (m + 1) // 2, height + 1, width + 1))
    product = np.empty((height, width))
    for a in range(m):
        _integral(crop[a], sums[a])
    p = m
    for a in range(m):
        for b in range(a, m):
            for i in range(height):
                first, second, line = crop[a, i], crop[b, i], product[i]
                for j in range(width):
                    line[j] = first[j] * second[j]
            _integral(product, sums[p])
            p += 1
    # The blob's cross-product with each image: a separable correlation with g, along the rows then down,
    # the taps outside and the pixels of a row inside (a loop that vectorises).
    along = np.empty((height, cols))
    blob = np.empty((m, rows, cols))
    for a in range(m):
        for i in range(height):
            line, total = crop[a, i], along[i]
            total[:] = 0.0
            for k in range(w):
                tap, shifted = g[k], line[k:k + cols]
                for j in range(cols):
                    total[j] += tap * shifted[j]
        for i in range(rows):
            total = blob[a, i]
            total[:] = 0.0
            for k in range(w):
                tap, line = g[k], along[i + k]
                for j in range(cols):
                    total[j] += tap * line[j]
    _solve_each(sums, blob, m, w, n, g_sum, g_square, out)


@njit(cache=True, nogil=True)
def _solve_each(sums, blob, m, w, n, g_sum, g_square, out):
    """Per pixel, the centred normal equations of the target (image 0) on the neighbours (1 .. m - 1) and
    the blob from the window sums, and the blob's t (see :func:`_last_t`)."""
    rows, cols = out.shape
    q = m                       # regressors besides the constant: the neighbours and the blob
    s = np.empty(m)
    cross = np.empty((m, m))
    normal = np.empty((q, q))
    right = np.empty(q)
    for i in range(rows):
        for j in range(cols):
            for a in range(m):
                s[a] = _window_sum(sums[a], i, j, w)
            p = m
            for a in range(m):
                for b in range(a, m):
                    cross[a, b] = _window_sum(sums[p], i, j, w) - s[a] * s[b] / n
                    cross[b, a] = cross[a, b]
                    p += 1
            # Regressors 0 .. q - 2: the neighbours; q - 1: the blob. All centred.
            for a in range(q - 1):
                for b in range(q - 1):
                    normal[a, b] = cross[a + 1, b + 1]
                normal[a, q - 1] = blob[a + 1, i, j] - s[a + 1] * g_sum / n
                normal[q - 1, a] = normal[a, q - 1]
                right[a] = cross[0, a + 1]
            normal[q - 1, q - 1] = g_square - g_sum * g_sum / n
            right[q - 1] = blob[0, i, j] - s[0] * g_sum / n
            out[i, j] = _last_t(normal, right, cross[0, 0], n - q - 1)


@njit(cache=True, nogil=True)
def _window_sum(integral, i, j, w):
    """The sum over the w x w window whose top-left pixel is (i, j), from its integral image."""
    return integral[i + w, j + w] - integral[i, j + w] - integral[i + w, j] + integral[i, j]


@njit(cache=True, nogil=True)
def _last_t(normal, right, total, dof):
    """The t of the last regressor from the centred normal equations ``normal`` beta = ``right`` and the
    target's centred sum of squares ``total``: Cholesky in place, forward substitution, t = z[-1] / sd of
    the residual; 0 where a pivot or the residual vanishes (to 1e-12 of its scale)."""
    q = len(right)
    for k in range(q):
        pivot = normal[k, k]
        for l in range(k):
            pivot -= normal[k, l] * normal[k, l]
        if not pivot > 1e-12 * max(normal[k, k], 1e-300):
            return 0.0
        inverse = 1.0 / np.sqrt(pivot)
        normal[k, k] = inverse                  # the pivot's reciprocal: one division a column
        for r in range(k + 1, q):
            value = normal[r, k]
            for l in range(k):
                value -= normal[r, l] * normal[k, l]
            normal[r, k] = value * inverse
    explained = 0.0
    for k in range(q):
        value = right[k]
        for l in range(k):
            value -= normal[k, l] * right[l]
        right[k] = value * normal[k, k]
        explained += right[k] * right[k]
    residual = total - explained
    if not residual > 1e-12 * total:
        return 0.0
    return right[q - 1] / np.sqrt(residual / dof)
