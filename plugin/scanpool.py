"""Worker processes for the archive scan: the pure checks of whole series (:func:`validators.stored.
scan_series_files`) run outside Orthanc's interpreter, on other cores, while the scan's thread does the
index calls (reading files, writing reports), instead of both taking turns under one GIL.

The processes are forked from a fork server (``forkserver``), itself started from the Python executable
of the interpreter Orthanc embeds (``sys.executable`` is Orthanc itself), never from Orthanc's own
threaded process. So they run the same Python, the same ``sys.path`` (Sentinel's ``validators`` first)
and the same numba cache (``NUMBA_CACHE_DIR`` is inherited); they import ``validators`` and this module
only, never ``orthanc``, and end with the Orthanc process that started them. The server starts with the
first scan and loads every kernel once (:mod:`validators.preload`, about 1.4 s of CPU); the pools of later
scans fork from it warm. A process
that dies (out of memory, a crash in a kernel) breaks the pool: the series it held are checked in
Orthanc's process instead, and the next series starts a new pool.
"""

from __future__ import annotations

import multiprocessing
import os
import select
import sys
import threading
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Callable

from validators.ingest import Limits
from validators.stored import DecodedFrames, ScannedSeries, frames_to_decode, scan_series_files

from .config import Settings


# Niceness of the worker processes (Orthanc's own threads have 0): see start_worker.
WORKER_NICENESS = 10


def python_executable() -> str | None:
    """The ``pythonX.Y`` of the interpreter running this code, None if it is not installed."""
    path = os.path.join(sys.base_exec_prefix, "bin", f"python{sys.version_info.major}.{sys.version_info.minor}")
    return path if os.access(path, os.X_OK) else None


def scan_processes(settings: Settings) -> int:
    """The archive scan's worker processes: ``Sentinel.ScanProcesses``, by default one per core this peer
    may use."""
    return len(os.sched_getaffinity(0)) if settings.scan_processes is None else settings.scan_processes


def scan_pool_factory(orthanc: Any, settings: Settings) -> Callable[[int], ScanPool] | None:
    """What starts a scan's pool of n worker processes; None, so that the scan's thread checks everything,
    without a Python executable to start them with."""
    if python_executable() is None:
        if settings.scan_processes != 0:
            orthanc.LogWarning(f"Sentinel: no {sys.base_exec_prefix}/bin/python{sys.version_info.major}."
                               f"{sys.version_info.minor} to start the archive scan's worker processes: it "
                               "checks everything in its own thread")
        return None
    return lambda processes: ScanPool(processes, settings.limits, orthanc.LogWarning)


class ScanPool:
    """A pool of ``processes`` worker processes, started on the first :meth:`submit`."""

    def __init__(self, processes: int, limits: Limits, log_warning: Callable[[str], None]):
        self.processes = processes
        self.limits = limits
        self.log_warning = log_warning
        self._executor: ProcessPoolExecutor | None = None

    def submit(self, files: list[tuple[str, bytes]],
               decoded: dict[str, DecodedFrames] | None = None) -> Future[ScannedSeries]:
        """Check one whole series, ``files`` being (Orthanc instance id, stored file) of every instance,
        and ``decoded`` the frames of those that need a decoder, decoded ahead; its future raises
        DecoderNeeded if a file needs frames not there, BrokenProcessPool if its process died."""
        return self._submit(scan_series_files, files, self.limits, decoded)

    def frames_to_decode(self, files: list[tuple[str, bytes]]) -> Future[dict[str, int]]:
        """Which of ``files`` need frames decoded ahead for :meth:`submit`, and how many
        (:func:`validators.stored.frames_to_decode`)."""
        return self._submit(frames_to_decode, files, self.limits)

    def _submit(self, fn: Callable[..., Any], *args: Any) -> Future[Any]:
        """``fn(*args)`` in a worker process; a pool broken by an earlier call is replaced first."""
        if self._executor is not None:
            try:
                return self._executor.submit(fn, *args)
            except BrokenProcessPool:
                self.log_warning("Sentinel scan: a worker process died; starting new ones")
                self._executor.shutdown(wait=False, cancel_futures=True)
        self._executor = self._start()
        return self._executor.submit(fn, *args)

    def _start(self) -> ProcessPoolExecutor:
        context = multiprocessing.get_context("forkserver")
        context.set_executable(python_executable())
        context.set_forkserver_preload(["validators.preload"])
        return ProcessPoolExecutor(self.processes, mp_context=context, initializer=start_worker,
                                   initargs=(os.getpid(),))

    def close(self) -> None:
        """Stop the processes; series not started yet are dropped."""
        if self._executor is not None:
            self._executor.shutdown(wait=True, cancel_futures=True)
            self._executor = None


def start_worker(pid: int) -> None:
    """In a worker process, before its first series: run at WORKER_NICENESS, and exit when process ``pid``
    (the Orthanc that started the pool) ends.

    The scan's thread in Orthanc and the database server are the scan's serial path (read a series'
    files, write each report) and Orthanc's ingest must come first; the processes work ahead of them and
    can wait. Killed mid-scan, Orthanc cannot stop its pool, whose processes would wait forever for work
    on queues whose both ends they hold, and keep the fork server alive, some 240 MB each."""
    os.nice(WORKER_NICENESS)
    try:
        ended = os.pidfd_open(pid)
    except ProcessLookupError:
        os._exit(0)
    except OSError:  # no pidfd (Linux before 5.3, a seccomp filter): an error here would break every pool
        return
    threading.Thread(target=_exit_when_readable, args=(ended,), name="sentinel-end-with-orthanc", daemon=True).start()


def _exit_when_readable(fd: int) -> None:
    select.select([fd], [], [])  # a process's pidfd turns readable when it ends
    os._exit(0)
