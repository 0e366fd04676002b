"""Alerts through a real Orthanc: listing with filters, acknowledge/dismiss/reopen, labels that follow."""

from __future__ import annotations

import json

import pytest

from realfiles import fresh_copy


@pytest.fixture
def suspicious(orthanc):
    stored = orthanc.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119")).json()
    orthanc.report("studies", stored["ParentStudy"])
    return stored


def labels(orthanc, level, resource_id):
    return orthanc.get(f"/{level}/{resource_id}/labels").json()


def test_alert_lifecycle_and_labels(orthanc, suspicious):
    instance, study = suspicious["ID"], suspicious["ParentStudy"]
    alerts = orthanc.get(f"/sentinel/alerts?study={study}&state=open").json()["alerts"]
    [alert] = [a for a in alerts if a["id"] == instance]
    assert alert["verdict"] == "suspicious" and "instance.birth-after-study" in alert["rules"]
    assert alert["modality"] == "CT"

    r = orthanc.post(f"/sentinel/alerts/{instance}/acknowledge", json.dumps({"comment": "looking"}))
    assert r.status_code == 200 and r.json()["state"] == "acknowledged"
    assert "sentinel-suspicious" in labels(orthanc, "instances", instance)
    assert orthanc.post(f"/sentinel/alerts/{instance}/acknowledge", b"").status_code == 409

    assert orthanc.post(f"/sentinel/alerts/{instance}/dismiss", b"{}").status_code == 400  # needs a reason
    r = orthanc.post(f"/sentinel/alerts/{instance}/dismiss", json.dumps({"comment": "birth date typo, fixed in RIS"}))
    assert r.json()["state"] == "dismissed"
    assert [h["state"] for h in r.json()["history"]] == ["acknowledged", "dismissed"]
    assert labels(orthanc, "instances", instance) == ["sentinel-dismissed"]
    assert "sentinel-suspicious" not in labels(orthanc, "studies", study)
    assert orthanc.get(f"/sentinel/studies/{study}").json()["verdict"] in ("pass", "warning")

    orthanc.post(f"/sentinel/alerts/{instance}/reopen", json.dumps({"comment": "not a typo after all"}))
    assert "sentinel-suspicious" in labels(orthanc, "instances", instance)
    assert "sentinel-suspicious" in labels(orthanc, "studies", study)
    assert orthanc.get(f"/sentinel/studies/{study}").json()["verdict"] == "suspicious"


@pytest.mark.parametrize("path,body,status", [
    ("/sentinel/alerts?state=sleeping", None, 400),
    ("/sentinel/alerts?colour=red", None, 400),
    ("/sentinel/alerts?since=yesterday", None, 400),
    ("/sentinel/alerts?since=2026-13-45", None, 400),  # the form of a date, not a day of the calendar
    ("/sentinel/alerts?until=2026-01-01T25:99", None, 400),
    ("/sentinel/alerts?limit=-1", None, 400),
    ("/sentinel/alerts/00000000-00000000-00000000-00000000-00000000/acknowledge", b"{}", 404),
])
def test_bad_alert_requests(orthanc, path, body, status):
    r = orthanc.post(path, body) if body is not None else orthanc.get(path)
    assert r.status_code == status, r.text


def test_malformed_json_body_is_a_400(orthanc, suspicious):
    r = orthanc.post(f"/sentinel/alerts/{suspicious['ID']}/acknowledge", b"{not json")
    assert r.status_code == 400 and "JSON" in r.json()["error"]
    r = orthanc.post(f"/sentinel/alerts/{suspicious['ID']}/acknowledge", b"[1, 2]")
    assert r.status_code == 400


def test_deeply_nested_json_body_is_a_400_and_orthanc_lives_on(orthanc, suspicious):
    """Python's C JSON decoder overflowed the small C stack of Orthanc's HTTP threads at about 600
    levels: Orthanc died (SIGSEGV) on a 1 KB body any client could send."""
    for path in (f"/sentinel/alerts/{suspicious['ID']}/acknowledge", "/sentinel/scan"):
        for body in (b"[" * 5000, b'{"comment": ' * 5000, b'{"comment": "x", "more": ' + b"[" * 5000):
            r = orthanc.post(path, body)
            assert r.status_code == 400 and "nests too deep" in r.json()["error"], r.text
    assert orthanc.get("/system").status_code == 200
    nested = orthanc.post(f"/sentinel/alerts/{suspicious['ID']}/acknowledge",
                          json.dumps({"comment": "[[[{{{ brackets in a comment are text"}))
    assert nested.status_code == 200 and nested.json()["history"][-1]["comment"].startswith("[[[{{{")


def test_statistics_count_by_verdict_rule_modality_origin_and_day(orthanc, suspicious):
    stats = orthanc.get("/sentinel/stats").json()
    assert stats["instances"] >= 1
    assert stats["by_verdict"]["suspicious"] >= 1
    assert stats["by_rule"]["instance.birth-after-study"] >= 1
    assert stats["by_modality"]["CT"] >= 1
    assert sum(stats["by_day"].values()) >= 1


def test_until_a_bare_date_includes_that_whole_day(orthanc, suspicious):
    """until=<today> excluded every alert checked today (it compared 2026-12-06T08:00:00Z > 2026-12-06)."""
    [checked] = [a["checked"] for a in orthanc.get("/sentinel/alerts?limit=10000").json()["alerts"]
                 if a["id"] == suspicious["ID"]]
    day = checked[:10]
    for until in (day, day.replace("-", "")):
        listed = orthanc.get(f"/sentinel/alerts?until={until}&limit=10000").json()["alerts"]
        assert suspicious["ID"] in [a["id"] for a in listed], until


def test_with_authentication_off_a_basic_users_name_is_recorded_as_claimed_not_as_who_acted(orthanc, suspicious):
    """Orthanc checks no credentials here (AuthenticationEnabled false): "by" said "mallory", as if verified."""
    r = orthanc.post(f"/sentinel/alerts/{suspicious['ID']}/acknowledge", json.dumps({"comment": "mine"}),
                     auth=("mallory", "any password"))
    assert r.status_code == 200, r.text
    entry = r.json()["history"][-1]
    assert entry["by"] == "anonymous" and entry["claimed_by"] == "mallory"
    r = orthanc.post(f"/sentinel/alerts/{suspicious['ID']}/reopen", b"{}")
    assert r.json()["history"][-1]["by"] == "anonymous" and "claimed_by" not in r.json()["history"][-1]
