"""Alerts on a fake index: what the listing does when the archive changes under it."""

from __future__ import annotations

import json

import pytest

from plugin.alerts import Alerts
from plugin.index import InstanceContents, NotFound
from plugin.reports import INITIAL_STATE
from plugin.rest import HttpError, Router, alert_routes
from test_plugin_reports import SERIES, MemoryIndex, reports_on
from validators.seal import IDENTITY_CHANGED as WARNING
from unit.fake_orthanc import FakeOrthanc

REPORT = json.dumps({"verdict": "suspicious", "pending": False, "checked": "2026-11-25T01:02:03Z", "version": "t",
                     "findings": [{"rule": "instance.birth-after-study", "severity": "error", "action": "label",
                                   "message": "born after the study"}]})


class DeletingIndex:
    """Two labelled instances, ``kept`` and ``gone``; ``gone`` is deleted between the find that lists
    it and the reads of its alert (another user deleting its study while a dashboard lists alerts)."""

    def find(self, query: dict) -> list[str]:
        return ["kept", "gone"] if query["Level"] == "Instance" else []

    def metadata(self, level: str, resource_id: str) -> dict[str, str]:
        if resource_id == "gone":
            raise NotFound(f"/instances/{resource_id}/metadata?expand")
        return {"SentinelReport": REPORT, "SentinelAlert": INITIAL_STATE}

    def resource(self, level: str, resource_id: str) -> dict:
        return {"ID": resource_id}

    def get_json(self, uri: str) -> dict:
        return {"ID": "study", "MainDicomTags": {"Modality": "CT"}}


def test_a_resource_deleted_while_alerts_are_listed_is_left_out_not_a_404():
    index = DeletingIndex()
    alerts = Alerts(index, reports_on(index), "sentinel-dismissed")
    listed = alerts.listing({})
    assert [a["id"] for a in listed] == ["kept"]
    assert listed[0]["state"] == "open" and listed[0]["modality"] == "CT"


@pytest.mark.parametrize("query,listed", [
    ("until=2026-11-25", True),  # a bare date is the whole of that day; it excluded the day
    ("until=20261125", True),  # the DICOM form of the same date (was a 400)
    ("until=2026-11-25T01:02", True), ("until=2026-11-25T01:02:03Z", True), ("until=2026-11-25T01:02:03", True),
    ("until=2026-11-25T01:01", False), ("until=2026-11-25T01:02:02Z", False), ("until=20261124", False),
    ("since=2026-11-25", True), ("since=20261125", True), ("since=2026-11-25T01:02:03Z", True),
    ("since=2026-11-25T01:02:04", False), ("since=20261126", False),
])
def test_since_and_until_include_the_whole_day_minute_or_second_they_name(query, listed):
    index = DeletingIndex()
    router = Router(FakeOrthanc())
    alert_routes(router, Alerts(index, reports_on(index), "sentinel-dismissed"), authentication=True)
    name, _, value = query.partition("=")
    answer = json.loads(router.resolve("GET", "/sentinel/alerts", {"get": {name: value}}).body)
    assert [a["id"] for a in answer["alerts"]] == (["kept"] if listed else [])


@pytest.mark.parametrize("value", ["2026-11-31", "20261131", "2026113", "٢٠٢٦١١٢٥", "2026-11-25T24:00", "today"])
def test_a_since_or_until_that_is_no_real_date_in_ascii_digits_is_a_400(value):
    index = DeletingIndex()
    router = Router(FakeOrthanc())
    alert_routes(router, Alerts(index, reports_on(index), "sentinel-dismissed"), authentication=True)
    for name in ("since", "until"):
        with pytest.raises(HttpError) as refused:
            router.resolve("GET", "/sentinel/alerts", {"get": {name: value}})
        assert refused.value.status == 400 and repr(value) in str(refused.value)


class VersionedIndex(MemoryIndex):
    """MemoryIndex with the conditional metadata writes of alert changes, and instance i1's parents."""

    def resource(self, level: str, resource_id: str) -> dict:
        return {"ID": resource_id} if level == "instances" else super().resource(level, resource_id)

    def versioned_metadata(self, level: str, resource_id: str, name: str) -> tuple[str | None, str | None]:
        value = self.metadata_of[resource_id].get(name)
        return value, None if value is None else str(hash(value))

    def replace_metadata(self, level: str, resource_id: str, name: str, value: str, etag: str) -> bool:
        self.metadata_of[resource_id][name] = value
        return True

    def series_contents(self, series_id: str) -> dict[str, InstanceContents]:
        return {i: InstanceContents(dict(self.metadata_of[i]), sorted(self.labels_of[i]), i) for i in SERIES[series_id]}

    def get_json(self, uri: str) -> dict:
        return {"ID": "st" if uri.endswith("/study") else "s", "ParentStudy": "st", "MainDicomTags": {"Modality": "CT"}}


def test_an_alerts_history_keeps_its_first_and_last_entries_and_counts_those_dropped():
    """A script acknowledging and reopening an alert grew its one metadata item without end."""
    index = VersionedIndex()
    reports = reports_on(index)
    reports.save_instance_report("i1", [WARNING.finding("one warning")])
    alerts = Alerts(index, reports, "sentinel-dismissed", history_entries=5)
    for round_ in range(30):
        alerts.change("i1", "acknowledge", {"comment": f"ack {round_}"}, "alice")
        alert = alerts.change("i1", "reopen", {"comment": f"reopen {round_}"}, "alice")
    comments = [h["comment"] for h in alert["history"]]
    assert comments == ["ack 0", "ack 28", "reopen 28", "ack 29", "reopen 29"]
    assert alert["history_dropped"] == 55 and alert["state"] == "open"
    stored = json.loads(index.metadata_of["i1"]["SentinelAlert"])
    assert len(stored["history"]) == 5 and stored["history_dropped"] == 55


def test_a_change_that_a_revalidation_to_pass_overtakes_answers_the_stored_state_not_null():
    """The resource is re-analysed clean while its alert is being acknowledged: the answer said null."""
    index = VersionedIndex()
    reports = reports_on(index)
    reports.save_instance_report("i1", [WARNING.finding("one warning")])
    alerts = Alerts(index, reports, "sentinel-dismissed")
    write = index.replace_metadata

    def revalidated_meanwhile(*args) -> bool:
        reports.save_instance_report("i1", [])
        return write(*args)

    index.replace_metadata = revalidated_meanwhile
    answer = alerts.change("i1", "acknowledge", {"comment": "seen"}, "alice")
    assert answer["verdict"] == "pass" and answer["state"] == "acknowledged"
    assert [h["comment"] for h in answer["history"]] == ["seen"]
