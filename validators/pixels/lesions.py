"""Lesion-like objects present in one slice of a volume without support in its neighbours (an injected
lesion; Mirsky et al., "CT-GAN: malicious tampering of 3D medical imagery using deep learning", USENIX
Security 2019, inject or remove nodules slice by slice).

Per interior slice k, on slices in output units (after the Modality LUT) and binned to at most 256
pixels a side: the residual r of the slice less its prediction from its neighbours, by the cubic through
the two slices on either side (I[k-2], I[k-1], I[k+1], I[k+2]; Lagrange weights -1/6, 2/3, 2/3, -1/6),
or the mean of the two neighbours for the second and the next-to-last slice. An object absent from the
neighbours stands in r whole. On pydicom-data's emri_small (5 mm MR, noise sigma 11-12) the anatomy
leaves a residual of sd 23-29 whatever the linear prediction: the least-squares weights of the two
neighbours are 0.46-0.59, fits in 9-px windows leave 20-23 but absorb part of a lesion (fewer found),
block motion compensation leaves more. The cubic leaves as much but less of it blob-shaped: at 6 noise
sigma it finds 49% of the blobs where the mean finds 41%, at 8 sigma 93% against 76% (the same 96
cases). r goes through a matched filter (a zero-mean Gaussian of sd 3 and 5 binned pixels over a window
of +-2.5 sd: the optimal linear detector of a known blob in white noise, S. M. Kay, Fundamentals of
Statistical Signal Processing II, 1998, ch. 4). The anatomy's change from slice to slice is not white:
its response differs from place to place (much at the edges of bright structures, little in air). So
the response is divided by the local clutter, the root of the mean over the slices 2 to _REACH away
of their responses' mean square in the template's window (how much this place changes between slices
that share no neighbour with this one: a constant-false-alarm-rate normalisation, local in the plane),
or by the white-noise response if larger; with fewer than _MIN_OTHERS such slices, by the slice's own
robust spread of the response. Pixels within 1 sd of the slice's edge are not scored (the filters
mirror the residual there: half a ridge along the edge makes a whole blob). A pixel counts when its
ratio is at least _SCORE and either the residual in the window is shaped like the blob (normalised
cross-correlation with the template at least _SHAPE: the anatomy's ridges and edges correlate less)
or, the clutter measured on _SMOOTH_OTHERS slices or more, it is smooth and correlates at least
_SMOOTH_SHAPE (see :func:`_smooth`). The object then has to differ from both neighbours with one
sign at its peak (see :func:`_against_both`; a blob-shaped peak by at least half its contrast), the
local GLM below has to need the blob somewhere in the object (score at least _CONFIRM, see
"Confirmation"), and a finding overlapping one of a higher ratio in a neighbouring slice is that one's
echo (:func:`_without_echoes`).

Why the smooth pass: a faint blob shares its window with the noise and the anatomy's change, which bring
its correlation down to 0.5-0.65 at 6 noise sigma, where the anatomy's own one-slice change reaches
0.59-0.64; no threshold on the ratio and the correlation tells them apart (a boundary fitted to the clean
volumes finds 74%). What does: an object added to a slice is smooth (a Gaussian-like profile of sd 3
pixels or more) and leaves the residual's fine detail (its difference with its blur of sd 1 pixel) at the
noise's, about 1x (at most 3x) white noise's energy about the faint blobs of the bench; the clean
candidates of ratio 5 or more are structures that appear with their edges (5.7x white noise's on
nibabel's T1, 8.4x on emri_small, hundreds on nibabel's EPI, whose noise estimate is near 0). Assumed:
the injected object is smooth at 1 pixel (a sharp-edged one needs the blob-shaped path, as before).

Calibration, on the clean real MR volumes at hand (emri_small; nibabel's test EPI, two volumes of 24
slices, and T1, 25 slices, 2-2.2 mm; outside the runtime) and on every run of 3 or more of their
consecutive slices (shorter series measure the clutter on fewer slices): the highest correlation among
candidates of ratio 5 or more is 0.64 (a run of 3-6 slices of emri_small; 0.54 on the whole volume,
0.59 on nibabel's), the gate 10% above (held out: 10% above nibabel's alone, 0.646, leaves emri_small's
0.637 out; 10% above emri_small's, nibabel's 0.59); the smooth pass stays clean for any correlation
(set at 0.45) with its fine-detail limit at 3, for a limit up to 5.7 (nibabel's T1; emri_small
none up to 100) with the correlation at 0.45, and for a ratio down to 4.5 (_SCORE 5 is 11% above).
With 2 or 3 slices for the clutter the smooth pass flagged runs of 6-8 clean slices: it needs 4.
Measured and not kept (96 blobs of 6 sigma in emri_small's slice 5, placed as bench/forensics.py places
them): a prediction by symmetric Lucas-Kanade motion compensation of the two neighbours (fewer found with
every window and regularisation tried), least-squares z-fits over 6 slices (quadratic, cubic, quartic:
fewer or as many), per-pixel least-squares weights of the 4 neighbours over Gaussian windows of sd 6-10
pixels, drawn toward the cubic's (28-32 of 48 against 40: they absorb the blob), a third blob sd (3, 4,
5: 85 of 96, for half as much time again), a gain per slice, clutter from the change between the
neighbours (I[k+1] - I[k-1]) or its minimum with the other slices', the median or geometric mean of the
other slices' clutter (85 and 84 against 83 of 96, within chance), the correlation of the window's
variance less its white noise (as many with the smooth pass; it flagged short runs of clean slices).
Where the ratio falls short (at least _GLM_FLOOR, below _SCORE, the gates passed), a second score: a
local general linear model per window (see :mod:`.glm`: the slice on its 4 neighbours, a constant and the
blob, fitted together by least squares, so that the blob is its own regressor's and not absorbed), its
blob t-statistic divided, as the ratio is, by the root mean square of the other slices' t (2 to _REACH
away, each on its own neighbours) in the window, or by 1 if larger. A pixel counts when it reaches
_GLM_SCORE; findings carry the larger of the two scores, each in units of its own threshold (the GLM's
times _SCORE / _GLM_SCORE). The neighbours' weights are this window's own, so that where the anatomy
changes fast between slices the prediction follows it, and the residual's own variance in the window, not
the other slices', scales the t. Its window is +-2 blob sd: on 384 placements of 6 noise sigma (seed
1234) with the ratio at 5 and the GLM at 1.1x its own clean maximum, +-1.5 to 2.25 sd found 370-371 with
the ratio, +-2.5 sd (the template's) 363, +-3.5 sd 366; with 2 neighbours instead of 4, 355; the clutter
window 1.5x wider, 362 (window chosen on these placements, in-sample; echoes then told by score alone);
and, with the threshold 10% above each one's clean highest, the in-plane gradients of the neighbours'
mean as 2 more regressors (structures shifting between slices) 366 and 367 of the two sets below (clean
highest 3.57) against 365 and 369, the means of the slices 1 and 2 away as the only 2 regressors 364 and
372, the mean of the ratio and the GLM score as a third score (threshold 4.74) 5 more of 1152, the GLM at
the ratio's local peaks only (clean highest 3.37, threshold 3.71) 373, 377 and 367 of the three sets
below against 368, 374 and 367, no faster: not kept. Calibration: its highest score on the clean volumes
and every run of 3 or more of their consecutive slices is 3.93 (emri_small; none of 3 or more on
nibabel's), _GLM_SCORE 10% above, in-sample; the ratio's clean highest is still 4.47 (a run of
emri_small, _SCORE 12% above). The GLM is computed from a ratio of 3.5 (as many found as from 2 or 3, 2
fewer of 384 from 4), on the pixels asked for only (bounding boxes of touching candidates, each slice's t
map kept for the slices around it). The GLM of slice k + 1 has slice k among its regressors, an object of
slice k included, and scores its echo about as high: an echo is a finding whose neighbour's overlapping
finding is higher by both its score and its ratio (by the score alone, blobs of 6 sigma were lost to
their echoes in 4 and 7 of the 384 placements below). Measured (bench/forensics.py's placements, other
seeds): 6 noise sigma 368 of 384 (95.8%, the placements the window was chosen on) and 374 of 384 held out
(seed 999, 97.4% [95.3, 98.6]), against 91.1% held out for the ratio alone; 7 sigma 99.0% and 99.5%
(97.7% alone), 8 sigma 99.5% and 99.7%. Its cost on the candidates of real slices: emri_small 0.25 -> 0.5
ms a 64 x 64 slice.
Confirmation: a finding, by either score, needs the GLM's score (its t over the other slices', or over 1
where the series has fewer than _MIN_OTHERS other slices) to reach _CONFIRM at one of its pixels at least:
the neighbours' windows, with weights of their own, do not explain the object. A change in one slice
that scales what its neighbours show (a signal dropout or brightening of a structure, as motion during
the diffusion encoding or between the halves of an interleaved acquisition makes) has the neighbours'
shape and is taken up by their weights, where an added object is not: on heudiconv's diffusion-weighted
volume a structure of slices 27 and 29 that drops to half in slice 28 (acquired 2 s after them) has a
ratio of 5.1 and a GLM score of 0.4-0.8, while blobs of 6 noise sigma in emri_small that pass the ratio
score 3.4 and more (768 placements, seeds 1234 and 999); _CONFIRM 3 is the usual three sigma of a
t-statistic, between the two, and loses none of those blobs (368 and 374 of 384 found, as before).
It does not take up a change that no linear combination of the neighbours' windows makes: slice 14 of
that volume (ratio 5.6, GLM 4.55) is brighter than slices 13 and 15 where slice 16 is too, its even
slices acquired 2 s before its odd ones (MosaicRefAcqTimes): a one-slice object in space, an
acquisition's two halves in time. Measured and not kept for it: the neighbours' windows shifted in the
plane by up to 6 px, the shift chosen by least squares with the blob (GLM 4.72: not a displacement);
against both of the slices 2 away as well (finds 71-90% of emri_small's blobs of 6 sigma); the object
in the mean residual of a slice 2 away at half of its own or more (the slice 14 object 0.63, the 742
candidates of 6-sigma blobs 0.6 or more in 8, 0.5 or more in 27: no threshold between).

The filters and the local energy run in numba kernels (:mod:`.matched`) whose maps are their scipy
references' bit for bit.

Not covered: the first and last slice of a stack (one neighbour); objects that extend into a neighbouring
slice (a lesion drawn on several slices; the copy-across and noise checks still apply); blobs smaller
than about 3 binned pixels sd, or centred within 1 sd of the slice's edge; on thick slices (5 mm MR)
3-5% of the blobs of 6 noise sigma, those on the places that change most between slices (ratio
and GLM score 4-4.9 where the clutter is 3-5x the noise's, against a real one-slice brightening of
emri_small's slice 5, 4.47, the clean highest: see bench/forensics.py for the rates by
contrast). Temporal series (an ultrasound cine's frames) change as much as a lesion from frame to
frame: multi-frame objects are not handed in (plugin/analysis.py).

Held out (the thresholds above were not set on them): heudiconv's real Siemens volumes
(tests/realfiles.py's mosaic_volumes; 35 EPI slices 3.6 mm apart, three diffusion volumes of 81 slices
1.5 mm apart) leave the whole b = 0 and EPI volumes clean (ratio at most 3.3, GLM 1.02) but flag the
diffusion-weighted one at slice 14 (ratio 5.6, by the smooth pass; its slice 28, 5.1, until the
confirmation), and runs of 3-14 slices of a b = 0 volume near its eyes' slices (the eyeball grows through
slices 14-20, its odd slices, acquired 2 s after the even ones, darker) reach 35.8: with 3-5 slices the
check cannot tell a place that changes every other slice from an object. nibabel 5.4.2's AFNI volumes
(25 slices of 33 x 41 px; 43 of 47 x 54, resampled to Talairach space; outside the runtime) get 1 finding
each (5.3-6.9), mostly by the smooth pass: on resampled or low-signal slices the anatomy's own one-slice
change is smooth too (the confirmation removed one of scaled+tlrc's two, 5.8, and Philips' phantom's
flagged runs). Six real volumes never looked at while this check was designed (dipy 1.12.1's
S0_10slices, aniso_vox and test_piesno, nibabel's philips_mprage and its Siemens DWI mosaics of b = 0 and
b = 1000; outside the runtime) have no finding, whole or in any run of 3-14 of their slices.
Sensitivity is a matter of the blob's peak over the anatomy's change between slices at its place, not
over the noise: heudiconv's anatomy changes between slices by 3.5-10x the noise (cubic residual sd,
median; emri_small 2.2x), where a blob of 6 noise sigma peaks at 1.3-1.5x the local change (median;
emri_small 3.5x) and is found 4-33% of the time (bench/forensics.py --held-out); by that excess, blobs are found
99-100% at 6x or more on every volume, 78-100% at 4-6x, 53-60% at 3-4x, 20-27% at 2-3x (the
misses above 3x fail the smooth test: the anatomy's own fine change there exceeds 3x the noise's; measured
relative to the other slices' fine change instead, or with both scores and no shape gate, the smooth
test flags 9-28 clean slices of each heudiconv diffusion volume).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
from numba import njit
from scipy import ndimage

from ..findings import Action, Finding, Severity
from ..rules import define
from .glm import LazyMap, blob_g
from .kernels import block_noise
from .matched import (Template, local_energy, local_energy_reference, matched_filter, matched_filter_reference,
                      template)

LESION = define(
    "forensics.isolated-object", Severity.WARNING, Action.LABEL,
    "A compact blob stands out of the slice less its prediction from its neighbours, with one sign against both: "
    "its matched-filter response is at least 5 times the local change between other slices of the series "
    "(or the noise, if larger), and the residual is blob-shaped (normalised correlation with the blob at "
    "least 0.7) or smooth (fine detail at most 3 times the noise's, correlation at least 0.45); or, short of "
    "that ratio, the blob's t-statistic in a local least-squares fit on the neighbouring slices is at least "
    "4.35 times the other slices' there; and in either case that t-statistic reaches 3 times the other slices' "
    "somewhere in the object (the neighbouring slices do not explain it). An object "
    "without support in the volume (an injected lesion; Mirsky et al., CT-GAN, "
    "USENIX Security 2019). Real structures thinner than the slice spacing can do the same, hence a warning.")

SCALES = (3.0, 5.0)          # blob sd, binned pixels (sd 3, 4.5 and 6 find no more blobs, cost a third more)
_MAX_SIDE = 256              # slices are binned to at most this many pixels a side
_SCORE = 5.0                 # ratio to the local clutter (or noise)
_SHAPE = 0.70                # clean real MR reaches 0.64 at ratios of 5 and more (10% margin)
_REACH = 4                   # clutter from the slices 2 to _REACH away
_SMOOTH_SHAPE = 0.45         # the gate of a smooth residual (see _smooth)
_FINE = 1.0                  # sd of the blur whose difference is the residual's fine detail, binned pixels
_SMOOTH = 3.0                # fine detail at most this many times white noise's: smooth
_SMOOTH_OTHERS = 4           # slices the smooth pass needs the clutter of (2 or 3 flagged clean runs)
# Slice k predicted from its neighbours: by the cubic through the two on either side (Lagrange weights,
# exact on a cubic in z), or, next to the ends of the stack, by the mean of the two.
_CUBIC = ((-2, -1 / 6), (-1, 2 / 3), (1, 2 / 3), (2, -1 / 6))
_MEAN = ((-1, 0.5), (1, 0.5))
_MIN_OTHERS = 2
_GLM_FLOOR = 3.5             # ratio from which the local GLM's score is computed too (see _glm_scores)
_GLM_SCORE = 4.35            # the GLM's score at which a pixel counts: clean real MR reaches 3.93 (10% margin)
_CONFIRM = 3.0               # the GLM's score a finding needs at one pixel at least (three sigma of a t)
_MIN_SIDE = 32
_PAIRWISE = 8                # numpy sums 8 values or more pairwise (see _bin_means)
_BATCH = 16                  # residuals filtered together: 16 binned slices of 256 x 256 are 4 MiB a map



def _fine_share(sd: float) -> float:
    """The share of white noise's variance left in an image less its Gaussian blur of sd ``sd``."""
    impulse = np.zeros((8 * int(np.ceil(sd)) + 1,) * 2)
    impulse[len(impulse) // 2, len(impulse) // 2] = 1
    return float(((impulse - ndimage.gaussian_filter(impulse, sd)) ** 2).sum())


_FINE_SHARE = _fine_share(_FINE)


class _Maps:
    """One residual's maps per scale of SCALES: signal-to-noise ratio, correlation (float32), the noise
    the ratio is of, the local mean square of the response (float32), and, per scale index, the slice's
    GLM t map as far as computed."""

    __slots__ = ("snr", "shape", "noise", "clutter", "glm")

    def __init__(self) -> None:
        self.snr: list[np.ndarray] = []
        self.shape: list[np.ndarray] = []
        self.noise: list[float] = []
        self.clutter: list[np.ndarray] = []
        self.glm: dict[int, LazyMap] = {}


def lesion_findings(ids: list[str], volume: list[np.ndarray]) -> list[Finding]:
    """Objects in one slice absent from both neighbours. ``volume``: 2-D slices of one shape in output
    units, sorted along the slice normal; ``ids`` name them. Each finding carries ``instance``, frame 0,
    ``bbox`` in the slice's pixels, ``score`` (the ratio of the response to the local clutter, or the GLM
    score scaled to the same threshold) and ``sd`` (the blob's sd in pixels). The residuals are filtered
    _BATCH at a time (a small slice costs more in calls than in arithmetic); a slice is scored once the
    residuals _REACH slices on either side are filtered, and the maps are dropped when no slice left needs
    them."""
    if len(volume) < 3 or min(volume[0].shape) < _MIN_SIDE:
        return []
    factor = -(-max(volume[0].shape) // _MAX_SIDE)
    slices = [binned(s, factor) for s in volume]
    sigmas = np.array([float(np.median(block_noise(s, 8).sigma)) for s in slices])
    last = len(slices) - 2                     # the interior slices are 1 .. last
    maps: dict[int, _Maps] = {}
    found: list[tuple[int, Finding, float]] = []
    scored = 1
    for done in _filtered(slices, sigmas, maps):
        while scored <= last and (scored + _REACH <= done or done == last):
            found += [(scored, *f) for f in _objects(ids[scored], scored, slices, sigmas, maps, factor,
                                                     volume[scored].shape)]
            for old in [j for j in maps if j <= scored - _REACH]:
                del maps[old]
            scored += 1
    return _without_echoes(found)


def _without_echoes(found: list[tuple[int, Finding, float]]) -> list[Finding]:
    """The findings, less those (slice index, finding, ratio at its peak) whose box overlaps a finding of
    a neighbouring slice of a higher ratio: an object in slice k is in the residuals of k - 1 and k + 1
    too, at 2/3 of its contrast (1/2 next to the ends of the stack) with the other sign, and the rim of
    the matched filter's response there can pass. Ratios, not scores: the local GLM of slice k + 1 has
    slice k among its regressors, object included, and scores the echo as much as the object."""
    def echo(k: int, f: Finding, ratio: float) -> bool:
        return any(abs(j - k) == 1 and other > ratio and g.details["score"] > f.details["score"]
                   and _overlap(g.details["bbox"], f.details["bbox"]) for j, g, other in found)
    return [f for k, f, ratio in found if not echo(k, f, ratio)]


def _overlap(box: list[int], other: list[int]) -> bool:
    """Whether two [row0, col0, row1, col1] boxes share a pixel."""
    return box[0] < other[2] and other[0] < box[2] and box[1] < other[3] and other[1] < box[3]


def _filtered(slices: list[np.ndarray], sigmas: np.ndarray, maps: dict[int, _Maps]) -> Iterator[int]:
    """Fill ``maps`` with the maps of the residuals of slices 1 .. len - 2, _BATCH at a time; yield the
    last slice filtered after each batch."""
    for start in range(1, len(slices) - 1, _BATCH):
        stop = min(start + _BATCH, len(slices) - 1)
        residuals = np.empty((stop - start,) + slices[0].shape, np.float32)
        noise = np.empty(stop - start)
        for k in range(start, stop):
            residuals[k - start] = _residual(slices, k)
            noise[k - start] = _residual_noise(sigmas, k)
        # The kernels' maps are scipy's bit for bit on finite values; NaN or infinite pixels take scipy's path.
        finite = bool(np.isfinite(residuals).all())
        matched = matched_filter if finite else matched_filter_reference
        energy_of = local_energy if finite else local_energy_reference
        for k in range(start, stop):
            maps[k] = _Maps()
        for scale in SCALES:
            snr, shape, divisors = matched(residuals, scale, noise)
            energy = energy_of(snr, template(scale, np.float32).width)
            for k in range(start, stop):
                m = maps[k]
                m.snr.append(snr[k - start])
                m.shape.append(shape[k - start])
                m.noise.append(float(divisors[k - start]))
                m.clutter.append(energy[k - start] * np.float32(divisors[k - start] ** 2))
        yield stop - 1


def _prediction(k: int, count: int) -> tuple[tuple[int, float], ...]:
    """(offset, weight) of the slices that predict slice ``k`` of ``count``."""
    return _CUBIC if 2 <= k <= count - 3 else _MEAN


def _residual(slices: list[np.ndarray], k: int) -> np.ndarray:
    """Slice ``k`` less its prediction (float32)."""
    residual = slices[k].copy()
    for offset, weight in _prediction(k, len(slices)):
        residual -= np.float32(weight) * slices[k + offset]
    return residual


def _residual_noise(sigmas: np.ndarray, k: int) -> float:
    """White-noise sd of slice ``k``'s residual, from the slices' noise sigmas."""
    weighted = sum(w * w * sigmas[k + o] ** 2 for o, w in _prediction(k, len(sigmas)))
    return float(np.sqrt(sigmas[k] ** 2 + weighted))


def _objects(instance: str, k: int, slices: list[np.ndarray], sigmas: np.ndarray, maps: dict[int, _Maps],
             factor: int, shape: tuple[int, ...]) -> list[tuple[Finding, float]]:
    """Findings of interior slice ``k`` from the maps of its residual and of those around it, each with
    the ratio at its peak (see :func:`_without_echoes`). A pixel counts when its residual is blob-shaped
    (correlation _SHAPE), or less so (_SMOOTH_SHAPE) but smooth (see :func:`_smooth`), and its ratio is at
    least _SCORE or, from _GLM_FLOOR, its GLM score (see :func:`_glm_scores`) at least _GLM_SCORE."""
    around = [j for j in maps if 2 <= abs(j - k) <= _REACH]
    others = [maps[j] for j in around]
    white = _residual_noise(sigmas, k)
    own = maps[k]
    best_score, best_scale = np.zeros(slices[k].shape), np.zeros(slices[k].shape, np.int64)
    best_smooth = np.zeros(slices[k].shape, bool)
    best_ratio = np.zeros(slices[k].shape)
    residual = None
    for i, scale in enumerate(SCALES):
        snr, correlation = own.snr[i], own.shape[i]
        # The shape gate first: few pixels pass it, and only theirs need the clutter of the other slices.
        signed = correlation * np.sign(snr)
        rows, cols = np.nonzero(_inside(signed >= _SMOOTH_SHAPE, scale))
        if not len(rows):
            continue
        floor = white * template(scale, np.float32).norm
        if len(others) >= _MIN_OTHERS:
            clutter = np.maximum(sum(m.clutter[i][rows, cols].astype(np.float64) for m in others) / len(others),
                                 floor * floor)
        else:
            clutter = np.full(len(rows), max(own.noise[i], floor) ** 2)
        score = np.abs(snr[rows, cols]) * own.noise[i] / np.sqrt(np.maximum(clutter, np.finfo(float).tiny))
        weighed = len(others) >= _MIN_OTHERS     # the GLM needs the other slices' t as the ratio their clutter
        smooth = np.zeros(len(rows), bool)
        candidates = score >= (min(_GLM_FLOOR, _SCORE) if weighed else _SCORE)
        if candidates.any() and len(others) >= _SMOOTH_OTHERS:
            residual = _residual(slices, k) if residual is None else residual
            smooth[candidates] = _smooth(residual, rows[candidates], cols[candidates], scale, white)
        score[~smooth & (signed[rows, cols] < _SHAPE)] = 0
        ratio = score.copy()
        near = (score >= _GLM_FLOOR) & (score < _SCORE)
        if weighed and near.any():
            # In units of its own threshold: a pixel counts at _SCORE by either score.
            glm = _glm_scores(slices, k, maps, around, i, rows[near], cols[near]) * (_SCORE / _GLM_SCORE)
            score[near] = np.maximum(score[near], glm)
        better = score > best_score[rows, cols]
        best_score[rows[better], cols[better]] = score[better]
        best_scale[rows[better], cols[better]] = i
        best_smooth[rows[better], cols[better]] = smooth[better]
        best_ratio[rows[better], cols[better]] = ratio[better]
    findings: list[tuple[Finding, float]] = []
    if not best_score.max() >= _SCORE:
        return findings
    labels, _ = ndimage.label(best_score >= _SCORE)
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        inside = labels[where] == number
        peak = float(best_score[where][inside].max())
        at = np.argwhere(inside & (best_score[where] == peak))[0]
        row, col = where[0].start + int(at[0]), where[1].start + int(at[1])
        i = int(best_scale[row, col])
        if not _against_both(slices, k, i, row, col, 2.0 if best_smooth[row, col] else 1.0):
            continue
        rows, cols = np.nonzero(inside)
        if not _glm_scores(slices, k, maps, around, i, rows + where[0].start, cols + where[1].start).max() >= _CONFIRM:
            continue
        finding = LESION.finding(
            f"instance {instance}: blob of sd {SCALES[i] * factor:g} px absent from both neighbouring slices "
            f"(score {peak:.1f}, {_SCORE:g} at the threshold, against the local change between slices)", frame=0,
            bbox=_blob_box(where, SCALES[i], factor, shape), score=round(peak, 1), sd=SCALES[i] * factor,
            instance=instance)
        findings.append((finding, float(best_ratio[row, col])))
    return findings


def _glm_scores(slices: list[np.ndarray], k: int, maps: dict[int, _Maps], around: list[int], i: int,
                rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    """The local general linear model's score at (rows, cols) of slice ``k`` for blob sd SCALES[i] (see
    :mod:`.glm`): the blob's t-statistic there, fitted on the slice's own neighbours, over the root mean
    square of the t of the slices ``around`` in the model's window about it (clipped to the slice), or 1
    (white noise's) if larger. Evaluated per group of touching pixels, on its bounding box; each slice's t
    map is kept in its maps (as far as asked for, :class:`.glm.LazyMap`) for the slices around it."""
    shape = slices[k].shape
    radius = len(blob_g(SCALES[i])) // 2
    index = np.full(shape, -1, np.int64)
    index[rows, cols] = np.arange(len(rows))
    labels, _ = ndimage.label(index >= 0, np.ones((3, 3), bool))
    scores = np.zeros(len(rows))
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        box = (where[0].start, where[0].stop, where[1].start, where[1].stop)
        grown = (max(box[0] - radius, 0), min(box[1] + radius, shape[0]),
                 max(box[2] - radius, 0), min(box[3] + radius, shape[1]))
        square = (sum(_t_map(slices, maps, j, i).over(grown) ** 2 for j in around) / len(around) if around
                  else np.zeros((grown[1] - grown[0], grown[3] - grown[2])))
        mean_square = _clipped_means(square, np.arange(box[0], box[1])[:, None] - grown[0],
                                     np.arange(box[2], box[3])[None, :] - grown[2], radius)
        ratio = np.abs(_t_map(slices, maps, k, i).over(box)) / np.sqrt(np.maximum(mean_square, 1.0))
        members = labels[where] == number
        scores[index[where][members]] = ratio[members]
    return scores


def _t_map(slices: list[np.ndarray], maps: dict[int, _Maps], j: int, i: int) -> LazyMap:
    """Slice ``j``'s t map for blob sd SCALES[i], made when first asked for."""
    if i not in maps[j].glm:
        maps[j].glm[i] = LazyMap(slices[j], _neighbours(slices, j), SCALES[i])
    return maps[j].glm[i]


def _neighbours(slices: list[np.ndarray], k: int) -> list[np.ndarray]:
    """The slices 1 and 2 away from slice ``k`` on either side, those the stack has."""
    return [slices[j] for j in (k - 2, k - 1, k + 1, k + 2) if 0 <= j < len(slices)]


def _smooth(residual: np.ndarray, rows: np.ndarray, cols: np.ndarray, scale: float, white: float) -> np.ndarray:
    """Whether the residual about (rows, cols) is smooth: the energy of its fine detail (the residual
    less its Gaussian blur of sd _FINE binned pixels) in a window of +-1.5 ``scale`` at most _SMOOTH times
    what white noise of sd ``white`` leaves there. An object added to the slice whose profile is smooth at
    1 pixel (a Gaussian-like blob of sd 3 or more) adds little fine detail, its window holds the noise
    and the anatomy's own fine change; a structure that appears in the slice brings its edges."""
    fine = residual.astype(np.float64) - ndimage.gaussian_filter(residual.astype(np.float64), _FINE, mode="reflect")
    energy = _clipped_means(fine * fine, rows, cols, int(np.ceil(1.5 * scale)))
    return energy <= _SMOOTH * white * white * _FINE_SHARE


def _clipped_means(values: np.ndarray, rows: np.ndarray, cols: np.ndarray, half: int) -> np.ndarray:
    """The mean of ``values`` over the window of +-``half`` about each (rows, cols) (index arrays that
    broadcast together), clipped to the array, from its integral image."""
    sums = np.zeros((values.shape[0] + 1, values.shape[1] + 1))
    sums[1:, 1:] = np.cumsum(np.cumsum(values, 0), 1)
    top, bottom = np.maximum(rows - half, 0), np.minimum(rows + half + 1, values.shape[0])
    left, right = np.maximum(cols - half, 0), np.minimum(cols + half + 1, values.shape[1])
    return (sums[bottom, right] - sums[top, right] - sums[bottom, left] + sums[top, left]) / (
        (bottom - top) * (right - left))


def _inside(mask: np.ndarray, scale: float) -> np.ndarray:
    """``mask`` less its pixels within ``scale`` of the slice's edge: the filters mirror the residual there
    (scipy's "reflect"), so that half a ridge along the edge is whole blob-shaped and the window's
    correlation is of a copy of itself."""
    edge = int(np.ceil(scale))
    inner = np.zeros_like(mask)
    inner[edge:-edge, edge:-edge] = mask[edge:-edge, edge:-edge]
    return inner


def _against_both(slices: list[np.ndarray], k: int, scale: int, row: int, col: int, reach: float) -> bool:
    """Whether the object at (row, col) differs with one sign from both neighbours: there, the matched
    responses of I[k] - I[k-1] and I[k] - I[k+1] both have the sign of their mean m, the response of
    I[k] - (I[k-1] + I[k+1]) / 2. They are m + c / 2 and m - c / 2, where c is the response of
    I[k+1] - I[k-1]: |c| <= ``reach`` |m|. A smooth peak (see :func:`_smooth`) has reach 2: one sign
    against both is enough (asking each for at least half of m lost a sixth of the blobs of 6 noise
    sigma, on places where the anatomy changes fast through the slices). A blob-shaped one has reach 1,
    each at least half of m, as its gate was calibrated: with reach 2 a clean candidate of nibabel's EPI
    reached a correlation of 0.65."""
    t = template(SCALES[scale], np.float64)
    below, here, above = (slices[j].astype(np.float64) for j in (k - 1, k, k + 1))
    m, c = (_response_at(image, t, row, col) for image in (here - (below + above) / 2, above - below))
    return abs(c) <= reach * abs(m)


def _response_at(image: np.ndarray, t: Template, row: int, col: int) -> float:
    """The matched filter's response (zero-mean template ``t``, scipy's "reflect" edges) at one pixel."""
    radius = t.width // 2
    window = np.pad(image, radius, mode="symmetric")[row:row + t.width, col:col + t.width]
    return float(t.g @ window @ t.g - t.offset * window.mean())


def warm_up() -> None:
    """Compile (or load from numba's cache) the kernels of the lesion check, for the float64 slices that
    check_volume hands in, large enough to be binned, and the GLM's (which noise alone seldom reaches)."""
    side = 2 * _MAX_SIDE
    noise = [np.random.default_rng(k).normal(0, 1, (side, side)) for k in range(3)]
    lesion_findings(["a", "b", "c"], noise)
    LazyMap(noise[1], [noise[0], noise[2]], SCALES[0]).over((0, 1, 0, 1))


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
