"""Periodicity of a series: identity, geometry, timing and pixel continuity of the instances of one series
(:func:`check_series`), and cine timing and per-frame geometry of one multi-frame object
(:func:`check_multiframe`). Run off the ingest path, when a series is stable.

Findings about several instances carry ``details["instances"]``, the sorted Orthanc instance ids (and
``details["frames"]``, 1-based, for frames of one object); for the same members the findings are the
same, in the same order, so that a second run gives the same report.
"""

from __future__ import annotations

from ..findings import Finding
from .cine import check_cine
from .continuity import check_continuity, warm_up
from .geometry import check_stack
from .identity import check_identity
from .member import SeriesMember
from .slices import frames_of, slice_of
from .stacks import split_slices
from .timing import check_timing

__all__ = ["SeriesMember", "check_series", "check_multiframe", "warm_up"]


def check_series(members: list[SeriesMember]) -> list[Finding]:
    """Identity, geometry, acquisition timing and pixel continuity of the instances of one series.

    ``members`` in any order. Instances without a usable ImagePositionPatient (0020,0032) and
    ImageOrientationPatient (0020,0037) (ultrasound, secondary capture), localizers (ImageType (0008,0008)
    value 3 LOCALIZER) and multi-frame objects (see :func:`check_multiframe`) take part in the identity
    checks only.
    """
    members = sorted(members, key=lambda m: m.instance_id)
    slices = [s for s in map(slice_of, members) if s is not None]
    stacks, findings = split_slices(slices)
    findings = check_identity(members) + findings
    for stack in stacks:
        findings += check_stack(stack) + check_timing(stack) + check_continuity(stack)
    return findings


def check_multiframe(member: SeriesMember) -> list[Finding]:
    """Cine timing (US, XA, RF, cardiac MR multi-frame), and the stack and continuity checks on the frames
    of an enhanced multi-frame object (Per-frame Functional Groups Sequence (5200,9230))."""
    stacks, findings = split_slices(frames_of(member))
    findings = check_cine(member.dataset) + findings
    for stack in stacks:
        findings += check_stack(stack) + check_continuity(stack)
    return findings
