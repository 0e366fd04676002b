"""A bounded walker over the data elements of raw DICOM bytes, for the cheap checks at ingest.

It reads element headers (PS3.5 7.1) and skips values, so that its cost depends on the number of
elements, never on their size: it neither decodes nor copies a value except the few top-level ones it is
asked for. Sequences and items (PS3.5 7.5) are walked with an explicit stack, never by recursion, so
that nesting depth is a counted number and not a risk of stack exhaustion. Every way the walk can stop
early is a :class:`Problem` in the result; nothing here raises on any input.

What it does not cover: in Implicit VR a sequence of *defined* length cannot be told from any other
value without a data dictionary, so its content is skipped by length and not walked (its nesting is
not counted). Top-level elements after the first one outside the ``within`` range (normally Pixel Data)
are not read.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, field
from typing import NamedTuple

from .findings import format_tag

UNDEFINED_LENGTH = 0xFFFFFFFF
ITEM = 0xFFFEE000
ITEM_DELIMITATION = 0xFFFEE00D
SEQUENCE_DELIMITATION = 0xFFFEE0DD
# Float Pixel Data (7FE0,0008), Double Float Pixel Data (7FE0,0009), Pixel Data (7FE0,0010).
PIXEL_TAGS = frozenset({0x7FE00008, 0x7FE00009, 0x7FE00010})

# PS3.5 Table 7.1-1: VRs whose explicit header has 2 reserved bytes and a 32-bit length...
LONG_VRS = frozenset({b"OB", b"OD", b"OF", b"OL", b"OV", b"OW", b"SQ", b"SV", b"UC", b"UN", b"UR", b"UT", b"UV"})
# ... and Table 7.1-2: those with a 16-bit length.
SHORT_VRS = frozenset({b"AE", b"AS", b"AT", b"CS", b"DA", b"DS", b"DT", b"FL", b"FD", b"IS", b"LO", b"LT",
                       b"PN", b"SH", b"SL", b"SS", b"ST", b"TM", b"UI", b"UL", b"US"})
VALID_VRS = LONG_VRS | SHORT_VRS


class Encoding(NamedTuple):
    """How element headers are encoded: explicit or implicit VR, little or big endian (PS3.5 7.1, 7.3)."""

    name: str
    explicit: bool
    little: bool
    head: struct.Struct   # the first 8 bytes of a header: tag, then VR and 16-bit length, or 32-bit length
    u32: struct.Struct


def _encoding(name: str, explicit: bool, little: bool) -> Encoding:
    order = "<" if little else ">"
    return Encoding(name, explicit, little, struct.Struct(order + ("HH2sH" if explicit else "HHI")),
                    struct.Struct(order + "I"))


IMPLICIT_LE = _encoding("Implicit VR Little Endian", explicit=False, little=True)
EXPLICIT_LE = _encoding("Explicit VR Little Endian", explicit=True, little=True)
EXPLICIT_BE = _encoding("Explicit VR Big Endian", explicit=True, little=False)


class Header(NamedTuple):
    """One element header: where it starts, its tag, VR (None when implicit or for item tags), value
    length (possibly :data:`UNDEFINED_LENGTH`) and where its value starts."""

    offset: int
    tag: int
    vr: bytes | None
    length: int
    value_offset: int


def read_header(buf: bytes, pos: int, enc: Encoding) -> tuple[int, bytes | None, int, int] | None:
    """The element header at ``pos`` as (tag, VR, length, value offset), or None if the data ends inside it.

    A plain tuple, as this runs once per element. Item and delimitation tags of group FFFE have no VR in
    any transfer syntax (PS3.5 7.5). An unknown explicit VR made of two upper-case letters is read with
    the 32-bit length form, because every VR added since 2007 (UC, UR, OD, OL, OV, SV, UV) uses that
    form, so a newer one most likely does too; any other two bytes with the 16-bit form (PS3.5 7.1.2).
    :func:`walk` has the same lines inlined (a call per element costs a third of its time).
    """
    if pos + 8 > len(buf):
        return None
    if not enc.explicit:
        group, element, length = enc.head.unpack_from(buf, pos)
        return group << 16 | element, None, length, pos + 8
    group, element, vr, length = enc.head.unpack_from(buf, pos)
    if group == 0xFFFE:
        return group << 16 | element, None, enc.u32.unpack_from(buf, pos + 4)[0], pos + 8
    if vr in SHORT_VRS or (vr not in LONG_VRS and not (vr.isalpha() and vr.isupper())):
        return group << 16 | element, vr, length, pos + 8
    if pos + 12 > len(buf):
        return None
    return group << 16 | element, vr, enc.u32.unpack_from(buf, pos + 8)[0], pos + 12


def guess_encoding(buf: bytes, pos: int) -> Encoding:
    """The encoding the element at ``pos`` suggests, for data that declares none or the wrong one.

    Explicit VR if bytes 4-5 are a VR of PS3.5 Table 6.2-1: in Implicit VR they are the low half of the
    value length, which for the short first elements of a data set is never two upper-case letters
    (0x4141 is 16,705 bytes). Big endian (PS3.5 7.3) if the group number reads as 0x0100 or more little
    endian but under 0x0100 big endian, as the low groups that begin every data set (0008) do.
    """
    explicit = buf[pos + 4:pos + 6] in VALID_VRS
    if explicit and buf[pos:pos + 1] == b"\x00" and buf[pos + 1:pos + 2] != b"\x00":
        return EXPLICIT_BE
    return EXPLICIT_LE if explicit else IMPLICIT_LE


# Problem kinds; the caller maps each to a rule.
TRUNCATED = "truncated"       # the data ends inside an element header or value
MALFORMED = "malformed"       # structure that breaks PS3.5 7.5 (misplaced delimiters, lengths past a container)
BAD_VR = "bad-vr"             # an explicit VR that is not one of PS3.5 Table 6.2-1 (the walk goes on)
ODD_LENGTH = "odd-length"     # value lengths must be even (PS3.5 7.1.1); one problem for all of them
NESTING = "nesting"           # sequences nested deeper than allowed
LIMIT = "limit"               # the element budget ran out


@dataclass(frozen=True)
class Problem:
    kind: str
    message: str
    tag: int | None = None


@dataclass
class Walk:
    """What a walk found.

    ``values``: the raw values of the wanted top-level elements. ``stop``: the header of the first
    top-level element whose tag is outside ``within`` (its value is not read), None if none was reached.
    ``last_tag``: the last top-level tag read before the stop (-1 if none). ``fatal``: the problem that
    ended the walk early, if any; ``notes``: problems the walk went on after. ``ran_out``: the walk
    ended because the bytes ended (cleanly or inside an element), which for a capped buffer means that
    more may follow.
    """

    values: dict[int, bytes] = field(default_factory=dict)
    stop: Header | None = None
    last_tag: int = -1
    fatal: Problem | None = None
    notes: list[Problem] = field(default_factory=list)
    ran_out: bool = False


# Container kinds on the walk's stack; the data set itself is the bottom frame, of kind None.
_SEQUENCE = 0     # holds items (PS3.5 7.5.1)
_ITEM = 1         # holds data elements
_FRAGMENTS = 2    # encapsulated pixel data: items whose content is compressed bytes (PS3.5 A.4)


def walk(buf: bytes, pos: int, enc: Encoding, *, wanted: frozenset[int], within: range, max_depth: int,
         max_elements: int, max_value: int = 1024) -> Walk:
    """Walk the data set in ``buf`` from ``pos`` while its top-level tags are ``within`` the range.

    Top-level elements in ``wanted`` of at most ``max_value`` bytes have their value copied; a longer
    one is left out (no legitimate UID, code string or count is that long). The walk enters every
    sequence it can recognise, of defined or undefined length, counts their nesting against
    ``max_depth`` and reads at most ``max_elements`` headers, so that its time is bounded whatever the
    lengths say.
    """
    out = Walk()
    end = len(buf)
    # Frames: (kind, end offset or None for undefined length, encoding inside, tag for messages).
    stack: list[tuple[int | None, int | None, Encoding, int]] = [(None, None, enc, 0)]
    kind, frame_end, cur, frame_tag = stack[-1]
    explicit, head, u32 = cur.explicit, cur.head.unpack_from, cur.u32.unpack_from
    limit = end
    depth = 0
    odd_count, first_odd = 0, 0
    headers = 0
    while True:
        if pos >= limit:
            if kind is None:
                out.ran_out = True
                break
            if frame_end is None:
                out.ran_out = True
                out.fatal = Problem(MALFORMED, f"data ends inside the undefined-length value of "
                                               f"{format_tag(frame_tag)} without its delimitation item", frame_tag)
                break
            depth -= kind == _SEQUENCE
            stack.pop()
            kind, frame_end, cur, frame_tag = stack[-1]
            explicit, head, u32 = cur.explicit, cur.head.unpack_from, cur.u32.unpack_from
            limit = end if frame_end is None else frame_end
            continue
        headers += 1
        if headers > max_elements:
            out.fatal = Problem(LIMIT, f"stopped after {max_elements} element headers; the rest was not "
                                       "checked at ingest")
            break
        # read_header, inlined: this runs once per element of every object Orthanc receives
        value_offset = pos + 8
        if value_offset > end:
            value_offset = None
        elif explicit:
            group, element, vr, length = head(buf, pos)
            if group == 0xFFFE:
                vr, length = None, u32(buf, pos + 4)[0]
            elif vr not in SHORT_VRS and (vr in LONG_VRS or vr.isalpha() and vr.isupper()):
                value_offset = pos + 12
                length = u32(buf, pos + 8)[0] if value_offset <= end else None
        else:
            group, element, length = head(buf, pos)
            vr = None
        if value_offset is None or length is None:
            out.ran_out = True
            out.fatal = Problem(TRUNCATED, f"data ends inside an element header at byte {pos}")
            break
        tag = group << 16 | element
        if kind is None and tag < ITEM:
            if tag not in within:
                out.stop = Header(pos, tag, vr, length, value_offset)
                break
            out.last_tag = tag

        if tag >= ITEM:
            # Items and delimiters (PS3.5 7.5): a delimiter closes its container, an item goes on below.
            if (tag == ITEM_DELIMITATION and kind == _ITEM or tag == SEQUENCE_DELIMITATION
                    and kind in (_SEQUENCE, _FRAGMENTS)) and frame_end is None:
                depth -= kind == _SEQUENCE
                stack.pop()
                kind, frame_end, cur, frame_tag = stack[-1]
                explicit, head, u32 = cur.explicit, cur.head.unpack_from, cur.u32.unpack_from
                limit = end if frame_end is None else frame_end
                pos = value_offset
                continue
            if tag != ITEM or kind not in (_SEQUENCE, _FRAGMENTS):
                out.fatal = Problem(MALFORMED, f"{format_tag(tag)} where {_EXPECTED[kind]} must be", tag)
                break
        elif kind == _SEQUENCE or kind == _FRAGMENTS:
            out.fatal = Problem(MALFORMED, f"{format_tag(tag)} where {_EXPECTED[kind]} must be", tag)
            break
        elif vr is not None and vr not in VALID_VRS and not out.notes:
            out.notes.append(Problem(BAD_VR, f"{format_tag(tag)} has the invalid VR {vr!r}", tag))

        if length == UNDEFINED_LENGTH:
            # A sequence (SQ; UN holding an Implicit VR LE sequence, PS3.5 6.2.2; any element in
            # Implicit VR), an item of a sequence, or encapsulated pixel data (PS3.5 A.4).
            if tag == ITEM:
                child = _ITEM if kind == _SEQUENCE else None
            elif tag in PIXEL_TAGS or vr == b"OB" or vr == b"OW":
                child = _FRAGMENTS
            elif vr is None or vr == b"SQ" or vr == b"UN":
                child = _SEQUENCE
            else:
                child = None
            if child is None:
                out.fatal = Problem(MALFORMED, f"{format_tag(tag)} has an undefined length, which its VR "
                                               f"{(vr or b'').decode('latin-1')} or place does not allow", tag)
                break
            child_end = None
        else:
            child_end = value_offset + length
            if child_end > end:
                out.ran_out = True
                out.fatal = Problem(TRUNCATED, f"the value of {format_tag(tag)} ({length} bytes) runs past "
                                               "the end of the data", tag)
                break
            if child_end > limit:
                out.fatal = Problem(MALFORMED, f"the value of {format_tag(tag)} ({length} bytes) runs past "
                                               f"the end of the defined-length {format_tag(frame_tag)} that "
                                               "holds it", tag)
                break
            if length & 1:
                odd_count += 1
                first_odd = first_odd or tag
            # Defined-length sequences and items are walked too, so that nesting is counted there.
            if vr == b"SQ":
                child = _SEQUENCE
            elif tag == ITEM and kind == _SEQUENCE:
                child = _ITEM
            else:
                if kind is None and tag in wanted and length <= max_value:
                    out.values[tag] = buf[value_offset:child_end]
                pos = child_end
                continue

        if child == _SEQUENCE:
            depth += 1
            if depth > max_depth:
                out.fatal = Problem(NESTING, f"sequences nested deeper than {max_depth} levels at "
                                             f"{format_tag(tag)}", tag)
                break
        stack.append((child, child_end, IMPLICIT_LE if vr == b"UN" else cur,
                      frame_tag if child == _ITEM else tag))
        kind, frame_end, cur, frame_tag = stack[-1]
        explicit, head, u32 = cur.explicit, cur.head.unpack_from, cur.u32.unpack_from
        limit = end if frame_end is None else frame_end
        pos = value_offset

    if odd_count:
        out.notes.append(Problem(ODD_LENGTH, f"{odd_count} value length(s) are odd, the first at "
                                             f"{format_tag(first_odd)}", first_odd))
    return out


_EXPECTED = {None: "a top-level data element", _ITEM: "a data element or item delimitation item",
             _SEQUENCE: "an item or sequence delimitation item",
             _FRAGMENTS: "a fragment item or sequence delimitation item"}
