"""Lesion-like objects present in one slice of a volume without support in its neighbours (an injected
lesion; Mirsky et al., "CT-GAN: malicious tampering of 3D medical imagery using deep learning", USENIX
Security 2019, inject or remove nodules slice by slice).

Per interior slice k, on slices in output units (after the Modality LUT) and binned to at most 256
pixels a side: the differences I[k] - I[k-1] and I[k] - I[k+1]. An object absent from both neighbours
appears in both, with one sign; a structure that continues into one neighbour cancels in that
difference. Each difference goes through a matched filter (a zero-mean Gaussian of sd 2, 3 and 4.5
binned pixels over a window of +-2.5 sd: the optimal linear detector of a known blob in white noise,
S. M. Kay, Fundamentals of Statistical Signal Processing II, 1998, ch. 4), as a signal-to-noise ratio
against the larger of the white-noise response (Immerkaer sigma of the two slices) and the robust
spread of the response over the slice (coloured noise, and the anatomy's own change from slice to
slice: a constant-false-alarm-rate normalisation). A response counts only where the difference in the
window is shaped like the blob in both differences: normalised cross-correlation with the template of
at least _SHAPE (edges and shifting structure correlate less). The object's score is the smaller of
the two ratios. On the clean real MR of pydicom-data's emri_small (5 mm slices) the highest score is
1.6; blobs of 20 noise sigma score 6.3 and more. The filters and the per-pixel scores run in numba
kernels (:func:`.matched.matched_filter`, :func:`best_scores`) whose maps are their scipy / numpy
references' bit for bit.

Not covered: the first and last slice of a stack (one neighbour); objects that extend into a neighbouring
slice (a lesion drawn on several slices; the copy-across and noise checks still apply); on thick slices
(5 mm MR) blobs below about 20 times the noise sigma, whose differences with the neighbours are no
more blob-shaped than the anatomy's own change (see bench/forensics.py for the rates by contrast).
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import ndimage

from ..findings import Action, Finding, Severity
from ..rules import define
from .kernels import block_noise
from .matched import matched_filter, matched_filter_reference

LESION = define(
    "forensics.isolated-object", Severity.WARNING, Action.LABEL,
    "A compact blob differs, with one sign, from both neighbouring slices: its matched-filter response "
    "is at least 4 times the noise (or the slice's usual response) in both differences, and both are "
    "blob-shaped (normalised correlation with the blob at least 0.6). An object without support in the "
    "volume (an injected lesion; Mirsky et al., CT-GAN, USENIX Security 2019). Real structures thinner "
    "than the slice spacing can do the same, hence a warning.")

SCALES = (2.0, 3.0, 4.5)     # blob sd, binned pixels
_MAX_SIDE = 256              # slices are binned to at most this many pixels a side
_SCORE = 4.0                 # clean emri_small peaks at 1.6; blobs of 20 noise sigma at 6.3 or more
_SHAPE = 0.6                 # 0.5 lets clean emri_small anatomy score 6.8
_MIN_SIDE = 32
_PAIRWISE = 8                # numpy sums 8 values or more pairwise (see _bin_means)
_BATCH = 16                  # differences filtered together: 16 binned slices of 256 x 256 are 4 MiB a map


def lesion_findings(ids: list[str], volume: list[np.ndarray]) -> list[Finding]:
    """Objects in one slice absent from both neighbours. ``volume``: 2-D slices of one shape in output
    units, sorted along the slice normal; ``ids`` name them. Each finding carries ``instance``, frame 0,
    ``bbox`` in the slice's pixels, ``score`` (the smaller of the two signal-to-noise ratios) and
    ``sd`` (the blob's sd in pixels). Each difference of neighbours is filtered once: slice k's
    I[k] - I[k+1] is slice k+1's I[k+1] - I[k] negated. Up to _BATCH differences are filtered in one
    call of each filter (a small slice costs more in calls than in arithmetic)."""
    if len(volume) < 3 or min(volume[0].shape) < _MIN_SIDE:
        return []
    factor = -(-max(volume[0].shape) // _MAX_SIDE)
    slices = [binned(s, factor) for s in volume]
    sigmas = [float(np.median(block_noise(s, 8).sigma)) for s in slices]
    findings = []
    previous = None
    for start in range(0, len(slices) - 1, _BATCH):
        stop = min(start + _BATCH, len(slices) - 1)
        differences = np.stack(slices[start + 1:stop + 1]) - np.stack(slices[start:stop])
        noise = np.hypot(sigmas[start:stop], sigmas[start + 1:stop + 1])
        # The kernel's maps are scipy's bit for bit on finite values; NaN or infinite pixels take scipy's path.
        matched = matched_filter if np.isfinite(differences).all() else matched_filter_reference
        maps = [matched(differences, scale, noise) for scale in SCALES]
        for k in range(start, stop):
            pair = [(snr[k - start], shape[k - start]) for snr, shape in maps]
            if previous is not None:
                findings += _objects(ids[k], previous, pair, factor, volume[k].shape)
            previous = pair
    return findings


def _objects(instance: str, before: list[tuple[np.ndarray, np.ndarray]], after: list[tuple[np.ndarray, np.ndarray]],
             factor: int, shape: tuple[int, ...]) -> list[Finding]:
    """Findings of one slice from the matched-filter maps, per scale, of its difference with the previous
    slice (``before``: I[k] - I[k-1]) and of the next slice's with it (``after``: I[k+1] - I[k])."""
    best_score, best_scale = best_scores(before, after)
    labels, _ = ndimage.label(best_score >= _SCORE)
    findings = []
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        inside = labels[where] == number
        peak = float(best_score[where][inside].max())
        scale = float(best_scale[where][inside & (best_score[where] == peak)][0])
        findings.append(LESION.finding(
            f"instance {instance}: blob of sd {scale * factor:g} px absent from both neighbouring slices "
            f"({peak:.1f} x noise)", frame=0, bbox=_blob_box(where, scale, factor, shape),
            score=round(peak, 1), sd=scale * factor, instance=instance))
    return findings


Maps = list[tuple[np.ndarray, np.ndarray]]   # per blob sd of SCALES: signal-to-noise ratio, correlation


def best_scores(before: Maps, after: Maps) -> tuple[np.ndarray, np.ndarray]:
    """Per pixel of a slice, its object score (float64; 0 where no scale agrees) and the blob sd (binned
    pixels) that gives it, from the maps of its difference with the previous slice (``before``: I[k] -
    I[k-1]) and of the next slice's with it (``after``: I[k+1] - I[k]), as :func:`best_scores_reference`
    computes them, by the numba kernel. Maps: 2-D float32 of one shape."""
    best_score = np.zeros(before[0][0].shape)
    best_scale = np.zeros(best_score.shape)
    for scale, (snr_b, shape_b), (snr_a, shape_a) in zip(SCALES, before, after):
        _keep_better(snr_b, shape_b, snr_a, shape_a, np.float32(_SHAPE), scale, best_score, best_scale)
    return best_score, best_scale


def best_scores_reference(before: Maps, after: Maps) -> tuple[np.ndarray, np.ndarray]:
    """:func:`best_scores` in numpy: a scale counts where the ratios have opposite signs (I[k] - I[k+1] is
    the negated ``after``: one sign in both differences) and both correlations, in the ratio's sign, are
    at least _SHAPE; its score is the smaller ratio; the best scale is the first with the highest score."""
    best_score = np.zeros(before[0][0].shape)
    best_scale = np.zeros(best_score.shape)
    for scale, (snr_b, shape_b), (snr_a, shape_a) in zip(SCALES, before, after):
        agree = (np.sign(snr_b) == -np.sign(snr_a)) & (shape_b * np.sign(snr_b) >= _SHAPE) & \
            (shape_a * np.sign(snr_a) >= _SHAPE)
        score = np.where(agree, np.minimum(np.abs(snr_b), np.abs(snr_a)), 0.0)
        better = score > best_score
        best_score[better] = score[better]
        best_scale[better] = scale
    return best_score, best_scale


@njit(cache=True, nogil=True)
def _keep_better(snr_b, shape_b, snr_a, shape_a, least, scale, best_score, best_scale):
    """One scale's scores where they beat ``best_score`` (see best_scores_reference), in float32 as numpy
    computes them (``least``: _SHAPE in float32, as numpy compares a Python float with float32 maps)."""
    rows, cols = best_score.shape
    for i in range(rows):
        for c in range(cols):
            b, a = snr_b[i, c], snr_a[i, c]
            sign_b, sign_a = np.sign(b), np.sign(a)
            if sign_b == -sign_a and shape_b[i, c] * sign_b >= least and shape_a[i, c] * sign_a >= least:
                score = np.float64(min(abs(b), abs(a)))
                if score > best_score[i, c]:
                    best_score[i, c] = score
                    best_scale[i, c] = scale


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels of the lesion check, for the float64 slices that
    check_volume hands in, large enough to be binned."""
    side = 2 * _MAX_SIDE
    lesion_findings(["a", "b", "c"], [np.random.default_rng(k).normal(0, 1, (side, side)) for k in range(3)])


def binned(image: np.ndarray, factor: int) -> np.ndarray:
    """``image`` as float32 (the filters' cost halves; 24 bits hold any stored value), averaged over
    factor x factor bins (the last partial bins left out), as :func:`binned_reference` computes it; by the
    numba kernel for factors below _PAIRWISE, the reference above."""
    if factor == 1:
        return np.asarray(image, np.float32)
    if factor >= _PAIRWISE:
        return binned_reference(image, factor)
    out = np.empty((image.shape[0] // factor, image.shape[1] // factor), np.float32)
    _bin_means(np.ascontiguousarray(image), factor, out)
    return out


def binned_reference(image: np.ndarray, factor: int) -> np.ndarray:
    """:func:`binned` in numpy."""
    image = np.asarray(image, np.float32)
    if factor == 1:
        return image
    rows, cols = image.shape[0] // factor, image.shape[1] // factor
    return image[:rows * factor, :cols * factor].reshape(rows, factor, cols, factor).mean((1, 3))


@njit(cache=True, nogil=True, error_model="numpy")
def _bin_means(image, factor, out):
    """Bin means in numpy's order for ``mean((1, 3))`` of float32 bins: each bin row summed from 0 in float32,
    the row sums added in turn to a float32 total from 0, the total divided by the count in float64 (numpy
    divides by an integer count). Rows of fewer than _PAIRWISE values only (numpy sums longer ones pairwise).
    numpy's error model: no zero test per division (the count is never 0)."""
    rows, cols = out.shape
    count = np.float64(factor * factor)
    total = np.empty(cols, np.float32)
    for i in range(rows):
        total[:] = 0
        for a in range(factor):
            row = image[i * factor + a]
            for j in range(cols):
                part = np.float32(0)
                for b in range(factor):
                    part += np.float32(row[j * factor + b])
                total[j] += part
        for j in range(cols):
            out[i, j] = np.float64(total[j]) / count


def _blob_box(where: tuple[slice, slice], scale: float, factor: int, shape: tuple[int, ...]) -> list[int]:
    """[row0, col0, row1, col1] in the slice's pixels: the detected area grown by 2 sd of the blob."""
    grow = int(np.ceil(2 * scale))
    return [max((where[0].start - grow) * factor, 0), max((where[1].start - grow) * factor, 0),
            min((where[0].stop + grow) * factor, shape[0]), min((where[1].stop + grow) * factor, shape[1])]
