"""Orthanc cuts every ``/tools/find`` at ``LimitFindResults`` (``LimitFindInstances`` at instance level)
without saying so, whatever ``Limit`` the query asks (measured on 1.12.7). Administrators set these
limits to protect C-FIND; what Sentinel reads through /tools/find must not be cut by them."""

from __future__ import annotations

import json

from integration.orthanc_server import OrthancServer
from realfiles import PYDICOM_FILES, fresh_copy

CT5N = PYDICOM_FILES / "dicomdirtests" / "98892001" / "CT5N"


def test_series_reports_scans_and_alerts_are_whole_under_find_limits():
    with OrthancServer({"LimitFindResults": 1, "LimitFindInstances": 2}) as orthanc:
        slices = sorted(p for p in CT5N.iterdir() if p.is_file())
        stored = [orthanc.upload(p.read_bytes()).json() for p in slices]
        assert orthanc.report("series", stored[0]["ParentSeries"])["instances"]["total"] == len(slices) == 5

        # Three studies, each with a suspicious instance (born after the study).
        suspicious = [orthanc.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101",
                                                StudyDate="20040119")).json() for _ in range(3)]
        for instance in suspicious:
            assert orthanc.report("instances", instance["ID"])["verdict"] == "suspicious"
        alerts = orthanc.get("/sentinel/alerts?limit=10000").json()["alerts"]
        assert {i["ID"] for i in suspicious} <= {a["id"] for a in alerts}

        started = orthanc.post("/sentinel/scan", json.dumps({"since": "19000101"})).json()
        assert started["series_total"] == len(orthanc.get("/series").json()) == 4
        orthanc.wait_for(lambda: orthanc.get("/sentinel/scan").json()["state"] == "done")
