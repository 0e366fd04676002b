"""The lesion check's numba kernels (validators.pixels.matched.matched_filter, local_energy, lesions.binned)
against their scipy / numpy references: the same maps bit for bit on random differences (short lines whose
reflection repeats, odd and even sizes, ties, zero noise) and on real MR (pydicom-data's emri_small), and
the same findings from the whole check on every volume of test_pixels_lesions and more."""

import numpy as np
import pydicom
import pytest

from bench import tampering
from realfiles import PYDICOM_DATA_FILES, pydicom_file
from validators.pixels import lesions, matched
from validators.pixels.lesions import SCALES, _BATCH, binned, binned_reference, lesion_findings
from validators.pixels.matched import (local_energy, local_energy_reference, matched_filter, matched_filter_reference,
                                       template)


def emri_volume() -> list[np.ndarray]:
    path = PYDICOM_DATA_FILES / "emri_small.dcm"
    if not path.exists():
        pytest.skip("pydicom-data is not installed in .runtime/pydeps")
    return list(pydicom.dcmread(path).pixel_array)


def assert_same_maps(differences, sigmas):
    for scale in SCALES:
        got, expected = matched_filter(differences, scale, sigmas), matched_filter_reference(differences, scale, sigmas)
        for a, b in zip(got[:2], expected[:2]):
            assert a.dtype == b.dtype == np.float32
            assert np.array_equal(a, b), f"scale {scale}: largest difference {np.max(np.abs(a - b))}"
        assert got[2].dtype == expected[2].dtype == np.float64 and np.array_equal(got[2], expected[2])
        energy, width = got[0], template(scale, np.float32).width
        assert np.array_equal(local_energy(energy, width), local_energy_reference(energy, width))


@pytest.mark.parametrize("shape", [(3, 48, 40), (2, 10, 7), (2, 5, 64), (1, 33, 33), (16, 64, 64), (2, 130, 97)])
def test_matched_filter_equals_reference_on_random_differences(shape):
    rng = np.random.default_rng(sum(shape))
    differences = rng.normal(0, 5, shape).astype(np.float32)
    differences[0, : shape[1] // 2] += 40 * np.sin(np.arange(shape[2]) / 3)     # structure, not only noise
    sigmas = rng.uniform(0.5, 4, shape[0])
    sigmas[0] = 0
    assert_same_maps(differences, sigmas)


@pytest.mark.parametrize("make", [lambda rng: np.zeros((2, 40, 40)), lambda rng: rng.integers(-2, 3, (3, 40, 41)),
                                  lambda rng: np.round(rng.normal(0, 1, (2, 64, 64))) * 1e-3])
def test_matched_filter_equals_reference_with_ties(make):
    """Many equal values: the medians' ties, and flat windows (zero energy)."""
    differences = make(np.random.default_rng(7)).astype(np.float32)
    assert_same_maps(differences, np.arange(len(differences), dtype=float))


def test_matched_filter_equals_reference_on_real_mr():
    volume = np.array(emri_volume(), np.float32)
    assert_same_maps(volume[1:] - volume[:-1], np.full(len(volume) - 1, 3.0))


def test_matched_filter_kernel_as_python_equals_reference():
    """The kernel's own loops run as Python (``py_func``), for coverage of the kernel's code."""
    differences = np.random.default_rng(2).normal(0, 3, (2, 12, 9)).astype(np.float32)
    sigmas = np.array([0.0, 1.0])
    kernel = matched._matched_maps
    matched._matched_maps = getattr(kernel, "py_func", kernel)
    try:
        assert_same_maps(differences, sigmas)
    finally:
        matched._matched_maps = kernel


def test_matched_filter_refuses_other_types():
    with pytest.raises(ValueError):
        matched_filter(np.zeros((1, 8, 8)), 2.0, np.zeros(1))


@pytest.mark.parametrize("shape,width", [((2, 48, 40), 19), ((1, 10, 7), 29), ((3, 64, 64), 37), ((1, 5, 64), 3)])
def test_local_energy_equals_reference(shape, width):
    """Windows wider than the map (reflection repeats), values over six decades."""
    rng = np.random.default_rng(width)
    maps = (rng.normal(0, 1, shape) * 10 ** rng.uniform(-3, 3, shape)).astype(np.float32)
    got, expected = local_energy(maps, width), local_energy_reference(maps, width)
    assert got.dtype == expected.dtype == np.float32 and np.array_equal(got, expected)


def test_local_energy_kernel_as_python_equals_reference():
    """The kernel's loops run as Python (``py_func``), for coverage of the kernel's code."""
    maps = np.random.default_rng(3).normal(0, 2, (2, 12, 9)).astype(np.float32)
    kernel = matched._energy_maps
    matched._energy_maps = getattr(kernel, "py_func", kernel)
    try:
        assert np.array_equal(local_energy(maps, 7), local_energy_reference(maps, 7))
    finally:
        matched._energy_maps = kernel


def test_local_energy_refuses_other_types():
    with pytest.raises(ValueError):
        local_energy(np.zeros((1, 8, 8)), 3)


def volumes() -> dict[str, list[np.ndarray]]:
    """The volumes of test_pixels_lesions, blobs near the threshold, real CT and noise, NaN."""
    emri = emri_volume()
    found = {"emri": emri, "emri reversed": emri[::-1]}
    for size, contrast in ((12, 20), (16, 20), (24, 20), (16, 6), (12, 6), (16, 10), (24, 10)):
        volume = list(emri)
        volume[5] = tampering.lesion(volume[5], size, np.random.default_rng(size), contrast=contrast, margin=8)[0]
        found[f"emri blob {size} px {contrast} sigma"] = volume
    volume = list(emri)
    forged = tampering.lesion(volume[5], 16, np.random.default_rng(0), contrast=40, margin=8)[0]
    volume[4] = (volume[4] + (forged.astype(np.int32) - volume[5])).astype(volume[4].dtype)
    volume[5] = forged
    found["emri blob in a neighbour"] = volume
    rng = np.random.default_rng(1)
    large = [rng.normal(1000, 20, (512, 512)).astype(np.float32) for _ in range(3)]
    y, x = np.mgrid[:512, :512]
    large[1] += 20 * 20 * np.exp(-((y - 300) ** 2 + (x - 200) ** 2) / (2 * 6.0 ** 2))
    found["512 x 512 binned"] = large
    rng = np.random.default_rng(5)
    rows, cols = np.mgrid[:64, :64]
    batches = [rng.normal(100, 2, (64, 64)) for _ in range(_BATCH + 4)]
    batches[_BATCH] = batches[_BATCH] + 40 * np.exp(-((rows - 30) ** 2 + (cols - 34) ** 2) / (2 * 3.0 ** 2))
    found["blob between two batches"] = batches
    ct = pydicom.dcmread(pydicom_file("CT_small.dcm")).pixel_array.astype(np.float64)
    found["real CT shifted"] = [np.roll(ct, 3 * k, axis=k % 2) for k in range(6)]
    found["noise 40 x 300"] = [np.random.default_rng(k).normal(0, 10, (40, 300)) for k in range(4)]
    with_nan = [np.random.default_rng(k).normal(0, 10, (48, 48)) for k in range(4)]
    with_nan[2][10, 10] = np.nan
    found["NaN pixel"] = with_nan
    return found


def test_findings_equal_the_references(monkeypatch):
    """The whole check with the kernels and with the scipy / numpy references: the same findings, the
    same scores, on every volume, and findings there are to compare."""
    ids_of = {name: [f"slice{k}" for k in range(len(v))] for name, v in volumes().items()}
    got = {name: lesion_findings(ids_of[name], v) for name, v in volumes().items()}
    monkeypatch.setattr(lesions, "matched_filter", matched_filter_reference)
    monkeypatch.setattr(lesions, "local_energy", local_energy_reference)
    monkeypatch.setattr(lesions, "binned", binned_reference)
    expected = {name: lesion_findings(ids_of[name], v) for name, v in volumes().items()}
    assert got == expected
    assert sum(len(f) for f in got.values()) >= 8


@pytest.mark.parametrize("factor", [2, 3, 4, 5, 7, 8])
@pytest.mark.parametrize("shape", [(512, 512), (700, 515), (99, 64)])
def test_binned_equals_reference(factor, shape):
    """Bin means of values over nine decades (where the order of the sums shows), float64 and int16."""
    rng = np.random.default_rng(factor)
    image = rng.normal(0, 1, shape) * 10 ** rng.uniform(-3, 6, shape)
    for typed in (image, image.astype(np.float32), np.clip(image, -30000, 30000).astype(np.int16)):
        got, expected = binned(typed, factor), binned_reference(typed, factor)
        assert got.dtype == expected.dtype == np.float32 and np.array_equal(got, expected)


def test_warm_up_compiles_what_the_check_uses():
    """After warm_up, the check of float64 slices (what check_volume hands in), binned or not, compiles nothing."""
    lesions.warm_up()
    kernels = (matched._matched_maps, matched._energy_maps, lesions._bin_means)
    before = [len(k.signatures) for k in kernels]
    for side in (64, 600):
        lesion_findings(["a", "b", "c"], [np.random.default_rng(k).normal(0, 1, (side, side)) for k in range(3)])
    assert [len(k.signatures) for k in kernels] == before
