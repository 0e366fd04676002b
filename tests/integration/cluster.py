"""A local Orthanc cluster, run inside the Debian trixie runtime: one PostgreSQL server holding the
shared index (orthanc-postgresql's index plugin), one shared storage folder and one shared Sentinel
quarantine folder, N Orthanc peers each with Sentinel, and HAProxy balancing HTTP (mode http) and
DICOM (mode tcp) over the peers.

Used by ``scripts/cluster`` (start / stop / status, state in ``.runtime/cluster``), by
``tests/integration/test_cluster.py`` and by ``bench/cluster.py``:

    python3 tests/integration/cluster.py start [--peers 3] [--http-port 8042] [--dicom-port 4242] [--dir D]

Every process runs in its own session (``setsid``) with its output in a log file under the cluster's
folder, so the processes outlive the command that started them; their pids are in ``cluster.json``.
"""

from __future__ import annotations

import argparse
import copy
import glob
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import requests

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from integration.orthanc_server import REPO, deep_update, free_port  # noqa: E402

PG_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPostgreSQLIndex.so"
PYTHON_PLUGIN = "/usr/share/orthanc/plugins/libOrthancPython.so"
DATABASE = "orthanc"


def pg_bin(name: str) -> str:
    found = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"))
    if not found:
        raise RuntimeError("PostgreSQL is not installed: run inside the runtime (scripts/runtime)")
    return found[-1]


def alive(pid: int | None) -> bool:
    if not pid:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (our own child, killed, not yet reaped) is not alive.
    try:
        return Path(f"/proc/{pid}/stat").read_text().split(")")[-1].split()[0] != "Z"
    except OSError:
        return False


def wait_http(url: str, timeout: float, process: subprocess.Popen | None = None, log: Path | None = None) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            tail = log.read_text(errors="replace")[-3000:] if log else ""
            raise RuntimeError(f"process exited with {process.returncode}:\n{tail}")
        try:
            if requests.get(url, timeout=1).status_code in (200, 401):
                return
        except requests.RequestException:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"{url} did not answer within {timeout} s")


class Cluster:
    """The cluster's processes and ports. ``url`` and ``dicom_port`` are the balancer's;
    ``peer_urls[i]`` reach peer i directly. State is saved in ``<workdir>/cluster.json``."""

    def __init__(self, workdir: str | Path | None = None, peers: int = 3, http_port: int | None = None,
                 dicom_port: int | None = None, pg_port: int | None = None, sentinel: bool = True,
                 bind: str = "127.0.0.1", config_changes: dict | None = None):
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="orthanc-cluster-")).resolve()
        self.peers = peers
        self.bind = bind
        self.http_port = http_port or free_port()
        self.dicom_port = dicom_port or free_port()
        self.pg_port = pg_port or free_port()
        self.peer_ports = [(free_port(), free_port()) for _ in range(peers)]
        self.sentinel = sentinel
        self.config_changes = config_changes or {}
        self.pids: dict[str, int] = {}
        self.processes: dict[str, subprocess.Popen] = {}

    # -- state --------------------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.http_port}"

    @property
    def peer_urls(self) -> list[str]:
        return [f"http://127.0.0.1:{http}" for http, _ in self.peer_ports]

    def save(self) -> None:
        state = {"peers": self.peers, "http_port": self.http_port, "dicom_port": self.dicom_port,
                 "pg_port": self.pg_port, "peer_ports": self.peer_ports, "pids": self.pids,
                 "sentinel": self.sentinel, "bind": self.bind}
        (self.workdir / "cluster.json").write_text(json.dumps(state, indent=1))

    @classmethod
    def load(cls, workdir: str | Path) -> "Cluster":
        state = json.loads((Path(workdir) / "cluster.json").read_text())
        cluster = cls(workdir, state["peers"], state["http_port"], state["dicom_port"], state["pg_port"],
                      state["sentinel"], state["bind"])
        cluster.peer_ports = [tuple(p) for p in state["peer_ports"]]
        cluster.pids = state["pids"]
        return cluster

    def _spawn(self, name: str, argv: list[str], user: str | None = None) -> subprocess.Popen:
        log = open(self.workdir / f"{name}.log", "ab")
        as_user = {"user": user, "group": user, "extra_groups": []} if user else {}
        process = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                                   start_new_session=True, cwd=self.workdir if not user else "/", **as_user)
        log.close()
        self.processes[name] = process
        self.pids[name] = process.pid
        self.save()
        return process

    def log(self, name: str) -> str:
        path = self.workdir / f"{name}.log"
        return path.read_text(errors="replace") if path.exists() else ""

    # -- PostgreSQL ---------------------------------------------------------------------------------

    @property
    def pg_data(self) -> Path:
        return self.workdir / "postgresql"

    def start_postgres(self) -> None:
        if not (self.pg_data / "PG_VERSION").exists():
            self.pg_data.mkdir(mode=0o700, exist_ok=True)
            shutil.chown(self.pg_data, "postgres", "postgres")
            subprocess.run([pg_bin("initdb"), "-D", str(self.pg_data), "-U", "postgres", "--auth=trust",
                            "-E", "UTF8", "--no-instructions"], check=True, capture_output=True, cwd="/",
                           user="postgres", group="postgres", extra_groups=[])
            with open(self.pg_data / "postgresql.conf", "a") as conf:
                conf.write("\n# scripts/cluster\nlisten_addresses = '127.0.0.1'\nunix_socket_directories = ''\n"
                           "max_connections = 300\nshared_buffers = 256MB\n")
        self._spawn("postgresql", [pg_bin("postgres"), "-D", str(self.pg_data), "-p", str(self.pg_port)],
                    user="postgres")
        self.wait_postgres()
        exists = self.psql(f"SELECT 1 FROM pg_database WHERE datname = '{DATABASE}'").strip()
        if exists != "1":
            self.psql(f"CREATE DATABASE {DATABASE}")

    def wait_postgres(self, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while subprocess.run([pg_bin("pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.pg_port)]).returncode:
            if time.monotonic() > deadline:
                raise RuntimeError("PostgreSQL did not start:\n" + self.log("postgresql")[-3000:])
            time.sleep(0.1)

    def psql(self, sql: str, database: str = "postgres") -> str:
        return subprocess.run([pg_bin("psql"), "-h", "127.0.0.1", "-p", str(self.pg_port), "-U", "postgres",
                               "-d", database, "-tAc", sql], check=True, capture_output=True, text=True).stdout

    def stop_postgres(self, mode: str = "fast") -> None:
        """``fast``: SIGINT (clients disconnected, clean shutdown); ``immediate``: SIGQUIT (crash-like)."""
        sig = {"smart": signal.SIGTERM, "fast": signal.SIGINT, "immediate": signal.SIGQUIT}[mode]
        self._signal_and_wait("postgresql", sig, 60)

    def restart_postgres(self, down_seconds: float = 0.0, mode: str = "fast") -> None:
        self.stop_postgres(mode)
        time.sleep(down_seconds)
        self._spawn("postgresql", [pg_bin("postgres"), "-D", str(self.pg_data), "-p", str(self.pg_port)],
                    user="postgres")
        self.wait_postgres()

    # -- Orthanc peers ------------------------------------------------------------------------------

    def peer_config(self, i: int) -> dict[str, Any]:
        http, dicom = self.peer_ports[i]
        # The repository's orthanc.json, with the cluster's settings of scripts/cluster-orthanc.json (the
        # same as docker-compose.yml uses), with this machine's ports and folders.
        config = deep_update(json.loads((REPO / "orthanc.json").read_text()),
                             json.loads((REPO / "scripts" / "cluster-orthanc.json").read_text()))
        deep_update(config, {
            "Name": f"sentinel-peer{i}", "HttpPort": http, "DicomPort": dicom,
            # Shared by every peer: the storage area (the index is in PostgreSQL).
            "StorageDirectory": str(self.workdir / "storage"),
            "IndexDirectory": str(self.workdir / f"peer{i}"),
            # Each peer's identity in the shared database (its own jobs, its own non-shared properties
            # such as Sentinel's change-log cursor): stable across restarts.
            "DatabaseServerIdentifier": f"sentinel-peer{i}",
            "StableAge": 2,
            "Python": {"Path": str(REPO / "sentinel.py")},
            "PostgreSQL": {"Host": "127.0.0.1", "Port": self.pg_port, "Database": DATABASE,
                           "Username": "postgres", "Password": ""},
            "Sentinel": {"QuarantineDirectory": str(self.workdir / "quarantine"),
                         "NumbaCacheDirectory": str(REPO / ".runtime" / "numba-cache"),
                         "WorkerPollSeconds": 0.5, "SeriesSweepSeconds": 5},
        })
        if not self.sentinel:
            config["Plugins"] = [p for p in config["Plugins"] if p != PYTHON_PLUGIN]
            config.pop("Sentinel")
            config.pop("Python")
        deep_update(config, copy.deepcopy(self.config_changes))
        return config

    def start_peer(self, i: int, wait: bool = True, timeout: float = 120) -> None:
        (self.workdir / f"peer{i}").mkdir(exist_ok=True)
        path = self.workdir / f"peer{i}.json"
        path.write_text(json.dumps(self.peer_config(i), indent=1))
        process = self._spawn(f"peer{i}", ["Orthanc", str(path)])
        if wait:
            self.wait_peer(i, timeout, process)

    def wait_peer(self, i: int, timeout: float = 120, process: subprocess.Popen | None = None) -> None:
        wait_http(self.peer_urls[i] + "/system", timeout, process, self.workdir / f"peer{i}.log")

    def kill_peer(self, i: int, sig: int = signal.SIGKILL) -> None:
        pid = self.pids.get(f"peer{i}")
        if alive(pid):
            os.kill(pid, sig)
        self._reap(f"peer{i}", 30)

    def stop_peer(self, i: int) -> None:
        self._signal_and_wait(f"peer{i}", signal.SIGTERM, 60)

    # -- HAProxy ------------------------------------------------------------------------------------

    def haproxy_config(self) -> str:
        http_servers = "\n".join(f"    server peer{i} 127.0.0.1:{http} check inter 500ms fall 2 rise 2"
                                 for i, (http, _) in enumerate(self.peer_ports))
        dicom_servers = "\n".join(f"    server peer{i} 127.0.0.1:{dicom} check inter 500ms fall 2 rise 2"
                                  for i, (_, dicom) in enumerate(self.peer_ports))
        return f"""# Generated by tests/integration/cluster.py (scripts/cluster)
global
    maxconn 4096

defaults
    timeout connect 2s
    timeout client 600s
    timeout server 600s
    # A refused connection (a peer that died since its last health check) goes to another peer.
    retries 3
    option redispatch

frontend http
    mode http
    bind {self.bind}:{self.http_port}
    default_backend orthanc_http

backend orthanc_http
    mode http
    balance roundrobin
    option httpchk GET /system
{http_servers}

frontend dicom
    mode tcp
    bind {self.bind}:{self.dicom_port}
    default_backend orthanc_dicom

backend orthanc_dicom
    mode tcp
    # One association per connection: the peer with the fewest open associations takes the next one.
    balance leastconn
{dicom_servers}
"""

    def start_haproxy(self) -> None:
        path = self.workdir / "haproxy.cfg"
        path.write_text(self.haproxy_config())
        process = self._spawn("haproxy", ["haproxy", "-db", "-f", str(path)])
        wait_http(self.url + "/system", 60, process, self.workdir / "haproxy.log")

    # -- the whole ----------------------------------------------------------------------------------

    def start(self) -> "Cluster":
        self.workdir.mkdir(parents=True, exist_ok=True)
        self.workdir.chmod(0o755)  # PostgreSQL runs as the postgres user, its data folder is in here
        (self.workdir / "storage").mkdir(exist_ok=True)
        try:
            self.start_postgres()
            # The first peer alone creates the schema; the others then start together.
            self.start_peer(0)
            for i in range(1, self.peers):
                self.start_peer(i, wait=False)
            for i in range(1, self.peers):
                self.wait_peer(i, process=self.processes.get(f"peer{i}"))
            self.start_haproxy()
        except BaseException:
            self.stop()
            raise
        return self

    def _reap(self, name: str, timeout: float) -> None:
        process = self.processes.get(name)
        pid = self.pids.get(name)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if process is not None:
                if process.poll() is not None:
                    return
            elif not alive(pid):
                return
            time.sleep(0.05)
        raise TimeoutError(f"{name} (pid {pid}) did not stop in {timeout} s")

    def _signal_and_wait(self, name: str, sig: int, timeout: float) -> None:
        pid = self.pids.get(name)
        if not alive(pid):
            return
        os.kill(pid, sig)
        try:
            self._reap(name, timeout)
        except TimeoutError:
            os.killpg(pid, signal.SIGKILL)
            self._reap(name, 10)

    def stop(self) -> None:
        """Stop the balancer, then the peers (SIGTERM: they finish what they do), then PostgreSQL."""
        self._signal_and_wait("haproxy", signal.SIGTERM, 10)
        peers = [name for name in self.pids if name.startswith("peer")]
        for name in peers:
            if alive(self.pids[name]):
                os.kill(self.pids[name], signal.SIGTERM)
        for name in peers:
            self._signal_and_wait(name, signal.SIGTERM, 60)
        self.stop_postgres()
        if (self.workdir / "cluster.json").exists():
            self.save()

    def status(self) -> dict[str, Any]:
        out: dict[str, Any] = {"balancer": {"http": self.url, "dicom_port": self.dicom_port}}
        for name, pid in sorted(self.pids.items()):
            out[name] = {"pid": pid, "running": alive(pid)}
        for i, url in enumerate(self.peer_urls):
            try:
                out[f"peer{i}"]["sentinel"] = requests.get(url + "/sentinel/status", timeout=2).json()
            except (requests.RequestException, ValueError, KeyError):
                pass
        return out

    def destroy(self) -> None:
        self.stop()
        shutil.rmtree(self.workdir, ignore_errors=True)

    def __enter__(self) -> "Cluster":
        return self.start()

    def __exit__(self, *exc: Any) -> None:
        self.destroy()


def main() -> None:
    parser = argparse.ArgumentParser(description="The local Orthanc + Sentinel cluster")
    parser.add_argument("command", choices=["start", "stop", "status"])
    parser.add_argument("--dir", default=str(REPO / ".runtime" / "cluster"))
    parser.add_argument("--peers", type=int, default=3)
    parser.add_argument("--http-port", type=int, default=8042)
    parser.add_argument("--dicom-port", type=int, default=4242)
    parser.add_argument("--pg-port", type=int, default=None)
    parser.add_argument("--bind", default="127.0.0.1", help="address the balancer listens on")
    parser.add_argument("--no-sentinel", action="store_true", help="plain Orthanc peers (for comparison)")
    parser.add_argument("--fresh", action="store_true", help="start with an empty database and storage")
    args = parser.parse_args()
    workdir = Path(args.dir)
    state = workdir / "cluster.json"
    if args.command == "start":
        if state.exists():
            old = Cluster.load(workdir)
            if any(alive(pid) for pid in old.pids.values()):
                sys.exit(f"cluster already running in {workdir} (scripts/cluster stop first)")
        if args.fresh:
            shutil.rmtree(workdir, ignore_errors=True)
        workdir.mkdir(parents=True, exist_ok=True)
        pg_port = args.pg_port or (Cluster.load(workdir).pg_port if state.exists() else None)
        cluster = Cluster(workdir, args.peers, args.http_port, args.dicom_port, pg_port,
                          not args.no_sentinel, args.bind)
        cluster.start()
        print(f"cluster: {args.peers} peers behind HAProxy: HTTP {cluster.url}, DICOM "
              f"{args.bind}:{cluster.dicom_port} (AET ORTHANC); PostgreSQL on 127.0.0.1:{cluster.pg_port}; "
              f"logs and data in {workdir}")
    elif not state.exists():
        sys.exit(f"no cluster in {workdir}")
    elif args.command == "stop":
        Cluster.load(workdir).stop()
        print("cluster: stopped")
    else:
        status = Cluster.load(workdir).status()
        print(json.dumps(status, indent=1))
        if not all(v.get("running") for k, v in status.items() if k != "balancer"):
            sys.exit(1)


if __name__ == "__main__":
    main()
