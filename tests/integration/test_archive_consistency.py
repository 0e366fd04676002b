"""Consistency across objects through a real Orthanc: what the archive holds under the same UIDs."""

from __future__ import annotations

import hashlib
import io

import pydicom
from pydicom.uid import generate_uid

from realfiles import fresh_copy


def modified(data: bytes, **changes) -> bytes:
    ds = pydicom.dcmread(io.BytesIO(data))
    for keyword, value in changes.items():
        setattr(ds, keyword, value)
    out = io.BytesIO()
    ds.save_as(out, write_like_original=False)
    return out.getvalue()


def test_same_sop_instance_with_other_content_goes_to_quarantine(orthanc):
    original = fresh_copy("CT_small.dcm")
    stored = orthanc.upload(original).json()
    assert stored["Status"] == "Success"
    assert orthanc.upload(original).json()["Status"] == "AlreadyStored"  # identical resend: fine
    changed = modified(original, PatientName="Someone^Else")
    r = orthanc.upload(changed)
    assert r.json()["Status"] == "FilteredOut"
    digest = hashlib.sha256(changed).hexdigest()
    [entry] = [e for e in orthanc.get("/sentinel/quarantine?limit=10000").json()["entries"] if e["sha256"] == digest]
    assert entry["rule"] == "consistency.sop-resent"
    assert stored["ID"] in orthanc.get(f"/sentinel/quarantine/{entry['id']}").json()["findings"][0]["instance"]
    # The original is untouched.
    tags = orthanc.get(f"/instances/{stored['ID']}/simplified-tags").json()
    assert tags["PatientName"] != "Someone^Else"


def test_a_study_uid_under_another_patient_is_flagged(orthanc):
    first = fresh_copy("CT_small.dcm")
    study_uid = pydicom.dcmread(io.BytesIO(first)).StudyInstanceUID
    orthanc.upload(first).raise_for_status()
    second = modified(fresh_copy("MR_small.dcm"), StudyInstanceUID=study_uid, PatientID="ANOTHER-PATIENT")
    stored = orthanc.upload(second).json()
    report = orthanc.report("instances", stored["ID"])
    [finding] = [f for f in report["findings"] if f["rule"] == "consistency.study-patient"]
    assert finding["tag"] == "(0010,0020)"
    assert report["verdict"] == "suspicious"


def test_a_series_uid_reused_in_another_study_is_flagged(orthanc):
    first = fresh_copy("CT_small.dcm")
    series_uid = pydicom.dcmread(io.BytesIO(first)).SeriesInstanceUID
    orthanc.upload(first).raise_for_status()
    second = modified(fresh_copy("CT_small.dcm"), SeriesInstanceUID=series_uid, StudyInstanceUID=generate_uid())
    stored = orthanc.upload(second).json()
    report = orthanc.report("instances", stored["ID"])
    assert "consistency.series-study" in {f["rule"] for f in report["findings"]}
