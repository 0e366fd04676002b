"""The IOD tables of PS3.3, as derived by scripts/build-standard-tables from pinned MIT-licensed PyPI
packages (highdicom 0.28.2's ``_standard`` JSON, dicom-standard 0.1.0 for Enumerated Values and simple
1C/2C conditions), loaded once and compiled per SOP Class: all of them at start-up (:func:`warm_up`: 0.15 s
and 12 MB more resident), else on first use.

:func:`edition` and :func:`source` say where the tables come from; reports carry them. The functional group
macros of each enhanced multi-frame IOD (:func:`functional_groups`) and the SR content item tables
(:func:`sr_content`) come from dicom-standard's ``ciod_to_fg_macros.json``, ``macro_to_attributes.json``
and ``module_to_attributes.json`` (PS3.3 of April 2020). What the tables do not hold: conditions in any but
the simplest wording, Enumerated Values that depend on the value position or another attribute, and
Defined Terms (open lists, never an error).
"""

from __future__ import annotations

import gzip
import json
from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path
from typing import Any

TABLES = Path(__file__).with_name("iod-tables.json.gz")


@dataclass(frozen=True)
class Attribute:
    """One attribute of a module table: its tag, type (PS3.5 7.4), Enumerated Values (of every value, or
    ``positional``: of value N, e.g. Image Type (0008,0008) value 1 ORIGINAL or DERIVED), the condition
    of a 1C/2C type when it has a simple form, and the attributes of its items if it is a sequence."""

    tag: int
    type: str
    enumerated: frozenset[str] | None
    condition: tuple | None
    children: tuple["Attribute", ...]
    positional: tuple[tuple[int, frozenset[str]], ...] = ()


@dataclass(frozen=True)
class Module:
    """A module as used by one IOD: usage M (mandatory), C (conditional) or U (user option), PS3.3 A.1.3;
    ``own_tags``: its top-level tags that no other module of the IOD has, by which its presence shows;
    ``tags``: all its top-level tags."""

    id: str
    usage: str
    attributes: tuple[Attribute, ...]
    own_tags: frozenset[int]
    tags: frozenset[int]


@dataclass(frozen=True)
class Iod:
    """An IOD: its modules, and whether it is a single-frame image IOD (no module of it has Number of
    Frames (0028,0008))."""

    id: str
    modules: tuple[Module, ...]
    single_frame: bool


@dataclass(frozen=True)
class FunctionalGroup:
    """A functional group macro as one IOD uses it (PS3.3 C.7.6.16 and the IOD's Functional Group Macros
    table): usage M, C or U, the condition of a C macro when it has a simple form, and its attributes,
    rooted at the macro's sequence(s), e.g. Pixel Measures Sequence (0028,9110)."""

    id: str
    usage: str
    condition: tuple | None
    attributes: tuple[Attribute, ...]

    @property
    def tags(self) -> frozenset[int]:
        """The top-level tags by which the macro shows in a functional groups item."""
        return frozenset(a.tag for a in self.attributes)


@dataclass(frozen=True)
class SrContent:
    """What a content item of an SR document needs (PS3.3 C.17.3, Tables C.17-4 to C.17-6 and the value
    macros of C.18): the Enumerated Values of Value Type (0040,A040) and Relationship Type (0040,A010), the
    Value Types that require Concept Name Code Sequence (0040,A043) and that sequence's table, and per
    Value Type the attributes that carry its value (TEXT: Text Value (0040,A160), NUM: Measured Value
    Sequence (0040,A300), ...)."""

    value_types: frozenset[str]
    relationship_types: frozenset[str]
    concept_name_required: frozenset[str]
    concept_name: Attribute
    value_attributes: dict[str, tuple[Attribute, ...]]


@lru_cache(maxsize=1)
def _tables() -> dict[str, Any]:
    return json.loads(gzip.decompress(TABLES.read_bytes()))


def source() -> dict[str, Any]:
    """Packages (name, version, sha256), licence and edition of the tables."""
    return {k: v for k, v in _tables()["source"].items() if k != "keywords_without_tag"}


def edition() -> str:
    """The edition of PS3.3 the IOD tables were taken from."""
    return _tables()["source"]["edition"]


def _attribute(node: list) -> Attribute:
    tag, type_, enum, cond, children = node
    positional = tuple(sorted((int(n), frozenset(v)) for n, v in enum.items())) if isinstance(enum, dict) else ()
    return Attribute(tag, type_, frozenset(enum) if enum and not positional else None, _condition(cond),
                     tuple(_attribute(c) for c in children), positional)


def _condition(cond: list | None) -> tuple | None:
    """``["equals", tag, [values]]`` as ``("equals", tag, (values))``: hashable, like the rest."""
    return tuple(tuple(c) if isinstance(c, list) else c for c in cond) if cond else None


@lru_cache(maxsize=None)
def _module_attributes(module_id: str) -> tuple[Attribute, ...]:
    return tuple(_attribute(n) for n in _tables()["modules"].get(module_id, ()))


@lru_cache(maxsize=None)
def functional_groups(iod_id: str) -> tuple[FunctionalGroup, ...]:
    """The functional group macros of an IOD (none for IODs without functional groups), compiled once."""
    return tuple(FunctionalGroup(m, usage, _condition(cond), tuple(_attribute(n) for n in nodes))
                 for m, usage, cond, nodes in _tables().get("functional_groups", {}).get(iod_id, ()))


@lru_cache(maxsize=1)
def sr_content() -> SrContent:
    """The SR content item tables, compiled once."""
    sr = _tables()["sr"]
    return SrContent(frozenset(sr["value_types"]), frozenset(sr["relationship_types"]),
                     frozenset(sr["concept_name_required"]), _attribute(sr["concept_name"]),
                     {vt: tuple(_attribute(n) for n in nodes) for vt, nodes in sr["value_attributes"].items()})


@lru_cache(maxsize=None)
def iod_for(sop_class_uid: str) -> Iod | None:
    """The IOD of a SOP Class (PS3.4 B.5 names the IOD of each Storage SOP Class), compiled once per
    class; None for a SOP Class the tables do not know (private or retired ones)."""
    tables = _tables()
    iod_id = tables["sop_classes"].get(sop_class_uid)
    if iod_id is None:
        return None
    used = [(m, usage, _module_attributes(m)) for m, usage in tables["iods"].get(iod_id, ())]
    count: dict[int, int] = {}
    for _, _, attrs in used:
        for a in attrs:
            count[a.tag] = count.get(a.tag, 0) + 1
    modules = tuple(Module(m, usage, attrs, frozenset(a.tag for a in attrs if count[a.tag] == 1),
                           frozenset(a.tag for a in attrs)) for m, usage, attrs in used)
    return Iod(iod_id, modules, iod_id in tables["single_frame_iods"])


def warm_up() -> None:
    """Compile the tables of every SOP Class, functional group macro set and SR content item now, as the
    first object of each would: Orthanc calls this at start-up (:mod:`validators.warmup`), so that no
    instance waits 1-3 ms for its SOP Class's tables."""
    tables = _tables()
    for sop_class_uid in tables["sop_classes"]:
        iod_for(sop_class_uid)
    for iod_id in tables.get("functional_groups", {}):
        functional_groups(iod_id)
    sr_content()
