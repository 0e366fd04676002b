"""Cross-object consistency (validators.consistency): the pure function the plugin feeds from Orthanc."""

from __future__ import annotations

import pydicom

from realfiles import fresh_copy, pydicom_file
from validators.consistency import check_against_archive, content_digest, identifiers

BASE = {"PatientID": "P1", "StudyInstanceUID": "1.2.1", "SeriesInstanceUID": "1.2.1.1",
        "SOPInstanceUID": "1.2.1.1.1", "Modality": "CT", "FrameOfReferenceUID": "1.2.9", "ContentDigest": "a"}


def rules(new, known) -> list[str]:
    return sorted(f.rule for f in check_against_archive(new, known))


def test_same_object_again_and_siblings_are_fine():
    sibling = dict(BASE, SOPInstanceUID="1.2.1.1.2", ContentDigest="b")
    assert rules(BASE, [BASE, sibling]) == []
    assert rules(dict(BASE, PatientID=""), [BASE]) == []  # unknown never conflicts


def test_each_conflict():
    assert rules(dict(BASE, PatientID="P2", SOPInstanceUID="9"), [BASE]) == ["consistency.study-patient"]
    assert rules(dict(BASE, StudyInstanceUID="1.2.2", SOPInstanceUID="9"), [BASE]) == ["consistency.series-study"]
    assert rules(dict(BASE, Modality="MR", SOPInstanceUID="9"), [BASE]) == ["consistency.series-modality"]
    assert rules(dict(BASE, FrameOfReferenceUID="1.3", SOPInstanceUID="9"), [BASE]) == \
        ["consistency.series-frame-of-reference"]
    assert rules(dict(BASE, ContentDigest="z"), [BASE]) == ["consistency.sop-resent"]
    assert rules(dict(BASE, SeriesInstanceUID="1.2.1.2"), [BASE]) == ["consistency.uid-reuse"]
    assert rules(dict(BASE, SeriesInstanceUID="1.2.1", SOPInstanceUID="9"), [BASE]) == ["consistency.uid-reuse"]


def test_identifiers_and_digest_of_a_real_file():
    data = pydicom_file("CT_small.dcm").read_bytes()
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ids = identifiers(ds, content_digest(data))
    assert ids["Modality"] == "CT" and ids["SOPInstanceUID"] == ds.SOPInstanceUID and len(ids["ContentDigest"]) == 64
    other = fresh_copy("CT_small.dcm")
    assert content_digest(other) != ids["ContentDigest"]
