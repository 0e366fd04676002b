"""Checks of one stored instance on its full pydicom Dataset, run after storage in a background worker.

:func:`check_instance_bytes` parses, :func:`check_instance` checks; neither raises on bad data: whatever
the object is, the answer is a list of findings. What is checked: the syntax of every UI, DA, TM and DT
value (:mod:`validators.values`), the identifiers every composite IOD needs, the Image Pixel module's
internal consistency, the order of birth and study dates, and bits set above High Bit in native pixel
data (:mod:`validators.pixelbits`). What is not: the IOD's other modules and Type 1/2 attributes (that is
dciodvfy's depth), Float and Double Float Pixel Data (7FE0,0008)/(7FE0,0009), and compressed pixel data,
which is never decoded here.
"""

from __future__ import annotations

import re
from functools import lru_cache
from io import BytesIO
from typing import Any

import pydicom
from pydicom.dataelem import RawDataElement
from pydicom.datadict import DicomDictionary, dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.valuerep import PersonName

from .findings import Action, Finding, Severity, format_tag
from .pixelbits import pixel_bits
from .reader import element
from .rules import Rule, define
from .values import CHECKERS

UNREADABLE = define(
    "instance.unreadable", Severity.ERROR, Action.LABEL,
    "The object, or one of its elements, cannot be parsed as DICOM (PS3.10 7, PS3.5 7).")
UID_SYNTAX = define(
    "instance.uid-syntax", Severity.ERROR, Action.LABEL,
    "A UI value, anywhere in the data set, its sequences or the file meta, breaks PS3.5 9.1: only digits "
    "and dots, no empty component, no leading zero, at most 64 characters. UIDs are the keys that match "
    "objects to studies and series; a malformed one breaks matching and strict peers refuse it.")
DATE_SYNTAX = define(
    "instance.date-syntax", Severity.WARNING, Action.LABEL,
    "A DA value is not YYYYMMDD or not a real calendar date (PS3.5 Table 6.2-1). A warning: the object "
    "stays usable, but date queries and sorting miss it.")
TIME_SYNTAX = define(
    "instance.time-syntax", Severity.WARNING, Action.LABEL,
    "A TM value is not HHMMSS.FFFFFF or an allowed truncation, or is out of range (PS3.5 Table 6.2-1). "
    "A warning, as for dates.")
DATETIME_SYNTAX = define(
    "instance.datetime-syntax", Severity.WARNING, Action.LABEL,
    "A DT value is not YYYYMMDDHHMMSS.FFFFFF&ZZXX or an allowed truncation, or is out of range "
    "(PS3.5 Table 6.2-1). A warning, as for dates.")
MISSING_IDENTIFIER = define(
    "instance.missing-identifier", Severity.ERROR, Action.LABEL,
    "A Type 1 identifier of every composite IOD is absent or empty: SOPClassUID (0008,0016), "
    "SOPInstanceUID (0008,0018), StudyInstanceUID (0020,000D), SeriesInstanceUID (0020,000E), "
    "Modality (0008,0060) (PS3.3 C.12.1, C.7.2.1, C.7.3.1).")
MISSING_PATIENT_ID = define(
    "instance.missing-patient-id", Severity.WARNING, Action.LABEL,
    "PatientID (0010,0020), Type 2 in the Patient module (PS3.3 C.7.1.1), is absent; empty is allowed.")
PIXEL_MODULE = define(
    "instance.pixel-module", Severity.ERROR, Action.LABEL,
    "The Image Pixel module contradicts itself (PS3.3 C.7.6.3, PS3.5 8.1.1): Rows, Columns, Bits "
    "Allocated/Stored, High Bit, Pixel Representation, Samples per Pixel, Photometric Interpretation or "
    "Planar Configuration. (The length of Pixel Data is ingest.pixel-data-short's.)")
JPEG_COLOUR = define(
    "instance.jpeg-photometric", Severity.WARNING, Action.LABEL,
    "Colour pixel data compressed with lossy JPEG (JPEG Baseline or Extended, 1.2.840.10008.1.2.4.50/51) "
    "declares a Photometric Interpretation (0028,0004) other than YBR_FULL_422 (the JPEG stream's colour "
    "transform to YCbCr, whatever the chrominance subsampling: PS3.5 8.2.1 as clarified by CP 1653) or RGB "
    "(no colour transform). Decoders that trust the header then convert the colours wrongly or not at all.")
BIRTH_AFTER_STUDY = define(
    "instance.birth-after-study", Severity.ERROR, Action.LABEL,
    "PatientBirthDate (0010,0030) is after StudyDate (0008,0020): one of them, or the patient, is wrong.")
PIXEL_BITS = define(
    "instance.pixel-bits", Severity.WARNING, Action.LABEL,
    "Native integer pixel samples have bits set above High Bit (0028,0102) (unsigned) or lie outside the "
    "two's complement range of Bits Stored (0028,0101) (signed): data written with another Bits Stored "
    "than declared, or edited. PS3.5 8.1.1 Note 4 lets unused bits hold anything, hence a warning.")

_SYNTAX_RULES: dict[str, Rule] = {"UI": UID_SYNTAX, "DA": DATE_SYNTAX, "TM": TIME_SYNTAX, "DT": DATETIME_SYNTAX}

# Nesting of sequences walked; real IODs nest a handful of levels (RT and SR deepest, about 10), and
# the bound keeps a hostile object from exhausting the stack. Deeper items are not checked.
MAX_DEPTH = 32

# Native transfer syntaxes (PS3.5 A.1-A.3, A.5): pixel data is the samples themselves. pydicom inflates
# the deflated one on reading.
_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1", "1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.2"}
_BIG_ENDIAN = "1.2.840.10008.1.2.2"

# PS3.3 C.7.6.3.1.2: Samples per Pixel (0028,0002) of each Photometric Interpretation (0028,0004),
# retired ones included since old archives still hold them.
_SAMPLES = {"MONOCHROME1": 1, "MONOCHROME2": 1, "PALETTE COLOR": 1, "RGB": 3, "HSV": 3, "ARGB": 4,
            "CMYK": 4, "YBR_FULL": 3, "YBR_FULL_422": 3, "YBR_PARTIAL_422": 3, "YBR_PARTIAL_420": 3,
            "YBR_ICT": 3, "YBR_RCT": 3, "XYB": 3}

# Lossy JPEG transfer syntaxes (PS3.5 A.4.1: JPEG Baseline process 1, Extended processes 2 and 4) and the
# Photometric Interpretations PS3.5 8.2.1 allows for their colour (three-sample) data.
_LOSSY_JPEG = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51"}
_LOSSY_JPEG_COLOUR = ("YBR_FULL_422", "RGB")

# Native YBR_FULL_422 and YBR_PARTIAL_422 store Cb and Cr for every second pixel only, so two samples
# per pixel, not three; YBR_PARTIAL_420 one and a half (PS3.3 C.7.6.3.1.2). In halves of a sample:
_STORED_HALF_SAMPLES = {"YBR_FULL_422": 4, "YBR_PARTIAL_422": 4, "YBR_PARTIAL_420": 3}

# The Secondary Capture IODs (PS3.3 A.8.1-A.8.5): their SC Equipment module makes Modality Type 3,
# overriding the General Series module (PS3.3 C.8.6.1). dciodvfy agrees.
_SC_CLASSES = {"1.2.840.10008.5.1.4.1.1.7", "1.2.840.10008.5.1.4.1.1.7.1", "1.2.840.10008.5.1.4.1.1.7.2",
               "1.2.840.10008.5.1.4.1.1.7.3", "1.2.840.10008.5.1.4.1.1.7.4"}


def check_instance_bytes(data: bytes) -> list[Finding]:
    """Parse a DICOM file (PS3.10) or bare data set and check it; an object pydicom cannot parse gives
    one ``instance.unreadable`` finding."""
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True)
    except Exception as e:  # pydicom raises many types on bad input; all of them mean "unreadable"
        return [UNREADABLE.finding(f"not parseable as DICOM: {type(e).__name__}: {e}")]
    return check_instance(ds)


def check_instance(ds: Dataset) -> list[Finding]:
    """All findings of the instance rules on one data set (with its ``file_meta`` if it has one)."""
    meta: dict[int, Any] = {}
    top: dict[int, Any] = {}
    file_meta = getattr(ds, "file_meta", None)
    meta_unreadable, meta_syntax = _check_level(file_meta, "", 0, _KEPT_META, meta) if file_meta is not None \
        else ([], [])
    unreadable, syntax = _check_level(ds, "", 0, _KEPT, top)
    findings = meta_unreadable + unreadable + meta_syntax + syntax
    findings += _check_identifiers(top)
    findings += _check_dates(top)
    ts = meta.get(_TRANSFER_SYNTAX)
    # Without file meta pydicom guessed the encoding and says so in is_little_endian.
    big_endian = ts == _BIG_ENDIAN if ts is not None else getattr(ds, "is_little_endian", None) is False
    native = ts is None or isinstance(ts, str) and ts in _NATIVE  # several values: none of them
    pixel_findings = _check_pixel_module(top)
    findings += pixel_findings
    if isinstance(ts, str) and ts in _LOSSY_JPEG and not pixel_findings:
        findings += _check_jpeg_colour(top, ts)
    if native and not pixel_findings:
        findings += _check_pixel_bits(top, big_endian)
    return findings


_TRANSFER_SYNTAX, _MODALITY, _PATIENT_ID = 0x00020010, 0x00080060, 0x00100020
_SOP_CLASS, _BIRTH_DATE, _STUDY_DATE = 0x00080016, 0x00100030, 0x00080020
_SAMPLES_PER_PIXEL, _PHOTOMETRIC, _PLANAR, _FRAMES = 0x00280002, 0x00280004, 0x00280006, 0x00280008
_ROWS, _COLUMNS, _PIXEL_DATA = 0x00280010, 0x00280011, 0x7FE00010
_ALLOCATED, _STORED, _HIGH_BIT, _REPRESENTATION = 0x00280100, 0x00280101, 0x00280102, 0x00280103
# Elements the checks below read whatever their VR (a dozen at most).
_READ_TAGS = {_MODALITY, _PATIENT_ID, _SAMPLES_PER_PIXEL, _PHOTOMETRIC, _PLANAR, _FRAMES, _ROWS, _COLUMNS,
              _ALLOCATED, _STORED, _HIGH_BIT, _REPRESENTATION, _PIXEL_DATA}
_IDENTIFIERS = {_SOP_CLASS: "SOPClassUID", 0x00080018: "SOPInstanceUID", 0x0020000D: "StudyInstanceUID",
                0x0020000E: "SeriesInstanceUID", _MODALITY: "Modality"}
# Whose decoded values the checks below read: of the top level, and of the file meta.
_KEPT = frozenset(_READ_TAGS | set(_IDENTIFIERS) | {_BIRTH_DATE, _STUDY_DATE})
_KEPT_META = frozenset({_TRANSFER_SYNTAX})
# The VRs whose elements are judged or walked; the elements of other VRs are never decoded.
_WALKED_VRS = {"SQ"} | set(CHECKERS)
# The VRs that stand for the dictionary's: implicit VR (None) and UN, which pydicom decodes with it.
_DICTIONARY_VR = {None, "UN"}

# Values every checker accepts, matched on the encoded bytes so that they need no decoding: UIDs of at
# most 64 characters in components without leading zeros (PS3.5 9.1), dates with days 01-28 and years
# 0001-9999, times in range; more of them after backslashes, then padding. Anything else, valid or not,
# is decoded and goes to the checker of :mod:`validators.values`, which says why.
_UID = rb"(?=[0-9.]{1,64}(?![0-9.]))(?:0|[1-9][0-9]*)(?:\.(?:0|[1-9][0-9]*))*"
_DATE = rb"(?!0000)[0-9]{4}(?:0[1-9]|1[0-2])(?:0[1-9]|1[0-9]|2[0-8])"
_TIME = rb"(?:[01][0-9]|2[0-3])(?:[0-5][0-9](?:(?:[0-5][0-9]|60)(?:\.[0-9]{1,6})?)?)?"
_PLAINLY_VALID = {vr: re.compile(rb"(?:%s)(?:\\(?:%s))*[ \0]*" % (pattern, pattern))
                  for vr, pattern in (("UI", _UID), ("DA", _DATE), ("TM", _TIME))}
_NEVER = re.compile(rb"(?!)")  # DT: no plain form here, every value goes to the checker


@lru_cache(maxsize=8192)  # bounded: a hostile object may hold any number of private tags
def _dictionary_vr(tag: int) -> str | None:
    """The dictionary's VR of a tag as pydicom decodes implicit VR with it ("US or SS" unresolved), None
    for tags it does not know, private ones among them."""
    try:
        return dictionary_VR(tag)
    except KeyError:
        return None


@lru_cache(maxsize=8192)
def _name(tag: int) -> str:
    """The keyword of a standard tag (pydicom's ``DataElement.keyword``), else ``(gggg,eeee)``."""
    entry = DicomDictionary.get(tag)
    return entry[4] if entry is not None and entry[4] else format_tag(tag)


def _check_level(ds: Dataset, path: str, depth: int, keep: frozenset[int], kept: dict[int, Any]
                 ) -> tuple[list[Finding], list[Finding]]:
    """The findings of one level of ``ds`` and, through its sequences, of the levels below it down to
    :data:`MAX_DEPTH`: ``instance.unreadable`` for each element of this level that pydicom cannot decode
    (no later check meets it again), and the syntax findings, in the order of the elements, a sequence's
    items' where the sequence is. ``kept`` receives the decoded values of the tags in ``keep`` (absent:
    not there, not decodable, or of a VR never decoded here), as pydicom gives them.

    UI, DA, TM and DT values are judged from their encoded bytes, read as pydicom decodes them, and so
    are the plain values of :data:`_READ_TAGS` (:func:`_plain_value`): decoding them through pydicom and
    building data sets of them cost more than all the checks here. Sequences and the other values of
    :data:`_READ_TAGS` are decoded by pydicom, and stay decoded in ``ds`` for the header checks that read
    them next; other elements are left as read."""
    unreadable: list[Finding] = []
    syntax: list[Finding] = []
    elements = ds._dict  # pydicom 2.4 keeps a level's elements here, keyed by BaseTag (an int)
    # Most elements are of other VRs: one pass in a comprehension sets them aside. Raw elements without a
    # value (empty binary ones, or of a VR pydicom does not know) are decoded by pydicom as soon as their
    # VR is asked for (Dataset.get_item), which the old walk did: they are decoded here too, for the
    # instance.unreadable findings of unknown VRs.
    picked = [(tag, elem) for tag, elem in zip(map(int, elements), elements.values())
              if (vr := elem.VR) in _WALKED_VRS or tag in _READ_TAGS
              or vr in _DICTIONARY_VR and _dictionary_vr(tag) in _WALKED_VRS
              or elem.is_raw and elem.value is None]
    for tag, elem in picked:
        if type(elem) is RawDataElement:
            vr = elem.VR
            decoded_vr = _dictionary_vr(tag) if vr is None or vr == "UN" else vr
            raw = elem.value
            # UN goes through pydicom, which keeps a long UN as UN; so does an element without a value.
            plain = vr != "UN" and raw is not None
            if tag in _READ_TAGS:
                value = _plain_value(raw, decoded_vr, elem.is_little_endian) if plain else _DECODE
                if value is not _DECODE:
                    if tag in keep:
                        kept[tag] = value
                    continue
            elif decoded_vr != "SQ" and plain:
                valid = _PLAINLY_VALID.get(decoded_vr, _NEVER).fullmatch(raw) is not None
                if valid and tag not in keep:
                    continue
                values = _raw_values(raw, decoded_vr)
                if tag in keep:
                    kept[tag] = values[0] if len(values) == 1 else values
                if not valid:
                    syntax += _syntax_findings(path, tag, decoded_vr, values)
                continue
            try:
                elem = element(ds, tag)  # decoded as ds[tag] decodes it (a sequence: its items) here
            except Exception as e:  # any failure is bad data in this element
                where = f"{path}{format_tag(tag)}"
                unreadable.append(UNREADABLE.finding(f"{where} not decodable: {type(e).__name__}: {e}", tag,
                                                     path=where))
                continue
            if raw is None and tag not in _READ_TAGS and \
                    (_dictionary_vr(tag) if elem.VR in _DICTIONARY_VR else elem.VR) not in _WALKED_VRS:
                continue  # decoded only for want of a value
        if tag in keep:
            kept[tag] = elem.value
        if elem.VR in CHECKERS:
            value = elem.value
            syntax += _syntax_findings(path, tag, elem.VR, list(value) if isinstance(value, MultiValue) else [value])
        elif elem.VR == "SQ" and depth < MAX_DEPTH:
            where = f"{path}{_name(tag)}"
            for i, item in enumerate(elem.value):
                below_unreadable, below_syntax = _check_level(item, f"{where}[{i}].", depth + 1, frozenset(), {})
                syntax += below_unreadable + below_syntax
    return unreadable, syntax


# What :func:`_plain_value` returns for an encoding it leaves to pydicom.
_DECODE = object()


def _plain_value(raw: bytes, vr: str | None, little_endian: bool) -> Any:
    """The value pydicom 2.4 decodes from the encoded value of one of :data:`_READ_TAGS` with the VR the
    dictionary gives it, when the encoding is plain: a US of two bytes, Pixel Data written as OB or OW
    (its bytes as they are), CS, LO and IS text in ASCII with one value (IS: digits only); else
    :data:`_DECODE`."""
    if vr == "US":
        return int.from_bytes(raw, "little" if little_endian else "big") if len(raw) == 2 else _DECODE
    if vr in ("OB", "OW"):
        return raw
    if vr in ("CS", "LO", "IS") and raw.isascii() and b"\\" not in raw:
        text = raw.decode("ascii").rstrip(" \0")
        if vr != "IS":
            return text
        if text.isdigit():
            return int(text)
    return _DECODE


def _raw_values(raw: bytes, vr: str) -> list[str]:
    """The values of an encoded UI, DA, TM or DT element as pydicom 2.4 decodes them (as ISO 8859-1,
    trailing spaces and NULs dropped, split at backslashes; UIDs stripped of white space)."""
    text = raw.decode("latin-1").rstrip(" \0")
    return [v.strip() for v in text.split("\\")] if vr == "UI" else text.split("\\")


def _syntax_findings(path: str, tag: int, vr: str, values: list[Any]) -> list[Finding]:
    """Syntax findings for each non-empty value of one UI, DA, TM or DT element."""
    checker, rule = CHECKERS[vr], _SYNTAX_RULES[vr]
    out = []
    for value in values:
        if not value:
            continue
        text = str(value)
        reason = checker(text)
        if reason:
            where = f"{path}{_name(tag)}"
            out.append(rule.finding(f"{where} {format_tag(tag)} {vr} value {text!r}: {reason}", tag, path=where,
                                    value=text))
    return out


def _is_empty(value: Any) -> bool:
    """No value, as pydicom's ``DataElement.is_empty`` (VM 0) judges a decoded value."""
    if value is None:
        return True
    if isinstance(value, (str, bytes, PersonName)):
        return not value
    try:
        return len(value) == 0
    except TypeError:
        return False


def _check_identifiers(top: dict[int, Any]) -> list[Finding]:
    """Type 1 identifiers absent or empty; PatientID (0010,0020) absent (Type 2: empty is fine).
    Modality (0008,0060) is Type 3 in the Secondary Capture IODs."""
    out = []
    sop_class = top.get(_SOP_CLASS)
    for tag, keyword in _IDENTIFIERS.items():
        if tag == _MODALITY and isinstance(sop_class, str) and sop_class in _SC_CLASSES:
            continue
        if tag not in top or _is_empty(top[tag]):
            state = "absent" if tag not in top else "empty"
            out.append(MISSING_IDENTIFIER.finding(f"{keyword} {format_tag(tag)} is {state}; Type 1 in every "
                                                  "composite IOD", tag))
    if _PATIENT_ID not in top:
        out.append(MISSING_PATIENT_ID.finding("PatientID (0010,0020) is absent; Type 2, so it must be present "
                                              "even if empty (PS3.3 C.7.1.1)", _PATIENT_ID))
    return out


def _check_dates(top: dict[int, Any]) -> list[Finding]:
    """PatientBirthDate (0010,0030) after StudyDate (0008,0020), when both are single valid dates."""
    birth, study = top.get(_BIRTH_DATE), top.get(_STUDY_DATE)
    if not (isinstance(birth, str) and isinstance(study, str) and birth and study):
        return []
    check_da = CHECKERS["DA"]
    if check_da(birth) or check_da(study):
        return []
    # YYYYMMDD strings order as the dates do.
    if birth.rstrip(" ") > study.rstrip(" "):
        return [BIRTH_AFTER_STUDY.finding(f"PatientBirthDate {birth} is after StudyDate {study}", _BIRTH_DATE,
                                          study_date=study)]
    return []


def _int(top: dict[int, Any], tag: int) -> int | None:
    """The single integer value of an attribute, or None if absent, empty or not one integer."""
    value = top.get(tag)
    return value if isinstance(value, int) else None


def _native_length(top: dict[int, Any]) -> int | None:
    """The bytes of native Pixel Data (7FE0,0010) that the Image Pixel module implies (PS3.5 8.1.1 and
    8.2: rows x columns x samples x frames x Bits Allocated, fewer samples for subsampled YBR, rounded up
    to whole bytes for 1-bit data), or None when NumberOfFrames (0028,0008) is not a positive integer.
    Assumes the module attributes are present, positive and consistent."""
    frames = top.get(_FRAMES, 1)
    if not isinstance(frames, int) or frames < 1:
        return None
    half_samples = _STORED_HALF_SAMPLES.get(top[_PHOTOMETRIC], 2 * top[_SAMPLES_PER_PIXEL])
    bits = top[_ROWS] * top[_COLUMNS] * half_samples * frames * top[_ALLOCATED] // 2
    return (bits + 7) // 8


def _check_pixel_module(top: dict[int, Any]) -> list[Finding]:
    """Consistency of the Image Pixel module (PS3.3 C.7.6.3) when Pixel Data (7FE0,0010) is present.

    Each of Rows (0028,0010), Columns (0028,0011), BitsAllocated (0028,0100), BitsStored (0028,0101),
    HighBit (0028,0102), PixelRepresentation (0028,0103), SamplesPerPixel (0028,0002) one integer;
    Bits Allocated 1 or a multiple of 8 and 1 <= Bits Stored <= Bits Allocated, High Bit = Bits Stored - 1
    (PS3.5 8.1.1); Pixel Representation 0 or 1; Photometric Interpretation (0028,0004) one of
    C.7.6.3.1.2 with its number of samples; Planar Configuration (0028,0006) 0 or 1 when Samples per
    Pixel > 1 (Type 1C). The length of Pixel Data is checked at ingest (``ingest.pixel-data-short``).
    """
    if _PIXEL_DATA not in top:
        return []
    out = []

    def bad(keyword: str, message: str) -> None:
        out.append(PIXEL_MODULE.finding(f"{keyword}: {message}", pydicom.datadict.tag_for_keyword(keyword)))

    attrs = {}
    for keyword, tag in (("Rows", _ROWS), ("Columns", _COLUMNS), ("SamplesPerPixel", _SAMPLES_PER_PIXEL),
                         ("BitsAllocated", _ALLOCATED), ("BitsStored", _STORED), ("HighBit", _HIGH_BIT),
                         ("PixelRepresentation", _REPRESENTATION)):
        attrs[keyword] = _int(top, tag)
        if attrs[keyword] is None:
            bad(keyword, "absent, empty or not one integer; Type 1 with Pixel Data (PS3.3 C.7.6.3)")
    rows, columns, samples = attrs["Rows"], attrs["Columns"], attrs["SamplesPerPixel"]
    allocated, stored, high, representation = (attrs["BitsAllocated"], attrs["BitsStored"], attrs["HighBit"],
                                               attrs["PixelRepresentation"])
    for keyword, value in (("Rows", rows), ("Columns", columns), ("SamplesPerPixel", samples)):
        if value is not None and value < 1:
            bad(keyword, f"{value}, must be at least 1 (PS3.3 C.7.6.3)")
    if allocated is not None and not (allocated == 1 or (allocated > 0 and allocated % 8 == 0)):
        bad("BitsAllocated", f"{allocated}, must be 1 or a multiple of 8 (PS3.5 8.1.1)")
    if stored is not None and allocated is not None and not 1 <= stored <= allocated:
        bad("BitsStored", f"{stored}, must be in 1..BitsAllocated {allocated} (PS3.5 8.1.1)")
    if high is not None and stored is not None and high != stored - 1:
        bad("HighBit", f"{high}, must be BitsStored - 1 = {stored - 1} (PS3.5 8.1.1)")
    if representation is not None and representation not in (0, 1):
        bad("PixelRepresentation", f"{representation}, must be 0 (unsigned) or 1 (two's complement) "
                                   "(PS3.3 C.7.6.3.1.3)")
    photometric = top.get(_PHOTOMETRIC)
    if not isinstance(photometric, str) or photometric not in _SAMPLES:
        bad("PhotometricInterpretation", f"{photometric!r} is not one of PS3.3 C.7.6.3.1.2")
    elif samples is not None and samples != _SAMPLES[photometric]:
        bad("PhotometricInterpretation", f"{photometric} needs SamplesPerPixel {_SAMPLES[photometric]}, "
                                         f"not {samples} (PS3.3 C.7.6.3.1.2)")
    if samples is not None and samples > 1 and top.get(_PLANAR) not in (0, 1):
        bad("PlanarConfiguration", f"{top.get(_PLANAR)!r} with SamplesPerPixel {samples}; "
                                   "Type 1C, must be 0 or 1 (PS3.3 C.7.6.3.1.3)")
    return out


def _check_jpeg_colour(top: dict[int, Any], transfer_syntax: str) -> list[Finding]:
    """``instance.jpeg-photometric``: colour data in a lossy JPEG transfer syntax declares YBR_FULL_422 or
    RGB (PS3.5 8.2.1); the Image Pixel module must be consistent already. Whether the declaration matches
    the JPEG stream's own markers (Adobe APP14, component ids) is not checked: that needs the codestream."""
    photometric = top.get(_PHOTOMETRIC)
    if _PIXEL_DATA not in top or top.get(_SAMPLES_PER_PIXEL) != 3 or photometric in _LOSSY_JPEG_COLOUR:
        return []
    return [JPEG_COLOUR.finding(f"PhotometricInterpretation {photometric} with lossy JPEG ({transfer_syntax}); "
                                f"PS3.5 8.2.1 allows {' or '.join(_LOSSY_JPEG_COLOUR)}", _PHOTOMETRIC,
                                value=photometric)]


def _check_pixel_bits(top: dict[int, Any], big_endian: bool) -> list[Finding]:
    """``instance.pixel-bits`` on native integer pixel data with Bits Allocated 8, 16 or 32 and Bits
    Stored below it; the module must be consistent already (:func:`_check_pixel_module`). Pixel Data
    shorter than the module implies is skipped: ``ingest.pixel-data-short`` reports it."""
    if _PIXEL_DATA not in top:
        return []
    allocated, stored, pixels = top[_ALLOCATED], top[_STORED], top[_PIXEL_DATA]
    if not isinstance(pixels, bytes):  # empty (pydicom gives None) or written with a VR that is not OB/OW
        return []
    needed = _native_length(top)
    if needed is None or len(pixels) < needed or allocated not in (8, 16, 32) or stored == allocated:
        return []
    signed = top[_REPRESENTATION] == 1
    result = pixel_bits(memoryview(pixels)[:needed], allocated, stored, signed, big_endian)
    if not result.out_of_range:
        return []
    kind = "outside the two's complement range of" if signed else "with bits set above HighBit for"
    return [PIXEL_BITS.finding(
        f"{result.out_of_range} of {result.total} samples ({result.fraction:.2%}) {kind} BitsStored {stored}; "
        f"values {result.minimum}..{result.maximum}", _PIXEL_DATA,
        count=result.out_of_range, fraction=result.fraction, minimum=result.minimum, maximum=result.maximum)]
