"""validators.reader against pydicom.dcmread(BytesIO(data), force=True): the same objects, element for
element (raw tuples, parsed sequences, every Dataset attribute), on every real file and on damaged ones
(truncated, bytes overwritten), where the reader either builds the same data set or leaves it to pydicom."""

from __future__ import annotations

import random
import warnings
from io import BytesIO

import pydicom
import pytest
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from realfiles import ORTHANC_FILES, all_pydicom_files, data_package_files, pydicom_file
from validators import reader


def _real_files():
    files = all_pydicom_files() + data_package_files()
    if ORTHANC_FILES.is_dir():
        files += sorted(p for p in ORTHANC_FILES.rglob("*") if p.is_file() and p.suffix.lower() in ("", ".dcm"))
    return files


def _attributes(obj) -> dict:
    """An object's attributes, weak references to parents as whether they are set, file objects by type."""
    out = {}
    for key, value in vars(obj).items():
        if key in ("_dict", "_list", "_value", "file_meta"):
            continue
        if key in ("_parent_seq", "_parent_dataset"):
            value = value is not None
        elif key == "filename" and not isinstance(value, str):
            value = type(value)
        out[key] = value
    return out


def assert_same(a: Dataset, b: Dataset, where: str = "") -> None:
    """Two data sets hold the same elements, in the same order, read the same way, with the same attributes."""
    assert type(a) is type(b), where
    assert _attributes(a) == _attributes(b), where
    if "file_meta" in vars(a) or "file_meta" in vars(b):
        assert_same(vars(a)["file_meta"], vars(b)["file_meta"], where + "file_meta.")
    assert list(a._dict) == list(b._dict), where
    for tag, x in a._dict.items():
        y = b._dict[tag]
        assert type(x) is type(y), (where, tag)
        if isinstance(x, RawDataElement):
            assert tuple(x) == tuple(y) and [type(v) for v in x] == [type(v) for v in y], (where, tag)
            continue
        assert _attributes(x) == _attributes(y), (where, tag)
        if isinstance(x.value, Sequence):
            assert type(y.value) is Sequence and _attributes(x.value) == _attributes(y.value), (where, tag)
            assert len(x.value) == len(y.value), (where, tag)
            for i, (p, q) in enumerate(zip(x.value, y.value)):
                assert_same(p, q, f"{where}{tag}[{i}].")
        else:
            assert x.value == y.value or repr(x.value) == repr(y.value), (where, tag)  # NaN != NaN


def _outcome(read, data: bytes):
    try:
        return read(data), None
    except Exception as e:  # noqa: BLE001 - what dcmread raises is part of what is compared
        return None, (type(e), str(e))


def _same(data: bytes) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ours, our_error = _outcome(reader.read, data)
        theirs, their_error = _outcome(lambda d: pydicom.dcmread(BytesIO(d), force=True), data)
        assert our_error == their_error
        if ours is not None:
            assert_same(ours, theirs)
            # the same once every sequence is parsed, by reader.element and by pydicom
            assert _outcome(lambda ds: _parse_sequences(ds, reader.element), ours)[1] == \
                _outcome(lambda ds: _parse_sequences(ds, Dataset.__getitem__), theirs)[1]
            assert_same(ours, theirs)
            # and once every element is decoded
            assert _outcome(_decode_all, ours)[1] == _outcome(_decode_all, theirs)[1]
            assert_same(ours, theirs)


def _parse_sequences(ds: Dataset, get) -> None:
    for tag in list(ds._dict):
        elem = ds._dict[tag]
        if elem.VR == "SQ" or elem.VR is None and pydicom.datadict.dictionary_has_tag(tag) and \
                pydicom.datadict.dictionary_VR(tag) == "SQ":
            for item in get(ds, tag).value:
                _parse_sequences(item, get)


def _decode_all(ds: Dataset) -> None:
    for _ in ds.iterall():
        pass


@pytest.mark.parametrize("path", _real_files(), ids=lambda p: p.name)
def test_real_file(path):
    _same(path.read_bytes())


def test_fast_path_taken():
    """The reader builds the data set itself for the usual encodings (pydicom would do no harm, but the
    time would be lost)."""
    for name in ("CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "JPEG2000.dcm",
                 "rtplan.dcm", "MR_small_RLE.dcm", "UN_sequence.dcm", "nested_priv_SQ.dcm", "waveform_ecg.dcm"):
        reader._read(pydicom_file(name).read_bytes())


def test_file_meta_elements_decoded_from_the_cache():
    """A second file encoded the same way gets its File Meta elements from the cache of decoded ones, and
    the same data set as pydicom's."""
    data = pydicom_file("CT_small.dcm").read_bytes()
    reader.read(data)
    assert any(key[0] == 0x00020010 for key in reader._META_DECODED)
    _same(data)


def test_undefined_length_value_ends_at_the_first_delimiter():
    """An undefined-length value ends at the first Sequence Delimitation Item tag after its start, also one
    across pydicom's 8 KiB read chunks or inside a fragment: the same data set either way."""
    data = pydicom_file("JPEG-lossy.dcm").read_bytes()
    start = data.find(b"\xe0\x7f\x10\x00OB\x00\x00\xff\xff\xff\xff") + 12
    delimiter = b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    for size in (100, 8189, 8190, 8192, 20000):
        value = bytes(range(1, 251)) * (size // 250) + b"\x01" * (size % 250)
        assert reader._read(data[:start] + value + delimiter)._dict[0x7FE00010].value == value
        _same(data[:start] + value + delimiter)
    _same(data[:start + 20] + delimiter + data[start + 20:])


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtplan.dcm", "MR_small_bigendian.dcm", "rtstruct.dcm",
                                  "test-SR.dcm", "MR_small_implicit.dcm", "JPEG2000.dcm", "waveform_ecg.dcm",
                                  "UN_sequence.dcm", "nested_priv_SQ.dcm", "reportsi.dcm"])
def test_damaged_files(name):
    """Bytes overwritten at random (seeded) in the first 4 KB, and the file cut short at many places."""
    rng = random.Random(name)
    data = pydicom_file(name).read_bytes()
    for cut in range(0, min(len(data), 6000), 29):
        _same(data[:cut])
    for _ in range(150):
        damaged = bytearray(data)
        for _ in range(rng.randint(1, 4)):
            damaged[rng.randrange(0, min(len(data), 4096))] = rng.choice([0, 0x20, 0x5C, 0xFF, 0xFE, 0xE0, 0xDD,
                                                                          0x0D, rng.randrange(256)])
        _same(bytes(damaged))
