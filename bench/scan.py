"""Archive scan benchmark: scan rate per peer, and how the cost per instance changes as the archive grows.

    scripts/runtime python3 bench/scan.py [--sizes 1000 10000 100000] [--probe 1000] [--index sqlite|postgresql]
                                          [--transfer-syntax UID]

One Orthanc with Sentinel installed but ``Enabled`` false (so its worker does not analyse the uploads: the
scan is the only analysis running) is filled with small real instances: pydicom's CT_small.dcm (128 x 128,
16-bit), 20 copies to a series (one series per study, one study per patient), each with new UIDs, its
own slice position and instance number (a regular 5 mm stack) and its own pixel noise (+-2 HU), so that
the series is what a scanner writes, not 20 copies of one image, which the cross-slice forensics would
rightly find suspicious. At each archive size a probe, the
newest ``--probe`` instances' studies (``POST /sentinel/scan {"studies": [...]}``), is scanned twice:

- first scan: never analysed, so every instance and series check runs (header, consistency lookups in
  the index, pixels, forensics, seal, signatures; the series checks), as for an archive stored before
  Sentinel was enabled;
- re-scan (best of three): nothing changed, so each instance costs reading its file, hashing it and
  comparing with its report's basis, as a periodic integrity scan of an analysed archive does.

``--transfer-syntax`` has Orthanc store the archive in that transfer syntax (``IngestTranscoding``), for
instance JPEG-LS Lossless (1.2.840.10008.1.2.4.80) as many archives are kept: every frame is then
decoded by Orthanc before its checks. ``--index postgresql`` runs the peer on a PostgreSQL index (tests/integration/cluster.py, one peer),
as a large archive should be. Rates in instances/s, on one peer; target >= 200 small instances/s, and a cost per instance that stays
flat as the archive grows. The machine's other load shows in absolute rates, far less in the CPU time
per instance (user + system, from /proc) of the Orthanc process and, on PostgreSQL, of the database
server's processes, reported beside them.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import re
import sys
import threading
import time
import uuid
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Iterator, NamedTuple

import numpy as np
import pydicom
import requests

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from integration.cluster import Cluster  # noqa: E402
from integration.orthanc_server import OrthancServer  # noqa: E402
from realfiles import pydicom_file  # noqa: E402

SERIES_SIZE = 20
# Placeholder UIDs (2.25 form, 44 characters: even, so no padding): the template is written once with
# these and each copy gets new UIDs of the same length by byte replacement, far cheaper than pydicom.
# Each placeholder occurs in CT_small's header only where it was put (a shorter InstanceNumber "9999"
# was also in its Table Height 133.699997), and all are replaced in one pass, so that a value written
# is never taken for a placeholder: the former chain of replacements put the InstanceNumber into the
# 0.3% of new UIDs that held "9999", which split a series into 20 studies.
PLACEHOLDERS = {"study": "2.25.1" + "1" * 38, "series": "2.25.2" + "2" * 38, "sop": "2.25.3" + "3" * 38,
                "patient": "SCANBENCH-PATIENT-0000", "z": "-999.999999", "number": "99999999"}
PLACEHOLDER = re.compile(b"|".join(re.escape(value.encode()) for value in PLACEHOLDERS.values()))
SLICE_SPACING_MM = 5.0  # CT_small's Slice Thickness (0018,0050)


def template() -> bytes:
    """CT_small.dcm with placeholder Study, Series and SOP Instance UIDs, Patient ID, slice position
    (z of ImagePositionPatient (0020,0032), SliceLocation (0020,1041)) and InstanceNumber (0020,0013),
    as Part 10 bytes whose last bytes are the pixel data."""
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = PLACEHOLDERS["study"], PLACEHOLDERS["series"]
    ds.PatientID = PLACEHOLDERS["patient"]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = PLACEHOLDERS["sop"]
    ds.ImagePositionPatient = [str(v) for v in ds.ImagePositionPatient[:2]] + [PLACEHOLDERS["z"]]
    ds.SliceLocation, ds.InstanceNumber = PLACEHOLDERS["z"], PLACEHOLDERS["number"]
    del ds[0xFFFCFFFC]  # its trailing padding: the pixel data ends the file
    path = Path("/tmp/sentinel-scan-template.dcm")
    ds.save_as(path, write_like_original=False)
    return path.read_bytes()


def fixed_length_uid(length: int) -> str:
    """A fresh 2.25 UID padded to ``length`` characters (so that every element length stays valid)."""
    return "2.25." + str(uuid.uuid4().int).rjust(length - 5, "1")[:length - 5]


def make_series(blob: bytes) -> list[bytes]:
    """One new series (in a new study of a new patient, as in an archive) of SERIES_SIZE slices made
    from the template: its header's placeholders replaced, fresh noise added to its pixels."""
    pixel_bytes = 128 * 128 * 2
    header, pixels = blob[:-pixel_bytes], np.frombuffer(blob[-pixel_bytes:], "<i2")
    same = {"study": fixed_length_uid(len(PLACEHOLDERS["study"])), "series": fixed_length_uid(len(PLACEHOLDERS["series"])),
            "patient": f"SCANBENCH-{uuid.uuid4().hex[:12].upper()}"}
    rng = np.random.default_rng()
    files = []
    for k in range(SERIES_SIZE):
        values = {**same, "sop": fixed_length_uid(len(PLACEHOLDERS["sop"])), "z": f"{k * SLICE_SPACING_MM:011.6f}",
                  "number": f"{k + 1:08d}"}
        by_placeholder = {PLACEHOLDERS[name].encode(): value.encode() for name, value in values.items()}
        files.append(PLACEHOLDER.sub(lambda match: by_placeholder[match.group()], header)
                     + (pixels + rng.integers(-2, 3, pixels.size, dtype=np.int16)).astype("<i2").tobytes())
    return files


def fill(server: OrthancServer | Peer, blob: bytes, count: int, threads: int = 6) -> list[str]:
    """Upload ``count`` instances in new series; returns their study ids, in upload order."""
    local = threading.local()

    def send(_: int) -> str:
        session = getattr(local, "session", None) or requests.Session()
        local.session = session
        study = ""
        for data in make_series(blob):
            r = session.post(server.url + "/instances", data=data, timeout=60,
                             headers={"Content-Type": "application/dicom", "Expect": ""})
            r.raise_for_status()
            study = r.json()["ParentStudy"]
        return study

    with ThreadPoolExecutor(threads) as pool:
        return list(pool.map(send, range(count // SERIES_SIZE)))


def cpu_seconds(pids: list[int]) -> tuple[float, float]:
    """CPU time (user + system, s) used so far by the processes ``pids`` themselves, and by all their
    descendants, live or ended (the scan's fork server and worker processes, PostgreSQL's backends),
    from /proc/PID/stat (fields 4 ppid, 14 utime, 15 stime, 16 cutime, 17 cstime: an ended process
    counts in its parent's cutime and cstime once reaped)."""
    stats: dict[int, tuple[int, int, int]] = {}  # pid -> (ppid, own ticks, ended children's ticks)
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as f:
                fields = f.read().rsplit(")", 1)[1].split()
        except OSError:  # ended meanwhile
            continue
        stats[int(entry)] = (int(fields[1]), int(fields[11]) + int(fields[12]), int(fields[13]) + int(fields[14]))

    def root_of(pid: int) -> int | None:
        while pid in stats and pid not in pids:
            pid = stats[pid][0]
        return pid if pid in pids else None

    own = children = 0
    for pid, (_, ticks, ended) in stats.items():
        if pid in pids:
            own += ticks
            children += ended
        elif root_of(pid) is not None:
            children += ticks + ended
    return own / os.sysconf("SC_CLK_TCK"), children / os.sysconf("SC_CLK_TCK")


def scan(server: OrthancServer | Peer, body: dict) -> dict:
    """Run one scan to its end; its final summary."""
    r = server.session.post(server.url + "/sentinel/scan", json=body, timeout=600)
    r.raise_for_status()
    while True:
        state = server.get("/sentinel/scan").json()
        if state["state"] != "running":
            return state
        time.sleep(0.5)


class Peer:
    """The one peer of a cluster on a PostgreSQL index, with what the bench uses of OrthancServer."""

    def __init__(self, url: str, pid: int, database_pid: int):
        self.url = url
        self.session = requests.Session()
        self.pid, self.database_pid = pid, database_pid

    def get(self, path: str) -> requests.Response:
        return self.session.get(self.url + path, timeout=60)


@contextlib.contextmanager
def orthanc_peer(index: str, config: dict) -> Iterator[OrthancServer | Peer]:
    if index == "sqlite":
        with OrthancServer(config) as server:
            server.pid, server.database_pid = server.process.pid, None
            yield server
    else:
        with Cluster(peers=1, config_changes=config) as cluster:
            yield Peer(cluster.peer_urls[0], cluster.pids["peer0"], cluster.pids["postgresql"])


class ScanCost(NamedTuple):
    """CPU time per instance (ms) of one scan: Orthanc's process, its worker processes, the database
    server (0 on SQLite)."""

    orthanc_ms: float
    processes_ms: float
    database_ms: float


def scan_with_cpu(server: OrthancServer | Peer, body: dict) -> tuple[dict, ScanCost]:
    """:func:`scan`, and what it cost."""
    database = [server.database_pid] if server.database_pid else []
    before = cpu_seconds([server.pid]), sum(cpu_seconds(database))
    state = scan(server, body)
    after = cpu_seconds([server.pid]), sum(cpu_seconds(database))
    per_instance = 1000 / max(state["instances_done"], 1)
    return state, ScanCost((after[0][0] - before[0][0]) * per_instance, (after[0][1] - before[0][1]) * per_instance,
                           (after[1] - before[1]) * per_instance)


def first_scan(server: OrthancServer | Peer, studies: list[str], processes: int | None) -> tuple[dict, ScanCost]:
    """The first scan of ``studies`` (never analysed), with ``processes`` worker processes (None: the
    peer's default, one per core); it must analyse every instance."""
    body = {"studies": studies} if processes is None else {"studies": studies, "processes": processes}
    state, cost = scan_with_cpu(server, body)
    assert state["instances_analysed"] == state["instances_done"] == len(studies) * SERIES_SIZE, state
    assert state["series_failed"] == state["series_deleted"] == 0, state
    return state, cost


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--probe", type=int, default=500, help="instances in each probe scanned at every size")
    parser.add_argument("--index", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--processes", type=int, help="worker processes of the scan (default: the peer's, one per core)")
    parser.add_argument("--transfer-syntax", help="the transfer syntax Orthanc stores the archive in (default: as sent, "
                        "Explicit VR Little Endian)")
    args = parser.parse_args()
    blob = template()
    studies: list[str] = []
    rows = []
    count = args.probe // SERIES_SIZE
    config = {"Sentinel": {"Enabled": False}, "MaximumStorageCacheSize": 0}
    if args.transfer_syntax:
        config["IngestTranscoding"] = args.transfer_syntax
    with orthanc_peer(args.index, config) as server:
        for turn, size in enumerate(sorted(args.sizes)):
            started = time.monotonic()
            studies += fill(server, blob, max(size, 2 * args.probe + SERIES_SIZE) - len(studies) * SERIES_SIZE)
            upload_s = time.monotonic() - started
            stored = server.get("/statistics").json()["CountInstances"]
            if turn == 0:
                # The fork server of the worker processes starts with a peer's first scan and stays: a
                # one-off cost, paid here by the oldest study, outside the probes.
                state, cost = scan_with_cpu(server, {"studies": studies[:1]})
                print(f"first scan of the peer (one study): {state['elapsed_s']:.1f} s, CPU of the worker "
                      f"processes and their fork server {cost.processes_ms * state['instances_done'] / 1000:.1f} s",
                      flush=True)
            # Two probes of never-analysed studies, side by side (in turns, first one then the other):
            # with the worker processes and with every check in the scan's thread.
            pooled_probe, thread_probe = studies[-count:], studies[-2 * count:-count]
            runs = [("processes", pooled_probe, args.processes), ("thread", thread_probe, 0)]
            done = {name: first_scan(server, probe, processes) for name, probe, processes in runs[::1 - 2 * (turn % 2)]}
            (pooled, pooled_cost), (thread, thread_cost) = done["processes"], done["thread"]
            # Best of three: the machine's other load only ever makes a scan slower.
            again = max((scan(server, {"studies": pooled_probe}) for _ in range(3)), key=lambda state: state["rate_per_s"])
            assert again["instances_analysed"] == 0, again
            rows.append((stored, pooled["rate_per_s"], thread["rate_per_s"], again["rate_per_s"], pooled_cost, thread_cost))
            verdicts = Counter(server.get(f"/sentinel/studies/{study}").json()["verdict"]
                               for study in pooled_probe + thread_probe)
            print(f"archive {stored:>7} instances (uploaded in {upload_s:6.1f} s, load {os.getloadavg()[0]:.1f}): "
                  f"first scan of {pooled['instances_done']} with worker processes at {pooled['rate_per_s']:.1f}/s "
                  f"({pooled['instances_in_processes']} checked in them; CPU per instance: Orthanc "
                  f"{pooled_cost.orthanc_ms:.1f} ms, processes {pooled_cost.processes_ms:.1f} ms, database "
                  f"{pooled_cost.database_ms:.1f} ms); of {thread['instances_done']} in the scan's thread at "
                  f"{thread['rate_per_s']:.1f}/s (CPU per instance: Orthanc {thread_cost.orthanc_ms:.1f} ms, database "
                  f"{thread_cost.database_ms:.1f} ms); re-scan at {again['rate_per_s']:.1f}/s; "
                  f"verdicts of the probes' studies: {dict(verdicts)}", flush=True)
    print("\narchive size | first scan, processes (instances/s) | in the thread | ratio | cost vs smallest "
          "| CPU ms/instance, processes (Orthanc + processes + database) | in the thread (Orthanc + database) "
          "| re-scan (instances/s) | cost vs smallest")
    for stored, pooled_rate, thread_rate, again_rate, pooled_cost, thread_cost in rows:
        print(f"{stored:>12} | {pooled_rate:>35.1f} | {thread_rate:>13.1f} | {pooled_rate / thread_rate:>5.2f} | "
              f"{rows[0][1] / pooled_rate:>15.2f}x | {pooled_cost.orthanc_ms:>5.1f} + {pooled_cost.processes_ms:.1f} + "
              f"{pooled_cost.database_ms:<38.1f} | {thread_cost.orthanc_ms:>5.1f} + {thread_cost.database_ms:<27.1f} | "
              f"{again_rate:>21.1f} | {rows[0][3] / again_rate:>15.2f}x")


if __name__ == "__main__":
    main()
