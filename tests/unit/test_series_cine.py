"""validators.series.check_multiframe: real enhanced CT/MR and US cine stay clean; cine timing mutated."""

import copy

import pydicom
import pytest

from realfiles import DEID_DATA_FILES, data_package_files
from validators.findings import verdict_of
from validators.series import SeriesMember, check_multiframe


def multiframe_files():
    files = [p for p in data_package_files() if int(pydicom.dcmread(p, stop_before_pixels=True, force=True)
                                                     .get("NumberOfFrames") or 1) > 1]
    if not files:
        pytest.skip("pydicom-data and deid-data are not installed in .runtime/pydeps")
    return files


def test_real_multiframe_objects_stay_clean():
    for path in multiframe_files():
        ds = pydicom.dcmread(path, force=True)
        findings = check_multiframe(SeriesMember(path.name, ds, lambda: ds.pixel_array))
        assert verdict_of(findings) == "pass", (path.name, [f.to_json() for f in findings])


def us_cine():
    path = DEID_DATA_FILES / "data" / "ultrasounds" / "ultrasound-multiframe.dcm"
    if not path.exists():
        pytest.skip("deid-data is not installed")
    return pydicom.dcmread(path, stop_before_pixels=True)   # 30 frames, FrameTime 54.241 ms, CineRate 18


@pytest.mark.parametrize("changes,rule", [
    ({"CineRate": 30}, "cine.rate-mismatch"),
    ({"FrameTime": 0.5, "CineRate": 2000}, "cine.frame-rate"),
    ({"ActualFrameDuration": 80}, "cine.frame-duration"),
    ({"FrameIncrementPointer": 0x00181065}, "cine.frame-increment-pointer"),
    ({"FrameTimeVector": [0] + [54.241] * 28}, "cine.frame-time-vector"),
    ({"FrameTimeVector": [0] + [90.0] * 29}, "cine.rate-mismatch"),
])
def test_mutated_cine_timing(changes, rule):
    ds = copy.deepcopy(us_cine())
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    assert [f.rule for f in check_multiframe(SeriesMember("us", ds))] == [rule]
