"""validators.pixels.lesions on pydicom-data's real MR volume (emri_small: 10 slices of 64 x 64, 5 mm
apart): no finding on the clean slices, a blob injected into one slice found with its box."""

import numpy as np
import pydicom
import pytest

from bench import tampering
from realfiles import PYDICOM_DATA_FILES
from validators.pixels.lesions import lesion_findings


def emri_volume() -> list[np.ndarray]:
    path = PYDICOM_DATA_FILES / "emri_small.dcm"
    if not path.exists():
        pytest.skip("pydicom-data is not installed in .runtime/pydeps")
    return list(pydicom.dcmread(path).pixel_array)


def ids(volume):
    return [f"slice{k}" for k in range(len(volume))]


def test_clean_real_volume_has_no_finding():
    volume = emri_volume()
    assert lesion_findings(ids(volume), volume) == []
    assert lesion_findings(ids(volume), volume[::-1]) == []


@pytest.mark.parametrize("size", [12, 16, 24])
def test_blob_in_one_slice_found(size):
    volume = emri_volume()
    forged, box = tampering.lesion(volume[5], size, np.random.default_rng(size), contrast=20, margin=8)
    volume[5] = forged
    found = lesion_findings(ids(volume), volume)
    assert [f.details["instance"] for f in found] == ["slice5"]
    assert tampering.overlaps(found[0].details["bbox"], box)
    assert found[0].details["score"] >= 4 and found[0].details["sd"] in (2.0, 3.0, 4.5)


def test_blob_present_in_a_neighbour_is_not_isolated():
    volume = emri_volume()
    rng = np.random.default_rng(0)
    forged, box = tampering.lesion(volume[5], 16, rng, contrast=40, margin=8)
    blob = forged.astype(np.int32) - volume[5]
    volume[5] = forged
    volume[4] = (volume[4] + blob).astype(volume[4].dtype)     # the same object continues into slice 4
    assert [f for f in lesion_findings(ids(volume), volume) if f.details["instance"] == "slice5"] == []


def test_large_slices_are_binned_and_boxed_in_their_pixels():
    rng = np.random.default_rng(1)
    volume = [rng.normal(1000, 20, (512, 512)).astype(np.float32) for _ in range(3)]
    y, x = np.mgrid[:512, :512]
    volume[1] += 20 * 20 * np.exp(-((y - 300) ** 2 + (x - 200) ** 2) / (2 * 6.0 ** 2))
    found = lesion_findings(ids(volume), volume)
    assert len(found) == 1
    r0, c0, r1, c1 = found[0].details["bbox"]
    assert r0 < 300 < r1 and c0 < 200 < c1 and r1 - r0 < 80


def test_short_or_small_volumes_are_skipped():
    assert lesion_findings(["a", "b"], [np.zeros((64, 64))] * 2) == []
    assert lesion_findings(["a", "b", "c"], [np.zeros((16, 16))] * 3) == []
    assert lesion_findings(["a", "b", "c"], [np.zeros((64, 64))] * 3) == []     # no noise, no change
