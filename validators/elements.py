"""Reading elements of a pydicom 2.4 Dataset without letting pydicom decode them.

pydicom keeps what it read as ``RawDataElement`` (bytes) until an attribute is accessed; decoding every
element costs more than all the header checks together, so the header checks read values from the raw
bytes here. Sequences are the exception: their items must be parsed to be walked (``ds[tag]``).

Elements are looked up by plain ``int`` tag in the data set's own dictionary (:func:`element`,
:func:`index`): ``tag in ds`` and ``ds.get_item`` convert the key to a pydicom ``Tag`` and compare
``BaseTag`` objects in Python, which cost more than the checks themselves.
"""

from __future__ import annotations

import re
import struct
from functools import lru_cache
from typing import Any

from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from . import reader

# VRs whose value is text, values separated by backslash (PS3.5 6.2); LT, ST, UT, UR have one value
# that may hold a backslash.
TEXT_VRS = {"AE", "AS", "CS", "DA", "DS", "DT", "IS", "LO", "PN", "SH", "TM", "UI", "UC"}
SINGLE_TEXT_VRS = {"LT", "ST", "UT", "UR"}
_PADDED = TEXT_VRS | SINGLE_TEXT_VRS
_PADDING = (b"", b" ", b"\0")
# White space other than SPACE that pydicom strips from UI values (str.strip of their ISO 8859-1 text).
_UID_SPACE = re.compile(rb"[\t\n\x0b\x0c\r\x1c-\x1f\x85\xa0]")
# VRs whose raw values are read as pydicom decodes them (validators.instance used to leave these elements
# decoded for the header checks, and they must find the same values now that it reads them raw).
_AS_DECODED = {"UI", "DA", "TM", "DT"}
# Binary VRs and the size of one value in bytes (PS3.5 Table 6.2-1).
BINARY_SIZES = {"US": 2, "SS": 2, "UL": 4, "SL": 4, "FL": 4, "FD": 8, "AT": 4, "UV": 8, "SV": 8}
_STRUCT = {"US": "H", "SS": "h", "UL": "I", "SL": "i", "FL": "f", "FD": "d", "UV": "Q", "SV": "q"}


def element(ds: Dataset, tag: int) -> Any:
    """The element of ``tag`` at this level as read (raw or decoded), or None; never decodes it."""
    return ds._dict.get(tag)  # pydicom 2.4 keeps a level's elements in _dict, keyed by BaseTag (an int)


def index(ds: Dataset) -> dict[int, Any]:
    """The elements of one level by plain int tag, as read: lookups in it run in C only."""
    elements = ds._dict
    return dict(zip(map(int, elements), elements.values()))


def sequence_items(ds: Dataset, tag: int) -> list[Dataset]:
    """The items of a sequence element of ``ds``, parsed (and kept parsed) on first use; none if the
    sequence cannot be parsed (that is ``instance.unreadable``'s finding) or the element, against the
    dictionary, is not a sequence (``vr.mismatch``'s)."""
    elem = ds._dict.get(tag)
    if elem is None:
        return []
    if getattr(elem, "is_raw", False):
        try:
            elem = reader.element(ds, tag)
        except Exception:  # pydicom raises many types on bad input
            return []
    return elem.value if isinstance(elem.value, Sequence) else []


def vr_of(elem: Any) -> str | None:
    """The VR an element was written with; for implicit VR (or UN) the dictionary's first choice."""
    vr = elem.VR
    if vr in (None, "UN"):
        return _dictionary_vr(int(elem.tag))
    return vr if len(vr) == 2 else vr.split(" or ")[0] or None  # "US or SS": pydicom left it unresolved


@lru_cache(maxsize=None)
def _dictionary_vr(tag: int) -> str | None:
    """The dictionary's first VR of a tag, None if it is not in the dictionary."""
    try:
        return dictionary_VR(tag).split(" or ")[0] or None
    except KeyError:
        return None


def raw_bytes(elem: Any) -> bytes | None:
    """The encoded value of a raw element, or None for an element pydicom already decoded."""
    return elem.value if getattr(elem, "is_raw", False) else None


def is_empty(elem: Any) -> bool:
    """Zero length, or only padding (spaces, NUL) in a text VR: PS3.5 7.4's "zero length" as writers
    produce it; a UI value also when pydicom strips it to nothing (it strips all white space from UIDs).
    Binary values (OB, OW, ...) are empty only when of zero length: zeros are values."""
    raw = elem.value if getattr(elem, "is_raw", False) else None  # raw_bytes, inline: a call per element
    if raw is not None:
        if raw[:1] not in _PADDING and not _UID_SPACE.match(raw):  # a value: not empty, whatever the VR
            return False
        vr = vr_of(elem)
        if vr == "UI":
            text = raw.decode("latin-1").rstrip("\0 ")
            return "\\" not in text and not text.strip().strip(" \0")
        return not raw or vr in _PADDED and not raw.strip(b" \0")
    value = elem.value
    if value is None:
        return True
    if isinstance(value, str):
        return not value.strip(" \0")
    if isinstance(value, bytes):
        return not value or vr_of(elem) in _PADDED and not value.strip(b" \0")
    try:
        return len(value) == 0
    except TypeError:
        return False


def text_values(elem: Any) -> list[str]:
    """The values of a text element, padding stripped (latin-1: enough for the ASCII of CS, IS, DS); of
    a UI, DA, TM or DT element as pydicom decodes them."""
    raw = raw_bytes(elem)
    if raw is None:
        value = elem.value
        items = [value] if value is None or isinstance(value, (str, bytes, int, float)) else list(value)
        return [str(v).strip(" \0") for v in items if v is not None]
    text = raw.decode("latin-1")
    vr = vr_of(elem)
    if vr in _AS_DECODED:  # as pydicom's values: an empty one is one empty value; UIDs stripped
        values = text.rstrip(" \0").split("\\")
        return [v.strip().strip(" \0") for v in values] if vr == "UI" else [v.strip(" \0") for v in values]
    return [v.strip(" \0") for v in text.split("\\")] if text.strip(" \0") else []


def numbers(elem: Any) -> list[int | float]:
    """The values of a binary numeric element (US, SS, UL, SL, FL, FD, UV, SV) from its bytes."""
    raw = raw_bytes(elem)
    vr = vr_of(elem)
    if raw is None:
        value = elem.value
        return list(value) if isinstance(value, (list, tuple)) else ([] if value is None else [value])
    if vr not in _STRUCT:
        return []
    size = BINARY_SIZES[vr]
    order = "<" if getattr(elem, "is_little_endian", True) is not False else ">"
    count = len(raw) // size
    return list(struct.unpack(f"{order}{count}{_STRUCT[vr]}", raw[:count * size]))


def first_text(ds: Dataset, tag: int) -> str | None:
    """The first value of a text attribute, None if absent or empty."""
    elem = element(ds, tag)
    if elem is None:
        return None
    values = text_values(elem)
    return values[0] if values and values[0] else None


# A Decimal String (DS) value, which an Integer String (IS) value is too (PS3.5 Table 6.2-1), in ASCII digits:
# Python's float() also takes other scripts' digits, "nan", "inf" and "1_0".
DECIMAL_STRING = re.compile(r" *[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)? *", re.ASCII)


def first_number(ds: Dataset, tag: int) -> float | None:
    """The first value of a numeric attribute (DS, IS or binary), None if absent, empty or not a number
    written as DS or IS allow."""
    elem = element(ds, tag)
    if elem is None:
        return None
    if vr_of(elem) in _STRUCT:
        values = numbers(elem)
        return float(values[0]) if values else None
    text = first_text(ds, tag)
    try:
        return float(text) if text and DECIMAL_STRING.fullmatch(text) else None
    except ValueError:
        return None
