"""The background worker: analyses what Orthanc stored, off the ingest path.

It follows Orthanc's change log (``GET /changes``), which lives in the index, from a cursor kept in
an Orthanc global property: work survives a restart, and instances stored while Sentinel was disabled
or down are analysed when it comes back. The stored-instance callback only wakes the worker.

A sweep follows the same log some minutes behind (its own cursor, also in the index): a series that
has no series report by then, because the peer that would have seen it become stable died first (stable
events are local to each peer), is analysed by whichever peer sweeps it. Analysing a series twice gives
the same report, so peers racing on the same change cost time, never a duplicate finding.

It yields to ingest (:mod:`plugin.pacing`), so that it competes little with Orthanc's ingest for the
cores, the GIL and the index.
"""

from __future__ import annotations

import threading
import time
import traceback
from datetime import datetime, timedelta, timezone
from typing import Any, Callable

from .index import SWEEP_CURSOR, Index, NotFound
from .pacing import IngestPacer

BATCH = 100


class Worker:
    """One thread that analyses each new instance and each stable series, in the log's order."""

    def __init__(self, orthanc: Any, index: Index, handlers: dict[str, Callable[[dict], None]],
                 poll_seconds: float, pacer: IngestPacer,
                 sweep_seconds: float, unanalysed_series: Callable[[str], bool]):
        """``handlers`` maps a change type of Orthanc's log ("NewInstance", "StableSeries") to the
        analysis of the resource it names, called with the change (``ID``, ``Date``...)."""
        self.orthanc = orthanc
        self.index = index
        self.handlers = handlers
        self.poll_seconds = poll_seconds
        self.pacer = pacer
        self.sweep_seconds = sweep_seconds
        self.unanalysed_series = unanalysed_series
        self._wake = threading.Event()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="sentinel-worker", daemon=True)
        self.analysed = 0
        self.failures = 0

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        self._thread.join(timeout=30)

    def wake(self) -> None:
        """Called from the stored-instance callback: cheap, never blocks."""
        self._wake.set()

    def backlog(self) -> int:
        """Changes not yet read by this worker (all kinds, an upper bound on instances to analyse)."""
        return max(0, self.index.changes(0, 0)["Last"] - self.index.cursor())

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                busy = self.step()
                self.sweep()
            except Exception as e:  # Orthanc busy or stopping, or a bug: log and retry later
                self.orthanc.LogError(f"Sentinel worker: {e!r}")
                busy = False
            if not busy:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()

    def step(self) -> bool:
        """Analyse the next batch of changes; True if there may be more."""
        cursor = self.index.cursor()
        page = self.index.changes(cursor, BATCH)
        for change in page["Changes"]:
            if self._stop.is_set():
                break
            handler = self.handlers.get(change["ChangeType"])
            if handler is not None:
                self._analyse_one(handler, change)
            cursor = change["Seq"]
        # Once a batch: analysis is idempotent, so a peer that dies mid-batch only costs a redo.
        if not page["Changes"]:
            cursor = max(cursor, page["Last"])
        self.index.set_cursor(cursor)
        return not page["Done"] and not self._stop.is_set()

    def sweep(self) -> None:
        """Analyse the series created more than ``sweep_seconds`` ago that still have no series report."""
        cursor = self.index.cursor(SWEEP_CURSOR)
        page = self.index.changes(cursor, BATCH)
        # Orthanc dates its changes in UTC, as YYYYMMDDTHHMMSS: comparable as strings.
        horizon = (datetime.now(timezone.utc) - timedelta(seconds=self.sweep_seconds)).strftime("%Y%m%dT%H%M%S")
        for change in page["Changes"]:
            if self._stop.is_set() or change["Date"] > horizon:
                break
            if change["ChangeType"] == "NewSeries" and self.unanalysed_series(change["ID"]):
                self._analyse_one(self.handlers["StableSeries"], change)
            cursor = change["Seq"]
        self.index.set_cursor(cursor, SWEEP_CURSOR)

    def _analyse_one(self, handler: Callable[[dict], None], change: dict) -> None:
        start = time.monotonic()
        try:
            handler(change)
            self.analysed += 1
        except NotFound:
            pass  # deleted since it was stored
        except Exception:
            self.failures += 1
            self.orthanc.LogError(f"Sentinel: analysis of {change['ID']} failed:\n{traceback.format_exc()}")
        self.pacer.pause_after(time.monotonic() - start, self._stop)
