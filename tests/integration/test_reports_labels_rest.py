"""Reports and labels through a real Orthanc, the REST routes' answers to bad requests, configuration."""

from __future__ import annotations

import io
import json

import pydicom
import pytest

from integration.orthanc_server import OrthancServer
from realfiles import fresh_copy, with_nested_sequences, with_preamble


def labels(orthanc, level: str, resource_id: str) -> list[str]:
    return orthanc.get(f"/{level}/{resource_id}/labels").json()


def test_clean_file_passes_without_labels(orthanc):
    stored = orthanc.upload(fresh_copy("CT_small.dcm")).json()
    report = orthanc.report("instances", stored["ID"])
    assert report["verdict"] in ("pass", "warning")
    assert report["checked"] and report["version"]
    if report["verdict"] == "pass":
        assert labels(orthanc, "instances", stored["ID"]) == []


def test_suspicious_instance_labels_instance_series_and_study(orthanc):
    stored = orthanc.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119")).json()
    assert stored["Status"] == "Success"
    report = orthanc.report("instances", stored["ID"])
    assert report["verdict"] == "suspicious"
    finding = next(f for f in report["findings"] if f["rule"] == "instance.birth-after-study")
    assert finding["severity"] == "error" and finding["tag"] == "(0010,0030)" and finding["message"]
    # The labels follow the report's write, the parents' last.
    for level, key in (("instances", "ID"), ("series", "ParentSeries"), ("studies", "ParentStudy")):
        assert orthanc.wait_for(lambda: "sentinel-suspicious" in labels(orthanc, level, stored[key]), timeout=10), level
    series_report = orthanc.report("series", stored["ParentSeries"])
    assert series_report["verdict"] == "suspicious"
    assert any(f["instance"] == stored["ID"] for f in series_report["findings"])
    study_report = orthanc.report("studies", stored["ParentStudy"])
    assert study_report["verdict"] == "suspicious" and study_report["instances"]["total"] == 1
    # Orthanc's own search by label finds the study (what Orthanc Explorer's label filter uses).
    found = orthanc.post("/tools/find", json.dumps({"Level": "Study", "Query": {},
                                                     "Labels": ["sentinel-suspicious"],
                                                     "LabelsConstraint": "All"})).json()
    assert stored["ParentStudy"] in found


@pytest.mark.filterwarnings("ignore:Invalid value for VR TM")  # the invalid time is the point
def test_warning_instance_gets_the_warning_label(orthanc):
    stored = orthanc.upload(fresh_copy("CT_small.dcm", StudyTime="250000")).json()
    report = orthanc.report("instances", stored["ID"])
    assert report["verdict"] == "warning", report
    assert labels(orthanc, "instances", stored["ID"]) == ["sentinel-warning"]
    assert "sentinel-warning" in labels(orthanc, "studies", stored["ParentStudy"])


def test_validate_returns_a_report_and_stores_nothing(orthanc):
    data = fresh_copy("MR_small.dcm")
    uid = pydicom.dcmread(io.BytesIO(data)).SOPInstanceUID
    r = orthanc.post("/sentinel/validate", data)
    assert r.status_code == 200 and r.json()["verdict"] in ("pass", "warning")
    assert orthanc.post("/tools/lookup", uid).json() == []
    r = orthanc.post("/sentinel/validate", with_preamble(data, b"\x7fELF\x02\x01\x01"))
    assert r.json()["verdict"] == "reject"
    assert r.json()["findings"][0]["rule"] == "ingest.preamble-executable"
    # Not DICOM at all: findings, not a crash.
    r = orthanc.post("/sentinel/validate", b"hello, world" * 100)
    assert r.status_code == 200 and r.json()["verdict"] == "reject"


def test_validate_of_a_nesting_bomb_is_a_report_and_orthanc_lives_on(orthanc):
    """Orthanc never parses what /sentinel/validate gets; pydicom did, and freeing 100 levels of nested
    data sets overflowed the HTTP thread's stack: Orthanc died (SIGSEGV) on a 5 KB file."""
    for depth, padding in ((100, 0), (1000, 0), (150, 10_010)):  # 10,010 items: beyond the ingest walk's budget
        r = orthanc.post("/sentinel/validate", with_nested_sequences(fresh_copy("CT_small.dcm"), depth, padding))
        assert r.status_code == 200 and r.json()["verdict"] == "reject"
        assert "ingest.nesting-depth" in {f["rule"] for f in r.json()["findings"]}
    assert orthanc.get("/system").status_code == 200


@pytest.mark.parametrize("method,path,status", [
    ("GET", "/sentinel/instances/0000", 404),
    ("GET", "/sentinel/instances/00000000-00000000-00000000-00000000-00000000", 404),
    ("GET", "/sentinel/studies/not-an-id", 404),
    ("GET", "/sentinel/quarantine/../../etc/passwd", 404),
    ("GET", "/sentinel/quarantine/0123456789abcdef0123456789abcdef", 404),
    ("POST", "/sentinel/quarantine/0123456789abcdef0123456789abcdef/release", 404),
    ("GET", "/sentinel/quarantine?limit=abc", 400),
    ("GET", "/sentinel/quarantine?limit=0", 400),
    ("POST", "/sentinel/validate", 400),
    ("GET", "/sentinel/validate", 405),
    ("DELETE", "/sentinel/rules", 405),
    ("GET", "/sentinel/nothing-here", 404),
])
def test_bad_requests_get_4xx_with_a_message(orthanc, method, path, status):
    r = orthanc.session.request(method, orthanc.url + path, timeout=30)
    assert r.status_code == status, r.text
    if status != 405 and ".." not in path:  # Orthanc resolves ".." itself, before Sentinel sees the path
        assert r.json()["error"]


def test_rules_catalogue(orthanc):
    rules = {r["id"]: r for r in orthanc.get("/sentinel/rules").json()}
    assert rules["ingest.preamble-executable"]["action"] == "reject"
    assert rules["ingest.preamble-executable"]["severity"] == "critical"
    assert all(r["description"] for r in rules.values())
    checked = orthanc.get("/sentinel/status").json()["ingest"]["checked"]
    orthanc.upload(fresh_copy("CT_small.dcm")).raise_for_status()  # not left to the tests run before
    status = orthanc.get("/sentinel/status").json()
    assert status["enabled"] and status["ingest"]["checked"] == checked + 1


@pytest.mark.parametrize("sentinel,expected", [
    ({"FailOpen": "yes"}, "Sentinel.FailOpen"),
    ({"Labels": {"Warning": "has space"}}, "Sentinel.Labels.Warning"),
    ({"Rules": {"no.such-rule": {"Severity": "error"}}}, "no.such-rule"),
    ({"Rules": {"ingest.preamble-executable": {"Severity": "fatal"}}}, "fatal"),
    ({"CStoreRejectStatus": 0}, "Sentinel.CStoreRejectStatus"),
    ({"Unknown": 1}, "unknown key"),
])
def test_bad_configuration_stops_orthanc_naming_the_key(sentinel, expected):
    server = OrthancServer({"Sentinel": sentinel})
    rc, log = server.run_to_exit()
    assert rc != 0
    assert expected in log


def test_rule_override_changes_the_action(tmp_path):
    """Turning a reject rule into report-only lets the polyglot in, labelled by nothing."""
    with OrthancServer({"Sentinel": {"Rules": {"ingest.preamble-executable": {"Action": "report"}}}}) as server:
        assert server.upload(with_preamble(fresh_copy("CT_small.dcm"), b"MZ")).json()["Status"] == "Success"
        rules = {r["id"]: r for r in server.get("/sentinel/rules").json()}
        assert rules["ingest.preamble-executable"]["action"] == "report"


def test_our_validators_package_wins_over_a_foreign_one_on_pythonpath(tmp_path):
    """An unrelated package named ``validators`` first on PYTHONPATH must not replace ours in Orthanc."""
    fake = tmp_path / "site" / "validators"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text("raise ImportError('the foreign validators package was imported')\n")
    with OrthancServer(env={"PYTHONPATH": str(tmp_path / "site")}) as server:
        assert server.get("/sentinel/rules").status_code == 200
        assert "foreign validators" not in server.log()


@pytest.mark.filterwarnings("ignore:Invalid value for VR TM")
def test_prometheus_metrics(orthanc):
    orthanc.report("instances", orthanc.upload(fresh_copy("CT_small.dcm", StudyTime="250000")).json()["ID"])
    r = orthanc.get("/sentinel/metrics")
    assert r.status_code == 200 and r.headers["Content-Type"].startswith("text/plain")
    lines = r.text.splitlines()
    assert "# TYPE sentinel_ingest_objects_total counter" in lines
    assert any(l.startswith('sentinel_ingest_objects_total{outcome="checked"} ') for l in lines)
    assert any(l.startswith('sentinel_findings_total{rule="instance.time-syntax",severity="warning"} ') for l in lines)
    assert any(l.startswith("sentinel_worker_backlog ") for l in lines)
    assert "# TYPE sentinel_ingest_check_seconds histogram" in lines
    assert any(l.startswith('sentinel_ingest_check_seconds_bucket{le="+Inf"} ') for l in lines)
    assert any(l.startswith('sentinel_analysis_seconds_bucket{change="NewInstance",le="0.5"} ') for l in lines)
    assert "sentinel_scan_running 0" in lines and any(l.startswith("sentinel_webhook_queue ") for l in lines)


UNKNOWN_ID = "00000000-00000000-00000000-00000000-00000000"


@pytest.mark.parametrize("method,path,message", [
    ("GET", f"/sentinel/studies/{UNKNOWN_ID}", f"no study {UNKNOWN_ID} in Orthanc"),
    ("GET", f"/sentinel/series/{UNKNOWN_ID}", f"no series {UNKNOWN_ID} in Orthanc"),
    ("GET", f"/sentinel/instances/{UNKNOWN_ID}", f"no instance {UNKNOWN_ID} in Orthanc"),
    ("POST", f"/sentinel/instances/{UNKNOWN_ID}/revalidate", f"no instance {UNKNOWN_ID} in Orthanc"),
    ("POST", f"/sentinel/studies/{UNKNOWN_ID}/revalidate", f"no study {UNKNOWN_ID} in Orthanc"),
    ("GET", "/sentinel/studies/not-an-id", "no study not-an-id in Orthanc"),
])
def test_a_404_names_what_the_client_asked_for_not_orthancs_internal_uri(orthanc, method, path, message):
    """It said e.g. "unknown resource /studies/0000...": the URI of Sentinel's own call into Orthanc."""
    r = orthanc.session.request(method, orthanc.url + path, timeout=30)
    assert r.status_code == 404 and r.json()["error"] == message, r.text
