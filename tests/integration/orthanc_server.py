"""A real Orthanc 1.12 with Sentinel, started from the runtime on free ports, for integration tests
and benchmarks. Its configuration is the repository's orthanc.json with ports, folders and the
``"Sentinel"`` section overridden."""

from __future__ import annotations

import copy
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

REPO = Path(__file__).resolve().parents[2]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def deep_update(base: dict, changes: dict) -> dict:
    for key, value in changes.items():
        if isinstance(value, dict) and isinstance(base.get(key), dict):
            deep_update(base[key], value)
        else:
            base[key] = value
    return base


class OrthancServer:
    """One Orthanc process; ``url``, ``dicom_port``, ``log_path``; use as a context manager."""

    def __init__(self, config_changes: dict | None = None, sentinel: bool = True, env: dict | None = None):
        self.workdir = Path(tempfile.mkdtemp(prefix="orthanc-test-"))
        self.http_port, self.dicom_port = free_port(), free_port()
        self.url = f"http://127.0.0.1:{self.http_port}"
        config = json.loads((REPO / "orthanc.json").read_text())
        storage = str(self.workdir / "db")
        deep_update(config, {
            "Name": f"test-{self.http_port}", "HttpPort": self.http_port, "DicomPort": self.dicom_port,
            "StorageDirectory": storage, "IndexDirectory": storage, "StableAge": 1,
            "Python": {"Path": str(REPO / "sentinel.py")},
            "Sentinel": {"QuarantineDirectory": str(self.workdir / "quarantine"),
                         "NumbaCacheDirectory": str(REPO / ".runtime" / "numba-cache"),
                         "WorkerPollSeconds": 0.5},
        })
        if not sentinel:
            config.pop("Plugins")
            config.pop("Sentinel")
        deep_update(config, copy.deepcopy(config_changes or {}))
        self.config = config
        self.config_path = self.workdir / "orthanc.json"
        self.config_path.write_text(json.dumps(config, indent=1))
        self.log_path = self.workdir / "orthanc.log"
        self.env = {**os.environ, **(env or {})}
        self.process: subprocess.Popen | None = None
        self.session = requests.Session()

    def start(self, timeout: float = 180) -> "OrthancServer":
        # Generous: the first start of a fresh clone compiles every numba kernel before Orthanc answers,
        # which takes a minute on a busy 2-core machine.
        log = open(self.log_path, "ab")
        self.process = subprocess.Popen(["Orthanc", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT,
                                        env=self.env, start_new_session=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"Orthanc exited with {self.process.returncode}:\n{self.log()[-3000:]}")
            try:
                # 401: up, with authentication enabled
                if self.session.get(self.url + "/system", timeout=1).status_code in (200, 401):
                    return self
            except requests.ConnectionError:
                pass
            time.sleep(0.1)
        self.stop()
        raise RuntimeError(f"Orthanc did not answer within {timeout} s:\n{self.log()[-3000:]}")

    def stop(self) -> int | None:
        if self.process and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()
        return self.process.returncode if self.process else None

    def run_to_exit(self, timeout: float = 60) -> tuple[int, str]:
        """Start and wait for Orthanc to stop by itself (e.g. refused configuration)."""
        with open(self.log_path, "ab") as log:
            rc = subprocess.run(["Orthanc", str(self.config_path)], stdout=log, stderr=subprocess.STDOUT,
                                env=self.env, timeout=timeout).returncode
        text = self.log()
        shutil.rmtree(self.workdir, ignore_errors=True)
        return rc, text

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def __enter__(self) -> "OrthancServer":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    # -- REST and DICOM clients ----------------------------------------------------------------------

    def get(self, path: str, **kw: Any) -> requests.Response:
        return self.session.get(self.url + path, timeout=60, **kw)

    def post(self, path: str, data: Any = None, **kw: Any) -> requests.Response:
        return self.session.post(self.url + path, data=data, timeout=120, **kw)

    def put(self, path: str, data: Any = b"", **kw: Any) -> requests.Response:
        return self.session.put(self.url + path, data=data, timeout=60, **kw)

    def delete(self, path: str, **kw: Any) -> requests.Response:
        return self.session.delete(self.url + path, timeout=60, **kw)

    def upload(self, data: bytes) -> requests.Response:
        """POST /instances, as a REST client would."""
        return self.post("/instances", data, headers={"Content-Type": "application/dicom", "Expect": ""})

    def storescu(self, *paths: str | Path, aet: str = "STORESCU") -> subprocess.CompletedProcess:
        """C-STORE with dcmtk's storescu (a real DIMSE client), one association for all files; ``-R``
        proposes each file's own transfer syntax, so compressed files go as they are."""
        return subprocess.run(["storescu", "-v", "-R", "-aet", aet, "-aec", "ORTHANC",
                               "127.0.0.1", str(self.dicom_port), *map(str, paths)],
                              capture_output=True, text=True, errors="replace", timeout=300,
                              env={**self.env, "TCP_NODELAY": "1"})

    def wait_for(self, predicate, timeout: float = 60, interval: float = 0.2) -> Any:
        deadline = time.monotonic() + timeout
        while True:
            value = predicate()
            if value:
                return value
            if time.monotonic() > deadline:
                raise TimeoutError("condition not met in time")
            time.sleep(interval)

    def report(self, level: str, resource_id: str, timeout: float = 60) -> dict:
        """The Sentinel report of a resource once no instance under it is pending."""
        def done():
            r = self.get(f"/sentinel/{level}/{resource_id}")
            r.raise_for_status()
            body = r.json()
            return body if not body["pending"] else None
        return self.wait_for(done, timeout)
