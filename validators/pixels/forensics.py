"""Tamper forensics on pixel values, classical and CPU-only: regions whose noise does not match the rest
of the frame, blocks copied within a frame or across the slices of a series, and lesion-like objects
present in one slice without support in its neighbours.

All are heuristics (hence WARNING or ERROR by score, never REJECT). Thresholds were set on the clean real
images of pydicom, pydicom-data and deid-data (none may reach ERROR) against the synthetic tampering of
bench/forensics.py. Findings carry ``score``, ``frame`` and ``bbox`` = [row0, col0, row1, col1] (pixels,
end exclusive).
"""

from __future__ import annotations

from collections import defaultdict

import numpy as np
from scipy import ndimage

from ..findings import Action, Finding, Severity
from ..rules import Rule, define
from .kernels import block_noise, window_hashes

SMOOTH_REGION = define(
    "forensics.smooth-region", Severity.WARNING, Action.LABEL,
    "A region has far less noise than the rest of the frame (Immerkaer noise per 8x8 block below a fifth "
    "of the frame's median) over 4 to 15 blocks: a pasted, in-painted or painted-over area, or chance.")
SMOOTH_REGION_LARGE = define(
    "forensics.smooth-region-large", Severity.ERROR, Action.LABEL,
    "As forensics.smooth-region, over at least 16 blocks of 8x8 pixels: too large to be chance.")
COPY_MOVE = define(
    "forensics.copy-move", Severity.ERROR, Action.LABEL,
    "Identical textured 8x8 windows recur at one offset within a frame: a region copied and pasted "
    "elsewhere in the same image (copy-move forgery; J. Fridrich et al., DFRWS 2003).")
COPY_ACROSS = define(
    "forensics.copy-across-slices", Severity.ERROR, Action.LABEL,
    "Identical textured 8x8 windows occur in two slices of a series: a region (or the whole slice) "
    "copied from one slice to another. Noise makes real slices never repeat exactly.")
LESION = define(
    "forensics.isolated-object", Severity.WARNING, Action.LABEL,
    "A compact object differs from both neighbouring slices while they agree with each other: an object "
    "without support in the volume (an injected lesion; Mirsky et al., CT-GAN, USENIX Security 2019). "
    "Real structures thinner than the slice spacing do the same, hence a warning.")

BLOCK = 8
WINDOW = 8
_SMOOTH_RATIO = 0.2
_SMOOTH_MIN_BLOCKS = 4
_SMOOTH_ERROR_BLOCKS = 16
_RING_NOISY_SHARE = 0.9
_MIN_NOISE = 2.0
_DARK_SHARE = 0.05
_COPY_BITS = 5             # 1 in 32 windows sampled
_COPY_MIN_MATCHES = 3      # sampled windows agreeing on one offset: ~100 windows, a ~17x17 region
_ACROSS_BITS = 6           # 1 in 64 windows per slice, to bound a series' memory
_ACROSS_MIN_MATCHES = 2
_LESION_SIGMAS = 8.0       # block mean difference in noise units of a block mean
_LESION_MIN_BLOCKS = 2


def noise_findings(frame: np.ndarray, index: int, skip_constant_blocks: bool) -> list[Finding]:
    """Smooth regions of one 2-D frame. ``skip_constant_blocks``: exactly constant blocks are natural
    (burned-in graphics of ultrasound and secondary capture) and are not counted."""
    if min(frame.shape) < 4 * BLOCK:
        return []
    noise = block_noise(frame, BLOCK)
    low, high = noise.minimum.min(), noise.maximum.max()
    # Blocks wholly at the frame's least or greatest value are background, padding or saturation.
    informative = (noise.maximum > low) & (noise.minimum < high)
    if skip_constant_blocks:
        informative &= noise.maximum > noise.minimum
    reference = np.median(noise.sigma[informative]) if informative.sum() >= 16 else 0.0
    if reference <= 0:
        return []
    smooth = informative & (noise.sigma < _SMOOTH_RATIO * reference)
    findings = []
    labels, _ = ndimage.label(smooth)
    rows, cols = smooth.shape
    for number, where in enumerate(ndimage.find_objects(labels), start=1):
        mask = labels == number
        size = int(mask.sum())
        touches_border = where[0].start == 0 or where[1].start == 0 or where[0].stop == rows or \
            where[1].stop == cols
        if size < _SMOOTH_MIN_BLOCKS or touches_border:
            continue
        # A pasted or in-painted patch sits inside noisy tissue: the ring of blocks around it must be
        # informative and noisy, and it is compared with the ring's noise (noise varies across a frame).
        ring = ndimage.binary_dilation(mask, iterations=2) & ~mask
        if (informative[ring] & ~smooth[ring]).mean() < _RING_NOISY_SHARE:
            continue
        local = float(np.median(noise.sigma[ring]))
        ratio = float(noise.sigma[mask].mean() / local)
        # Below a noise of 2 stored values the frame was denoised or synthesised, and smoothness says
        # nothing; in the darkest 5% of the range, quantum-limited noise (X-ray) and Rician noise (MR
        # background) are low by nature.
        dark = noise.mean[mask].mean() < low + _DARK_SHARE * (high - low)
        if ratio >= _SMOOTH_RATIO or local < _MIN_NOISE or dark:
            continue
        rule = SMOOTH_REGION_LARGE if size >= _SMOOTH_ERROR_BLOCKS else SMOOTH_REGION
        findings.append(_region(rule, f"frame {index}: {size} blocks with {ratio:.0%} of the surrounding noise",
                                index, where, score=round(size * (1 - ratio), 2)))
    return findings


def copy_move_findings(frame: np.ndarray, index: int) -> list[Finding]:
    """Regions of one 2-D frame copied elsewhere in it."""
    if min(frame.shape) < 2 * WINDOW:
        return []
    windows = window_hashes(frame, WINDOW, _COPY_BITS)
    groups: dict[tuple[int, int], list[tuple[int, int, int, int]]] = defaultdict(list)
    for a, b in _equal_pairs(windows.hashes, lambda i: _textured(frame, windows.rows[i], windows.cols[i])):
        r1, c1, r2, c2 = windows.rows[a], windows.cols[a], windows.rows[b], windows.cols[b]
        if max(abs(r2 - r1), abs(c2 - c1)) < WINDOW or not _same(frame, r1, c1, frame, r2, c2):
            continue
        if (r2, c2) < (r1, c1):
            r1, c1, r2, c2 = r2, c2, r1, c1
        groups[(r2 - r1, c2 - c1)].append((r1, c1, r2, c2))
    findings = []
    for (dy, dx), matches in groups.items():
        if len(matches) >= _COPY_MIN_MATCHES:
            box = _box([(r1, c1) for r1, c1, _, _ in matches] + [(r2, c2) for _, _, r2, c2 in matches])
            findings.append(COPY_MOVE.finding(
                f"frame {index}: {len(matches)} sampled windows repeat at offset ({dy}, {dx})",
                frame=index, score=len(matches), bbox=box, offset=[int(dy), int(dx)]))
    return findings


def across_findings(ids: list[str], slices: list[np.ndarray]) -> list[Finding]:
    """Regions copied between slices of one series (``slices`` 2-D, any order)."""
    parts = [window_hashes(s, WINDOW, _ACROSS_BITS) if min(s.shape) >= WINDOW else None for s in slices]
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


def lesion_findings(ids: list[str], volume: list[np.ndarray]) -> list[Finding]:
    """Objects in one slice absent from both neighbours, on slices in output units, sorted along the
    normal and of equal shape."""
    findings = []
    for k in range(1, len(volume) - 1):
        before, here, after = volume[k - 1], volume[k], volume[k + 1]
        if min(here.shape) < 4 * BLOCK:
            continue
        sigma = float(np.median(block_noise(here, BLOCK).sigma))
        if sigma <= 0:
            continue
        difference = _block_mean(here - (before + after) / 2)
        support = _block_mean(np.abs(after - before)) / 2
        # The block mean of the difference has noise sigma * sqrt(1.5) / BLOCK.
        score = np.abs(difference) / (sigma * np.sqrt(1.5) / BLOCK + support)
        flagged = score > _LESION_SIGMAS
        labels, _ = ndimage.label(flagged)
        for number, where in enumerate(ndimage.find_objects(labels), start=1):
            size = int((labels[where] == number).sum())
            if size < _LESION_MIN_BLOCKS:
                continue
            peak = float(score[where].max())
            findings.append(_region(LESION, f"instance {ids[k]}: object over {size} blocks absent from both "
                                    f"neighbouring slices ({peak:.0f} x noise and slice change)", 0, where,
                                    score=round(peak, 1), instance=ids[k]))
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
    """At least 24 distinct values among the window's 64: flat areas, faint background noise and
    burned-in (anti-aliased) text never count as copies."""
    return np.unique(image[row:row + WINDOW, col:col + WINDOW]).size >= 24


def _same(a: np.ndarray, r1: int, c1: int, b: np.ndarray, r2: int, c2: int) -> bool:
    """The two windows are equal: not a hash collision."""
    return np.array_equal(a[r1:r1 + WINDOW, c1:c1 + WINDOW], b[r2:r2 + WINDOW, c2:c2 + WINDOW])


def _block_mean(image: np.ndarray) -> np.ndarray:
    rows, cols = image.shape[0] // BLOCK, image.shape[1] // BLOCK
    return image[:rows * BLOCK, :cols * BLOCK].reshape(rows, BLOCK, cols, BLOCK).mean((1, 3))


def _box(corners: list[tuple[int, int]]) -> list[int]:
    """[row0, col0, row1, col1] around windows with these top-left corners."""
    rows = [int(r) for r, _ in corners]
    cols = [int(c) for _, c in corners]
    return [min(rows), min(cols), max(rows) + WINDOW, max(cols) + WINDOW]


def _region(rule: Rule, message: str, index: int, where: tuple[slice, slice], **details) -> Finding:
    box = [where[0].start * BLOCK, where[1].start * BLOCK, where[0].stop * BLOCK, where[1].stop * BLOCK]
    return rule.finding(message, frame=index, bbox=box, **details)
