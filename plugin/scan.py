"""The archive scan: every check run again on what is already stored (all of it, studies of a date
range, or given studies), series by series, with progress, cancel, and resume after a restart.

It re-analyses each instance (so the integrity seals taken at first analysis are verified), then each
series as a whole. Its state (scope, the list of series to do, how far it got) is a global property of
the index, written after every series: an Orthanc restarted mid-scan resumes where it stopped. It yields
to ingest as the worker does (:mod:`plugin.pacing`, ``WorkerShareUnderLoad``).
"""

from __future__ import annotations

import json
import re
import threading
import time
from typing import Any, Callable

from .index import Index, NotFound
from .pacing import IngestPacer
from .quarantine import now_iso

SCAN_STATE = 4802  # global property (user range) holding the scan's state as JSON
DATE = re.compile(r"^\d{8}$")


class ScanError(ValueError):
    """A scan request that cannot be honoured (bad scope, one already running)."""


class Scanner:
    def __init__(self, orthanc: Any, index: Index, analyse_instance: Callable[[str], None],
                 analyse_series: Callable[[str], None], pacer: IngestPacer):
        self.orthanc = orthanc
        self.index = index
        self.analyse_instance = analyse_instance
        self.analyse_series = analyse_series
        self.pacer = pacer
        self._cancel = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        """Progress: state (idle, running, cancelled, done), done/total series and instances, rate
        (instances/s) and the estimated end (ISO time)."""
        raw = self.orthanc.GetGlobalProperty(SCAN_STATE, "")
        return json.loads(raw) if raw else {"state": "idle"}

    def _save(self, state: dict[str, Any]) -> None:
        self.orthanc.SetGlobalProperty(SCAN_STATE, json.dumps(state))

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a scan of ``{}`` (everything), ``{"since": "YYYYMMDD"}`` (studies from that StudyDate
        (0008,0020) on) or ``{"studies": [Orthanc ids]}``."""
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                raise ScanError("a scan is running already; cancel it first")
            series = self._series_in_scope(body)
            state = {"state": "running", "scope": body, "series": series, "position": 0,
                     "instances_done": 0, "started": now_iso(), "elapsed_s": 0.0}
            self._save(state)
            self._run_in_background()
            return self.summary(state)

    def resume(self) -> None:
        """At start-up: go on with a scan that was running when Orthanc stopped."""
        if self.state().get("state") == "running":
            with self._lock:
                self._run_in_background()

    def cancel_for_shutdown(self) -> None:
        """Orthanc stops: stop the thread but leave the state "running", so that the next start resumes."""
        self._cancel.set()
        if self._thread is not None:
            self._thread.join(timeout=60)

    def cancel(self) -> dict[str, Any]:
        self.cancel_for_shutdown()
        state = self.state()
        if state.get("state") == "running":
            state["state"] = "cancelled"
            self._save(state)
        return self.summary(state)

    @staticmethod
    def summary(state: dict[str, Any]) -> dict[str, Any]:
        """The state without its list of series, with rate and estimated end."""
        out = {k: v for k, v in state.items() if k != "series"}
        if "series" in state:
            out["series_total"] = len(state["series"])
            out["series_done"] = state["position"]
            rate = state["instances_done"] / state["elapsed_s"] if state["elapsed_s"] else 0.0
            out["rate_per_s"] = round(rate, 2)
            left = len(state["series"]) - state["position"]
            per_series = state["elapsed_s"] / state["position"] if state["position"] else None
            out["eta_s"] = round(left * per_series, 1) if per_series is not None else None
        return out

    def _series_in_scope(self, body: dict[str, Any]) -> list[str]:
        if not set(body) <= {"since", "studies"} or len(body) > 1:
            raise ScanError('the body must be {}, {"since": "YYYYMMDD"} or {"studies": [ids]}')
        if "since" in body:
            if not isinstance(body["since"], str) or not DATE.match(body["since"]):
                raise ScanError("since must be a date YYYYMMDD (StudyDate)")
            query = {"Level": "Study", "Query": {"StudyDate": f"{body['since']}-"}}
            studies = json.loads(self.orthanc.RestApiPost("/tools/find", json.dumps(query).encode()))
        elif "studies" in body:
            studies = body["studies"]
            if not isinstance(studies, list) or not all(isinstance(s, str) for s in studies):
                raise ScanError("studies must be a list of Orthanc study ids")
        else:
            return sorted(self.index.get_json("/series"))
        series: list[str] = []
        for study in studies:
            try:
                series += self.index.resource("studies", study)["Series"]
            except NotFound:
                raise ScanError(f"unknown study {study}") from None
        return sorted(series)

    def _run_in_background(self) -> None:
        self._cancel.clear()
        self._thread = threading.Thread(target=self._run, name="sentinel-scan", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        state = self.state()
        started = time.monotonic() - state.get("elapsed_s", 0.0)
        while state["position"] < len(state["series"]) and not self._cancel.is_set():
            series_id = state["series"][state["position"]]
            try:
                for instance_id in self.index.instances_of("series", series_id):
                    begin = time.monotonic()
                    self.analyse_instance(instance_id)
                    state["instances_done"] += 1
                    self.pacer.pause_after(time.monotonic() - begin, self._cancel)
                self.analyse_series(series_id)
            except NotFound:
                pass  # deleted since the scan started
            except Exception as e:  # one broken series must not stop the scan
                self.orthanc.LogError(f"Sentinel scan: series {series_id} failed: {e!r}")
            state["position"] += 1
            state["elapsed_s"] = time.monotonic() - started
            self._save(state)
        if not self._cancel.is_set():
            state["state"] = "done"
            state["finished"] = now_iso()
            self._save(state)
