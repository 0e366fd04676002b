"""Load benchmark: concurrent REST and C-STORE clients against Orthanc with and without Sentinel, in one run.

    scripts/runtime python3 bench/load.py [--instances 2000] [--rest-clients 4] [--cstore-clients 4]

Synthetic 512x512 CT slices (bench/ingest.py's, from CT_small.dcm with new UIDs) are split between the
clients; each REST client POSTs its share one by one, each C-STORE client sends its share one storescu
association per instance (so that each has its own latency). Reports per server: throughput, p50/p95/p99
ingest latency, every instance accounted for (Orthanc's instance count), peak RSS, and with Sentinel the
instances waiting for analysis over time and the drain time once the load stops.
"""

from __future__ import annotations

import argparse
import contextlib
import statistics
import sys
import tempfile
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from bench.ingest import synthetic_ct_series  # noqa: E402
from fuzzing import vm_kb  # noqa: E402
from integration.orthanc_server import OrthancServer  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def rest_client(server: OrthancServer, paths: list[Path]) -> list[float]:
    """Upload each file; the latency of each (s). An answer other than Success is an error."""
    latencies = []
    for path in paths:
        data = path.read_bytes()
        start = time.perf_counter()
        r = server.upload(data)
        latencies.append(time.perf_counter() - start)
        if r.status_code != 200 or r.json().get("Status") != "Success":
            raise RuntimeError(f"REST {path.name}: {r.status_code} {r.text[:200]}")
    return latencies


def cstore_client(server: OrthancServer, paths: list[Path]) -> list[float]:
    """C-STORE each file in its own association; the latency of each (s), storescu's start included."""
    latencies = []
    for path in paths:
        start = time.perf_counter()
        done = server.storescu(path)
        latencies.append(time.perf_counter() - start)
        if done.returncode != 0 or "Received Store Response (Success)" not in done.stderr:
            raise RuntimeError(f"C-STORE {path.name}: {done.stderr[-300:]}")
    return latencies


def backlog(server: OrthancServer) -> int:
    """Changes of Orthanc's log the worker has not read yet (each analysis adds its own metadata changes)."""
    return server.get("/sentinel/status").json()["worker"]["backlog"]


def pending(server: OrthancServer) -> int:
    """Instances stored and not analysed yet: Orthanc's instance count minus the worker's analyses (which
    also count the series analyses, so this is a lower bound)."""
    analysed = server.get("/sentinel/status").json()["worker"]["analysed"]
    return max(0, server.get("/statistics").json()["CountInstances"] - analysed)


def load(server: OrthancServer, paths: list[Path], rest_clients: int, cstore_clients: int,
         sentinel: bool) -> dict:
    """Run every client at once on ``server``; their figures (seconds, latencies in s, instances stored,
    peak RSS in kB), and with ``sentinel`` the backlog samples, the drain time (s) and the worker's counts."""
    clients = rest_clients + cstore_clients
    shares = [paths[i::clients] for i in range(clients)]
    samples: list[tuple[float, int, int]] = []  # (s since the start, backlog in changes, pending instances)
    stop = threading.Event()

    def sample() -> None:
        while not stop.is_set():
            samples.append((time.perf_counter() - start, backlog(server), pending(server)))
            stop.wait(0.5)

    start = time.perf_counter()
    with ThreadPoolExecutor(clients + 1) as pool:
        if sentinel:
            sampler = pool.submit(sample)
        futures = {"rest": [pool.submit(rest_client, server, s) for s in shares[:rest_clients]],
                   "cstore": [pool.submit(cstore_client, server, s) for s in shares[rest_clients:]]}
        latencies = {kind: [x for f in fs for x in f.result()] for kind, fs in futures.items()}
        seconds = time.perf_counter() - start
        drain, worker = None, {}
        if sentinel:
            server.wait_for(lambda: backlog(server) == 0, timeout=1800, interval=0.2)
            drain = time.perf_counter() - start - seconds
            stop.set()
            sampler.result()
            worker = server.get("/sentinel/status").json()["worker"]
    stored = server.get("/statistics").json()["CountInstances"]
    return {"seconds": seconds, "latencies": latencies, "stored": stored, "drain": drain, "samples": samples,
            "worker": worker, "peak_kb": vm_kb(server.process.pid, "VmHWM")}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--instances", type=int, default=2000)
    parser.add_argument("--rest-clients", type=int, default=4)
    parser.add_argument("--cstore-clients", type=int, default=4)
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="sentinel-load-"))
    paths = synthetic_ct_series(args.instances, work)
    figures = {}
    with contextlib.ExitStack() as stack:
        for name, sentinel in (("without", False), ("with", True)):
            server = stack.enter_context(OrthancServer(sentinel=sentinel, config_changes={"DicomTcpNoDelay": True}))
            figures[name] = load(server, paths, args.rest_clients, args.cstore_clients, sentinel)

    print(f"# Load: {args.instances} synthetic 512x512 CT slices, {args.rest_clients} REST + "
          f"{args.cstore_clients} C-STORE clients at once")
    print(f"{'':<9} {'inst/s':>8} {'stored':>7} " + " ".join(f"{k + ' ' + q:>11}" for k in ("rest", "cstore")
                                                          for q in ("p50", "p95", "p99")))
    for name, f in figures.items():
        row = " ".join(f"{percentile(f['latencies'][k], q) * 1000:>9.1f}ms" for k in ("rest", "cstore")
                       for q in (0.5, 0.95, 0.99))
        print(f"{name:<9} {args.instances / f['seconds']:>8.1f} {f['stored']:>7} {row}")
    ratio = figures["without"]["seconds"] / figures["with"]["seconds"]
    print(f"Throughput with / without Sentinel: {ratio:.3f}")
    print("Orthanc peak RSS: " + ", ".join(f"{name} {f['peak_kb'] / 1024:.0f} MB" for name, f in figures.items()))
    for name, f in figures.items():
        print(f"Accounted for ({name}): {f['stored']} of {args.instances} sent are stored"
              + ("" if f["stored"] == args.instances else "  <- NOT ALL ACCOUNTED FOR"))
    samples = figures["with"]["samples"]
    print(f"Instances waiting for analysis: max {max(p for _, _, p in samples)}, median "
          f"{statistics.median(p for _, _, p in samples)}; change-log backlog max {max(b for _, b, _ in samples)}; "
          f"drained {figures['with']['drain']:.1f} s after the load")
    worker = figures["with"]["worker"]
    print(f"Worker after the drain: {worker['analysed']} analyses (instances and series), {worker['failures']} failures")
    print("Over time (s: instances waiting / changes unread): "
          + ", ".join(f"{t:.0f}: {p}/{b}" for t, b, p in samples[::max(1, len(samples) // 20)]))


if __name__ == "__main__":
    main()
