"""validators.instance's walk (UI, DA, TM, DT values, and the few elements the rules read, taken from their
encoded bytes) against the slow, obvious walk it replaced, which decodes every such element through pydicom
and copies it into a new data set: the same findings, in the same order, on every real file, and on real
files whose values are replaced by awkward encodings (padding, white space, backslashes, invalid values,
wrong lengths, implicit VR, UN, another VR). Both hand the decoded values to the same rules (identifiers,
dates, pixel module), which test_instance.py's mutations cover: what is compared is how values are read."""

from __future__ import annotations

import random
import warnings
from io import BytesIO
from itertools import chain

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.multival import MultiValue

from realfiles import ORTHANC_FILES, all_pydicom_files, data_package_files, pydicom_file
from validators.findings import Finding, format_tag
from validators.header import check_header
from validators.instance import (_BIG_ENDIAN, _LOSSY_JPEG, _NATIVE, _READ_TAGS, _SYNTAX_RULES, MAX_DEPTH,
                                 UNREADABLE, _check_dates, _check_identifiers, _check_jpeg_colour,
                                 _check_pixel_bits, _check_pixel_module, check_instance)
from validators.values import CHECKERS
from validators.waveform import check_waveform


def _decoded(ds: Dataset, findings: list[Finding], path: str) -> Dataset:
    """The elements of one level that are judged or read, each decoded by pydicom into a new data set."""
    out = Dataset()
    for tag in list(ds.keys()):
        try:
            vr = ds.get_item(tag).VR
            if vr in (None, "UN"):
                try:
                    vr = pydicom.datadict.dictionary_VR(tag)
                except KeyError:
                    vr = None
            if tag not in _READ_TAGS and vr not in set(CHECKERS) | {"SQ"}:
                continue
            out.add(ds[tag])
        except Exception as e:
            findings.append(UNREADABLE.finding(f"{path}{format_tag(tag)} not decodable: {type(e).__name__}: {e}",
                                               tag, path=f"{path}{format_tag(tag)}"))
    return out


def _walk(ds: Dataset, findings: list[Finding], path: str = "", depth: int = 0):
    for elem in ds.values():
        where = f"{path}{elem.keyword or format_tag(elem.tag)}"
        yield where, elem
        if elem.VR == "SQ" and depth < MAX_DEPTH:
            for i, item in enumerate(elem.value):
                prefix = f"{where}[{i}]."
                yield from _walk(_decoded(item, findings, prefix), findings, prefix, depth + 1)


def reference(ds: Dataset) -> list[Finding]:
    """check_instance as it was: every judged element decoded by pydicom, values read from the copies."""
    findings: list[Finding] = []
    meta = _decoded(getattr(ds, "file_meta", Dataset()), findings, "")
    top = _decoded(ds, findings, "")
    for where, elem in chain(_walk(meta, findings), _walk(top, findings)):  # items' findings as met
        if elem.VR not in CHECKERS or elem.is_empty:
            continue
        for value in elem.value if isinstance(elem.value, MultiValue) else [elem.value]:
            reason = CHECKERS[elem.VR](str(value)) if value else None
            if reason:
                findings.append(_SYNTAX_RULES[elem.VR].finding(
                    f"{where} {format_tag(elem.tag)} {elem.VR} value {str(value)!r}: {reason}", elem.tag,
                    path=where, value=str(value)))
    values = {int(tag): top[tag].value for tag in top.keys()}
    findings += _check_identifiers(values) + _check_dates(values)
    ts = meta.get("TransferSyntaxUID")
    big_endian = ts == _BIG_ENDIAN if ts is not None else getattr(ds, "is_little_endian", None) is False
    pixel_findings = _check_pixel_module(values)
    findings += pixel_findings
    if ts in _LOSSY_JPEG and not pixel_findings:
        findings += _check_jpeg_colour(values, ts)
    if (ts is None or ts in _NATIVE) and not pixel_findings:
        findings += _check_pixel_bits(values, big_endian)
    return findings


def _read(data: bytes) -> Dataset | None:
    try:
        return pydicom.dcmread(BytesIO(data), force=True)
    except Exception:
        return None


def _real_files():
    files = all_pydicom_files() + data_package_files()
    if ORTHANC_FILES.is_dir():
        files += sorted(p for p in ORTHANC_FILES.rglob("*") if p.is_file() and p.suffix.lower() in ("", ".dcm"))
    return files


def _same(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        fast, slow = _read(data), _read(data)
        if fast is None:
            return
        assert check_instance(fast) == reference(slow)
        assert _header(fast) == _header(slow)


def _header(ds: Dataset) -> list[Finding]:
    """The findings of the checks examine runs after the instance rules, which now meet the UI, DA, TM and
    DT elements as read where the old walk had left them decoded (pydicom keeps what it decodes)."""
    return check_header(ds) + (check_waveform(ds) if "WaveformSequence" in ds else [])


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_real_file(path):
    _same(path.read_bytes())


# Values for UI, DA, TM and DT elements, as encoded.
AWKWARD = [
    b"", b" ", b"\0", b"1.2.840.10008.1.2", b"1.2.840.10008.1.2\0", b" 1.2.3 ", b"1.2.03", b"1.2..3", b"1.2.3\\",
    b"1.2.3\\4.05", b"1.2.3\\\\4", b"\\", b"\t1.2.3", b"1.2.3 \0", b"1." + b"1" * 70, b"1.a", b"20200101",
    b"20200229", b"20210229", b"20201301", b"00000101", b"2020.01.01", b"20200101\\20200132", b"20200101 ",
    b" 20200101", b"120000", b"240000", b"12:00:00", b"120000.1234567", b"126060", b"115960",
    b"120000.123456\\1", b"20200101120000+0100", b"20200101120000+1500", b"2020", b"202001011200", b"\xe91.2",
    b"1.2\x001", b"\\1.2.3", b"1.2\xa0", b"\x85", b"\t", b"\0\t\0\t", b"\xa0\\1.2", b" \x1c ",
]


def _rewritten(name: str, value: bytes, vr: str | None) -> Dataset:
    """A real file, parsed, whose UI, DA, TM and DT elements (top level and first items but the SOP
    Class and Instance UIDs) hold ``value`` as read from a file, with the VR ``vr`` (None: implicit VR)."""
    ds = pydicom.dcmread(pydicom_file(name))
    levels = [ds] + [item for elem in ds if elem.VR == "SQ" for item in elem.value[:1]]
    for level in levels:
        for tag in list(level.keys()):
            elem = level[tag]
            if elem.VR in CHECKERS and tag not in (0x00080016, 0x00080018):
                level._dict[tag] = RawDataElement(tag, elem.VR if vr == "same" else vr, len(value), value, 0,
                                                  vr is None, True)
    return ds


@pytest.mark.parametrize("vr", ["same", None, "UN"], ids=["explicit", "implicit", "UN"])
@pytest.mark.parametrize("name", ["CT_small.dcm", "rtplan.dcm", "SC_rgb_small_odd.dcm"])
def test_awkward_values(name, vr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for value in AWKWARD:
            fast, slow = _rewritten(name, value, vr), _rewritten(name, value, vr)
            assert check_instance(fast) == reference(slow), value
            assert _header(fast) == _header(slow), value


def test_cut_files():
    data = pydicom_file("rtplan.dcm").read_bytes()
    for cut in range(200, len(data), 37):
        _same(data[:cut])


# Encodings of the elements instance reads whatever their VR (Rows, Modality, NumberOfFrames, PatientID...).
AWKWARD_READ = [b"", b"\x02\x00", b"\x00\x02", b"\x01\x00\x00\x00", b"\x01", b"CT", b"CT\\MR", b"MONOCHROME2 ",
                b"RGB\0", b" 1", b"1.0", b"12 ", b"x", b"\xe9t\xe9", b"0", b"-1"]


@pytest.mark.parametrize("vr", ["same", None, "UN", "SS"], ids=["explicit", "implicit", "UN", "SS"])
@pytest.mark.parametrize("name", ["CT_small.dcm", "MR_small_bigendian.dcm", "SC_rgb_small_odd.dcm",
                                  "rtdose_1frame.dcm"])
def test_awkward_read_values(name, vr):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for tag in sorted(_READ_TAGS):
            for value in AWKWARD_READ:
                datasets = []
                for _ in range(2):
                    ds = pydicom.dcmread(pydicom_file(name))
                    old = ds.get_item(tag)
                    if old is None:
                        break
                    encoded_vr = (old.VR if vr == "same" else vr) if tag != 0x7FE00010 or vr is not None else None
                    ds._dict[tag] = RawDataElement(tag, encoded_vr, len(value), value, 0, encoded_vr is None,
                                                   ds.is_little_endian)
                    datasets.append(ds)
                if datasets:
                    assert check_instance(datasets[0]) == reference(datasets[1]), (tag, value)
                    assert _header(datasets[0]) == _header(datasets[1]), (tag, value)


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtplan.dcm", "MR_small_bigendian.dcm", "rtstruct.dcm",
                                  "test-SR.dcm", "MR_small_implicit.dcm"])
def test_damaged_files(name):
    """Bytes overwritten at random (seeded) in the first 4 KB: unknown VRs, broken lengths and values. The
    old walk raised TypeError on a multi-valued SOP Class or Transfer Syntax UID; those are not compared."""
    rng = random.Random(name)
    data = pydicom_file(name).read_bytes()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for _ in range(50):
            damaged = bytearray(data)
            for _ in range(rng.randint(1, 4)):
                damaged[rng.randrange(132, min(len(data), 4096))] = rng.choice([0, 0x20, 0x5C, 0x2E, 0x30, 0xFF,
                                                                                 rng.randrange(256)])
            fast, slow = _read(bytes(damaged)), _read(bytes(damaged))
            if fast is None:
                continue
            findings = check_instance(fast)
            try:
                expected = reference(slow)
            except TypeError:
                continue
            assert findings == expected
            assert _header(fast) == _header(slow)
