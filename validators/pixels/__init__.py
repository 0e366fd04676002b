"""Pixel data checks: per-modality plausibility (:mod:`.plausibility`) and tamper forensics
(:mod:`.forensics`, :mod:`.seams`, :mod:`.lattice`, :mod:`.gaps`, :mod:`.lesions`, kernels in :mod:`.kernels` and
:mod:`.matched`), on decoded frames the caller hands in one at a time.

:func:`check_pixels` takes one instance's header and its frames of stored values (2-D, or rows x columns x
samples for colour, the first sample being what is analysed: R of RGB, Y of YBR); :func:`check_volume`
takes the slices of a stable series. Call :func:`warm_up` once at start-up.
"""

from __future__ import annotations

from typing import Iterable

import numpy as np
from pydicom.dataset import Dataset

from ..findings import Finding
from . import gaps, kernels, lesions
from .forensics import across_findings, copy_move_findings, noise_findings
from .gaps import value_gap_findings
from .lattice import off_lattice_findings
from .lesions import lesion_findings
from .seams import pasted_square_findings
from .plausibility import check_frame, check_header, rescale

__all__ = ["check_pixels", "check_volume", "warm_up"]

# Lossy transfer syntaxes (PS3.5 A.4): quantisation removes the noise the smooth-region check measures.
_LOSSY_SYNTAXES = {"1.2.840.10008.1.2.4.50", "1.2.840.10008.1.2.4.51", "1.2.840.10008.1.2.4.81",
                   "1.2.840.10008.1.2.4.91", "1.2.840.10008.1.2.4.93", "1.2.840.10008.1.2.4.100",
                   "1.2.840.10008.1.2.4.101", "1.2.840.10008.1.2.4.102", "1.2.840.10008.1.2.4.103",
                   "1.2.840.10008.1.2.4.104", "1.2.840.10008.1.2.4.105", "1.2.840.10008.1.2.4.106",
                   "1.2.840.10008.1.2.4.201", "1.2.840.10008.1.2.4.202", "1.2.840.10008.1.2.4.203"}
# Modalities whose pixels are measurements (not segmentations, dose grids or documents).
_ACQUIRED = {"CT", "MR", "PT", "NM", "CR", "DX", "MG", "IO", "PX", "RF", "XA", "RG"}
_TOMOGRAPHIC = {"CT", "MR", "PT", "NM"}
# Modalities whose images carry burned-in graphics (constant areas that are not tampering).
_GRAPHICS_MODALITIES = {"US", "OT", "SC", "XC", "ES", "GM", "SM", "DOC"}


def check_pixels(ds: Dataset, frames: Iterable[np.ndarray]) -> list[Finding]:
    """Plausibility and single-image forensics of one instance, frame by frame (bounded memory: one
    frame at a time). ``frames``: stored values as decoded, before the Modality LUT."""
    findings = check_header(ds)
    if _unusable_rescale(findings):
        return findings
    stored_max = _stored_max(ds)
    lossy = _is_lossy(ds)
    graphics = ds.get("Modality", "") in _GRAPHICS_MODALITIES or int(ds.get("SamplesPerPixel", 1)) > 1
    # Burned-in annotations (side markers, text boxes) are exactly constant areas; tomographic images
    # keep theirs in overlays, so there a constant patch inside tissue counts as smooth.
    skip_constant = ds.get("Modality", "") not in _TOMOGRAPHIC
    for index, frame in enumerate(frames):
        plane = frame[..., 0] if frame.ndim == 3 else frame
        if plane.ndim != 2 or plane.size == 0:
            continue
        # Saturation is a finding on acquired greyscale images only (not on white backgrounds, text, masks).
        acquired = not graphics and plane.dtype.kind != "f" and ds.get("Modality", "") in _ACQUIRED
        findings += check_frame(ds, plane, index, stored_max if acquired else None)
        if plane.dtype.kind == "f" and not np.isfinite(plane).all():
            continue
        if not lossy:
            findings += noise_findings(plane, index, skip_constant_blocks=skip_constant)
            findings += pasted_square_findings(plane, index)
            findings += off_lattice_findings(plane, index)
            findings += value_gap_findings(plane, index)
        findings += copy_move_findings(plane, index)
    return findings


def check_volume(members: list[tuple[str, Dataset, np.ndarray]]) -> list[Finding]:
    """Cross-slice forensics of a stable series: (Orthanc instance id, header, 2-D slice of stored values)
    per instance, in any order; sorted here along the slice normal from ImagePositionPatient (0020,0032)
    and ImageOrientationPatient (0020,0037), else by InstanceNumber (0020,0013). Slices whose shape differs
    from the first's are left out. Findings name the instance in ``instance``."""
    members = [m for m in members if m[2].ndim == 2]
    if len(members) < 2:
        return []
    shape = members[0][2].shape
    members = sorted((m for m in members if m[2].shape == shape), key=lambda m: _position(m[1]))
    ids = [m[0] for m in members]
    findings = across_findings(ids, [m[2] for m in members])
    # A slice whose Modality LUT cannot be read (its own report says so) leaves no volume to compare.
    if len(members) >= 3 and not any(_is_lossy(ds) or _unusable_rescale(check_header(ds)) for _, ds, _ in members):
        volume = []
        for _, ds, plane in members:
            slope, intercept = rescale(ds)
            volume.append(plane.astype(np.float64) * slope + intercept)
        findings += lesion_findings(ids, volume)
    return findings


def warm_up() -> None:
    """Compile, or load from numba's cache, every kernel signature the pixel checks use."""
    kernels.warm_up()
    lesions.warm_up()
    gaps.expected_pairs(np.ones(1))      # its table, computed once


def _unusable_rescale(header_findings: list[Finding]) -> bool:
    """Whether :func:`check_header`'s findings say that RescaleSlope / RescaleIntercept (0028,1053 /
    0028,1052) cannot map stored values (not numbers, not finite, or a slope <= 0)."""
    return bool(header_findings) and header_findings[0].rule == "pixels.rescale"


def _stored_max(ds: Dataset) -> int:
    bits = int(ds.get("BitsStored", ds.get("BitsAllocated", 16)))
    return (1 << (bits - 1)) - 1 if ds.get("PixelRepresentation", 0) == 1 else (1 << bits) - 1


def _is_lossy(ds: Dataset) -> bool:
    """LossyImageCompression (0028,2110) is "01", or the transfer syntax is lossy."""
    syntax = str(getattr(getattr(ds, "file_meta", None), "TransferSyntaxUID", ""))
    return str(ds.get("LossyImageCompression", "")) == "01" or syntax in _LOSSY_SYNTAXES


def _position(ds: Dataset) -> tuple[float, float]:
    try:
        orientation = np.asarray(ds.ImageOrientationPatient, dtype=float)
        normal = np.cross(orientation[:3], orientation[3:])
        return float(np.dot(normal, np.asarray(ds.ImagePositionPatient, dtype=float))), 0.0
    except (AttributeError, ValueError, TypeError):
        return float(ds.get("InstanceNumber", 0) or 0), 0.0
