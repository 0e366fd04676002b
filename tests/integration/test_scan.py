"""The archive scan through a real Orthanc: objects stored while Sentinel was off are validated, seals
verified, progress reported, bad requests refused; and a scan resumes after a restart."""

from __future__ import annotations

import json
import shutil

from integration.orthanc_server import OrthancServer
from integration.test_pixels_seal_signatures import stored_file
from realfiles import fresh_copy


def test_scan_validates_what_was_stored_while_sentinel_was_disabled(tmp_path):
    with OrthancServer({"Sentinel": {"Enabled": False}}) as off:
        stored = off.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119")).json()
        off.upload(fresh_copy("MR_small.dcm")).raise_for_status()
        assert off.get(f"/sentinel/instances/{stored['ID']}").json()["pending"] is True
        storage = off.workdir / "db"
        shutil.copytree(storage, tmp_path / "db")
    # The same archive, Sentinel on, with its change-log worker held back: only the scan analyses.
    config = {"StorageDirectory": str(tmp_path / "db"), "IndexDirectory": str(tmp_path / "db"),
              "Sentinel": {"WorkerPollSeconds": 3600}}
    with OrthancServer(config) as on:
        on.get("/sentinel/status")
        started = on.post("/sentinel/scan", b"{}").json()
        assert started["state"] == "running" and started["series_total"] == 2
        assert on.post("/sentinel/scan", b"{}").status_code == 409
        progress = on.wait_for(lambda: (lambda p: p if p["state"] == "done" else None)(on.get("/sentinel/scan").json()))
        assert progress["series_done"] == 2 and progress["instances_done"] == 2
        report = on.get(f"/sentinel/instances/{stored['ID']}").json()
        assert report["pending"] is False and report["verdict"] == "suspicious"
        assert "sentinel-suspicious" in on.get(f"/studies/{stored['ParentStudy']}/labels").json()


def test_scan_requests_are_checked(orthanc):
    assert orthanc.post("/sentinel/scan", json.dumps({"since": "last week"})).status_code == 400
    assert orthanc.post("/sentinel/scan", json.dumps({"studies": "abc"})).status_code == 400
    assert orthanc.post("/sentinel/scan", json.dumps({"studies": ["00000000-00000000-00000000-00000000-00000000"]})
                        ).status_code == 400
    assert orthanc.post("/sentinel/scan", json.dumps({"colour": 1})).status_code == 400
    for processes in (-1, "2", True, 257):
        refused = orthanc.post("/sentinel/scan", json.dumps({"processes": processes}))
        assert refused.status_code == 400 and "processes" in refused.text
    stored = orthanc.upload(fresh_copy("CT_small.dcm")).json()
    done = orthanc.post("/sentinel/scan", json.dumps({"studies": [stored["ParentStudy"]]})).json()
    assert done["series_total"] == 1
    orthanc.wait_for(lambda: orthanc.get("/sentinel/scan").json()["state"] == "done")
    cancelled = orthanc.post("/sentinel/scan/cancel").json()
    assert cancelled["state"] == "done"


def test_a_rescan_analyses_only_what_changed_and_finds_a_file_changed_in_storage():
    """Reports computed from the same bytes with the same rules stand; a file edited in storage (as an
    attacker with access to the storage would) is analysed again and its seal breaks."""
    with OrthancServer({"MaximumStorageCacheSize": 0}) as orthanc:
        first = orthanc.upload(fresh_copy("CT_small.dcm")).json()
        other = orthanc.upload(fresh_copy("MR_small.dcm")).json()
        before = {i["ID"]: orthanc.report("instances", i["ID"]) for i in (first, other)}

        def scan() -> dict:
            assert orthanc.post("/sentinel/scan", b"{}").status_code == 200
            return orthanc.wait_for(lambda: (lambda p: p if p["state"] == "done" else None)(
                orthanc.get("/sentinel/scan").json()))

        unchanged = scan()
        assert unchanged["instances_done"] == 2 and unchanged["instances_analysed"] == 0
        assert orthanc.get(f"/sentinel/instances/{first['ID']}").json()["checked"] == before[first["ID"]]["checked"]

        path = stored_file(orthanc, first["ID"])
        data = bytearray(path.read_bytes())
        data[-200] ^= 0x01
        path.write_bytes(bytes(data))
        changed = scan()
        assert changed["instances_done"] == 2 and changed["instances_analysed"] == 1
        report = orthanc.get(f"/sentinel/instances/{first['ID']}").json()
        assert "seal.pixels-changed" in {f["rule"] for f in report["findings"]}
        assert report["verdict"] == "suspicious"
        assert orthanc.get(f"/sentinel/instances/{other['ID']}").json()["checked"] == before[other["ID"]]["checked"]


def test_scan_finds_a_sop_instance_uid_reused_in_another_series():
    """The scan asks the archive about the SOP Instance UIDs of a whole series at once (one /tools/find
    per level): a UID also used in another series is still found, from both sides."""
    with OrthancServer({"Sentinel": {"Enabled": False}}) as orthanc:
        first = orthanc.upload(fresh_copy("CT_small.dcm")).json()
        uid = orthanc.get(f"/instances/{first['ID']}").json()["MainDicomTags"]["SOPInstanceUID"]
        study = orthanc.get(f"/studies/{first['ParentStudy']}").json()["MainDicomTags"]["StudyInstanceUID"]
        series = orthanc.get(f"/series/{first['ParentSeries']}").json()["MainDicomTags"]["SeriesInstanceUID"]
        for number in (2, 3):  # siblings, whose UIDs go into the same /tools/find
            orthanc.upload(fresh_copy("CT_small.dcm", StudyInstanceUID=study, SeriesInstanceUID=series,
                                      InstanceNumber=number)).raise_for_status()
        reused = orthanc.upload(fresh_copy("CT_small.dcm", SOPInstanceUID=uid)).json()
        assert reused["ParentSeries"] != first["ParentSeries"]
        orthanc.post("/sentinel/scan", json.dumps({"studies": [first["ParentStudy"], reused["ParentStudy"]]}))
        orthanc.wait_for(lambda: orthanc.get("/sentinel/scan").json()["state"] == "done")
        for instance in (first["ID"], reused["ID"]):
            rules = {f["rule"] for f in orthanc.get(f"/sentinel/instances/{instance}").json()["findings"]}
            assert "consistency.uid-reuse" in rules, (instance, rules)


def test_scan_finds_study_and_series_uids_reused_elsewhere():
    """The scan asks about a series' Study and Series Instance UIDs in the same /tools/find as its SOP
    Instance UIDs, the series found coming with its study's identifiers: a Series Instance UID reused in
    another study, and a Study Instance UID under another patient, are found from both sides."""
    with OrthancServer({"Sentinel": {"Enabled": False}}) as orthanc:
        first = orthanc.upload(fresh_copy("CT_small.dcm")).json()
        study = orthanc.get(f"/studies/{first['ParentStudy']}").json()["MainDicomTags"]["StudyInstanceUID"]
        series = orthanc.get(f"/series/{first['ParentSeries']}").json()["MainDicomTags"]["SeriesInstanceUID"]
        moved = orthanc.upload(fresh_copy("CT_small.dcm", SeriesInstanceUID=series)).json()
        other_patient = orthanc.upload(fresh_copy("MR_small.dcm", StudyInstanceUID=study,
                                                  PatientID="ANOTHER-PATIENT")).json()
        assert len({first["ParentStudy"], moved["ParentStudy"], other_patient["ParentStudy"]}) == 3
        studies = [first["ParentStudy"], moved["ParentStudy"], other_patient["ParentStudy"]]
        orthanc.post("/sentinel/scan", json.dumps({"studies": studies}))
        orthanc.wait_for(lambda: orthanc.get("/sentinel/scan").json()["state"] == "done")
        rules = {name: {f["rule"] for f in orthanc.get(f"/sentinel/instances/{stored['ID']}").json()["findings"]}
                 for name, stored in (("first", first), ("moved", moved), ("other", other_patient))}
        assert "consistency.series-study" in rules["first"] and "consistency.series-study" in rules["moved"], rules
        assert "consistency.study-patient" in rules["first"] and "consistency.study-patient" in rules["other"], rules


def test_a_series_whose_file_is_gone_from_storage_shows_as_failed_not_deleted():
    """A file gone from storage (Orthanc 1.12.7: error 2006, not a regular file) fails its series: the
    scan tries it again, then reports it with its error, the series being still in the index."""
    with OrthancServer({"MaximumStorageCacheSize": 0}) as orthanc:
        lost = orthanc.upload(fresh_copy("CT_small.dcm")).json()
        kept = orthanc.upload(fresh_copy("MR_small.dcm")).json()
        stored_file(orthanc, lost["ID"]).unlink()
        assert orthanc.post("/sentinel/scan", b"{}").status_code == 200
        done = orthanc.wait_for(lambda: (lambda p: p if p["state"] == "done" else None)(
            orthanc.get("/sentinel/scan").json()))
        assert done["series_done"] == 2 and done["instances_done"] == 1
        assert done["series_failed"] == 1 and done["series_deleted"] == 0
        assert [f["series"] for f in done["failures"]] == [lost["ParentSeries"]]
        assert done["failures"][0]["error"].startswith("OrthancException(2006")
        assert orthanc.get(f"/sentinel/instances/{kept['ID']}").json()["pending"] is False
        assert "failed, trying again" in orthanc.log()
