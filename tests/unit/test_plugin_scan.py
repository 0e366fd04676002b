"""The archive scan's shared state without Orthanc: two scanners ("peers") on one shared folder, an index
of three series of two instances, and analyses that record what they did (and can be held mid-scan)."""

from __future__ import annotations

import threading
import time

import pytest

import plugin.scan as scan
from plugin.pacing import IngestPacer
from plugin.scan import Scanner, ScanError, ScanStore
from unit.fake_orthanc import FakeOrthanc

SERIES = {f"s{i}": [f"s{i}-i{j}" for j in range(2)] for i in range(3)}


class FakeIndex:
    def instances_of(self, level: str, series_id: str) -> list[str]:
        return SERIES[series_id]

    def get_json(self, uri: str) -> list[str]:
        assert uri == "/series"
        return list(SERIES)


class Peer:
    """One peer's scanner; ``hold`` blocks its analyses until set (a peer stuck or dying mid-scan)."""

    def __init__(self, folder, name: str, analysed: list[str]):
        self.hold = threading.Event()
        self.hold.set()
        self.entered = threading.Event()  # an analysis has started

        peer = self

        class SeriesPass:
            def __init__(self, series_id: str):
                self.series_id = series_id
                self.pooled: set[str] = set()  # no worker processes here

            def instance_ids(self) -> list[str]:
                return SERIES[self.series_id]

            def instance(self, instance_id: str) -> bool:
                peer.entered.set()
                peer.hold.wait()
                analysed.append(instance_id)
                return True

            def finish(self, members_analysed: bool) -> None:
                analysed.append(self.series_id)
        self.scanner = Scanner(FakeOrthanc(), FakeIndex(), SeriesPass, IngestPacer(1.0, lambda: 0.0),
                               ScanStore(str(folder)), name)


def wait_for(predicate, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.01)


def test_scan_runs_once_and_any_peer_sees_its_progress(tmp_path):
    analysed: list[str] = []
    a, b = Peer(tmp_path, "peer-a", analysed), Peer(tmp_path, "peer-b", analysed)
    started = a.scanner.start({})
    assert started["state"] == "running" and started["series_total"] == 3 and started["owner"] == "peer-a"
    wait_for(lambda: b.scanner.state()["state"] == "done")
    done = b.scanner.summary(b.scanner.state())
    assert done["series_done"] == 3 and done["instances_done"] == done["instances_analysed"] == 6
    assert sorted(analysed) == sorted([*SERIES, *(i for ids in SERIES.values() for i in ids)])


def test_second_scan_is_refused_while_one_runs_on_another_peer(tmp_path):
    analysed: list[str] = []
    a, b = Peer(tmp_path, "peer-a", analysed), Peer(tmp_path, "peer-b", analysed)
    a.hold.clear()
    a.scanner.start({})
    a.entered.wait(10)
    with pytest.raises(ScanError) as refused:
        b.scanner.start({})
    assert refused.value.status == 409 and "peer-a" in str(refused.value)
    assert b.scanner.cancel()["state"] == "cancelled"  # through another peer
    a.hold.set()
    wait_for(lambda: not a.scanner._thread.is_alive())
    assert len(analysed) == 1  # the instance in flight finished; nothing after the cancel was seen
    assert a.scanner.state()["state"] == "cancelled"


def test_a_scan_whose_owner_went_silent_is_taken_over_where_it_stopped(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "HEARTBEAT_SECONDS", 0.0)
    analysed: list[str] = []
    a, b = Peer(tmp_path, "peer-a", analysed), Peer(tmp_path, "peer-b", analysed)
    a.hold.clear()
    a.scanner.start({})
    a.entered.wait(10)
    b.scanner._adopt()
    assert b.scanner._thread is None  # the owner's heartbeat is fresh: not an orphan
    monkeypatch.setattr(scan, "ORPHAN_SECONDS", 0.05)
    time.sleep(0.1)  # peer-a, stuck in its first instance, writes no heartbeat
    b.scanner._adopt()
    wait_for(lambda: b.scanner.state()["state"] == "done")
    assert b.scanner.state()["owner"] == "peer-b"
    a.hold.set()  # peer-a wakes up: the scan is no longer its own, so it stops
    wait_for(lambda: not a.scanner._thread.is_alive())
    instances = [i for i in analysed if "-i" in i]
    assert sorted(set(instances)) == sorted(i for ids in SERIES.values() for i in ids)
    assert len(instances) == 7  # the one in flight at peer-a's stall, then done again by peer-b


def test_a_peer_restarted_mid_scan_resumes_its_own_scan_at_once(tmp_path):
    analysed: list[str] = []
    before = Peer(tmp_path, "peer-a", analysed)
    before.hold.clear()
    before.scanner.start({})
    before.scanner._stop.set()  # Orthanc stops (its thread ends after the instance in flight)
    before.hold.set()
    wait_for(lambda: not before.scanner._thread.is_alive())
    assert before.scanner.state()["state"] == "running"
    after = Peer(tmp_path, "peer-a", analysed)
    after.scanner._adopt()  # what watch() does first, with no wait for the heartbeat to age
    wait_for(lambda: after.scanner.state()["state"] == "done")
    assert after.scanner.state()["instances_done"] == 6


class FailingIndex(FakeIndex):
    """s1 is deleted mid-scan; the index answers NotFound (a missing metadata item) on s0, which exists."""

    def resource(self, level: str, resource_id: str) -> dict:
        if resource_id == "s1":
            raise scan.NotFound(resource_id)
        return {"Instances": SERIES[resource_id]}


def failing_scanner(tmp_path, failures: dict[str, list[Exception]], analysed: list[str]) -> Scanner:
    """A scanner whose analyses raise, in turn, the exceptions listed for an instance (then succeed); an
    instance analysed once is up to date."""
    index = FailingIndex()

    class SeriesPass:
        def __init__(self, series_id: str):
            self.series_id = series_id
            self.pooled: set[str] = set()  # no worker processes here

        def instance_ids(self) -> list[str]:
            return index.instances_of("series", self.series_id)

        def instance(self, instance_id: str) -> bool:
            if failures.get(instance_id):
                raise failures[instance_id].pop(0)
            if instance_id in analysed:
                return False  # its report is current
            analysed.append(instance_id)
            return True

        def finish(self, members_analysed: bool) -> None:
            analysed.append(f"{self.series_id} checked" if members_analysed else f"{self.series_id} unchanged")
    return Scanner(FakeOrthanc(), index, SeriesPass, IngestPacer(1.0, lambda: 0.0), ScanStore(str(tmp_path)), "peer-a")


def test_a_series_that_fails_once_is_tried_again_and_counted_once(tmp_path):
    analysed: list[str] = []
    scanner = failing_scanner(tmp_path, {"s0-i1": [OSError("database is locked")]}, analysed)
    scanner.start({})
    wait_for(lambda: scanner.state()["state"] == "done")
    state = scanner.state()
    assert state["instances_done"] == state["instances_analysed"] == 6
    assert state["series_failed"] == state["series_deleted"] == 0 and state["failures"] == []
    # The retry finds s0-i0 analysed already (its report is current): the series checks still run.
    assert analysed[:3] == ["s0-i0", "s0-i1", "s0 checked"]
    assert any("s0 failed, trying again" in message for _, message in scanner.orthanc.logs)


def test_failed_and_deleted_series_show_in_the_scan_state(tmp_path, monkeypatch):
    monkeypatch.setattr(scan, "FAILURES_KEPT", 1)
    analysed: list[str] = []
    missing = scan.NotFound("SentinelReport")  # a metadata item absent: the series itself is still there
    scanner = failing_scanner(tmp_path, {"s0-i1": [missing, missing], "s1-i0": [scan.NotFound("s1")],
                                         "s2-i0": [ValueError("x" * 500)] * 2}, analysed)
    scanner.start({})
    wait_for(lambda: scanner.state()["state"] == "done")
    state = scanner.state()
    assert state["series_total"] == state["position"] == 3
    assert state["series_failed"] == 2 and state["series_deleted"] == 1
    assert state["failures"] == [{"series": "s2", "error": repr(ValueError("x" * 500))[:scan.ERROR_CHARS]}]
    assert state["instances_done"] == state["instances_analysed"] == 1  # s0-i0, before s0-i1 failed
    assert [level for level, message in scanner.orthanc.logs if "failed:" in message] == ["error", "error"]


def test_series_are_handed_to_the_worker_processes_ahead_within_a_window_and_a_byte_budget(monkeypatch):
    monkeypatch.setattr(scan, "AHEAD_MAX_BYTES", 250)
    submitted: list[tuple[str, int]] = []

    class Pass:
        def __init__(self, series_id: str):
            self.series_id = series_id

        def submit(self, pool, room: int) -> int:
            submitted.append((self.series_id, room))
            return 100  # bytes of its files

    class Pool:
        processes = 2
        closed = False

        def close(self):
            Pool.closed = True

    series = [f"s{i}" for i in range(10)]
    ahead = scan.Ahead(Pool(), Pass)
    ahead.fill(series, 0)
    # Three series of 100 bytes fill the 250-byte budget before the window of 2 per process (4); the
    # filling thread then waits for room.
    wait_for(lambda: len(submitted) == 3 and ahead._starting is None)
    assert submitted == [("s0", 250), ("s1", 150), ("s2", 50)]
    assert ahead.take("s0").series_id == "s0" and ahead.take("s0") is None
    ahead.fill(series, 1)
    wait_for(lambda: len(submitted) == 4 and ahead._starting is None)
    assert submitted[3:] == [("s3", 50)]  # s1 and s2 are in flight already; then the budget is spent
    ahead.close()
    assert Pool.closed


@pytest.mark.parametrize("since", ["20261399", "20260230", "00000000", "２０２６０１０１", "2026010", "20260101 "])
def test_a_scan_since_a_date_that_does_not_exist_is_refused_before_any_find(tmp_path, since):
    peer = Peer(tmp_path, "peer-a", [])
    with pytest.raises(ScanError) as refused:
        peer.scanner.start({"since": since})  # FakeIndex has no find: a query would fail otherwise
    assert refused.value.status == 400 and "since must be a date YYYYMMDD" in str(refused.value)
    assert peer.scanner.state()["state"] == "idle"


def test_a_study_named_twice_is_scanned_once(tmp_path):
    analysed: list[str] = []
    peer = Peer(tmp_path, "peer-a", analysed)

    class StudyIndex(FakeIndex):
        def resource(self, level: str, study_id: str) -> dict:
            return {"Series": ["s0", "s1"]}
    peer.scanner.index = StudyIndex()
    started = peer.scanner.start({"studies": ["st", "st"]})
    assert started["series_total"] == 2
    wait_for(lambda: peer.scanner.state()["state"] == "done")
    assert sorted(analysed) == sorted(["s0", "s1", *SERIES["s0"], *SERIES["s1"]])


class RecordingPool:
    """A pool of one process that records the series submitted to it; ``gate`` holds submissions."""

    processes = 1

    def __init__(self):
        self.submitted: list[str] = []
        self.gate = threading.Event()
        self.gate.set()
        self.closed = False

    def close(self) -> None:
        self.closed = True


def ahead_with(pool: RecordingPool) -> scan.Ahead:
    class SeriesPass:
        def __init__(self, series_id: str):
            self.series_id = series_id

        def submit(self, pool: RecordingPool, room: int) -> int:
            pool.gate.wait()
            pool.submitted.append(self.series_id)
            return 10
    return scan.Ahead(pool, SeriesPass)


def test_series_ahead_are_started_by_their_thread_once_each():
    pool = RecordingPool()
    ahead = ahead_with(pool)
    series = [f"s{i}" for i in range(6)]
    for position, series_id in enumerate(series):
        ahead.fill(series, position)
        wait_for(lambda: series_id in pool.submitted)
        taken = ahead.take(series_id)
        assert taken is not None and taken.series_id == series_id
    ahead.close()
    assert pool.submitted == series and pool.closed and not ahead._thread.is_alive()


def test_a_series_taken_before_its_thread_reached_it_is_left_to_the_scans_thread():
    pool = RecordingPool()
    pool.gate.clear()  # the filling thread is held in its first submission (s0)
    ahead = ahead_with(pool)
    ahead.fill(["s0", "s1"], 0)
    wait_for(lambda: ahead._starting == "s0")
    assert ahead.take("s1") is None  # not started yet: the scan's thread starts it itself
    pool.gate.set()
    assert ahead.take("s0").series_id == "s0"  # waits for the submission in progress
    ahead.fill(["s0", "s1"], 1)
    ahead.close()
    assert pool.submitted == ["s0"]
