"""GET /sentinel/metrics: this peer's counters in the Prometheus text format (version 0.0.4).

Counters are per process, as Prometheus expects of each scraped peer; sum them across peers there.
"""

from __future__ import annotations

import threading
import time
from typing import Any, Callable, Iterable

# Upper bounds of the histogram buckets, s: from the ingest path's fraction of a millisecond to a large
# series' analysis of tens of seconds.
BUCKETS_S = (0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5,
             5.0, 10.0, 30.0, 60.0)


class Histogram:
    """A Prometheus histogram of durations (s) since the process started: cumulative bucket counts."""

    def __init__(self) -> None:
        self.counts = [0] * (len(BUCKETS_S) + 1)  # the last one is +Inf
        self.total_s = 0.0
        self._lock = threading.Lock()  # Orthanc calls the ingest path from many threads

    def observe(self, seconds: float) -> None:
        slot = next((i for i, bound in enumerate(BUCKETS_S) if seconds <= bound), len(BUCKETS_S))
        with self._lock:
            self.counts[slot] += 1
            self.total_s += seconds

    def samples(self, name: str, labels: dict[str, str] | None = None) -> list[str]:
        """The ``_bucket``, ``_sum`` and ``_count`` lines of one labelled series."""
        labels = labels or {}
        with self._lock:
            counts, total = list(self.counts), self.total_s
        lines, running = [], 0
        for bound, n in zip((*map(str, BUCKETS_S), "+Inf"), counts):
            running += n
            lines.append(_line(f"{name}_bucket", running, {**labels, "le": bound}))
        return [*lines, _line(f"{name}_sum", round(total, 6), labels), _line(f"{name}_count", running, labels)]


def timed(handler: Callable[[Any], None], histogram: Histogram) -> Callable[[Any], None]:
    """``handler`` that records its duration in ``histogram``, failures included."""
    def run(argument: Any) -> None:
        start = time.perf_counter()
        try:
            handler(argument)
        finally:
            histogram.observe(time.perf_counter() - start)
    return run


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render_metrics(gate: Any, worker: Any, reports: Any, quarantine_entries: int,
                   analysis_seconds: dict[str, Histogram], scan: dict[str, Any], webhook: Any) -> str:
    """The metrics text: ingest counts and check latency, findings by rule and severity, worker
    progress, latency and backlog (queue depth), scan progress, webhook deliveries, quarantine size."""
    lines = [
        *_family("sentinel_ingest_objects_total", "counter", "Objects checked on the ingest path, by outcome.",
                 [_line("sentinel_ingest_objects_total", gate.counts[k], {"outcome": k})
                  for k in ("checked", "rejected", "errors")]),
        *_family("sentinel_ingest_check_seconds", "histogram",
                 "Time Sentinel adds on the ingest path per object.",
                 gate.latency.histogram.samples("sentinel_ingest_check_seconds")),
        *_family("sentinel_analysis_seconds", "histogram",
                 "Background analysis time per change of Orthanc's log, by change type.",
                 [line for kind, histogram in sorted(analysis_seconds.items())
                  for line in histogram.samples("sentinel_analysis_seconds", {"change": kind})]),
        *_family("sentinel_findings_total", "counter", "Findings stored in reports, by rule and severity.",
                 [_line("sentinel_findings_total", n, {"rule": rule, "severity": severity})
                  for (rule, severity), n in sorted(reports.finding_counts.items())]),
        *_family("sentinel_analyses_total", "counter", "Background analyses run, by outcome.",
                 [_line("sentinel_analyses_total", worker.analysed, {"outcome": "done"}),
                  _line("sentinel_analyses_total", worker.failures, {"outcome": "failed"})]),
        *_family("sentinel_worker_backlog", "gauge", "Changes of Orthanc's log not yet read by the worker.",
                 [_line("sentinel_worker_backlog", worker.backlog())]),
        *_family("sentinel_scan_running", "gauge", "1 while an archive scan runs on this peer.",
                 [_line("sentinel_scan_running", int(scan.get("state") == "running"))]),
        *_family("sentinel_scan_series", "gauge",
                 "Series of the current or last archive scan: done, total, failed (after a second try) and "
                 "deleted while it ran.",
                 [_line("sentinel_scan_series", scan.get(f"series_{part}", 0), {"part": part})
                  for part in ("done", "total", "failed", "deleted")]),
        *_family("sentinel_scan_instances_done", "gauge", "Instances analysed by the current or last scan.",
                 [_line("sentinel_scan_instances_done", scan.get("instances_done", 0))]),
        *_family("sentinel_webhook_notifications_total", "counter", "Webhook notifications, by outcome.",
                 [_line("sentinel_webhook_notifications_total", n, {"outcome": outcome})
                  for outcome, n in sorted(webhook.counts.items())]),
        *_family("sentinel_webhook_queue", "gauge", "Webhook notifications waiting to be sent.",
                 [_line("sentinel_webhook_queue", webhook.queued())]),
        *_family("sentinel_quarantine_entries", "gauge", "Objects in quarantine.",
                 [_line("sentinel_quarantine_entries", quarantine_entries)]),
    ]
    return "\n".join(lines) + "\n"
