"""The background worker: analyses what Orthanc stored, off the ingest path.

It follows Orthanc's change log (``GET /changes``), which lives in the index, from a cursor kept in
an Orthanc global property: work survives a restart, and instances stored while Sentinel was disabled
or down are analysed when it comes back. The stored-instance callback only wakes the worker.

It yields to ingest: while this peer has received an object within the last second, the worker takes
at most ``share_under_load`` of the wall time (it sleeps after each analysis in proportion to the time
the analysis took), so that it competes little with Orthanc's ingest for the cores, the GIL and the
index; it still progresses under sustained load, and runs at full speed once the load stops.
"""

from __future__ import annotations

import threading
import time
import traceback
from typing import Any, Callable

from .index import Index, NotFound

BATCH = 100
LOAD_WINDOW_SECONDS = 1.0


class Worker:
    """One thread that analyses each new instance and each stable series, in the log's order."""

    def __init__(self, orthanc: Any, index: Index, handlers: dict[str, Callable[[str], None]],
                 poll_seconds: float, share_under_load: float, last_ingest: Callable[[], float]):
        """``handlers`` maps a change type of Orthanc's log ("NewInstance", "StableSeries") to the
        analysis of the resource it names; ``last_ingest()`` is the ``time.monotonic()`` of this peer's
        latest received object."""
        self.orthanc = orthanc
        self.index = index
        self.handlers = handlers
        self.poll_seconds = poll_seconds
        self.share_under_load = share_under_load
        self.last_ingest = last_ingest
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
                self._analyse_one(handler, change["ID"])
            cursor = change["Seq"]
        # Once a batch: analysis is idempotent, so a peer that dies mid-batch only costs a redo.
        if not page["Changes"]:
            cursor = max(cursor, page["Last"])
        self.index.set_cursor(cursor)
        return not page["Done"] and not self._stop.is_set()

    def _analyse_one(self, handler: Callable[[str], None], resource_id: str) -> None:
        start = time.monotonic()
        try:
            handler(resource_id)
            self.analysed += 1
        except NotFound:
            pass  # deleted since it was stored
        except Exception:
            self.failures += 1
            self.orthanc.LogError(f"Sentinel: analysis of {resource_id} failed:\n{traceback.format_exc()}")
        now = time.monotonic()
        if now - self.last_ingest() < LOAD_WINDOW_SECONDS:
            self._stop.wait((now - start) * (1 - self.share_under_load) / self.share_under_load)
