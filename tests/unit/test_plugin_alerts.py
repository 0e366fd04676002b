"""Alerts on a fake index: what the listing does when the archive changes under it."""

from __future__ import annotations

import json

from plugin.alerts import Alerts
from plugin.index import NotFound
from plugin.reports import INITIAL_STATE
from test_plugin_reports import reports_on

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
