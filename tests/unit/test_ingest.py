"""Tests of validators.ingest: real files (pydicom's and Orthanc's), files mutated from them, files built
byte by byte where pydicom would refuse to write them, and random mutations."""

from __future__ import annotations

import io
import random
import struct
import tracemalloc
import zlib
from pathlib import Path
from typing import Callable

import pydicom
import pytest

from tests.realfiles import ORTHANC_FILES, PYDICOM_FILES, all_pydicom_files, pydicom_file, with_nested_sequences
from validators import ingest
from validators.checks import examine
from validators.findings import Action
from validators.ingest import IngestCheck, check_ingest

EXPLICIT_LE = "1.2.840.10008.1.2.1"
IMPLICIT_LE = "1.2.840.10008.1.2"
DEFLATED = "1.2.840.10008.1.2.1.99"
CT_STORAGE = "1.2.840.10008.5.1.4.1.1.2"
MR_STORAGE = "1.2.840.10008.5.1.4.1.1.4"
SC_STORAGE = "1.2.840.10008.5.1.4.1.1.7"
HEADER_KEYWORDS = ("SOPClassUID", "SOPInstanceUID", "StudyInstanceUID", "SeriesInstanceUID", "PatientID",
                   "Modality")


def rejected_by(result: IngestCheck) -> set[str]:
    return {f.rule for f in result.findings if f.action is Action.REJECT}


def rules_of(result: IngestCheck) -> set[str]:
    return {f.rule for f in result.findings}


def only(result: IngestCheck, rule: str):
    found = [f for f in result.findings if f.rule == rule]
    assert len(found) == 1, result.findings
    return found[0]


# --- building files -------------------------------------------------------------------------------

_LONG_VRS = {b"OB", b"OW", b"SQ", b"UN", b"UT"}


def element(tag: int, vr: bytes, value: bytes) -> bytes:
    """One Explicit VR Little Endian element (PS3.5 7.1.2)."""
    head = struct.pack("<HH2s", tag >> 16, tag & 0xFFFF, vr)
    if vr in _LONG_VRS:
        return head + struct.pack("<HI", 0, len(value)) + value
    return head + struct.pack("<H", len(value)) + value


def uid(text: str) -> bytes:
    raw = text.encode()
    return raw + b"\0" * (len(raw) & 1)


def sop_common(sop_class: str = SC_STORAGE, sop_instance: str = "1.2.3.4") -> bytes:
    return element(0x00080016, b"UI", uid(sop_class)) + element(0x00080018, b"UI", uid(sop_instance))


def part10(dataset: bytes, ts: str = EXPLICIT_LE, preamble: bytes = bytes(128), sop_class: str = SC_STORAGE,
           sop_instance: str = "1.2.3.4") -> bytes:
    """Preamble, "DICM" and a complete File Meta group (PS3.10 7.1) in front of ``dataset``."""
    meta = (element(0x00020001, b"OB", b"\0\1") + element(0x00020002, b"UI", uid(sop_class))
            + element(0x00020003, b"UI", uid(sop_instance)) + element(0x00020010, b"UI", uid(ts))
            + element(0x00020012, b"UI", uid("1.2.3.4.5")))
    return preamble + b"DICM" + element(0x00020000, b"UL", struct.pack("<I", len(meta))) + meta + dataset


def nested_sequences(depth: int, defined_length: bool) -> bytes:
    """ContentSequence (0040,A730) holding one item holding the next, ``depth`` levels deep."""
    inner = b""
    for _ in range(depth):
        if defined_length:
            item = struct.pack("<HHI", 0xFFFE, 0xE000, len(inner)) + inner
            inner = element(0x0040A730, b"SQ", item)
        else:
            item = struct.pack("<HHI", 0xFFFE, 0xE000, 0xFFFFFFFF) + inner + struct.pack("<HHI", 0xFFFE, 0xE00D, 0)
            inner = (struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + item
                     + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    return inner


def image(rows: int, columns: int, bits: int, pixel_bytes: int, samples: int = 1, frames: str | None = None,
          photometric: str = "MONOCHROME2") -> bytes:
    """A Part 10 secondary capture image with the given Image Pixel description and pixel length."""
    pixel_module = (element(0x00280002, b"US", struct.pack("<H", samples))
                    + element(0x00280004, b"CS", photometric.encode().ljust(len(photometric) + len(photometric) % 2))
                    + (element(0x00280008, b"IS", frames.encode().ljust(len(frames) + len(frames) % 2))
                       if frames else b"")
                    + element(0x00280010, b"US", struct.pack("<H", rows))
                    + element(0x00280011, b"US", struct.pack("<H", columns))
                    + element(0x00280100, b"US", struct.pack("<H", bits)))
    return part10(sop_common() + pixel_module + element(0x7FE00010, b"OB", bytes(pixel_bytes)))


def resaved(name: str, change: Callable[[pydicom.Dataset], None]) -> bytes:
    """A pydicom test file, changed and written back in its own transfer syntax."""
    ds = pydicom.dcmread(pydicom_file(name))
    change(ds)
    out = io.BytesIO()
    ds.save_as(out, write_like_original=True)
    return out.getvalue()


def dataset_start(data: bytes) -> int:
    """Where the data set of a well-formed Part 10 file begins: after the group its length announces."""
    return 132 + 12 + struct.unpack_from("<I", data, 140)[0]


@pytest.fixture(scope="module")
def ct() -> bytes:
    return pydicom_file("CT_small.dcm").read_bytes()


# --- real files -----------------------------------------------------------------------------------

# pydicom's test files that are rejected, and why. Every other one must not be.
PYDICOM_REJECTED = {
    # Pixel Data (7FE0,0010) says 8192 bytes; the file ends 62 bytes earlier.
    "MR_truncated.dcm": {"ingest.truncated"},
    # Cut inside (300A,00B0) BeamSequence.
    "rtplan_truncated.dcm": {"ingest.truncated"},
    # A stray byte before an Explicit VR data set without meta: not DICOM from byte 0 (pydicom reads no
    # element of it either).
    "no_meta.dcm": {"ingest.missing-dicm", "ingest.truncated", "ingest.missing-sop-uid"},
    # Declares JPEG Baseline (Explicit VR LE) but the data set is Implicit VR (pydicom warns and switches).
    "SC_rgb_jpeg.dcm": {"ingest.filemeta-transfer-syntax"},
    # No TransferSyntaxUID; a bare private-sequence fragment without SOP Common module.
    "meta_missing_tsyntax.dcm": {"ingest.filemeta-transfer-syntax", "ingest.missing-sop-uid"},
    # Data set fragments that pydicom uses to test sequence and charset parsing: no SOP Common module.
    "UN_sequence.dcm": {"ingest.missing-sop-uid"},
    "priv_SQ.dcm": {"ingest.missing-sop-uid"},
    "nested_priv_SQ.dcm": {"ingest.missing-sop-uid"},
    "empty_charset_LEI.dcm": {"ingest.missing-sop-uid"},
    "no_meta_group_length.dcm": {"ingest.missing-sop-uid"},
}


def _pydicom_params() -> list:
    return [pytest.param(p, id=str(p.relative_to(PYDICOM_FILES))) for p in all_pydicom_files()]


def _orthanc_params() -> list:
    if not ORTHANC_FILES.is_dir():
        return [pytest.param(None, marks=pytest.mark.skip(reason=f"{ORTHANC_FILES} absent"))]
    return [pytest.param(p, id=str(p.relative_to(ORTHANC_FILES))) for p in sorted(ORTHANC_FILES.rglob("*.dcm"))]


@pytest.mark.parametrize("path", _pydicom_params())
def test_pydicom_files_are_rejected_only_when_broken(path: Path):
    result = check_ingest(path.read_bytes())
    assert "ingest.checker-error" not in rules_of(result)
    assert rejected_by(result) == PYDICOM_REJECTED.get(path.name, set()), result.findings


def test_every_expected_rejection_names_a_shipped_file():
    names = {p.name for p in all_pydicom_files()}
    assert set(PYDICOM_REJECTED) <= names


ORTHANC_REJECTED = {
    "2026-05-06-Deeply-Nested-Sequence.dcm": {"ingest.nesting-depth"},
    "2026-05-26-oob-monochrome-46341.dcm": {"ingest.pixel-data-short"},
    "2026-05-26-oob-monochrome-65535.dcm": {"ingest.pixel-data-short"},
}


@pytest.mark.parametrize("path", _orthanc_params())
def test_orthanc_files_are_rejected_only_when_hostile(path: Path):
    result = check_ingest(path.read_bytes())
    assert "ingest.checker-error" not in rules_of(result)
    assert rejected_by(result) == ORTHANC_REJECTED.get(path.name, set()), result.findings


@pytest.mark.parametrize("path", [p for p in _orthanc_params() if p.values[0] is None or "oob" in p.values[0].name])
def test_oob_files_really_have_short_pixel_data(path: Path):
    ds = pydicom.dcmread(path)
    needed = ds.Rows * ds.Columns * ds.SamplesPerPixel * ds.BitsAllocated // 8 * int(ds.get("NumberOfFrames", 1))
    assert len(ds.PixelData) < needed
    finding = only(check_ingest(path.read_bytes()), "ingest.pixel-data-short")
    assert finding.details == {"length": len(ds.PixelData), "needed": needed}


def test_deeply_nested_file_is_bounded_even_without_a_depth_limit():
    path = ORTHANC_FILES / "2026-05-06-Deeply-Nested-Sequence.dcm"
    if not path.exists():
        pytest.skip(f"{path} absent")
    result = check_ingest(path.read_bytes(), max_nesting=10**9)
    assert rules_of(result) >= {"ingest.walk-limit"}
    assert "ingest.nesting-depth" not in rules_of(result)


def test_a_file_nested_beyond_the_ingest_limit_is_never_handed_to_pydicom():
    """Freeing a parsed data set recurses in C once per level: 100 levels overflowed the stack of an
    Orthanc HTTP thread in POST /sentinel/validate, and killed Orthanc."""
    findings, ds = examine(part10(sop_common() + nested_sequences(40, defined_length=False)))
    assert ds is None and "ingest.nesting-depth" in {f.rule for f in findings}
    findings, ds = examine(part10(sop_common() + nested_sequences(8, defined_length=False)))
    assert ds is not None and "ingest.nesting-depth" not in {f.rule for f in findings}


@pytest.mark.parametrize("depth", [8, 40])
def test_nesting_after_the_ingest_walks_budget_is_measured_on_the_parsed_data_set(ct: bytes, depth: int):
    """10,010 empty items first: the ingest walk stops at its budget before it sees the nesting."""
    findings, ds = examine(with_nested_sequences(ct, depth, padding_items=10_010))
    rules = {f.rule for f in findings}
    assert "ingest.walk-limit" in rules
    assert (ds is None) == (depth > 32) == ("ingest.nesting-depth" in rules)


def _header_params() -> list:
    # pydicom itself cannot read the nesting bomb (RecursionError).
    return [p for p in _pydicom_params() + _orthanc_params()
            if p.values[0] is None or "Deeply-Nested" not in p.values[0].name]


@pytest.mark.filterwarnings("ignore:Expected explicit VR")
@pytest.mark.parametrize("path", _header_params())
def test_header_matches_pydicom(path: Path):
    """Across transfer syntaxes: implicit, explicit, big endian, deflated, encapsulated, without meta."""
    ds = pydicom.dcmread(path, force=True, stop_before_pixels=True)
    header = check_ingest(path.read_bytes()).header
    meta = getattr(ds, "file_meta", None) or {}
    expected = {kw: str(ds.get(kw)) for kw in HEADER_KEYWORDS if ds.get(kw)}
    expected.update({kw: str(meta.get(kw)) for kw in ("TransferSyntaxUID", "MediaStorageSOPInstanceUID")
                     if meta.get(kw)})
    assert header == expected


@pytest.mark.parametrize("name", ["MR_small_implicit.dcm", "MR_small_bigendian.dcm", "image_dfl.dcm",
                                  "ExplVR_BigEndNoMeta.dcm", "rtstruct.dcm"])
def test_header_is_read_in_every_encoding(name: str):
    ds = pydicom.dcmread(pydicom_file(name), force=True)
    assert check_ingest(pydicom_file(name).read_bytes()).header["SOPInstanceUID"] == ds.SOPInstanceUID


# --- preamble -------------------------------------------------------------------------------------

@pytest.mark.parametrize("head, kind", [
    (b"MZ\x90\x00\x03\x00\x00\x00", "PE"),
    (b"\x7fELF\x02\x01\x01\x00", "ELF"),
    (b"\xcf\xfa\xed\xfe\x07\x00\x00\x01", "Mach-O"),
    (b"PK\x03\x04\x14\x00\x00\x00", "ZIP"),
    (b"#!/bin/sh\nrm -rf /\n", "shebang"),
    (b"%PDF-1.7\n", "PDF"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "OLE"),
    (b"\x1f\x8b\x08\x00", "gzip"),
    (b"\r\n  <HTML><script>", "HTML"),
    (b"<?PHP system($_GET['c']);", "PHP"),
])
def test_executable_preamble_is_rejected_naming_its_kind(ct: bytes, head: bytes, kind: str):
    result = check_ingest(head + ct[len(head):])
    finding = only(result, "ingest.preamble-executable")
    assert finding.action is Action.REJECT
    assert kind in finding.message and kind in finding.details["kind"]
    assert rejected_by(result) == {"ingest.preamble-executable"}


@pytest.mark.parametrize("head", [b"II*\x00\x08\x00\x00\x00", b"MM\x00*\x00\x00\x00\x08"])
def test_tiff_preamble_is_allowed(ct: bytes, head: bytes):
    """PS3.10 7.1 names a TIFF header as a use of the preamble."""
    assert check_ingest(head + ct[len(head):]).findings == []


def test_other_preamble_content_is_only_reported(ct: bytes):
    result = check_ingest(b"ACME PACS 3.1" + ct[13:])
    assert only(result, "ingest.preamble-content").action is Action.REPORT


# --- File Meta Information ------------------------------------------------------------------------

def test_missing_dicm_is_rejected_and_still_listed(ct: bytes):
    result = check_ingest(ct[:128] + b"\0\0\0\0" + ct[132:])
    assert "ingest.missing-dicm" in rejected_by(result)


def test_bare_data_set_and_bare_meta_are_labelled_not_rejected(ct: bytes):
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    for bare in (ct[dataset_start(ct):], ct[132:]):
        result = check_ingest(bare)
        assert rules_of(result) == {"ingest.no-preamble"}
        assert result.header["SOPInstanceUID"] == ds.SOPInstanceUID


def test_wrong_group_length_is_labelled(ct: bytes):
    data = bytearray(ct)
    declared = struct.unpack_from("<I", data, 140)[0]
    struct.pack_into("<I", data, 140, declared + 2)
    result = check_ingest(bytes(data))
    finding = only(result, "ingest.filemeta-group-length")
    assert finding.action is Action.LABEL and finding.details == {"declared": declared + 2, "actual": declared}
    assert rejected_by(result) == set()


@pytest.mark.parametrize("meta_keyword, rule", [("MediaStorageSOPInstanceUID", "ingest.sop-instance-mismatch"),
                                                ("MediaStorageSOPClassUID", "ingest.sop-class-mismatch")])
def test_meta_and_data_set_sop_uids_must_agree(meta_keyword: str, rule: str):
    data = resaved("CT_small.dcm", lambda ds: setattr(ds.file_meta, meta_keyword, MR_STORAGE))
    result = check_ingest(data)
    assert only(result, rule).action is Action.LABEL
    assert rejected_by(result) == set()


@pytest.mark.parametrize("change", [lambda ds: delattr(ds, "SOPInstanceUID"),
                                    lambda ds: setattr(ds, "SOPClassUID", "")], ids=["deleted", "empty"])
def test_missing_sop_uid_is_rejected(change):
    result = check_ingest(resaved("CT_small.dcm", change))
    assert rejected_by(result) == {"ingest.missing-sop-uid"}


def test_missing_transfer_syntax_is_rejected():
    result = check_ingest(resaved("CT_small.dcm", lambda ds: delattr(ds.file_meta, "TransferSyntaxUID")))
    assert rejected_by(result) == {"ingest.filemeta-transfer-syntax"}
    assert result.header["SOPInstanceUID"]


def test_transfer_syntax_contradicted_by_the_data_is_rejected():
    data = resaved("CT_small.dcm", lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", IMPLICIT_LE))
    result = check_ingest(data)
    assert "ingest.filemeta-transfer-syntax" in rejected_by(result)
    assert result.header["SOPInstanceUID"] == pydicom.dcmread(pydicom_file("CT_small.dcm")).SOPInstanceUID


def test_unknown_transfer_syntax_is_a_warning():
    result = check_ingest(resaved("CT_small.dcm", lambda ds: setattr(ds.file_meta, "TransferSyntaxUID", "1.2.3.4")))
    assert only(result, "ingest.transfer-syntax-unknown").action is Action.LABEL
    assert rejected_by(result) == set()


# --- pixel data -----------------------------------------------------------------------------------

def _more_rows(ds: pydicom.Dataset) -> None:
    ds.Rows += 1


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm"])
def test_more_rows_than_pixel_data_is_rejected(name: str):
    result = check_ingest(resaved(name, _more_rows))
    assert rejected_by(result) == {"ingest.pixel-data-short"}


def test_fewer_columns_than_pixel_data_is_a_warning():
    result = check_ingest(resaved("CT_small.dcm", lambda ds: setattr(ds, "Columns", ds.Columns - 1)))
    assert only(result, "ingest.pixel-data-long").action is Action.LABEL


def test_truncated_pixel_data_is_rejected(ct: bytes):
    # Half-way is inside Pixel Data (the file ends with DataSetTrailingPadding (FFFC,FFFC), which is not
    # read: the walk stops at Pixel Data).
    assert rejected_by(check_ingest(ct[:len(ct) // 2])) == {"ingest.truncated"}


@pytest.mark.parametrize("rows, columns, bits, length, samples, frames, photometric, rule", [
    (4, 5, 1, 3, 1, None, "MONOCHROME2", None),           # 20 bits packed in 3 bytes (+1 pad byte)
    (4, 5, 1, 2, 1, None, "MONOCHROME2", "ingest.pixel-data-short"),
    (3, 5, 8, 16, 1, None, "MONOCHROME2", None),          # 15 bytes and the pad byte to even length
    (3, 5, 8, 18, 1, None, "MONOCHROME2", "ingest.pixel-data-long"),
    (2, 2, 16, 24, 1, "3", "MONOCHROME2", None),
    (2, 2, 16, 16, 1, "3", "MONOCHROME2", "ingest.pixel-data-short"),
    (2, 2, 16, 8, 1, "bad", "MONOCHROME2", None),         # an unreadable NumberOfFrames counts as 1
    (2, 2, 16, 24, 1, "٣", "MONOCHROME2", "ingest.pixel-data-long"),  # so do digits other than ASCII's
    (2, 2, 8, 12, 3, None, "RGB", None),
    (2, 2, 8, 8, 3, None, "YBR_FULL_422", None),          # two chroma samples per two pixels
    (2, 2, 8, 8, 3, None, "RGB", "ingest.pixel-data-short"),
])
def test_pixel_length_follows_the_image_pixel_description(rows, columns, bits, length, samples, frames,
                                                          photometric, rule):
    result = check_ingest(image(rows, columns, bits, length, samples, frames, photometric))
    assert rules_of(result) == ({rule} if rule else set())


def test_encapsulated_pixel_data_has_no_length_check():
    result = check_ingest(pydicom_file("JPEG2000.dcm").read_bytes())
    assert not {"ingest.pixel-data-short", "ingest.pixel-data-long"} & rules_of(result)


# --- structure ------------------------------------------------------------------------------------

@pytest.mark.parametrize("defined_length", [True, False], ids=["defined-length", "undefined-length"])
def test_nesting_is_limited(defined_length: bool):
    assert check_ingest(part10(sop_common() + nested_sequences(32, defined_length))).findings == []
    result = check_ingest(part10(sop_common() + nested_sequences(33, defined_length)))
    assert rejected_by(result) == {"ingest.nesting-depth"}
    assert rejected_by(check_ingest(part10(sop_common() + nested_sequences(5, defined_length)),
                                    max_nesting=4)) == {"ingest.nesting-depth"}


def test_element_budget_is_reported_not_rejected():
    items = struct.pack("<HHI", 0xFFFE, 0xE000, 0) * 20_000
    many = element(0x0040A730, b"SQ", items)
    result = check_ingest(part10(sop_common() + many))
    assert only(result, "ingest.walk-limit").action is Action.REPORT
    assert rejected_by(result) == set()


@pytest.mark.parametrize("tail, rule", [
    (struct.pack("<HH2sH", 0x0010, 0x0010, b"PN", 200) + b"Doe^J", "ingest.truncated"),
    (struct.pack("<HH", 0x0010, 0x0010), "ingest.truncated"),
    (struct.pack("<HHI", 0xFFFE, 0xE0DD, 0), "ingest.malformed"),
    (struct.pack("<HH2sHI", 0x0040, 0xA730, b"SQ", 0, 0xFFFFFFFF) + element(0x00100010, b"PN", b"Doe "),
     "ingest.malformed"),
    (element(0x00100010, b"P\x00", b"Doe "), "ingest.malformed"),
    (element(0x00100010, b"PN", b"Doe"), "ingest.odd-length"),
])
def test_structural_problems(tail: bytes, rule: str):
    result = check_ingest(part10(sop_common() + tail))
    finding = only(result, rule)
    assert finding.action is (Action.REJECT if rule == "ingest.truncated" else Action.LABEL)


def test_undefined_length_un_is_walked_as_implicit_sequence():
    """PS3.5 6.2.2: a sequence of unknown VR is encoded as Implicit VR LE inside UN of undefined length."""
    implicit_item = struct.pack("<HHI", 0x0010, 0x0010, 4) + b"Doe "
    un = (struct.pack("<HH2sHI", 0x0009, 0x1001, b"UN", 0, 0xFFFFFFFF)
          + struct.pack("<HHI", 0xFFFE, 0xE000, len(implicit_item)) + implicit_item
          + struct.pack("<HHI", 0xFFFE, 0xE0DD, 0))
    assert check_ingest(part10(sop_common() + element(0x00090010, b"LO", b"ACME") + un)).findings == []


# --- deflate --------------------------------------------------------------------------------------

def _deflate_bomb(header: bytes, megabytes: int) -> bytes:
    """Raw deflate of ``header`` and then ``megabytes`` MiB of zeros, built without compressing them
    all: after a full flush a block does not refer back, so one compressed MiB can be repeated."""
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = z.compress(header) + z.flush(zlib.Z_FULL_FLUSH)
    block = z.compress(bytes(1 << 20)) + z.flush(zlib.Z_FULL_FLUSH)
    return head + block * megabytes + z.flush()


@pytest.mark.parametrize("header, rule", [
    # A private OB element announcing 4 GiB: the walk wants more than the inflation budget.
    (sop_common() + element(0x00090010, b"LO", b"ACME") + struct.pack("<HH2sHI", 0x0009, 0x1010, b"OB", 0,
                                                                       0xFFFFFFF0), "ingest.walk-limit"),
    # Nothing but zeros: not explicit VR.
    (b"", "ingest.filemeta-transfer-syntax"),
])
def test_deflate_bomb_is_bounded(header: bytes, rule: str):
    data = part10(_deflate_bomb(header, 1024), ts=DEFLATED)   # inflates to 1 GiB
    tracemalloc.start()
    try:
        result = check_ingest(data)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert rule in rules_of(result)
    assert peak < 32 * 1024 * 1024


def test_cut_deflate_stream_is_rejected():
    data = pydicom_file("image_dfl.dcm").read_bytes()
    start = dataset_start(data)
    result = check_ingest(data[:start + 200])
    assert rejected_by(result) == {"ingest.truncated"}


def test_deflated_data_set_built_here_is_read():
    z = zlib.compressobj(9, zlib.DEFLATED, -15)
    dataset = sop_common(sop_instance="1.2.3.99") + element(0x00100020, b"LO", b"PID1")
    result = check_ingest(part10(z.compress(dataset) + z.flush(), ts=DEFLATED, sop_instance="1.2.3.99"))
    assert result.findings == []
    assert result.header == {"SOPClassUID": SC_STORAGE, "SOPInstanceUID": "1.2.3.99", "PatientID": "PID1",
                             "TransferSyntaxUID": DEFLATED, "MediaStorageSOPInstanceUID": "1.2.3.99"}


# --- robustness -----------------------------------------------------------------------------------

def _mutations(data: bytes, rng: random.Random) -> bytes:
    out = bytearray(data)
    kind = rng.randrange(5)
    if kind == 0:      # flip bytes
        for _ in range(rng.randint(1, 16)):
            out[rng.randrange(len(out))] = rng.randrange(256)
    elif kind == 1:    # cut anywhere
        del out[rng.randrange(len(out)):]
    elif kind == 2:    # huge or undefined lengths
        for _ in range(rng.randint(1, 4)):
            pos = rng.randrange(len(out) - 4)
            out[pos:pos + 4] = rng.choice([b"\xff\xff\xff\xff", b"\xfe\xff\xff\x7f", b"\xff\xff\x00\x00"])
    elif kind == 3:    # insert random bytes
        pos = rng.randrange(len(out))
        out[pos:pos] = rng.randbytes(rng.randint(1, 64))
    else:              # item and delimiter tags where they do not belong
        for _ in range(rng.randint(1, 8)):
            pos = rng.randrange(len(out) - 8)
            out[pos:pos + 8] = struct.pack("<HHI", 0xFFFE, rng.choice([0xE000, 0xE00D, 0xE0DD]),
                                           rng.choice([0, 0xFFFFFFFF, rng.randrange(1 << 32)]))
    return bytes(out)


@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm",
                                  "image_dfl.dcm", "nested_priv_SQ.dcm"])
def test_random_mutations_never_raise(name: str):
    data = pydicom_file(name).read_bytes()
    rng = random.Random(name)
    for _ in range(400):   # 2,000 over the five files
        result = check_ingest(_mutations(data, rng))
        assert "ingest.checker-error" not in rules_of(result), result.findings


@pytest.mark.parametrize("data", [b"", b"DICM", bytes(131), bytes(128) + b"DICM", bytes(128) + b"DICM\x02\x00",
                                  b"\xff" * 1000, bytes(10_000)])
def test_degenerate_inputs(data: bytes):
    result = check_ingest(data)
    assert rejected_by(result) and "ingest.checker-error" not in rules_of(result)


def test_a_bug_becomes_a_finding(monkeypatch, ct: bytes):
    def broken(preamble: bytes):
        raise ValueError("boom")
    monkeypatch.setattr(ingest, "_check_preamble", broken)
    result = check_ingest(ct)
    assert rejected_by(result) == {"ingest.checker-error"}
    assert "boom" in result.findings[0].message


def test_rules_are_in_the_catalogue():
    from validators.rules import CATALOGUE
    ids = {r for r in CATALOGUE if r.startswith("ingest.")}
    assert len(ids) >= 15
    assert all(len(CATALOGUE[r].description) > 80 for r in ids)


def test_limits_on_frames_and_decoded_bytes_reject_before_decoding():
    from validators.ingest import Limits
    data = pydicom_file("CT_small.dcm").read_bytes()  # 128 x 128 x 16 bits: 32768 bytes, one frame
    assert not [f for f in check_ingest(data, limits=Limits(1, 32768)).findings if f.rule == "ingest.too-large"]
    [too_big] = [f for f in check_ingest(data, limits=Limits(None, 32767)).findings if f.rule == "ingest.too-large"]
    assert too_big.action.value == "reject" and too_big.details["decoded_bytes"] == 32768
    # Compressed pixel data declares its decoded size too: the limit holds whatever the encoding.
    rle = pydicom_file("SC_rgb_rle_2frame.dcm").read_bytes()
    [frames] = [f for f in check_ingest(rle, limits=Limits(1, None)).findings if f.rule == "ingest.too-large"]
    assert frames.details["frames"] == 2


def test_limit_on_object_size_holds_without_a_declared_length():
    """An upload sent in chunks declares no Content-Length for the HTTP filter: the ingest check
    measures the object itself."""
    from validators.ingest import Limits
    data = pydicom_file("CT_small.dcm").read_bytes()
    assert not [f for f in check_ingest(data, limits=Limits(max_object_bytes=len(data))).findings
                if f.rule == "ingest.too-large"]
    [too_big] = [f for f in check_ingest(data, limits=Limits(max_object_bytes=len(data) - 1)).findings
                 if f.rule == "ingest.too-large"]
    assert too_big.action.value == "reject" and too_big.details["object_bytes"] == len(data)
