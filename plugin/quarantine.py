"""The quarantine: objects refused at ingest, kept with their reason so that nothing is lost.

A rejected object is not in Orthanc, so it cannot live in Orthanc's index; it lives in a folder instead
(``Sentinel.QuarantineDirectory``, by default beside Orthanc's storage, which a cluster shares). Each
entry is two files named by the first 32 hex digits of the object's SHA-256: ``<id>.dcm`` (the bytes
as received) and ``<id>.json`` (reason, findings, origin, sender, time). Names never come from DICOM
values, so nothing a sender writes can steer a path. Writes go to a temporary file and are renamed into
place, so a reader (or another peer) never sees half an entry. The same bytes sent again update the
entry's ``attempts`` instead of filling the folder.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import re
from datetime import datetime, timezone
from typing import Any, Callable, Iterator

from .sharedfolder import exclusive_lock, remove_lock, write_atomic

# Matched whole (fullmatch): "$" also matches before a final newline, which a URL can carry as %0A.
ENTRY_ID = re.compile(r"[0-9a-f]{32}")


class AlreadyReleased(Exception):
    """A release of an entry that another request (or peer) released first; ``record`` is its entry."""

    def __init__(self, record: dict[str, Any]):
        super().__init__(record["id"])
        self.record = record


def now_iso() -> str:
    """The current UTC time as ISO 8601 with seconds, e.g. ``2026-11-25T01:02:03Z``."""
    return datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


class Quarantine:
    """Entries of refused objects in one folder; safe for several processes sharing that folder."""

    def __init__(self, directory: str):
        self.directory = directory
        os.makedirs(directory, mode=0o700, exist_ok=True)

    def _path(self, entry_id: str, suffix: str) -> str:
        if not ENTRY_ID.fullmatch(entry_id):
            raise KeyError(entry_id)
        return os.path.join(self.directory, entry_id + suffix)

    def put(self, data: bytes, findings: list[dict[str, Any]], origin: str, header: dict[str, str],
            remote_aet: str | None = None, remote_ip: str | None = None) -> str:
        """Keep ``data`` with why it was refused; returns the entry id.

        ``header`` holds what the ingest check could read (SOPInstanceUID (0008,0018) etc.); the
        reason is the message of the first finding whose action is reject.
        """
        digest = hashlib.sha256(data).hexdigest()
        entry_id = digest[:32]
        time = now_iso()
        # Several threads and peers may refuse the same bytes at once: read-modify-write under a lock.
        with self._locked(entry_id):
            return self._put_locked(data, findings, origin, header, remote_aet, remote_ip, digest, entry_id, time)

    def _put_locked(self, data: bytes, findings: list[dict[str, Any]], origin: str, header: dict[str, str],
                    remote_aet: str | None, remote_ip: str | None, digest: str, entry_id: str, time: str) -> str:
        new_bytes = False
        try:
            entry = self.get(entry_id)
            entry["attempts"] += 1
            entry["last_received"] = time
        except KeyError:
            rejecting = [f for f in findings if f.get("action") == "reject"] or findings
            entry = {
                "id": entry_id, "sha256": digest, "size": len(data), "received": time, "last_received": time,
                "attempts": 1, "reason": rejecting[0]["message"] if rejecting else "",
                "rule": rejecting[0]["rule"] if rejecting else None, "findings": findings,
                "released": None,
            }
            write_atomic(self._path(entry_id, ".dcm"), data)
            new_bytes = True
        entry.update({"origin": origin, "remote_aet": remote_aet, "remote_ip": remote_ip,
                      "sop_instance_uid": header.get("SOPInstanceUID"),
                      "sop_class_uid": header.get("SOPClassUID"), "patient_id": header.get("PatientID"),
                      "study_instance_uid": header.get("StudyInstanceUID"),
                      "series_instance_uid": header.get("SeriesInstanceUID"),
                      "modality": header.get("Modality")})
        try:
            write_atomic(self._path(entry_id, ".json"), json.dumps(entry).encode())
        except BaseException:
            # No record, no entry (the listing reads the records): the object stays in Orthanc (the caller
            # keeps what it cannot quarantine), and its bytes here would be debris nobody can see.
            if new_bytes:
                os.unlink(self._path(entry_id, ".dcm"))
            raise
        return entry_id

    @contextlib.contextmanager
    def _locked(self, entry_id: str) -> Iterator[None]:
        """The entry's lock (``<id>.lock``, shared by every peer), whose file is removed on the way out
        when the entry is gone (deleted, or never there), so that no lock file outlives its entry."""
        path = self._path(entry_id, ".lock")
        with exclusive_lock(path):
            try:
                yield
            finally:
                if not os.path.exists(self._path(entry_id, ".json")):
                    remove_lock(path)

    def get(self, entry_id: str) -> dict[str, Any]:
        """The entry's record; KeyError if there is none (or the id is not of the entry form)."""
        try:
            with open(self._path(entry_id, ".json"), "rb") as f:
                return json.loads(f.read())
        except FileNotFoundError:
            raise KeyError(entry_id) from None

    def read_file(self, entry_id: str) -> bytes:
        """The object's bytes as received; KeyError if gone."""
        try:
            with open(self._path(entry_id, ".dcm"), "rb") as f:
                return f.read()
        except FileNotFoundError:
            raise KeyError(entry_id) from None

    def entries(self) -> list[dict[str, Any]]:
        """Every entry, newest first, without the findings (use :meth:`get` for one whole entry)."""
        out = []
        for name in os.listdir(self.directory):
            entry_id, _, suffix = name.partition(".")
            if suffix != "json" or not ENTRY_ID.fullmatch(entry_id):
                continue
            try:
                entry = self.get(entry_id)
            except (KeyError, ValueError):
                continue  # deleted or being replaced by another peer meanwhile
            entry.pop("findings", None)
            out.append(entry)
        out.sort(key=lambda e: (e["last_received"], e["id"]), reverse=True)
        return out

    def release(self, entry_id: str, store: Callable[[bytes], str]) -> dict[str, Any]:
        """Hand the object to ``store`` (which stores it in Orthanc and returns the instance id) and record
        that it was stored; returns the entry. The bytes stay, for audit.

        All of it under the entry's lock, so that of two releases at once (threads or peers) one stores
        the object and the other raises AlreadyReleased, and a delete waits for the release to end.
        KeyError if there is no entry."""
        with self._locked(entry_id):
            entry = self.get(entry_id)
            if entry["released"]:
                raise AlreadyReleased(entry)
            instance_id = store(self.read_file(entry_id))
            entry["released"] = {"time": now_iso(), "instance": instance_id}
            write_atomic(self._path(entry_id, ".json"), json.dumps(entry).encode())
        return entry

    def delete(self, entry_id: str) -> None:
        """Remove the entry, its bytes and its lock file; KeyError if there is none."""
        with self._locked(entry_id):
            self.get(entry_id)
            for suffix in (".dcm", ".json"):
                try:
                    os.unlink(self._path(entry_id, suffix))
                except FileNotFoundError:
                    pass
