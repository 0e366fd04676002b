"""IOD conformance of one data set against the module tables of PS3.3 (:mod:`validators.standard`).

For the IOD of the object's SOP Class (PS3.4 B.5): each Mandatory module must be there; each module that
is Mandatory, or Conditional / User Optional and shown present by one of its own attributes, has its
Type 1 attributes present and not empty, Type 2 present (PS3.5 7.4), Type 1C / 2C present when their
condition has a simple form that can be evaluated, and Enumerated Values respected (PS3.5 7.4 and PS3.3
C.1). Sequence items are checked against their table the same way, down to :data:`MAX_DEPTH`.

Not covered: conditions of Conditional modules (such a module is checked when present, never required),
conditions in free wording ("Required if contrast media was used"), Enumerated Values that depend on the
value position, and Defined Terms. dciodvfy knows many of these from its hand-written templates. Several
frames in an object of a single-frame image IOD are ``iod.single-frame``'s. The functional groups of
enhanced multi-frame IODs are :mod:`validators.functional_groups`'s, SR content items :mod:`validators.sr`'s:
both check their items with :func:`check_level`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from pydicom.datadict import keyword_for_tag
from pydicom.dataset import Dataset

from .elements import BINARY_SIZES, index, is_empty, numbers, sequence_items, text_values, vr_of
from .findings import Action, Finding, Severity, format_tag
from .rules import Rule, define
from .standard import Attribute, iod_for

UNKNOWN_SOP_CLASS = define(
    "iod.unknown-sop-class", Severity.INFO, Action.REPORT,
    "The SOP Class UID (0008,0016) is not a Storage SOP Class of the IOD tables (private, retired or newer "
    "than the tables): its IOD conformance is not checked.")
MODULE_MISSING = define(
    "iod.module-missing", Severity.ERROR, Action.LABEL,
    "A Mandatory module of the IOD (usage M, PS3.3 A.1.3) is absent: none of its own attributes is there.")
TYPE1 = define(
    "iod.type1", Severity.ERROR, Action.LABEL,
    "A Type 1 attribute of a module the object has is absent or empty (PS3.5 7.4.1).")
TYPE2 = define(
    "iod.type2", Severity.WARNING, Action.REPORT,
    "A Type 2 attribute of a module the object has is absent; it must be present, empty if unknown "
    "(PS3.5 7.4.3). Reported only: anonymisers and many devices drop empty Type 2 attributes, and an "
    "absent one says no more than an empty one.")
TYPE1C = define(
    "iod.type1c", Severity.WARNING, Action.LABEL,
    "A Type 1C attribute is absent or empty although its condition holds (PS3.5 7.4.2). Conditions are "
    "taken from the 2020 text of PS3.3, hence a warning.")
TYPE2C = define(
    "iod.type2c", Severity.WARNING, Action.REPORT,
    "A Type 2C attribute is absent although its condition holds (PS3.5 7.4.4).")
SINGLE_FRAME = define(
    "iod.single-frame", Severity.ERROR, Action.LABEL,
    "NumberOfFrames (0028,0008) above 1 in an object of a single-frame image IOD (CT, MR, CR, DX, US Image, "
    "Secondary Capture, ...: no module of the IOD has Number of Frames, there is no Multi-frame Module, "
    "PS3.3 C.7.6.6): viewers that follow the SOP Class show the first frame only. dciodvfy checks the same "
    "(its CheckSingleFramePseudo module).")
ENUMERATED = define(
    "iod.enumerated", Severity.ERROR, Action.LABEL,
    "A value is not one of the attribute's Enumerated Values (PS3.3 C.1: a closed list; PS3.5 7.4).")

# Sequence nesting followed; deeper items are not checked (the same bound as validators.instance).
MAX_DEPTH = 32

_HEX_VALUE = re.compile(r"([0-9A-Fa-f]{4})H")


def check_conformance(ds: Dataset) -> list[Finding]:
    """Findings of the ``iod.*`` rules for one data set; nothing when the SOP Class is absent (that is
    ``instance.missing-identifier``'s finding)."""
    top = index(ds)
    sop_class = top.get(0x00080016)
    classes = text_values(sop_class) if sop_class is not None else []
    if not classes:
        return []
    iod = iod_for(classes[0])
    if iod is None:
        return [UNKNOWN_SOP_CLASS.finding(f"SOP Class {classes[0]} is not in the IOD tables; IOD not checked",
                                          0x00080016)]
    out: dict[tuple[str, str], Finding] = {}
    present = set(top)  # a set: isdisjoint then walks the smaller side, not every element of the object
    for module in iod.modules:
        if module.own_tags.isdisjoint(present):
            if module.usage != "M":
                continue
            # A Mandatory module whose own attributes are absent but which shares others with modules that
            # are there (US Image: Image Type, Samples per Pixel...) is judged attribute by attribute.
            if module.tags.isdisjoint(present) and module.own_tags and any(a.type == "1" for a in module.attributes):
                out[(MODULE_MISSING.id, module.id)] = MODULE_MISSING.finding(
                    f"Mandatory module {module.id} of IOD {iod.id} is absent", module=module.id, iod=iod.id)
                continue
        check_level(ds, top, top, module.attributes, "", module.id, out, 0)
    return list(out.values()) + (_single_frame(top, iod.id) if iod.single_frame else [])


def _single_frame(top: dict[int, Any], iod_id: str) -> list[Finding]:
    frames = top.get(0x00280008)
    values = text_values(frames) if frames is not None else []
    try:
        count = int(values[0]) if values and values[0] else 1
    except ValueError:  # not an integer: vr.value's finding
        return []
    if count <= 1:
        return []
    return [SINGLE_FRAME.finding(f"NumberOfFrames {count} in a single-frame {iod_id} object", 0x00280008,
                                 value=count, iod=iod_id)]


# Identifiers that instance.missing-identifier already judges (with the Secondary Capture exception for
# Modality, PS3.3 C.8.6.1, that the module tables do not express): not judged twice.
_JUDGED_ELSEWHERE = {0x00080016, 0x00080018, 0x0020000D, 0x0020000E, 0x00080060}


@lru_cache(maxsize=None)
def _name(tag: int) -> str:
    return keyword_for_tag(tag) or format_tag(tag)


def check_level(ds: Dataset, level: dict[int, Any], top: dict[int, Any], attributes: tuple[Attribute, ...],
                path: str, module: str, out: dict[tuple[str, str], Finding], depth: int) -> None:
    """Check one level (the data set or one sequence item; ``level`` is :func:`index` of ``ds``, ``top``
    of the whole data set) against its attribute table; findings go into ``out`` by (rule, path), the
    first one of each kept. ``module`` names the table in messages; ``depth`` is the nesting of ``ds``."""
    plan = _plan(attributes, depth == 0)
    for tag in plan.absent_tags.difference(level):  # set arithmetic in C: most attributes are there
        _report(_type_problem(plan.absent[tag], None, level, top), tag, path, module, out)
    for a in plan.filled:
        elem = level.get(a.tag)
        if elem is not None and is_empty(elem):
            _report(_type_problem(a, elem, level, top), a.tag, path, module, out)
    for a in plan.valued:
        elem = level.get(a.tag)
        if elem is None or is_empty(elem):  # absent or empty: judged above by its type
            continue
        if a.enumerated is not None:
            bad = _not_enumerated(elem, a.enumerated)
            if bad is not None:
                _report_value(a, bad, "value", a.enumerated, path, module, out)
        for position, allowed in a.positional:
            values = text_values(elem)
            if len(values) >= position and values[position - 1] and values[position - 1] not in allowed:
                _report_value(a, values[position - 1], f"value {position}", allowed, path, module, out)
        if a.children and depth < MAX_DEPTH and vr_of(elem) == "SQ":
            items = sequence_items(ds, a.tag)
            where = f"{path}{_name(a.tag)}"
            for i, item in enumerate(items):
                check_level(item, index(item), top, a.children, f"{where}[{i}].", module, out, depth + 1)


def _report_value(a: Attribute, bad: str, which: str, allowed: frozenset[str], path: str, module: str,
                  out: dict[tuple[str, str], Finding]) -> None:
    where = f"{path}{_name(a.tag)}"
    out.setdefault((ENUMERATED.id, where), ENUMERATED.finding(
        f"{where} {format_tag(a.tag)} {which} {bad!r} is not one of the Enumerated Values "
        f"{', '.join(sorted(allowed))} (module {module})", a.tag, path=where, module=module, value=bad))


def _report(problem: tuple[Rule, str] | None, tag: int, path: str, module: str,
            out: dict[tuple[str, str], Finding]) -> None:
    if problem is not None:
        rule, message = problem
        where = f"{path}{_name(tag)}"
        out.setdefault((rule.id, where), rule.finding(f"{where} {format_tag(tag)} {message} (module {module})",
                                                      tag, path=where, module=module))


@dataclass(frozen=True)
class _Plan:
    """An attribute table sorted by what a check must look at: the attributes whose absence can be a
    finding (Type 1, 2, and 1C/2C with a condition), those that must not be empty when present (Type 1
    and 1C with a condition), and those whose value is read (Enumerated Values, item tables)."""

    absent: dict[int, Attribute]
    absent_tags: frozenset[int]
    filled: tuple[Attribute, ...]
    valued: tuple[Attribute, ...]


# id of an attribute table -> (the table, kept alive so that its id is never reused; its plan).
_PLANS: dict[tuple[int, bool], tuple[tuple[Attribute, ...], _Plan]] = {}


def _plan(attributes: tuple[Attribute, ...], top_level: bool) -> _Plan:
    """The plan of an attribute table, made once: tables live as long as the process (lru-cached in
    :mod:`validators.standard`), so they are looked up by identity, not by their deep hash."""
    key = (id(attributes), top_level)
    cached = _PLANS.get(key)
    if cached is not None:
        return cached[1]
    judged = [a for a in attributes if not (top_level and a.tag in _JUDGED_ELSEWHERE)]
    conditional = {"1C", "2C"}
    absent = {a.tag: a for a in reversed(judged)
              if a.type in ("1", "2") or a.type in conditional and a.condition is not None}
    plan = _Plan(absent, frozenset(absent),
                 tuple(a for a in judged if a.type == "1" or a.type == "1C" and a.condition is not None),
                 tuple(a for a in judged if a.enumerated is not None or a.positional or a.children))
    _PLANS[key] = (attributes, plan)
    return plan


def _type_problem(a: Attribute, elem: Any, level: dict[int, Any], top: dict[int, Any]
                  ) -> tuple[Rule, str] | None:
    """The type rule an absent (``elem`` None) or empty attribute breaks and how, or None (PS3.5 7.4)."""
    absent = elem is None
    if a.type == "1":
        return TYPE1, f"is {'absent' if absent else 'empty'}; Type 1"
    if a.type == "2":
        return (TYPE2, "is absent; Type 2") if absent else None
    if a.type in ("1C", "2C") and a.condition is not None and (absent or a.type == "1C"):
        if holds(a.condition, level, top):
            rule = TYPE1C if a.type == "1C" else TYPE2C
            return rule, f"is {'absent' if absent else 'empty'}; Type {a.type} and {_describe(a.condition)}"
    return None


def holds(condition: tuple, level: dict[int, Any], top: dict[int, Any]) -> bool:
    """Whether a simple condition holds (``present``, ``absent``, ``equals`` any value, ``value1``: the
    first value is one of those listed); the attribute it names is looked up in the same item first,
    then at the top level, as PS3.3 conditions name attributes of either."""
    kind, tag = condition[0], condition[1]
    elem = level.get(tag)
    if elem is None:
        elem = top.get(tag)
    if kind == "present":
        return elem is not None and not is_empty(elem)
    if kind == "absent":
        return elem is None
    values = text_values(elem) if elem is not None else []
    if kind == "value1":
        return bool(values) and values[0] in condition[2]
    return any(v in condition[2] for v in values)


def _describe(condition: tuple) -> str:
    """A condition in words, for messages."""
    kind, tag = condition[0], format_tag(condition[1])
    if kind in ("equals", "value1"):
        return f"{tag}{' value 1' if kind == 'value1' else ''} is {' or '.join(condition[2])}"
    return f"{tag} is {'present' if kind == 'present' else 'absent'}"


def _not_enumerated(elem, allowed: frozenset[str]) -> str | None:
    """The first value outside the Enumerated Values, or None. Binary integers are compared with the
    values as PS3.3 writes them (``0001H`` or decimal)."""
    if vr_of(elem) in BINARY_SIZES:
        wanted = _numbers_of(allowed)
        if not wanted:
            return None
        for n in numbers(elem):
            if n not in wanted:
                return str(n)
        return None
    for v in text_values(elem):
        if v and v not in allowed:
            return v
    return None


@lru_cache(maxsize=None)  # Enumerated Values lists of the tables: a few hundred, each read once
def _numbers_of(allowed: frozenset[str]) -> frozenset[int]:
    """The integers among Enumerated Values as PS3.3 writes them (``0001H`` or decimal)."""
    return frozenset(int(m.group(1), 16) if (m := _HEX_VALUE.fullmatch(v)) else int(v)
                     for v in allowed if _HEX_VALUE.fullmatch(v) or v.lstrip("-").isdigit())
