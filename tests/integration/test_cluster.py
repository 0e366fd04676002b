"""The cluster: three Orthanc peers with Sentinel on one PostgreSQL index, one shared storage and
quarantine folder, behind HAProxy (tests/integration/cluster.py, the same as scripts/cluster).

Ingest goes through the balancer over REST and C-STORE at once while one peer is SIGKILLed mid-stream and
restarted; clients retry what was not acknowledged, as real senders do. Then: every object sent is
stored or quarantined exactly once, every series gets its Sentinel report, and reports, labels and
quarantine are the same from every peer. PostgreSQL is restarted during ingest: peers recover by
themselves and nothing acknowledged is lost.
"""

from __future__ import annotations

import hashlib
import json
import io
import shutil
import signal
import subprocess
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np
import pydicom
import pytest
import requests
from pydicom.uid import generate_uid

from integration.cluster import Cluster
from realfiles import fresh_copy, pydicom_file, with_preamble

pytestmark = pytest.mark.integration

SLICES = 8
REPORT_TIMEOUT = 30  # seconds: StableAge (2 s) + the workers' backlog, on 2 cores


def make_series(count: int, slices: int = SLICES) -> list[tuple[str, list[bytes]]]:
    """``count`` series of ``slices`` small real CT slices (CT_small.dcm's header, 128 x 128), each
    ``(SeriesInstanceUID, [Part 10 bytes])``."""
    template = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    rng = np.random.default_rng(1)
    out = []
    for _ in range(count):
        study, series = generate_uid(), generate_uid()
        blobs = []
        for i in range(slices):
            ds = template.copy()
            ds.PatientID = "CLUSTER-" + series[-8:]
            ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
            ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
            ds.InstanceNumber = i + 1
            ds.ImagePositionPatient = [-64.0, -64.0, float(i)]
            ds.SliceLocation = float(i)
            ds.PixelData = (1000 + rng.normal(0, 10, (128, 128))).astype(np.int16).tobytes()
            buf = io.BytesIO()
            ds.save_as(buf, write_like_original=False)
            blobs.append(buf.getvalue())
        out.append((series, blobs))
    return out


def rejected_objects(count: int) -> list[bytes]:
    """Distinct DICOM/PE polyglots (CVE-2019-11687): Sentinel refuses them into quarantine."""
    return [with_preamble(blobs[0], b"MZ\x90\x00") for _, blobs in make_series(count, 1)]


def upload(url: str, data: bytes, session: requests.Session, attempts: int = 20) -> dict:
    """POST /instances, retried until acknowledged (a peer killed mid-request gives a 502/503 or a
    reset connection: the sender does not know whether it was stored, so it sends again)."""
    for _ in range(attempts):
        try:
            r = session.post(url + "/instances", data=data, timeout=60,
                             headers={"Content-Type": "application/dicom", "Expect": ""})
            if r.status_code == 200:
                return r.json()
        except requests.RequestException:
            pass
        time.sleep(0.3)
    raise AssertionError("upload never acknowledged")


def storescu(port: int, paths: list[Path]) -> subprocess.CompletedProcess:
    return subprocess.run(["storescu", "-R", "-aet", "CLUSTERSCU", "-aec", "ORTHANC", "127.0.0.1", str(port),
                           *map(str, paths)], capture_output=True, text=True, timeout=120,
                          env={"PATH": "/usr/bin:/bin", "TCP_NODELAY": "1"})


def cstore_series(port: int, paths: list[Path], attempts: int = 20) -> int:
    """C-STORE a series in one association, again (the whole series) until every file is acknowledged;
    returns how many associations it took."""
    for attempt in range(1, attempts + 1):
        if storescu(port, paths).returncode == 0:
            return attempt
        time.sleep(0.3)
    raise AssertionError("C-STORE never succeeded")


def quarantine_id(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()[:32]


def get(url: str, path: str) -> requests.Response:
    return requests.get(url + path, timeout=30)


def get_once_reconnected(url: str, path: str, timeout: float = 30) -> requests.Response:
    """:func:`get`, again while the answer is 503: after PostgreSQL restarts, each connection of a peer's
    pool (IndexConnectionsCount) fails its first statement with DatabaseUnavailable (503) before the
    PostgreSQL plugin connects it again; any other answer is returned at once."""
    deadline = time.monotonic() + timeout
    while (answer := get(url, path)).status_code == 503 and time.monotonic() < deadline:
        time.sleep(0.2)
    return answer


def series_ids_by_uid(url: str) -> dict[str, tuple[str, int]]:
    """SeriesInstanceUID -> (Orthanc id, number of instances) of every series in the archive."""
    out = {}
    for s in get_once_reconnected(url, "/series?expand").json():
        out[s["MainDicomTags"]["SeriesInstanceUID"]] = (s["ID"], len(s["Instances"]))
    return out


def wait_reports(url: str, series_ids: list[str], timeout: float) -> dict[str, dict]:
    """Each series' report once not pending (those still pending at the deadline: as they are)."""
    deadline = time.monotonic() + timeout
    reports: dict[str, dict] = {}
    while True:
        for sid in series_ids:
            if sid not in reports or reports[sid]["pending"]:
                r = get(url, f"/sentinel/series/{sid}")
                if r.status_code == 200:
                    reports[sid] = r.json()
        if all(not r["pending"] for r in reports.values()) and len(reports) == len(series_ids):
            return reports
        if time.monotonic() > deadline:
            return reports
        time.sleep(0.5)


@pytest.fixture(scope="module")
def cluster():
    if shutil.which("haproxy") is None or shutil.which("Orthanc") is None:
        pytest.fail("run the tests with scripts/test (inside the runtime, which has PostgreSQL and HAProxy)")
    with Cluster(peers=3) as c:
        yield c
        for name in ("peer0", "peer1", "peer2", "haproxy", "postgresql"):
            print(f"--- {name}\n" + c.log(name)[-2000:])


def test_ingest_through_balancer_survives_sigkill_of_a_peer(cluster, tmp_path):
    rest_series, cstore = make_series(6), make_series(6)
    rejects = rejected_objects(4)
    folders = []
    for n, (_, blobs) in enumerate(cstore):
        folder = tmp_path / f"s{n}"
        folder.mkdir()
        for i, blob in enumerate(blobs):
            (folder / f"{i:03d}.dcm").write_bytes(blob)
        folders.append(sorted(folder.iterdir()))
    total = sum(len(b) for _, b in rest_series + cstore) + len(rejects)
    sent = 0
    lock = threading.Lock()
    killed = threading.Event()
    victim = 1

    def progress(n: int) -> None:
        nonlocal sent
        with lock:
            sent += n
            if sent >= total // 3 and not killed.is_set():
                killed.set()
                cluster.kill_peer(victim, signal.SIGKILL)

    def rest_worker(items: list[bytes]) -> list[dict]:
        session = requests.Session()
        answers = []
        for blob in items:
            answers.append(upload(cluster.url, blob, session))
            progress(1)
        return answers

    def cstore_worker(paths: list[Path]) -> int:
        tries = cstore_series(cluster.dicom_port, paths)
        progress(len(paths))
        return tries

    with ThreadPoolExecutor(8) as pool:
        rest_jobs = [pool.submit(rest_worker, blobs) for _, blobs in rest_series[:3]]
        rest_jobs += [pool.submit(rest_worker, [b for _, blobs in rest_series[3:] for b in blobs] + rejects)]
        cstore_jobs = [pool.submit(cstore_worker, paths) for paths in folders]
        answers = [a for job in rest_jobs for a in job.result()]
        for job in cstore_jobs:
            job.result()
    assert killed.is_set()
    cluster.start_peer(victim)

    # REST: each reject answered FilteredOut, each valid object Success or AlreadyStored (a retry of
    # one stored before the peer died).
    statuses = [a["Status"] for a in answers]
    assert statuses.count("FilteredOut") == len(rejects)
    assert set(statuses) <= {"Success", "AlreadyStored", "FilteredOut"}

    # Every valid object stored exactly once, whatever peer is asked.
    expected = {uid: len(blobs) for uid, blobs in rest_series + cstore}
    for url in cluster.peer_urls:
        archive = series_ids_by_uid(url)
        assert {uid: archive[uid][1] for uid in expected if uid in archive} == expected
        stats = get(url, "/statistics").json()
        assert stats["CountInstances"] == sum(expected.values())
        # Quarantined exactly once each, and the same entries from every peer.
        entries = get(url, "/sentinel/quarantine?limit=1000").json()
        entries = entries["entries"] if isinstance(entries, dict) else entries
        assert sorted(e["id"] for e in entries) == sorted(quarantine_id(r) for r in rejects)

    # Every series analysed as a whole (stable-series analysis) and its instances analysed, within a
    # bounded delay, seen through the balancer.
    archive = series_ids_by_uid(cluster.url)
    ids = [archive[uid][0] for uid in expected]
    reports = wait_reports(cluster.url, ids, REPORT_TIMEOUT)
    for report in reports.values():
        # Every instance analysed: the workers follow the shared change log, whichever peer stored it.
        assert report["instances"]["total"] == SLICES
        assert report["instances"].get("pending", 0) == 0
    done = [sid for sid, r in reports.items() if not r["pending"]]
    assert done

    # The same report from every peer.
    for url in cluster.peer_urls:
        for sid in done[:4]:
            other = get(url, f"/sentinel/series/{sid}").json()
            assert (other["verdict"], other["findings"]) == (reports[sid]["verdict"], reports[sid]["findings"])

    # Every series analysed as a whole within a bounded delay, even one whose StableSeries event died
    # with the killed peer (Orthanc raises it only on the receiving peer): Sentinel's sweep does it.
    pending = {sid: r["instances"] for sid, r in reports.items() if r["pending"]}
    assert not pending, f"series never analysed as a whole (their peer{victim} was killed): {pending}"


def test_quarantine_and_labels_are_managed_from_any_peer(cluster):
    blob = rejected_objects(1)[0]
    entry = quarantine_id(blob)
    r = requests.post(cluster.peer_urls[0] + "/instances", data=blob, timeout=30,
                      headers={"Content-Type": "application/dicom", "Expect": ""})
    assert r.json()["Status"] == "FilteredOut"
    # Seen, released and deleted through other peers.
    assert get(cluster.peer_urls[2], f"/sentinel/quarantine/{entry}").status_code == 200
    released = requests.post(cluster.peer_urls[1] + f"/sentinel/quarantine/{entry}/release", timeout=30)
    assert released.status_code == 200, released.text
    instance = get(cluster.peer_urls[2], f"/sentinel/quarantine/{entry}").json()["released"]["instance"]
    # The released instance's report and label, written by some peer's worker, seen from every peer.
    deadline = time.monotonic() + REPORT_TIMEOUT
    while get(cluster.url, f"/sentinel/instances/{instance}").json()["pending"]:
        assert time.monotonic() < deadline, "released instance never analysed"
        time.sleep(0.3)
    for url in cluster.peer_urls:
        assert get(url, f"/sentinel/instances/{instance}").json()["verdict"] == "suspicious"
        assert "sentinel-suspicious" in get(url, f"/instances/{instance}/labels").json()
    assert requests.delete(cluster.peer_urls[2] + f"/sentinel/quarantine/{entry}", timeout=30).status_code == 200
    for url in cluster.peer_urls:
        assert get(url, f"/sentinel/quarantine/{entry}").status_code == 404


def test_releases_of_one_entry_from_every_peer_at_once_store_it_once(cluster):
    """Each release answered 200: the entry's lock, in the shared folder, now lets one peer store it."""
    blob = rejected_objects(1)[0]
    entry = quarantine_id(blob)
    r = requests.post(cluster.url + "/instances", data=blob, timeout=30,
                      headers={"Content-Type": "application/dicom", "Expect": ""})
    assert r.json()["Status"] == "FilteredOut"
    with ThreadPoolExecutor(len(cluster.peer_urls)) as pool:
        answers = list(pool.map(lambda url: requests.post(url + f"/sentinel/quarantine/{entry}/release", timeout=30),
                                cluster.peer_urls))
    assert sorted(a.status_code for a in answers) == [200] + [409] * (len(answers) - 1), [a.text for a in answers]
    instance = next(a for a in answers if a.ok).json()["released"]["instance"]
    assert all(instance in a.json()["error"] for a in answers if not a.ok)


def test_same_rejected_object_from_many_senders_counts_every_attempt(cluster):
    """Concurrent updates from several peers (the quarantine entry's ``attempts``) lose none."""
    blob = rejected_objects(1)[0]
    sends = 12

    def send(_):
        return requests.post(cluster.url + "/instances", data=blob, timeout=30,
                             headers={"Content-Type": "application/dicom", "Expect": ""}).json()["Status"]

    with ThreadPoolExecutor(6) as pool:
        assert set(pool.map(send, range(sends))) == {"FilteredOut"}
    attempts = get(cluster.url, f"/sentinel/quarantine/{quarantine_id(blob)}").json()["attempts"]
    assert attempts == sends


def test_concurrent_alert_changes_from_several_peers_lose_no_history(cluster):
    """Six people act on one alert at once through the three peers: every change accepted (200) is in
    the history or counted among those its bound dropped (Sentinel.AlertHistoryEntries: the first change
    and the latest), each entry kept after the first follows the one before it, and the labels match the
    final state."""
    stored = upload(cluster.peer_urls[0], fresh_copy("CT_small.dcm", PatientBirthDate="20300101",
                                                     StudyDate="20040119"), requests.Session())
    instance = stored["ID"]
    deadline = time.monotonic() + REPORT_TIMEOUT
    while get(cluster.url, f"/sentinel/instances/{instance}").json()["pending"]:
        assert time.monotonic() < deadline, "instance never analysed"
        time.sleep(0.3)
    people = 6  # two on each peer
    start = threading.Barrier(people)

    def act(person: int) -> list[requests.Response]:
        peer = cluster.peer_urls[person % len(cluster.peer_urls)]
        start.wait()
        return [requests.post(peer + f"/sentinel/alerts/{instance}/{('dismiss', 'reopen')[(n + person) % 2]}",
                              data=f'{{"comment": "person {person}, try {n}"}}', timeout=60)
                for n in range(20)]

    with ThreadPoolExecutor(people) as pool:
        answers = [answer for person in pool.map(act, range(people)) for answer in person]
    statuses = [answer.status_code for answer in answers]
    unexpected = [(a.url, a.status_code, a.text) for a in answers if a.status_code not in (200, 409)]
    # Once a 500 in about 30 runs, unexplained: its traceback is in the peer's log, gone with the cluster.
    assert not unexpected, (unexpected, {name: cluster.log(name)[-4000:] for name in ("peer0", "peer1", "peer2")})
    alert = [a for a in get(cluster.url, "/sentinel/alerts?limit=10000").json()["alerts"] if a["id"] == instance][0]
    history = alert["history"]
    assert len(history) + alert["history_dropped"] == statuses.count(200) > 1
    assert history[0]["from"] == "open"
    chained = history if alert["history_dropped"] == 0 else history[1:]
    assert all(later["from"] == earlier["state"] for earlier, later in zip(chained, chained[1:]))
    assert alert["state"] == history[-1]["state"]
    wanted = ["sentinel-dismissed"] if alert["state"] == "dismissed" else ["sentinel-suspicious"]
    for url in cluster.peer_urls:
        assert get(url, f"/instances/{instance}/labels").json() == wanted


def test_archive_scan_is_one_for_the_cluster_and_seen_from_every_peer(cluster):
    """A scan started through one peer runs once, on that peer; the others report its progress, refuse a
    second one, and can cancel it."""
    session = requests.Session()
    for _, blobs in make_series(10):  # enough for the scan to run a few seconds
        for blob in blobs:
            upload(cluster.peer_urls[0], blob, session)
    started = requests.post(cluster.peer_urls[1] + "/sentinel/scan", data=b"{}", timeout=60)
    assert started.status_code == 200, started.text
    assert started.json()["owner"] == "sentinel-peer1"
    assert requests.post(cluster.peer_urls[2] + "/sentinel/scan", data=b"{}", timeout=60).status_code == 409
    seen = get(cluster.peer_urls[0], "/sentinel/scan").json()
    assert seen["id"] == started.json()["id"] and seen["series_total"] == started.json()["series_total"]
    cancelled = requests.post(cluster.peer_urls[2] + "/sentinel/scan/cancel", timeout=60).json()
    assert cancelled["state"] in ("cancelled", "done")
    for url in cluster.peer_urls:
        assert get(url, "/sentinel/scan").json()["state"] == cancelled["state"]
    again = requests.post(cluster.url + "/sentinel/scan", data=json.dumps({"studies": []}), timeout=60)
    assert again.status_code == 200, again.text
    deadline = time.monotonic() + 30
    while get(cluster.peer_urls[0], "/sentinel/scan").json()["state"] != "done":
        assert time.monotonic() < deadline, "an empty scan never finished"
        time.sleep(0.3)


def test_postgresql_restart_during_ingest_loses_nothing_acknowledged(cluster):
    series = make_series(4)
    acknowledged: list[str] = []
    stop = threading.Event()

    def worker(blobs: list[bytes]) -> None:
        session = requests.Session()
        for blob in blobs:
            answer = upload(cluster.url, blob, session, attempts=100)
            assert answer["Status"] in ("Success", "AlreadyStored")
            acknowledged.append(answer["ID"])

    def restarter() -> None:
        time.sleep(0.5)
        cluster.restart_postgres(down_seconds=2, mode="fast")
        stop.set()

    with ThreadPoolExecutor(5) as pool:
        jobs = [pool.submit(worker, blobs) for _, blobs in series] + [pool.submit(restarter)]
        for job in jobs:
            job.result()
    assert stop.is_set()
    # Every peer answers again without operator action, and holds everything acknowledged.
    for i, url in enumerate(cluster.peer_urls):
        cluster.wait_peer(i, timeout=60)
        for instance in acknowledged:
            assert get_once_reconnected(url, f"/instances/{instance}").status_code == 200
    archive = series_ids_by_uid(cluster.url)
    assert all(archive[uid][1] == SLICES for uid, _ in series)
    reports = wait_reports(cluster.url, [archive[uid][0] for uid, _ in series], REPORT_TIMEOUT)
    assert not [r for r in reports.values() if r["pending"]]


def test_series_whose_peer_died_before_it_was_stable_is_still_analysed(cluster, tmp_path):
    (uid, blobs), = make_series(1)
    paths = []
    for i, blob in enumerate(blobs):
        paths.append(tmp_path / f"{i:03d}.dcm")
        paths[-1].write_bytes(blob)
    victim = 2
    assert storescu(cluster.peer_ports[victim][1], paths).returncode == 0
    cluster.kill_peer(victim, signal.SIGKILL)  # before StableAge (2 s) has passed
    cluster.start_peer(victim)
    sid = series_ids_by_uid(cluster.url)[uid][0]
    report = wait_reports(cluster.url, [sid], 15)[sid]
    assert report["instances"].get("pending", 0) == 0  # instances: analysed from the shared change log
    assert not report["pending"], report
