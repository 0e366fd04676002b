"""Real DICOM files that nobody on this project wrote: the test files that pydicom ships (Debian's
python3-pydicom carries them), Orthanc's own test files in ../shared/data/orthanc-tests, and the data
packages of scripts/runtime-pip.txt (pydicom-data, deid-data) in .runtime/pydeps."""

from __future__ import annotations

import io
import os
from pathlib import Path

import pydicom
from pydicom.uid import generate_uid

PYDICOM_FILES = Path(os.path.dirname(pydicom.__file__)) / "data" / "test_files"
REPO = Path(__file__).resolve().parent.parent
# CI clones main with shared/ beside it; the runtime mounts only the repository, so scripts/test
# copies shared/data/orthanc-tests into .runtime/shared-data before the tests run.
ORTHANC_FILES = REPO / ".runtime" / "shared-data" / "orthanc-tests"
PYDEPS = REPO / ".runtime" / "pydeps"
PYDICOM_DATA_FILES = PYDEPS / "data_store" / "data"   # pydicom-data
DEID_DATA_FILES = PYDEPS / "deid_data"                # deid-data


def data_package_files() -> list[Path]:
    """Every .dcm file of the data packages pydicom-data and deid-data (empty if not installed)."""
    return sorted(p for folder in (PYDICOM_DATA_FILES, DEID_DATA_FILES) if folder.is_dir()
                  for p in folder.rglob("*.dcm") if p.is_file())


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
