"""Pixel continuity along a stack: neighbouring slices of one body look alike, a slice that does not
(another patient's, a swapped or an edited one) breaks the profile, and a stored copy repeats it exactly.

For each slice the Pearson correlation with the next slice (``r1``) and with the one after (``r2``) is
computed in one pass over three slices (:func:`_correlations`, numba). Anatomy changes smoothly, so
slices two apart correlate less than neighbours. A slice k that does not belong where it is shows the
reverse: its neighbours k-1 and k+1 correlate better with each other (``r2[k-1]``) than with it
(``r1[k-1]``, ``r1[k]``). How much better is measured against the stack's own usual excess (the
median over its slices, about -0.17 on real MR 5 mm apart, never taken above 0), so that slices swapped
within one organ, whose neighbours all look alike, still stand out. Correlation is insensitive to window, rescale and offset, so a legitimate
change of contrast along the stack does not count.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from ..findings import Action, Finding, Severity
from ..rules import define
from .member import involved
from .stacks import Stack

DISCONTINUITY = define(
    "series.slice-discontinuity", Severity.ERROR, Action.LABEL,
    "A slice's pixels do not continue its neighbours': how much better its two neighbours correlate with "
    "each other than with it exceeds the stack's usual value by more than 0.25 (at an end of the stack: "
    "its correlation with its one neighbour is more than 0.25 below the stack's median). A slice of another "
    "patient or series, or slices in the wrong order (two neighbours swapped are too alike to tell).")
DUPLICATE_PIXELS = define(
    "series.duplicate-pixels", Severity.ERROR, Action.LABEL,
    "Two neighbouring slices, at different positions, have exactly the same non-uniform pixels: a copy "
    "stored as another slice. Two real acquisitions never agree in every sample (quantum and electronic "
    "noise).")

# How far a slice's excess may stand above the stack's usual one, and its end correlation below the
# median. On emri_small's 10 real slices the excess is -0.17 +- 0.01; slices swapped 25 mm apart rise to
# +0.11..+0.16, a slice of another patient above +0.4.
BREAK = 0.25
# Slices needed for a profile: an interior slice needs two neighbours and a reference pair.
MIN_SLICES = 4
# Samples per slice needed: on 16 x 16 thumbnails (pydicom's dicomdirtests CT) neighbouring real slices
# correlate at 0.15 to 0.85, so the profile says nothing; at 64 x 64 (emri_small) they stay above 0.85.
MIN_SAMPLES = 64 * 64


@njit(cache=True, nogil=True)
def _correlations(a, b, c, zero):
    """(corr(a, b), corr(a, c), number of samples where a != b) of three equally long 1-D arrays, in one
    pass. Values are shifted by each array's first sample, which leaves correlation unchanged and keeps
    the sums small. The sums have the type of ``zero`` (see :func:`accumulator`): int64 for integer
    samples of up to 16 bits (exact, and LLVM vectorises integer sums, which it may not reorder in
    floating point), float64 otherwise. NaN for a correlation with a constant array."""
    n = a.size
    a0, b0, c0 = zero + a[0], zero + b[0], zero + c[0]
    sa = sb = sc = saa = sbb = scc = sab = sac = zero
    differ = 0
    for i in range(n):
        x = zero + a[i] - a0
        y = zero + b[i] - b0
        z = zero + c[i] - c0
        sa += x
        sb += y
        sc += z
        saa += x * x
        sbb += y * y
        scc += z * z
        sab += x * y
        sac += x * z
        differ += a[i] != b[i]
    sa, sb, sc = np.float64(sa), np.float64(sb), np.float64(sc)
    va = n * np.float64(saa) - sa * sa
    vb = n * np.float64(sbb) - sb * sb
    vc = n * np.float64(scc) - sc * sc
    rab = (n * np.float64(sab) - sa * sb) / np.sqrt(va * vb) if va > 0 and vb > 0 else np.nan
    rac = (n * np.float64(sac) - sa * sc) / np.sqrt(va * vc) if va > 0 and vc > 0 else np.nan
    return rab, rac, differ


def accumulator(*arrays: np.ndarray) -> np.int64 | np.float64:
    """The zero that types a kernel's sums (:func:`_correlations`, the waveform energy): int64 when every
    array holds integers of at most 16 bits (a product of two differences of such values is below 2**32,
    so int64 sums hold 2**31 of them, more than any frame or record Sentinel decodes), float64 otherwise."""
    if all(x.dtype.kind in "iu" and x.dtype.itemsize <= 2 for x in arrays):
        return np.int64(0)
    return np.float64(0.0)      # not a Python float, which adds to float32 as float32 (NEP 50)


def correlations_reference(a: np.ndarray, b: np.ndarray, c: np.ndarray) -> tuple[float, float, int]:
    """What :func:`_correlations` computes, with numpy's corrcoef."""
    def corr(x: np.ndarray, y: np.ndarray) -> float:
        x, y = x.astype(np.float64), y.astype(np.float64)
        if x.std() == 0 or y.std() == 0:
            return float("nan")
        return float(np.corrcoef(x, y)[0, 1])
    return corr(a, b), corr(a, c), int(np.count_nonzero(a != b))


def profile(frames: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(r1, r2, same) of slices in stack order: r1[i] = corr(i, i+1), r2[i] = corr(i, i+2) (NaN for the
    last), same[i] = slices i and i+1 are identical. ``frames`` may be a lazy sequence: each slice is
    read once and only three are held at a time."""
    n = len(frames)
    r1, r2 = np.full(n - 1, np.nan), np.full(n - 1, np.nan)
    same = np.zeros(n - 1, dtype=bool)
    window = [np.ascontiguousarray(frames[i]).ravel() for i in range(min(2, n))]
    for i in range(n - 1):
        if i + 2 < n:
            window.append(np.ascontiguousarray(frames[i + 2]).ravel())
        a, b = window[0], window[1]
        c = window[2] if len(window) > 2 else b
        r1[i], far, differ = _correlations(a, b, c, accumulator(a, b, c))
        if i + 2 < n:
            r2[i] = far
        same[i] = differ == 0 and not np.isnan(r1[i])
        window.pop(0)
    return r1, r2, same


def breaks(r1: np.ndarray, r2: np.ndarray) -> list[int]:
    """Indices of the slices that break the correlation profile (see the module's docstring)."""
    n = r1.size + 1
    excess = np.array([r2[k - 1] - max(r1[k - 1], r1[k]) for k in range(1, n - 1)])
    usual = min(float(np.nanmedian(excess)), 0.0) if excess.size else 0.0
    out = [k for k in range(1, n - 1) if excess[k - 1] - usual > BREAK]
    median = np.nanmedian(r1)
    for k, r in ((0, r1[0]), (n - 1, r1[-1])):
        if r < median - BREAK:
            out.append(k)
    return sorted(out)


class _Frames:
    """The pixels of a stack's slices as a sequence, decoded on access."""

    def __init__(self, stack: Stack):
        self.stack = stack

    def __len__(self) -> int:
        return len(self.stack.slices)

    def __getitem__(self, i: int) -> np.ndarray:
        return self.stack.slices[i].pixels()


def check_continuity(stack: Stack) -> list[Finding]:
    """Slices of one stack that break its pixel continuity, or repeat a neighbour's pixels exactly.
    Skipped when a slice has no pixels or the slices differ in shape (matrix-mismatch says so)."""
    slices = stack.slices
    if len(slices) < MIN_SLICES or any(s.pixels is None for s in slices):
        return []
    if len({s.matrix for s in slices}) > 1:
        return []
    rows, columns = slices[0].matrix
    if not rows or not columns or int(rows) * int(columns) < MIN_SAMPLES:
        return []
    r1, r2, same = profile(_Frames(stack))
    findings = []
    if same.any():
        pairs = np.flatnonzero(same)
        findings.append(DUPLICATE_PIXELS.finding(
            f"{pairs.size} pair(s) of neighbouring slices with identical pixels", 0x7FE00010,
            **involved([slices[i].ref for i in pairs] + [slices[i + 1].ref for i in pairs])))
    broken = [k for k in breaks(r1, r2) if not (k > 0 and same[k - 1]) and not (k < same.size and same[k])]
    if broken:
        findings.append(DISCONTINUITY.finding(
            f"{len(broken)} slice(s) do not continue their neighbours' pixels; correlation with the "
            "previous and the next slice: " + "; ".join(
                f"{r1[k - 1] if k else np.nan:.2f}, {r1[k] if k < r1.size else np.nan:.2f}" for k in broken),
            0x7FE00010, **involved([slices[k].ref for k in broken])))
    return findings


def warm_up() -> None:
    """Compile, or load from numba's cache, :func:`_correlations` for the stored sample types."""
    for dtype in (np.uint8, np.int8, np.uint16, np.int16, np.int32, np.float32, np.float64):
        a = np.arange(4, dtype=dtype)
        _correlations(a, a, a, accumulator(a))
