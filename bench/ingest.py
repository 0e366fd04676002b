"""Ingest benchmark: a real Orthanc with and without Sentinel, side by side in one run.

    scripts/runtime python3 bench/ingest.py [--slices 300] [--rounds 3]

Sends pydicom's real test files and synthetic 512x512 CT slices (built from CT_small.dcm's header) over
REST and C-STORE, alternating the two servers round by round so that the machine's noise hits both, and
reports: throughput ratio (with / without Sentinel; target >= 0.90), Sentinel's ingest-path time per
instance as measured inside the callback (target p95 <= 2 ms), and Orthanc's start-up time with and
without Sentinel (numba cache warm and cold). Ratios matter; absolute times depend on the machine.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pydicom
from pydicom.uid import generate_uid

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from integration.orthanc_server import OrthancServer  # noqa: E402
from realfiles import all_pydicom_files, pydicom_file  # noqa: E402


def synthetic_ct_series(count: int, folder: Path) -> list[Path]:
    """``count`` 512x512 16-bit CT slices, 1 mm apart, one series, written to ``folder``."""
    template = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    rng = np.random.default_rng(0)
    study, series = generate_uid(), generate_uid()
    yy, xx = np.mgrid[-256:256, -256:256]
    body = (xx ** 2 + yy ** 2) < 200 ** 2
    paths = []
    for i in range(count):
        ds = template.copy()
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.InstanceNumber = i + 1
        ds.ImagePositionPatient = [-256.0, -256.0, float(i)]
        ds.SliceLocation = float(i)
        ds.Rows = ds.Columns = 512
        pixels = np.where(body, 1024 + 40, 0) + rng.normal(0, 10, (512, 512))
        ds.PixelData = pixels.clip(0, 4095).astype(np.int16).tobytes()
        path = folder / f"ct{i:04d}.dcm"
        ds.save_as(path, write_like_original=False)
        paths.append(path)
    return paths


def rest_ingest(server: OrthancServer, blobs: list[bytes]) -> float:
    """Seconds to upload every blob, one after the other, over REST (Orthanc may refuse a few real
    files itself: those count as sent, like any answer)."""
    start = time.perf_counter()
    for blob in blobs:
        server.upload(blob)
    return time.perf_counter() - start


def drain_seconds(server: OrthancServer) -> float:
    """Seconds until Sentinel's background worker has analysed everything stored so far."""
    start = time.perf_counter()
    server.wait_for(lambda: server.get("/sentinel/status").json()["worker"]["backlog"] == 0, timeout=600,
                    interval=0.05)
    return time.perf_counter() - start


def cstore_ingest(server: OrthancServer, paths: list[Path]) -> float:
    """Seconds to C-STORE every file in one association with storescu."""
    start = time.perf_counter()
    result = server.storescu(*paths)
    if result.returncode != 0:
        raise RuntimeError(result.stderr[-2000:])
    return time.perf_counter() - start


def clear(server: OrthancServer) -> None:
    for patient in server.get("/patients").json():
        server.delete(f"/patients/{patient}")


def startup_seconds(sentinel: bool, numba_cache: Path | None) -> float:
    changes = {"Sentinel": {"NumbaCacheDirectory": str(numba_cache)}} if sentinel and numba_cache else None
    start = time.perf_counter()
    with OrthancServer(changes, sentinel=sentinel):
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=300)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--sentinel", type=json.loads, default={},
                        help='overrides of the "Sentinel" section, e.g. \'{"WorkerShareUnderLoad": 0.05}\'')
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sentinel-bench-"))
    ct_paths = synthetic_ct_series(args.slices, work)
    ct_blobs = [p.read_bytes() for p in ct_paths]
    real_blobs = []
    for path in all_pydicom_files():
        blob = path.read_bytes()
        try:
            pydicom.dcmread(io.BytesIO(blob), stop_before_pixels=True).SOPInstanceUID
        except Exception:
            continue
        real_blobs.append(blob)

    with contextlib.ExitStack() as stack:
        servers = {"without": stack.enter_context(OrthancServer(sentinel=False)),
                   "with": stack.enter_context(OrthancServer({"Sentinel": args.sentinel}))}
        drain: list[float] = []
        times: dict[str, dict[str, list[float]]] = {k: {"rest-ct": [], "rest-real": [], "cstore-ct": []}
                                                    for k in servers}
        for _ in range(args.rounds):
            for name, server in servers.items():
                clear(server)
                times[name]["rest-ct"].append(rest_ingest(server, ct_blobs))
                clear(server)
                times[name]["rest-real"].append(rest_ingest(server, real_blobs))
                clear(server)
                times[name]["cstore-ct"].append(cstore_ingest(server, ct_paths))
                if name == "with":
                    drain.append(drain_seconds(server))
        status = servers["with"].get("/sentinel/status").json()

    print(f"# Ingest benchmark: {args.slices} synthetic 512x512 CT slices, {len(real_blobs)} real pydicom files,"
          f" {args.rounds} rounds, median of rounds")
    print(f"{'workload':<12} {'without (inst/s)':>17} {'with (inst/s)':>14} {'ratio':>7}")
    counts = {"rest-ct": len(ct_blobs), "rest-real": len(real_blobs), "cstore-ct": len(ct_paths)}
    for workload, n in counts.items():
        rate = {k: n / statistics.median(times[k][workload]) for k in servers}
        print(f"{workload:<12} {rate['without']:>17.1f} {rate['with']:>14.1f} {rate['with'] / rate['without']:>7.3f}")
    print(f"Background analysis still running after the last C-STORE: {statistics.median(drain):.2f} s"
          f" (median of rounds; it overlaps ingest otherwise)")
    latency = status["ingest"]["latency"]
    print(f"Sentinel ingest-path time per instance (last {latency['count']}): p50 {latency['p50_ms']} ms,"
          f" p95 {latency['p95_ms']} ms, p99 {latency['p99_ms']} ms, max {latency['max_ms']} ms")

    cold = work / "numba-cold"
    startup = {"without Sentinel": startup_seconds(False, None),
               "with Sentinel, numba cache cold": startup_seconds(True, cold),
               "with Sentinel, numba cache warm": startup_seconds(True, cold)}
    for label, seconds in startup.items():
        print(f"Orthanc start-up {label}: {seconds:.2f} s")
    print(json.dumps({"times_s": times, "startup_s": startup, "latency": latency}))
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
