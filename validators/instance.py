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

from io import BytesIO
from itertools import chain
from typing import Iterator

import pydicom
from pydicom.dataelem import DataElement
from pydicom.datadict import dictionary_VR
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue
from pydicom.tag import BaseTag

from .findings import Action, Finding, Severity, format_tag
from .pixelbits import pixel_bits
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

# Native YBR_FULL_422 and YBR_PARTIAL_422 store Cb and Cr for every second pixel only, so two samples
# per pixel, not three; YBR_PARTIAL_420 one and a half (PS3.3 C.7.6.3.1.2). In halves of a sample:
_STORED_HALF_SAMPLES = {"YBR_FULL_422": 4, "YBR_PARTIAL_422": 4, "YBR_PARTIAL_420": 3}

_IDENTIFIERS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "Modality")
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
    findings: list[Finding] = []
    meta = _decodable(getattr(ds, "file_meta", Dataset()), findings, "")
    top = _decodable(ds, findings, "")
    for where, elem in chain(_walk(meta, findings), _walk(top, findings)):
        findings += _check_values(where, elem)
    findings += _check_identifiers(top)
    findings += _check_dates(top)
    ts = meta.get("TransferSyntaxUID")
    # Without file meta pydicom guessed the encoding and says so in is_little_endian.
    big_endian = ts == _BIG_ENDIAN if ts is not None else getattr(ds, "is_little_endian", None) is False
    native = ts is None or ts in _NATIVE
    pixel_findings = _check_pixel_module(top)
    findings += pixel_findings
    if native and not pixel_findings:
        findings += _check_pixel_bits(top, big_endian)
    return findings


# Elements the checks below read by keyword, whatever their VR.
_READ_TAGS = {0x00080060, 0x00100020, 0x00280002, 0x00280004, 0x00280006, 0x00280008, 0x00280010, 0x00280011,
              0x00280100, 0x00280101, 0x00280102, 0x00280103, 0x7FE00010}
_CHECKED_VRS = set(CHECKERS) | {"SQ"}


def _raw_vr(ds: Dataset, tag: BaseTag) -> str | None:
    """The VR of an element without decoding its value: the explicit VR as read, else (implicit VR, or
    UN, which pydicom decodes with the dictionary's VR) the dictionary's."""
    vr = ds.get_item(tag).VR
    if vr in (None, "UN"):
        try:
            vr = dictionary_VR(tag)
        except KeyError:
            return None
    return vr


def _decodable(ds: Dataset, findings: list[Finding], path: str) -> Dataset:
    """The elements of one level of ``ds`` that the checks read (UI, DA, TM, DT, SQ and the few named in
    :data:`_READ_TAGS`) and that pydicom decodes, as a new data set sharing them; each one that fails
    becomes an ``instance.unreadable`` finding, so that no later check meets it again. Other elements
    are left undecoded: decoding all of them would cost more than every check here (about 2 ms of a
    512x512 CT's 2.5)."""
    out = Dataset()
    for tag in list(ds.keys()):
        try:
            if tag not in _READ_TAGS and _raw_vr(ds, tag) not in _CHECKED_VRS:
                continue
            out.add(ds[tag])  # pydicom decodes the raw element here
        except Exception as e:  # any failure is bad data in this element
            findings.append(UNREADABLE.finding(f"{path}{format_tag(tag)} not decodable: {type(e).__name__}: {e}",
                                               tag, path=f"{path}{format_tag(tag)}"))
    return out


def _walk(ds: Dataset, findings: list[Finding], path: str = "", depth: int = 0
          ) -> Iterator[tuple[str, DataElement]]:
    """Every element of decoded ``ds`` and of its sequence items down to :data:`MAX_DEPTH`, with its path
    such as ``ReferencedSeriesSequence[0].SeriesInstanceUID``."""
    for elem in ds.values():
        where = f"{path}{elem.keyword or format_tag(elem.tag)}"
        yield where, elem
        if elem.VR == "SQ" and depth < MAX_DEPTH:
            for i, item in enumerate(elem.value):
                prefix = f"{where}[{i}]."
                yield from _walk(_decodable(item, findings, prefix), findings, prefix, depth + 1)


def _check_values(where: str, elem: DataElement) -> list[Finding]:
    """Syntax findings for each non-empty value of a UI, DA, TM or DT element."""
    checker = CHECKERS.get(elem.VR)
    if checker is None or elem.is_empty:
        return []
    values = elem.value if isinstance(elem.value, MultiValue) else [elem.value]
    rule = _SYNTAX_RULES[elem.VR]
    out = []
    for value in values:
        reason = checker(str(value)) if value else None
        if reason:
            out.append(rule.finding(f"{where} {format_tag(elem.tag)} {elem.VR} value {str(value)!r}: {reason}",
                                    elem.tag, path=where, value=str(value)))
    return out


def _check_identifiers(ds: Dataset) -> list[Finding]:
    """Type 1 identifiers absent or empty; PatientID (0010,0020) absent (Type 2: empty is fine).
    Modality (0008,0060) is Type 3 in the Secondary Capture IODs."""
    out = []
    for keyword in _IDENTIFIERS:
        if keyword == "Modality" and ds.get("SOPClassUID") in _SC_CLASSES:
            continue
        elem = ds[keyword] if keyword in ds else None
        if elem is None or elem.is_empty:
            tag = pydicom.datadict.tag_for_keyword(keyword)
            state = "absent" if elem is None else "empty"
            out.append(MISSING_IDENTIFIER.finding(f"{keyword} {format_tag(tag)} is {state}; Type 1 in every "
                                                  "composite IOD", tag))
    if "PatientID" not in ds:
        out.append(MISSING_PATIENT_ID.finding("PatientID (0010,0020) is absent; Type 2, so it must be present "
                                              "even if empty (PS3.3 C.7.1.1)", 0x00100020))
    return out


def _check_dates(ds: Dataset) -> list[Finding]:
    """PatientBirthDate (0010,0030) after StudyDate (0008,0020), when both are single valid dates."""
    birth, study = ds.get("PatientBirthDate"), ds.get("StudyDate")
    if not (isinstance(birth, str) and isinstance(study, str) and birth and study):
        return []
    check_da = CHECKERS["DA"]
    if check_da(birth) or check_da(study):
        return []
    # YYYYMMDD strings order as the dates do.
    if birth.rstrip(" ") > study.rstrip(" "):
        return [BIRTH_AFTER_STUDY.finding(f"PatientBirthDate {birth} is after StudyDate {study}", 0x00100030,
                                          study_date=study)]
    return []


def _int(ds: Dataset, keyword: str) -> int | None:
    """The single integer value of an attribute, or None if absent, empty or not one integer."""
    value = ds.get(keyword)
    return value if isinstance(value, int) else None


def _native_length(ds: Dataset) -> int | None:
    """The bytes of native Pixel Data (7FE0,0010) that the Image Pixel module implies (PS3.5 8.1.1 and
    8.2: rows x columns x samples x frames x Bits Allocated, fewer samples for subsampled YBR, rounded up
    to whole bytes for 1-bit data), or None when NumberOfFrames (0028,0008) is not a positive integer.
    Assumes the module attributes are present, positive and consistent."""
    frames = ds.get("NumberOfFrames", 1)
    if not isinstance(frames, int) or frames < 1:
        return None
    half_samples = _STORED_HALF_SAMPLES.get(ds.PhotometricInterpretation, 2 * ds.SamplesPerPixel)
    bits = ds.Rows * ds.Columns * half_samples * frames * ds.BitsAllocated // 2
    return (bits + 7) // 8


def _check_pixel_module(ds: Dataset) -> list[Finding]:
    """Consistency of the Image Pixel module (PS3.3 C.7.6.3) when Pixel Data (7FE0,0010) is present.

    Each of Rows (0028,0010), Columns (0028,0011), BitsAllocated (0028,0100), BitsStored (0028,0101),
    HighBit (0028,0102), PixelRepresentation (0028,0103), SamplesPerPixel (0028,0002) one integer;
    Bits Allocated 1 or a multiple of 8 and 1 <= Bits Stored <= Bits Allocated, High Bit = Bits Stored - 1
    (PS3.5 8.1.1); Pixel Representation 0 or 1; Photometric Interpretation (0028,0004) one of
    C.7.6.3.1.2 with its number of samples; Planar Configuration (0028,0006) 0 or 1 when Samples per
    Pixel > 1 (Type 1C). The length of Pixel Data is checked at ingest (``ingest.pixel-data-short``).
    """
    if "PixelData" not in ds:
        return []
    out = []

    def bad(keyword: str, message: str) -> None:
        out.append(PIXEL_MODULE.finding(f"{keyword}: {message}", pydicom.datadict.tag_for_keyword(keyword)))

    attrs = {}
    for keyword in ("Rows", "Columns", "SamplesPerPixel", "BitsAllocated", "BitsStored", "HighBit",
                    "PixelRepresentation"):
        attrs[keyword] = _int(ds, keyword)
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
    photometric = ds.get("PhotometricInterpretation")
    if not isinstance(photometric, str) or photometric not in _SAMPLES:
        bad("PhotometricInterpretation", f"{photometric!r} is not one of PS3.3 C.7.6.3.1.2")
    elif samples is not None and samples != _SAMPLES[photometric]:
        bad("PhotometricInterpretation", f"{photometric} needs SamplesPerPixel {_SAMPLES[photometric]}, "
                                         f"not {samples} (PS3.3 C.7.6.3.1.2)")
    if samples is not None and samples > 1 and ds.get("PlanarConfiguration") not in (0, 1):
        bad("PlanarConfiguration", f"{ds.get('PlanarConfiguration')!r} with SamplesPerPixel {samples}; "
                                   "Type 1C, must be 0 or 1 (PS3.3 C.7.6.3.1.3)")
    return out


def _check_pixel_bits(ds: Dataset, big_endian: bool) -> list[Finding]:
    """``instance.pixel-bits`` on native integer pixel data with Bits Allocated 8, 16 or 32 and Bits
    Stored below it; the module must be consistent already (:func:`_check_pixel_module`). Pixel Data
    shorter than the module implies is skipped: ``ingest.pixel-data-short`` reports it."""
    if "PixelData" not in ds:
        return []
    allocated, stored = ds.BitsAllocated, ds.BitsStored
    needed = _native_length(ds)
    if needed is None or len(ds.PixelData) < needed or allocated not in (8, 16, 32) or stored == allocated:
        return []
    signed = ds.PixelRepresentation == 1
    result = pixel_bits(memoryview(ds.PixelData)[:needed], allocated, stored, signed, big_endian)
    if not result.out_of_range:
        return []
    kind = "outside the two's complement range of" if signed else "with bits set above HighBit for"
    return [PIXEL_BITS.finding(
        f"{result.out_of_range} of {result.total} samples ({result.fraction:.2%}) {kind} BitsStored {stored}; "
        f"values {result.minimum}..{result.maximum}", 0x7FE00010,
        count=result.out_of_range, fraction=result.fraction, minimum=result.minimum, maximum=result.maximum)]
