"""validators.pixelbits: the numba kernel against the plain numpy reference, on random and real data,
compiled and as pure Python (``.py_func``, or everything with NUMBA_DISABLE_JIT=1)."""

import warnings

import numpy as np
import pydicom
import pytest

from realfiles import all_pydicom_files
from validators import pixelbits
from validators.pixelbits import PixelBits, pixel_bits, pixel_bits_reference, stored_range, warm_up

# (bits allocated, signed, numpy dtype of the random samples)
KINDS = [(8, False, np.uint8), (8, True, np.int8), (16, False, np.uint16), (16, True, np.int16),
         (32, False, np.uint32), (32, True, np.int32)]


def random_samples(dtype, n, seed):
    info = np.iinfo(dtype)
    return np.random.default_rng(seed).integers(info.min, info.max, size=n, dtype=dtype, endpoint=True)


@pytest.mark.parametrize("bits_allocated,signed,dtype", KINDS)
@pytest.mark.parametrize("big_endian", [False, True])
def test_kernel_equals_reference_on_random_data(bits_allocated, signed, dtype, big_endian):
    samples = random_samples(dtype, 10_001, seed=bits_allocated)
    buffer = samples.astype(samples.dtype.newbyteorder(">" if big_endian else "<")).tobytes()
    for bits_stored in sorted({1, bits_allocated // 2, bits_allocated - 4, bits_allocated - 1, bits_allocated}):
        got = pixel_bits(buffer, bits_allocated, bits_stored, signed, big_endian)
        assert got == pixel_bits_reference(buffer, bits_allocated, bits_stored, signed, big_endian)
        assert (got.minimum, got.maximum) == (samples.min(), samples.max())


def test_counts_of_a_known_array():
    # 12 bits stored in 16: 4095 and -2048..2047 are the limits.
    unsigned = np.array([0, 4095, 4096, 65535], dtype="<u2").tobytes()
    assert pixel_bits(unsigned, 16, 12, False, False) == PixelBits(2, 4, 0, 65535)
    signed = np.array([-2048, 2047, -2049, 2048, -1], dtype=">i2").tobytes()
    assert pixel_bits(signed, 16, 12, True, True) == PixelBits(2, 5, -2049, 2048)
    assert pixel_bits(signed, 16, 12, True, True).fraction == 2 / 5


def test_stored_range():
    assert stored_range(12, False) == (0, 4095)
    assert stored_range(12, True) == (-2048, 2047)
    assert stored_range(1, True) == (-1, 0)


@pytest.mark.parametrize("args,message", [
    ((b"\0\0", 12, 8, False, False), "Bits Allocated 12"),
    ((b"\0\0", 16, 17, False, False), "Bits Stored 17"),
    ((b"\0\0", 16, 0, False, False), "Bits Stored 0"),
    ((b"\0\0\0", 16, 12, False, False), "3 bytes"),
    ((b"", 8, 8, False, False), "0 bytes"),
])
def test_bad_arguments_raise(args, message):
    for function in (pixel_bits, pixel_bits_reference):
        with pytest.raises(ValueError, match=message):
            function(*args)


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.uint32])
def test_pure_python_kernel_equals_reference(dtype):
    """The kernel's own Python code, so that coverage sees it even when numba compiles."""
    kernel = getattr(pixelbits._count_outside, "py_func", pixelbits._count_outside)
    words = random_samples(dtype, 500, seed=1)
    bits_stored = 8 * words.itemsize - 3
    for swap in (False, True):
        for signed in (False, True):
            lo, hi = stored_range(bits_stored, signed)
            got = kernel(words, swap, signed, lo, hi)
            # Swapped words are in the byte order opposite to the machine's.
            expected = pixel_bits_reference(words.tobytes(), 8 * words.itemsize, bits_stored, signed,
                                            big_endian=swap == np.little_endian)
            assert got == (expected.out_of_range, expected.minimum, expected.maximum)


def native_pixel_files():
    """(name, Pixel Data bytes, bits allocated, bits stored, signed, big endian) of each real file with
    native 8, 16 or 32-bit integer pixel data whose length matches its Image Pixel module."""
    out = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        for path in all_pydicom_files():
            ds = pydicom.dcmread(path, force=True)
            ts = ds.file_meta.get("TransferSyntaxUID")
            if "PixelData" not in ds or ts is None or ts.is_compressed or ds.get("BitsAllocated") not in (8, 16, 32):
                continue
            nbytes = ds.BitsAllocated // 8
            length = len(ds.PixelData) // nbytes * nbytes
            out.append(pytest.param(ds.PixelData[:length], ds.BitsAllocated, ds.BitsStored,
                                    ds.PixelRepresentation == 1, not ts.is_little_endian, id=path.name))
    return out


@pytest.mark.parametrize("buffer,bits_allocated,bits_stored,signed,big_endian", native_pixel_files())
def test_kernel_equals_reference_on_real_files(buffer, bits_allocated, bits_stored, signed, big_endian):
    for stored in (bits_stored, bits_allocated // 2):  # as declared, and one that leaves samples outside
        assert (pixel_bits(buffer, bits_allocated, stored, signed, big_endian)
                == pixel_bits_reference(buffer, bits_allocated, stored, signed, big_endian))


def test_real_files_cover_every_kind():
    kinds = {(p.values[1], p.values[3], p.values[4]) for p in native_pixel_files()}
    assert {(8, False, False), (8, False, True), (16, True, False), (16, True, True), (16, False, False),
            (32, False, False), (32, False, True)} <= kinds


def test_warm_up_runs():
    warm_up()
