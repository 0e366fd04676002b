"""Reports of instances, series and studies, and the labels that show their verdict in Orthanc Explorer.

An instance's report is stored in its user metadata ``SentinelReport`` (compact JSON; one write, one
index transaction, per instance, which matters on the ingest-heavy index). A series or study report is derived
on request from its instances, so it is never stale and needs no locking between peers. An instance
without a report is *pending*: stored, not yet analysed by a worker.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from collections import Counter
from typing import Any, Iterable

import validators
from validators.findings import Finding, Severity, verdict_of, worst_verdict

from .config import Settings
from .index import Index
from .notify import Notifier
from .quarantine import now_iso

# Alert states (plugin.alerts) in which a resource no longer counts as warning or suspicious.
SILENCED = ("dismissed", "resolved")
# The state of an alert when it opens (metadata SentinelAlert). Always the same bytes, so that two peers
# opening one alert at once write the same value and neither undoes the other.
INITIAL_STATE = '{"state":"open","history":[]}'
# Tries of a conditional write (plugin.alerts), or of labels set again, before giving up: each failed one
# means another writer changed the alert state meanwhile.
WRITE_ATTEMPTS = 8


def stored_verdict(findings: Iterable[Finding]) -> str:
    """Verdict of an object that is in the archive: one released from quarantine still has
    reject findings, and is shown as ``suspicious`` (it is stored, so "reject" no longer applies)."""
    verdict = verdict_of(findings)
    return "suspicious" if verdict == "reject" else verdict


def stored_verdict_of(finding: dict[str, Any]) -> str:
    """The verdict that one finding (as JSON, in a stored report) gives on its own."""
    return stored_verdict([Finding.from_json(finding)])


def make_report(findings: list[Finding], verdict: str, limit: int) -> dict[str, Any]:
    """The JSON report of one object; keeps the ``limit`` worst findings and says how many there were."""
    ordered = sorted(findings, key=lambda f: (-f.severity, f.rule))
    report = {"verdict": verdict, "pending": False, "findings": [f.to_json() for f in ordered[:limit]],
              "checked": now_iso(), "version": validators.__version__}
    if len(ordered) > limit:
        report["findings_omitted"] = len(ordered) - limit
    return report


@dataclass
class IndexReads:
    """Answers of the index read a moment ago, to be used again within one update of reports and labels:
    metadata by resource id, instance ids by series id, labels of series and studies by id (as their
    resource, ``GET /series/{id}`` or ``/studies/{id}``, gives them)."""

    metadata: dict[str, dict[str, str]] = field(default_factory=dict)
    instances: dict[str, list[str]] = field(default_factory=dict)
    labels: dict[str, list[str]] = field(default_factory=dict)


class Reports:
    """Reads and writes reports and labels in the Orthanc index."""

    def __init__(self, index: Index, settings: Settings, notifier: Notifier):
        self.index = index
        self.settings = settings
        self.notifier = notifier
        # Process-local cache of labels already put on series and studies, to spare one REST call per
        # instance of a large series. Only a cache: the index holds the truth.
        self._labelled: set[tuple[str, str, str]] = set()
        # Findings stored by this process, by (rule, severity), for GET /sentinel/metrics.
        self.finding_counts: Counter[tuple[str, str]] = Counter()

    def label_for(self, verdict: str) -> str | None:
        if verdict in ("suspicious", "reject"):
            return self.settings.suspicious_label
        if verdict == "warning":
            return self.settings.warning_label
        return None

    def save_instance_report(self, instance_id: str, findings: list[Finding], seal: dict[str, Any] | None = None,
                             basis: dict[str, Any] | None = None, metadata: dict[str, str] | None = None,
                             labels: list[str] | None = None) -> dict[str, Any]:
        """Store the report of a stored instance (with its integrity seal, see validators.seal, and what
        it was computed from, see plugin.analysis) and update the labels of it, its series and its study.
        ``metadata``, ``labels``: the instance's metadata and labels as just read, if the caller has them."""
        if labels is None and metadata is not None and "SentinelReport" not in metadata:
            labels = []  # Sentinel labels an instance only once its report is written: before, it has none
        report, state = self._save("instances", instance_id, findings, seal, basis, metadata)
        silenced = state in SILENCED
        self.set_labels("instances", instance_id, "pass" if silenced else report["verdict"],
                        None if labels is None else set(labels))
        if not silenced:
            self._raise_parent_labels(instance_id, report["verdict"])
        self._follow_alert_state("instances", instance_id, report["verdict"], state)
        return report

    def save_series_report(self, series_id: str, findings: list[Finding], basis: dict[str, Any] | None = None,
                           resource: dict[str, Any] | None = None, reads: IndexReads | None = None) -> dict[str, Any]:
        """Store the series' own findings (geometry, timing, continuity...) and recompute the labels of
        the series and its study from everything under them. ``resource``: the series
        (``GET /series/{id}``) if just read; ``reads``: see :meth:`aggregate`."""
        reads = reads or IndexReads()  # what the series' aggregate reads serves the study's too
        if series_id not in reads.metadata:
            reads.metadata[series_id] = self.index.metadata("series", series_id)
        report, state = self._save("series", series_id, findings, basis=basis, metadata=reads.metadata[series_id])
        resource = resource or self.index.resource("series", series_id)
        self.refresh_labels("series", series_id, reads)
        self.refresh_labels("studies", resource["ParentStudy"], reads)
        self._follow_alert_state("series", series_id, report["verdict"], state)
        return report

    def _save(self, level: str, resource_id: str, findings: list[Finding], seal: dict[str, Any] | None = None,
              basis: dict[str, Any] | None = None,
              metadata: dict[str, str] | None = None) -> tuple[dict[str, Any], str | None]:
        """Write the report; (the report, the state of its alert as read, None if it had none: a dismissed
        or resolved one keeps a re-analysis off the warning labels). ``metadata``: the resource's metadata
        as just read (read here if None); what is written is recorded in it, so that it stays what the
        index holds."""
        verdict = stored_verdict(findings)
        report = make_report(findings, verdict, self.settings.max_findings_per_report)
        self.finding_counts.update((f.rule, f.severity.label) for f in findings)
        if seal is not None:
            report["seal"] = seal
        if basis is not None:
            report["basis"] = basis
        if metadata is None:
            metadata = self.index.metadata(level, resource_id)
        alert = metadata.get("SentinelAlert")
        if verdict != "pass" and alert is None:
            self._open(level, resource_id)
            metadata["SentinelAlert"] = INITIAL_STATE
            self.notifier.alert(level, resource_id, verdict, sorted({f.rule for f in findings}),
                                report["findings"][0]["message"])
        metadata["SentinelReport"] = json.dumps(report, separators=(",", ":"))
        self.index.set_metadata(level, resource_id, "SentinelReport", metadata["SentinelReport"])
        return report, None if alert is None else json.loads(alert)["state"]

    def _follow_alert_state(self, level: str, resource_id: str, verdict: str, state_used: str | None) -> None:
        """Labels just set from alert state ``state_used``, read before the report was written, are set
        again from the state now stored if a person changed it meanwhile (plugin.alerts relabels after its
        change, but may have done so before these labels were written). Each writer re-reads the state
        after its label writes, so labels and state agree once both are done. Only for an alert that
        existed before this analysis (a revalidation, a re-scan): one more metadata read per such
        resource, none on a first analysis."""
        if state_used is None or verdict == "pass":
            return
        for _ in range(WRITE_ATTEMPTS):
            stored = json.loads(self.index.metadata(level, resource_id).get("SentinelAlert", INITIAL_STATE))["state"]
            if stored == state_used:
                return
            self.label_alert(level, resource_id, verdict, stored)
            state_used = stored

    def label_alert(self, level: str, resource_id: str, verdict: str, state: str) -> None:
        """Labels of an alerted instance or series from its alert state: a dismissed or resolved one shows
        as ``pass`` with the dismissed label; then its series' and study's labels are recomputed."""
        if state in SILENCED:
            self.set_labels(level, resource_id, "pass")
            self.index.add_label(level, resource_id, self.settings.dismissed_label)
        else:
            self.index.remove_label(level, resource_id, self.settings.dismissed_label)
            self.set_labels(level, resource_id, verdict)
        series_id = resource_id if level == "series" else self.index.get_json(
            f"/instances/{resource_id}/series")["ID"]
        self.refresh_labels("series", series_id)
        self.refresh_labels("studies", self.index.resource("series", series_id)["ParentStudy"])

    def open_alert(self, level: str, resource_id: str) -> None:
        """Give the resource its alert state (``open``) unless it has one.

        Done before the report that shows the alert is written, so that a person can only act on an
        alert whose state exists, and every change of it is a conditional write (plugin.alerts)."""
        if "SentinelAlert" not in self.index.metadata(level, resource_id):
            self._open(level, resource_id)

    def _open(self, level: str, resource_id: str) -> None:
        self.index.set_metadata(level, resource_id, "SentinelAlert", INITIAL_STATE)

    def set_labels(self, level: str, resource_id: str, verdict: str, current: set[str] | None = None) -> None:
        """Make Sentinel's labels on the resource match the verdict; writes only what differs from its
        ``current`` labels (read from the index if None)."""
        wanted = self.label_for(verdict)
        if current is None:
            current = set(self.index.labels(level, resource_id))
        for label in (self.settings.warning_label, self.settings.suspicious_label):
            if label == wanted and label not in current:
                self.index.add_label(level, resource_id, label)
            elif label != wanted and label in current:
                self.index.remove_label(level, resource_id, label)

    def _raise_parent_labels(self, instance_id: str, verdict: str) -> None:
        """Series and study labels only go up as instances arrive; :meth:`refresh_labels` recomputes."""
        label = self.label_for(verdict)
        if label is None:
            return
        series = self.index.get_json(f"/instances/{instance_id}/series")
        for level, resource_id in (("series", series["ID"]), ("studies", series["ParentStudy"])):
            if (level, resource_id, label) in self._labelled:
                continue
            current = set(self.index.labels(level, resource_id))
            if self.settings.suspicious_label in current:
                continue  # already at the worst label
            if label == self.settings.suspicious_label:
                self.index.remove_label(level, resource_id, self.settings.warning_label)
            self.index.add_label(level, resource_id, label)
            self._labelled.add((level, resource_id, label))

    def refresh_labels(self, level: str, resource_id: str, reads: IndexReads | None = None) -> str:
        """Recompute the label of a series or study from its own and its instances' reports; returns
        the verdict. Unlike the incremental raise at instance level, this can lower a label.
        ``reads``: see :meth:`aggregate`."""
        reads = reads or IndexReads()
        verdict = self.aggregate(level, resource_id, reads)["verdict"]
        labels = reads.labels.get(resource_id)
        self.set_labels(level, resource_id, verdict, None if labels is None else set(labels))
        self._labelled = {k for k in self._labelled if k[1] != resource_id}
        return verdict

    def report(self, level: str, resource_id: str) -> dict[str, Any]:
        """The report of an instance, series or study (GET /sentinel/{level}/{id})."""
        if level == "instances":
            return self.instance_report(resource_id)
        return self.aggregate(level, resource_id)

    def stored_report(self, level: str, resource_id: str) -> dict[str, Any] | None:
        """The last report stored on an instance (or a series' own one), None before its first analysis."""
        return self._stored(level, resource_id)

    def _stored(self, level: str, resource_id: str) -> dict[str, Any] | None:
        stored = self.index.metadata(level, resource_id).get("SentinelReport")
        return json.loads(stored) if stored else None

    def instance_report(self, instance_id: str) -> dict[str, Any]:
        """The stored report, or a pending one if no worker has analysed the instance yet."""
        self.index.resource("instances", instance_id)
        return self._stored("instances", instance_id) or {
            "verdict": "pass", "pending": True, "findings": [], "checked": None, "version": validators.__version__}

    def aggregate(self, level: str, resource_id: str, reads: IndexReads | None = None) -> dict[str, Any]:
        """The report of a series or study: the worst verdict of its series' own reports and of its
        instances' reports; their findings (each with its ``series`` or ``instance`` id, worst first,
        capped); counts of instance verdicts. Pending while an instance has no report yet or a series
        has not been analysed as a whole (that happens once it is stable). ``reads``: what was read from
        the index a moment ago, used and added to."""
        reads = reads or IndexReads()
        metadata = reads.metadata
        if level == "series":
            series_ids = [resource_id]
        else:
            resource = self.index.resource(level, resource_id)
            series_ids = resource["Series"]
            if "Labels" in resource:
                reads.labels[resource_id] = resource["Labels"]
        verdicts: Counter[str] = Counter()
        findings: list[dict[str, Any]] = []
        checked: list[str] = []
        series_pending = False
        silenced: set[str] = set()
        for series_id in series_ids:
            if series_id not in reads.instances:
                contents = self.index.series_contents(series_id)
                if not contents:  # Orthanc keeps no series without instances: an unknown id
                    self.index.resource("series", series_id)  # raises NotFound
                reads.instances[series_id] = list(contents)
                reads.metadata.update((i, found.metadata) for i, found in contents.items())
            parts = [("series", series_id)] + [("instance", i) for i in reads.instances[series_id]]
            for kind, part_id in parts:
                if part_id not in metadata:
                    metadata[part_id] = self.index.metadata("series" if kind == "series" else "instances", part_id)
                meta = metadata[part_id]
                report = json.loads(meta["SentinelReport"]) if "SentinelReport" in meta else None
                if kind == "instance":
                    verdicts[report["verdict"] if report else "pending"] += 1
                else:
                    series_pending |= report is None
                if json.loads(meta.get("SentinelAlert", INITIAL_STATE))["state"] in SILENCED:
                    silenced.add(part_id)
                if report:
                    findings.extend(dict(f, **{kind: part_id}) for f in report["findings"])
                    checked.append(report["checked"])
        # A dismissed or resolved alert keeps its findings in the report but no longer weighs on the verdict.
        verdict = worst_verdict(stored_verdict_of(f) for f in findings
                                if f.get("instance", f.get("series")) not in silenced)
        limit = self.settings.max_findings_per_report
        findings.sort(key=lambda f: (-Severity.parse(f["severity"]), f["rule"], f.get("series", ""),
                                     f.get("instance", "")))
        report = {"verdict": verdict, "pending": series_pending or verdicts["pending"] > 0,
                  "findings": findings[:limit], "checked": max(checked, default=None),
                  "version": validators.__version__, "instances": {"total": sum(verdicts.values()), **verdicts}}
        if len(findings) > limit:
            report["findings_omitted"] = len(findings) - limit
        return report
