"""Real DICOM files that nobody on this project wrote: the test files that pydicom ships (Debian's
python3-pydicom carries them), Orthanc's own test files in ../shared/data/orthanc-tests, and the data
packages of scripts/runtime-pip.txt (pydicom-data, deid-data, heudiconv's test files) in .runtime/pydeps."""

from __future__ import annotations

import io
import os
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import Dataset
from pydicom.uid import generate_uid

PYDICOM_FILES = Path(os.path.dirname(pydicom.__file__)) / "data" / "test_files"
REPO = Path(__file__).resolve().parent.parent
# CI clones main with shared/ beside it; the runtime mounts only the repository, so scripts/test
# copies shared/data/orthanc-tests into .runtime/shared-data before the tests run.
ORTHANC_FILES = REPO / ".runtime" / "shared-data" / "orthanc-tests"
PYDEPS = REPO / ".runtime" / "pydeps"
PYDICOM_DATA_FILES = PYDEPS / "data_store" / "data"   # pydicom-data
DEID_DATA_FILES = PYDEPS / "deid_data"                # deid-data
HEUDICONV_FILES = PYDEPS / "heudiconv" / "tests" / "data"   # heudiconv's test files


def data_package_files() -> list[Path]:
    """Every .dcm file of the data packages pydicom-data and deid-data (empty if not installed)."""
    return sorted(p for folder in (PYDICOM_DATA_FILES, DEID_DATA_FILES) if folder.is_dir()
                  for p in folder.rglob("*.dcm") if p.is_file())


def mosaic_volumes() -> list[tuple[Path, Dataset, list[np.ndarray]]]:
    """The real volumes that heudiconv's test files hold as Siemens mosaics (one image whose tiles are the
    slices in spatial order, NumberOfImagesInMosaic (0019,xx0A) of the private block "SIEMENS MR HEADER"
    of them, row by row in a square grid): each file's header and its slices (empty if heudiconv is not
    installed). axasc35.dcm: 35 EPI slices of 64 x 64 (3.25 mm pixels), 3 mm thick, 3.6 mm apart;
    b0dwi_for_fmap+0000[1-3].dcm: three multiband diffusion volumes (two b = 0 and one diffusion-weighted)
    of 81 slices of 152 x 150, 1.5 mm isotropic. Not in :func:`data_package_files`: a mosaic is one large
    image whose tile edges are no real image's."""
    volumes = []
    for path in sorted(HEUDICONV_FILES.rglob("*.dcm")) if HEUDICONV_FILES.is_dir() else []:
        ds = pydicom.dcmread(path)
        if "MOSAIC" not in ds.get("ImageType", []):
            continue
        count = int(ds.private_block(0x0019, "SIEMENS MR HEADER")[0x0A].value)
        grid = int(np.ceil(np.sqrt(count)))
        rows, cols = ds.Rows // grid, ds.Columns // grid
        pixels = ds.pixel_array
        volumes.append((path, ds, [pixels[k // grid * rows:(k // grid + 1) * rows, k % grid * cols:(k % grid + 1) * cols]
                                   for k in range(count)]))
    return volumes


def pydicom_file(name: str) -> Path:
    """A file of pydicom's test set by name (never downloaded: Debian ships the set in the package)."""
    path = PYDICOM_FILES / name
    if not path.exists():
        raise FileNotFoundError(f"{name} is not among pydicom's shipped test files in {PYDICOM_FILES}")
    return path


def all_pydicom_files() -> list[Path]:
    """Every DICOM file pydicom ships: the .dcm files (a few broken on purpose) and the slices of the
    small real series under dicomdirtests (files without extension); DICOMDIR media files excluded."""
    def is_instance(p: Path) -> bool:
        if p.suffix.lower() == ".dcm":
            return not p.name.startswith("DICOMDIR")
        return "dicomdirtests" in p.parts and p.suffix == "" and not p.name.startswith(("DICOMDIR", "README"))
    return sorted(p for p in PYDICOM_FILES.rglob("*") if p.is_file() and is_instance(p))


def fresh_copy(name: str, **changes) -> bytes:
    """A real file with new Study, Series and SOP Instance UIDs (a new study in Orthanc), and the
    attributes in ``changes`` set, as Part 10 bytes."""
    ds = pydicom.dcmread(pydicom_file(name))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = generate_uid(), generate_uid()
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, write_like_original=False)
    return out.getvalue()


def with_preamble(data: bytes, signature: bytes) -> bytes:
    """``data`` with its 128-byte preamble starting with ``signature`` (e.g. b"MZ": a PE polyglot)."""
    return signature + data[len(signature):]


def with_nested_sequences(data: bytes, depth: int, padding_items: int = 0) -> bytes:
    """``data`` (Explicit VR Little Endian) with ContentSequence (0040,A730) items nested ``depth`` deep,
    every length undefined, inserted before its Pixel Data (7FE0,0010); after ``padding_items`` empty items
    of a RequestAttributesSequence (0040,0275), which can take the ingest walk past its budget first."""
    pixels = data.rfind(b"\xe0\x7f\x10\x00")
    padding = (b"\x40\x00\x75\x02SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\x00\x00\x00\x00" * padding_items
               + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00") if padding_items else b""
    opening = b"\x40\x00\x30\xa7SQ\x00\x00\xff\xff\xff\xff" + b"\xfe\xff\x00\xe0\xff\xff\xff\xff"
    closing = b"\xfe\xff\x0d\xe0\x00\x00\x00\x00" + b"\xfe\xff\xdd\xe0\x00\x00\x00\x00"
    return data[:pixels] + padding + opening * depth + closing * depth + data[pixels:]
