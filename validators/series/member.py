"""What the series checks receive: one stored instance of a series, and the values they read from it."""

from __future__ import annotations

import datetime
from dataclasses import dataclass
from typing import Any, Callable

import numpy as np
import pydicom


@dataclass(frozen=True)
class SeriesMember:
    """One instance of a series: Orthanc's instance id (reported in findings' ``details["instances"]``),
    its header, and, when available, a function that decodes its frames as stored values, shaped
    (frames, rows, cols) or (rows, cols), without any rescale or LUT."""

    instance_id: str
    dataset: pydicom.Dataset
    pixels: Callable[[], np.ndarray] | None = None


def floats(ds: pydicom.Dataset, keyword: str, count: int) -> np.ndarray | None:
    """A DS/FD attribute of exactly ``count`` finite numbers as float64, or None (absent, empty, malformed)."""
    try:
        value = ds.get(keyword)
        if value is None:
            return None
        values = np.array([float(v) for v in (value if count > 1 else [value])], dtype=np.float64)
    except (TypeError, ValueError):
        return None
    if values.size != count or not np.all(np.isfinite(values)):
        return None
    return values


def number(ds: pydicom.Dataset, keyword: str) -> float | None:
    """A single numeric value (IS, DS, US, FD...) as float, or None."""
    values = floats(ds, keyword, 1)
    return None if values is None else float(values[0])


def hashable(value: Any) -> Any:
    """A value of an attribute as something usable in a dictionary key (multi-values as tuples)."""
    if isinstance(value, (list, tuple, pydicom.multival.MultiValue)):
        return tuple(str(v) for v in value)
    return None if value is None else str(value).strip()


def seconds(date: str | None, time: str | None) -> float | None:
    """A DA (0 if absent) and TM value as seconds: the date makes series across midnight sort right.

    TM is HHMMSS.FFFFFF with allowed truncations (PS3.5 Table 6.2-1); the ACR-NEMA form with colons is
    accepted too. None if the time is absent or not a time.
    """
    text = (time or "").strip().replace(":", "")
    if len(text) < 2 or not (text + (date or "")).isascii():  # int() and float() take any script's digits
        return None
    try:
        whole, _, fraction = text.partition(".")
        hours, minutes, secs = int(whole[0:2]), int(whole[2:4] or 0), int(whole[4:6] or 0)
        value = hours * 3600 + minutes * 60 + secs + (float("0." + fraction) if fraction else 0.0)
        day = datetime.date(int(date[0:4]), int(date[4:6]), int(date[6:8])).toordinal() if date else 0
    except ValueError:
        return None
    return day * 86400.0 + value


def involved(ids_and_frames: list[tuple[str, int | None]]) -> dict[str, list]:
    """``details`` naming instances (sorted, unique) and, for frames of a multi-frame object, their
    1-based frame numbers (sorted)."""
    out: dict[str, list] = {"instances": sorted({i for i, _ in ids_and_frames})}
    frames = sorted({f for _, f in ids_and_frames if f is not None})
    if frames:
        out["frames"] = frames
    return out
