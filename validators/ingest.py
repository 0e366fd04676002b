"""Cheap, bounded checks on the raw bytes of a DICOM Part 10 file, run before Orthanc stores it.

:func:`check_ingest` reads the preamble and the File Meta Information (PS3.10 7.1), then walks the data
set's element headers with :mod:`validators.dicomstream` up to Pixel Data, whose value it never reads.
Its work is bounded on any input: at most ``_MAX_ELEMENTS`` headers, sequences at most ``max_nesting``
deep, at most ``_INFLATE_STEPS[-1]`` bytes inflated for a deflated data set; and it never raises (a bug
of ours becomes an ``ingest.checker-error`` finding).

What it does not cover: anything that needs the values (these are for the validators that run on the
stored instance), elements after Pixel Data, and the pixel length of deflated data sets.
"""

from __future__ import annotations

import re
import zlib
from dataclasses import dataclass

from . import dicomstream, rules
from .dicomstream import (EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, PIXEL_TAGS, UNDEFINED_LENGTH, Encoding, Header,
                          Problem, Walk, guess_encoding, read_header, walk)
from .findings import Action, Finding, Severity, format_tag

PREAMBLE_EXECUTABLE = rules.define(
    "ingest.preamble-executable", Severity.CRITICAL, Action.REJECT,
    "The 128-byte preamble (PS3.10 7.1) starts with the signature of an executable, archive or script "
    "(PE \"MZ\", ELF, Mach-O, ZIP, PDF, shebang, OLE, gzip, RAR, 7z, HTML/PHP/SVG...). Such a file is a "
    "polyglot that runs or opens as that other kind (CVE-2019-11687, \"PE/DICOM\"); no imaging use needs it.")
PREAMBLE_CONTENT = rules.define(
    "ingest.preamble-content", Severity.INFO, Action.REPORT,
    "The preamble holds bytes other than zeros or a TIFF header. PS3.10 7.1 lets applications use it, so "
    "this is only reported; a TIFF header (\"II*\\0\", \"MM\\0*\"), the use PS3.10 names, is not.")
MISSING_DICM = rules.define(
    "ingest.missing-dicm", Severity.CRITICAL, Action.REJECT,
    "No \"DICM\" prefix at byte 128 (PS3.10 7.1), and the file does not begin with a File Meta group or "
    "a data set (group 0008) either: not DICOM. The bytes are still walked as a data set to list any "
    "identifiers in the quarantine.")
NO_PREAMBLE = rules.define(
    "ingest.no-preamble", Severity.WARNING, Action.LABEL,
    "No preamble and \"DICM\" prefix, but the file begins with a File Meta group or a data set: the "
    "bare form of ACR-NEMA and of PS3.10 before 1993, still found in old archives. PS3.10 7.1 requires "
    "the prefix; DCMTK, and so Orthanc, read such files by guessing the encoding, and without a preamble "
    "they cannot be polyglots, so they are labelled, not rejected.")
FILEMETA_GROUP_LENGTH = rules.define(
    "ingest.filemeta-group-length", Severity.ERROR, Action.LABEL,
    "FileMetaInformationGroupLength (0002,0000) is missing or is not the length of the rest of group 0002 "
    "(PS3.10 7.1). Readers find the end of the group by its tags anyway, so the file stays readable.")
FILEMETA_INCOMPLETE = rules.define(
    "ingest.filemeta-incomplete", Severity.WARNING, Action.LABEL,
    "A Type 1 element of the File Meta Information (PS3.10 Table 7.1-1) is missing or empty: "
    "FileMetaInformationVersion (0002,0001), MediaStorageSOPClassUID (0002,0002), "
    "MediaStorageSOPInstanceUID (0002,0003) or ImplementationClassUID (0002,0012).")
TRANSFER_SYNTAX = rules.define(
    "ingest.filemeta-transfer-syntax", Severity.CRITICAL, Action.REJECT,
    "TransferSyntaxUID (0002,0010) is missing or empty, or the data set is not encoded as it says (the "
    "first element's VR bytes contradict explicit or implicit VR, PS3.5 7.1; a deflated data set does "
    "not inflate). Readers then guess or misread every length, which is how parsers get confused.")
TRANSFER_SYNTAX_UNKNOWN = rules.define(
    "ingest.transfer-syntax-unknown", Severity.WARNING, Action.LABEL,
    "TransferSyntaxUID (0002,0010) is not one of PS3.6 Table A-1: a private or mistyped syntax that "
    "other systems will not decode. The data set is walked in the encoding its first element suggests.")
SOP_INSTANCE_MISMATCH = rules.define(
    "ingest.sop-instance-mismatch", Severity.ERROR, Action.LABEL,
    "MediaStorageSOPInstanceUID (0002,0003) differs from SOPInstanceUID (0008,0018) (PS3.10 7.1 requires "
    "them equal). Labelled, not rejected: Orthanc indexes the data set's UID, which is self-consistent, and "
    "the usual cause is a tool that rewrote one of them (de-identification), not an attack.")
SOP_CLASS_MISMATCH = rules.define(
    "ingest.sop-class-mismatch", Severity.ERROR, Action.LABEL,
    "MediaStorageSOPClassUID (0002,0002) differs from SOPClassUID (0008,0016) (PS3.10 7.1). Labelled for "
    "the same reason as ingest.sop-instance-mismatch; routing on the meta header would be misled.")
MISSING_SOP_UID = rules.define(
    "ingest.missing-sop-uid", Severity.CRITICAL, Action.REJECT,
    "SOPClassUID (0008,0016) or SOPInstanceUID (0008,0018) is absent or empty in the data set (Type 1, "
    "PS3.3 C.12.1): the object cannot be identified, indexed or retrieved.")
PIXEL_DATA_SHORT = rules.define(
    "ingest.pixel-data-short", Severity.CRITICAL, Action.REJECT,
    "Native Pixel Data (7FE0,0010), Float (7FE0,0008) or Double Float Pixel Data (7FE0,0009) is shorter "
    "than Rows (0028,0010) x Columns (0028,0011) x SamplesPerPixel (0028,0002) x BitsAllocated (0028,0100) "
    "x NumberOfFrames (0028,0008) bits (PS3.5 8.1.1, PS3.3 C.7.6.3). Viewers that trust the description "
    "read past the buffer (the Orthanc \"oob-monochrome\" security reports).")
PIXEL_DATA_LONG = rules.define(
    "ingest.pixel-data-long", Severity.WARNING, Action.LABEL,
    "Native pixel data is longer than its description needs, beyond the one pad byte to even length "
    "(PS3.5 8.1.1): harmless to read but a sign of a wrong Rows, Columns or NumberOfFrames.")
TRUNCATED_RULE = rules.define(
    "ingest.truncated", Severity.CRITICAL, Action.REJECT,
    "The data ends inside an element header or value, including Pixel Data, or a deflated data set is cut "
    "or corrupt (PS3.5 7.1): the object is incomplete and no reader can rely on any length after the cut.")
MALFORMED_RULE = rules.define(
    "ingest.malformed", Severity.ERROR, Action.LABEL,
    "The encoding breaks PS3.5 (7.1, 7.5, 6.2): an invalid explicit VR, a misplaced item or delimiter, a "
    "value running past its defined-length sequence or item, an undefined length where it is not allowed, "
    "a missing delimitation item at the end. Labelled, not rejected: many real files are wrong this way and "
    "still read, and Orthanc itself refuses what DCMTK cannot parse.")
ODD_LENGTH_RULE = rules.define(
    "ingest.odd-length", Severity.WARNING, Action.LABEL,
    "Value lengths must be even (PS3.5 7.1.1); odd ones come from writers that forget the pad byte and are "
    "read by most toolkits. One finding per file, naming the first element.")
# The deepest nesting of sequences accepted by default (real IODs need under 10).
MAX_NESTING = 32
NESTING_DEPTH = rules.define(
    "ingest.nesting-depth", Severity.CRITICAL, Action.REJECT,
    "Sequences (PS3.5 7.5) nested deeper than the configured limit (default 32; real IODs need under 10). "
    "Recursive parsers exhaust their stack on such files (the Orthanc \"Deeply-Nested-Sequence\" report).")
WALK_LIMIT = rules.define(
    "ingest.walk-limit", Severity.INFO, Action.REPORT,
    "The ingest walk stopped at its budget (element headers read, bytes inflated) before the end of the "
    "header; what follows was not checked at ingest. Reported only: large structured reports and "
    "deflated objects with large headers are legitimate.")
TOO_LARGE = rules.define(
    "ingest.too-large", Severity.CRITICAL, Action.REJECT,
    "The object is larger, or declares more frames or more pixel bytes once decoded, than the configured "
    "limits (Sentinel.MaxObjectBytes, Sentinel.MaxFrames, Sentinel.MaxDecodedPixelBytes): kept in "
    "quarantine instead of being decoded, since decoding it would exhaust the memory of Orthanc and of "
    "every viewer.")
CHECKER_ERROR = rules.define(
    "ingest.checker-error", Severity.CRITICAL, Action.REJECT,
    "The ingest check itself failed on this input (a bug in Sentinel). On Orthanc's ingest path the "
    "setting FailOpen decides (store it, or quarantine it); elsewhere it rejects: an input no check "
    "foresaw is exactly what a hostile file looks like, and quarantine can be released by hand.")

_WALK_RULES = {dicomstream.TRUNCATED: TRUNCATED_RULE, dicomstream.MALFORMED: MALFORMED_RULE,
               dicomstream.BAD_VR: MALFORMED_RULE, dicomstream.ODD_LENGTH: ODD_LENGTH_RULE,
               dicomstream.NESTING: NESTING_DEPTH, dicomstream.LIMIT: WALK_LIMIT}

# Budgets. A typical header has 100-300 elements; 10,000 bounds the walk to a few milliseconds.
_MAX_ELEMENTS = 10_000
# A deflated data set is inflated in growing steps, each only if the header is longer than the last.
_INFLATE_STEPS = (16 * 1024, 256 * 1024, 4 * 1024 * 1024)
_INFLATE_CHUNK = 64 * 1024

_PREAMBLE = 128
_META_START = _PREAMBLE + 4
_GROUP_LENGTH_ELEMENT = 12   # (0002,0000) UL: 8-byte header and a 4-byte value

# File Meta Information, PS3.10 Table 7.1-1.
_GROUP_LENGTH = 0x00020000
_META_VERSION = 0x00020001
_MEDIA_SOP_CLASS = 0x00020002
_MEDIA_SOP_INSTANCE = 0x00020003
_TRANSFER_SYNTAX = 0x00020010
_IMPLEMENTATION_CLASS = 0x00020012
_META_TAGS = frozenset({_GROUP_LENGTH, _META_VERSION, _MEDIA_SOP_CLASS, _MEDIA_SOP_INSTANCE, _TRANSFER_SYNTAX,
                        _IMPLEMENTATION_CLASS})
_META_TYPE1 = {_META_VERSION: "FileMetaInformationVersion", _MEDIA_SOP_CLASS: "MediaStorageSOPClassUID",
               _MEDIA_SOP_INSTANCE: "MediaStorageSOPInstanceUID", _IMPLEMENTATION_CLASS: "ImplementationClassUID"}

# Data set elements read at ingest.
_SOP_CLASS = 0x00080016
_SOP_INSTANCE = 0x00080018
_SAMPLES_PER_PIXEL = 0x00280002
_PHOTOMETRIC = 0x00280004
_NUMBER_OF_FRAMES = 0x00280008
_ROWS = 0x00280010
_COLUMNS = 0x00280011
_BITS_ALLOCATED = 0x00280100
_HEADER_TAGS = {_SOP_CLASS: "SOPClassUID", _SOP_INSTANCE: "SOPInstanceUID", 0x0020000D: "StudyInstanceUID",
                0x0020000E: "SeriesInstanceUID", 0x00100020: "PatientID", 0x00080060: "Modality"}
_DATASET_TAGS = frozenset(_HEADER_TAGS) | {_SAMPLES_PER_PIXEL, _PHOTOMETRIC, _NUMBER_OF_FRAMES, _ROWS, _COLUMNS,
                                            _BITS_ALLOCATED}
# Photometric interpretations whose two chroma samples are shared by two pixels (PS3.3 C.7.6.3.1.2), so
# that native data holds 2, not 3, samples per pixel.
_SUBSAMPLED_422 = frozenset({"YBR_FULL_422", "YBR_PARTIAL_422"})
_META_HEADER_TAGS = {_TRANSFER_SYNTAX: "TransferSyntaxUID", _MEDIA_SOP_INSTANCE: "MediaStorageSOPInstanceUID"}
_META_GROUP = range(0x00020000, 0x00030000)
# The walk stops at the first pixel data element, Float Pixel Data (7FE0,0008) being the lowest.
_BEFORE_PIXELS = range(0, min(PIXEL_TAGS))

# Transfer syntaxes of PS3.6 Table A-1 by how their data set is encoded (PS3.5 10 and Annex A).
_IMPLICIT_VR = "1.2.840.10008.1.2"
_EXPLICIT_VR_LE = "1.2.840.10008.1.2.1"
_EXPLICIT_VR_BE = "1.2.840.10008.1.2.2"
_PAPYRUS_IMPLICIT = "1.2.840.10008.1.20"
_NATIVE = {_IMPLICIT_VR: IMPLICIT_LE, _PAPYRUS_IMPLICIT: IMPLICIT_LE, _EXPLICIT_VR_LE: EXPLICIT_LE,
           _EXPLICIT_VR_BE: EXPLICIT_BE}
# Deflated Explicit VR LE and the two JPIP Referenced Deflate syntaxes (PS3.5 A.5, A.7, A.9).
_DEFLATED = frozenset({"1.2.840.10008.1.2.1.99", "1.2.840.10008.1.2.4.95", "1.2.840.10008.1.2.4.205"})
# Encapsulated pixel data in an Explicit VR LE data set (PS3.5 A.4): JPEG, JPEG-LS, JPEG 2000, MPEG,
# HEVC, JPEG XL, HTJ2K, JPIP, RLE, Deflated Image Frame Compression, Encapsulated Uncompressed and others.
_ENCAPSULATED = frozenset(
    [f"1.2.840.10008.1.2.4.{n}" for n in (
        "50 51 52 53 54 55 56 57 58 59 60 61 62 63 64 65 66 70 80 81 90 91 92 93 94 "
        "100 100.1 101 101.1 102 102.1 103 103.1 104 104.1 105 105.1 106 106.1 107 108 "
        "110 111 112 201 202 203 204").split()]
    + ["1.2.840.10008.1.2.1.98", "1.2.840.10008.1.2.5", "1.2.840.10008.1.2.6.1", "1.2.840.10008.1.2.6.2",
       "1.2.840.10008.1.2.7.1", "1.2.840.10008.1.2.7.2", "1.2.840.10008.1.2.7.3", "1.2.840.10008.1.2.8.1"])

# Preamble signatures of things that execute or unpack (file(1), the formats' own specifications).
_BINARY_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"MZ", "Windows/DOS executable (PE, \"MZ\")"),
    (b"\x7fELF", "ELF executable"),
    (b"\xfe\xed\xfa\xce", "Mach-O executable"),
    (b"\xfe\xed\xfa\xcf", "Mach-O executable"),
    (b"\xce\xfa\xed\xfe", "Mach-O executable"),
    (b"\xcf\xfa\xed\xfe", "Mach-O executable"),
    (b"\xca\xfe\xba\xbe", "Mach-O universal binary or Java class file"),
    (b"\x00asm", "WebAssembly module"),
    (b"PK\x03\x04", "ZIP archive (also JAR, APK, Office document)"),
    (b"PK\x05\x06", "ZIP archive"),
    (b"PK\x07\x08", "ZIP archive"),
    (b"%PDF", "PDF document"),
    (b"#!", "script (shebang \"#!\")"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE compound file (MS Office, MSI installer)"),
    (b"L\x00\x00\x00\x01\x14\x02\x00", "Windows shortcut (LNK)"),
    (b"MSCF", "Microsoft cabinet archive"),
    (b"\x1f\x8b", "gzip archive"),
    (b"Rar!\x1a\x07", "RAR archive"),
    (b"7z\xbc\xaf\x27\x1c", "7-Zip archive"),
    (b"BZh", "bzip2 archive"),
    (b"\xfd7zXZ\x00", "xz archive"),
    (b"\x28\xb5\x2f\xfd", "Zstandard archive"),
)
# Text signatures, compared case-insensitively after leading white space and a UTF-8 byte order mark,
# as browsers and interpreters sniff them.
_TEXT_SIGNATURES: tuple[tuple[bytes, str], ...] = (
    (b"<html", "HTML document"),
    (b"<!doctype html", "HTML document"),
    (b"<script", "HTML script"),
    (b"<?php", "PHP script"),
    (b"<svg", "SVG document (may carry script)"),
    (b"<?xml", "XML document (may be SVG or XHTML with script)"),
    (b"@echo off", "Windows batch script"),
)
_TIFF_HEADERS = (b"II*\x00", b"MM\x00*")


@dataclass(frozen=True)
class Limits:
    """Resource limits on what may be stored (None: no limit): frames, pixel bytes once decoded, and the
    size of the object itself (an upload sent in chunks declares no size the HTTP filter could refuse)."""

    max_frames: int | None = None
    max_decoded_bytes: int | None = None
    max_object_bytes: int | None = None


@dataclass(frozen=True)
class IngestCheck:
    """The findings of :func:`check_ingest` and the identifiers it could read, keyword -> value."""

    findings: list[Finding]
    header: dict[str, str]


def check_ingest(data: bytes, max_nesting: int = MAX_NESTING, limits: Limits = Limits()) -> IngestCheck:
    """Check the raw bytes of a DICOM Part 10 file before it is stored; never raises.

    ``header`` holds what could be read of SOPClassUID (0008,0016), SOPInstanceUID (0008,0018),
    StudyInstanceUID (0020,000D), SeriesInstanceUID (0020,000E), PatientID (0010,0020), Modality
    (0008,0060), TransferSyntaxUID (0002,0010) and MediaStorageSOPInstanceUID (0002,0003).
    """
    findings: list[Finding] = []
    header: dict[str, str] = {}
    try:
        _check(data if isinstance(data, bytes) else bytes(data), max_nesting, limits, findings, header)
    except Exception as e:  # noqa: BLE001 - a bug of ours must still give an answer, see CHECKER_ERROR
        findings.append(CHECKER_ERROR.finding(f"the ingest check failed: {type(e).__name__}: {e}"))
    return IngestCheck(findings, header)


def _check(buf: bytes, max_nesting: int, limits: Limits, findings: list[Finding], header: dict[str, str]) -> None:
    if limits.max_object_bytes is not None and len(buf) > limits.max_object_bytes:
        findings.append(TOO_LARGE.finding(f"{len(buf)} bytes, over the limit of {limits.max_object_bytes}",
                                          object_bytes=len(buf)))
    has_dicm = buf[_PREAMBLE:_META_START] == b"DICM"
    # Without preamble and prefix, a file may still start with its meta group or be a bare data set.
    meta_start = _META_START if has_dicm else 0
    has_meta = buf[meta_start:meta_start + 2] == b"\x02\x00"
    if has_dicm:
        findings.extend(_check_preamble(buf[:_PREAMBLE]))
    elif has_meta or _starts_data_set(buf):
        findings.append(NO_PREAMBLE.finding("no preamble and \"DICM\" prefix: a bare "
                                            + ("File Meta group and data set" if has_meta else "data set")))
    else:
        findings.append(MISSING_DICM.finding("no \"DICM\" at byte 128 and no DICOM data at byte 0: "
                                             "not a DICOM file"))

    meta: dict[int, bytes] = {}
    dataset_start = meta_start
    if has_meta:
        meta_walk = walk(buf, meta_start, EXPLICIT_LE, wanted=_META_TAGS, within=_META_GROUP,
                         max_depth=max_nesting, max_elements=_MAX_ELEMENTS)
        findings.extend(_walk_findings(meta_walk))
        if meta_walk.fatal is not None and meta_walk.fatal.kind != dicomstream.LIMIT:
            return  # the data set's start is unknown
        meta = meta_walk.values
        dataset_start = meta_walk.stop.offset if meta_walk.stop else len(buf)
        findings.extend(_check_meta(meta, buf, meta_start, dataset_start))
    for tag, keyword in _META_HEADER_TAGS.items():
        if text := _text(meta.get(tag)):
            header[keyword] = text

    ts = _text(meta.get(_TRANSFER_SYNTAX))
    if (has_dicm or has_meta) and not ts:
        findings.append(TRANSFER_SYNTAX.finding("TransferSyntaxUID is missing or empty", _TRANSFER_SYNTAX))
    elif ts and ts not in _NATIVE and ts not in _DEFLATED and ts not in _ENCAPSULATED:
        findings.append(TRANSFER_SYNTAX_UNKNOWN.finding(f"unknown transfer syntax {ts}", _TRANSFER_SYNTAX))

    if ts in _DEFLATED:
        dataset = _walk_deflated(memoryview(buf)[dataset_start:], max_nesting, findings)
    else:
        declared = _NATIVE.get(ts, EXPLICIT_LE if ts in _ENCAPSULATED else None)
        enc = _encoding(buf, dataset_start, declared, ts, findings)
        dataset = walk(buf, dataset_start, enc, wanted=_DATASET_TAGS, within=_BEFORE_PIXELS,
                       max_depth=max_nesting, max_elements=_MAX_ELEMENTS)
    findings.extend(_walk_findings(dataset))
    values = dataset.values
    for tag, keyword in _HEADER_TAGS.items():
        if text := _text(values.get(tag)):
            header[keyword] = text

    findings.extend(_check_sop_uids(meta, dataset))
    pixels = dataset.stop
    if pixels is not None and pixels.tag in PIXEL_TAGS and pixels.length != UNDEFINED_LENGTH \
            and ts not in _DEFLATED:
        # A bare data set has no transfer syntax to declare compression: it is native, like a declared one.
        native = ts in _NATIVE or not has_meta
        findings.extend(_check_pixel_length(pixels, values, len(buf), enc if native else None))
    if pixels is not None and pixels.tag in PIXEL_TAGS:
        findings.extend(_check_limits(values, "big" if ts == _EXPLICIT_VR_BE else "little", limits))


def _check_sop_uids(meta: dict[int, bytes], dataset: Walk) -> list[Finding]:
    """SOPClassUID (0008,0016) and SOPInstanceUID (0008,0018) present, and equal to their File Meta
    counterparts MediaStorageSOPClassUID (0002,0002) and MediaStorageSOPInstanceUID (0002,0003)."""
    out = []
    values = dataset.values
    # Absence is known only where the walk got past (0008,0018); an early stop has its own finding.
    if dataset.fatal is None or dataset.last_tag > _SOP_INSTANCE:
        out += [MISSING_SOP_UID.finding(f"{_HEADER_TAGS[tag]} is absent or empty", tag)
                for tag in (_SOP_CLASS, _SOP_INSTANCE) if not _text(values.get(tag))]
    for rule, meta_tag, tag in ((SOP_CLASS_MISMATCH, _MEDIA_SOP_CLASS, _SOP_CLASS),
                                (SOP_INSTANCE_MISMATCH, _MEDIA_SOP_INSTANCE, _SOP_INSTANCE)):
        in_meta, in_dataset = _text(meta.get(meta_tag)), _text(values.get(tag))
        if in_meta and in_dataset and in_meta != in_dataset:
            out.append(rule.finding(f"{_META_TYPE1[meta_tag]} {in_meta} != {_HEADER_TAGS[tag]} {in_dataset}", tag))
    return out


def _starts_data_set(buf: bytes) -> bool:
    """Whether ``buf`` begins with a data set's first element: group 0008 in any encoding, since every
    composite object has the SOP Common Module (PS3.3 C.12.1) and nothing before it but group lengths."""
    h = read_header(buf, 0, guess_encoding(buf, 0))
    return h is not None and h[0] >> 16 == 0x0008


def _check_preamble(preamble: bytes) -> list[Finding]:
    """The preamble of PS3.10 7.1: zeros, a TIFF header, or anything else an application put there."""
    text = preamble.lstrip(b" \t\r\n\xef\xbb\xbf").lower()
    for signatures, head in ((_BINARY_SIGNATURES, preamble), (_TEXT_SIGNATURES, text)):
        for signature, kind in signatures:
            if head.startswith(signature):
                return [PREAMBLE_EXECUTABLE.finding(f"the preamble starts like a {kind}: {preamble[:16]!r}",
                                                    kind=kind)]
    content = preamble.lstrip(b"\x00")
    if preamble.startswith(_TIFF_HEADERS) or not content:
        return []
    start = _PREAMBLE - len(content)
    return [PREAMBLE_CONTENT.finding(f"the preamble is not zero from byte {start}: {content[:16]!r}")]


def _check_meta(meta: dict[int, bytes], buf: bytes, meta_start: int, meta_end: int) -> list[Finding]:
    """FileMetaInformationGroupLength (0002,0000) against the real length, and the Type 1 elements."""
    out = []
    length = meta.get(_GROUP_LENGTH)
    # The group length is the first element (PS3.10 7.1) and counts the bytes after itself.
    actual = meta_end - meta_start - _GROUP_LENGTH_ELEMENT
    if length is None or len(length) != 4 or buf[meta_start:meta_start + 4] != b"\x02\x00\x00\x00":
        out.append(FILEMETA_GROUP_LENGTH.finding("FileMetaInformationGroupLength is missing, not a UL or not "
                                                 "the first element", _GROUP_LENGTH))
    elif (declared := int.from_bytes(length, "little")) != actual:
        out.append(FILEMETA_GROUP_LENGTH.finding(
            f"FileMetaInformationGroupLength says {declared} bytes, group 0002 has {actual}", _GROUP_LENGTH,
            declared=declared, actual=actual))
    missing = [keyword for tag, keyword in _META_TYPE1.items() if not meta.get(tag)]
    if missing:
        out.append(FILEMETA_INCOMPLETE.finding(f"missing or empty: {', '.join(missing)}"))
    return out


def _encoding(buf: bytes, pos: int, declared: Encoding | None, ts: str | None,
              findings: list[Finding]) -> Encoding:
    """The encoding to walk the data set with: the declared one if the first element agrees on explicit
    or implicit VR (PS3.5 7.1), else the one it suggests, which is what the quarantine listing needs."""
    guess = guess_encoding(buf, pos)
    if declared is None or pos + 8 > len(buf) or declared.explicit == guess.explicit:
        return declared or guess
    findings.append(TRANSFER_SYNTAX.finding(
        f"TransferSyntaxUID {ts} declares {declared.name} but the data set reads as {guess.name}",
        _TRANSFER_SYNTAX))
    return guess


class _Inflater:
    """Raw deflate (PS3.5 A.5: RFC 1951 without zlib header) of a bounded amount, fed in chunks so that
    neither the output nor the copies of unconsumed input grow with the file."""

    def __init__(self, raw: memoryview):
        self._raw = raw
        self._fed = 0
        self._tail = b""
        self._z = zlib.decompressobj(-zlib.MAX_WBITS)
        self._chunks: list[bytes] = []
        self._size = 0
        self.error: str | None = None
        self.data = b""

    @property
    def complete(self) -> bool:
        """The deflate stream ended properly."""
        return self._z.eof

    @property
    def finished(self) -> bool:
        """No more output will come: the stream ended, broke, or the input ran out."""
        return self._z.eof or self.error is not None or (not self._tail and self._fed >= len(self._raw))

    def grow(self, size: int) -> None:
        """Inflate until ``data`` holds ``size`` bytes or nothing more comes."""
        while self._size < size and not self.finished:
            if not self._tail:
                self._tail = self._raw[self._fed:self._fed + _INFLATE_CHUNK]
                self._fed += _INFLATE_CHUNK
            try:
                chunk = self._z.decompress(self._tail, size - self._size)
            except zlib.error as e:
                self.error = str(e)
                break
            self._tail = self._z.unconsumed_tail
            self._chunks.append(chunk)
            self._size += len(chunk)
        self.data = b"".join(self._chunks)


def _walk_deflated(raw: memoryview, max_nesting: int, findings: list[Finding]) -> Walk:
    """Walk a Deflated Explicit VR Little Endian data set (PS3.5 A.5), inflating only as much as the
    header needs, at most ``_INFLATE_STEPS[-1]`` bytes (a deflate bomb costs no more than that)."""
    inflater = _Inflater(raw)
    for step in _INFLATE_STEPS:
        inflater.grow(step)
        if step == _INFLATE_STEPS[0] and not guess_encoding(inflater.data, 0).explicit:
            findings.append(TRANSFER_SYNTAX.finding(
                "the deflated data set does not inflate to explicit VR: "
                f"{inflater.error or f'{len(inflater.data)} bytes, the first not an element header'}",
                _TRANSFER_SYNTAX))
        dataset = walk(inflater.data, 0, EXPLICIT_LE, wanted=_DATASET_TAGS, within=_BEFORE_PIXELS,
                       max_depth=max_nesting, max_elements=_MAX_ELEMENTS)
        if not dataset.ran_out or inflater.finished:
            break
    if dataset.ran_out and not inflater.finished:
        dataset.fatal = Problem(dicomstream.LIMIT, f"only the first {len(inflater.data)} bytes of the deflated "
                                                   "data set were inflated at ingest")
    elif dataset.ran_out and not inflater.complete:
        dataset.fatal = Problem(dicomstream.TRUNCATED, "the deflated data set is cut short or corrupt: "
                                                       f"{inflater.error or 'the deflate stream does not end'}")
    return dataset


def _check_pixel_length(pixels: Header, values: dict[int, bytes], file_size: int,
                        enc: Encoding | None) -> list[Finding]:
    """A defined-length pixel data value against the length its description needs (PS3.5 8.1.1).

    ``enc`` is the native encoding of the declared transfer syntax, None if the pixel data is
    compressed (then only its end is checked against the file's).
    """
    tag, length = pixels.tag, pixels.length
    if pixels.value_offset + length > file_size:
        return [TRUNCATED_RULE.finding(f"{format_tag(tag)} says {length} bytes but the file ends "
                                       f"{pixels.value_offset + length - file_size} bytes earlier", tag)]
    if enc is None:
        return []
    size = _decoded_size(values, "little" if enc.little else "big")
    if size is None:
        return []  # an incomplete Image Pixel module is for the instance validators
    needed, _, description = size
    if length < needed:
        return [PIXEL_DATA_SHORT.finding(f"{format_tag(tag)} has {length} bytes but {description} needs "
                                         f"{needed}", tag, length=length, needed=needed)]
    if length > needed + (needed & 1):
        return [PIXEL_DATA_LONG.finding(f"{format_tag(tag)} has {length} bytes but {description} needs "
                                        f"only {needed}", tag, length=length, needed=needed)]
    return []


def _decoded_size(values: dict[int, bytes], order: str) -> tuple[int, int, str] | None:
    """(bytes, frames, description) of the pixel data as its Image Pixel module describes it, decoded;
    None if Rows (0028,0010), Columns (0028,0011) or BitsAllocated (0028,0100) is missing."""
    rows, columns, bits = (_unsigned(values.get(t), order) for t in (_ROWS, _COLUMNS, _BITS_ALLOCATED))
    if rows is None or columns is None or not bits:
        return None
    samples = _unsigned(values.get(_SAMPLES_PER_PIXEL), order) or 1
    if samples == 3 and _text(values.get(_PHOTOMETRIC)).strip() in _SUBSAMPLED_422:
        samples = 2
    frames = _integer_string(values.get(_NUMBER_OF_FRAMES))
    # BitsAllocated 1 packs eight pixels per byte, so the total is counted in bits and rounded up.
    needed = (rows * columns * samples * bits * frames + 7) // 8
    return needed, frames, (f"Rows {rows} x Columns {columns} x SamplesPerPixel {samples} x BitsAllocated "
                            f"{bits} x NumberOfFrames {frames}")


def _check_limits(values: dict[int, bytes], order: str, limits: Limits) -> list[Finding]:
    """TOO_LARGE when the declared frames or decoded pixel bytes pass the configured limits, whatever
    the transfer syntax: a small compressed object can declare gigabytes once decoded."""
    size = _decoded_size(values, order)
    if size is None:
        return []
    needed, frames, description = size
    if limits.max_frames is not None and frames > limits.max_frames:
        return [TOO_LARGE.finding(f"NumberOfFrames {frames} is over the limit of {limits.max_frames}",
                                  _NUMBER_OF_FRAMES, frames=frames)]
    if limits.max_decoded_bytes is not None and needed > limits.max_decoded_bytes:
        return [TOO_LARGE.finding(f"{description} decodes to {needed} bytes, over the limit of "
                                  f"{limits.max_decoded_bytes}", 0x7FE00010, decoded_bytes=needed)]
    return []


def _walk_findings(w: Walk) -> list[Finding]:
    problems = w.notes + ([w.fatal] if w.fatal else [])
    return [_WALK_RULES[p.kind].finding(p.message, p.tag) for p in problems]


def _text(value: bytes | None) -> str:
    """A string value without its padding (PS3.5 6.2: NUL for UI, space otherwise); UTF-8 if it decodes,
    else Latin-1, so that any bytes give some text for the listing."""
    if not value:
        return ""
    value = value.rstrip(b"\x00 ")
    try:
        return value.decode("utf-8")
    except UnicodeDecodeError:
        return value.decode("latin-1")


def _unsigned(value: bytes | None, order: str) -> int | None:
    """A US value (Rows, Columns, ...), None unless exactly 2 bytes."""
    return int.from_bytes(value, order) if value is not None and len(value) == 2 else None


def _integer_string(value: bytes | None) -> int:
    """NumberOfFrames (0028,0008), an IS; 1 when absent, unreadable (digits other than ASCII 0-9 included,
    which int() would take) or not positive (PS3.3 C.7.6.6)."""
    text = _text(value).strip(" ")
    if not re.fullmatch(r"\+?[0-9]{1,12}", text):
        return 1
    return max(int(text), 1)
