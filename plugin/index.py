"""Orthanc's index as Sentinel uses it: resources, metadata, labels, the change log, global properties.

Everything that matters lives there so that every peer of a cluster sees the same truth. The
``orthanc`` module is handed in, never imported, so that unit tests can pass a fake.
"""

from __future__ import annotations

import io
import json
import re
from typing import Any, NamedTuple

import numpy as np

from .loopback import Loopback

LEVELS = {"instances": "instances", "series": "series", "studies": "studies", "patients": "patients"}
# Orthanc's public ids: a SHA-1 written as five groups of eight hex digits.
# Matched whole (fullmatch): "$" also matches before a final newline, which a URL can carry as %0A.
ORTHANC_ID = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}")
# OrthancPluginErrorCode values that mean "no such thing" (UnknownResource, InexistentItem, InexistentFile).
NOT_FOUND_CODES = {17, 7, 13}
# Global properties (user range >= 1024): how far the change log has been analysed, and how far the
# sweep for series whose StableSeries event never came has looked.
ANALYSIS_CURSOR = 4800
SWEEP_CURSOR = 4801


class NotFound(KeyError):
    """The resource, metadata or item does not exist."""


class InstanceContents(NamedTuple):
    """What the index holds on one instance besides its file: its metadata by name, its labels, and its
    SOP Instance UID (0008,0018) as Orthanc indexed it."""

    metadata: dict[str, str]
    labels: list[str]
    sop_instance_uid: str


class Index:
    """Thin typed calls into Orthanc's REST API from inside the plugin: through the SDK (no HTTP
    involved), and for conditional writes through this peer's own HTTP server (:mod:`plugin.loopback`)."""

    def __init__(self, orthanc: Any, loopback: Loopback | None = None, find_limits: dict[str, int] | None = None):
        """``find_limits``: the most answers Orthanc gives one ``/tools/find`` per level ("Patient",
        "Study", "Series", "Instance"; 0 for no limit), from :func:`find_limits_of`."""
        self.orthanc = orthanc
        self.loopback = loopback
        self.find_limits = find_limits or {}

    def _call(self, fn, *args):
        try:
            return fn(*args)
        except self.orthanc.OrthancException as e:
            code = e.args[0] if e.args else None
            if code in NOT_FOUND_CODES or getattr(code, "value", None) in NOT_FOUND_CODES:
                raise NotFound(args[0]) from None
            raise

    def get_json(self, uri: str) -> Any:
        return json.loads(self._call(self.orthanc.RestApiGet, uri))

    def resource(self, level: str, resource_id: str) -> dict[str, Any]:
        """``GET /{level}/{id}``; NotFound for an unknown or malformed id."""
        if level not in LEVELS or not ORTHANC_ID.fullmatch(resource_id):
            raise NotFound(resource_id)
        return self.get_json(f"/{level}/{resource_id}")

    def instances_of(self, level: str, resource_id: str) -> list[str]:
        """Ids of the instances under a series, study or patient (the instance itself at that level)."""
        if level == "instances":
            self.resource(level, resource_id)
            return [resource_id]
        if level == "series":  # its own resource lists them, far cheaper than /instances with their tags
            return self.resource(level, resource_id)["Instances"]
        return [i["ID"] for i in self.get_json(f"/{level}/{resource_id}/instances")]

    def series_contents(self, series_id: str) -> dict[str, InstanceContents]:
        """The contents of every instance of a series, by instance id: one ``/tools/find``
        (``ParentSeries``, ``ResponseContent``; Orthanc 1.12.5) instead of two calls per instance."""
        if not ORTHANC_ID.fullmatch(series_id):
            raise NotFound(series_id)
        query = {"Level": "Instance", "Query": {}, "ParentSeries": series_id,
                 "ResponseContent": ["Metadata", "Labels", "MainDicomTags"]}
        found = self.find(query)
        return {i["ID"]: InstanceContents(i["Metadata"], i["Labels"], i["MainDicomTags"].get("SOPInstanceUID", ""))
                for i in found}

    def find(self, query: dict[str, Any]) -> list[Any]:
        """Every answer of ``POST /tools/find``, in pages of Orthanc's own limit for the level: Orthanc
        cuts a find at ``LimitFindResults`` (``LimitFindInstances`` at instance level) without saying
        so, whatever ``Limit`` the query asks, and a series or scan read from a cut answer would miss
        instances. ``Since`` pages through the rest, in Orthanc's stable order."""
        page = self.find_limits.get(query.get("Level", ""), 0)
        if not page:
            return self._find_once(query)
        found: list[Any] = []
        while True:
            answers = self._find_once({**query, "Since": len(found), "Limit": page})
            found += answers
            if len(answers) < page:
                return found

    def _find_once(self, query: dict[str, Any]) -> list[Any]:
        return json.loads(self._call(self.orthanc.RestApiPost, "/tools/find", json.dumps(query).encode()))

    def metadata(self, level: str, resource_id: str) -> dict[str, str]:
        """All metadata of a resource, by name."""
        return self.get_json(f"/{level}/{resource_id}/metadata?expand")

    def set_metadata(self, level: str, resource_id: str, name: str, value: str) -> None:
        self._call(self.orthanc.RestApiPut, f"/{level}/{resource_id}/metadata/{name}", value.encode())

    def versioned_metadata(self, level: str, resource_id: str, name: str) -> tuple[str | None, str | None]:
        """One metadata item and its revision (Orthanc's ``ETag``: revision and MD5 of the value);
        ``(None, None)`` when the item is absent. NotFound for an unknown resource."""
        answer = self._loopback().request("GET", f"/{level}/{resource_id}/metadata/{name}")
        if answer.status == 404:
            if not ORTHANC_ID.fullmatch(resource_id):
                raise NotFound(resource_id)
            self.resource(level, resource_id)  # raises NotFound if the resource itself is gone
            return None, None
        if answer.status != 200:
            raise OSError(f"GET metadata {name} of {resource_id}: HTTP {answer.status}")
        return answer.body.decode("utf-8"), answer.etag

    def replace_metadata(self, level: str, resource_id: str, name: str, value: str, etag: str) -> bool:
        """Write a metadata item only if it still has revision ``etag`` (``If-Match``); False when another
        writer changed it first (HTTP 409), so that the caller re-reads and re-applies its change."""
        answer = self._loopback().request("PUT", f"/{level}/{resource_id}/metadata/{name}", value.encode(),
                                          {"If-Match": etag})
        if answer.status == 409:
            return False
        if answer.status == 404:
            raise NotFound(resource_id)
        if answer.status != 200:
            raise OSError(f"PUT metadata {name} of {resource_id}: HTTP {answer.status}")
        return True

    def _loopback(self) -> Loopback:
        if self.loopback is None or not self.loopback.available:
            raise OSError("conditional writes need Orthanc's HTTP server (HttpServerEnabled)")
        return self.loopback

    def labels(self, level: str, resource_id: str) -> list[str]:
        return self.get_json(f"/{level}/{resource_id}/labels")

    def add_label(self, level: str, resource_id: str, label: str) -> None:
        self._call(self.orthanc.RestApiPut, f"/{level}/{resource_id}/labels/{label}", b"")

    def remove_label(self, level: str, resource_id: str, label: str) -> None:
        try:
            self._call(self.orthanc.RestApiDelete, f"/{level}/{resource_id}/labels/{label}")
        except NotFound:
            pass

    def instance_file(self, instance_id: str) -> bytes:
        """The stored DICOM file of an instance."""
        return self._call(self.orthanc.GetDicomForInstance, instance_id)

    def frame(self, instance_id: str, index: int) -> np.ndarray:
        """Frame ``index`` of an instance as stored values (no Modality LUT), decoded by Orthanc:
        (rows, columns, samples)."""
        raw = self._call(self.orthanc.RestApiGet, f"/instances/{instance_id}/frames/{index}/numpy?rescale=false")
        return np.load(io.BytesIO(raw), allow_pickle=False)

    def store(self, data: bytes) -> str:
        """Store a DICOM file through Orthanc (origin: plugin); returns the instance id."""
        return json.loads(self._call(self.orthanc.RestApiPost, "/instances", data))["ID"]

    def changes(self, since: int, limit: int) -> dict[str, Any]:
        """``GET /changes``: ``{"Changes": [...], "Last": n, "Done": bool}``."""
        return self.get_json(f"/changes?since={since}&limit={limit}")

    def cursor(self, prop: int = ANALYSIS_CURSOR) -> int:
        """Sequence number of the last change read by the analysis (or the sweep); 0 on a new archive."""
        value = self.orthanc.GetGlobalProperty(prop, "0")
        return int(value) if value.isascii() and value.isdigit() else 0

    def set_cursor(self, seq: int, prop: int = ANALYSIS_CURSOR) -> None:
        self.orthanc.SetGlobalProperty(prop, str(seq))


def find_limits_of(orthanc_config: dict[str, Any]) -> dict[str, int]:
    """The most answers one ``/tools/find`` gets per level, from Orthanc's configuration:
    ``LimitFindInstances`` at instance level, ``LimitFindResults`` at the others (0: no limit)."""
    results, instances = (int(orthanc_config.get(key, 0) or 0) for key in ("LimitFindResults", "LimitFindInstances"))
    return {"Patient": results, "Study": results, "Series": results, "Instance": instances}
