"""Image planes in patient space: one per single-frame instance, or one per frame of an enhanced
multi-frame object, with what the geometry, timing and continuity checks read of each."""

from __future__ import annotations

import functools
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import pydicom

from .member import SeriesMember, floats, hashable, number, seconds

# Attributes that tell apart images acquired at one position: echoes, cardiac phases, dynamics,
# diffusion weightings, repeated acquisitions, image flavours (PS3.3 C.7.6.1, C.8.3.1, C.8.13.5).
_SINGLE_FRAME_KEYS = ("EchoNumbers", "TemporalPositionIdentifier", "TriggerTime", "DiffusionBValue",
                      "AcquisitionNumber", "ImageType")


@dataclass(frozen=True)
class Slice:
    """One image plane: ImagePositionPatient (0020,0032) in mm, ImageOrientationPatient (0020,0037)
    direction cosines, the matrix and PixelSpacing (0028,0030) in mm, SliceThickness (0018,0050) in mm,
    and the values that tell apart several images at one position (``volume``)."""

    instance_id: str
    frame: int | None                 # 1-based frame number in a multi-frame object, None for single-frame
    position: np.ndarray              # (3,) mm
    orientation: np.ndarray           # (6,) row then column direction cosines
    matrix: tuple[Any, Any]           # Rows, Columns
    pixel_spacing: tuple | None       # row spacing, column spacing, mm
    thickness: float | None           # mm
    spacing_between: float | None     # SpacingBetweenSlices (0018,0088), mm
    volume: dict[str, Any] = field(default_factory=dict)
    time: float | None = None         # acquisition time, s
    modality: str = ""
    pixels: Callable[[], np.ndarray] | None = None

    @property
    def ref(self) -> tuple[str, int | None]:
        return self.instance_id, self.frame

    @property
    def normal(self) -> np.ndarray:
        return np.cross(self.orientation[:3], self.orientation[3:])


def is_localizer(ds: pydicom.Dataset) -> bool:
    """ImageType (0008,0008) value 3 is LOCALIZER (PS3.3 C.8.2.1.1.1): a scout, not part of a volume."""
    image_type = ds.get("ImageType") or []
    return len(image_type) > 2 and str(image_type[2]).upper() == "LOCALIZER"


def _single_frame_pixels(member: SeriesMember) -> Callable[[], np.ndarray] | None:
    if member.pixels is None:
        return None

    def frame() -> np.ndarray:
        array = member.pixels()
        return array[0] if array.ndim == 3 and array.shape[0] == 1 else array
    return frame


def _spacing(ds: pydicom.Dataset) -> tuple | None:
    values = floats(ds, "PixelSpacing", 2)
    return None if values is None else tuple(float(v) for v in values)


def slice_of(member: SeriesMember) -> Slice | None:
    """The plane of a single-frame instance; None when it has no usable position and orientation, is a
    localizer, or is multi-frame (whose frames :func:`frames_of` gives)."""
    ds = member.dataset
    position = floats(ds, "ImagePositionPatient", 3)
    orientation = floats(ds, "ImageOrientationPatient", 6)
    frames = number(ds, "NumberOfFrames")
    if position is None or orientation is None or is_localizer(ds) or (frames or 1) > 1:
        return None
    time = seconds(ds.get("AcquisitionDate"), ds.get("AcquisitionTime"))
    return Slice(member.instance_id, None, position, orientation, (ds.get("Rows"), ds.get("Columns")),
                 _spacing(ds), number(ds, "SliceThickness"), number(ds, "SpacingBetweenSlices"),
                 {k: hashable(ds.get(k)) for k in _SINGLE_FRAME_KEYS}, time, str(ds.get("Modality", "")),
                 _single_frame_pixels(member))


def _item(sequence_item: pydicom.Dataset | None, keyword: str) -> pydicom.Dataset | None:
    sequence = sequence_item.get(keyword) if sequence_item is not None else None
    return sequence[0] if sequence else None


def _frame_volume(group: pydicom.Dataset, shared: pydicom.Dataset | None) -> dict[str, Any]:
    """What tells apart frames at one position in an enhanced object (PS3.3 C.7.6.16.2)."""
    content = _item(group, "FrameContentSequence") or pydicom.Dataset()
    echo = _item(group, "MREchoSequence") or _item(shared, "MREchoSequence") or pydicom.Dataset()
    cardiac = _item(group, "CardiacSynchronizationSequence") or pydicom.Dataset()
    diffusion = _item(group, "MRDiffusionSequence") or pydicom.Dataset()
    return {"StackID": hashable(content.get("StackID")),
            "TemporalPositionIndex": hashable(content.get("TemporalPositionIndex")),
            "EffectiveEchoTime": hashable(echo.get("EffectiveEchoTime")),
            "NominalCardiacTriggerDelayTime": hashable(cardiac.get("NominalCardiacTriggerDelayTime")),
            "DiffusionBValue": hashable(diffusion.get("DiffusionBValue")),
            "DimensionIndexValues": hashable(content.get("DimensionIndexValues"))}


def frames_of(member: SeriesMember) -> list[Slice]:
    """The planes of the frames of an enhanced multi-frame object, from its Per-frame (5200,9230) and
    Shared (5200,9229) Functional Groups (PS3.3 C.7.6.16): Plane Position, Plane Orientation and Pixel
    Measures macros. Frames without position or orientation are left out."""
    ds = member.dataset
    per_frame = ds.get("PerFrameFunctionalGroupsSequence") or []
    shared = _item(ds, "SharedFunctionalGroupsSequence")
    decoded = functools.cache(member.pixels) if member.pixels is not None else None
    out = []
    for index, group in enumerate(per_frame):
        plane = _item(group, "PlanePositionSequence") or _item(shared, "PlanePositionSequence")
        orient = _item(group, "PlaneOrientationSequence") or _item(shared, "PlaneOrientationSequence")
        measures = _item(group, "PixelMeasuresSequence") or _item(shared, "PixelMeasuresSequence")
        position = floats(plane, "ImagePositionPatient", 3) if plane else None
        orientation = floats(orient, "ImageOrientationPatient", 6) if orient else None
        if position is None or orientation is None:
            continue
        measures = measures or pydicom.Dataset()
        pixels = None if decoded is None else functools.partial(lambda i: decoded()[i], index)
        out.append(Slice(member.instance_id, index + 1, position, orientation, (ds.get("Rows"), ds.get("Columns")),
                         _spacing(measures), number(measures, "SliceThickness"),
                         number(measures, "SpacingBetweenSlices"), _frame_volume(group, shared),
                         modality=str(ds.get("Modality", "")), pixels=pixels))
    return out
