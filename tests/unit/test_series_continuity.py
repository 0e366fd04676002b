"""validators.series.continuity: the numba kernel against numpy, and real 64 x 64 MR slices (emri_small's
frames as a stack) with a foreign, a swapped and a duplicated slice."""

import numpy as np
import pydicom
import pytest

from realfiles import pydicom_file
from seriesfiles import emri_stack, replaced
from validators.series import SeriesMember, check_multiframe, check_series
from validators.series import continuity
from validators.series.continuity import _correlations, accumulator, correlations_reference


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.int16, np.uint16, np.int32, np.float32])
def test_kernel_equals_reference(dtype):
    rng = np.random.default_rng(5)
    a = rng.integers(0, 200, 5000).astype(dtype)
    b = (a * 0.7 + rng.integers(0, 50, 5000)).astype(dtype)
    c = rng.integers(0, 200, 5000).astype(dtype)
    # The extremes of the type next to each other: the integer sums' widest shifted values.
    if np.issubdtype(dtype, np.integer):
        c[::2], c[1::2] = np.iinfo(dtype).min, np.iinfo(dtype).max
    for kernel in (_correlations, getattr(_correlations, "py_func", _correlations)):
        got = kernel(a, b, c, accumulator(a, b, c))
        expected = correlations_reference(a, b, c)
        assert got[0] == pytest.approx(expected[0], abs=1e-9) and got[1] == pytest.approx(expected[1], abs=1e-9)
        assert got[2] == expected[2]
    constant = np.full(10, 3, dtype=dtype)
    assert np.isnan(_correlations(constant, constant, constant, accumulator(constant))[0])
    assert _correlations(a, a, c, accumulator(a, c))[2] == 0


def test_accumulator():
    assert isinstance(accumulator(np.zeros(2, np.int16), np.zeros(2, np.uint8)), np.int64)
    assert isinstance(accumulator(np.zeros(2, np.int16), np.zeros(2, np.int32)), np.float64)
    assert isinstance(accumulator(np.zeros(2, np.float32)), np.float64)


def test_real_stack_is_clean():
    assert check_series(emri_stack()) == []


def rules(findings):
    return {f.rule: f.details["instances"] for f in findings}


def test_foreign_slice():
    stack = emri_stack()
    other = pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array    # another patient's 64 x 64 MR
    for k in (0, 4, 9):
        defective = stack[:k] + [replaced(stack[k], pixels=other)] + stack[k + 1:]
        assert rules(check_series(defective)) == {"series.slice-discontinuity": [stack[k].instance_id]}, k


def test_swapped_slices():
    stack = emri_stack()
    a, b = stack[2].pixels(), stack[7].pixels()
    swapped = stack[:2] + [replaced(stack[2], pixels=b)] + stack[3:7] + [replaced(stack[7], pixels=a)] + stack[8:]
    assert rules(check_series(swapped)) == {"series.slice-discontinuity": [stack[2].instance_id,
                                                                          stack[7].instance_id]}


def test_duplicated_pixels():
    stack = emri_stack()
    copied = stack[:5] + [replaced(stack[5], pixels=stack[4].pixels())] + stack[6:]
    assert rules(check_series(copied)) == {"series.duplicate-pixels": [stack[4].instance_id,
                                                                      stack[5].instance_id]}


def test_small_matrices_are_not_judged():
    stack = emri_stack()
    small = [replaced(m, pixels=m.pixels()[:16, :16], Rows=16, Columns=16) for m in stack]
    noise = np.random.default_rng(0).integers(0, 500, (16, 16))
    assert check_series(small[:3] + [replaced(small[3], pixels=noise)] + small[4:]) == []
    assert continuity.MIN_SAMPLES > 16 * 16


def test_enhanced_frames_continuity():
    """An enhanced object whose frames are the emri stack: clean, then with a foreign frame."""
    ds = pydicom.dcmread(pydicom_file("MR_small.dcm"))
    frames = np.stack([m.pixels() for m in emri_stack()])
    ds.NumberOfFrames = frames.shape[0]
    shared = pydicom.Dataset()
    orientation = pydicom.Dataset()
    orientation.ImageOrientationPatient = [1, 0, 0, 0, 1, 0]
    shared.PlaneOrientationSequence = [orientation]
    ds.SharedFunctionalGroupsSequence = [shared]
    groups = []
    for i in range(frames.shape[0]):
        plane, group = pydicom.Dataset(), pydicom.Dataset()
        plane.ImagePositionPatient = [0, 0, 5 * i]
        group.PlanePositionSequence = [plane]
        groups.append(group)
    ds.PerFrameFunctionalGroupsSequence = groups
    assert check_multiframe(SeriesMember("mf", ds, lambda: frames)) == []
    foreign = frames.copy()
    foreign[3] = pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array
    findings = check_multiframe(SeriesMember("mf", ds, lambda: foreign))
    assert [(f.rule, f.details) for f in findings] == [("series.slice-discontinuity",
                                                        {"instances": ["mf"], "frames": [4]})]
