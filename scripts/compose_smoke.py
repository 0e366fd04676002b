"""What scripts/compose-check asserts of the cluster that docker-compose.yml started, through its balancer:

    python3 scripts/compose_smoke.py http://127.0.0.1:18042 14242

Every peer answers behind the balancer; a real file sent over REST and one over C-STORE are stored and
get a Sentinel report, the same from every peer; a DICOM/PE polyglot is refused into quarantine, which
every peer lists. Exits non-zero with the reason on the first failure.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
from realfiles import fresh_copy, with_preamble  # noqa: E402


def wait(what: str, predicate, timeout: float):
    deadline = time.monotonic() + timeout
    while True:
        try:
            value = predicate()
            if value:
                return value
        except requests.RequestException:
            pass
        if time.monotonic() > deadline:
            raise SystemExit(f"compose-check: {what} not within {timeout:.0f} s")
        time.sleep(1)


def main() -> None:
    url, dicom_port = sys.argv[1], int(sys.argv[2])
    session = requests.Session()
    peers = wait("three peers answering behind the balancer", lambda: (lambda names: names if len(names) == 3 else None)(
        {session.get(url + "/system", timeout=5).json()["Name"] for _ in range(12)}), 300)
    print(f"peers behind the balancer: {sorted(peers)}")

    upload = lambda data: session.post(url + "/instances", data=data, timeout=60,
                                       headers={"Content-Type": "application/dicom", "Expect": ""}).json()
    stored = upload(fresh_copy("CT_small.dcm"))
    assert stored["Status"] == "Success", stored
    refused = upload(with_preamble(fresh_copy("CT_small.dcm"), b"MZ\x90\x00"))
    assert refused["Status"] == "FilteredOut", refused
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "mr.dcm"
        path.write_bytes(fresh_copy("MR_small.dcm"))
        sent = subprocess.run(["storescu", "-aec", "ORTHANC", "127.0.0.1", str(dicom_port), str(path)],
                              capture_output=True, text=True, timeout=120)
        assert sent.returncode == 0, sent.stderr
    print("REST upload stored, polyglot refused, C-STORE stored through the balancer")

    instances = session.get(url + "/instances", timeout=30).json()
    assert len(instances) == 2, instances
    for instance in instances:
        report = wait(f"the report of {instance}", lambda: (lambda r: r if not r["pending"] else None)(
            session.get(url + f"/sentinel/instances/{instance}", timeout=30).json()), 180)
        seen = {session.get(url + f"/sentinel/instances/{instance}", timeout=30).json()["verdict"] for _ in range(6)}
        assert seen == {report["verdict"]}, seen
    entries = {len(session.get(url + "/sentinel/quarantine", timeout=30).json()["entries"]) for _ in range(6)}
    assert entries == {1}, entries
    print("reports and quarantine the same from every peer: compose cluster OK")


if __name__ == "__main__":
    main()
