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


@dataclass(frozen=True)
class Encoding:
    """How element headers are encoded: explicit or implicit VR, little or big endian (PS3.5 7.1, 7.3)."""

    name: str
    explicit: bool
    little: bool

    def __post_init__(self) -> None:
        order = "<" if self.little else ">"
        object.__setattr__(self, "tag", struct.Struct(order + "HH"))
        object.__setattr__(self, "u16", struct.Struct(order + "H"))
        object.__setattr__(self, "u32", struct.Struct(order + "I"))


IMPLICIT_LE = Encoding("Implicit VR Little Endian", explicit=False, little=True)
EXPLICIT_LE = Encoding("Explicit VR Little Endian", explicit=True, little=True)
EXPLICIT_BE = Encoding("Explicit VR Big Endian", explicit=True, little=False)


@dataclass(frozen=True)
class Header:
    """One element header: where it starts, its tag, VR (None when implicit or for item tags), value
    length (possibly :data:`UNDEFINED_LENGTH`) and where its value starts."""

    offset: int
    tag: int
    vr: bytes | None
    length: int
    value_offset: int


def read_header(buf: bytes, pos: int, enc: Encoding) -> Header | None:
    """The element header at ``pos``, or None if the data ends inside it.

    Item and delimitation tags of group FFFE have no VR in any transfer syntax (PS3.5 7.5). An unknown
    explicit VR made of two upper-case letters is read with the 32-bit length form, as DCMTK does,
    because every VR added since 2007 (UC, UR, OD, OL, OV, SV, UV) uses that form; any other two bytes
    with the 16-bit form (PS3.5 7.1.2).
    """
    if pos + 8 > len(buf):
        return None
    group, element = enc.tag.unpack_from(buf, pos)
    tag = group << 16 | element
    if group == 0xFFFE or not enc.explicit:
        return Header(pos, tag, None, enc.u32.unpack_from(buf, pos + 4)[0], pos + 8)
    vr = buf[pos + 4:pos + 6]
    if vr in SHORT_VRS or (vr not in LONG_VRS and not (vr.isalpha() and vr.isupper())):
        return Header(pos, tag, vr, enc.u16.unpack_from(buf, pos + 6)[0], pos + 8)
    if pos + 12 > len(buf):
        return None
    return Header(pos, tag, vr, enc.u32.unpack_from(buf, pos + 8)[0], pos + 12)


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


# Container kinds on the walk's stack.
_SEQUENCE = 0     # holds items (PS3.5 7.5.1)
_ITEM = 1         # holds data elements
_FRAGMENTS = 2    # encapsulated pixel data: items whose content is compressed bytes (PS3.5 A.4)


@dataclass
class _Frame:
    kind: int
    end: int | None   # offset of the end of a defined-length container; None for undefined length
    enc: Encoding
    tag: int          # the sequence or pixel data element, for messages


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
    stack: list[_Frame] = []
    depth = 0
    odd_count, first_odd = 0, 0
    headers = 0
    while True:
        frame = stack[-1] if stack else None
        cur = frame.enc if frame else enc
        limit = end if frame is None or frame.end is None else frame.end
        if pos >= limit:
            if frame is None:
                out.ran_out = True
                break
            if frame.end is None:
                out.ran_out = True
                out.fatal = Problem(MALFORMED, f"data ends inside the undefined-length value of "
                                               f"{format_tag(frame.tag)} without its delimitation item", frame.tag)
                break
            stack.pop()
            depth -= frame.kind == _SEQUENCE
            continue
        headers += 1
        if headers > max_elements:
            out.fatal = Problem(LIMIT, f"stopped after {max_elements} element headers; the rest was not "
                                       "checked at ingest")
            break
        h = read_header(buf, pos, cur)
        if h is None:
            out.ran_out = True
            out.fatal = Problem(TRUNCATED, f"data ends inside an element header at byte {pos}")
            break
        tag, length, vr = h.tag, h.length, h.vr
        if frame is None:
            if tag not in within:
                out.stop = h
                break
            out.last_tag = tag

        # Which tags may stand where (PS3.5 7.5): delimiters close their container here, items go on below.
        kind = frame.kind if frame else None
        if tag == ITEM_DELIMITATION and kind == _ITEM and frame.end is None or (
                tag == SEQUENCE_DELIMITATION and kind in (_SEQUENCE, _FRAGMENTS) and frame.end is None):
            stack.pop()
            depth -= kind == _SEQUENCE
            pos = h.value_offset
            continue
        if (tag == ITEM) != (kind in (_SEQUENCE, _FRAGMENTS)) or tag >> 16 == 0xFFFE and tag != ITEM:
            out.fatal = Problem(MALFORMED, f"{format_tag(tag)} where {_EXPECTED[kind]} must be", tag)
            break
        if vr is not None and vr not in VALID_VRS and not out.notes:
            out.notes.append(Problem(BAD_VR, f"{format_tag(tag)} has the invalid VR {vr!r}", tag))

        if length == UNDEFINED_LENGTH:
            # A sequence (SQ; UN holding an Implicit VR LE sequence, PS3.5 6.2.2; any element in
            # Implicit VR), an item of a sequence, or encapsulated pixel data (PS3.5 A.4).
            if tag == ITEM:
                child = _ITEM if kind == _SEQUENCE else None
            elif tag in PIXEL_TAGS or vr in (b"OB", b"OW"):
                child = _FRAGMENTS
            elif vr is None or vr in (b"SQ", b"UN"):
                child = _SEQUENCE
            else:
                child = None
            if child is None:
                out.fatal = Problem(MALFORMED, f"{format_tag(tag)} has an undefined length, which its VR "
                                               f"{(vr or b'').decode('latin-1')} or place does not allow", tag)
                break
            child_end = None
        else:
            child_end = h.value_offset + length
            if child_end > end:
                out.ran_out = True
                out.fatal = Problem(TRUNCATED, f"the value of {format_tag(tag)} ({length} bytes) runs past the end "
                                               "of the data", tag)
                break
            if child_end > limit:
                out.fatal = Problem(MALFORMED, f"the value of {format_tag(tag)} ({length} bytes) runs past the end "
                                               f"of the defined-length {format_tag(frame.tag)} that holds it", tag)
                break
            if length & 1:
                odd_count += 1
                first_odd = first_odd or tag
            # Defined-length sequences and items are walked too, so that nesting is counted there.
            child = _SEQUENCE if vr == b"SQ" else _ITEM if tag == ITEM and kind == _SEQUENCE else None
            if child is None:
                if frame is None and tag in wanted and length <= max_value:
                    out.values[tag] = buf[h.value_offset:child_end]
                pos = child_end
                continue

        if child == _SEQUENCE:
            depth += 1
            if depth > max_depth:
                out.fatal = Problem(NESTING, f"sequences nested deeper than {max_depth} levels at {format_tag(tag)}",
                                    tag)
                break
        stack.append(_Frame(child, child_end, IMPLICIT_LE if vr == b"UN" else cur,
                            frame.tag if child == _ITEM else tag))
        pos = h.value_offset

    if odd_count:
        out.notes.append(Problem(ODD_LENGTH, f"{odd_count} value length(s) are odd, the first at "
                                             f"{format_tag(first_odd)}", first_odd))
    return out


_EXPECTED = {None: "a top-level data element", _ITEM: "a data element or item delimitation item",
             _SEQUENCE: "an item or sequence delimitation item",
             _FRAGMENTS: "a fragment item or sequence delimitation item"}
