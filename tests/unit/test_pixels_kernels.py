"""validators.pixels.kernels: each numba kernel against its plain numpy reference, compiled and as pure
Python (``.py_func``), on random frames of every pixel type and on real images."""

import numpy as np
import pydicom
import pytest

from realfiles import pydicom_file
from validators.pixels import kernels
from validators.pixels.kernels import block_noise, block_noise_reference, window_hashes, window_hashes_reference

DTYPES = [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32, np.float32, np.float64]


def random_frame(dtype, shape=(70, 53), seed=0):
    rng = np.random.default_rng(seed)
    if np.dtype(dtype).kind == "f":
        return (rng.normal(0, 100, shape)).astype(dtype)
    info = np.iinfo(dtype)
    return rng.integers(max(info.min, -5000), min(info.max, 5000), shape, endpoint=True).astype(dtype)


def assert_noise_equal(got, expected):
    for a, b in zip(got, expected):
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("dtype", DTYPES)
def test_block_noise_equals_reference(dtype):
    frame = random_frame(dtype)
    for block in (4, 8, 16):
        assert_noise_equal(block_noise(frame, block), block_noise_reference(frame, block))


@pytest.mark.parametrize("dtype", DTYPES)
def test_window_hashes_equal_reference(dtype):
    frame = random_frame(dtype, (40, 33))
    for bits in (0, 2, 4):
        got, expected = window_hashes(frame, 8, bits), window_hashes_reference(frame, 8, bits)
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)


def test_flat_areas_do_not_fill_the_sample():
    frame = np.zeros((64, 64), np.uint16)
    assert window_hashes(frame, 8, 0).hashes.size == 64 - 7   # one per row


def test_noise_estimate_of_gaussian_noise():
    """Immerkaer's estimator gives the sigma of white Gaussian noise."""
    frame = np.random.default_rng(1).normal(1000, 10, (256, 256))
    assert abs(np.median(block_noise(frame, 16).sigma) - 10) < 0.6


def test_real_images():
    for name in ("CT_small.dcm", "MR_small.dcm", "SC_rgb_rle.dcm"):
        frame = pydicom.dcmread(pydicom_file(name)).pixel_array
        frame = frame[..., 0] if frame.ndim == 3 else frame
        assert_noise_equal(block_noise(frame), block_noise_reference(frame))
        got, expected = window_hashes(frame[:96, :96]), window_hashes_reference(frame[:96, :96])
        np.testing.assert_array_equal(got.hashes, expected.hashes)


@pytest.mark.filterwarnings("ignore:overflow:RuntimeWarning")
def test_pure_python_kernels_equal_reference():
    """The kernels' own Python code, so that coverage sees it even when numba compiles."""
    frame = random_frame(np.int16, (20, 19))
    out = [np.empty((2, 2)) for _ in range(4)]
    scratch = [np.empty(frame.shape[1], np.float32), np.empty(16, np.float32)]
    getattr(kernels._block_noise, "py_func", kernels._block_noise)(frame, 8, *scratch, *out)
    assert_noise_equal(out, block_noise_reference(frame, 8))
    capacity = 400
    out = [np.empty(capacity, np.int64) for _ in range(3)]
    n = getattr(kernels._window_hashes, "py_func", kernels._window_hashes)(frame, 8, kernels._keep_mask(1), *out)
    reference = window_hashes_reference(frame, 8, 1)
    np.testing.assert_array_equal(out[0][:n], reference.hashes)
    np.testing.assert_array_equal(out[1][:n], reference.rows)


def test_bad_frames_raise():
    with pytest.raises(ValueError, match="2-D"):
        block_noise(np.zeros((8, 8, 3)))
    with pytest.raises(ValueError, match="smaller"):
        window_hashes(np.zeros((4, 40), np.uint8))
    with pytest.raises(ValueError, match="not supported"):
        block_noise(np.zeros((16, 16), np.float16))


def test_warm_up():
    kernels.warm_up()


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16])
def test_histogram_equals_reference(dtype):
    frame = random_frame(dtype)
    for got, expected in zip(kernels.histogram(frame), kernels.histogram_reference(frame)):
        np.testing.assert_array_equal(got, expected)
    counts = np.zeros(1 << (8 * np.dtype(dtype).itemsize), np.int64)
    offset = 128 if dtype == np.int8 else 32768 if dtype == np.int16 else 0
    low, high = getattr(kernels._count, "py_func", kernels._count)(frame[:5, :5], offset, counts)
    assert counts.sum() == 25 and low == int(frame[:5, :5].min()) + offset and high == int(frame[:5, :5].max()) + offset
    with pytest.raises(ValueError, match="16 bits"):
        kernels.histogram(frame.astype(np.int32))


def frame_with_square(dtype, seed=0):
    """Smooth random texture with a square of other texture pasted in: a seam on its four sides."""
    rng = np.random.default_rng(seed)
    texture = np.cumsum(np.cumsum(rng.normal(0, 1, (96, 88)), 0), 1)
    other = np.cumsum(np.cumsum(rng.normal(0, 1, (96, 88)), 0), 1)
    texture[30:62, 20:52] = other[30:62, 20:52] + texture[30:62, 20:52].mean() - other[30:62, 20:52].mean()
    texture = (texture - texture.min()) / np.ptp(texture) * 100 + rng.normal(0, 1, texture.shape)
    info = np.iinfo(dtype)
    return np.clip(np.round(texture), info.min, info.max).astype(dtype)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32])
def test_seam_squares_equal_reference(dtype):
    for frame in (frame_with_square(dtype), random_frame(dtype, (70, 61))):
        got = kernels.seam_squares(frame, 24, 64, -0.05, 0.2, 0.1, -1.0, 0.25)
        expected = kernels.seam_squares_reference(frame, 24, 64, -0.05, 0.2, 0.1, -1.0, 0.25)
        assert got.scores.size > 0
        for a, b in zip(got, expected):
            np.testing.assert_array_equal(a, b)
    found = kernels.seam_squares(frame_with_square(dtype), 24, 64, 0.1, 0.2, 0.1, 0.4, 0.25)
    assert [30, 20, 32] in np.stack([found.rows, found.cols, found.sides], 1).tolist()


def test_seam_squares_of_real_images_equal_reference():
    for name in ("CT_small.dcm", "MR_small.dcm"):
        frame = pydicom.dcmread(pydicom_file(name)).pixel_array
        for a, b in zip(kernels.seam_squares(frame, 24, 48, 0.05, 0.2, 0.1, -1.0, 0.0),
                        kernels.seam_squares_reference(frame, 24, 48, 0.05, 0.2, 0.1, -1.0, 0.0)):
            np.testing.assert_array_equal(a, b)


def test_seam_squares_in_bands_equal_reference():
    """A frame searched in bands of rows finds what the whole frame's search finds."""
    frame = np.vstack([frame_with_square(np.int16, seed) for seed in range(3)])
    expected = kernels.seam_squares_reference(frame, 24, 64, -0.05, 0.2, 0.1, -1.0, 0.25)
    for band_pixels in (64 * 88, 100 * 88):
        got = kernels.seam_squares(frame, 24, 64, -0.05, 0.2, 0.1, -1.0, 0.25, 1 << 16, band_pixels)
        np.testing.assert_allclose(got.scores, expected.scores, rtol=0, atol=1e-5)
        for a, b in zip(got[1:], expected[1:]):
            np.testing.assert_array_equal(a, b)


def test_seam_squares_reuse_their_sums_across_shapes():
    small, large = frame_with_square(np.int16), random_frame(np.int16, (70, 61))
    first = kernels.seam_squares(small, 24, 64, 0.1, 0.2, 0.1, 0.0, 0.25)
    kernels.seam_squares(large, 24, 64, 0.1, 0.2, 0.1, 0.0, 0.25)
    for a, b in zip(first, kernels.seam_squares(small, 24, 64, 0.1, 0.2, 0.1, 0.0, 0.25)):
        np.testing.assert_array_equal(a, b)
    with pytest.raises(ValueError, match="at least"):
        kernels.seam_squares(small, 8, 64, 0.1, 0.2, 0.1, 0.0, 0.25)


def test_lattice_contrast_of_a_rescaled_patch():
    """A square whose values were multiplied by 3 has no step of 1 left (but the pairs straddling its
    outline): its contrast is high, a square of the same noise as its ring has none; the kernel equals
    its reference."""
    rng = np.random.default_rng(3)
    frame = np.round(rng.normal(500, 4, (80, 80))).astype(np.int16)
    frame[24:56, 24:56] = 3 * np.round(rng.normal(500, 2, (32, 32))).astype(np.int16) - 1000
    counts = kernels.seam_sums_reference(frame)[2]
    lattice = getattr(kernels._lattice_contrast, "py_func", kernels._lattice_contrast)
    for (r, c), low, high in (((24, 24), 0.75, 1.0), ((8, 8), 0.0, 0.1)):
        got = kernels._lattice_contrast(counts, r, c, 32)
        assert got == lattice(counts, r, c, 32) == kernels._lattice_contrast_reference(counts, r, c, 32)
        assert low <= got <= high
    # A patch of steps of 5 on a fifth of its pixels each way: too flat inside for the texture test, but its
    # unit steps are gone (a smooth patch rescaled); found, as the reference finds.
    bars = 5 * ((np.arange(32) // 5) % 2)
    frame[24:56, 24:56] = 480 + bars[:, None] + bars[None, :]
    counts = kernels.seam_sums_reference(frame)[2]
    varied = getattr(kernels._square_varied, "py_func", kernels._square_varied)
    assert lattice(counts, 24, 24, 32) == 1.0 and not varied(counts, 24, 24, 32, 0.25, True)
    for a, b in zip(kernels.seam_squares(frame, 24, 32, -0.05, 0.2, 0.1, -1.0, 0.25),
                    kernels.seam_squares_reference(frame, 24, 32, -0.05, 0.2, 0.1, -1.0, 0.25)):
        np.testing.assert_array_equal(a, b)
    found = kernels.seam_squares(frame, 24, 32, 0.1, 0.2, 0.1, 0.3, 0.25)
    assert [24, 24, 32] in np.stack([found.rows, found.cols, found.sides], 1).tolist()


def test_pure_python_seam_kernels_equal_reference():
    """The seam kernels' own Python code (coverage), on a small frame."""
    frame = frame_with_square(np.int16)[20:72, 10:62]
    height, width = frame.shape
    sums = np.empty((height + 1, width), np.float32), np.empty((height, width + 1), np.float32), \
        np.empty((height + 1, width + 1), np.int64), np.empty((2, height + 1, width + 1), np.uint32)
    getattr(kernels._seam_sums, "py_func", kernels._seam_sums)(frame, np.empty((5, width), np.float32), *sums)
    for a, b in zip(sums, kernels.seam_sums_reference(frame)):
        np.testing.assert_array_equal(a, b.astype(a.dtype))     # the texture sums modulo 2^32
    arrays = [np.empty(64), *(np.empty(64, np.int64) for _ in range(3))]
    flags = np.empty((2, height, width), np.uint8)
    getattr(kernels._corner_flags, "py_func", kernels._corner_flags)(sums[0], sums[1], 0.1, flags)
    n = getattr(kernels._seam_squares, "py_func", kernels._seam_squares)(*sums, flags, 0, height, 24, 32, 0.1, 0.2, 0.1,
                                                                                 0.0, 0.25, *arrays)
    expected = kernels.seam_squares_reference(frame, 24, 32, 0.1, 0.2, 0.1, 0.0, 0.25)
    np.testing.assert_array_equal(arrays[0][:n], expected.scores)
    np.testing.assert_array_equal(arrays[1][:n], expected.rows)


def noisy_map(seed, shape=(40, 48)):
    """A block noise map: sigma about 4, a few noisier squares of blocks, NaN (not informative) blocks."""
    rng = np.random.default_rng(seed)
    sigma = rng.uniform(3, 5, shape)
    for _ in range(6):
        k = int(rng.integers(1, 9))
        r, c = (int(rng.integers(0, n - k)) for n in shape)
        sigma[r:r + k, c:c + k] *= rng.uniform(1.2, 4)
    sigma[rng.random(shape) < 0.02] = np.nan
    return sigma


@pytest.mark.parametrize("seed", range(4))
def test_noisy_squares_equal_reference(seed):
    sigma = noisy_map(seed)
    for least in (0.1, 0.3):
        fast, slow = kernels.noisy_squares(sigma, 2, 7, least), kernels.noisy_squares_reference(sigma, 2, 7, least)
        order = np.lexsort((fast.cols, fast.rows))
        assert fast.rows[order].tolist() == slow.rows.tolist() and fast.cols[order].tolist() == slow.cols.tolist()
        assert fast.sides[order].tolist() == slow.sides.tolist()
        np.testing.assert_allclose(fast.scores[order], slow.scores, rtol=1e-12)
        assert (fast.scores >= least).all() and fast.rows.size > 0


def test_noisy_square_found_where_it_was_made():
    sigma = np.full((20, 20), 2.0)
    sigma[6:10, 8:12] = 6.0            # 4x4 blocks three times noisier
    sigma[5, 7:13] = 4.0               # a moat of blocks it covers in part
    found = kernels.noisy_squares(sigma, 2, 7, 0.3)
    best = np.argmax(found.scores)
    assert (found.rows[best], found.cols[best], found.sides[best]) == (6, 8, 4)
    assert found.scores[best] == pytest.approx(np.log(3.0))
    sigma[18, 10] = np.nan             # on no ring of that square
    sigma[7, 9] = np.nan               # inside it: no square holds it
    assert not any(r <= 7 < r + k and c <= 9 < c + k for r, c, k in
                   zip(*(getattr(kernels.noisy_squares(sigma, 2, 7, 0.3), f) for f in ("rows", "cols", "sides"))))


def test_pure_python_noisy_squares_equal_reference():
    sigma = noisy_map(7, (24, 24))
    arrays = [np.empty(256), *(np.empty(256, np.int64) for _ in range(3))]
    n = getattr(kernels._noisy_squares, "py_func", kernels._noisy_squares)(sigma, 2, 7, 0.2, *arrays)
    slow = kernels.noisy_squares_reference(sigma, 2, 7, 0.2)
    order = np.lexsort((arrays[2][:n], arrays[1][:n]))
    assert arrays[1][:n][order].tolist() == slow.rows.tolist() and arrays[3][:n][order].tolist() == slow.sides.tolist()


def assert_pairs_equal(got, expected):
    for a, b in zip(got, expected):
        assert a.dtype == b.dtype
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-6)


@pytest.mark.parametrize("dtype", [np.uint8, np.int8, np.uint16, np.int16, np.uint32, np.int32])
def test_block_value_pairs_equal_reference(dtype):
    frame = random_frame(dtype, (70, 53))
    frame[:16, :16] = 7                               # flat blocks: one value, no pair
    frame[24:56, 24:48] = frame[24:56, 24:48] // 5 * 5    # values 5 apart: no pair
    frame[56:64, :8] = np.arange(64).reshape(8, 8)        # a ramp: 63 pairs
    for block in (4, 8):
        assert_pairs_equal(kernels.block_value_pairs(frame, block), kernels.block_value_pairs_reference(frame, block))
    pairs = kernels.block_value_pairs(frame)
    assert pairs.pairs[0, 0] == 0 and pairs.commonest[0, 0] == 64 and pairs.spread[0, 0] == 0
    assert pairs.pairs[7, 0] == 63 and pairs.commonest[7, 0] == 1


def test_block_value_pairs_of_values_beyond_31_bits():
    for dtype, base in ((np.uint32, 3_000_000_000), (np.int32, -2_147_483_000), (np.uint32, 2**32 - 5000)):
        frame = (random_frame(np.int16, (40, 48)).astype(np.int64) % 4000 + base).astype(dtype)
        assert_pairs_equal(kernels.block_value_pairs(frame), kernels.block_value_pairs_reference(frame))
        frame[0, 0] = base - 100_000 if dtype == np.uint32 else base + 100_000    # a range beyond 16 bits
        assert_pairs_equal(kernels.block_value_pairs(frame), kernels.block_value_pairs_reference(frame))


def test_block_value_pairs_of_real_images():
    for name in ("CT_small.dcm", "MR_small.dcm"):
        frame = pydicom.dcmread(pydicom_file(name)).pixel_array
        assert_pairs_equal(kernels.block_value_pairs(frame), kernels.block_value_pairs_reference(frame))


def test_block_value_pairs_refuse_floats_and_64_bit_integers():
    for dtype in (np.float32, np.int64):
        with pytest.raises(ValueError, match="integers"):
            kernels.block_value_pairs(np.zeros((16, 16), dtype))


def test_merge_network_sorts():
    rng = np.random.default_rng(3)
    for n in (16, 64):
        network = kernels.merge_network(n)
        values = rng.integers(0, 50, (200, n))
        for i, j in network:
            values[:, i], values[:, j] = np.minimum(values[:, i], values[:, j]), np.maximum(values[:, i], values[:, j])
        assert (np.diff(values, axis=1) >= 0).all()
    assert len(kernels.merge_network(64)) == 543


def test_pure_python_value_pair_kernel_equals_reference():
    """The value-pair kernel's own Python code (coverage), on a small frame, with 16- and 64-bit lanes."""
    frame = random_frame(np.int16, (24, 17))
    frame[8:16] //= 3
    frame[:8, :8] = 3
    low = int(frame[:24, :16].min())
    for lanes in (np.uint16, np.int64):
        out = [np.empty((3, 2), np.int64), np.empty((3, 2), np.int64), *(np.empty((3, 2)) for _ in range(3))]
        getattr(kernels._block_value_pairs, "py_func", kernels._block_value_pairs)(
            frame, 8, low, kernels.merge_network(64), np.empty((64, 2), lanes), *out)
        assert_pairs_equal(out, kernels.block_value_pairs_reference(frame, 8))


def pair_maps(seed, shape=(30, 36)):
    """Per-block maps of observed and expected value pairs, a few squares short of pairs, and blocks not
    informative."""
    rng = np.random.default_rng(seed)
    expected = rng.uniform(3, 20, shape)
    observed = np.round(expected * rng.uniform(0.6, 1.4, shape))
    for _ in range(5):
        k = int(rng.integers(1, 8))
        r, c = (int(rng.integers(0, n - k)) for n in shape)
        observed[r:r + k, c:c + k] = np.round(observed[r:r + k, c:c + k] * rng.uniform(0, 0.3))
    informative = rng.random(shape) > 0.03
    return np.where(informative, observed, 0), np.where(informative, expected, 0), informative


@pytest.mark.parametrize("seed", range(4))
def test_gap_squares_equal_reference(seed):
    maps = pair_maps(seed)
    for least in (-np.inf, 0.5, 2.0):
        fast = kernels.gap_squares(*maps, 2, 7, 1, 20.0, 0.9, least)
        slow = kernels.gap_squares_reference(*maps, 2, 7, 1, 20.0, 0.9, least)
        assert fast.rows.tolist() == slow.rows.tolist() and fast.cols.tolist() == slow.cols.tolist()
        assert fast.sides.tolist() == slow.sides.tolist()
        np.testing.assert_allclose(fast.scores, slow.scores, rtol=1e-9)
        assert (fast.scores >= least).all() and (least > 1 or fast.rows.size > 0)


def test_gap_square_found_where_it_was_made():
    observed, expected = np.full((20, 20), 10.0), np.full((20, 20), 10.0)
    observed[6:10, 8:12] = 0                # 4x4 blocks with no pair where 160 are expected
    found = kernels.gap_squares(observed, expected, np.ones((20, 20), bool), 2, 7, 1, 20.0, 0.9, 1.0)
    best = np.argmax(found.scores)
    assert (found.rows[best], found.cols[best], found.sides[best]) == (6, 8, 4)
    assert found.scores[best] == pytest.approx(np.log(161.0))


def test_pure_python_gap_squares_equal_reference():
    maps = pair_maps(7, (16, 18))
    arrays = [np.empty(288), *(np.empty(288, np.int64) for _ in range(3))]
    n = getattr(kernels._gap_squares, "py_func", kernels._gap_squares)(
        *(np.asarray(m, np.float64) for m in maps), 2, 7, 1, 20.0, 0.9, -np.inf, *arrays)
    slow = kernels.gap_squares_reference(*maps, 2, 7, 1, 20.0, 0.9, -np.inf)
    assert arrays[1][:n].tolist() == slow.rows.tolist() and arrays[3][:n].tolist() == slow.sides.tolist()
    np.testing.assert_allclose(arrays[0][:n], slow.scores, rtol=1e-9)
