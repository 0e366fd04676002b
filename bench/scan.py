"""Archive scan benchmark: scan rate per peer, and how the cost per instance changes as the archive grows.

    scripts/runtime python3 bench/scan.py [--sizes 1000 10000 100000] [--probe 1000]

One Orthanc with Sentinel installed but ``Enabled`` false (so its worker does not analyse the uploads: the
scan is the only analysis running) is filled with small real instances: pydicom's CT_small.dcm (128 x 128,
16-bit), each copy with new UIDs, 20 to a series, one series per study. At each archive size the same
probe, the newest ``--probe`` instances' studies, is scanned (``POST /sentinel/scan {"studies": [...]}``):
its rate in instances/s shows whether the cost per instance grows with the archive (target: flat). At
the two smallest sizes the whole archive is scanned too (rate target >= 200 small instances/s per peer).
A scan runs every instance check (header, consistency lookups in the index, pixels, seal) and each series
check, on one peer; the machine's other load shows in absolute rates, not in the ratio between sizes.
"""

from __future__ import annotations

import argparse
import sys
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pydicom
import requests

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from integration.orthanc_server import OrthancServer  # noqa: E402
from realfiles import pydicom_file  # noqa: E402

SERIES_SIZE = 20
# Placeholder UIDs (2.25 form, 44 characters: even, so no padding): the template is written once with
# these and each copy gets new UIDs of the same length by byte replacement, far cheaper than pydicom.
PLACEHOLDERS = {"study": "2.25.1" + "1" * 38, "series": "2.25.2" + "2" * 38, "sop": "2.25.3" + "3" * 38}


def template() -> bytes:
    """CT_small.dcm with placeholder Study, Series and SOP Instance UIDs, as Part 10 bytes."""
    ds = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    ds.StudyInstanceUID, ds.SeriesInstanceUID = PLACEHOLDERS["study"], PLACEHOLDERS["series"]
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = PLACEHOLDERS["sop"]
    path = Path("/tmp/sentinel-scan-template.dcm")
    ds.save_as(path, write_like_original=False)
    return path.read_bytes()


def fixed_length_uid(length: int) -> str:
    """A fresh 2.25 UID padded to ``length`` characters (so that every element length stays valid)."""
    return "2.25." + str(uuid.uuid4().int).rjust(length - 5, "1")[:length - 5]


def make_series(blob: bytes) -> list[bytes]:
    """One new series (in a new study) of SERIES_SIZE copies of the template."""
    study = fixed_length_uid(len(PLACEHOLDERS["study"]))
    series = fixed_length_uid(len(PLACEHOLDERS["series"]))
    base = blob.replace(PLACEHOLDERS["study"].encode(), study.encode()).replace(
        PLACEHOLDERS["series"].encode(), series.encode())
    return [base.replace(PLACEHOLDERS["sop"].encode(), fixed_length_uid(len(PLACEHOLDERS["sop"])).encode())
            for _ in range(SERIES_SIZE)]


def fill(server: OrthancServer, blob: bytes, count: int, threads: int = 6) -> list[str]:
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


def scan(server: OrthancServer, body: dict) -> dict:
    """Run one scan to its end; its final summary."""
    r = server.session.post(server.url + "/sentinel/scan", json=body, timeout=600)
    r.raise_for_status()
    while True:
        state = server.get("/sentinel/scan").json()
        if state["state"] != "running":
            return state
        time.sleep(0.5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 100000])
    parser.add_argument("--probe", type=int, default=1000, help="instances in the probe scanned at every size")
    args = parser.parse_args()
    blob = template()
    studies: list[str] = []
    rows = []
    config = {"Sentinel": {"Enabled": False}, "MaximumStorageCacheSize": 0}
    with OrthancServer(config) as server:
        for size in sorted(args.sizes):
            started = time.monotonic()
            studies += fill(server, blob, size - len(studies) * SERIES_SIZE)
            upload_s = time.monotonic() - started
            stored = server.get("/statistics").json()["CountInstances"]
            # Best of three: the machine's other load varies between sizes, and only makes a scan slower.
            probe = max((scan(server, {"studies": studies[-(args.probe // SERIES_SIZE):]}) for _ in range(3)),
                        key=lambda state: state["rate_per_s"])
            whole = scan(server, {}) if size <= sorted(args.sizes)[1 if len(args.sizes) > 1 else 0] else None
            rows.append((size, stored, upload_s, probe, whole))
            print(f"archive {stored:>7} instances (uploaded in {upload_s:6.1f} s): probe "
                  f"{probe['instances_done']} instances at {probe['rate_per_s']:7.1f}/s"
                  + (f"; whole archive {whole['instances_done']} at {whole['rate_per_s']:7.1f}/s" if whole else ""),
                  flush=True)
    first = rows[0][3]["rate_per_s"]
    print("\narchive size | probe rate (instances/s) | cost per instance vs smallest archive | whole-archive rate")
    for size, stored, _, probe, whole in rows:
        print(f"{stored:>12} | {probe['rate_per_s']:>24.1f} | {first / probe['rate_per_s']:>37.2f}x | "
              f"{whole['rate_per_s'] if whole else '-':>18}")


if __name__ == "__main__":
    main()
