"""Acquisition timing along a CT stack: a CT scanner acquires positions in table order, in one direction
(axial steps or a helix), so AcquisitionTime (0008,0032) is monotonic along a stack, across the
rotations of sequential scanning (one AcquisitionNumber (0020,0012) each). Two passes over one range
(before and after contrast) put two images at each position, which the stacks split into volumes
first. A slice whose time breaks the order, or jumps far outside the stack's
own rhythm, comes from another acquisition or had its time edited.

Only CT: MR multi-slice acquisitions interleave slices and give many slices one time, PET and NM acquire
a whole volume at once, so their times say nothing about position order.
"""

from __future__ import annotations

import numpy as np

from ..findings import Action, Finding, Severity
from ..rules import define
from .member import involved
from .stacks import Stack

TIME_ORDER = define(
    "series.time-order", Severity.WARNING, Action.LABEL,
    "In a CT stack, AcquisitionTime (0008,0032) is not monotonic along the table: a slice from another "
    "acquisition, or an edited time.")
TIME_JUMP = define(
    "series.time-jump", Severity.WARNING, Action.LABEL,
    "Between neighbouring slices of a CT stack, AcquisitionTime (0008,0032) jumps by "
    "more than 20 times the lower quartile of the stack's steps and more than 10 s: a whole CT range is acquired in "
    "seconds to a minute, so the slice was acquired at another time.")

# A jump must exceed both: the factor over the rhythm (the stack's own) and the absolute floor (1 s
# TM resolution in older data makes rhythms of 0).
JUMP_FACTOR = 20.0
MIN_JUMP_S = 10.0


def check_timing(stack: Stack) -> list[Finding]:
    """Order and rhythm of AcquisitionTime along a CT stack of at least 3 timed slices; stacks of other
    modalities, and slices without a time, are not checked."""
    slices = [s for s in stack.slices if s.modality == "CT" and s.time is not None]
    if len(slices) < 3:
        return []
    times = np.array([s.time for s in slices])
    steps = np.diff(times)
    findings = []
    if np.any(steps > 0) and np.any(steps < 0):
        # Slices against the prevailing direction: the minority sign of the non-zero steps.
        direction = 1.0 if np.count_nonzero(steps > 0) >= np.count_nonzero(steps < 0) else -1.0
        against = np.flatnonzero(steps * direction < 0)
        findings.append(TIME_ORDER.finding(
            f"AcquisitionTime goes backwards along the stack at {against.size} step(s)", 0x00080032,
            **involved([slices[i].ref for i in against] + [slices[i + 1].ref for i in against])))
    # The rhythm is the lower quartile of the steps: a slice out of time spoils the two steps beside it,
    # which in a short stack would drag a median along.
    limit = max(JUMP_FACTOR * float(np.percentile(np.abs(steps), 25)), MIN_JUMP_S)
    jumps = np.flatnonzero(np.abs(steps) > limit)
    if jumps.size:
        findings.append(TIME_JUMP.finding(
            "AcquisitionTime jumps by " + ", ".join(f"{abs(steps[i]):.0f} s" for i in jumps)
            + f" between neighbouring slices (limit {limit:.0f} s)", 0x00080032,
            **involved([slices[i].ref for i in jumps] + [slices[i + 1].ref for i in jumps])))
    return findings

