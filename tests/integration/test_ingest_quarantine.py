"""Ingest through a real Orthanc: REST and C-STORE, rejection into quarantine, release, accounting."""

from __future__ import annotations

import hashlib
import io
import re
from concurrent.futures import ThreadPoolExecutor

import pydicom

from realfiles import all_pydicom_files, fresh_copy, pydicom_file, with_preamble

# Files that pydicom ships broken on purpose (and variants sharing a UID), and what Sentinel says of them. All else that
# pydicom ships must be stored (or refused by Orthanc itself, never by Sentinel).
EXPECTED_REJECTIONS = {
    "no_meta.dcm": "ingest.missing-dicm",                  # a stray byte, then a data set without File Meta
    "MR_truncated.dcm": "ingest.truncated",                # Pixel Data cut short
    "rtplan_truncated.dcm": "ingest.truncated",
    "SC_rgb_jpeg.dcm": "ingest.filemeta-transfer-syntax",  # says explicit VR, is implicit VR
    "meta_missing_tsyntax.dcm": "ingest.filemeta-transfer-syntax",
    # Data-set fragments without SOP Class / SOP Instance UID (Orthanc would refuse them too).
    "UN_sequence.dcm": "ingest.missing-sop-uid",
    "priv_SQ.dcm": "ingest.missing-sop-uid",
    "nested_priv_SQ.dcm": "ingest.missing-sop-uid",
    "empty_charset_LEI.dcm": "ingest.missing-sop-uid",
    "no_meta_group_length.dcm": "ingest.missing-sop-uid",
    # Variants that pydicom made of another test file, keeping its SOP Instance UID and transfer syntax
    # but changing the content; sent after their sibling (files go in name order), they are what
    # consistency.sop-resent is for.
    "JPEG2000.dcm": "consistency.sop-resent",                  # after JPEG2000-embedded-sequence-delimiter.dcm
    "JPGExtended.dcm": "consistency.sop-resent",               # after JPEG-lossy.dcm
    "MR_small_padded.dcm": "consistency.sop-resent",           # after MR_small.dcm
    "reportsi_with_empty_number_tags.dcm": "consistency.sop-resent",  # after reportsi.dcm
}


def pe_polyglot(name: str) -> bytes:
    """A real file, as a new object, whose preamble is a Windows PE header (CVE-2019-11687)."""
    data = bytearray(with_preamble(fresh_copy(name), b"MZ\x90\x00"))
    data[64:68] = b"PE\x00\x00"
    return bytes(data)


def quarantine_entry_for(orthanc, sop_instance_uid: str) -> dict:
    entries = orthanc.get("/sentinel/quarantine?limit=10000").json()["entries"]
    matching = [e for e in entries if e["sop_instance_uid"] == sop_instance_uid]
    assert matching, f"{sop_instance_uid} not in quarantine"
    return matching[0]


def test_real_pydicom_files_are_accounted_for_and_not_wrongly_rejected(orthanc):
    stored, quarantined, refused = [], [], []
    files = all_pydicom_files()
    for path in files:
        r = orthanc.upload(path.read_bytes())
        if r.ok and r.json()["Status"] in ("Success", "AlreadyStored"):
            stored.append(path.name)
        elif r.ok and r.json()["Status"] == "FilteredOut":
            quarantined.append(path.name)
        else:
            assert 400 <= r.status_code < 500, f"{path.name}: {r.status_code} {r.text}"
            refused.append(path.name)
    assert len(stored) + len(quarantined) + len(refused) == len(files)
    assert len(stored) > 60
    wrongly = sorted(set(quarantined) - set(EXPECTED_REJECTIONS))
    assert not wrongly, f"real files rejected by Sentinel: {wrongly}"
    by_digest = {e["sha256"]: e for e in orthanc.get("/sentinel/quarantine?limit=10000").json()["entries"]}
    for name in quarantined:
        entry = by_digest.get(hashlib.sha256(pydicom_file(name).read_bytes()).hexdigest())
        assert entry, f"{name} was filtered out but is not in quarantine"
        rules = {f["rule"] for f in orthanc.get(f"/sentinel/quarantine/{entry['id']}").json()["findings"]}
        assert EXPECTED_REJECTIONS[name] in rules, (name, rules)


def test_rest_polyglot_is_filtered_out_and_quarantined(orthanc):
    data = pe_polyglot("CT_small.dcm")
    r = orthanc.upload(data)
    assert r.status_code == 200 and r.json()["Status"] == "FilteredOut"
    uid = pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
    entry = quarantine_entry_for(orthanc, uid)
    assert entry["rule"] == "ingest.preamble-executable"
    assert "PE" in entry["reason"] or "Windows" in entry["reason"]
    assert entry["origin"] == "REST_API" and entry["remote_ip"] == "127.0.0.1"
    assert entry["size"] == len(data)
    full = orthanc.get(f"/sentinel/quarantine/{entry['id']}").json()
    assert any(f["rule"] == "ingest.preamble-executable" for f in full["findings"])
    assert orthanc.get(f"/sentinel/quarantine/{entry['id']}/file").content == data
    # Nothing of it reached Orthanc.
    assert orthanc.post("/tools/lookup", uid).json() == []


def test_release_stores_the_object_once_and_delete_removes_the_entry(orthanc):
    data = pe_polyglot("MR_small.dcm")
    assert orthanc.upload(data).json()["Status"] == "FilteredOut"
    uid = pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
    entry = quarantine_entry_for(orthanc, uid)
    released = orthanc.post(f"/sentinel/quarantine/{entry['id']}/release")
    assert released.status_code == 200, released.text
    instance_id = released.json()["released"]["instance"]
    assert orthanc.get(f"/instances/{instance_id}").json()["MainDicomTags"]["SOPInstanceUID"] == uid
    assert orthanc.post(f"/sentinel/quarantine/{entry['id']}/release").status_code == 409
    # Stored despite its finding: the report says so and the label shows it.
    report = orthanc.report("instances", instance_id)
    assert report["verdict"] == "suspicious"
    assert any(f["rule"] == "ingest.preamble-executable" for f in report["findings"])
    assert "sentinel-suspicious" in orthanc.get(f"/instances/{instance_id}/labels").json()
    assert orthanc.delete(f"/sentinel/quarantine/{entry['id']}").status_code == 200
    assert orthanc.get(f"/sentinel/quarantine/{entry['id']}").status_code == 404
    assert orthanc.delete(f"/sentinel/quarantine/{entry['id']}").status_code == 404


def test_of_two_simultaneous_releases_one_stores_and_the_other_is_a_409_and_no_lock_file_stays(orthanc):
    """Both answered 200; a release that lost to a delete left its ``.lock`` file in the folder."""
    data = pe_polyglot("JPEG2000.dcm")
    assert orthanc.upload(data).json()["Status"] == "FilteredOut"
    entry = quarantine_entry_for(orthanc, pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID)["id"]
    with ThreadPoolExecutor(4) as pool:
        answers = list(pool.map(lambda _: orthanc.post(f"/sentinel/quarantine/{entry}/release"), range(4)))
    assert sorted(r.status_code for r in answers) == [200, 409, 409, 409], [r.text for r in answers]
    instance = next(r for r in answers if r.ok).json()["released"]["instance"]
    for refused in (r for r in answers if not r.ok):
        assert refused.json()["error"] == f"entry {entry} was released already as instance {instance}"
    assert orthanc.delete(f"/sentinel/quarantine/{entry}").status_code == 200
    assert not list((orthanc.workdir / "quarantine").glob(f"{entry}*"))


def test_cstore_of_short_pixel_data_is_refused_visibly(orthanc, tmp_path):
    """C-STORE carries the data set, never the file's preamble, so the network's critical case is a
    header that promises more pixels than it carries (out-of-bounds reads in a viewer)."""
    path = tmp_path / "short-pixels.dcm"
    path.write_bytes(fresh_copy("CT_small.dcm", Rows=1024, Columns=1024))
    ds = pydicom.dcmread(path, stop_before_pixels=True)
    result = orthanc.storescu(path, aet="MODALITY1")
    # The modality must not be told "Success": storescu reports the DIMSE failure status.
    response = result.stderr.split("Received Store Response")[-1].splitlines()[0]
    assert "Success" not in response and re.search(r"Error|Failure|Refused", response), result.stderr
    entry = quarantine_entry_for(orthanc, ds.SOPInstanceUID)
    assert entry["origin"] == "DICOM_PROTOCOL" and entry["remote_aet"] == "MODALITY1"
    assert entry["rule"] == "ingest.pixel-data-short"
    assert orthanc.post("/tools/lookup", ds.SOPInstanceUID).json() == []


def test_cstore_real_series_is_stored_and_analysed(orthanc):
    series_dir = pydicom_file("dicomdirtests") / "77654033" / "CT2"
    files = sorted(p for p in series_dir.rglob("*") if p.is_file())
    result = orthanc.storescu(*files)
    assert result.returncode == 0, result.stderr
    uid = pydicom.dcmread(files[0], stop_before_pixels=True).SeriesInstanceUID
    [series] = orthanc.post("/tools/lookup", uid).json()
    report = orthanc.report("series", series["ID"])
    assert report["instances"]["total"] == len(files)
    assert report["verdict"] in ("pass", "warning"), report["findings"][:5]
