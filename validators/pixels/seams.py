"""Pasted squares: a patch of unrelated content pasted into a frame leaves a break along its whole outline.

Per pixel boundary, the seam evidence of :func:`.kernels.seam_squares`: (d - n) / (d + n + 1), d the
absolute step across the boundary, n the mean absolute step of the two steps on each side of it. Imaged
anatomy is band-limited (every edge is spread over two pixels or more by the system's point spread
function and the reconstruction kernel), so its steps come in runs and score near 0 or below; a patch
whose content is unrelated to its surroundings breaks the image between two adjacent pixels all along
its outline. A square's seam score is the mean evidence over its four sides, each side less the evidence
of its line beyond the square's corners (straight anatomical, collimator or graphic edges go on past a
corner, a pasted patch's seam stops there). To it is added _WEIGHT times the texture contrast across the
outline, the larger of two: the mean absolute second difference along rows, and down columns, in the
4-pixel strips inside and outside the four sides (plus 1 stored value), the least absolute log ratio
inside / outside when all four sides have one sign (a patch from another image is smoother or rougher
than its surroundings on every side, or rough along the other axis: the correlated noise of a CT
reconstruction kernel or of ultrasound speckle is smoother along one axis than the other; residual-based
splicing detection, J. Lukas, J. Fridrich, M. Goljan, SPIE 6072, 2006). And _LATTICE times the
unit-step contrast: how much rarer steps of exactly 1 stored value are inside the square than in its
8-pixel ring, among the steps to a right or lower neighbour that are not 0 (log of the ratio of the two
shares, each count plus 1, over 4, within 0 .. 1): a patch from another image whose values were rescaled
to match its new surroundings, round(a x + b) with a > 1, skips values, its steps are multiples of about
a and never 1 (M. C. Stamm, K. J. R. Liu, IEEE TIFS 5(3), 2010; unlike the attempt below, a cue added to
the seam score of squares that pass the pre-test, not a detector of its own over every square). Squares
whose sides are flat on either side (graphics, background, ramps such as grey bars) are not scored; the
strips inside need not be textured when the unit-step contrast is 1 (unit steps at least e^4 = 55 times
rarer inside: a smooth patch rescaled; flat graphics have no steps at all, so no such contrast). Every
square of SMALLEST to LARGEST pixels a side is searched, at every position, whose corners pass a
pre-test (the mean evidence of the 16 pixels of its two sides next to a corner at least _CORNER): the
top-left corner, and the bottom-right one or else both the top-right and bottom-left ones (noise hides
the seam near one corner of many pastes); about 1.3 ms for a 512x512 slice (CPU time of one thread).

The threshold (_THRESHOLD) is set 9% above the highest score on every clean real frame of pydicom, the
data packages (pydicom-data, deid-data) and Orthanc's test files (0.238, eCT_Supplemental: a synthetic
brain CT, 1-pixel edges and value-dependent quantisation; ultrasound 0.225, DX 0.209): see
bench/forensics.py for the detection rates, by size and by the noise ratio of the pasted patch (127 of
its 148 pastes by this check, 141 with the other checks: 130 before :mod:`.lattice` and the
noisy-square and quiet-square checks of :mod:`.forensics`; 125 without the unit-step contrast). The threshold is calibrated
on that same clean set (in-sample). Held out by modality: calibrated on the CT and MR frames alone (0.238,
so 0.26), the US, CR and DX frames reach at most 0.225, and calibrated on those alone (0.246), the CT and
MR ones 0.238: no finding either way (bench/forensics.py prints both). _CORNER, _WEIGHT, _LATTICE and
the strips' floor were chosen on bench/forensics.py's pastes and clean frames (_LATTICE 0.1 to 0.2 find
as many pastes, with no rise of the highest clean score, 0.05 one fewer; 0.3 lets a clean CR frame reach
0.277).

Measured and not used (of bench/forensics.py's 148 pastes, at no finding on the clean frames; found by the
seam score alone, or with the other checks where said; the first four at corner 0.15 and weight 0.3): the
isotropic Immerkaer residual as the texture (as the noise check's: 96 pastes, against 103 with the
directional second differences, which find its 96 too; both together find no more); the seam evidence from
steps averaged over 3 or 5 pixels along the boundary (less noise, but clean edges as sharp: 96 and 84
pastes, against 96 without); every square searched with no corner pre-test (the highest clean score rises
from 0.32 to 0.49, eCT_Supplemental, and 85 pastes are found against 96: the pre-test keeps clean squares
out too), and with a side's score the log ratio of its summed absolute steps to its neighbour lines' (clean
3.3, one paste); the mean of a square's 3 best sides (122 with the other checks, against 123); the top-left
and any one further corner (116 against 123); strips textured on one side of the outline only (the clean
cat.dcm, a DX, then scores 0.74). The trace of the rescaling a pasted patch's values went through (round(a
x + b) of the donor's x: for a > 1 the neighbour differences skip values, for a < 1 values pile up;
intrinsic fingerprints of contrast changes, M. C. Stamm, K. J. R. Liu, IEEE TIFS 5(3), 2010). Per square of
2x2 to 7x7 blocks of 8 px, at least 2 blocks from the border: (O + 1) / (E + 1), O the neighbour pairs with
1 <= |d| <= w/2 among those with 1 <= |d| <= w (w = 4, 8 .. 64), E its expectation from the frame's own
rate at the pair's lower value (value-dependent quantisation, as in eCT_Supplemental, is expected, not
flagged), E >= 20. At their square, 35 of the 148 pastes fall below 0.018, but only 5 of the 47 an earlier
seam score missed; clean greyscale frames reach 0.020 (8-bit US), 0.035 (CR, DX) and 0.002 (an OT LUT test
image), lossless CT and MR 0.198: at no finding on a clean frame it adds no missed paste. Simpler forms, a
square against its 8-px ring (the share of |d| = 1 among 1 <= |d| <= 4, of 1 <= |d| <= 4 among |d| >= 1),
reach 0 on clean CT, DX and US frames (edges, bone, speckle). On a frame whose differences are all
multiples of 32 (a 16-bit US of 67 values) no small difference is left to count. With the unit-step
contrast (weight 0.1): its absolute log ratio, so that a patch with more unit steps than its ring (a < 1:
values piled up) counts too (the highest clean score rises to 0.242, 128 pastes against 129 without the
inside strips' exemption); the frame's most common nonzero step (every 8th row) as the unit instead of 1,
for frames on a coarser lattice (the most common step of a noisy CT is not 1: 127 against 129); no texture
test at all, outside strips included, when the unit steps are gone (an OT LUT test image, mlut_18.dcm, then
scores 0.373: 127 against 130). Measured later, and not used: the seam evidence against the mean step of
the quieter side only, min of the two pairs instead of their mean (a noisier patch's outline shows, but the
highest clean score rises to 0.639, RG3_UNCR.dcm, and the corner pre-test passes almost everywhere: 30
times slower); inside strips textured at 0.2 instead of 0.25 (693_UNCR.dcm's paste found,
eCT_Supplemental.dcm's clean score 0.261). Measured for the misses of --trials 8 (20 of 296), and not
used: the noise texture of a patch from another image, per 8x8 block of the noise map's grid the
Immerkaer residual's correlation at lag 1 and 2 along rows and down columns (their sums and differences
too, and log row / column second-difference energy), searched as the noisy squares (every block of a 2-7
block square above, or below, every block of the ring beyond): the clean highest are CT frames (row
lag 1 0.207 and column lag 1 0.241, 693_UNCR.dcm; row lag 2 0.150), 9% above them row lag 1 or 2 finds
1 missed paste of 148 and 2 of 296 (SignedCT.dcm: 142/148, 278/296 = 93.9% [90.6, 96.1]), and held out
by modality the US/CR/DX frames reach 0.051 (row lag 1): a threshold from them flags the clean CTs;
the residual correlations pooled over the square against its ring as z-scores (anatomy sets them: clean
136 on 693_UNCR.dcm, 748 on an OT LUT image, missed pastes 2-41); the smooth-region check's ring floor at
0.7 or 0.5 stored value instead of 1 (one RG3_UNCR.dcm paste of 296 more, ratio 0 at a ring of 0.99, a
median absolute residual of 4; the clean cat.dcm holds a region of ratio 0 at the same 0.99, kept out
only as dark); the noise squares against the ring's second greatest block instead of its greatest (no
missed paste found, the clean highest quieter square 0.397, a CT).

Not found by this check, and left to others (bench/forensics.py): a 16-bit ultrasound whose stored values
are all multiples of 32 (4 of 32 missed here, seam scores 0.15 to 0.21, no step of 1 in the frame): its
pastes leave the value lattice, :mod:`.lattice` finds all 32; 8-bit ultrasound with a far noisier patch,
whose outline is lost in its noise (4 of 16, scores 0.12 to 0.24), one of the noise-like CT's, and one in
eCT_Supplemental.dcm that only squares sharing an edge with it scored: the noisy-square check of
:mod:`.forensics` (every block of the square at least 1.52 times as noisy as every block of the ring beyond
it); one whose corners fail the pre-test (cat.dcm, a DX, its robust noise ratio 0.34 against the smooth-region
check's 0.3): the quiet-square check of :mod:`.forensics`. Patches whose noise and texture continue their
surroundings, so that the step across the outline is no larger than the steps beside it and the noise contrast
within 0.77x to 1.52x on some block (noise-like CT, SignedCT.dcm: 4 of 12, their corners fail the pre-test),
are found by their values, which skip their neighbours where they were rescaled by a > 1 (:mod:`.gaps`: 3 of
the 4). Missed by every check (4 of 148): one such patch rescaled by about 1 (its values as many as its
host's); smooth patches whose unit steps are left (rescaled by a < 1), so that a strip inside is flat (3: the
test that keeps graphics out; 2 of them in a CR whose noise, 0.74 stored value, is below the smooth-region
check's floor; one in 693_UNCR.dcm scores 0.465 at its
square but 0.237 at best among the squares that pass). Not covered: pastes with feathered, blended or
smoothed edges (no break between two pixels); shapes other than axis-aligned squares (rectangles of unequal
sides, rotated or free-form patches: only the squares inside them are scored, whose outline is partly
inside the patch); squares smaller than SMALLEST or larger than LARGEST pixels, or within 8 pixels of the
frame's border; patches whose outline runs along flat areas (less than a quarter of a strip's pixels
differing from a neighbour); frames of floating-point values (the evidence's +1 is in stored values) and
lossy-compressed frames (8x8 block edges of JPEG are seams; the caller skips them).
"""

from __future__ import annotations

import numpy as np

from ..findings import Action, Finding, Severity
from ..rules import define
from .kernels import SEAM_MARGIN, seam_squares

PASTED_SQUARE = define(
    "forensics.pasted-square", Severity.WARNING, Action.LABEL,
    "A square of 24 to 64 pixels whose whole outline is a break between adjacent pixels (mean seam "
    "evidence over its four sides, each less the evidence of its line beyond the corners, plus the "
    "contrast of texture along rows or down columns across all four sides and the rarity of steps of 1 "
    "stored value inside; above every clean real frame of the data packages): a patch pasted from "
    "elsewhere, or a rectangular structure drawn into the image.")
SMALLEST = 24
LARGEST = 64
_CORNER = 0.12     # 0.15: 4 fewer of bench/forensics.py's 148 pastes, for 0.2 ms less a 512x512 slice; 0.10: no paste
                   # more, and the clean eCT_Supplemental.dcm scores 0.265
_SHARE = 0.25      # least share of a strip's pixels that differ from their neighbour, each way
_WEIGHT = 0.2      # of the texture contrast (at most 1) against the seam score (at most 1)
_LATTICE = 0.1     # of the unit-step contrast (at most 1): 0.1 to 0.2 find as many pastes
_THRESHOLD = 0.26   # clean real frames at most 0.238
_MOST = 4          # findings per frame


def pasted_square_findings(frame: np.ndarray, index: int) -> list[Finding]:
    """Squares of one 2-D frame of integer stored values whose outline is a seam, best first, none
    overlapping a better one. Each finding carries ``score`` (seam score plus weighted texture contrast,
    below 1.3), ``frame`` and ``bbox`` = [row0, col0, row1, col1] (pixels, end exclusive)."""
    if frame.dtype.kind not in "iu" or min(frame.shape) < SMALLEST + 2 * SEAM_MARGIN:
        return []
    found = seam_squares(frame, SMALLEST, LARGEST, _CORNER, _WEIGHT, _LATTICE, _THRESHOLD, _SHARE)
    kept: list[list[int]] = []
    findings = []
    for k in np.argsort(-found.scores, kind="stable"):
        r, c, side = int(found.rows[k]), int(found.cols[k]), int(found.sides[k])
        box = [r, c, r + side, c + side]
        if any(box[0] < o[2] and o[0] < box[2] and box[1] < o[3] and o[1] < box[3] for o in kept):
            continue
        kept.append(box)
        score = round(float(found.scores[k]), 3)
        findings.append(PASTED_SQUARE.finding(
            f"frame {index}: a {side}x{side} square at ({r}, {c}) whose outline breaks the image on all four "
            f"sides (seam score {score})", frame=index, bbox=box, score=score))
        if len(findings) == _MOST:
            break
    return findings
