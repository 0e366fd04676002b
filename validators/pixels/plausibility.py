"""Per-modality plausibility of pixel values, frame by frame, after the Modality LUT.

Rescale Slope (0028,1053) and Intercept (0028,1052) map stored values to output units (PS3.3 C.11.1.1.2),
Hounsfield units for CT (PS3.3 C.8.2.1.1.4). Bits above Bits Stored are validators.pixelbits' concern.
"""

from __future__ import annotations

import math

import numpy as np
from pydicom.dataset import Dataset

from ..findings import Action, Finding, Severity
from ..rules import define
from .kernels import histogram

RESCALE = define(
    "pixels.rescale", Severity.ERROR, Action.LABEL,
    "RescaleSlope (0028,1053) is zero, negative or not finite, or RescaleIntercept (0028,1052) is not "
    "finite: the output values (PS3.3 C.11.1.1.2) are meaningless.")
CT_RESCALE = define(
    "pixels.ct-rescale", Severity.WARNING, Action.LABEL,
    "A CT image's RescaleSlope is outside 0.1..10 or its RescaleIntercept outside -8192..8192 HU: not what "
    "CT scanners write (slope 1, intercept -1024 or 0 are usual; PS3.3 C.8.2.1.1.4).")
CT_HU_RANGE = define(
    "pixels.ct-hu-range", Severity.WARNING, Action.LABEL,
    "CT values after the Modality LUT are implausible Hounsfield units: beyond 31000 HU (past the extended "
    "metal scale of 12 bits x 10), or more than 1% of the pixels below -1100 HU that are not the padding "
    "value (air is -1000 HU), or no value below 0 HU in an image that reaches 1500 HU (a missing intercept).")
NEGATIVE = define(
    "pixels.negative-values", Severity.WARNING, Action.LABEL,
    "MR magnitude, ultrasound or projection X-ray values are negative after the Modality LUT, which these "
    "modalities cannot produce (phase images excepted).")
NON_FINITE = define(
    "pixels.non-finite", Severity.ERROR, Action.LABEL,
    "Float Pixel Data (7FE0,0008) or Double Float Pixel Data (7FE0,0009) holds NaN or infinity.")
CONSTANT = define(
    "pixels.constant", Severity.WARNING, Action.LABEL,
    "A frame is constant, or 99.9% of its pixels have one value: a blank or wiped image.")
CLIPPED = define(
    "pixels.clipped", Severity.WARNING, Action.LABEL,
    "More than 5% of a frame's pixels sit at the greatest value Bits Stored allows (saturated detector or "
    "clipped rescaling); the least value is left alone, it is the background of many modalities.")

_PROJECTION = {"CR", "DX", "MG", "IO", "PX", "RF", "XA", "US"}
_CT_MAX_HU = 31000           # 12-bit extended scale x 10 (Siemens, GE extended CT scale reach ~30700 HU)
_AIR_FLOOR_HU = -1100        # air is -1000 HU; reconstructions put noise a few tens below
_CONSTANT_SHARE = 0.999
_CLIPPED_SHARE = 0.05


def rescale(ds: Dataset) -> tuple[float, float]:
    """(slope, intercept) of the Modality LUT, (1, 0) when absent or empty."""
    slope, intercept = ds.get("RescaleSlope"), ds.get("RescaleIntercept")
    return float(1 if slope in (None, "") else slope), float(0 if intercept in (None, "") else intercept)


def check_header(ds: Dataset) -> list[Finding]:
    """Findings about the Modality LUT attributes alone."""
    try:
        slope, intercept = rescale(ds)
    except (TypeError, ValueError):
        return [RESCALE.finding("RescaleSlope or RescaleIntercept is not a number", 0x00281053)]
    if not (math.isfinite(slope) and math.isfinite(intercept)) or slope <= 0:
        return [RESCALE.finding(f"RescaleSlope {slope}, RescaleIntercept {intercept}", 0x00281053)]
    if ds.get("Modality") == "CT" and not (0.1 <= slope <= 10 and -8192 <= intercept <= 8192):
        return [CT_RESCALE.finding(f"CT RescaleSlope {slope}, RescaleIntercept {intercept}", 0x00281053)]
    return []


def check_frame(ds: Dataset, frame: np.ndarray, index: int, stored_max: int | None) -> list[Finding]:
    """Findings of one frame of stored values (``stored_max``: the greatest value Bits Stored allows, None
    for float data)."""
    if frame.dtype.kind == "f" and not np.isfinite(frame).all():
        bad = int(np.count_nonzero(~np.isfinite(frame)))
        return [NON_FINITE.finding(f"frame {index}: {bad} NaN or infinite values", frame=index, score=bad)]
    findings = []
    values, counts = _histogram(frame)
    top = counts.max() / frame.size
    if top >= _CONSTANT_SHARE and frame.size >= 64:
        findings.append(CONSTANT.finding(f"frame {index}: {top:.2%} of the pixels are {values[counts.argmax()]}",
                                         frame=index, score=round(float(top), 4)))
    elif stored_max is not None and values[-1] == stored_max and counts[-1] / frame.size > _CLIPPED_SHARE:
        share = counts[-1] / frame.size
        findings.append(CLIPPED.finding(f"frame {index}: {share:.1%} of the pixels at {stored_max}",
                                        frame=index, score=round(float(share), 4)))
    slope, intercept = rescale(ds)
    output = values * slope + intercept
    modality = ds.get("Modality", "")
    if modality == "CT":
        findings += _check_hounsfield(ds, output, counts, index)
    elif (modality in _PROJECTION or modality == "MR" and not _is_phase(ds)) and output[0] < 0:
        negative = counts[output < 0].sum() / frame.size
        if negative > 0.001:
            findings.append(NEGATIVE.finding(f"frame {index}: {negative:.1%} of the pixels below 0 ({output[0]:g})",
                                             frame=index, score=round(float(negative), 4)))
    return findings


def _histogram(frame: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Distinct values (ascending) and their counts: a counting kernel for integers of up to 16 bits."""
    if frame.dtype.kind in "iu" and frame.itemsize <= 2:
        return histogram(frame)
    values, counts = np.unique(frame, return_counts=True)
    return values.astype(np.float64), counts


def _check_hounsfield(ds: Dataset, hu: np.ndarray, counts: np.ndarray, index: int) -> list[Finding]:
    total = counts.sum()
    padding = _padding_hu(ds, hu)
    problems = []
    if hu[-1] > _CT_MAX_HU:
        problems.append(f"maximum {hu[-1]:g} HU")
    # Both the declared padding and the least value: scanners fill outside the circle with either.
    below = counts[(hu < _AIR_FLOOR_HU) & (hu != padding) & (hu != hu[0])].sum() / total
    if below > 0.01:
        problems.append(f"{below:.1%} of the pixels below {_AIR_FLOOR_HU} HU")
    if hu[0] >= 0 and hu[-1] >= 1500:
        problems.append(f"no value below {hu[0]:g} HU up to {hu[-1]:g} HU (missing intercept?)")
    if not problems:
        return []
    return [CT_HU_RANGE.finding(f"frame {index}: " + "; ".join(problems), 0x00281052, frame=index)]


def _padding_hu(ds: Dataset, hu: np.ndarray) -> float:
    """The HU value of Pixel Padding Value (0028,0120) if set, else the least value: scanners fill the area
    outside the reconstruction circle with one value far below air (often -2048 or -3024 HU)."""
    slope, intercept = rescale(ds)
    if "PixelPaddingValue" in ds:
        return float(ds.PixelPaddingValue) * slope + intercept
    return float(hu[0])


def _is_phase(ds: Dataset) -> bool:
    """ImageType (0008,0008) or ComplexImageComponent (0008,9208) says phase, real or imaginary."""
    kinds = {str(v).upper() for v in (ds.get("ImageType") or [])}
    return bool(kinds & {"P", "PHASE", "R", "I", "REAL", "IMAGINARY"}) or \
        str(ds.get("ComplexImageComponent", "")).upper() in {"PHASE", "REAL", "IMAGINARY"}
