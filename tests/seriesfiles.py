"""Real series for the series checks: pydicom's dicomdirtests folders as SeriesMember lists, and a stack of
single-frame slices made of the 10 real 64 x 64 frames of pydicom-data's emri_small (the dicomdirtests
images are 16 x 16 thumbnails, too small for pixel continuity)."""

from __future__ import annotations

import copy

import numpy as np
import pydicom
import pytest

from realfiles import PYDICOM_DATA_FILES, PYDICOM_FILES
from validators.series import SeriesMember

DICOMDIR_TESTS = PYDICOM_FILES / "dicomdirtests"


def member(instance_id: str, ds: pydicom.Dataset, pixels: np.ndarray | None = None) -> SeriesMember:
    """A member whose pixels are ``pixels`` or else the data set's own, decoded on call."""
    if pixels is not None:
        return SeriesMember(instance_id, ds, lambda: pixels)
    return SeriesMember(instance_id, ds, (lambda: ds.pixel_array) if "PixelData" in ds else None)


def dicomdir_series(folder: str) -> list[SeriesMember]:
    """The slices of one dicomdirtests folder (e.g. "98892001/CT5N"), ids "<folder>/<file>"."""
    paths = sorted(p for p in (DICOMDIR_TESTS / folder).iterdir() if p.is_file())
    return [member(f"{folder}/{p.name}", pydicom.dcmread(p)) for p in paths]


def by_position(members: list[SeriesMember]) -> list[SeriesMember]:
    """Members sorted along z (the dicomdirtests stacks are axial)."""
    return sorted(members, key=lambda m: float(m.dataset.ImagePositionPatient[2]))


def replaced(m: SeriesMember, pixels: np.ndarray | None = None, **changes) -> SeriesMember:
    """A copy of a member with attributes changed and, optionally, other pixels."""
    ds = copy.deepcopy(m.dataset)
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    return member(m.instance_id, ds, pixels if pixels is not None else (m.pixels() if m.pixels else None))


def emri_stack() -> list[SeriesMember]:
    """10 axial single-frame MR slices 5 mm apart carrying emri_small's real frames, in stack order."""
    path = PYDICOM_DATA_FILES / "emri_small.dcm"
    if not path.exists():
        pytest.skip("pydicom-data is not installed in .runtime/pydeps")
    source = pydicom.dcmread(path)
    frames = source.pixel_array
    template = pydicom.dcmread(DICOMDIR_TESTS / "98892001" / "CT5N" / "2062")
    out = []
    for i, frame in enumerate(frames):
        ds = copy.deepcopy(template)
        del ds.PixelData
        ds.Modality, ds.Rows, ds.Columns = "MR", frame.shape[0], frame.shape[1]
        ds.ImagePositionPatient = [-100, -100, 5.0 * i]
        ds.SliceThickness, ds.InstanceNumber = 5, i + 1
        out.append(member(f"emri-{i:02d}", ds, frame))
    return out
