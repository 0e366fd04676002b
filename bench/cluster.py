"""Cluster throughput through the balancer (HAProxy), with and without Sentinel, with 1 and 3 peers,
in one run (tests/integration/cluster.py: PostgreSQL index, shared storage, HAProxy).

    scripts/runtime python3 bench/cluster.py [--slices 200] [--clients 6] [--rounds 2]

Each configuration gets a fresh cluster; ``--clients`` REST senders and as many C-STORE senders (one
association each) push synthetic 512x512 CT slices through the balancer at once. Reported: instances
per second acknowledged (ingest), and for Sentinel the time until every instance has its report
(drain). Configurations alternate round by round so that the machine's noise hits all of them.
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import requests

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from bench.ingest import synthetic_ct_series  # noqa: E402
from integration.cluster import Cluster  # noqa: E402


def send_rest(url: str, blobs: list[bytes]) -> None:
    session = requests.Session()
    for blob in blobs:
        r = session.post(url + "/instances", data=blob, timeout=120,
                         headers={"Content-Type": "application/dicom", "Expect": ""})
        r.raise_for_status()


def send_cstore(port: int, paths: list[Path]) -> None:
    result = subprocess.run(["storescu", "-aet", "BENCH", "-aec", "ORTHANC", "127.0.0.1", str(port),
                             *map(str, paths)], capture_output=True, text=True, timeout=600,
                            env={"PATH": "/usr/bin:/bin", "TCP_NODELAY": "1"})
    if result.returncode:
        raise RuntimeError(result.stderr[-2000:])


def run(peers: int, sentinel: bool, files: list[Path], clients: int) -> dict:
    blobs = [p.read_bytes() for p in files]
    # Half the files over REST, half over C-STORE, each half split among `clients` senders.
    half = len(files) // 2
    rest_parts = [blobs[i:half:clients] for i in range(clients)]
    dicom_parts = [files[half + i::clients] for i in range(clients)]
    with Cluster(peers=peers, sentinel=sentinel,
                 config_changes={"StableAge": 2}) as cluster:
        start = time.perf_counter()
        with ThreadPoolExecutor(2 * clients) as pool:
            jobs = [pool.submit(send_rest, cluster.url, part) for part in rest_parts]
            jobs += [pool.submit(send_cstore, cluster.dicom_port, part) for part in dicom_parts if part]
            for job in jobs:
                job.result()
        ingest = time.perf_counter() - start
        stored = requests.get(cluster.url + "/statistics", timeout=30).json()["CountInstances"]
        assert stored == len(files), (stored, len(files))
        drain = None
        if sentinel:
            def backlog() -> int:
                return max(requests.get(u + "/sentinel/status", timeout=30).json()["worker"]["backlog"]
                           for u in cluster.peer_urls)
            while backlog() > 0:
                time.sleep(0.1)
            drain = time.perf_counter() - start - ingest
    return {"peers": peers, "sentinel": sentinel, "ingest_s": ingest, "per_s": len(files) / ingest,
            "drain_s": drain}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--slices", type=int, default=200)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    configs = [(1, False), (1, True), (3, False), (3, True)]
    results: dict[tuple[int, bool], list[dict]] = {c: [] for c in configs}
    with tempfile.TemporaryDirectory() as tmp:
        files = synthetic_ct_series(args.slices, Path(tmp))
        for round_ in range(args.rounds):
            for peers, sentinel in configs if round_ % 2 == 0 else reversed(configs):
                r = run(peers, sentinel, files, args.clients)
                results[(peers, sentinel)].append(r)
                print(json.dumps(r), flush=True)
    summary = {}
    for (peers, sentinel), rs in results.items():
        summary[f"{peers} peer(s), {'with' if sentinel else 'without'} Sentinel"] = {
            "instances/s": round(statistics.median(r["per_s"] for r in rs), 1),
            "drain after ingest (s)": (round(statistics.median(r["drain_s"] for r in rs), 1) if sentinel else None)}
    for peers in (1, 3):
        with_, without = (statistics.median(r["per_s"] for r in results[(peers, s)]) for s in (True, False))
        summary[f"{peers} peer(s): with / without Sentinel"] = round(with_ / without, 3)
    for sentinel in (False, True):
        one, three = (statistics.median(r["per_s"] for r in results[(p, sentinel)]) for p in (1, 3))
        summary[f"3 peers / 1 peer, {'with' if sentinel else 'without'} Sentinel"] = round(three / one, 3)
    print(json.dumps(summary, indent=1))


if __name__ == "__main__":
    main()
