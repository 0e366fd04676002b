"""Spacing and matrix of a stack: slices missing, misplaced, or of another matrix or pixel spacing.

The distance of each slice along the normal of ImageOrientationPatient (0020,0037) is the projection of
ImagePositionPatient (0020,0032) on it (PS3.3 C.7.6.2.1.1); with a gantry tilt the positions move along
a slanted line, but their projections stay evenly spaced, so tilted stacks pass unchanged.
"""

from __future__ import annotations

from collections import Counter

import numpy as np

from ..findings import Action, Finding, Severity
from ..rules import define
from .member import involved
from .slices import Slice
from .stacks import SECTION_GAP, Stack, nominal_step

SLICE_GAP = define(
    "series.slice-gap", Severity.ERROR, Action.LABEL,
    "In a regularly spaced stack, a step between neighbouring slices is a whole multiple (2 to 10) of the "
    "stack's spacing: slices are missing (never received, or deleted). Reconstructions and measurements "
    "across the gap are wrong.")
SPACING_IRREGULAR = define(
    "series.spacing-irregular", Severity.WARNING, Action.LABEL,
    "A step between neighbouring slices differs from the stack's spacing by more than 5 % of the smaller of "
    "spacing and SliceThickness (0018,0050) (at least 0.01 mm), and is no whole multiple of it: a slice "
    "from elsewhere or with an edited position. (Converters such as dcm2niix allow 5 % of the spacing plus "
    "0.1 mm, which hides a misplaced slice in thin stacks; a tenth of the slice sensitivity profile's width "
    "is already visible in reformats.)")
SPACING_DECLARED = define(
    "series.spacing-declared", Severity.WARNING, Action.LABEL,
    "SpacingBetweenSlices (0018,0088), the declared centre-to-centre distance (PS3.3 C.8.3.1), differs "
    "from the measured spacing of the positions by more than the spacing tolerance.")
MATRIX_MISMATCH = define(
    "series.matrix-mismatch", Severity.ERROR, Action.LABEL,
    "Slices of one stack differ in Rows (0028,0010), Columns (0028,0011) or PixelSpacing (0028,0030): a "
    "slice of another reconstruction, or a resized copy. Stacking them gives a wrong volume.")

# Absolute floor of the spacing tolerance (mm): ImagePositionPatient is written to 0.01 mm or better.
MIN_TOLERANCE_MM = 0.01
# Fraction of the smaller of spacing and slice thickness allowed as deviation.
RELATIVE_TOLERANCE = 0.05


def spacing_tolerance(spacing: float, thickness: float | None) -> float:
    """Allowed deviation of a step from the spacing (mm)."""
    scale = min(spacing, thickness) if thickness and thickness > 0 else spacing
    return max(MIN_TOLERANCE_MM, RELATIVE_TOLERANCE * scale)


def _matrix_findings(slices: list[Slice]) -> list[Finding]:
    def layout(s: Slice) -> tuple:
        spacing = None if s.pixel_spacing is None else tuple(round(v, 4) for v in s.pixel_spacing)
        return s.matrix, spacing
    counts = Counter(layout(s) for s in slices)
    if len(counts) < 2:
        return []
    usual = max(counts, key=lambda k: (counts[k], str(k)))
    odd = [s for s in slices if layout(s) != usual]
    return [MATRIX_MISMATCH.finding(
        f"{len(odd)} of {len(slices)} slices differ from the stack's matrix and pixel spacing {usual}",
        0x00280030, **involved([s.ref for s in odd]))]


def check_stack(stack: Stack) -> list[Finding]:
    """Spacing regularity, missing slices, declared spacing, and matrix consistency of one stack."""
    slices = stack.slices
    findings = _matrix_findings(slices)
    if len(slices) < 3:
        return findings
    steps = np.diff(stack.distances)
    spacing = nominal_step(steps)
    thickness = Counter(s.thickness for s in slices).most_common(1)[0][0]
    tolerance = spacing_tolerance(spacing, thickness)
    multiples = np.rint(steps / spacing)
    whole = np.abs(steps - multiples * spacing) <= tolerance * np.maximum(multiples, 1)
    gaps = np.flatnonzero(whole & (multiples >= 2) & (multiples <= SECTION_GAP))
    irregular = np.flatnonzero(~whole | (multiples < 1))
    if gaps.size:
        missing = int(sum(multiples[gaps] - 1))
        findings.append(SLICE_GAP.finding(
            f"{missing} slice(s) missing in a stack spaced {spacing:.3f} mm: steps of "
            + ", ".join(f"{steps[i]:.2f} mm" for i in gaps), 0x00200032,
            **involved([slices[i].ref for i in gaps] + [slices[i + 1].ref for i in gaps])))
    if irregular.size:
        findings.append(SPACING_IRREGULAR.finding(
            "steps of " + ", ".join(f"{steps[i]:.3f} mm" for i in irregular)
            + f" in a stack spaced {spacing:.3f} mm (tolerance {tolerance:.3f} mm)", 0x00200032,
            **involved([slices[i].ref for i in irregular] + [slices[i + 1].ref for i in irregular])))
    declared = Counter(s.spacing_between for s in slices).most_common(1)[0][0]
    if declared and declared > 0 and abs(declared - spacing) > tolerance:
        findings.append(SPACING_DECLARED.finding(
            f"SpacingBetweenSlices {declared} mm, but the positions are {spacing:.3f} mm apart", 0x00180088,
            **involved([s.ref for s in slices])))
    return findings

