"""Sentinel's REST routes under ``/sentinel/``, registered as one Orthanc REST callback and routed here.

Every answer is JSON (but the quarantined file itself). A client's mistake is a 4xx with
``{"error": message}``: unknown id 404, malformed body 400, body too large 413, wrong method 405. A 500
means a bug in Sentinel, and is logged with its traceback.
"""

from __future__ import annotations

import base64
import json
import json.scanner
import os
import re
import traceback
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Callable
from urllib.parse import urlsplit

from validators.findings import verdict_of
from validators.rules import Policy

from .alerts import ACTIONS, FILTERS, AlertError
from .index import NotFound
from .quarantine import AlreadyReleased
from .scan import ScanError


class HttpError(Exception):
    """A client's mistake; ``allow`` lists the methods of the path for a 405."""

    def __init__(self, status: int, message: str, allow: str = ""):
        super().__init__(message)
        self.status = status
        self.allow = allow


@dataclass
class Response:
    status: int
    body: bytes
    content_type: str = "application/json"


def refuse_cross_site(headers: dict[str, str]) -> None:
    """403 for a state-changing request that a browser sends from another site (cross-site request
    forgery): browsers always send Origin with such requests, and it must name this server. Scripts and
    command-line clients send no Origin and are not affected."""
    origin = headers.get("origin")
    if origin is None:
        return
    try:
        netloc = urlsplit(origin).netloc
    except ValueError:  # e.g. "http://[::1": no server's origin, refused as any other
        netloc = None
    if netloc != headers.get("host"):
        raise HttpError(403, f"cross-site request from {origin!r} refused")


def json_response(value: Any, status: int = 200) -> Response:
    return Response(status, json.dumps(value, indent=1).encode())


Handler = Callable[..., Response]

LEVEL_NAMES = {"instances": "instance", "series": "series", "studies": "study"}


def not_found_message(path: str, groups: dict[str, str | None], missing: str) -> str:
    """A 404's message in the client's terms: the resource of its path, never the URI of Orthanc's own
    API that Sentinel called (``missing``: what that call did not find, an id or a URI)."""
    level, resource_id = groups.get("level"), groups.get("resource_id")
    if level in LEVEL_NAMES and resource_id:
        if resource_id in missing:
            return f"no {LEVEL_NAMES[level]} {resource_id} in Orthanc"
        return f"part of {LEVEL_NAMES[level]} {resource_id} was deleted while this request read it; try again"
    return f"{path}: something it reads was deleted meanwhile; try again"


class Router:
    """(method, path pattern) -> handler; path groups become keyword arguments."""

    def __init__(self, orthanc: Any):
        self.orthanc = orthanc
        self.routes: list[tuple[str, re.Pattern, Handler]] = []

    def add(self, method: str, pattern: str, handler: Handler) -> None:
        self.routes.append((method, re.compile(pattern), handler))

    def resolve(self, method: str, path: str, request: dict[str, Any]) -> Response:
        if method != "GET":
            refuse_cross_site(request.get("headers") or {})
        allowed = []
        for route_method, pattern, handler in self.routes:
            match = pattern.fullmatch(path)  # not "^...$": "$" matches before a final newline (%0A)
            if not match:
                continue
            if route_method != method:
                allowed.append(route_method)
                continue
            try:
                return handler(request, **match.groupdict())
            except NotFound as e:
                raise HttpError(404, not_found_message(path, match.groupdict(), str(e.args[0]))) from None
        if allowed:
            allow = ",".join(sorted(set(allowed)))
            raise HttpError(405, f"{method} is not allowed on {path}; use {allow}", allow)
        raise HttpError(404, f"no Sentinel route {path}")

    def __call__(self, output: Any, uri: str, **request: Any) -> None:
        """The Orthanc REST callback for ``/sentinel/(.*)``."""
        method = request.get("method", "GET")
        try:
            try:
                response = self.resolve(method, uri, request)
            except HttpError as e:
                if e.status == 405:
                    output.SendMethodNotAllowed(e.allow)
                    return
                response = json_response({"error": str(e), "status": e.status}, e.status)
            self._send(output, response)
        except Exception:
            self.orthanc.LogError(f"Sentinel: {method} {uri} failed:\n{traceback.format_exc()}")
            self._send(output, json_response({"error": "internal error in Sentinel (see Orthanc's log)",
                                              "status": 500}, 500))

    @staticmethod
    def _send(output: Any, response: Response) -> None:
        if response.status == 200:
            output.AnswerBuffer(response.body, response.content_type)
        else:
            output.SendHttpStatus(response.status, response.body)


def query_int(request: dict[str, Any], name: str, default: int, low: int, high: int) -> int:
    """An integer query argument within [low, high]; 400 otherwise."""
    raw = (request.get("get") or {}).get(name)
    if raw is None:
        return default
    if not re.fullmatch(r"[0-9]{1,9}", raw) or not low <= int(raw) <= high:  # not \d: any script's digits
        raise HttpError(400, f"query argument {name} must be an integer from {low} to {high}, got {raw!r}")
    return int(raw)


def report_routes(router: Router, reports: Any) -> None:
    """GET /sentinel/{instances|series|studies}/{id}: the report of a resource."""
    router.add("GET", r"/sentinel/(?P<level>instances|series|studies)/(?P<resource_id>[^/]+)",
               lambda request, level, resource_id: json_response(reports.report(level, resource_id)))


def revalidate_route(router: Router, index: Any, analyses: Any) -> None:
    """POST /sentinel/{instances|series|studies}/{id}/revalidate: re-run the checks with the current
    rules now, in this request (instances, then each series as a whole); answers the new report."""
    def revalidate(request: dict[str, Any], level: str, resource_id: str) -> Response:
        resource = index.resource(level, resource_id)
        series_ids = {"instances": [], "series": [resource_id], "studies": resource.get("Series", [])}[level]
        for instance_id in index.instances_of(level, resource_id):
            analyses.instance(instance_id)
        for series_id in series_ids:
            analyses.series(series_id)
        return json_response(analyses.reports.report(level, resource_id))
    router.add("POST", r"/sentinel/(?P<level>instances|series|studies)/(?P<resource_id>[^/]+)/revalidate", revalidate)


def validate_route(router: Router, check: Callable[[bytes], list], max_bytes: int) -> None:
    """POST /sentinel/validate: the report of the DICOM file in the body; nothing is stored."""
    def validate(request: dict[str, Any]) -> Response:
        body = request.get("body") or b""
        if not body:
            raise HttpError(400, "the body must be a DICOM Part 10 file")
        if len(body) > max_bytes:
            raise HttpError(413, f"body of {len(body)} bytes is over Sentinel.MaxObjectBytes ({max_bytes})")
        findings = check(body)
        ordered = sorted(findings, key=lambda f: (-f.severity, f.rule))
        return json_response({"verdict": verdict_of(findings), "pending": False,
                              "findings": [f.to_json() for f in ordered]})
    router.add("POST", r"/sentinel/validate", validate)


class NestingSafeDecoder(json.JSONDecoder):
    """JSON decoding whose nesting lives on Python frames: Orthanc runs REST callbacks on HTTP threads
    with a small C stack, which the C decoder (one C call per level) overflows on a body of about 600
    ``[``, killing Orthanc (SIGSEGV); Python bounds its own frames with a RecursionError instead."""

    def __init__(self, **kw: Any):
        super().__init__(**kw)
        self.scan_once = json.scanner.py_make_scanner(self)


# Openings ("[", "{") of a body decoded by the C decoder; measured, it overflows Orthanc's HTTP thread
# stack at 550-600 levels of nesting.
SHALLOW_OPENINGS = 64


def json_body(request: dict[str, Any]) -> dict[str, Any]:
    """The request's body as a JSON object ({} when empty); 400 otherwise."""
    body = request.get("body") or b""
    if not body.strip():
        return {}
    # Every "[" or "{" of the body (in any JSON encoding) holds a 0x5B or 0x7B byte: so few of them bound its
    # nesting far below what the C decoder survives, and it decodes the ordinary body 7x faster.
    shallow = body.count(b"[") + body.count(b"{") <= SHALLOW_OPENINGS
    try:
        value = json.loads(body, cls=None if shallow else NestingSafeDecoder)
    except (ValueError, UnicodeDecodeError) as e:
        raise HttpError(400, f"the body must be a JSON object: {e}") from None
    except RecursionError:
        raise HttpError(400, "the body must be a JSON object: it nests too deep") from None
    if not isinstance(value, dict):
        raise HttpError(400, "the body must be a JSON object, e.g. {\"comment\": \"...\"}")
    return value


def user_of(request: dict[str, Any]) -> str | None:
    """The user name of a request's HTTP Basic credentials (Orthanc hands plugins no user name of its
    own), None without one. Orthanc has checked it only when its authentication is on
    (:func:`plugin.config.authentication_enabled`); otherwise it is whatever the client wrote."""
    scheme, _, credentials = request.get("headers", {}).get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        user = base64.b64decode(credentials, validate=True).decode("utf-8").partition(":")[0]
    except (ValueError, UnicodeDecodeError):
        return None
    return user or None


def iso_bound(value: str) -> str | None:
    """``value`` as a bound of the alerts' ``checked`` time (written 2026-11-25T01:02:03Z, UTC): a date
    2026-11-25 or 20261125, or a time 2026-11-25T01:02 or 2026-11-25T01:02:03, Z or not; in ASCII digits,
    and existing (no month 13, no 25:00). Returned in ``checked``'s own form without the Z (20261125 as
    2026-11-25), so that it compares as text; None if it is none of these."""
    if re.fullmatch(r"[0-9]{8}", value):
        value = f"{value[:4]}-{value[4:6]}-{value[6:]}"
    if not re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}(T[0-9]{2}:[0-9]{2}(:[0-9]{2})?Z?)?", value):
        return None
    value = value.removesuffix("Z")
    try:
        datetime.fromisoformat(value)
    except ValueError:
        return None
    return value


def alert_routes(router: Router, alerts: Any, authentication: bool) -> None:
    """GET /sentinel/alerts (filters, paging); POST /sentinel/alerts/{id}/{acknowledge|dismiss|resolve|reopen}.
    ``authentication``: whether Orthanc checks HTTP Basic credentials, so that the user they name is who
    acted; without it the name is only claimed, and the history records it as such."""
    def listing(request: dict[str, Any]) -> Response:
        args = request.get("get") or {}
        filters = {k: v for k, v in args.items() if k in FILTERS}
        unknown = set(args) - set(FILTERS) - {"limit", "offset"}
        if unknown:
            raise HttpError(400, f"unknown filter(s) {sorted(unknown)}; known: {sorted(FILTERS)}, limit, offset")
        for key, allowed in FILTERS.items():
            if key in filters and allowed is not None and filters[key] not in allowed:
                raise HttpError(400, f"{key} must be one of {', '.join(allowed)}, got {filters[key]!r}")
        for key in ("since", "until"):
            if key in filters:
                bound = iso_bound(filters[key])
                if bound is None:
                    raise HttpError(400, f"{key} must be a UTC date or time like 2026-11-25, 20261125 or "
                                         f"2026-11-25T01:02:03Z, got {filters[key]!r}")
                filters[key] = bound
        limit = query_int(request, "limit", 100, 1, 10000)
        offset = query_int(request, "offset", 0, 0, 10 ** 9)
        found = alerts.listing(filters)
        return json_response({"total": len(found), "alerts": found[offset:offset + limit]})

    def change(request: dict[str, Any], resource_id: str, action: str) -> Response:
        try:
            named = user_of(request)
            user, claimed = (named, None) if authentication else (None, named)
            return json_response(alerts.change(resource_id, action, json_body(request), user, claimed))
        except AlertError as e:
            raise HttpError(e.status, str(e)) from None
        except KeyError:
            raise HttpError(404, f"no alert on resource {resource_id}") from None

    router.add("GET", r"/sentinel/alerts", listing)
    router.add("POST", rf"/sentinel/alerts/(?P<resource_id>[^/]+)/(?P<action>{'|'.join(ACTIONS)})", change)


UI_FOLDER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ui")
UI_TYPES = {".html": "text/html; charset=utf-8", ".js": "text/javascript; charset=utf-8",
            ".css": "text/css; charset=utf-8", ".svg": "image/svg+xml"}


def ui_routes(router: Router) -> None:
    """GET /sentinel/ui/ and /sentinel/ui/{file}: the dashboard's static files (plugin/ui/), by name
    only from that folder (no path from the request reaches the file system beyond a bare file name)."""
    def serve(request: dict[str, Any], name: str | None = None) -> Response:
        name = name or "index.html"
        kind = UI_TYPES.get(os.path.splitext(name)[1])
        if kind is None or not re.fullmatch(r"[A-Za-z0-9_-]+\.[a-z]+", name) or name not in os.listdir(UI_FOLDER):
            raise HttpError(404, f"no dashboard file {name}")
        with open(os.path.join(UI_FOLDER, name), "rb") as f:
            return Response(200, f.read(), kind)
    # Orthanc hands the path over without its trailing slash: /sentinel/ui/ arrives as /sentinel/ui.
    router.add("GET", r"/sentinel/ui(?:/(?P<name>[^/]*))?", serve)


def scan_routes(router: Router, scanner: Any) -> None:
    """POST /sentinel/scan (start), GET /sentinel/scan (progress), POST /sentinel/scan/cancel."""
    def start(request: dict[str, Any]) -> Response:
        try:
            return json_response(scanner.start(json_body(request)))
        except ScanError as e:
            raise HttpError(e.status, str(e)) from None

    router.add("POST", r"/sentinel/scan", start)
    router.add("GET", r"/sentinel/scan", lambda request: json_response(scanner.summary(scanner.state())))
    router.add("POST", r"/sentinel/scan/cancel", lambda request: json_response(scanner.cancel()))


def rules_route(router: Router, policy: Policy) -> None:
    """GET /sentinel/rules: the catalogue with this configuration's severities and actions."""
    router.add("GET", r"/sentinel/rules", lambda request: json_response(policy.catalogue()))


def quarantine_routes(router: Router, quarantine: Any, gate: Any, index: Any) -> None:
    """List, read, download, release and delete quarantine entries."""
    entry = r"/sentinel/quarantine/(?P<entry_id>[^/]+)"

    def on_entry(action: Callable[[str], Any], entry_id: str) -> Any:
        """``action(entry_id)``; 404 if there is no such entry, or another request (or peer) deleted it
        since this one looked."""
        try:
            return action(entry_id)
        except KeyError:
            raise HttpError(404, f"no quarantine entry {entry_id}") from None

    def listing(request: dict[str, Any]) -> Response:
        entries = quarantine.entries()
        limit = query_int(request, "limit", 100, 1, 10000)
        since = query_int(request, "since", 0, 0, 10 ** 9)
        return json_response({"total": len(entries), "entries": entries[since:since + limit]})

    def download(request: dict[str, Any], entry_id: str) -> Response:
        return Response(200, on_entry(quarantine.read_file, entry_id), "application/dicom")

    def release(request: dict[str, Any], entry_id: str) -> Response:
        def store(data: bytes) -> str:
            with gate.release(data):
                try:
                    return index.store(data)
                except Exception as e:
                    raise HttpError(422, f"Orthanc refused to store the object: {e}") from None
        try:
            return json_response(on_entry(lambda entry: quarantine.release(entry, store), entry_id))
        except AlreadyReleased as e:
            raise HttpError(409, f"entry {entry_id} was released already as instance "
                                 f"{e.record['released']['instance']}") from None

    def delete(request: dict[str, Any], entry_id: str) -> Response:
        on_entry(quarantine.delete, entry_id)
        return json_response({"deleted": entry_id})

    router.add("GET", r"/sentinel/quarantine", listing)
    router.add("GET", entry, lambda request, entry_id: json_response(on_entry(quarantine.get, entry_id)))
    router.add("DELETE", entry, delete)
    router.add("GET", entry + "/file", download)
    router.add("POST", entry + "/release", release)
