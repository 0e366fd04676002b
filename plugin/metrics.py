"""GET /sentinel/metrics: this peer's counters in the Prometheus text format (version 0.0.4).

Counters are per process, as Prometheus expects of each scraped peer; sum them across peers there.
"""

from __future__ import annotations

from typing import Any, Iterable


def _line(name: str, value: float, labels: dict[str, str] | None = None) -> str:
    if labels:
        inner = ",".join(f'{k}="{_escape(v)}"' for k, v in sorted(labels.items()))
        return f"{name}{{{inner}}} {value}"
    return f"{name} {value}"


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _family(name: str, kind: str, help_text: str, samples: Iterable[str]) -> list[str]:
    return [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}", *samples]


def render_metrics(gate: Any, worker: Any, reports: Any, quarantine_entries: int) -> str:
    """The metrics text: ingest counts and check latency, findings by rule and severity, worker
    progress and backlog (queue depth), quarantine size."""
    latency = sorted(gate.latency.samples)
    quantiles = []
    for q in (0.5, 0.95, 0.99):
        if latency:
            quantiles.append(_line("sentinel_ingest_check_seconds",
                                   latency[min(len(latency) - 1, int(q * len(latency)))] / 1000.0,
                                   {"quantile": str(q)}))
    lines = [
        *_family("sentinel_ingest_objects_total", "counter", "Objects checked on the ingest path, by outcome.",
                 [_line("sentinel_ingest_objects_total", gate.counts[k], {"outcome": k})
                  for k in ("checked", "rejected", "errors")]),
        *_family("sentinel_ingest_check_seconds", "summary",
                 "Time Sentinel adds on the ingest path per object (last 4096 objects).",
                 [*quantiles, _line("sentinel_ingest_check_seconds_sum", sum(latency) / 1000.0),
                  _line("sentinel_ingest_check_seconds_count", len(latency))]),
        *_family("sentinel_findings_total", "counter", "Findings stored in reports, by rule and severity.",
                 [_line("sentinel_findings_total", n, {"rule": rule, "severity": severity})
                  for (rule, severity), n in sorted(reports.finding_counts.items())]),
        *_family("sentinel_analyses_total", "counter", "Background analyses run, by outcome.",
                 [_line("sentinel_analyses_total", worker.analysed, {"outcome": "done"}),
                  _line("sentinel_analyses_total", worker.failures, {"outcome": "failed"})]),
        *_family("sentinel_worker_backlog", "gauge", "Changes of Orthanc's log not yet read by the worker.",
                 [_line("sentinel_worker_backlog", worker.backlog())]),
        *_family("sentinel_quarantine_entries", "gauge", "Objects in quarantine.",
                 [_line("sentinel_quarantine_entries", quarantine_entries)]),
    ]
    return "\n".join(lines) + "\n"
