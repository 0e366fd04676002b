"""Adapter pieces without Orthanc: the metrics histogram, the webhook queue, the user of a request."""

from __future__ import annotations

import base64
import socket
import threading
import time

from plugin.metrics import BUCKETS_S, Histogram
from plugin.notify import Notifier, WebhookSettings
from plugin.rest import user_of


def test_histogram_buckets_are_cumulative_and_end_with_inf():
    h = Histogram()
    for seconds in (0.00005, 0.0003, 0.0003, 2.0, 1000.0):
        h.observe(seconds)
    lines = h.samples("t", {"k": "v"})
    buckets = [line for line in lines if line.startswith("t_bucket")]
    assert len(buckets) == len(BUCKETS_S) + 1
    assert buckets[0] == 't_bucket{k="v",le="0.0001"} 1'
    assert 't_bucket{k="v",le="0.0005"} 3' in buckets
    assert 't_bucket{k="v",le="2.5"} 4' in buckets
    assert buckets[-1] == 't_bucket{k="v",le="+Inf"} 5'
    assert 't_count{k="v"} 5' in lines and any(line.startswith('t_sum{k="v"} 1002.0') for line in lines)


def test_notifier_queue_is_bounded_and_filters_by_verdict():
    notifier = Notifier(WebhookSettings(url="http://127.0.0.1:9/", minimum_verdict="suspicious", queue_size=2),
                        "peer", print)
    notifier.alert("instances", "a", "warning", ["r"], "below the threshold")
    assert notifier.queued() == 0
    for resource in "bcd":
        notifier.alert("instances", resource, "suspicious", ["r"], "m")
    notifier.quarantined("e" * 64, "ingest.x", "m")
    assert notifier.queued() == 2 and notifier.counts["dropped"] == 2


def test_disabled_notifier_queues_nothing():
    notifier = Notifier(WebhookSettings(), "peer", print)
    notifier.alert("instances", "a", "reject", ["r"], "m")
    assert not notifier.enabled and notifier.queued() == 0


def test_user_of_request_reads_checked_basic_credentials():
    basic = base64.b64encode(b"alice:s3cret:with-colon").decode()
    assert user_of({"headers": {"authorization": f"Basic {basic}"}}) == "alice"
    assert user_of({"headers": {"authorization": "Bearer token"}}) is None
    assert user_of({"headers": {"authorization": "Basic !!notbase64"}}) is None
    assert user_of({"headers": {}}) is None


def test_scan_metrics_count_failed_and_deleted_series():
    from types import SimpleNamespace
    from plugin.metrics import render_metrics
    gate = SimpleNamespace(counts={"checked": 0, "rejected": 0, "errors": 0},
                           latency=SimpleNamespace(histogram=Histogram()))
    worker = SimpleNamespace(analysed=0, failures=0, backlog=lambda: 0)
    reports = SimpleNamespace(finding_counts={})
    webhook = SimpleNamespace(counts={}, queued=lambda: 0)
    scan = {"state": "done", "series_done": 7, "series_total": 9, "series_failed": 1, "series_deleted": 1}
    text = render_metrics(gate, worker, reports, 0, {}, scan, webhook)
    for part, n in (("done", 7), ("total", 9), ("failed", 1), ("deleted", 1)):
        assert f'sentinel_scan_series{{part="{part}"}} {n}' in text.splitlines()


def test_a_receiver_answering_what_is_not_http_fails_its_notification_and_the_sender_goes_on():
    """A service that is not an HTTP server at the Url (a mail server's banner, say): http.client raises
    BadStatusLine, which is neither an OSError nor a URLError; it once ended the sender thread for good."""
    with socket.socket() as server:
        server.bind(("127.0.0.1", 0))
        server.listen()
        answered: list[int] = []

        def banner() -> None:
            for _ in range(2):  # one attempt per notification
                connection, _ = server.accept()
                with connection:
                    connection.recv(65536)
                    connection.sendall(b"220 mail.example ESMTP ready\r\n\r\n")
                answered.append(1)
        threading.Thread(target=banner, daemon=True).start()
        notifier = Notifier(WebhookSettings(url=f"http://127.0.0.1:{server.getsockname()[1]}/", attempts=1,
                                            timeout_s=5), "peer", lambda message: None)
        notifier.start()
        for resource in "ab":
            notifier.alert("instances", resource, "suspicious", ["r"], "m")
        deadline = time.monotonic() + 10
        while notifier.counts["failed"] < 2 and time.monotonic() < deadline:
            time.sleep(0.01)
        notifier.stop()
    assert notifier.counts["failed"] == 2 and len(answered) == 2
