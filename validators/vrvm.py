"""Value Representation and Value Multiplicity of every element against the data dictionary (PS3.6), and
the syntax of the text VRs that :mod:`validators.values` does not cover (PS3.5 6.2, Table 6.2-1).

The dictionary is pydicom's (PS3.6 as packaged with pydicom 2.4). Each element of the data set and of its
sequence items is read from its raw bytes (:mod:`validators.elements`). UI, DA, TM and DT values are
``instance.*-syntax``'s; here they are only counted for VM. Private elements (odd groups, PS3.5 7.8) and
tags the dictionary does not know are skipped. Character sets: Specific Character Set (0008,0005) must
name terms of PS3.3 C.12.1.1.2; bytes above 7FH need one; ISO_IR 192 text must be valid UTF-8. Lengths
are in characters; they are not checked in text using ISO 2022 code extensions (escape sequences).
"""

from __future__ import annotations

import re
from functools import lru_cache
from typing import Callable

from pydicom.charset import python_encoding
from pydicom.datadict import DicomDictionary
from pydicom.dataset import Dataset

from .elements import (BINARY_SIZES, DECIMAL_STRING, SINGLE_TEXT_VRS, TEXT_VRS, element, index, sequence_items,
                       text_values)
from .findings import Action, Finding, Severity, format_tag
from .rules import define

VR_MISMATCH = define(
    "vr.mismatch", Severity.WARNING, Action.LABEL,
    "An element is encoded with another VR than the data dictionary gives (PS3.6 Table 6-1, PS3.5 6.2): "
    "readers that trust the dictionary misread it.")
VM_MISMATCH = define(
    "vr.vm", Severity.WARNING, Action.LABEL,
    "An element holds a number of values the dictionary's VM does not allow (PS3.6 Table 6-1, PS3.5 6.4).")
VALUE = define(
    "vr.value", Severity.WARNING, Action.LABEL,
    "A value breaks its VR's syntax, character repertoire or length (PS3.5 Table 6.2-1): AS, CS, DS, IS, "
    "AE, SH, LO, PN, ST, LT.")
CHARSET = define(
    "vr.charset", Severity.WARNING, Action.LABEL,
    "Character set: Specific Character Set (0008,0005) names an unknown term (PS3.3 C.12.1.1.2), or text "
    "has bytes above 7FH without one, or ISO_IR 192 text is not UTF-8 (PS3.5 6.1): names are garbled.")

MAX_DEPTH = 32

_TEXT = TEXT_VRS | SINGLE_TEXT_VRS
_COUNTED = _TEXT | set(BINARY_SIZES)
_SINGLE_VRS = TEXT_VRS | SINGLE_TEXT_VRS | set(BINARY_SIZES) | {"SQ", "OB", "OW", "OD", "OF", "OL", "OV", "UC"}

# Digits in ASCII only (PS3.5 Table 6.2-1): re.ASCII, since Python's \d and int() take any script's digits.
_DS = DECIMAL_STRING
_IS = re.compile(r" *[+-]?\d+ *", re.ASCII)
_AS = re.compile(r"\d{3}[DWMY]", re.ASCII)
_CS = re.compile(r"[A-Z0-9 _]*")
_CONTROL = re.compile(r"[\x00-\x1a\x1c-\x1f]")          # control characters other than ESC
_TEXT_CONTROL = re.compile(r"[\x00-\x08\x0b\x0e-\x1a\x1c-\x1f]")  # LT/ST/UT also allow TAB, LF, FF, CR
_IS_MIN, _IS_MAX = -2 ** 31, 2 ** 31 - 1


def _limit(n: int) -> Callable[[str], str | None]:
    return lambda v: f"{len(v)} characters, more than {n}" if len(v) > n else None


def _syntax(pattern: re.Pattern, what: str, n: int) -> Callable[[str], str | None]:
    def check(v: str) -> str | None:
        if len(v) > n:
            return f"{len(v)} characters, more than {n}"
        return None if pattern.fullmatch(v) else f"not {what}"
    return check


def _check_is(v: str) -> str | None:
    reason = _syntax(_IS, "an integer", 12)(v)
    if reason is None and not _IS_MIN <= int(v) <= _IS_MAX:
        reason = "outside -2^31..2^31-1"
    return reason


def _check_pn(v: str) -> str | None:
    groups = v.split("=")
    if len(groups) > 3:
        return f"{len(groups)} component groups, at most 3"
    for g in groups:
        if len(g) > 64:
            return f"component group of {len(g)} characters, more than 64"
        if g.count("^") > 4:
            return "more than 5 components"
    return None


# VR -> checker of one value (already decoded, padding stripped), per PS3.5 Table 6.2-1.
CHECKERS: dict[str, Callable[[str], str | None]] = {
    "AS": _syntax(_AS, "nnnD, nnnW, nnnM or nnnY", 4),
    "CS": _syntax(_CS, "upper case letters, digits, space and underscore", 16),
    "DS": _syntax(_DS, "a decimal number", 16),
    "IS": _check_is,
    "AE": _limit(16),
    "SH": _limit(16),
    "LO": _limit(64),
    "PN": _check_pn,
    "ST": _limit(1024),
    "LT": _limit(10240),
}


@lru_cache(maxsize=None)
def _vm_range(vm: str) -> tuple[int, int | None, int] | None:
    """PS3.6's VM notation ("1", "1-3", "2-2n", "1-n") as (minimum, maximum or None, step); None for a
    notation this parser does not know (not judged)."""
    low, _, high = vm.partition("-")
    try:
        if not high:
            return int(low), int(low), 1
        if high.endswith("n"):
            return int(low), None, int(high[:-1] or 1)
        return int(low), int(high), 1
    except ValueError:
        return None


# What the walk does with an element, by tag and encoded VR (see _plan).
_MISMATCH, _SEQUENCE, _COUNT, _COUNT_DECODED, _SYNTAX = "mismatch", "sequence", "count", "count-decoded", "syntax"
# How the values of an encoded element are counted (the last item of a plan): at backslashes, or not at all
# (LT, ST, UT, UR hold one value); a positive number is the size of one binary value in bytes.
_AT_BACKSLASHES, _NOT_COUNTED = -1, 0


@lru_cache(maxsize=None)
def _plan(tag: int, encoded_vr: str | None) -> tuple | None:
    """(what to check, VR, keyword, VM, its range (:func:`_vm_range`), whether the VR is text, how its values
    are counted) of an element by its tag and the VR it was written with, decided once per pair: None for
    private elements (odd groups, PS3.5 7.8), group lengths, tags the dictionary does not know and VRs
    without values to count (OB, OW, UN...: VM 1, no syntax). For a VR mismatch, the fourth item is the
    dictionary's VRs instead of the VM."""
    if tag >> 16 & 1 or not tag & 0xFFFF:
        return None
    entry = DicomDictionary.get(tag)
    if entry is None:
        return None
    allowed, vm, keyword = entry[0].split(" or "), entry[1], entry[4] or format_tag(tag)
    # Implicit VR, UN and the ambiguous "US or SS" pydicom leaves unresolved: the dictionary's.
    vr = encoded_vr if encoded_vr in _SINGLE_VRS else allowed[0]
    if vr not in allowed:
        return _MISMATCH, vr, keyword, entry[0]
    if vr == "SQ":
        return _SEQUENCE, vr, keyword, vm
    if vr not in _COUNTED:
        return None
    if vr in _DECODED_BY_INSTANCE:
        kind = _COUNT_DECODED
    else:
        kind = _SYNTAX if vr in CHECKERS or vr in SINGLE_TEXT_VRS else _COUNT
    counted = _AT_BACKSLASHES if vr in TEXT_VRS else BINARY_SIZES.get(vr, _NOT_COUNTED)
    return kind, vr, keyword, vm, _vm_range(vm), vr in _TEXT, counted


def _outside(count: int, vm_range: tuple[int, int | None, int] | None) -> bool:
    """Whether a number of values breaks a VM range (never for an unknown notation)."""
    if vm_range is None:
        return False
    low, high, step = vm_range
    return count < low or high is not None and count > high or count % step != 0


# VRs whose elements may arrive decoded (UI, DA, TM, DT: a data set built or edited in memory, or read
# by code that accessed them first): counted from the decoded value rather than re-encoded.
_DECODED_BY_INSTANCE = {"UI", "DA", "TM", "DT"}


def _decoded_count(value) -> int | None:
    """The number of values of a decoded UI, DA, TM or DT element, None if it is empty (as
    :func:`_encoded` then the walk would count them, without re-encoding)."""
    if value is None:
        return None
    if isinstance(value, (str, bytes)):
        return 1 if value.strip(" \0" if isinstance(value, str) else b" \0") else None
    items = list(value)
    if len(items) == 1:
        return _decoded_count(items[0])
    return len(items) or None


def _encoded(elem) -> bytes:
    """The text of an element pydicom has already decoded (set by code, not read), as bytes again."""
    value = elem.value
    if value is None:
        return b""
    items = [value] if isinstance(value, (str, bytes, int, float)) else list(value)
    text = "\\".join(v.decode("latin-1") if isinstance(v, bytes) else str(v) for v in items)
    return text.encode("utf-8")


class _Walk:
    """One pass over a data set: the encoding of its text and the findings so far."""

    def __init__(self, ds: Dataset):
        self.findings: list[Finding] = []
        self.encoding = self._charset(ds)

    def _charset(self, ds: Dataset) -> str | None:
        """The Python codec of Specific Character Set (0008,0005), 'ascii' when absent, None with code
        extensions (several terms) or unknown terms, which end the character checks."""
        charset = element(ds, 0x00080005)
        if charset is None:
            return "ascii"
        terms = text_values(charset)
        for term in terms:
            if term and term not in python_encoding:
                self.findings.append(CHARSET.finding(f"SpecificCharacterSet (0008,0005) term {term!r} is not "
                                                     "one of PS3.3 C.12.1.1.2", 0x00080005, value=term))
                return None
        named = [t for t in terms if t]
        if not named:
            return "ascii"
        return python_encoding[named[0]] if len(terms) == 1 else None

    def level(self, ds: Dataset, path: str, depth: int) -> None:
        for tag, elem in index(ds).items():
            plan = _plan(tag, elem.VR)
            if plan is None:
                continue
            kind = plan[0]
            if kind is _MISMATCH:
                where = f"{path}{plan[2]}"
                self.findings.append(VR_MISMATCH.finding(f"{where} {format_tag(tag)} encoded as {plan[1]}, the "
                                                         f"dictionary says {plan[3]}", tag, path=where))
            elif kind is _SEQUENCE:
                if depth < MAX_DEPTH:
                    where = f"{path}{plan[2]}"
                    for i, item in enumerate(sequence_items(ds, tag)):
                        self.level(item, f"{where}[{i}].", depth + 1)
            elif getattr(elem, "is_raw", False):
                # VM and, for the VRs that have one, the syntax of the encoded values; inline, as this
                # runs for most elements of every object
                raw = elem.value
                if not raw or plan[5] and not raw.strip(b" \0"):
                    continue
                counted = plan[6]
                count = raw.count(b"\\") + 1 if counted == _AT_BACKSLASHES else len(raw) // counted if counted \
                    else None
                if count is not None and _outside(count, plan[4]):
                    self._vm_finding(count, plan, tag, path)
                if kind is _SYNTAX:
                    self._text(raw, plan[1], tag, path, plan[2])
            else:
                self._decoded(elem, plan, tag, path)

    def _decoded(self, elem, plan: tuple, tag: int, path: str) -> None:
        """VM and syntax of an element pydicom already decoded (set by code, or read by code that accessed
        it first): UI, DA, TM and DT counted from their values (their syntax is instance.*'s), other text
        encoded again; binary ones are not judged."""
        kind, vr, keyword = plan[:3]
        raw = None
        if kind is _COUNT_DECODED:
            count = _decoded_count(elem.value)
        else:
            raw = _encoded(elem) if plan[5] else None
            if not raw or not raw.strip(b" \0"):
                return
            count = raw.count(b"\\") + 1 if plan[6] == _AT_BACKSLASHES else None
        if count is not None and _outside(count, plan[4]):
            self._vm_finding(count, plan, tag, path)
        if kind is _SYNTAX and raw:
            self._text(raw, vr, tag, path, keyword)

    def _vm_finding(self, count: int, plan: tuple, tag: int, path: str) -> None:
        where = f"{path}{plan[2]}"
        self.findings.append(VM_MISMATCH.finding(f"{where} {format_tag(tag)} has {count} values, VM is {plan[3]}",
                                                 tag, path=where, count=count))

    def _text(self, raw: bytes, vr: str, tag: int, path: str, keyword: str) -> None:
        where = f"{path}{keyword}"
        if raw.isascii():
            text = raw.decode("ascii")
        elif vr in ("AS", "CS", "DS", "IS", "AE"):  # ASCII-only VRs (PS3.5 6.1.2.3)
            text = raw.decode("latin-1")
        elif self.encoding == "ascii":
            self.findings.append(CHARSET.finding(f"{where} {format_tag(tag)} has bytes above 7FH and no "
                                                 "SpecificCharacterSet (0008,0005)", tag, path=where))
            return
        elif self.encoding is None or b"\x1b" in raw:
            return
        else:
            try:
                text = raw.decode(self.encoding)
            except (UnicodeDecodeError, LookupError):
                self.findings.append(CHARSET.finding(f"{where} {format_tag(tag)} is not valid "
                                                     f"{self.encoding}", tag, path=where))
                return
        bad = _first_bad(text, vr) if len(text) <= _CACHED_LENGTH else _first_bad.__wrapped__(text, vr)
        if bad is not None:
            value, reason = bad
            self.findings.append(VALUE.finding(f"{where} {format_tag(tag)} {vr} value {value!r}: {reason} "
                                               "(PS3.5 Table 6.2-1)", tag, path=where, value=value))


# Short values repeat from object to object (CS terms, units, names of one device): their verdicts are
# kept, up to this length in characters.
_CACHED_LENGTH = 64


@lru_cache(maxsize=8192)
def _first_bad(text: str, vr: str) -> tuple[str, str] | None:
    """The first value of a decoded text element that breaks its VR (its first 80 characters) and why,
    or None."""
    values = [text] if vr in SINGLE_TEXT_VRS else text.split("\\")
    control = _TEXT_CONTROL if vr in SINGLE_TEXT_VRS else _CONTROL
    check = CHECKERS.get(vr)
    for value in values:
        value = value.rstrip(" \0") if vr in SINGLE_TEXT_VRS else value.strip(" \0")
        reason = ("control character" if control.search(value) else None) or (check and check(value))
        if reason:
            return value[:80], reason
    return None


def check_vr_vm(ds: Dataset) -> list[Finding]:
    """Findings of the ``vr.*`` rules for every standard element of ``ds`` and its sequence items."""
    walk = _Walk(ds)
    walk.level(ds, "", 0)
    return walk.findings

