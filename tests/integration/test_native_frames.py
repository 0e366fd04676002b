"""validators.nativeframes decodes uncompressed grayscale frames as Orthanc does: compared frame by frame
with Orthanc's own decoder on every kind of real file it accepts, and on a real file whose Bits Stored,
High Bit and Pixel Representation were changed, with words that have bits outside the stored ones."""

from __future__ import annotations

import io

import numpy as np
import pydicom
import pytest

from integration.orthanc_server import OrthancServer
from realfiles import all_pydicom_files, data_package_files, fresh_copy
from validators.nativeframes import native_frames


def accepted_real_files() -> list[bytes]:
    """Every real file (pydicom's, the data packages') whose frames native_frames decodes, once per
    distinct pixel description, with new UIDs so that none replaces another in Orthanc."""
    chosen: dict[tuple, bytes] = {}
    for path in all_pydicom_files() + data_package_files():
        try:
            ds = pydicom.dcmread(path, force=True)
            if native_frames(ds) is None:
                continue
            key = tuple(str(ds.get(k)) for k in ("BitsAllocated", "BitsStored", "HighBit", "PixelRepresentation",
                                                  "PhotometricInterpretation", "NumberOfFrames", "Modality"))
            if key in chosen:
                continue
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = pydicom.uid.generate_uid()
            out = io.BytesIO()
            ds.save_as(out, write_like_original=False)
            chosen[key] = out.getvalue()
        except Exception:  # noqa: BLE001 - a real file pydicom cannot read or write is not a case here
            continue
    return list(chosen.values())


def with_pixel_description(stored: int, high_bit: int, signed: int) -> bytes:
    """CT_small.dcm (16-bit) declared with other Bits Stored, High Bit and Pixel Representation: its
    words then have bits outside the stored ones, which both decoders must drop the same way."""
    ds = pydicom.dcmread(io.BytesIO(fresh_copy("CT_small.dcm")))
    words = np.frombuffer(ds.PixelData, "<u2").copy()
    words[::7] |= 0xF00F  # garbage above and below the stored bits in some words
    ds.PixelData = words.tobytes()
    ds.BitsStored, ds.HighBit, ds.PixelRepresentation = stored, high_bit, signed
    out = io.BytesIO()
    ds.save_as(out, write_like_original=False)
    return out.getvalue()


@pytest.fixture(scope="module")
def orthanc_without_sentinel():
    with OrthancServer({"Sentinel": {"Enabled": False}}) as orthanc:
        yield orthanc


def orthanc_frames(orthanc: OrthancServer, instance_id: str, count: int) -> list[np.ndarray]:
    frames = []
    for i in range(count):
        answer = orthanc.get(f"/instances/{instance_id}/frames/{i}/numpy?rescale=false")
        answer.raise_for_status()
        frame = np.load(io.BytesIO(answer.content), allow_pickle=False)
        frames.append(frame[..., 0])
    return frames


def assert_same_as_orthanc(orthanc: OrthancServer, data: bytes) -> None:
    ds = pydicom.dcmread(io.BytesIO(data), force=True)
    ours = list(native_frames(ds))
    instance_id = orthanc.upload(data).json()["ID"]
    theirs = orthanc_frames(orthanc, instance_id, len(ours))
    for mine, reference in zip(ours, theirs):
        assert mine.dtype == reference.dtype and mine.shape == reference.shape
        assert np.array_equal(mine, reference)


def test_real_files_decode_as_orthanc_decodes_them(orthanc_without_sentinel):
    files = accepted_real_files()
    assert len(files) >= 8  # 8- and 16-bit, signed and unsigned, single and multi-frame
    for data in files:
        assert_same_as_orthanc(orthanc_without_sentinel, data)


@pytest.mark.parametrize("stored, high_bit, signed", [(12, 11, 0), (12, 11, 1), (12, 13, 0), (10, 14, 0), (16, 15, 1)])
def test_bits_outside_the_stored_ones_and_the_high_bit_are_read_as_orthanc_does(orthanc_without_sentinel, stored,
                                                                                 high_bit, signed):
    assert_same_as_orthanc(orthanc_without_sentinel, with_pixel_description(stored, high_bit, signed))


def test_signed_values_shifted_by_their_high_bit_are_left_to_orthanc():
    ds = pydicom.dcmread(io.BytesIO(with_pixel_description(10, 14, 1)))
    assert native_frames(ds) is None
