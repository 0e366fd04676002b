"""The archive scan: every check run again on what is already stored (all of it, studies of a date
range, or given studies), series by series, with progress, cancel, and resume.

It re-analyses each instance, then each series as a whole, yielding to ingest as the worker does
(:mod:`plugin.pacing`, ``WorkerShareUnderLoad``). An instance whose report was computed from the very
bytes stored now, with the rules, limits and Sentinel version in force, keeps its report (the file's
BLAKE2b digest is compared, which also proves its pixels match the integrity seal); every other one,
never analysed, changed in storage, or analysed under other rules, gets every check again, its seal
compared. ``instances_analysed`` counts those; ``instances_done`` all.

One scan at a time in the whole cluster, run by one peer, its *owner*. Its state is in Sentinel's shared
folder (the quarantine folder, which every peer of a cluster shares; Orthanc gives plugins no property
that peers share): ``scan-state.json`` (state, owner, position, counts, heartbeat) and
``scan-series.json`` (the series to do, written once). Every peer reads it, so progress and cancel
work through any peer behind the balancer. The owner writes its heartbeat after every series and every
few seconds within one; a peer that finds a running scan whose owner is itself (it restarted) or whose
heartbeat is older than :data:`ORPHAN_SECONDS` (its owner died) takes it over and goes on from the last
series done. Updates are read-modify-write under an exclusive ``flock``.
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import threading
import time
import traceback
import uuid
from typing import TYPE_CHECKING, Any, Callable, NamedTuple

from validators.values import check_da

from .config import MAX_SCAN_PROCESSES
from .index import Index, NotFound
from .pacing import IngestPacer
from .quarantine import now_iso
from .sharedfolder import exclusive_lock, write_atomic

if TYPE_CHECKING:
    from .analysis import SeriesPass
    from .scanpool import ScanPool

# A running scan whose owner wrote no heartbeat for this long (s) is taken over by another peer. Far
# above HEARTBEAT_SECONDS and one instance's analysis, so that a live owner never loses its scan.
ORPHAN_SECONDS = 60.0
HEARTBEAT_SECONDS = 5.0
WATCH_SECONDS = 10.0  # how often each peer looks for a scan to resume or adopt
SERIES_ATTEMPTS = 2  # a series that fails is tried once more before it is recorded as failed
# The state is one small shared file read on every instance: only the last few failures are kept, each
# error cut to a line.
FAILURES_KEPT = 5
ERROR_CHARS = 200
# Series handed to the worker processes ahead of the one being stored: enough to keep every process busy
# while this thread reads and writes, bounded in the files' bytes held at once (a larger series is checked
# in this thread).
AHEAD_PER_PROCESS = 2
AHEAD_MAX_BYTES = 256 << 20


class ScanError(ValueError):
    """A scan request that cannot be honoured; ``status`` 400 (bad scope) or 409 (one is running)."""

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


class ScanStore:
    """The scan's files in the shared folder, read and written atomically, updated under a lock."""

    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)
        self.state_path = os.path.join(directory, "scan-state.json")
        self.series_path = os.path.join(directory, "scan-series.json")

    def load(self) -> dict[str, Any]:
        try:
            with open(self.state_path, encoding="utf-8") as f:
                return json.load(f)
        except FileNotFoundError:
            return {"state": "idle"}

    def series(self) -> list[str]:
        with open(self.series_path, encoding="utf-8") as f:
            return json.load(f)

    def locked(self) -> contextlib.AbstractContextManager[None]:
        return exclusive_lock(os.path.join(self.directory, "scan-state.lock"))

    def write(self, path: str, value: Any) -> None:
        write_atomic(path, json.dumps(value).encode())


class Outcome(NamedTuple):
    """What became of one series in a scan: scanned, deleted since the scan started, or failed
    (``failure``: its id and error text)."""

    deleted: bool = False
    failure: dict[str, str] | None = None
    pooled: int = 0  # instances checked by the worker processes

    def record(self, state: dict[str, Any]) -> None:
        """Count it in the scan's shared state, which keeps only the last FAILURES_KEPT failures."""
        state["instances_in_processes"] = state.get("instances_in_processes", 0) + self.pooled
        if self.deleted:
            state["series_deleted"] = state.get("series_deleted", 0) + 1
        if self.failure is not None:
            state["series_failed"] = state.get("series_failed", 0) + 1
            state["failures"] = [*state.get("failures", []), self.failure][-FAILURES_KEPT:]


class Scanner:
    def __init__(self, orthanc: Any, index: Index, series_pass: Callable[[str], SeriesPass], pacer: IngestPacer,
                 store: ScanStore, peer: str, processes: int = 0,
                 pool_factory: Callable[[int], ScanPool] | None = None):
        """``series_pass(id)``: the analyses of one series (:class:`plugin.analysis.SeriesPass`): its
        ``instance(id)`` re-checks one instance unless nothing it depends on changed (True if it did),
        its ``finish(members_analysed)`` likewise the series. ``peer``: this peer's stable name (it
        survives a restart, and differs between peers). ``pool_factory(n)``: a pool of ``n`` worker
        processes for a scan, ``processes`` by default (0: every check runs in the scan's thread)."""
        self.processes = processes
        self.pool_factory = pool_factory
        self.orthanc = orthanc
        self.index = index
        self.series_pass = series_pass
        self.pacer = pacer
        self.store = store
        self.peer = peer
        self._stop = threading.Event()       # Orthanc stops: every thread of the scanner ends
        self._thread: threading.Thread | None = None
        self._watch: threading.Thread | None = None
        self._lock = threading.Lock()

    def state(self) -> dict[str, Any]:
        """The shared state: state (idle, running, cancelled, done), owner, position (series done),
        instances_done, elapsed_s, heartbeat (epoch s), series_failed and series_deleted (counts) and
        failures (the last FAILURES_KEPT series that failed twice: ``{"series", "error"}``)."""
        return self.store.load()

    def start(self, body: dict[str, Any]) -> dict[str, Any]:
        """Start a scan of ``{}`` (everything), ``{"since": "YYYYMMDD"}`` (studies from that StudyDate
        (0008,0020) on) or ``{"studies": [Orthanc ids]}``, owned by this peer; ``"processes": N`` in the
        body overrides ``Sentinel.ScanProcesses`` for this scan."""
        processes = body.get("processes")
        if processes is not None and (isinstance(processes, bool) or not isinstance(processes, int)
                                      or not 0 <= processes <= MAX_SCAN_PROCESSES):
            raise ScanError(f"processes must be a number of worker processes from 0 to {MAX_SCAN_PROCESSES}")
        series = self._series_in_scope({k: v for k, v in body.items() if k != "processes"})
        with self._lock, self.store.locked():
            current = self.store.load()
            if current.get("state") == "running" and not self._orphaned(current):
                raise ScanError(f"a scan is running already (on {current.get('owner')}); cancel it first", 409)
            self.store.write(self.store.series_path, series)
            state = {"id": uuid.uuid4().hex, "state": "running", "scope": body, "series_total": len(series), "position": 0,
                     "instances_done": 0, "instances_analysed": 0, "instances_in_processes": 0, "series_failed": 0,
                     "series_deleted": 0, "failures": [], "started": now_iso(), "elapsed_s": 0.0, "owner": self.peer,
                     "heartbeat": time.time()}
            self.store.write(self.store.state_path, state)
            self._run_in_background(state["id"])
        return self.summary(state)

    def watch(self) -> None:
        """From Orthanc's start on: resume this peer's own scan at once, and every WATCH_SECONDS adopt a
        running scan whose owner stopped writing its heartbeat."""
        self._stop.clear()
        self._watch = threading.Thread(target=self._watch_loop, name="sentinel-scan-watch", daemon=True)
        self._watch.start()

    def _watch_loop(self) -> None:
        while not self._stop.is_set():
            try:
                self._adopt()
            except Exception as e:  # an unreadable shared folder must not end the watch
                self.orthanc.LogError(f"Sentinel scan: cannot look for a scan to resume: {e!r}")
            self._stop.wait(WATCH_SECONDS)

    def _adopt(self) -> None:
        with self._lock:
            if self._thread is not None and self._thread.is_alive():
                return
            with self.store.locked():
                state = self.store.load()
                if state.get("state") != "running":
                    return
                if state.get("owner") != self.peer and not self._orphaned(state):
                    return
                if state.get("owner") != self.peer:
                    self.orthanc.LogWarning(f"Sentinel scan: taking over the scan of {state.get('owner')}, "
                                            f"silent for {time.time() - state.get('heartbeat', 0):.0f} s")
                state.update(owner=self.peer, heartbeat=time.time())
                self.store.write(self.store.state_path, state)
            self._run_in_background(state["id"])

    @staticmethod
    def _orphaned(state: dict[str, Any]) -> bool:
        return time.time() - state.get("heartbeat", 0) > ORPHAN_SECONDS

    def stop(self) -> None:
        """Orthanc stops: end the threads but leave the scan "running", for this peer's next start or
        another peer to go on with."""
        self._stop.set()
        for thread in (self._thread, self._watch):
            if thread is not None:
                thread.join(timeout=60)

    def cancel(self) -> dict[str, Any]:
        """Cancel the running scan, whichever peer runs it (it stops after its current instance)."""
        with self.store.locked():
            state = self.store.load()
            if state.get("state") == "running":
                state["state"] = "cancelled"
                self.store.write(self.store.state_path, state)
        return self.summary(state)

    @staticmethod
    def summary(state: dict[str, Any]) -> dict[str, Any]:
        """The state with rate (instances/s) and estimated time left (s)."""
        out = dict(state)
        if "series_total" in state:
            out["series_done"] = state["position"]
            out["rate_per_s"] = round(state["instances_done"] / state["elapsed_s"], 2) if state["elapsed_s"] else 0.0
            per_series = state["elapsed_s"] / state["position"] if state["position"] else None
            left = state["series_total"] - state["position"]
            out["eta_s"] = round(left * per_series, 1) if per_series is not None else None
        return out

    def _series_in_scope(self, body: dict[str, Any]) -> list[str]:
        if not set(body) <= {"since", "studies"} or len(body) > 1:
            raise ScanError('the body must be {}, {"since": "YYYYMMDD"} or {"studies": [ids]}, '
                            'with "processes": N if wanted')
        if "since" in body:
            since = body["since"]
            # ASCII digits only: Python's \d and int() also take other scripts' digits, Orthanc does not.
            reason = check_da(since) if isinstance(since, str) and re.fullmatch("[0-9]{8}", since) else "not YYYYMMDD"
            if reason:
                raise ScanError(f"since must be a date YYYYMMDD (StudyDate), got {since!r}: {reason}")
            query = {"Level": "Study", "Query": {"StudyDate": f"{body['since']}-"}}
            studies = self.index.find(query)
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
        return sorted(set(series))  # a study named twice is scanned once

    def _run_in_background(self, scan_id: str) -> None:
        self._thread = threading.Thread(target=self._run, args=(scan_id,), name="sentinel-scan", daemon=True)
        self._thread.start()

    def _still_mine(self, scan_id: str, progress: dict[str, Any] | None = None, outcome: Outcome | None = None) -> bool:
        """Write the heartbeat (and ``progress``, and the ``outcome`` of the series just scanned) if scan
        ``scan_id`` is still running and ours; False if it was cancelled, replaced by a new scan or taken
        over meanwhile."""
        with self.store.locked():
            state = self.store.load()
            if not self._is_mine(state, scan_id):
                return False
            state.update(progress or {}, heartbeat=time.time())
            if outcome is not None:
                outcome.record(state)
            self.store.write(self.store.state_path, state)
            return True

    def _is_mine(self, state: dict[str, Any], scan_id: str) -> bool:
        return state.get("state") == "running" and state.get("owner") == self.peer and state.get("id") == scan_id

    def _run(self, scan_id: str) -> None:
        state = self.store.load()
        series = self.store.series()
        position, done, analysed = state["position"], state["instances_done"], state["instances_analysed"]
        started = time.monotonic() - state.get("elapsed_s", 0.0)
        processes = state["scope"].get("processes", self.processes)
        ahead = Ahead(self.pool_factory(processes) if processes and self.pool_factory else None, self.series_pass)
        try:
            while position < len(series) and not self._stop.is_set():
                series_id = series[position]
                ahead.fill(series, position)
                # Instance id -> whether analysed, over every attempt: an instance is counted once, and an
                # attempt that failed after analysing some still has the series checks run by the retry.
                seen: dict[str, bool] = {}
                outcome = self._scan_series(scan_id, series_id, seen, ahead.take(series_id))
                if outcome is None:
                    return
                done += len(seen)
                analysed += sum(seen.values())
                position += 1
                progress = {"position": position, "instances_done": done, "instances_analysed": analysed,
                            "elapsed_s": time.monotonic() - started}
                if not self._still_mine(scan_id, progress, outcome):
                    return
            if not self._stop.is_set():
                self._still_mine(scan_id, {"state": "done", "finished": now_iso()})
        finally:
            ahead.close()

    def _scan_series(self, scan_id: str, series_id: str, seen: dict[str, bool],
                     series_pass: SeriesPass | None) -> Outcome | None:
        """Scan one series (``series_pass``: its pass if one was started ahead), tried again if it fails;
        what became of it (None: the scan stopped, was cancelled or taken over)."""
        for attempt in range(1, SERIES_ATTEMPTS + 1):
            series_pass = series_pass or self.series_pass(series_id)
            try:
                if not self._scan_series_once(scan_id, series_pass, seen):
                    return None
                return Outcome(pooled=len(series_pass.pooled))
            except Exception as e:  # one broken series must not stop the scan
                if isinstance(e, NotFound) and self._deleted(series_id):
                    self.orthanc.LogWarning(f"Sentinel scan: series {series_id} deleted since the scan started")
                    return Outcome(deleted=True)
                error, trace = f"{e!r}", traceback.format_exc()
                series_pass = None  # the retry starts afresh, in this process
                if attempt < SERIES_ATTEMPTS:
                    self.orthanc.LogWarning(f"Sentinel scan: series {series_id} failed, trying again: {error}")
        self.orthanc.LogError(f"Sentinel scan: series {series_id} failed: {error}\n{trace}")
        return Outcome(failure={"series": series_id, "error": error[:ERROR_CHARS]})

    def _deleted(self, series_id: str) -> bool:
        """Whether the series is gone from the index: NotFound also stands for a missing metadata item or
        file (Index._call), which is a failure, not a deletion."""
        try:
            self.index.resource("series", series_id)
        except NotFound:
            return True
        except Exception:  # the index cannot tell: the series counts as failed, not as deleted
            pass
        return False

    def _scan_series_once(self, scan_id: str, series_pass: SeriesPass, seen: dict[str, bool]) -> bool:
        """Every instance of the series, then the series checks; False if the scan stopped meanwhile."""
        beat = time.monotonic()
        for instance_id in series_pass.instance_ids():
            # A cancel (or a takeover) through any peer stops the scan before its next instance.
            if self._stop.is_set() or not self._is_mine(self.store.load(), scan_id):
                return False
            begin = time.monotonic()
            seen[instance_id] = series_pass.instance(instance_id) or seen.get(instance_id, False)
            self.pacer.pause_after(time.monotonic() - begin, self._stop)
            if time.monotonic() - beat > HEARTBEAT_SECONDS:
                beat = time.monotonic()
                if not self._still_mine(scan_id):
                    return False
        series_pass.finish(any(seen.values()))
        return True


class Ahead:
    """Series of the scan handed to worker processes before their turn (:meth:`SeriesPass.submit`), by a
    thread of their own: reading a series' contents and files overlaps the scan's thread writing the
    reports of the series before (orthanc-python releases the GIL in SDK calls with ``AllowThreads``).
    A series is started by one thread only: the filling thread, or the scan's thread once it has taken
    the series (:meth:`take`) before the filling thread reached it."""

    def __init__(self, pool: ScanPool | None, series_pass: Callable[[str], SeriesPass]):
        self.pool = pool
        self.series_pass = series_pass
        self.passes: dict[str, SeriesPass] = {}
        self.sizes: dict[str, int] = {}
        self._changed = threading.Condition()
        self._window: list[str] = []      # the series the filling thread may start, in order
        self._taken: set[str] = set()     # taken by the scan's thread: never started by the filling thread
        self._starting: str | None = None
        self._closed = False
        self._thread: threading.Thread | None = None

    def fill(self, series: list[str], position: int) -> None:
        """Let the filling thread start the passes of the scan's ``series`` from ``position`` on until
        AHEAD_PER_PROCESS per process are started or AHEAD_MAX_BYTES are held."""
        if self.pool is None:
            return
        with self._changed:
            self._window = series[position:position + AHEAD_PER_PROCESS * self.pool.processes]
            self._changed.notify_all()
        if self._thread is None:
            self._thread = threading.Thread(target=self._fill_loop, name="sentinel-scan-ahead", daemon=True)
            self._thread.start()

    def _next(self) -> tuple[str, int] | None:
        """The next series to start and the bytes it may hold, waiting until there is one; None once
        closed. Called with the condition held."""
        while not self._closed:
            room = AHEAD_MAX_BYTES - sum(self.sizes.values())
            todo = [i for i in self._window if i not in self.passes and i not in self._taken]
            if todo and room > 0:
                return todo[0], room
            self._changed.wait()
        return None

    def _fill_loop(self) -> None:
        while True:
            with self._changed:
                found = self._next()
                if found is None:
                    return
                series_id, room = found
                self._starting = series_id
            series_pass = self.series_pass(series_id)
            try:
                size = series_pass.submit(self.pool, room)
            except Exception:  # the series' own turn reads it again and reports what is wrong
                size = 0
            with self._changed:
                self.passes[series_id], self.sizes[series_id] = series_pass, size
                self._starting = None
                self._changed.notify_all()

    def take(self, series_id: str) -> SeriesPass | None:
        """The pass started for ``series_id``, if any (waiting for the filling thread if it is starting
        it); from now on the filling thread leaves the series alone."""
        with self._changed:
            self._taken.add(series_id)
            while self._starting == series_id:
                self._changed.wait()
            self.sizes.pop(series_id, None)
            self._changed.notify_all()  # room for another series
            return self.passes.pop(series_id, None)

    def close(self) -> None:
        with self._changed:
            self._closed = True
            self._changed.notify_all()
        if self._thread is not None:
            self._thread.join()
        if self.pool is not None:
            self.pool.close()
