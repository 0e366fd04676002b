"""Alerts: every instance or series whose own report is not "pass", with a state a person manages.

States: ``open`` (new), ``acknowledged`` (seen, being handled), ``dismissed`` (a false positive, with a
reason), ``resolved`` (handled). The state and its history (who, when, comment) live in the resource's
user metadata ``SentinelAlert``, so every peer sees the same. Labels follow the state: a dismissed or
resolved alert no longer shows as suspicious (its label becomes ``sentinel-dismissed``), a reopened one
does again, and its series and study labels are recomputed.
"""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from .index import Index, NotFound
from .quarantine import now_iso
from .reports import INITIAL_STATE, WRITE_ATTEMPTS, Reports

STATES = ("open", "acknowledged", "dismissed", "resolved")
ACTIONS = {"acknowledge": "acknowledged", "dismiss": "dismissed", "resolve": "resolved", "reopen": "open"}
LEVEL_OF_TYPE = {"Instance": "instances", "Series": "series"}


class AlertError(ValueError):
    """A request the alert state machine refuses (the message says why); ``status`` is the HTTP answer:
    400 for a bad request, 409 for a conflict with the current state."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class Alerts:
    def __init__(self, index: Index, reports: Reports, dismissed_label: str, history_entries: int = 50):
        """``history_entries``: the most history entries an alert keeps (``Sentinel.AlertHistoryEntries``),
        see :func:`bounded_history`."""
        self.index = index
        self.reports = reports
        self.dismissed_label = dismissed_label
        self.history_entries = history_entries

    def state(self, level: str, resource_id: str) -> dict[str, Any]:
        return json.loads(self.index.metadata(level, resource_id).get("SentinelAlert", INITIAL_STATE))

    def listing(self, filters: dict[str, str]) -> list[dict[str, Any]]:
        """Alerts, newest check first, filtered by state, severity (verdict), rule, modality, study (Orthanc
        id), since/until (the check's UTC time, as it is written without the Z: 2026-11-25, 2026-11-25T01:02
        or 2026-11-25T01:02:03; until includes the whole day, minute or second it names)."""
        labels = [self.reports.settings.warning_label, self.reports.settings.suspicious_label,
                  self.dismissed_label]
        out = []
        for kind, level in LEVEL_OF_TYPE.items():
            found = self.index.find({"Level": kind, "Query": {}, "Labels": labels, "LabelsConstraint": "Any"})
            for resource_id in found:
                try:
                    alert = self._alert(level, resource_id)
                except NotFound:
                    continue  # deleted since the find: a listing is not about one resource, no 404
                if alert is not None and _matches(alert, filters):
                    out.append(alert)
        out.sort(key=lambda a: (a["checked"] or "", a["id"]), reverse=True)
        return out

    def _alert(self, level: str, resource_id: str) -> dict[str, Any] | None:
        report = self.reports.stored_report(level, resource_id)
        if report is None or report["verdict"] == "pass":
            return None
        resource = self.index.resource(level, resource_id)
        study = resource["ParentStudy"] if level == "series" else self.index.get_json(
            f"/instances/{resource_id}/study")["ID"]
        modality = (resource.get("MainDicomTags", {}).get("Modality") if level == "series" else
                    self.index.get_json(f"/instances/{resource_id}/series")["MainDicomTags"].get("Modality"))
        return {**self._state_of(level, resource_id), "verdict": report["verdict"], "checked": report["checked"],
                "study": study, "modality": modality, "rules": sorted({f["rule"] for f in report["findings"]}),
                "findings": len(report["findings"])}

    def _state_of(self, level: str, resource_id: str) -> dict[str, Any]:
        """The alert's id, level, state and history, as stored."""
        state = self.state(level, resource_id)
        return {"id": resource_id, "level": level, "state": state["state"], "history": state["history"],
                "history_dropped": state.get("history_dropped", 0)}

    def change(self, resource_id: str, action: str, body: dict[str, Any], user: str | None,
               claimed_by: str | None = None) -> dict[str, Any]:
        """Apply ``acknowledge|dismiss|resolve|reopen`` with ``{"comment": ...}``; dismiss needs a reason.
        The history entry says ``by`` the user Orthanc authenticated (else ``anonymous``), and
        ``claimed_by`` a user name the request carried that nobody checked.

        Safe against a concurrent change from another peer: the state is written only if its revision
        is still the one read (Orthanc's ``If-Match``), else re-read and the change applied again to the
        newer state, so no history entry is ever lost; then labels are set from the state as stored."""
        level = self._level_of(resource_id)
        alert = self._alert(level, resource_id)
        if alert is None:
            raise KeyError(resource_id)
        comment = body.get("comment", "")
        if not isinstance(comment, str) or len(comment) > 4000:
            raise AlertError("comment must be a string of at most 4000 characters")
        if action == "dismiss" and not comment.strip():
            raise AlertError("dismiss needs a comment that says why this is a false positive")
        new_state = ACTIONS[action]
        self.reports.open_alert(level, resource_id)  # alerts stored before their state existed
        for _ in range(WRITE_ATTEMPTS):
            stored, etag = self.index.versioned_metadata(level, resource_id, "SentinelAlert")
            state = json.loads(stored or INITIAL_STATE)
            if state["state"] == new_state:
                raise AlertError(f"alert {resource_id} is {new_state} already", status=409)
            entry = {"from": state["state"], "state": new_state, "by": user or "anonymous", "at": now_iso(),
                     "comment": comment}
            if claimed_by:
                entry["claimed_by"] = claimed_by
            state["history"].append(entry)
            bounded_history(state, self.history_entries)
            state["state"] = new_state
            if self.index.replace_metadata(level, resource_id, "SentinelAlert", json.dumps(state), etag):
                break
        else:
            raise AlertError(f"alert {resource_id} keeps changing under concurrent updates; try again", status=409)
        self._relabel_as_stored(level, resource_id, alert["verdict"])
        # A revalidation may have passed the resource meanwhile: the change is stored all the same.
        return self._alert(level, resource_id) or {**self._state_of(level, resource_id), "verdict": "pass"}

    def _relabel_as_stored(self, level: str, resource_id: str, verdict: str) -> None:
        """Labels from the state as stored, again if another peer changed it meanwhile: whichever peer
        relabels last has read the last state, so labels and state agree once both are done."""
        for _ in range(WRITE_ATTEMPTS):
            stored, etag = self.index.versioned_metadata(level, resource_id, "SentinelAlert")
            self.reports.label_alert(level, resource_id, verdict, json.loads(stored or INITIAL_STATE)["state"])
            if self.index.versioned_metadata(level, resource_id, "SentinelAlert")[1] == etag:
                return

    def _level_of(self, resource_id: str) -> str:
        for level in ("instances", "series"):
            try:
                self.index.resource(level, resource_id)
                return level
            except KeyError:
                continue
        raise KeyError(resource_id)


def bounded_history(state: dict[str, Any], kept: int) -> None:
    """Keep at most ``kept`` (at least 2) entries of an alert's history: the first (who first acted on
    it) and the latest; ``history_dropped`` counts the entries dropped between them over time. The state
    is one metadata item, read and written whole on every change and listing: without a bound, a
    resource dismissed and reopened by a script would grow it without end."""
    history = state["history"]
    excess = len(history) - kept
    if excess > 0:
        state["history"] = history[:1] + history[1 + excess:]
        state["history_dropped"] = state.get("history_dropped", 0) + excess


def statistics(alerts: list[dict[str, Any]], quarantine: list[dict[str, Any]], instances_total: int,
               backlog: int) -> dict[str, Any]:
    """GET /sentinel/stats: counts by verdict, rule, modality, origin and day, from the alerts (every
    instance or series not "pass") and the quarantine (every object refused), so that its cost follows
    what was found, not the size of the archive. ``instances_total`` comes from Orthanc's statistics;
    "pass" counts the stored instances without an alert, those the worker has yet to analyse included
    (``backlog``: changes of the log it has not read yet)."""
    def count(values) -> dict[str, int]:
        return dict(sorted(Counter(v for v in values if v).items()))

    instance_alerts = [a for a in alerts if a["level"] == "instances"]
    by_verdict = Counter(a["verdict"] for a in instance_alerts)
    by_verdict["reject"] = len(quarantine)
    by_verdict["pass"] = max(0, instances_total - len(instance_alerts))
    return {
        "instances": instances_total, "backlog": backlog,
        "by_verdict": dict(sorted(by_verdict.items())),
        "by_state": count(a["state"] for a in alerts),
        "by_rule": count(rule for a in alerts for rule in a["rules"]) | {
            f"{rule} (rejected)": n for rule, n in count(e.get("rule") for e in quarantine).items()},
        "by_modality": count(a["modality"] for a in alerts) | count(e.get("modality") for e in quarantine),
        "by_origin": count(e.get("origin") for e in quarantine),
        "by_day": count((a["checked"] or "")[:10] for a in alerts) | count(e["received"][:10] for e in quarantine),
    }


def _matches(alert: dict[str, Any], filters: dict[str, str]) -> bool:
    if "state" in filters and alert["state"] != filters["state"]:
        return False
    if "severity" in filters and alert["verdict"] != filters["severity"]:
        return False
    if "rule" in filters and filters["rule"] not in alert["rules"]:
        return False
    if "modality" in filters and alert["modality"] != filters["modality"]:
        return False
    if "study" in filters and alert["study"] != filters["study"]:
        return False
    if "since" in filters and (alert["checked"] or "") < filters["since"]:
        return False
    # until names a last day, minute or second, all of it included: the check's time cut to that length.
    if "until" in filters and (alert["checked"] or "")[:len(filters["until"])] > filters["until"]:
        return False
    return True


# Query arguments of GET /sentinel/alerts and, where they are closed sets, their allowed values.
FILTERS = {"state": STATES, "severity": ("warning", "suspicious"), "rule": None, "modality": None,
           "study": None, "since": None, "until": None}
