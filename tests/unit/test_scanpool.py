"""The archive scan's pool of worker processes (plugin.scanpool), with real processes forked from its fork
server: the same results as in this process, DecoderNeeded for compressed data, and a new pool after
its processes died."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from plugin.scanpool import ScanPool
from realfiles import fresh_copy
from validators.ingest import Limits
from validators.stored import DecoderNeeded, scan_series_files


@pytest.fixture
def pool():
    warnings: list[str] = []
    pool = ScanPool(2, Limits(), warnings.append)
    pool.warnings = warnings
    yield pool
    pool.close()


def test_a_series_checked_in_a_worker_process_gives_what_this_process_gives(pool):
    files = [("a", fresh_copy("CT_small.dcm", PatientBirthDate="20300101")), ("b", fresh_copy("MR_small.dcm"))]
    there = pool.submit(files).result(timeout=120)
    here = scan_series_files(files, Limits())
    assert there == here
    assert "instance.birth-after-study" in {f.rule for f in there.instances["a"].findings}
    assert there.instances["a"].seal["sop_instance_uid"] and there.instances["b"].identifiers["Modality"] == "MR"


def test_compressed_pixel_data_is_left_to_orthancs_decoder(pool):
    with pytest.raises(DecoderNeeded):
        pool.submit([("c", fresh_copy("JPEG2000.dcm"))]).result(timeout=120)


def test_a_pool_whose_processes_died_is_replaced(pool):
    files = [("a", fresh_copy("CT_small.dcm"))]
    pool.submit(files).result(timeout=120)
    broken = pool._executor
    for pid in list(broken._processes):
        os.kill(pid, signal.SIGKILL)
    deadline = time.monotonic() + 30
    while not broken._broken:  # the executor notices its processes' deaths on its own thread
        assert time.monotonic() < deadline
        time.sleep(0.01)
    assert pool.submit(files).result(timeout=120).instances["a"].findings is not None
    assert any("worker process died" in w for w in pool.warnings)


# Plays Orthanc: starts a pool, has it check one file, prints its processes' and fork server's pids.
STARTS_A_POOL = """
import multiprocessing.forkserver, sys, time
sys.path[:0] = sys.argv[1:]
from plugin.scanpool import ScanPool
from realfiles import fresh_copy
from validators.ingest import Limits
pool = ScanPool(2, Limits(), print)
pool.submit([("a", fresh_copy("CT_small.dcm"))]).result(timeout=120)
print(*pool._executor._processes, multiprocessing.forkserver._forkserver._forkserver_pid, flush=True)
time.sleep(600)
"""


def running(pid: int) -> bool:
    """Whether process ``pid`` exists and is not a zombie (an ended process not yet reaped)."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def test_the_processes_and_their_fork_server_end_with_an_orthanc_killed_mid_scan():
    repo = Path(__file__).resolve().parents[2]
    orthanc = subprocess.Popen([sys.executable, "-c", STARTS_A_POOL, str(repo), str(repo / "tests")],
                               stdout=subprocess.PIPE, text=True)
    try:
        pids = [int(p) for p in orthanc.stdout.readline().split()]
        assert len(pids) >= 2 and all(running(p) for p in pids)  # a process or more, and the server
    finally:
        orthanc.kill()
        orthanc.wait()
    deadline = time.monotonic() + 30
    while any(running(p) for p in pids):
        assert time.monotonic() < deadline, [p for p in pids if running(p)]
        time.sleep(0.05)


def test_a_worker_starts_where_pidfds_are_refused(monkeypatch):
    """Linux before 5.3, or a seccomp filter, refuses pidfd_open: the process then runs unwatched, instead
    of failing its pool's initializer (which would break every pool)."""
    import plugin.scanpool as scanpool

    def refused(pid: int) -> int:
        raise OSError(38, "Function not implemented")
    niceness: list[int] = []
    monkeypatch.setattr(scanpool.os, "nice", niceness.append)  # this test's process keeps its priority
    monkeypatch.setattr(scanpool.os, "pidfd_open", refused)
    scanpool.start_worker(os.getpid())
    assert niceness == [scanpool.WORKER_NICENESS]
