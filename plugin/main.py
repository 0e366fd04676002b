"""Wiring: parse the configuration, warm the kernels, register one callback of each kind with Orthanc.

The ``orthanc`` module is a parameter so that a fake can stand in for it in unit tests.
"""

from __future__ import annotations

import gc
import json
import os
import sys
from typing import Any

from .config import authentication_enabled, numba_cache_directory, parse_settings


def prepare_numba(directory: str) -> None:
    """Point numba's on-disk cache at a writable folder; must run before numba is first imported."""
    os.makedirs(directory, exist_ok=True)
    os.environ["NUMBA_CACHE_DIR"] = directory


def start(orthanc: Any) -> dict[str, Any]:
    """Register Sentinel with Orthanc; returns the parts (for tests). Raises ConfigError on a bad
    configuration, which stops Orthanc with the message in its log."""
    config = json.loads(orthanc.GetConfiguration())
    prepare_numba(numba_cache_directory(config))
    # Imported only now: these modules import numba, which reads NUMBA_CACHE_DIR at import; importing
    # them also completes the rule catalogue that the "Rules" setting is checked against.
    from validators.checks import check_file
    from validators.warmup import quiet_pydicom, warm_up

    from .alerts import Alerts, statistics
    from .analysis import Analyses

    settings = parse_settings(config)

    from .index import Index, find_limits_of
    from .ingest import IngestGate
    from .loopback import Loopback
    from .metrics import Histogram, render_metrics, timed
    from .notify import Notifier
    from .pacing import IngestPacer
    from .scan import Scanner, ScanStore
    from .scanpool import scan_pool_factory, scan_processes
    from .quarantine import Quarantine
    from .reports import Reports
    from .rest import (Response, Router, alert_routes, json_response, quarantine_routes, report_routes, revalidate_route,
                       rules_route, scan_routes, ui_routes, validate_route)
    from .worker import Worker

    warm_up()
    # Orthanc's ingest callbacks wait for the GIL whenever the worker holds it; with CPython's default
    # 5 ms switch interval that wait can exceed the whole ingest check. 0.5 ms bounds it (bench/ingest.py).
    sys.setswitchinterval(0.0005)
    quiet_pydicom()
    quarantine = Quarantine(settings.quarantine_directory)
    index = Index(orthanc, Loopback(orthanc, config), find_limits_of(config))
    notifier = Notifier(settings.webhook, str(config.get("Name", "")), orthanc.LogError)
    reports = Reports(index, settings, notifier)
    gate = IngestGate(orthanc, settings, quarantine, notifier)

    analyses = Analyses(index, reports, settings.policy, settings.limits)
    pacer = IngestPacer(settings.worker_share_under_load, lambda: gate.last_received)
    analysis_seconds = {kind: Histogram() for kind in analyses.handlers()}
    handlers = {kind: timed(handler, analysis_seconds[kind]) for kind, handler in analyses.handlers().items()}
    worker = Worker(orthanc, index, handlers, settings.worker_poll_seconds, pacer,
                    settings.series_sweep_seconds, lambda series_id: reports.stored_report("series", series_id) is None)

    router = Router(orthanc)
    report_routes(router, reports)
    revalidate_route(router, index, analyses)
    alerts = Alerts(index, reports, settings.dismissed_label, settings.alert_history_entries)
    alert_routes(router, alerts, authentication_enabled(config))
    router.add("GET", r"/sentinel/stats", lambda request: json_response(statistics(
        alerts.listing({}), quarantine.entries(), index.get_json("/statistics")["CountInstances"],
        worker.backlog())))
    # A peer's name that survives its restarts and differs between peers of a cluster (which must set
    # distinct DatabaseServerIdentifier values): the owner of an archive scan.
    peer = str(config.get("DatabaseServerIdentifier") or config.get("Name") or "orthanc")
    scanner = Scanner(orthanc, index, analyses.series_pass, pacer, ScanStore(settings.quarantine_directory), peer,
                      scan_processes(settings), scan_pool_factory(orthanc, settings))
    scan_routes(router, scanner)
    validate_route(router, lambda data: check_file(data, settings.policy), settings.max_object_bytes)
    rules_route(router, settings.policy)
    ui_routes(router)
    quarantine_routes(router, quarantine, gate, index)
    router.add("GET", r"/sentinel/status", lambda request: json_response({
        "enabled": settings.enabled, "ingest": {**gate.counts, "latency": gate.latency.summary()},
        "worker": {"analysed": worker.analysed, "failures": worker.failures, "backlog": worker.backlog()},
        "webhook": {"enabled": notifier.enabled, "queued": notifier.queued(), **notifier.counts}}))
    router.add("GET", r"/sentinel/metrics", lambda request: Response(
        200, render_metrics(gate, worker, reports, len(quarantine.entries()), analysis_seconds,
                            scanner.summary(scanner.state()), notifier).encode(),
        "text/plain; version=0.0.4; charset=utf-8"))
    orthanc.RegisterRestCallback("/sentinel/(.*)", router)
    with open(os.path.join(os.path.dirname(__file__), "ui", "explorer.js"), encoding="utf-8") as f:
        orthanc.ExtendOrthancExplorer(f.read())  # a link to the dashboard in Orthanc Explorer

    if settings.enabled:
        orthanc.RegisterIncomingHttpRequestFilter(gate.on_http_request)
        orthanc.RegisterReceivedInstanceCallback(gate.on_received)
        orthanc.RegisterIncomingCStoreInstanceFilter(gate.on_cstore)

    def on_change(change_type: Any, level: Any, resource_id: str) -> None:
        # Change callbacks run on Orthanc's own queue, not on the ingest path: the cheap way to wake the
        # worker. The index may not be used during plugin initialisation: the worker starts with Orthanc.
        if change_type == orthanc.ChangeType.NEW_INSTANCE and settings.enabled:
            worker.wake()
        elif change_type == orthanc.ChangeType.ORTHANC_STARTED and settings.enabled:
            notifier.start()
            worker.start()
            scanner.watch()
        elif change_type == orthanc.ChangeType.ORTHANC_STOPPED and settings.enabled:
            scanner.stop()
            worker.stop()
            notifier.stop()
    orthanc.RegisterOnChangeCallback(on_change)
    # Start-up leaves a few hundred thousand long-lived objects (tables, compiled kernels, catalogue):
    # collect once now and exempt them from later collections, whose full passes would otherwise
    # scan them all, tens of milliseconds at a time, on the ingest path.
    gc.collect()
    gc.freeze()
    orthanc.LogWarning(f"Sentinel started: quarantine in {settings.quarantine_directory}, "
                       f"{'enabled' if settings.enabled else 'DISABLED (Sentinel.Enabled is false)'}")
    return {"settings": settings, "gate": gate, "worker": worker, "router": router, "reports": reports}
