"""Reports and labels on an index held in memory: what the archive scan's series pass hands over (its
instances' metadata as read, with the reports written since) is used instead of reading them again."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

from plugin.config import parse_settings
from plugin.index import InstanceContents
from plugin.notify import Notifier
from plugin.reports import IndexReads, Reports
from validators.seal import IDENTITY_CHANGED as WARNING
from validators.seal import PIXELS_CHANGED as ERROR
SERIES = {"s": ["i1", "i2"]}


class MemoryIndex:
    """Metadata and labels of one study ``st`` holding series ``s``; counts every read by (kind, id)."""

    def __init__(self):
        self.metadata_of: dict[str, dict[str, str]] = {"s": {}, "i1": {}, "i2": {}}
        self.labels_of: dict[str, set[str]] = {"s": set(), "st": set(), "i1": set(), "i2": set()}
        self.reads: Counter[tuple[str, str]] = Counter()

    def metadata(self, level: str, resource_id: str) -> dict[str, str]:
        self.reads["metadata", resource_id] += 1
        return dict(self.metadata_of[resource_id])

    def set_metadata(self, level: str, resource_id: str, name: str, value: str) -> None:
        self.metadata_of[resource_id][name] = value

    def series_contents(self, series_id: str) -> dict:
        self.reads["contents", series_id] += 1
        raise AssertionError("the series pass handed its instances' metadata over")

    def resource(self, level: str, resource_id: str) -> dict:
        self.reads["resource", resource_id] += 1
        own = {"series": {"ID": "s", "ParentStudy": "st", "Instances": SERIES["s"]},
               "studies": {"ID": "st", "Series": ["s"]}}[level]
        return {**own, "Labels": sorted(self.labels_of[own["ID"]])}

    def labels(self, level: str, resource_id: str) -> list[str]:
        self.reads["labels", resource_id] += 1
        return sorted(self.labels_of[resource_id])

    def add_label(self, level: str, resource_id: str, label: str) -> None:
        self.labels_of[resource_id].add(label)

    def remove_label(self, level: str, resource_id: str, label: str) -> None:
        self.labels_of[resource_id].discard(label)

    def get_json(self, uri: str) -> dict:
        assert uri.endswith("/series")
        return {"ID": "s", "ParentStudy": "st"}


def reports_on(index: MemoryIndex) -> Reports:
    settings = parse_settings(json.loads((Path(__file__).parents[2] / "orthanc.json").read_text()))
    return Reports(index, settings, Notifier(settings.webhook, "peer", print))


def test_a_saved_report_is_recorded_in_the_metadata_handed_in_and_the_series_labels_follow_without_rereading():
    index = MemoryIndex()
    reports = reports_on(index)
    as_read = {i: index.metadata("instances", i) for i in SERIES["s"]}  # what the pass read at its start
    reports.save_instance_report("i1", [WARNING.finding("one warning")], metadata=as_read["i1"], labels=[])
    reports.save_instance_report("i2", [], metadata=as_read["i2"], labels=[])
    assert as_read == {i: index.metadata_of[i] for i in SERIES["s"]}  # what was written, alert state too
    assert json.loads(as_read["i1"]["SentinelAlert"])["state"] == "open"
    index.reads.clear()

    reports.save_series_report("s", [], resource=index.resource("series", "s"),
                               reads=IndexReads(metadata=as_read, instances=dict(SERIES)))

    settings = reports.settings
    assert index.labels_of["s"] == index.labels_of["st"] == {settings.warning_label}
    assert json.loads(index.metadata_of["s"]["SentinelReport"])["verdict"] == "pass"
    assert not any(resource_id in ("i1", "i2") for _, resource_id in index.reads), index.reads


def test_the_labels_of_the_series_and_its_study_come_with_their_resources():
    """The series pass hands over the series' labels as its resource gave them, and the study's come
    with the study's resource, which the study's report reads anyway: no labels read apart."""
    index = MemoryIndex()
    reports = reports_on(index)
    as_read = {i: index.metadata("instances", i) for i in SERIES["s"]}
    for instance_id in SERIES["s"]:
        reports.save_instance_report(instance_id, [], metadata=as_read[instance_id], labels=[])
    stale = reports.settings.suspicious_label  # from an earlier verdict: it must go
    index.labels_of["s"], index.labels_of["st"] = {stale, "a person's label"}, {stale}
    series = index.resource("series", "s")
    index.reads.clear()

    reports.save_series_report("s", [], resource=series, reads=IndexReads(
        metadata=as_read, instances=dict(SERIES), labels={"s": series["Labels"]}))

    assert index.labels_of["s"] == {"a person's label"} and index.labels_of["st"] == set()
    assert not [key for key in index.reads if key[0] == "labels"], index.reads


class DismissingIndex(MemoryIndex):
    """A person dismisses i1's alert (and relabels, as plugin.alerts does) while a re-analysis writes its
    report, after the analysis read the state ``open``; every series' contents can be read."""

    def __init__(self):
        super().__init__()
        self.reports: Reports | None = None

    def series_contents(self, series_id: str) -> dict:
        return {i: InstanceContents(dict(self.metadata_of[i]), sorted(self.labels_of[i]), "")
                for i in SERIES[series_id]}

    def set_metadata(self, level: str, resource_id: str, name: str, value: str) -> None:
        super().set_metadata(level, resource_id, name, value)
        if name == "SentinelReport" and self.reports is not None:
            reports, self.reports = self.reports, None
            self.metadata_of[resource_id]["SentinelAlert"] = json.dumps({"state": "dismissed", "history": []})
            reports.label_alert(level, resource_id, "suspicious", "dismissed")


def test_an_alert_dismissed_while_its_resource_is_reanalysed_keeps_the_labels_of_its_state():
    index = DismissingIndex()
    reports = reports_on(index)
    suspicious = [ERROR.finding("pixels differ from the seal")]
    reports.save_instance_report("i1", suspicious, metadata=index.metadata("instances", "i1"), labels=[])
    settings = reports.settings
    assert index.labels_of["i1"] == index.labels_of["st"] == {settings.suspicious_label}

    index.reports = reports  # the dismissal lands during the re-analysis' report write
    reports.save_instance_report("i1", suspicious, metadata=index.metadata("instances", "i1"))

    assert index.labels_of["i1"] == {settings.dismissed_label}
    assert settings.suspicious_label not in index.labels_of["s"] | index.labels_of["st"]
