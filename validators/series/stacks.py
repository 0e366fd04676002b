"""From the planes of a series to stacks: parallel planes of one volume, sorted along their normal.

A series may hold several stacks (a tri-planar localizer, axial and coronal reformats, two scan ranges),
and several images at one position (echoes, cardiac phases, dynamics, b-values). Those are told apart
first, so that only what is really one regular volume is checked for spacing and continuity.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

import numpy as np

from ..findings import Action, Severity
from ..rules import define
from .member import involved
from .slices import Slice

ORIENTATION_INVALID = define(
    "series.orientation-invalid", Severity.ERROR, Action.LABEL,
    "ImageOrientationPatient (0020,0037) is not two orthogonal unit vectors (PS3.3 C.7.6.2.1.1; tolerance "
    "0.01 on length and dot product, wider than DS rounding): the plane and its normal are undefined, so "
    "the image cannot be placed in patient space.")
DUPLICATE_POSITION = define(
    "series.duplicate-position", Severity.ERROR, Action.LABEL,
    "Several images of one stack at the same position that no echo, phase, temporal position, b-value, "
    "acquisition or image type tells apart: a slice stored twice under two SOP Instance UIDs, or a slice "
    "from another acquisition. Viewers and 3D reconstruction show or stack both.")
SECTIONS = define(
    "series.sections", Severity.INFO, Action.REPORT,
    "The parallel slices of the series form several sections separated by more than 10 slice spacings "
    "(several scan ranges, or a series of which only parts were sent). Each section is checked on its own.")

# Direction cosines that differ by less than this are one orientation: DS holds 16 characters and
# scanners jitter the last digits; 0.01 is about 0.6 degrees.
ORIENTATION_TOLERANCE = 0.01
# Planes closer than this along the normal are at one position (mm): below any slice spacing in use
# (>= 0.1 mm) and above the rounding of ImagePositionPatient (0020,0032) as written by scanners.
SAME_POSITION_MM = 0.01
# A step longer than this many spacings separates sections rather than missing slices: a scanner does
# not drop ten consecutive slices of one range, a second range or a partial transfer does.
SECTION_GAP = 10.0


@dataclass(frozen=True)
class Stack:
    """Parallel planes of one volume sorted along the normal of the first, with their distances (mm)."""

    slices: list[Slice]
    distances: np.ndarray


def _orthonormal(orientation: np.ndarray) -> bool:
    row, col = orientation[:3], orientation[3:]
    return (abs(np.linalg.norm(row) - 1) < ORIENTATION_TOLERANCE and abs(np.linalg.norm(col) - 1) <
            ORIENTATION_TOLERANCE and abs(row @ col) < ORIENTATION_TOLERANCE)


def nominal_step(steps: np.ndarray) -> float:
    """The step most others agree with (within 2 %), the smaller on ties: robust to a few gaps, unlike a
    mean, and right on three slices with one gap, unlike a median."""
    agree = (np.abs(steps[:, None] - steps[None, :]) <= 0.02 * steps[None, :]).sum(axis=0)
    best = np.flatnonzero(agree == agree.max())
    return float(steps[best].min())


def _by_orientation(slices: list[Slice]) -> list[list[Slice]]:
    groups: list[list[Slice]] = []
    for s in slices:
        for group in groups:
            if np.max(np.abs(group[0].orientation - s.orientation)) < ORIENTATION_TOLERANCE:
                group.append(s)
                break
        else:
            groups.append([s])
    return groups


def _separating_key(group: list[Slice], clusters: list[list[Slice]]) -> str | None:
    """The first volume attribute that gives each slice of every same-position cluster its own value and
    splits the group into volumes of at least two slices (a key unique to each slice explains nothing)."""
    for key in group[0].volume:
        values = {s.volume.get(key) for s in group}
        if len(values) < 2 or len(values) > len(group) // 2:
            continue
        if all(len({s.volume.get(key) for s in c}) == len(c) for c in clusters):
            return key
    return None


def _sorted(group: list[Slice]) -> tuple[list[Slice], np.ndarray]:
    normal = group[0].normal
    distances = np.array([s.position @ normal for s in group])
    order = sorted(range(len(group)), key=lambda i: (distances[i], group[i].instance_id, group[i].frame or 0))
    return [group[i] for i in order], distances[order]


def _stacks_of(group: list[Slice], findings: list) -> list[Stack]:
    """The stacks of one orientation group: volumes split first, then sections."""
    slices, distances = _sorted(group)
    clusters, current = [], [0]
    for i in range(1, len(slices)):
        if distances[i] - distances[current[-1]] < SAME_POSITION_MM:
            current.append(i)
        else:
            clusters.append(current)
            current = [i]
    clusters.append(current)
    repeated = [[slices[i] for i in c] for c in clusters if len(c) > 1]
    if repeated:
        key = _separating_key(slices, repeated)
        if key is not None:
            volumes: dict = defaultdict(list)
            for s in slices:
                volumes[s.volume.get(key)].append(s)
            return [st for k in sorted(volumes, key=str) for st in _stacks_of(volumes[k], findings)]
        for c in repeated:
            findings.append(DUPLICATE_POSITION.finding(
                f"{len(c)} images at one position ({distances[slices.index(c[0])]:.2f} mm along the normal) "
                "that nothing tells apart", 0x00200032, **involved([s.ref for s in c])))
    keep = [c[0] for c in clusters]
    slices, distances = [slices[i] for i in keep], distances[keep]
    if len(slices) < 2:
        return [Stack(slices, distances)]
    steps = np.diff(distances)
    cuts = np.flatnonzero(steps > SECTION_GAP * nominal_step(steps)) + 1
    if cuts.size:
        findings.append(SECTIONS.finding(
            f"{cuts.size + 1} sections of parallel slices, separated by "
            + ", ".join(f"{steps[c - 1]:.1f} mm" for c in cuts), 0x00200032,
            **involved([slices[c - 1].ref for c in cuts] + [slices[c].ref for c in cuts])))
    bounds = [0, *cuts.tolist(), len(slices)]
    return [Stack(slices[a:b], distances[a:b]) for a, b in zip(bounds, bounds[1:])]


def split_slices(slices: list[Slice]) -> tuple[list[Stack], list]:
    """Stacks of parallel planes, and the findings met on the way (invalid orientations, duplicates,
    sections). Deterministic: groups and stacks come in the order of their first slice."""
    findings = []
    bad = [s for s in slices if not _orthonormal(s.orientation)]
    if bad:
        findings.append(ORIENTATION_INVALID.finding(
            "ImageOrientationPatient is not two orthogonal unit vectors", 0x00200037,
            **involved([s.ref for s in bad])))
    good = [s for s in slices if _orthonormal(s.orientation)]
    stacks = [st for group in _by_orientation(good) for st in _stacks_of(group, findings)]
    return stacks, findings
