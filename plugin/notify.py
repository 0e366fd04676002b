"""Webhook notifications: new alerts at or above a verdict, POSTed as JSON to a URL from the configuration.

A bounded queue and one sender thread per peer: raising a notification never waits (the ingest path and
the worker only enqueue), a full queue drops the newest and counts it, and a failing receiver is retried
with a growing delay, so it can slow nothing but its own notifications. Delivery is at least once: a
notification retried after a timeout may arrive twice, and two peers that analyse one object at the same
moment may both report it; each carries an ``id`` (the resource and its verdict) to deduplicate on.

Body: ``{"id", "event": "alert"|"quarantine", "level", "resource", "verdict", "rules", "message",
"time", "peer"}``.
"""

from __future__ import annotations

import http.client
import json
import queue
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any

from .quarantine import now_iso

VERDICT_RANK = {"warning": 1, "suspicious": 2, "reject": 3}


@dataclass(frozen=True)
class WebhookSettings:
    """``Sentinel.Webhook``: where and what to notify; an empty ``url`` turns notifications off."""

    url: str = ""                       # Url: http(s) URL that receives the POSTs
    minimum_verdict: str = "suspicious"  # MinimumVerdict: warning, suspicious or reject
    timeout_s: float = 5.0              # TimeoutSeconds: per attempt
    attempts: int = 5                   # Attempts: tries per notification, the first included
    retry_delay_s: float = 1.0          # RetryDelaySeconds: delay before the 2nd try, doubled each time
    queue_size: int = 1000              # QueueSize: notifications waiting at most; more are dropped
    headers: dict[str, str] = field(default_factory=dict)  # Headers: e.g. an Authorization for the receiver


class Notifier:
    """Queues notifications and sends them from one background thread."""

    def __init__(self, settings: WebhookSettings, peer: str, log_error: Any):
        self.settings = settings
        self.peer = peer
        self.log_error = log_error
        self.counts = {"sent": 0, "failed": 0, "dropped": 0}
        self._queue: queue.Queue[dict[str, Any] | None] = queue.Queue(maxsize=settings.queue_size)
        self._thread: threading.Thread | None = None
        self._stopping = threading.Event()

    @property
    def enabled(self) -> bool:
        return bool(self.settings.url)

    def wants(self, verdict: str) -> bool:
        return self.enabled and VERDICT_RANK.get(verdict, 0) >= VERDICT_RANK[self.settings.minimum_verdict]

    def alert(self, level: str, resource_id: str, verdict: str, rules: list[str], message: str) -> None:
        """A resource got its first non-pass verdict (its alert was opened)."""
        self._raise("alert", level, resource_id, verdict, rules, message)

    def quarantined(self, digest: str, rule: str, message: str) -> None:
        """An object was refused at ingest and kept in quarantine (``digest``: its quarantine id)."""
        self._raise("quarantine", "quarantine", digest, "reject", [rule], message)

    def _raise(self, event: str, level: str, resource_id: str, verdict: str, rules: list[str],
               message: str) -> None:
        if not self.wants(verdict):
            return
        body = {"id": f"{level}/{resource_id}/{verdict}", "event": event, "level": level, "resource": resource_id,
                "verdict": verdict, "rules": sorted(rules), "message": message[:1000], "time": now_iso(),
                "peer": self.peer}
        try:
            self._queue.put_nowait(body)
        except queue.Full:
            self.counts["dropped"] += 1

    def queued(self) -> int:
        return self._queue.qsize()

    def start(self) -> None:
        if self.enabled and self._thread is None:
            self._thread = threading.Thread(target=self._run, name="sentinel-webhook", daemon=True)
            self._thread.start()

    def stop(self) -> None:
        self._stopping.set()
        if self._thread is not None:
            try:
                self._queue.put_nowait(None)  # wakes the sender
            except queue.Full:
                pass
            self._thread.join(timeout=self.settings.timeout_s + 1)

    def _run(self) -> None:
        while not self._stopping.is_set():
            body = self._queue.get()
            if body is None:
                return
            if self._deliver(body):
                self.counts["sent"] += 1
            else:
                self.counts["failed"] += 1
                self.log_error(f"Sentinel webhook: gave up on {body['id']} after {self.settings.attempts} attempts")

    def _deliver(self, body: dict[str, Any]) -> bool:
        """POST with retries; True once the receiver answered 2xx."""
        data = json.dumps(body).encode()
        delay = self.settings.retry_delay_s
        for attempt in range(self.settings.attempts):
            if attempt:
                if self._stopping.wait(delay):
                    return False
                delay *= 2
            request = urllib.request.Request(self.settings.url, data=data, method="POST", headers={
                "Content-Type": "application/json", "User-Agent": "Sentinel", **self.settings.headers})
            try:
                with urllib.request.urlopen(request, timeout=self.settings.timeout_s) as answer:
                    if 200 <= answer.status < 300:
                        return True
            except (urllib.error.URLError, OSError, ValueError, http.client.HTTPException):
                # HTTPError (non-2xx) is a URLError: retried like a network failure; an answer that is not
                # HTTP raises HTTPException (BadStatusLine), which would otherwise end the sender thread.
                continue
        return False

