"""Frames of uncompressed grayscale pixel data, decoded from the data set's own bytes exactly as Orthanc
decodes them (``GET /instances/{id}/frames/{n}/numpy?rescale=false``), so that the background checks
need not ask Orthanc to read and parse the stored file again for each frame.

Only the cases Orthanc (1.12, DicomImageDecoder) copies straight from the buffer are decoded here:
Implicit or Explicit VR Little Endian (1.2.840.10008.1.2, 1.2.840.10008.1.2.1), Samples per Pixel
(0028,0002) 1, MONOCHROME1 or MONOCHROME2, and either Bits Allocated (0028,0100) 8 with Bits Stored
(0028,0101) 8, unsigned; or Bits Allocated 16, unsigned, any Bits Stored and High Bit (0028,0102) within
it; or Bits Allocated 16, signed (Pixel Representation (0028,0103) 1), High Bit = Bits Stored - 1; with a
Pixel Data (7FE0,0010) value at least as long as the frames it declares. Everything else (compressed, big
endian, colour, 32-bit, signed data shifted by its High Bit, short values) is left to Orthanc's decoder:
:func:`native_frames` returns None.

In those cases Orthanc takes each stored word as it is, 8-bit unsigned, 16-bit unsigned or 16-bit signed,
and shifts unsigned words right by High Bit + 1 - Bits Stored. It neither masks the bits above Bits
Stored nor extends the sign of a signed value narrower than 16 bits (validators.pixelbits reports such
bits), and does not invert MONOCHROME1 (stored values, as its numpy export gives them).
"""

from __future__ import annotations

from typing import Iterator

import numpy as np
from pydicom.dataset import Dataset

LITTLE_ENDIAN_NATIVE = {"1.2.840.10008.1.2", "1.2.840.10008.1.2.1"}


def native_frames(ds: Dataset) -> Iterator[np.ndarray] | None:
    """The frames of ``ds`` as (rows, columns) arrays of stored values, one at a time (each a new array:
    no reference to the Pixel Data value is kept), or None when ``ds`` is not a case decoded here (see
    the module's docstring)."""
    try:
        syntax = str(ds.file_meta.TransferSyntaxUID)
        rows, columns = int(ds.Rows), int(ds.Columns)
        allocated, stored, high_bit = int(ds.BitsAllocated), int(ds.BitsStored), int(ds.HighBit)
        signed = int(ds.PixelRepresentation) == 1
        samples = int(ds.get("SamplesPerPixel", 1))
        photometric = str(ds.get("PhotometricInterpretation", "")).strip()
        frames = int(ds.get("NumberOfFrames") or 1)
        data = ds.PixelData
    except (AttributeError, KeyError, TypeError, ValueError):
        return None
    shift = high_bit + 1 - stored
    if allocated == 8:
        dtype, supported = np.dtype(np.uint8), stored == 8 and shift == 0 and not signed
    else:
        dtype = np.dtype("<i2" if signed else "<u2")
        supported = allocated == 16 and 0 < stored <= 16 and 0 <= shift <= 16 - stored and not (signed and shift)
    if (not supported or syntax not in LITTLE_ENDIAN_NATIVE or samples != 1
            or photometric not in ("MONOCHROME1", "MONOCHROME2") or rows <= 0 or columns <= 0 or frames <= 0
            or not isinstance(data, bytes) or len(data) < frames * rows * columns * dtype.itemsize):
        return None
    words = np.frombuffer(data, dtype=dtype, count=frames * rows * columns).reshape(frames, rows, columns)
    return ((frame >> shift) if shift else frame.copy() for frame in words)
