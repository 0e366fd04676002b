"""Webhook notifications and conditional alert writes through a real Orthanc with authentication on.

A receiver in the test process answers 503 to the first notification (so it must be retried) and records
the rest. Orthanc requires credentials, so the alert changes also prove that Sentinel's own conditional
writes (over Orthanc's HTTP server, plugin.loopback) get through with the plugin's token.
"""

from __future__ import annotations

import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import requests

from integration.orthanc_server import OrthancServer, free_port
from realfiles import fresh_copy, with_preamble

pytestmark = pytest.mark.integration

USER = ("alice", "s3cret")


class Receiver(ThreadingHTTPServer):
    """Records the JSON bodies POSTed to it; the first ``failures`` requests get 503, and when ``stall``
    is set it never answers (a receiver that hangs)."""

    def __init__(self, port: int, failures: int = 0):
        self.bodies: list[dict] = []
        self.attempts = 0
        self.failures = failures
        self.stall = threading.Event()
        super().__init__(("127.0.0.1", port), _Handler)


class _Handler(BaseHTTPRequestHandler):
    def do_POST(self) -> None:  # noqa: N802 (http.server's naming)
        server: Receiver = self.server  # type: ignore[assignment]
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        server.attempts += 1
        if server.stall.is_set():
            time.sleep(30)
            return
        if server.attempts <= server.failures:
            self.send_response(503)
        else:
            server.bodies.append(body)
            self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture(scope="module")
def hooked():
    port = free_port()
    receiver = Receiver(port, failures=1)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    config = {"AuthenticationEnabled": True, "RegisteredUsers": {USER[0]: USER[1]},
              "Sentinel": {"Webhook": {"Url": f"http://127.0.0.1:{port}/hook", "MinimumVerdict": "warning",
                                       "RetryDelaySeconds": 0.2, "TimeoutSeconds": 2, "Attempts": 3}}}
    with OrthancServer(config) as server:
        server.session.auth = USER
        yield server, receiver
    receiver.shutdown()


def test_new_alert_and_quarantine_are_notified_with_retries(hooked):
    orthanc, receiver = hooked
    stored = orthanc.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119")).json()
    refused = orthanc.upload(with_preamble(fresh_copy("CT_small.dcm"), b"MZ")).json()
    assert refused["Status"] == "FilteredOut"
    orthanc.report("instances", stored["ID"])

    def notified():
        events = {(b["event"], b["resource"]) for b in receiver.bodies}
        return ("alert", stored["ID"]) in events and any(e == "quarantine" for e, _ in events)
    orthanc.wait_for(notified, timeout=30)
    [alert] = [b for b in receiver.bodies if b["resource"] == stored["ID"]]
    assert alert["verdict"] == "suspicious" and "instance.birth-after-study" in alert["rules"]
    assert alert["id"] == f"instances/{stored['ID']}/suspicious" and alert["level"] == "instances"
    [quarantined] = [b for b in receiver.bodies if b["event"] == "quarantine"]
    assert quarantined["rules"] == ["ingest.preamble-executable"] and quarantined["verdict"] == "reject"
    assert receiver.attempts == len(receiver.bodies) + 1  # the 503 was retried, nothing else failed
    status = orthanc.get("/sentinel/status").json()["webhook"]
    assert status["enabled"] and status["sent"] == len(receiver.bodies) and status["failed"] == 0
    metrics = orthanc.get("/sentinel/metrics").text
    assert f'sentinel_webhook_notifications_total{{outcome="sent"}} {len(receiver.bodies)}' in metrics

    # Re-analysis of an alert that is open already notifies nothing new.
    assert orthanc.post(f"/sentinel/instances/{stored['ID']}/revalidate", b"").status_code == 200
    time.sleep(1)
    assert [b["resource"] for b in receiver.bodies].count(stored["ID"]) == 1


def test_a_hanging_receiver_never_slows_ingest(hooked):
    orthanc, receiver = hooked
    receiver.stall.set()
    try:
        started = time.monotonic()
        for _ in range(5):
            r = orthanc.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119"))
            assert r.status_code == 200 and r.json()["Status"] == "Success"
        assert time.monotonic() - started < 10  # each notification waits up to 3 x 2 s in the background
    finally:
        receiver.stall.clear()


def test_alert_changes_work_with_authentication_on(hooked):
    orthanc, _ = hooked
    stored = orthanc.upload(fresh_copy("CT_small.dcm", PatientBirthDate="20300101", StudyDate="20040119")).json()
    orthanc.report("instances", stored["ID"])
    r = orthanc.post(f"/sentinel/alerts/{stored['ID']}/acknowledge", json.dumps({"comment": "mine"}))
    assert r.status_code == 200, r.text
    assert r.json()["state"] == "acknowledged" and r.json()["history"][0]["by"] == USER[0]
    assert "claimed_by" not in r.json()["history"][0]  # Orthanc checked the credentials: nothing merely claimed
    assert requests.post(orthanc.url + f"/sentinel/alerts/{stored['ID']}/reopen", b"{}", timeout=30).status_code == 401
