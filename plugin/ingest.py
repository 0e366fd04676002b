"""The ingest path: Orthanc's received-instance callback, C-STORE filter and HTTP request filter.

Only the bounded checks of :mod:`validators.ingest` run here (raw bytes and header, never pixels).
A rejected object goes to quarantine and Orthanc does not store it:

- REST (and plugins, Lua, WebDAV): the received-instance callback answers DISCARD, so a REST client
  gets ``{"Status": "FilteredOut"}``.
- C-STORE: DISCARD would tell the modality "Success" (ORTHANC-NOTES), so the received-instance callback
  lets DIMSE objects through and the C-STORE filter, which Orthanc calls right after it, refuses them
  with ``Sentinel.CStoreRejectStatus``; the sender sees a failure and can act on it.

Nothing here may raise into Orthanc: a bug in Sentinel keeps the object (``FailOpen``: true, the
default) or refuses it into quarantine (``FailOpen``: false).
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from validators.consistency import RESENT, content_digest
from validators.findings import Finding, verdict_of
from validators.ingest import CHECKER_ERROR, check_ingest

from .config import Settings
from .metrics import Histogram
from .notify import Notifier
from .quarantine import Quarantine

INTERNAL_ERROR = {"rule": "sentinel.internal-error", "severity": "critical", "action": "reject",
                  "message": "Sentinel failed while checking this object and FailOpen is false"}


class LatencyWindow:
    """The last N ingest-path durations (ms) of this process, for GET /sentinel/status, and all of them
    as a histogram for GET /sentinel/metrics."""

    def __init__(self, size: int = 4096):
        self.samples: deque[float] = deque(maxlen=size)
        self.histogram = Histogram()

    def add(self, ms: float) -> None:
        self.samples.append(ms)
        self.histogram.observe(ms / 1000.0)

    def summary(self) -> dict[str, float | int]:
        values = sorted(self.samples)
        if not values:
            return {"count": 0}
        pick = lambda q: round(values[min(len(values) - 1, int(q * len(values)))], 4)
        return {"count": len(values), "p50_ms": pick(0.5), "p95_ms": pick(0.95), "p99_ms": pick(0.99),
                "max_ms": round(values[-1], 4)}


class IngestGate:
    """The ingest callbacks of one Orthanc process."""

    def __init__(self, orthanc: Any, settings: Settings, quarantine: Quarantine, notifier: Notifier | None = None):
        self.orthanc = orthanc
        self.settings = settings
        self.quarantine = quarantine
        self.notifier = notifier
        self.latency = LatencyWindow()
        self.counts = {"checked": 0, "rejected": 0, "errors": 0}
        self.last_received = 0.0  # time.monotonic() of the latest object, to let the worker yield
        # Client IP of the HTTP request each Orthanc thread is serving: the HTTP filter runs on the same
        # thread as the upload that triggers the received-instance callback. Keyed by native thread id
        # because Orthanc's threads get a fresh Python thread state per callback.
        self._client_ip: dict[int, str] = {}
        # The decision on a DIMSE object, from the received-instance callback to the C-STORE filter that
        # Orthanc calls next on the same thread.
        self._dimse_decisions: dict[int, Rejection | None] = {}
        # SHA-256 of objects an administrator releases from quarantine: stored once despite findings.
        self._released: set[str] = set()
        self._lock = threading.Lock()
        self._dicom = orthanc.InstanceOrigin.DICOM_PROTOCOL
        self._origins = {getattr(orthanc.InstanceOrigin, n): n for n in
                         ("UNKNOWN", "DICOM_PROTOCOL", "REST_API", "PLUGIN", "LUA", "WEB_DAV")}

    # -- Orthanc callbacks ---------------------------------------------------------------------------

    def on_http_request(self, uri: str, method: Any = None, ip: str | None = None,
                        headers: dict[str, str] | None = None, **_: Any) -> bool:
        """Incoming HTTP request filter: refuse (403) a body declared larger than MaxObjectBytes before
        Orthanc parses or stores it, and remember the client's IP for the quarantine record."""
        try:
            declared = (headers or {}).get("content-length", "")
            if declared.isascii() and declared.isdigit() and int(declared) > self.settings.max_object_bytes:
                self.orthanc.LogWarning(f"Sentinel: refused a {declared}-byte request to {uri} from {ip}: "
                                        f"over MaxObjectBytes ({self.settings.max_object_bytes})")
                return False
            if ip is not None:
                self._client_ip[threading.get_ident()] = ip
        except Exception as e:  # an exception here would refuse every request: log, let it through
            self.orthanc.LogError(f"Sentinel: HTTP filter failed: {e!r}")
        return True

    def on_received(self, data: bytes, origin: Any) -> tuple[Any, None]:
        """Received-instance callback (REST, plugins, Lua, WebDAV, and DIMSE before the C-STORE filter)."""
        keep = (self.orthanc.ReceivedInstanceAction.KEEP_AS_IS, None)
        if not self.settings.enabled:
            return keep
        tid = threading.get_ident()
        if origin == self._dicom:
            # Decide now, while Orthanc hands us the bytes; the C-STORE filter that Orthanc calls next
            # on this thread refuses, and quarantines with the sender's AE title.
            self._dimse_decisions[tid] = self._decide(data, "DICOM_PROTOCOL")
            return keep
        ip = self._client_ip.pop(tid, None) if origin == self.orthanc.InstanceOrigin.REST_API else None
        rejection = self._decide(data, self._origins.get(origin, "UNKNOWN"))
        if rejection is not None and self._quarantine(rejection, None, ip):
            return (self.orthanc.ReceivedInstanceAction.DISCARD, None)
        return keep

    def on_cstore(self, instance: Any) -> int:
        """Incoming C-STORE instance filter: 0 accepts, a DIMSE failure status refuses visibly."""
        if not self.settings.enabled:
            return 0
        try:
            rejection = self._dimse_decisions.pop(threading.get_ident(), _UNDECIDED)
            if rejection is _UNDECIDED:  # not seen by the received-instance callback: decide here
                data = instance.GetInstanceData()
                rejection = self._decide(data, "DICOM_PROTOCOL")
            if rejection is None:
                return 0
            refused = self._quarantine(rejection, instance.GetInstanceRemoteAet(), None)
            return self.settings.cstore_reject_status if refused else 0
        except Exception as e:
            self.counts["errors"] += 1
            self.orthanc.LogError(f"Sentinel: C-STORE filter failed ({e!r}); "
                                  f"{'accepting' if self.settings.fail_open else 'refusing'} the object")
            return 0 if self.settings.fail_open else self.settings.cstore_reject_status

    # -- the check itself ----------------------------------------------------------------------------

    def release(self, data: bytes) -> "_Release":
        """Context in which these exact bytes pass the gate once (POST /sentinel/quarantine/{id}/release)."""
        return _Release(self, hashlib.sha256(data).hexdigest())

    def _decide(self, data: bytes, origin: str) -> "Rejection | None":
        """The rejection of an object that must be refused, None to store it. Never raises: a bug in
        Sentinel gives None with FailOpen, a rejection with the internal-error finding without."""
        start = time.perf_counter()
        self.last_received = time.monotonic()
        try:
            if self._released and hashlib.sha256(data).hexdigest() in self._released:
                return None
            check = check_ingest(data, limits=self.settings.limits)
            failures = [f.message for f in check.findings if f.rule == CHECKER_ERROR.id]
            if failures:
                raise RuntimeError(failures[0])  # Sentinel's own bug: FailOpen decides, below
            findings = self.settings.policy.apply(check.findings + self._resent(data, check.header))
            self.counts["checked"] += 1
            if verdict_of(findings) != "reject":
                return None
            return Rejection(data, [f.to_json() for f in findings], check.header, origin)
        except Exception as e:
            self.counts["errors"] += 1
            self.orthanc.LogError(f"Sentinel: ingest check failed ({e!r}); "
                                  f"{'keeping' if self.settings.fail_open else 'refusing'} the object")
            return None if self.settings.fail_open else Rejection(data, [INTERNAL_ERROR], {}, origin)
        finally:
            self.latency.add((time.perf_counter() - start) * 1000.0)

    def _resent(self, data: bytes, header: dict[str, str]) -> list[Finding]:
        """``consistency.sop-resent`` if Orthanc already holds this SOP Instance UID with other content in
        the same transfer syntax. Costs one index lookup per object, and reading the stored copy only for
        a resend. Another transfer syntax is a re-encoding whose bytes always differ: comparing it needs
        decoding, which is the integrity seal's work in the background, not the ingest path's."""
        uid = header.get("SOPInstanceUID")
        if not uid:
            return []
        try:
            stored_id = self.orthanc.LookupInstance(uid)
        except self.orthanc.OrthancException:
            return []  # not stored yet: the usual case
        stored = self.orthanc.GetDicomForInstance(stored_id)
        syntax = header.get("TransferSyntaxUID")
        if (not syntax or check_ingest(stored).header.get("TransferSyntaxUID") != syntax
                or content_digest(stored) == content_digest(data)):
            return []
        return [RESENT.finding(f"SOP Instance {uid} is already stored (instance {stored_id}) with other "
                               f"content", 0x00080018, instance=stored_id)]

    def _quarantine(self, rejection: "Rejection", aet: str | None, ip: str | None) -> bool:
        """Put a rejected object in quarantine; True if it is there and may be refused. If the
        quarantine cannot be written, the object is kept in Orthanc instead: refusing it would lose it."""
        try:
            entry = self.quarantine.put(rejection.data, rejection.findings, rejection.origin, rejection.header, aet, ip)
        except Exception as e:
            self.counts["errors"] += 1
            self.orthanc.LogError(f"Sentinel: cannot write the quarantine ({e!r}); keeping the object")
            return False
        self.counts["rejected"] += 1
        if self.notifier is not None:
            cause = next((f for f in rejection.findings if f["action"] == "reject"), rejection.findings[0])
            self.notifier.quarantined(entry, cause["rule"], cause["message"])
        self.orthanc.LogWarning(f"Sentinel: refused {rejection.header.get('SOPInstanceUID', '(no SOP Instance UID)')}"
                                f" from {rejection.origin} {aet or ip or ''}: quarantine entry {entry}")
        return True


@dataclass(frozen=True)
class Rejection:
    """Why an object is refused: its bytes, findings (JSON), what its header said, where it came from."""

    data: bytes
    findings: list[dict[str, Any]]
    header: dict[str, str]
    origin: str


_UNDECIDED = object()


class _Release:
    def __init__(self, gate: IngestGate, digest: str):
        self.gate, self.digest = gate, digest

    def __enter__(self) -> None:
        with self.gate._lock:
            self.gate._released.add(self.digest)

    def __exit__(self, *exc: Any) -> None:
        with self.gate._lock:
            self.gate._released.discard(self.digest)
