"""Counting native integer pixel samples outside the range that Bits Stored (0028,0101) declares.

A sample of native (uncompressed) Pixel Data (7FE0,0010) occupies Bits Allocated (0028,0100) bits of which
only the low Bits Stored carry the value (PS3.5 8.1.1, High Bit (0028,0102) = Bits Stored - 1). Reading
each word whole, an unsigned sample above 2**BitsStored - 1, or a two's complement sample (Pixel
Representation (0028,0103) = 1) outside -2**(BitsStored-1) .. 2**(BitsStored-1) - 1, has bits set above
High Bit that are not a sign extension. PS3.5 8.1.1 Note 4 lets those unused bits hold anything, so this
is a heuristic, not a conformance test: many such samples usually mean data written with another Bits
Stored than declared, or edited pixels.

:func:`pixel_bits` checks its inputs and runs the numba kernel on a view of the caller's buffer, in one
pass and without copies; :func:`pixel_bits_reference` is the plain numpy version the tests compare with.
NUMBA_CACHE_DIR is the plugin's to set before this module is imported.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit

# Bits Allocated values with a numpy integer type; 1-bit data has no bits above High Bit to check.
_WORD = {8: np.uint8, 16: np.uint16, 32: np.uint32}


class PixelBits(NamedTuple):
    """What one pass over the samples found: how many of ``total`` are ``out_of_range``, and the least
    and greatest sample value read as whole words (signed or not as Pixel Representation says)."""

    out_of_range: int
    total: int
    minimum: int
    maximum: int

    @property
    def fraction(self) -> float:
        return self.out_of_range / self.total


def stored_range(bits_stored: int, signed: bool) -> tuple[int, int]:
    """The least and greatest value Bits Stored can hold: unsigned 0..2**n-1, two's complement
    -2**(n-1)..2**(n-1)-1 (PS3.3 C.7.6.3.1, Pixel Representation (0028,0103))."""
    if signed:
        return -(1 << (bits_stored - 1)), (1 << (bits_stored - 1)) - 1
    return 0, (1 << bits_stored) - 1


@njit(cache=True, nogil=True)
def _count_outside(words, swap, signed, lo, hi):
    """(count of samples outside lo..hi, min, max) of unsigned native words, in one pass.

    ``swap``: the words are byte-swapped (big endian data on a little endian machine); ``signed``: a word
    is two's complement over its full width. Both are loop invariant, so LLVM hoists the branches.
    """
    nbytes = words.itemsize
    full = np.int64(1) << (8 * nbytes)
    half = full >> 1
    count = 0
    smallest = np.int64(np.iinfo(np.int64).max)
    largest = np.int64(np.iinfo(np.int64).min)
    for i in range(words.size):
        v = np.int64(words[i])
        if swap and nbytes == 2:
            v = ((v & 0xFF) << 8) | (v >> 8)
        elif swap and nbytes == 4:
            v = ((v & 0xFF) << 24) | ((v & 0xFF00) << 8) | ((v >> 8) & 0xFF00) | (v >> 24)
        if signed and v >= half:
            v -= full
        if v < lo or v > hi:
            count += 1
        smallest = min(smallest, v)
        largest = max(largest, v)
    return count, smallest, largest


def _check_args(buffer: bytes | bytearray | memoryview, bits_allocated: int, bits_stored: int) -> int:
    """The number of samples in ``buffer``; ValueError on what the kernel cannot take."""
    if bits_allocated not in _WORD:
        raise ValueError(f"Bits Allocated {bits_allocated} not one of {sorted(_WORD)}")
    if not 1 <= bits_stored <= bits_allocated:
        raise ValueError(f"Bits Stored {bits_stored} not in 1..{bits_allocated}")
    nbytes = bits_allocated // 8
    size = memoryview(buffer).nbytes
    if size == 0 or size % nbytes:
        raise ValueError(f"{size} bytes is not a positive number of {bits_allocated}-bit samples")
    return size // nbytes


def pixel_bits(buffer: bytes | bytearray | memoryview, bits_allocated: int, bits_stored: int, signed: bool,
               big_endian: bool) -> PixelBits:
    """Count the samples of native pixel data outside the range of Bits Stored, in one pass.

    ``buffer``: exactly the samples, Bits Allocated (0028,0100) of 8, 16 or 32 bits each, in the byte
    order of the transfer syntax (``big_endian`` for Explicit VR Big Endian 1.2.840.10008.1.2.2);
    ``signed``: Pixel Representation (0028,0103) is 1. Raises ValueError on other Bits Allocated, on
    Bits Stored (0028,0101) outside 1..Bits Allocated, or on a buffer that is not whole samples.
    """
    total = _check_args(buffer, bits_allocated, bits_stored)
    words = np.frombuffer(buffer, dtype=_WORD[bits_allocated])
    swap = bits_allocated > 8 and big_endian == np.little_endian
    lo, hi = stored_range(bits_stored, signed)
    count, smallest, largest = _count_outside(words, bool(swap), bool(signed), lo, hi)
    return PixelBits(int(count), total, int(smallest), int(largest))


def pixel_bits_reference(buffer: bytes | bytearray | memoryview, bits_allocated: int, bits_stored: int,
                         signed: bool, big_endian: bool) -> PixelBits:
    """What :func:`pixel_bits` computes, the obvious numpy way (a converted copy of the whole buffer)."""
    total = _check_args(buffer, bits_allocated, bits_stored)
    dtype = np.dtype(f"{'>' if big_endian else '<'}{'i' if signed else 'u'}{bits_allocated // 8}")
    values = np.frombuffer(buffer, dtype=dtype).astype(np.int64)
    lo, hi = stored_range(bits_stored, signed)
    count = np.count_nonzero((values < lo) | (values > hi))
    return PixelBits(int(count), total, int(values.min()), int(values.max()))


def warm_up() -> None:
    """Compile, or load from numba's cache, every kernel signature :func:`pixel_bits` uses, so that the
    first stored instance does not wait for the compiler. Called once at Orthanc start-up."""
    for bits_allocated in _WORD:
        pixel_bits(bytes(bits_allocated // 8), bits_allocated, bits_allocated, False, False)
