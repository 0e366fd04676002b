"""Consistency across objects, what dcentvfy checks on a set of files, done incrementally: a new object
against what the archive already holds under the same UIDs.

Pure: the caller (the plugin) looks up the archive and hands in dictionaries with the keys of
:data:`KEYS` (missing keys or empty values are "unknown" and never conflict). :func:`identifiers` makes
the dictionary of a parsed object; :func:`content_digest` the digest of its data set bytes.
"""

from __future__ import annotations

import hashlib
import struct

from pydicom.dataset import Dataset

from .elements import first_text
from .findings import Action, Finding, Severity
from .rules import define

KEYS = ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID", "Modality",
        "FrameOfReferenceUID", "ContentDigest")

STUDY_PATIENT = define(
    "consistency.study-patient", Severity.ERROR, Action.LABEL,
    "A Study Instance UID (0020,000D) already holds objects of another PatientID (0010,0020): a study "
    "belongs to one patient (PS3.3 A.1.2.2, the Patient-Study relationship of the DICOM Information Model): "
    "two patients merged, or a UID generator reusing values.")
SERIES_STUDY = define(
    "consistency.series-study", Severity.ERROR, Action.LABEL,
    "A Series Instance UID (0020,000E) already belongs to another study (PS3.3 A.1.2.3: a series is in "
    "exactly one study).")
SERIES_MODALITY = define(
    "consistency.series-modality", Severity.WARNING, Action.LABEL,
    "A series already holds objects of another Modality (0008,0060) (PS3.3 C.7.3.1: one modality per "
    "series).")
SERIES_FRAME = define(
    "consistency.series-frame-of-reference", Severity.WARNING, Action.LABEL,
    "A series already holds objects of another Frame of Reference UID (0020,0052) (PS3.3 C.7.4.1.1.1: the "
    "images of a series share one frame of reference): positions cannot be compared across them.")
UID_REUSE = define(
    "consistency.uid-reuse", Severity.ERROR, Action.LABEL,
    "A UID is reused under another parent: a SOP Instance UID (0008,0018) in another series, or a UID "
    "already used at another level (study, series, instance) (PS3.5 9.1: a UID identifies one thing).")
RESENT = define(
    "consistency.sop-resent", Severity.ERROR, Action.REJECT,
    "The same SOP Instance UID (0008,0018) arrives again with different content: an instance never "
    "changes once created (PS3.3 C.12.1.1.1); a changed object needs a new UID. Rejected into quarantine "
    "by default: Orthanc would otherwise drop the new content silently (AlreadyStored) or overwrite the "
    "original (OverwriteInstances), and a person should decide which one is true.")

_LEVELS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def identifiers(ds: Dataset, digest: str = "") -> dict[str, str]:
    """The :data:`KEYS` of a parsed object (empty string when absent); ``digest`` from
    :func:`content_digest`."""
    tags = {"PatientID": 0x00100020, "StudyInstanceUID": 0x0020000D, "SeriesInstanceUID": 0x0020000E,
            "SOPInstanceUID": 0x00080018, "Modality": 0x00080060, "FrameOfReferenceUID": 0x00200052}
    out = {k: first_text(ds, t) or "" for k, t in tags.items()}
    out["ContentDigest"] = digest
    return out


def content_digest(data: bytes) -> str:
    """SHA-256 of the data set of a Part 10 file, after the preamble and File Meta group (PS3.10 7.1),
    so that a resend through another route that rewrites the meta information digests the same."""
    start = 0
    if data[128:132] == b"DICM" and data[132:136] == b"\x02\x00\x00\x00" and data[136:138] == b"UL":
        start = 144 + struct.unpack("<I", data[140:144])[0]
    return hashlib.sha256(data[start:]).hexdigest()


def _differ(a: dict[str, str], b: dict[str, str], key: str) -> bool:
    return bool(a.get(key)) and bool(b.get(key)) and a[key] != b[key]


def check_against_archive(new: dict[str, str], known: list[dict[str, str]]) -> list[Finding]:
    """Findings of the ``consistency.*`` rules for ``new`` against ``known``: the objects the archive holds
    that share any of new's Study, Series or SOP Instance UIDs (at any level; other objects are ignored).
    One finding per rule and conflicting value."""
    out: dict[tuple[str, str], Finding] = {}

    def add(rule, message: str, value: str, **details: str) -> None:
        out.setdefault((rule.id, value), rule.finding(message, **details))

    for old in known:
        same = {k: bool(new.get(k)) and new.get(k) == old.get(k) for k in _LEVELS}
        if same["StudyInstanceUID"] and _differ(new, old, "PatientID"):
            add(STUDY_PATIENT, f"study {new['StudyInstanceUID']} holds PatientID {old['PatientID']!r}, this object "
                f"has {new['PatientID']!r}", old["PatientID"], tag="(0010,0020)", other=old["PatientID"])
        if same["SeriesInstanceUID"]:
            if _differ(new, old, "StudyInstanceUID"):
                add(SERIES_STUDY, f"series {new['SeriesInstanceUID']} is in study {old['StudyInstanceUID']}, "
                    f"this object says {new['StudyInstanceUID']}", old["StudyInstanceUID"], tag="(0020,000D)")
            if _differ(new, old, "Modality"):
                add(SERIES_MODALITY, f"series holds Modality {old['Modality']}, this object has {new['Modality']}",
                    old["Modality"], tag="(0008,0060)")
            if _differ(new, old, "FrameOfReferenceUID"):
                add(SERIES_FRAME, f"series holds FrameOfReferenceUID {old['FrameOfReferenceUID']}, this object "
                    f"has {new['FrameOfReferenceUID']}", old["FrameOfReferenceUID"], tag="(0020,0052)")
        if same["SOPInstanceUID"]:
            if _differ(new, old, "SeriesInstanceUID"):
                add(UID_REUSE, f"SOP Instance UID {new['SOPInstanceUID']} already in series "
                    f"{old['SeriesInstanceUID']}", old["SeriesInstanceUID"], tag="(0008,0018)")
            elif _differ(new, old, "ContentDigest"):
                add(RESENT, f"SOP Instance {new['SOPInstanceUID']} received again with different content",
                    old["ContentDigest"], tag="(0008,0018)")
        for level in _LEVELS:
            for other in _LEVELS:
                if other != level and new.get(level) and new.get(level) == old.get(other):
                    add(UID_REUSE, f"{level} {new[level]} is already a {other} in the archive", new[level],
                        tag=None)
    return list(out.values())
