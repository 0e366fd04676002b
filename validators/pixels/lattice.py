"""Values off the frame's lattice: a patch pasted into a frame whose stored values all lie on a lattice
(every value a multiple of g, or of one residue modulo g, g >= 2: 8-bit data shifted into 16 bits, a
scanner that writes every 32nd value) breaks it, since its values went through round(a x + b) to match
their new surroundings and land anywhere (quantisation forensics: the histogram of an image carries the
trace of how its values were made; M. C. Stamm, K. J. R. Liu, "Forensic detection of image
manipulation using statistical intrinsic fingerprints", IEEE TIFS 5(3), 2010).

The lattice is read on SAMPLED_ROWS rows spread over the frame: each row's values less its first have a
greatest common divisor (0 for a flat row); the largest of these that divides that of at least
LATTICE_ROWS of the rows that are not flat (a row through a pasted patch has its own) picks those rows,
g is the common divisor of their values less one reference value, and the frame has a lattice if g >= 2,
at least LATTICE_SHARE of the sampled pixels lie on it and they take at least _MIN_VALUES values (a mask
or a drawing of a few grey levels is not an image on a lattice). Most frames have none, and the check
stops there, read on every 4th column of those rows first (some 27 us a 512x512 slice). Else, per block
of BLOCK x BLOCK pixels, the share off the lattice; blocks of at least half the share a patch of random
values has (1 - 1/g) are joined (8-connected), and a group of at least _MIN_BLOCKS blocks whose
off-lattice pixels take at least _MIN_REGION_VALUES values (not a graphic drawn at one or a few
off-lattice values) is a finding, its score the group's share off the lattice over 1 - 1/g.

Measured on bench/forensics.py: all 32 pastes into its 16-bit ultrasound on multiples of 32 are found (4
of them missed by :mod:`.seams`); pydicom's and the data packages' clean frames with a lattice (16-bit
ultrasound on multiples of 32, 8-bit colour ultrasound of 8 levels, dose grids, segmentations) have no
pixel off it, or too few values (masks), or no lattice under this test (an 8-bit ultrasound with 95%
of its values even: rows of 1,024 pixels each hold an odd value). Set on those pastes and the unit
tests: LATTICE_ROWS (0.75 loses the lattice of a 240-row frame with a 64-pixel patch) and
_MIN_REGION_VALUES (16 misses 2 patches from a donor of 14 values). Not covered: a patch whose values were
snapped back onto the lattice (its own values then lie on it too); a patch over more than about half the
sampled rows; frames without one (most CT, MR, CR, DX: their seams are :mod:`.seams`'
to find); lossy-compressed frames (the caller skips them: decoding moves values off any lattice).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from ..findings import Action, Finding, Severity
from ..rules import define

OFF_LATTICE = define(
    "forensics.off-lattice", Severity.WARNING, Action.LABEL,
    "A region of at least 4 blocks of 8x8 pixels whose stored values are off the lattice that the rest "
    "of the frame's values lie on (all multiples of g >= 2, or one residue modulo g): a patch pasted "
    "from another image and rescaled to match, or values written by other software.")
BLOCK = 8
SAMPLED_ROWS = 32
LATTICE_ROWS = 0.5     # share of the sampled rows that are not flat whose values share a divisor >= 2
LATTICE_SHARE = 0.9    # share of the sampled pixels on the frame's lattice
_MIN_VALUES = 16       # distinct values on the lattice (sampled rows)
_MIN_REGION_VALUES = 8  # distinct values off it in a finding's region (graphics take one or a few)
_MIN_BLOCKS = 4        # a 16x16 patch at least; a 24x24 one covers 9 blocks by half or more
_MOST = 4              # findings per frame


def value_lattice(frame: np.ndarray) -> tuple[int, int]:
    """(g, residue): the lattice of a 2-D integer frame's stored values, read on SAMPLED_ROWS rows (see
    the module's docstring); (1, 0) when there is none."""
    step = max(frame.shape[0] // SAMPLED_ROWS, 1)
    rows = frame[::step].astype(np.int64)
    # Every 4th column first: most frames have no lattice, and np.gcd costs 70 ns a value.
    if not _shared_divisor(np.gcd.reduce(rows[:, ::4] - rows[:, :1], axis=1)):
        return 1, 0
    divisors = np.gcd.reduce(rows - rows[:, :1], axis=1)
    shared = _shared_divisor(divisors)
    if not shared:
        return 1, 0
    support = rows[(divisors > 0) & (divisors % shared == 0)]
    reference = support[0, 0]
    g = int(np.gcd.reduce((support - reference).ravel()))
    if g < 2:
        return 1, 0
    residue = int(reference % g)
    on_lattice = rows[(rows - residue) % g == 0]
    if on_lattice.size < LATTICE_SHARE * rows.size or np.unique(on_lattice).size < _MIN_VALUES:
        return 1, 0
    return g, residue


def _shared_divisor(divisors: np.ndarray) -> int:
    """Of the rows' ``divisors`` (each row's values less its first: their greatest common divisor, 0 for
    a flat row), the largest (2 or more) that divides those of at least LATTICE_ROWS of the rows that
    are not flat, and of 2 rows or more (a row through a pasted patch has its own); 0 if none."""
    varied = divisors > 0
    least = max(LATTICE_ROWS * varied.sum(), 2)
    return next((int(d) for d in np.unique(divisors[divisors > 1])[::-1]
                 if (divisors % d == 0)[varied].sum() >= least), 0)


def off_lattice_findings(frame: np.ndarray, index: int) -> list[Finding]:
    """Regions of one 2-D frame of integer stored values that are off the frame's value lattice, largest
    share first. Each finding carries ``score`` (the region's share of pixels off the lattice over the
    1 - 1/g that random values have), ``frame``, ``bbox`` = [row0, col0, row1, col1] (pixels, end
    exclusive, on the 8-pixel block grid) and ``lattice`` = [g, residue]."""
    if frame.dtype.kind not in "iu" or min(frame.shape) < 4 * BLOCK:
        return []
    g, residue = value_lattice(frame)
    if g == 1:
        return []
    rows, cols = frame.shape[0] // BLOCK, frame.shape[1] // BLOCK
    pixels = frame[:rows * BLOCK, :cols * BLOCK].astype(np.int64)
    off = (pixels - residue) % g != 0
    share = off.reshape(rows, BLOCK, cols, BLOCK).mean((1, 3))
    expected = 1 - 1 / g
    labels, _ = ndimage.label(share >= expected / 2, structure=np.ones((3, 3)))
    found = []
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        blocks = labels[where] == number
        if blocks.sum() < _MIN_BLOCKS:
            continue
        box = [where[0].start * BLOCK, where[1].start * BLOCK, where[0].stop * BLOCK, where[1].stop * BLOCK]
        region = off[box[0]:box[2], box[1]:box[3]] & np.kron(blocks, np.ones((BLOCK, BLOCK), bool))
        if np.unique(pixels[box[0]:box[2], box[1]:box[3]][region]).size < _MIN_REGION_VALUES:
            continue
        found.append((float(share[where][blocks].mean()) / expected, int(blocks.sum()), box))
    findings = []
    for score, count, box in sorted(found, key=lambda item: -item[0])[:_MOST]:
        findings.append(OFF_LATTICE.finding(
            f"frame {index}: {count} blocks of 8x8 pixels at ({box[0]}, {box[1]}) off the lattice of the "
            f"frame's other values (multiples of {g} plus {residue})", frame=index, bbox=box,
            score=round(score, 3), lattice=[g, residue]))
    return findings
