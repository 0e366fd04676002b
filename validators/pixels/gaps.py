"""Squares whose values skip their neighbours: a patch of another image rescaled to the mean and spread of
its new surroundings went through round(a x + b), and for a > 1 its values lie about a apart (the trace
of a contrast change in an image's histogram: M. C. Stamm, K. J. R. Liu, "Forensic detection of image
manipulation using statistical intrinsic fingerprints", IEEE TIFS 5(3), 2010), whereas natural noise of
the same spread fills in neighbouring values. This holds where the frame has no value lattice of its own
(:mod:`.lattice` covers frames that do) and where steps of 1 are rare everywhere (a noise-like CT whose
neighbours differ by tens of stored values: :mod:`.seams`' unit-step contrast sees no difference there).

Per 8x8 block (:func:`.kernels.block_value_pairs`), the observed pairs O (distinct values v of the block
with v + 1 among them too) and the pairs E that 64 rounded Gaussian samples of the block's standard
deviation hold (:func:`expected_pairs`). A square of SMALLEST to LARGEST blocks scores
log((O + 1) / (E + 1)) of its ring (the blocks one block beyond its sides, as the noisy-square check's:
the blocks between hold the patch in part), at most 0, less that of its own blocks: how much rarer
neighbouring values are inside than the ring's blocks and the Gaussian model say. Only squares whose
blocks are all informative are scored (no value on more than _COMMONEST of a block's pixels: graphics,
flat and clipped areas hold few values by nature; no block wholly at the frame's least or greatest
value), with a ring of at least _RING_SHARE informative blocks and E of at least _MIN_EXPECTED pairs
inside (fewer leave chance deficits: 2 pairs where 14 are expected, in the largest CR frames).

bench/forensics.py (its pastes: a square of another real image, mean and sd matched): of the 20 pastes
of 296 (--trials 8) that the seam, off-lattice and noise-square checks missed, 10 score 3.2 to 5.0 here
(8 in SignedCT.dcm, a noise-like CT of sd 75-400 in the square, whose patches come from a CT of a few
stored values of noise: rescaled by about 3 to 25, they hold 18 to 270 values where the host's square
holds 260 to 735; 2 in eCT_Supplemental.dcm, from an ultrasound on multiples of 32), and 3 of the 7
missed of the default 148. Still missed: patches rescaled by 1.5 or less (2 in SignedCT.dcm, 2 in
693_UNCR.dcm, one in eCT_Supplemental.dcm and one in the 8-bit US: their value counts are the host's),
flat ones and RG1_UNCR.dcm's (1.76). Clean real frames of pydicom,
the data packages and Orthanc's test files: at most 0.971 (RG1_UNCR.dcm, a CR: 2 pairs where 14 are
expected in a 2x2 square of sparse blocks, before _MIN_EXPECTED was 20), 0.758 on CT, 0.683 on US, 0.662
on DX, 0.367 on MR. _THRESHOLD is about twice that highest (in-sample; a 9% margin, 1.06, would add one
paste of 296, RG1_UNCR.dcm's at 1.77); held out by modality with the same factor, calibrated on CT/MR
alone (1.56) the US/CR/DX frames reach 0.971, calibrated on US/CR/DX alone (2.0) the CT/MR frames 0.758:
no finding either way. Measured and not used (the same 20 misses, the same clean frames): the distinct
values per block against their Gaussian expectation instead of the pairs, pooled as here (no block
excluded, E of 10 or more: clean highest 2.6, eCT_Supplemental.dcm, the misses at most 1.55), or with
every block of the square below every block of its ring as the noise squares (6 of the 20 above a clean
highest of 0.359, eCT_Supplemental.dcm); no exclusion of blocks by their commonest value (clean graphics
reach 4.2: grey bars, rulers, synthetic plateaus), or at 25% of their pixels (one SignedCT.dcm and one
eCT_Supplemental.dcm paste fewer: their donors' values repeat); _MIN_EXPECTED 10 (the clean CR reaches
1.56: chance deficits of sparse blocks).
Cost: 0.5-0.7 ms of CPU a 512x512 CT slice alone, 0.8 ms more for check_pixels (alternated with and
without it, on a loaded host), of which 0.35-0.4 ms the value-pair kernel (a sorting network on every
block of a row of blocks at once, 16-bit lanes; a table of stamps per value, random-accessed
once a pixel, took 0.7-0.9 ms, and its two-pass branch-free and two-table forms no less).
"""

from __future__ import annotations

import functools

import numpy as np
from scipy.special import ndtr

from ..findings import Action, Finding, Severity
from ..rules import define
from . import kernels

VALUE_GAPS = define(
    "forensics.value-gaps", Severity.WARNING, Action.LABEL,
    "A square of 2 to 7 blocks of 8x8 pixels whose values skip their neighbours (pairs of values v, v + 1 "
    "far rarer than in the blocks around it and than Gaussian noise of its spread holds): a patch of "
    "another image whose values were rescaled to match its new surroundings.")
BLOCK = 8
SMALLEST, LARGEST = 2, 7     # blocks a side: the whole blocks of a 24 to 64 px patch
_MOAT = 1                    # blocks between a square and its ring
_COMMONEST = 0.4             # a block with one value on more of its pixels is not informative
_RING_SHARE = 0.9
_MIN_EXPECTED = 20.0
_THRESHOLD = 2.0
_MOST = 4
_LARGE_SPREAD = 256.0        # stored values: beyond, expected_pairs uses its asymptote


@functools.cache
def _pairs_table() -> tuple[np.ndarray, np.ndarray]:
    """log standard deviation and expected pairs at it, from 0.05 to _LARGE_SPREAD (see
    :func:`expected_pairs`)."""
    n = BLOCK * BLOCK
    spreads = np.exp(np.linspace(np.log(0.05), np.log(_LARGE_SPREAD), 160))
    expected = []
    for sd in spreads:
        edges = np.arange(-int(8 * sd) - 3, int(8 * sd) + 4) + 0.5
        total = 0.0
        for centre in (0.0, 0.25, 0.5, 0.75):     # the mean's place between two integers
            p = np.diff(ndtr((edges - centre) / sd))
            present = 1 - (1 - p) ** n
            total += float(np.sum(present[1:] * present[:-1]))
        expected.append(total / 4)
    return np.log(spreads), np.array(expected)


def expected_pairs(spread: np.ndarray) -> np.ndarray:
    """Expected pairs (values v and v + 1 both present) among 64 samples of a Gaussian of standard
    deviation ``spread`` rounded to integers: the sum over v of P(v present) P(v + 1 present), treating
    the two as independent. Beyond _LARGE_SPREAD the samples are sparse and the sum is n^2 / (2 sqrt(pi)
    sd), the integral of (n phi)^2."""
    logs, table = _pairs_table()
    spread = np.asarray(spread, dtype=np.float64)
    wide = spread > _LARGE_SPREAD
    inside = np.interp(np.log(np.maximum(spread, 0.05)), logs, table)
    return np.where(wide, table[-1] * _LARGE_SPREAD / np.maximum(spread, _LARGE_SPREAD), inside)


def gap_squares(frame: np.ndarray, least: float) -> list[tuple[float, int, int, int]]:
    """(score, top block row, left block column, side in blocks) of every scored square of at least
    ``least`` (see the module's docstring), by :func:`.kernels.gap_squares`; [] for frames too small,
    of floating-point values or of integers wider than 32 bits."""
    maps = _block_maps(frame)
    if maps is None:
        return []
    found = kernels.gap_squares(*maps, SMALLEST, LARGEST, _MOAT, _MIN_EXPECTED, _RING_SHARE, least)
    return list(zip(found.scores.tolist(), found.rows.tolist(), found.cols.tolist(), found.sides.tolist()))


def _block_maps(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """Per 8x8 block: observed pairs, expected pairs (both 0 where the block is not informative) and
    whether it is informative; None where the frame cannot be scored."""
    too_small = min(frame.shape) < (SMALLEST + 2 * _MOAT + 2) * BLOCK
    if frame.dtype.kind not in "iu" or frame.itemsize > 4 or too_small:
        return None
    blocks = kernels.block_value_pairs(frame, BLOCK)
    low, high = blocks.minimum.min(), blocks.maximum.max()
    informative = (blocks.maximum > low) & (blocks.minimum < high) & \
        (blocks.commonest <= _COMMONEST * BLOCK * BLOCK)
    expected = np.where(informative, expected_pairs(blocks.spread), 0.0)
    return np.where(informative, blocks.pairs, 0).astype(np.float64), expected, informative


def value_gap_findings(frame: np.ndarray, index: int) -> list[Finding]:
    """Squares of one 2-D frame of integer stored values whose values skip their neighbours, best
    first, none overlapping a better one. Each finding carries ``score`` (the log contrast of value
    pairs, ring against inside), ``frame`` and ``bbox`` = [row0, col0, row1, col1] (pixels, end
    exclusive, on the 8-pixel block grid)."""
    findings: list[Finding] = []
    kept: list[list[int]] = []
    for score, i, j, side in sorted(gap_squares(frame, _THRESHOLD), key=lambda square: -square[0]):
        box = [i * BLOCK, j * BLOCK, (i + side) * BLOCK, (j + side) * BLOCK]
        if any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in kept):
            continue
        kept.append(box)
        findings.append(VALUE_GAPS.finding(
            f"frame {index}: a square of {side}x{side} blocks at ({box[0]}, {box[1]}) whose values skip their "
            f"neighbours (pair contrast {score:.2f})", frame=index, bbox=box, score=round(score, 3)))
        if len(findings) == _MOST:
            break
    return findings
