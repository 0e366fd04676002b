"""What validators.nativeframes leaves to Orthanc's decoder, and the frames it gives (their values are
compared with Orthanc's own in tests/integration/test_native_frames.py)."""

from __future__ import annotations

import numpy as np
import pydicom
import pytest

from realfiles import PYDICOM_DATA_FILES, pydicom_file
from validators.nativeframes import native_frames


def test_single_frame_ct_gives_one_signed_frame_of_its_stored_words():
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    frames = list(native_frames(ds))
    assert len(frames) == 1 and frames[0].dtype == np.int16 and frames[0].shape == (ds.Rows, ds.Columns)
    assert np.array_equal(frames[0], np.frombuffer(ds.PixelData, "<i2").reshape(ds.Rows, ds.Columns))
    assert not np.shares_memory(frames[0], np.frombuffer(ds.PixelData, np.uint8))


def test_multi_frame_gives_each_frame_in_order():
    path = PYDICOM_DATA_FILES / "emri_small.dcm"  # pydicom-data
    if not path.exists():
        pytest.skip("pydicom-data is not installed")
    ds = pydicom.dcmread(path)
    frames = list(native_frames(ds))
    assert len(frames) == int(ds.NumberOfFrames)
    assert np.array_equal(np.stack(frames), ds.pixel_array)


@pytest.mark.parametrize("name, change", [
    ("CT_small.dcm", {}),  # the control: decoded
    ("JPEG2000.dcm", {}),                                    # compressed
    ("SC_rgb_small_odd.dcm", {}),                            # colour
    ("MR_small_bigendian.dcm", {}),                          # big endian
    ("CT_small.dcm", {"PhotometricInterpretation": "PALETTE COLOR"}),
    ("CT_small.dcm", {"BitsStored": 10, "HighBit": 14}),    # signed and shifted: Orthanc's slow path
    ("CT_small.dcm", {"BitsAllocated": 32}),
    ("CT_small.dcm", {"Rows": 4096}),                        # declares more than Pixel Data holds
])
def test_what_orthanc_does_not_copy_straight_is_left_to_it(name, change):
    ds = pydicom.dcmread(pydicom_file(name))
    for keyword, value in change.items():
        setattr(ds, keyword, value)
    assert (native_frames(ds) is not None) == (name == "CT_small.dcm" and not change)
