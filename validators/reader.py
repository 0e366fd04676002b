"""Reading a Part 10 file (or a bare data set) into the pydicom 2.4 data set that
``pydicom.dcmread(BytesIO(data), force=True)`` gives, at a third of its cost.

pydicom reads element by element through a file object and a generator; on the files met in practice
that is most of the header validation's time. :func:`read` walks the bytes with ``struct`` instead and
builds the very same objects: the same ``RawDataElement`` tuples (tag, VR as written, length, value
bytes, value offset, encoding flags), undefined-length sequences parsed into ``Sequence`` items as
pydicom parses them, defined-length ones left raw, the same ``read_*`` encodings on every level, and the
same File Meta elements decoded (pydicom decodes the first one, the group length, the transfer syntax
and the media storage SOP class as it reads). It calls pydicom's own functions for everything but the
loop over element headers.

It covers the layouts pydicom reads without a special case: File Meta in Explicit VR Little Endian, a
declared Implicit VR Little Endian, Explicit VR Little or Big Endian or encapsulated transfer syntax,
valid VRs, items and delimiters where PS3.5 7.5 puts them, no value running past the end. Everything
else (no preamble, no or a deflated transfer syntax, a command set, VRs pydicom takes for an implicit VR
switch, truncation, misplaced delimiters, DICOMDIRs...) is read by pydicom itself, which warns, guesses
or raises as it does: :func:`read` answers exactly what ``dcmread`` answers, on every input.
tests/unit/test_reader.py compares the two object for object on every real file and on damaged ones.
"""

from __future__ import annotations

import re
import struct
import weakref
from io import BytesIO

import pydicom
from pydicom import config
from pydicom.charset import convert_encodings, default_encoding
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import DataElement, DataElement_from_raw, RawDataElement
from pydicom.dataset import Dataset, FileDataset, FileMetaDataset
from pydicom.sequence import Sequence, validate_dataset
from pydicom.tag import BaseTag
from pydicom.valuerep import EXPLICIT_VR_LENGTH_32, VR
from pydicom.values import convert_string, empty_value_for_VR

_UNDEFINED = 0xFFFFFFFF
_ITEM, _ITEM_DELIMITER, _SEQUENCE_DELIMITER = 0xFFFEE000, 0xFFFEE00D, 0xFFFEE0DD
# The Sequence Delimitation Item's tag as encoded, by little endian or not.
_DELIMITER_BYTES = {True: struct.pack("<HH", 0xFFFE, 0xE0DD), False: struct.pack(">HH", 0xFFFE, 0xE0DD)}
_CHARSET = 0x00080005
# pydicom's VR strings by their bytes, and the VRs with a 32-bit length (PS3.5 Table 7.1-1).
_VRS = {v.value.encode(): v.value for v in VR}
_LONG = frozenset(v.value.encode() for v in EXPLICIT_VR_LENGTH_32)
_STRUCTS = {(explicit, little): (struct.Struct(("<" if little else ">") + ("HH2sH" if explicit else "HHL")),
                                 struct.Struct(("<" if little else ">") + "L"))
            for explicit in (True, False) for little in (True, False)}
_MEDIA_STORAGE_DIRECTORY = "Media Storage Directory Storage"


class _Unusual(Exception):
    """The bytes leave the layouts :func:`read` covers: pydicom reads them."""


def read(data: bytes) -> Dataset:
    """The data set of a Part 10 file or bare data set, as ``pydicom.dcmread(BytesIO(data), force=True)``
    returns it (a ``FileDataset``); raises what ``dcmread`` raises on what it cannot parse."""
    try:
        return _read(data)
    except Exception:  # noqa: BLE001 - _Unusual, or pydicom raised in a call of the fast path: dcmread
        return pydicom.dcmread(BytesIO(data), force=True)  # reads it, and raises what it raises


def _read(data: bytes) -> FileDataset:
    """pydicom's ``read_partial`` (force, no stop, nothing deferred) on the covered layouts."""
    if data[128:132] != b"DICM":
        raise _Unusual("no preamble")  # pydicom then reads from byte 0, guessing
    preamble = data[:128]
    end = len(data)
    if end - 132 >= 6 and _looks_implicit(data, 132):
        raise _Unusual("File Meta not in Explicit VR")
    meta_raw, pos, _ = _elements(data, 132, end, False, True, default_encoding, meta=True)
    # FileMetaDataset(read_dataset(...)): a new object, without the read encodings of the one it wraps
    file_meta = _new(FileMetaDataset, _FRESH, meta_raw)
    if not meta_raw:
        raise _Unusual("no File Meta elements")
    # What _read_file_meta_info does after reading: it decodes the first element (to retry in Implicit VR
    # if that fails) and the group length (to log a mismatch).
    _meta_element(file_meta, min(meta_raw))  # the first by tag, as Dataset.elements() gives them
    _meta_element(file_meta, _GROUP_LENGTH)
    if end - pos >= 8 and data[pos:pos + 2] == b"\0\0":
        raise _Unusual("a command set (group 0000)")
    if end - pos < 8:
        raise _Unusual("no data set after the File Meta")  # pydicom reads that as Implicit VR
    elem = _meta_element(file_meta, _TRANSFER_SYNTAX)
    transfer_syntax = None if elem is None else elem.value
    if transfer_syntax is None or transfer_syntax == pydicom.uid.DeflatedExplicitVRLittleEndian:
        raise _Unusual("no or a deflated transfer syntax")
    implicit, little = transfer_syntax == pydicom.uid.ImplicitVRLittleEndian, \
        transfer_syntax != pydicom.uid.ExplicitVRBigEndian
    if end - pos >= 6 and _looks_implicit(data, pos) != implicit:
        raise _Unusual("the data set's first VR contradicts the transfer syntax")  # pydicom warns, switches
    raw, pos, _ = _elements(data, pos, end, implicit, little, default_encoding, top=True)
    _encoding(raw, default_encoding)  # read_dataset decodes its Specific Character Set, if any
    elem = _meta_element(file_meta, _MEDIA_SOP_CLASS)
    if (elem.value.name if (elem and elem.VM == 1) else "") == _MEDIA_STORAGE_DIRECTORY:
        raise _Unusual("a DICOMDIR")
    fp = BytesIO(data)
    fp.seek(end)  # where pydicom's file object is left: it reads to the end
    # FileDataset(fp, read_dataset(...), preamble, file_meta, implicit, little), then its read encodings,
    # the character set decoded in its elements as Dataset._character_set decodes it
    ds = _new(FileDataset, _FRESH_FILE, raw, preamble=preamble, file_meta=file_meta, is_implicit_VR=implicit,
              is_little_endian=little, filename=fp)
    ds.set_original_encoding(implicit, little, ds._character_set)
    return ds


def _looks_implicit(data: bytes, pos: int) -> bool:
    """pydicom's test of the first element of a data set: bytes 4-5 are not two upper-case letters."""
    return not (0x40 < data[pos + 4] < 0x5B and 0x40 < data[pos + 5] < 0x5B)


def _encoding(raw: dict, parent_encoding):
    """A level's character encoding: its Specific Character Set (0008,0005), else its parent's."""
    charset = raw.get(_CHARSET)
    return convert_encodings(DataElement_from_raw(charset).value) if charset is not None else parent_encoding


# What Dataset.__init__ (and FileDataset.__init__ for an in-memory file) leaves in a new object's
# attributes, but for its mutable ones. pydicom's __setattr__ looks every name up in the data dictionary
# first; a data set with a dozen attributes cost more to build than to read, so the reader's data sets get
# these attributes directly (tests/unit/test_reader.py compares every attribute with pydicom's).
_MUTABLE = ("_dict", "_private_blocks", "_pixel_id", "file_meta", "filename")
_FRESH = {k: v for k, v in vars(Dataset()).items() if k not in _MUTABLE}
_FRESH_FILE = {k: v for k, v in vars(FileDataset(BytesIO(), Dataset())).items() if k not in _MUTABLE}


def _new(cls: type, fresh: dict, raw: dict, **attributes) -> Dataset:
    """A new ``cls`` (Dataset or a subclass) of the elements ``raw``, as its __init__ leaves it (``fresh``)
    with ``attributes`` set after."""
    ds = cls.__new__(cls)
    ds.__dict__.update(fresh, _dict=raw, _private_blocks={}, _pixel_id={}, **attributes)
    return ds


def _item(raw: dict, implicit: bool, little: bool, parent_encoding, undefined_length: bool, tell: int) -> Dataset:
    """A sequence item as pydicom's ``read_sequence_item`` and ``read_sequence`` leave it: read
    encodings, whether of undefined length, and where its Item tag is (``seq_item_tell``, ``file_tell``)."""
    return _new(Dataset, _FRESH, raw, read_implicit_vr=implicit, read_little_endian=little,
                read_encoding=_encoding(raw, parent_encoding), is_undefined_length_sequence_item=undefined_length,
                seq_item_tell=tell, file_tell=tell)


# File Meta elements: group length, transfer syntax, Media Storage SOP Class UID (PS3.10 Table 7.1-1).
_GROUP_LENGTH, _TRANSFER_SYNTAX, _MEDIA_SOP_CLASS = 0x00020000, 0x00020010, 0x00020002
# The attributes of decoded File Meta elements (but where their value is in the file) by how they were
# encoded: the same few transfer syntaxes, SOP classes and versions in file after file, which pydicom
# decodes once. Only values that pydicom decodes without a warning and that cannot be changed in place are
# kept: binary ones, and UIDs of digits and dots.
_META_DECODED: dict[tuple, dict] = {}
_META_CACHED_VRS = frozenset({"UL", "OB"})
_PLAIN_UID = re.compile(rb"[0-9][0-9.]{0,63}\0?")
_MAX_META_DECODED = 4096


def _meta_element(file_meta: FileMetaDataset, tag: int) -> DataElement | None:
    """``file_meta[tag]`` (decoded by pydicom and kept decoded in ``file_meta``), or None if absent."""
    raw = file_meta._dict.get(tag)
    if type(raw) is not RawDataElement:
        return raw if raw is None else file_meta[tag]
    key = (raw.tag, raw.VR, raw.length, raw.value, raw.is_implicit_VR, raw.is_little_endian,
           config.settings.reading_validation_mode)
    attributes = _META_DECODED.get(key)
    if attributes is None:
        elem = file_meta[tag]
        if (raw.VR in _META_CACHED_VRS or raw.VR == VR.UI and _PLAIN_UID.fullmatch(raw.value or b"")) \
                and elem.VR == raw.VR and type(elem.value) in (int, bytes, pydicom.uid.UID) \
                and len(_META_DECODED) < _MAX_META_DECODED:
            _META_DECODED[key] = {k: v for k, v in vars(elem).items() if k != "file_tell"}
        return elem
    # What Dataset.__getitem__ stores for it: DataElement_from_raw's element, under its own tag
    elem = DataElement.__new__(DataElement)
    elem.__dict__.update(attributes, file_tell=raw.value_tell)
    file_meta._dict[raw.tag] = elem
    return elem


def _elements(data: bytes, pos: int, end: int, implicit: bool, little: bool, encoding, *, top: bool = False, meta: bool = False) -> tuple[dict, int, bool]:
    """The elements of one level from ``pos`` to ``end`` (a defined-length item's end, or the data's)
    or, in an item, to its Item Delimitation Item; for the File Meta (``meta``), to the first element of
    another group. Returns (elements by tag, where the level ends, whether an Item Delimitation Item
    ended it). As pydicom's ``data_element_generator``: Specific Character Set (0008,0005) changes the
    encoding of the sequences that follow it; undefined-length sequences are parsed now, others left raw."""
    head = _STRUCTS[not implicit, little][0].unpack_from
    long_length = _STRUCTS[True, little][1].unpack_from
    vrs, long_vrs, new, element_type = _VRS, _LONG, tuple.__new__, RawDataElement
    raw: dict = {}
    vr_bytes = vr = None
    while True:
        if end - pos < 8:
            if not top and not meta and pos != end:
                raise _Unusual("an item that ends inside a header")
            return raw, pos, False
        if implicit:
            group, element, length = head(data, pos)
            vr = None
        else:
            group, element, vr_bytes, length = head(data, pos)
            vr = vrs.get(vr_bytes)  # pydicom reads anything but two upper-case letters as an implicit VR switch
        if meta and group != 2:
            if vr_bytes in long_vrs and end - pos < 12:
                raise _Unusual("data ends in the first header")  # pydicom fails on reading its length
            return raw, pos, False
        if group == 0xFFFE:
            if not top and not meta and element == 0xE00D and data[pos + 4:pos + 8] == b"\0\0\0\0":
                return raw, pos + 8, True  # Item Delimitation Item (PS3.5 7.5.2)
            raise _Unusual("an item or delimiter out of place")
        if implicit:
            value_pos = pos + 8
        elif vr is None:
            raise _Unusual("a VR pydicom does not know or reads as an implicit VR switch")
        elif vr_bytes in long_vrs:
            if end - pos < 12:
                raise _Unusual("data ends in a header")
            length = long_length(data, pos + 8)[0]
            value_pos = pos + 12
        else:
            value_pos = pos + 8
        tag = BaseTag(group << 16 | element)
        if length != _UNDEFINED:
            stop = value_pos + length
            if stop > end:
                raise _Unusual("a value runs past the end")
            value = data[value_pos:stop] if length else empty_value_for_VR(vr, raw=True)
            if group == 8 and element == 5:  # Specific Character Set (0008,0005)
                encoding = convert_encodings(convert_string(value or b"", little))
            raw[tag] = new(element_type, (tag, vr, length, value, value_pos, implicit, little, True))
            pos = stop
            continue
        if meta:
            raise _Unusual("undefined length in the File Meta")
        if vr == VR.UN and config.settings.infer_sq_for_un_vr:
            vr = VR.SQ
        if vr is None or vr == VR.UN and config.replace_un_with_known_vr:
            try:
                vr = dictionary_VR(tag)
            except KeyError:
                if end - value_pos < 4:
                    raise _Unusual("data ends after a header") from None
                if struct.unpack_from("<HH" if little else ">HH", data, value_pos) == (0xFFFE, 0xE000):
                    vr = VR.SQ  # pydicom looks ahead for an item
        if vr == VR.SQ:
            seq, pos = _sequence(data, value_pos, end, implicit, little, encoding, 0, defined=False)
            raw[tag] = DataElement(tag, vr, seq, value_pos, is_undefined_length=True)
        else:
            # read_undefined_length_value's search, in one call instead of 8 KiB chunks: the value ends at
            # the first Sequence Delimitation Item tag after its start, even one inside a fragment; its
            # 4-byte length follows.
            found = data.find(_DELIMITER_BYTES[little], value_pos)
            if found < 0:
                raise _Unusual("an undefined-length value without its delimiter")  # pydicom raises EOFError
            value = data[value_pos:found]
            pos = min(found + 8, len(data))
            raw[tag] = RawDataElement(tag, vr, _UNDEFINED, value, value_pos, implicit, little)


def _sequence(data: bytes, pos: int, end: int, implicit: bool, little: bool, encoding, offset: int, *,
              defined: bool) -> tuple[Sequence, int]:
    """A sequence's items as pydicom's ``read_sequence`` builds them, and where the sequence ends: those
    of an undefined-length one up to its Sequence Delimitation Item, of a ``defined`` length one up to
    ``end``. ``offset``: where ``data`` starts in the file (a raw sequence's value is parsed alone)."""
    item_head = _STRUCTS[False, little][0].unpack_from
    items = []
    while not defined or pos < end:
        if end - pos < 8:
            raise _Unusual("data ends inside a sequence")
        group, element, length = item_head(data, pos)
        tag = group << 16 | element
        if tag == _SEQUENCE_DELIMITER:
            pos += 8
            break
        if tag != _ITEM:
            raise _Unusual("not an item in a sequence")
        start = pos + 8
        # pydicom reads an item in Implicit VR when its first bytes do not look explicit (PS3.5 6.2.2).
        item_implicit = implicit or (len(data) - start >= 6 and _looks_implicit(data, start))
        if length == _UNDEFINED:
            raw, pos, delimited = _elements(data, start, end, item_implicit, little, encoding)
            if not delimited:
                raise _Unusual("an undefined-length item without its delimiter")
        else:
            if start + length > end:
                raise _Unusual("an item runs past the end")
            raw, pos, _ = _elements(data, start, start + length, item_implicit, little, encoding)
            if pos != start + length:
                raise _Unusual("an item delimiter inside a defined-length item")
        items.append(_item(raw, item_implicit, little, encoding, length == _UNDEFINED, start - 8 + offset))
    # As Sequence(items) builds it (each item's parent_seq set through pydicom's __setattr__, a few
    # microseconds an item), with the attributes set directly.
    sequence = Sequence.__new__(Sequence)
    sequence.__dict__.update(_parent_dataset=None, _list=items, type_constructor=validate_dataset,
                             is_undefined_length=not defined)
    parent = weakref.ref(sequence)
    for item in items:
        item.__dict__["_parent_seq"] = parent
    return sequence, pos


def element(ds: Dataset, tag: int) -> DataElement:
    """``ds[tag]``: the element decoded, and kept decoded in ``ds``; a raw sequence's items are parsed by
    the walk above instead of pydicom's reader (as ``Dataset.__getitem__``, ``DataElement_from_raw`` and
    ``convert_SQ`` would parse them). Raises what ``ds[tag]`` raises."""
    raw = ds._dict[tag]
    if type(raw) is RawDataElement and raw.length and raw.value is not None and raw.length != _UNDEFINED \
            and config.data_element_callback is None:
        vr = raw.VR
        if vr is None:
            try:
                vr = dictionary_VR(raw.tag)
            except KeyError:
                pass
        if vr == VR.SQ and raw.tag != _CHARSET:
            encodings = ds.read_encoding or ds._character_set or [default_encoding]
            try:
                value, _ = _sequence(raw.value, 0, len(raw.value), raw.is_implicit_VR, raw.is_little_endian,
                                     [encodings] if isinstance(encodings, str) else encodings, raw.value_tell,
                                     defined=True)
            except Exception:  # noqa: BLE001 - _Unusual, or pydicom raised in a call: ds[tag] decodes it
                return ds[tag]
            elem = DataElement(raw.tag, vr, value, raw.value_tell, False, already_converted=True)
            if raw.tag.is_private:
                ds[tag] = elem  # Dataset.__setitem__ also finds its private creator
            else:  # what Dataset.__setitem__ does for a sequence of a standard tag
                ds._dict[raw.tag] = elem
                value.__dict__["_parent_dataset"] = weakref.ref(ds)
            return elem
    return ds[tag]
