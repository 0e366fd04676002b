"""validators.seal: fingerprints survive re-encoding, and every change of pixels or identity shows."""

import json

import numpy as np
import pydicom

from realfiles import pydicom_file
from validators.findings import Severity
from validators.seal import compare_seal, seal


def sealed(ds, frames=None):
    return seal(ds, iter(frames if frames is not None else [ds.pixel_array]), None)


def test_seal_is_small_json_and_stable():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    first = sealed(ds)
    assert json.loads(json.dumps(first)) == first
    assert len(json.dumps(first)) < 2000
    assert compare_seal(first, sealed(ds)) == []
    assert first["algorithm"] == "sha256-values" and first["frames"] == 1


def test_lossless_transcoding_keeps_the_seal():
    """The same MR stored little endian explicit, implicit and big endian: the same values, one seal."""
    seals = [sealed(pydicom.dcmread(pydicom_file(name)))
             for name in ("MR_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm")]
    assert seals[0]["pixels"] == seals[1]["pixels"] == seals[2]["pixels"]
    # Decoders may hand the same values in another integer type.
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    assert sealed(ds, [ds.pixel_array.astype(np.int32)])["pixels"] == seals[0]["pixels"]


def test_one_pixel_changed():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    pixels = ds.pixel_array.copy()
    before = sealed(ds, [pixels])
    pixels[64, 64] += 1
    findings = compare_seal(before, sealed(ds, [pixels]))
    assert [f.rule for f in findings] == ["seal.pixels-changed"]
    assert findings[0].severity is Severity.ERROR


def test_rescale_change_is_a_pixel_change():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    before = sealed(ds)
    ds.RescaleIntercept = -1000
    assert [f.rule for f in compare_seal(before, sealed(ds))] == ["seal.pixels-changed"]


def test_identity_change_names_the_attribute():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    before = sealed(ds)
    ds.PatientID = "someone else"
    findings = compare_seal(before, sealed(ds))
    assert [f.rule for f in findings] == ["seal.identity-changed"]
    assert findings[0].details["attributes"] == ["PatientID"]
    assert "someone else" not in json.dumps(sealed(ds))


def test_raw_seals():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    raw = seal(ds, None, ds.PixelData)
    assert raw["algorithm"] == "sha256-raw"
    assert compare_seal(raw, seal(ds, None, ds.PixelData)) == []
    assert [f.rule for f in compare_seal(raw, sealed(ds))] == ["seal.incomparable"]
    assert [f.rule for f in compare_seal(raw, seal(ds, None, ds.PixelData[:-2] + b"\0\0"))] == \
        ["seal.pixels-changed"]


def test_a_value_pydicom_cannot_decode_is_sealed_by_its_bytes():
    """What the fuzzer met: a Rows (0028,0010) whose length does not fit its VR."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    good = seal(ds, None, ds.PixelData)
    ds[0x00280010] = RawDataElement(Tag(0x00280010), "US", 3, b"\x80\x00\x01", 0, True, True)
    broken = seal(ds, None, ds.PixelData)
    assert broken["pixels"] != good["pixels"]
