"""The integrity seal: a fingerprint of an object's pixel values and identifying attributes, taken at first
ingest and compared when an object with the same SOP Instance UID (0008,0018) arrives again, or when the
stored archive is verified.

The pixel digest is over decoded values (the stored values of each frame, as a canonical little endian
array of the type Bits Allocated (0028,0100) and Pixel Representation (0028,0103) give, with its shape),
so that a lossless transcoding by Orthanc keeps it; the attributes that turn stored values into what a
reader sees (Rescale Slope/Intercept, Photometric Interpretation, ...) are sealed with the pixels. Without
decoded frames the digest is over the raw Pixel Data bytes (algorithm ``sha256-raw``), which any
transcoding changes. Each identifying attribute has its own short digest, so a change names the
attribute without the seal holding patient data.
"""

from __future__ import annotations

import hashlib
from typing import Any, Iterable

import numpy as np
from pydicom.datadict import tag_for_keyword
from pydicom.dataset import Dataset

from .findings import Action, Finding, Severity
from .rules import define

PIXELS_CHANGED = define(
    "seal.pixels-changed", Severity.ERROR, Action.LABEL,
    "The pixel values (or the attributes that map them to displayed values) differ from the seal taken at "
    "first ingest for the same SOP Instance UID (0008,0018): the image was modified after ingest, or "
    "re-sent with other pixels.")
IDENTITY_CHANGED = define(
    "seal.identity-changed", Severity.WARNING, Action.LABEL,
    "An identifying attribute (patient, study, series) differs from the seal taken at first ingest for "
    "the same SOP Instance UID: re-sent after a correction, or altered.")
INCOMPARABLE = define(
    "seal.incomparable", Severity.INFO, Action.REPORT,
    "Two seals use different pixel digest algorithms (decoded values vs raw bytes) and cannot be compared.")

VERSION = 1
# Who and what the object is: a change of any of these on a re-sent SOP Instance UID is reported.
IDENTITY = ("PatientID", "PatientName", "PatientBirthDate", "PatientSex", "IssuerOfPatientID",
            "StudyInstanceUID", "SeriesInstanceUID", "SOPClassUID", "AccessionNumber", "StudyDate",
            "StudyTime", "Modality", "InstanceNumber", "ImagePositionPatient", "ImageOrientationPatient",
            "Laterality", "ImageLaterality", "BodyPartExamined")
# What turns stored values into displayed ones (PS3.3 C.7.6.3, C.11.1): sealed with the pixels.
RENDERING = ("Rows", "Columns", "NumberOfFrames", "SamplesPerPixel", "PhotometricInterpretation",
             "BitsAllocated", "BitsStored", "PixelRepresentation", "RescaleSlope", "RescaleIntercept",
             "PixelSpacing", "SliceThickness")


def seal(ds: Dataset, frames: Iterable[np.ndarray] | None, raw_pixel_bytes: bytes | None) -> dict[str, Any]:
    """A JSON-able fingerprint of one instance: SOP Instance UID, pixel digest and its algorithm (SHA-256
    over the decoded ``frames``, or over ``raw_pixel_bytes`` when no frames are given), frame count, and
    one 16-hex-digit SHA-256 prefix per identifying attribute present."""
    pixels = hashlib.sha256()
    for keyword in RENDERING:
        pixels.update(f"{keyword}={_attribute(ds, keyword)};".encode())
    count = 0
    if frames is not None:
        algorithm = "sha256-values"
        dtype = _canonical_dtype(ds)
        for frame in frames:
            values = np.ascontiguousarray(frame, dtype=dtype if frame.dtype.kind in "iu" else "<f8")
            pixels.update(repr(values.shape).encode())
            pixels.update(memoryview(values).cast("B"))
            count += 1
    else:
        algorithm = "sha256-raw"
        pixels.update(raw_pixel_bytes or b"")
    identity = {k: hashlib.sha256(_attribute(ds, k).encode()).hexdigest()[:16] for k in IDENTITY if k in ds}
    return {"version": VERSION, "algorithm": algorithm, "sop_instance_uid": _attribute(ds, "SOPInstanceUID"),
            "pixels": pixels.hexdigest(), "frames": count, "identity": identity}


def compare_seal(old: dict[str, Any], new: dict[str, Any]) -> list[Finding]:
    """Findings where ``new`` (a re-sent object, or the stored object now) departs from ``old`` (the seal
    taken at first ingest): ``seal.pixels-changed``, ``seal.identity-changed`` naming the attributes."""
    findings = []
    if old.get("algorithm") != new.get("algorithm"):
        findings.append(INCOMPARABLE.finding(f"pixel digests {old.get('algorithm')} and {new.get('algorithm')} "
                                             "are not comparable"))
    elif old.get("pixels") != new.get("pixels"):
        findings.append(PIXELS_CHANGED.finding(
            f"pixel data differ from the seal of first ingest ({old.get('frames')} -> {new.get('frames')} frames)",
            0x7FE00010))
    before, after = old.get("identity", {}), new.get("identity", {})
    changed = sorted(k for k in set(before) | set(after) if before.get(k) != after.get(k))
    if changed:
        findings.append(IDENTITY_CHANGED.finding(f"identifying attributes changed since first ingest: "
                                                 f"{', '.join(changed)}", attributes=changed))
    return findings


def _canonical_dtype(ds: Dataset) -> str:
    """Little endian integer type of the stored values: Bits Allocated 8/16/32 (1 -> 8), signed if Pixel
    Representation is 1. Decoders differ in the type they return, never in the values."""
    size = {1: 1, 8: 1, 16: 2, 32: 4}.get(int(ds.get("BitsAllocated", 16)), 8)
    return f"<{'i' if ds.get('PixelRepresentation', 0) == 1 else 'u'}{size}"


def _attribute(ds: Dataset, keyword: str) -> str:
    """The stable text form of attribute ``keyword`` of ``ds``; a value pydicom cannot decode (a broken
    VR or length, as a tampered file may carry) counts by its raw bytes, so it still takes part."""
    try:
        return _text(ds.get(keyword))
    except Exception:  # pydicom raises many types on bad values
        raw = ds.get_item(tag_for_keyword(keyword)).value
        return "raw:" + (raw if isinstance(raw, bytes) else repr(raw).encode()).hex()


def _text(value: Any) -> str:
    """A stable text form of an attribute value (multi-valued as a backslash-joined list)."""
    if value is None:
        return ""
    if isinstance(value, (list, tuple)) or type(value).__name__ == "MultiValue":
        return "\\".join(str(v) for v in value)
    return str(value)
