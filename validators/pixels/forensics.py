"""Tamper forensics on pixel values, classical and CPU-only: regions far smoother than the tissue around
them, squares far noisier or quieter than every block around them, and regions copied within a frame
(copy-move) or across the slices of a series (pasted squares: :mod:`.seams`, :mod:`.lattice` and :mod:`.gaps`;
lesion-like objects in one slice: :mod:`.lesions`).

All are heuristics (hence WARNING or ERROR by score, never REJECT). Thresholds were set on the clean real
images of pydicom, pydicom-data and deid-data (no finding at all on any of them) against the synthetic
tampering of bench/forensics.py. Findings carry ``score``, ``frame`` and ``bbox`` = [row0, col0, row1,
col1] (pixels, end exclusive).

Not covered here: a patch pasted from another image whose noise level is within about 0.5x to 2x the
noise around it, or further off but not on every block against every block of the ring beyond it (far
noisier regions are natural: bone edges, trabeculae, speckle; a noisier or quieter square is reported
only when its every block is, by 1.52x or 0.77x, and its median residual twice or half the ring's); its
outline is :mod:`.seams`' to find. A further cue was measured on bench/forensics.py's pastes and found
too weak to report without false positives on the clean real images: the lag-1 autocorrelation of the
Immerkaer residual inside the patch against the four strips around it (noise texture; J. Lukas, J.
Fridrich, M. Goljan, "Detecting digital image forgeries using sensor pattern noise", SPIE 6072, 2006,
for residual-based splicing detection) exceeds its largest value at clean places in only 29% of pastes,
even where the patch is known. The step across a single edge, over the steps beside it, is no better
(1 to 180 times the local level at pastes, 30 to 3,500 at natural edges: organ and collimator borders,
flat padding): :mod:`.seams` makes it work by requiring a break on all four sides of a square that stops
at its corners. Also not covered: noise removed
where there was less than 1 stored value of it; lossy-compressed images (the caller skips the noise
check); copies moved by less than 16 pixels or smaller than 16x16.
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import ndimage

from ..findings import Action, Finding, Severity
from ..rules import Rule, define
from .kernels import block_noise, noisy_squares, window_hashes

SMOOTH_REGION = define(
    "forensics.smooth-region", Severity.WARNING, Action.LABEL,
    "A region of 4 to 15 blocks of 8x8 pixels inside tissue has less than 30% of the noise around it "
    "(median absolute Immerkaer residual, against the 16-pixel ring around it, whose noise is at least "
    "1 stored value): an in-painted, painted-over or pasted area, or chance.")
SMOOTH_REGION_LARGE = define(
    "forensics.smooth-region-large", Severity.ERROR, Action.LABEL,
    "As forensics.smooth-region, over at least 16 blocks of 8x8 pixels: too large to be chance.")
NOISY_SQUARE = define(
    "forensics.noisy-square", Severity.WARNING, Action.LABEL,
    "A square of 2 to 7 blocks of 8x8 pixels whose every block is at least 1.52 times as noisy as every "
    "block of the ring one block beyond it, and twice as noisy by the median absolute Immerkaer residual: "
    "a patch pasted from a noisier image, whose outline its own noise hides.")
QUIET_SQUARE = define(
    "forensics.quiet-square", Severity.WARNING, Action.LABEL,
    "A square of 2 to 7 blocks of 8x8 pixels whose every block is at most 0.77 times as noisy as every "
    "block of the ring one block beyond it, and at most half as noisy by the median absolute Immerkaer "
    "residual: a patch pasted from a smoother image, or a smoothed one.")
COPY_MOVE = define(
    "forensics.copy-move", Severity.ERROR, Action.LABEL,
    "Identical textured 8x8 windows recur at one offset within a frame: a region copied and pasted "
    "elsewhere in the same image (copy-move forgery; J. Fridrich et al., DFRWS 2003).")
COPY_ACROSS = define(
    "forensics.copy-across-slices", Severity.ERROR, Action.LABEL,
    "Identical textured 8x8 windows occur in two slices of a series: a region (or the whole slice) "
    "copied from one slice to another. Noise makes real slices never repeat exactly.")
BLOCK = 8
WINDOW = 8
_TILE = 4                  # blocks per tile of the local noise reference (3 x 3 tiles around)
_SMOOTH_CANDIDATE = 0.45   # a block below this share of the local median noise starts a candidate
# Confirmed below this share of the ring's noise: clean images of the data packages stay at 0.44 and up, an
# edge-enhanced CT localizer of Orthanc's test files at 0.32.
_SMOOTH_RATIO = 0.3
_SMOOTH_MIN_BLOCKS = 4
_SMOOTH_ERROR_BLOCKS = 16
_RING_INFORMATIVE_SHARE = 0.9
_MIN_NOISE = 1.0
_DARK_SHARE = 0.05
# Noisier squares (see _noise_square_findings): 9% above the highest contrast of a clean real frame whose
# square is also twice as noisy by the robust measure (0.384, SignedCT.dcm).
_NOISY_SMALLEST, _NOISY_LARGEST = 2, 7    # blocks a side: the whole blocks of a 24 to 64 px patch
_NOISY_CONTRAST = 0.42     # log of the least block sigma inside over the greatest on the ring
_NOISY_RATIO = 2.0         # robust noise inside over around, each plus _ROUNDING
_QUIET_CONTRAST = 0.26     # log of the least 1/sigma inside over the greatest on the ring (clean 0.238)
_QUIET_RATIO = 0.5         # robust noise inside over around, at most
_NOISY_TRIED = 16          # candidates measured on the pixels, best first
_ROUNDING = 0.3            # stored values: the noise that rounding to integers leaves (0.29)
_NOISY_MOST = 4
_COPY_BITS = 5             # 1 in 32 windows sampled
_COPY_MIN_MATCHES = 2      # sampled windows agreeing on one offset (a 24x24 copy holds ~9 sampled)
_COPY_MIN_SHIFT = 16       # shorter moves overlap their source; periodic texture repeats at short range
_COPY_MIN_AREA = 256       # textured pixels equal at the offset: a 16x16 copy (a glyph's outline is less)
_ACROSS_SAMPLES = 1 << 20  # sampled windows kept for a whole series (24 bytes each)
_ACROSS_MIN_BITS = 3       # at least 1 in 8 sampled
_ACROSS_MIN_MATCHES = 2


def noise_findings(frame: np.ndarray, index: int, skip_constant_blocks: bool) -> list[Finding]:
    """Regions of one 2-D frame far smoother than their surroundings: in-painted, painted over, pasted
    from a denoised or synthetic source; and squares of blocks far noisier than all the blocks around
    them, or quieter (:func:`_noise_square_findings`, on the same block noise map). (Far noisier regions of other
    shapes are not reported: bone edges, trabeculae, speckle and signal-dependent X-ray noise reach 2 to
    8 times their surroundings' noise in clean CR, DX and US images of the data packages.)
    ``skip_constant_blocks``: exactly constant blocks are natural (burned-in graphics of ultrasound and
    secondary capture) and are not counted.

    Candidates come from the 8x8 block noise map against its local median (12 x 12 blocks, so that a
    region of up to 8 x 8 blocks does not set its own reference); each candidate is then measured on
    the pixels, by the median absolute Immerkaer residual (robust to the edges that inflate a block's
    mean) inside it and in the 16-pixel ring around it."""
    if min(frame.shape) < 4 * BLOCK:
        return []
    noise = block_noise(frame, BLOCK)
    low, high = noise.minimum.min(), noise.maximum.max()
    # Blocks wholly at the frame's least or greatest value are background, padding or saturation.
    informative = (noise.maximum > low) & (noise.minimum < high)
    if skip_constant_blocks:
        informative &= noise.maximum > noise.minimum
    if informative.sum() < 16:
        return []
    local = _local_median(np.where(informative, noise.sigma, np.nan))
    smooth = informative & (noise.sigma < _SMOOTH_CANDIDATE * local)
    findings = []
    labels, _ = ndimage.label(smooth)
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels[where] == number
        size = int(mask.sum())
        if size < _SMOOTH_MIN_BLOCKS or not _ring_inside(where, smooth.shape):
            continue
        near = (slice(where[0].start - 2, where[0].stop + 2), slice(where[1].start - 2, where[1].stop + 2))
        region = labels[near] == number
        ring = ndimage.binary_dilation(region, iterations=2) & ~region
        # A tampered patch sits inside informative tissue, not against background or padding.
        if informative[near][ring].mean() < _RING_INFORMATIVE_SHARE:
            continue
        inside, around = _robust_noise(frame, where, mask)
        ratio = inside / around if around > 0 else 1.0
        # Below a surrounding noise of 1 stored value rounding (0.29) hides any smoothing; in the darkest
        # 5% of the range, quantum-limited noise (X-ray) and Rician noise (MR background) are low by
        # nature.
        dark = noise.mean[where][mask].mean() < low + _DARK_SHARE * (high - low)
        if ratio >= _SMOOTH_RATIO or around < _MIN_NOISE or dark:
            continue
        rule = SMOOTH_REGION_LARGE if size >= _SMOOTH_ERROR_BLOCKS else SMOOTH_REGION
        findings.append(_region(rule, f"frame {index}: {size} blocks with {ratio:.0%} of the noise around them",
                                index, where, score=round(size * (1 - ratio), 2), ratio=round(ratio, 3)))
    return findings + _noise_square_findings(frame, index, np.where(informative, noise.sigma, np.nan))


def _noise_square_findings(frame: np.ndarray, index: int, sigma: np.ndarray) -> list[Finding]:
    """Squares of blocks far noisier, or far quieter, than every block of the ring around them (on the
    block noise map ``sigma``, NaN where not informative; quieter: on 1 / sigma), see
    :func:`_square_findings`. A patch whose noise is far above its surroundings' hides its own outline
    from :mod:`.seams`, and one whose noise is below them, from a white-noise CT, may continue its
    texture; natural noisier or quieter regions (bone, speckle, edges, organs) are rarely square, nor
    set apart on every side.

    bench/forensics.py: of its 148 pastes the noisier squares find 35, 6 of them found by no other check
    (8-bit ultrasound patches 3 to 6 times noisier, a noisy CT's patch 5 times noisier, a paste into the
    synthetic eCT_Supplemental.dcm), the quieter ones 28, one found by no other check (cat.dcm, a DX);
    and 2 more of its 124 in-painted squares. Clean real frames: among squares twice as noisy by the
    robust measure, the highest block contrast is 0.384 (SignedCT.dcm, a noise-like CT), 0.209 on CR,
    none of 0.2 or more on US, DX or MR; among squares at most half as noisy, 0.238 (a CT of Orthanc's
    test files), none of 0.2 or more on other modalities. _NOISY_CONTRAST and _QUIET_CONTRAST are 9%
    above these, in-sample, and each rests on one CT (calibrated on the US/CR/DX frames alone, 0.229,
    SignedCT's noisier square would be a finding; they have no quieter square to calibrate on). Measured
    and not used: the block contrast alone (eCT_Supplemental's islands of 1-pixel edges in noise-free
    tissue reach 2.49, their robust ratio below 1.5), and a ring noise of at least 0.5 stored value (it
    keeps them out too, but the 8-bit ultrasound's speckle is as smooth: its pastes are lost). The
    robust ring is :func:`_robust_noise`'s 2 blocks around the square, which hold the blocks a patch
    covers in part: a quieter patch's ratio is read high (0.56 for 6 HU of noise in 15). Also measured and
    not used: the same search on each block's log noise less the frame's noise-level function (the
    median per 16 quantile bins of block mean: a patch keeps its donor's relation of noise to signal);
    of the 10 pastes of bench/forensics.py's --trials 8 that every check misses, none scores above 0.56,
    clean CT frames reach 0.668 (quieter) and 0.513 (noisier)."""
    with np.errstate(divide="ignore"):
        calm = np.where(sigma > 0, 1 / sigma, np.nan)
    return _square_findings(frame, index, sigma, NOISY_SQUARE, _NOISY_CONTRAST, _NOISY_RATIO, 1) + \
        _square_findings(frame, index, calm, QUIET_SQUARE, _QUIET_CONTRAST, 1 / _QUIET_RATIO, -1)


def _square_findings(frame: np.ndarray, index: int, blocks: np.ndarray, rule: Rule, least: float,
                     ratio: float, sign: int) -> list[Finding]:
    """Squares of ``blocks`` (a per-block map, NaN where not informative) whose least value is at least
    e^``least`` times the greatest on the ring around them (:func:`.kernels.noisy_squares`), best first,
    confirmed on the pixels by the robust noise inside against the 2-block ring around
    (:func:`_robust_noise`, each plus _ROUNDING), that ratio to the power ``sign`` at least ``ratio``;
    none overlapping a better one."""
    found = noisy_squares(blocks, _NOISY_SMALLEST, _NOISY_LARGEST, least)
    findings: list[Finding] = []
    kept: list[tuple[slice, slice]] = []
    for k in np.argsort(-found.scores, kind="stable")[:_NOISY_TRIED]:
        i, j, side = int(found.rows[k]), int(found.cols[k]), int(found.sides[k])
        where = (slice(i, i + side), slice(j, j + side))
        if any(i < w[0].stop and w[0].start < i + side and j < w[1].stop and w[1].start < j + side for w in kept):
            continue
        inside, around = _robust_noise(frame, where, np.ones((side, side), bool))
        measured = (inside + _ROUNDING) / (around + _ROUNDING)
        if measured ** sign < ratio:
            continue
        kept.append(where)
        score = round(float(found.scores[k]), 3)
        findings.append(_region(rule, f"frame {index}: a square of {side}x{side} blocks with {measured:.2f} times "
                                f"the noise around it (block contrast {score})", index, where, score=score,
                                ratio=round(measured, 2)))
        if len(findings) == _NOISY_MOST:
            break
    return findings


def _local_median(values: np.ndarray) -> np.ndarray:
    """Per block, the median of the non-NaN ``values`` over the 12 x 12 blocks centred on its tile of
    4 x 4 (a coarse sliding median: scipy's median filter of that footprint costs some 30 ms a CT
    slice); 0 where there is none. np.nanmedian is slower than a sort, where NaN go last."""
    rows, cols = values.shape
    tiles_r, tiles_c = -(-rows // _TILE), -(-cols // _TILE)
    padded = np.full(((tiles_r + 2) * _TILE, (tiles_c + 2) * _TILE), np.nan)
    padded[_TILE:_TILE + rows, _TILE:_TILE + cols] = values
    windows = np.lib.stride_tricks.sliding_window_view(padded, (3 * _TILE, 3 * _TILE))[::_TILE, ::_TILE]
    ordered = np.sort(windows.reshape(tiles_r, tiles_c, -1), axis=2)     # NaN sort last
    count = np.count_nonzero(~np.isnan(ordered), axis=2)
    low = np.take_along_axis(ordered, np.maximum(count - 1, 0)[..., None] // 2, 2)[..., 0]
    high = np.take_along_axis(ordered, (count // 2)[..., None], 2)[..., 0]
    medians = np.where(count > 0, (low + high) / 2, 0.0)
    return np.repeat(np.repeat(medians, _TILE, 0), _TILE, 1)[:rows, :cols]


def _ring_inside(where: tuple[slice, slice], shape: tuple[int, int]) -> bool:
    """The region's 2-block ring lies within the frame (a region at the edge has nothing to compare)."""
    return where[0].start >= 2 and where[1].start >= 2 and where[0].stop <= shape[0] - 2 and \
        where[1].stop <= shape[1] - 2


def _robust_noise(frame: np.ndarray, where: tuple[slice, slice], mask: np.ndarray) -> tuple[float, float]:
    """Noise sigma (stored values) of the blocks ``mask`` within the block slices ``where``, and of the
    2-block ring around their box, from the median absolute Immerkaer residual: 1.4826 median |r| / 6
    for Gaussian noise (the mask's weights have norm 6). Rounding to integers leaves at least ~0.29."""
    height, width = frame.shape
    r0, c0 = max(where[0].start - 2, 0) * BLOCK, max(where[1].start - 2, 0) * BLOCK
    r1, c1 = min((where[0].stop + 2) * BLOCK, height), min((where[1].stop + 2) * BLOCK, width)
    e0, f0 = max(r0 - 1, 0), max(c0 - 1, 0)
    area = frame[e0:min(r1 + 1, height), f0:min(c1 + 1, width)].astype(np.float64)
    h = area[:, :-2] - 2 * area[:, 1:-1] + area[:, 2:]
    residual = np.full((r1 - r0, c1 - c0), np.nan)
    # The residual of area[1:-1, 1:-1], i.e. of pixels from (e0 + 1, f0 + 1), placed in r0.., c0..
    inner = np.abs(h[:-2] - 2 * h[1:-1] + h[2:])[r0 - e0 - 1 + (r0 == 0):, c0 - f0 - 1 + (c0 == 0):]
    residual[(r0 == 0):(r0 == 0) + inner.shape[0], (c0 == 0):(c0 == 0) + inner.shape[1]] = \
        inner[:r1 - r0 - (r0 == 0), :c1 - c0 - (c0 == 0)]
    y0, x0 = where[0].start * BLOCK - r0, where[1].start * BLOCK - c0
    box = np.zeros(residual.shape, bool)
    box[y0:y0 + mask.shape[0] * BLOCK, x0:x0 + mask.shape[1] * BLOCK] = True
    inside = np.zeros(residual.shape, bool)
    inside[y0:y0 + mask.shape[0] * BLOCK, x0:x0 + mask.shape[1] * BLOCK] = \
        np.kron(mask, np.ones((BLOCK, BLOCK), bool))
    scale = 1.4826 / 6
    return scale * float(np.nanmedian(residual[inside])), scale * float(np.nanmedian(residual[~box]))


def copy_move_findings(frame: np.ndarray, index: int) -> list[Finding]:
    """Regions of one 2-D frame copied elsewhere in it. Sampled windows with equal hashes vote for the
    offset between them (shift-vector voting); an offset with enough textured votes is then measured on
    the pixels: the connected region where the frame equals itself shifted by that offset, counting only
    pixels that differ from a neighbour (so that equal background around a copy adds nothing). ``bbox``
    spans both copies, ``regions`` gives each."""
    if min(frame.shape) < 2 * WINDOW:
        return []
    windows = window_hashes(frame, WINDOW, _COPY_BITS)
    groups: dict[tuple[int, int], list[tuple[int, int]]] = defaultdict(list)
    for a, b in _equal_pairs(windows.hashes, lambda i: _textured(frame, windows.rows[i], windows.cols[i])):
        r1, c1, r2, c2 = windows.rows[a], windows.cols[a], windows.rows[b], windows.cols[b]
        if (r2, c2) < (r1, c1):
            r1, c1, r2, c2 = r2, c2, r1, c1
        if max(abs(r2 - r1), abs(c2 - c1)) < _COPY_MIN_SHIFT or not _same(frame, r1, c1, frame, r2, c2):
            continue
        groups[(int(r2 - r1), int(c2 - c1))].append((int(r1), int(c1)))
    findings = []
    for (dy, dx), seeds in groups.items():
        if len(seeds) < _COPY_MIN_MATCHES:
            continue
        area, box = _copied_region(frame, dy, dx, seeds)
        copy = [box[0] + dy, box[1] + dx, box[2] + dy, box[3] + dx]
        # Burned-in text repeats its glyphs exactly, on a flat background; a copy within an image sits
        # in varied surroundings, at least on one side.
        if area < _COPY_MIN_AREA or max(_varied_share(frame, box), _varied_share(frame, copy)) < 0.5:
            continue
        findings.append(COPY_MOVE.finding(
            f"frame {index}: {area} textured pixels repeat at offset ({dy}, {dx})", frame=index, score=area,
            bbox=[min(box[0], copy[0]), min(box[1], copy[1]), max(box[2], copy[2]), max(box[3], copy[3])],
            regions=[box, copy], offset=[dy, dx]))
    return findings


def _copied_region(frame: np.ndarray, dy: int, dx: int, seeds: list[tuple[int, int]]) -> tuple[int, list[int]]:
    """The copied region around the ``seeds`` (top-left corners of windows equal to the windows (dy, dx)
    further), looked for within 64 pixels of them: the union of the WINDOW x WINDOW windows that equal
    their shifted copy entirely, have at least a quarter of their pixels differing from a 4-neighbour
    and at most a quarter at the area's commonest value (the background of text). Of its connected
    parts that hold a seed, the one with most pixels differing from a neighbour: that count (equal
    background and chance equalities between glyphs of burned-in text add nothing) and its box
    [row0, col0, row1, col1] on the source side."""
    height, width = frame.shape
    rows = [r for r, _ in seeds]
    cols = [c for _, c in seeds]
    r0, r1 = max(min(rows) - 64, 0, -dy), min(max(rows) + WINDOW + 64, height, height - dy)
    c0, c1 = max(min(cols) - 64, 0, -dx), min(max(cols) + WINDOW + 64, width, width - dx)
    source = frame[r0:r1, c0:c1]
    equal = source == frame[r0 + dy:r1 + dy, c0 + dx:c1 + dx]
    varied = np.zeros_like(equal)
    varied[:, 1:] |= source[:, 1:] != source[:, :-1]
    varied[:, :-1] |= source[:, 1:] != source[:, :-1]
    varied[1:] |= source[1:] != source[:-1]
    varied[:-1] |= source[1:] != source[:-1]
    values, counts = np.unique(source, return_counts=True)
    background = source == values[counts.argmax()]
    chosen = (_window_sums(equal) == WINDOW * WINDOW) & (_window_sums(varied) * 4 >= WINDOW * WINDOW) & \
        (_window_sums(background) * 4 <= WINDOW * WINDOW)
    cover = np.zeros_like(equal)
    for y in range(WINDOW):
        for x in range(WINDOW):
            cover[y:y + chosen.shape[0], x:x + chosen.shape[1]] |= chosen
    labels, _ = ndimage.label(cover)
    best, box = 0, [0, 0, 0, 0]
    for number in set(labels[[r - r0 for r in rows], [c - c0 for c in cols]].tolist()) - {0}:
        ys, xs = np.nonzero((labels == number) & varied)
        if ys.size > best:
            best, box = ys.size, [int(ys.min()) + r0, int(xs.min()) + c0, int(ys.max()) + r0 + 1,
                                  int(xs.max()) + c0 + 1]
    return best, box


def _varied_share(frame: np.ndarray, box: list[int]) -> float:
    """The share of pixels differing from their right or lower neighbour in the 8-pixel ring around
    ``box``."""
    r0, c0 = max(box[0] - 8, 0), max(box[1] - 8, 0)
    area = frame[r0:box[2] + 8, c0:box[3] + 8]
    varied = np.zeros(area.shape, bool)
    varied[:-1] |= area[1:] != area[:-1]
    varied[:, :-1] |= area[:, 1:] != area[:, :-1]
    varied[box[0] - r0:box[2] - r0, box[1] - c0:box[3] - c0] = False
    ring = area.size - (box[2] - box[0]) * (box[3] - box[1])
    return float(varied.sum() / ring) if ring > 0 else 0.0


def _window_sums(mask: np.ndarray) -> np.ndarray:
    """For each WINDOW x WINDOW window of ``mask`` (by its top-left pixel), how many pixels are set."""
    total = np.zeros((mask.shape[0] + 1, mask.shape[1] + 1), np.int32)
    total[1:, 1:] = mask.cumsum(0).cumsum(1)
    return total[WINDOW:, WINDOW:] - total[:-WINDOW, WINDOW:] - total[WINDOW:, :-WINDOW] + total[:-WINDOW, :-WINDOW]


def across_findings(ids: list[str], slices: list[np.ndarray]) -> list[Finding]:
    """Regions copied between slices of one series (``slices`` 2-D, any order). The sampling rate is set
    so that the whole series keeps about _ACROSS_SAMPLES windows (bounded memory): 1 in 8 for small
    series, 1 in 64 for a few hundred 512x512 slices."""
    windows = sum(max(s.shape[0] - WINDOW + 1, 0) * max(s.shape[1] - WINDOW + 1, 0) for s in slices)
    bits = int(np.clip(np.ceil(np.log2(max(windows, 1) / _ACROSS_SAMPLES)), _ACROSS_MIN_BITS, 16))
    parts = [window_hashes(s, WINDOW, bits) if min(s.shape) >= WINDOW else None for s in slices]
    hashes, owner, rows, cols = [], [], [], []
    for k, part in enumerate(parts):
        if part is not None:
            hashes.append(part.hashes)
            owner.append(np.full(part.hashes.size, k))
            rows.append(part.rows)
            cols.append(part.cols)
    if not hashes:
        return []
    hashes, owner, rows, cols = (np.concatenate(x) for x in (hashes, owner, rows, cols))
    groups: dict[tuple[int, int, int, int], list[tuple[int, int]]] = defaultdict(list)
    for a, b in _equal_pairs(hashes, lambda i: _textured(slices[owner[i]], rows[i], cols[i])):
        ka, kb = int(owner[a]), int(owner[b])
        if ka == kb or not _same(slices[ka], rows[a], cols[a], slices[kb], rows[b], cols[b]):
            continue
        if kb < ka:
            a, b, ka, kb = b, a, kb, ka
        groups[(ka, kb, int(rows[b] - rows[a]), int(cols[b] - cols[a]))].append((int(rows[b]), int(cols[b])))
    findings = []
    for (ka, kb, dy, dx), places in groups.items():
        if len(places) >= _ACROSS_MIN_MATCHES:
            findings.append(COPY_ACROSS.finding(
                f"{len(places)} sampled windows of instance {ids[kb]} repeat instance {ids[ka]} "
                f"at offset ({dy}, {dx})", instance=ids[kb], source_instance=ids[ka], frame=0,
                score=len(places), bbox=_box(places)))
    return findings


def _equal_pairs(hashes: np.ndarray, textured) -> list[tuple[int, int]]:
    """Index pairs with equal hashes whose first window is ``textured(index)``; a hash shared by more
    than 8 windows is a repeated pattern (flat areas, test patterns), not a copy, and is skipped."""
    order = np.argsort(hashes, kind="stable")
    ordered = hashes[order]
    same = np.nonzero(ordered[1:] == ordered[:-1])[0]
    pairs = []
    if same.size == 0:
        return pairs
    starts = same[np.r_[True, same[1:] != same[:-1] + 1]]
    for start in starts:
        end = start + 1
        while end < ordered.size and ordered[end] == ordered[start]:
            end += 1
        run = order[start:end]
        if run.size <= 8 and textured(int(run[0])):
            pairs += [(int(run[i]), int(run[j])) for i in range(run.size) for j in range(i + 1, run.size)]
    return pairs


def _textured(image: np.ndarray, row: int, col: int) -> bool:
    """The window varies like noise or tissue, in both directions: at least 8 distinct values, no value
    on more than a quarter of its pixels, and at least a quarter of the steps between neighbours nonzero
    along the rows and along the columns. Flat areas, padding, burned-in text and rulers (a background
    value dominates) and ramps such as grey bars (constant along one axis) repeat naturally and never
    count as copies; 8-bit speckle (10 to 20 values in a window) does count."""
    w = image[row:row + WINDOW, col:col + WINDOW]
    values, counts = np.unique(w, return_counts=True)
    if values.size < 8 or counts.max() * 4 > w.size:
        return False
    quarter = WINDOW * (WINDOW - 1) // 4
    return int(np.count_nonzero(w[:, 1:] != w[:, :-1])) >= quarter and \
        int(np.count_nonzero(w[1:] != w[:-1])) >= quarter


def _same(a: np.ndarray, r1: int, c1: int, b: np.ndarray, r2: int, c2: int) -> bool:
    """The two windows are equal: not a hash collision."""
    return np.array_equal(a[r1:r1 + WINDOW, c1:c1 + WINDOW], b[r2:r2 + WINDOW, c2:c2 + WINDOW])


def _box(corners: list[tuple[int, int]]) -> list[int]:
    """[row0, col0, row1, col1] around windows with these top-left corners."""
    rows = [int(r) for r, _ in corners]
    cols = [int(c) for _, c in corners]
    return [min(rows), min(cols), max(rows) + WINDOW, max(cols) + WINDOW]


def _region(rule: Rule, message: str, index: int, where: tuple[slice, slice], **details) -> Finding:
    box = [where[0].start * BLOCK, where[1].start * BLOCK, where[0].stop * BLOCK, where[1].stop * BLOCK]
    return rule.finding(message, frame=index, bbox=box, **details)
