"""Frame timing of a cine multi-frame object (US, XA, RF, cardiac MR): the Cine module (PS3.3 C.7.6.5)
and the Multi-frame module (C.7.6.6) say the same thing several ways, and they must agree.

FrameIncrementPointer (0028,0009) names the attribute that times the frames; FrameTime (0018,1063) is
the interval in ms, FrameTimeVector (0018,1065) the interval before each frame in ms (first 0,
C.7.6.5.1.2), CineRate (0018,0040) frames per second, ActualFrameDuration (0018,1242) the acquisition
time of each frame in ms.
"""

from __future__ import annotations

import numpy as np
import pydicom
from pydicom.tag import Tag

from ..findings import Action, Finding, Severity
from ..rules import define
from .member import floats, number

INCREMENT_POINTER = define(
    "cine.frame-increment-pointer", Severity.ERROR, Action.LABEL,
    "FrameIncrementPointer (0028,0009) names an attribute the object does not hold (PS3.3 C.7.6.6.1.1): "
    "viewers cannot time or index the frames.")
TIME_VECTOR = define(
    "cine.frame-time-vector", Severity.ERROR, Action.LABEL,
    "FrameTimeVector (0018,1065) does not hold one value per frame (NumberOfFrames (0028,0008)), or holds "
    "negative intervals, or a first value other than 0 (PS3.3 C.7.6.5.1.2).")
RATE_MISMATCH = define(
    "cine.rate-mismatch", Severity.WARNING, Action.LABEL,
    "CineRate (0018,0040) or the mean of FrameTimeVector (0018,1065) disagrees with FrameTime (0018,1063) "
    "by more than 10 % (CineRate is an integer, so at least 1 frame/s): the loop plays at a speed other "
    "than acquired, which misleads on heart rate and motion.")
FRAME_DURATION = define(
    "cine.frame-duration", Severity.WARNING, Action.LABEL,
    "ActualFrameDuration (0018,1242) is longer than the frame interval FrameTime (0018,1063) by more than "
    "10 %: a frame cannot take longer to acquire than the time between frames.")
FRAME_RATE = define(
    "cine.frame-rate", Severity.WARNING, Action.LABEL,
    "The frame rate (1000 / FrameTime) is outside what the modality acquires: US 1 to 1000 frames/s "
    "(high-frame-rate echocardiography reaches several hundred), XA and RF 0.5 to 60 frames/s (pulsed "
    "fluoroscopy 0.5 to 30, cardiac cine up to 60), MR cine 1 to 200 frames/s.")

# Frames per second each modality acquires (see FRAME_RATE's description).
RATE_LIMITS = {"US": (1.0, 1000.0), "XA": (0.5, 60.0), "RF": (0.5, 60.0), "MR": (1.0, 200.0)}
# Relative disagreement allowed between the ways of giving the frame rate.
RATE_TOLERANCE = 0.10


def _pointer_findings(ds: pydicom.Dataset) -> list[Finding]:
    pointers = ds.get("FrameIncrementPointer")
    if pointers is None:
        return []
    pointers = pointers if isinstance(pointers, (list, pydicom.multival.MultiValue)) else [pointers]
    missing = [Tag(p) for p in pointers if Tag(p) not in ds]
    if not missing:
        return []
    names = ", ".join(f"({t.group:04X},{t.element:04X})" for t in missing)
    return [INCREMENT_POINTER.finding(f"FrameIncrementPointer names {names}, absent from the object",
                                      0x00280009)]


def _vector_findings(ds: pydicom.Dataset, frames: int, frame_time: float | None) -> list[Finding]:
    value = ds.get("FrameTimeVector")
    vector = floats(ds, "FrameTimeVector", len(value) if isinstance(value, pydicom.multival.MultiValue) else 1)
    if vector is None:
        return []
    problems = []
    if vector.size != frames:
        problems.append(f"{vector.size} values for {frames} frames")
    if vector[0] != 0:
        problems.append(f"first value {vector[0]:g} instead of 0")
    if np.any(vector[1:] < 0):
        problems.append("negative intervals")
    findings = [TIME_VECTOR.finding("FrameTimeVector: " + "; ".join(problems), 0x00181065)] if problems else []
    if frame_time and vector.size > 1 and abs(vector[1:].mean() - frame_time) > RATE_TOLERANCE * frame_time:
        findings.append(RATE_MISMATCH.finding(
            f"FrameTimeVector's mean interval {vector[1:].mean():.2f} ms, FrameTime {frame_time:g} ms",
            0x00181065))
    return findings


def check_cine(ds: pydicom.Dataset) -> list[Finding]:
    """Consistency of the cine timing attributes of one multi-frame object with each other, with
    NumberOfFrames (0028,0008), and with the frame rates the modality acquires."""
    frames = int(number(ds, "NumberOfFrames") or 1)
    if frames < 2:
        return []
    frame_time = number(ds, "FrameTime")
    frame_time = frame_time if frame_time and frame_time > 0 else None
    findings = _pointer_findings(ds) + _vector_findings(ds, frames, frame_time)
    if frame_time is None:
        return findings
    rate = 1000.0 / frame_time
    cine_rate = number(ds, "CineRate")
    if cine_rate and abs(cine_rate - rate) > max(1.0, RATE_TOLERANCE * rate):
        findings.append(RATE_MISMATCH.finding(
            f"CineRate {cine_rate:g} frames/s, FrameTime {frame_time:g} ms ({rate:.1f} frames/s)", 0x00180040))
    duration = number(ds, "ActualFrameDuration")
    if duration and duration > (1 + RATE_TOLERANCE) * frame_time:
        findings.append(FRAME_DURATION.finding(
            f"ActualFrameDuration {duration:g} ms, longer than FrameTime {frame_time:g} ms", 0x00181242))
    limits = RATE_LIMITS.get(str(ds.get("Modality", "")))
    if limits and not limits[0] <= rate <= limits[1]:
        findings.append(FRAME_RATE.finding(
            f"{rate:.2f} frames/s for {ds.Modality}, outside {limits[0]:g}-{limits[1]:g}", 0x00181063))
    return findings
