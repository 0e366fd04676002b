"""Orthanc's REST API over HTTP from inside the plugin, for what the SDK's calls cannot say: headers.

``orthanc.RestApiPut`` sends no request headers and returns no response headers, so it can neither read
a metadata item's revision (the ``ETag``) nor make a write conditional on it (``If-Match``). Those are
what Orthanc offers against lost updates between peers of a cluster (a stale ``If-Match`` gets 409
Conflict, even with ``CheckRevisions`` false, as measured on Orthanc 1.12.7). So the few writes that
need them go to this peer's own HTTP server, authenticated with a token from
``GenerateRestApiAuthorizationToken`` that Orthanc accepts whatever its users and passwords are.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from typing import Any

TIMEOUT_S = 30.0


@dataclass(frozen=True)
class HttpAnswer:
    status: int
    etag: str | None
    body: bytes


class Loopback:
    """HTTP requests to this Orthanc process on 127.0.0.1 (``HttpPort``, TLS when ``SslEnabled``)."""

    def __init__(self, orthanc: Any, orthanc_config: dict[str, Any]):
        self.port = int(orthanc_config.get("HttpPort", 8042))
        self.tls = bool(orthanc_config.get("SslEnabled", False))
        self.available = bool(orthanc_config.get("HttpServerEnabled", True))
        self._authorization = orthanc.GenerateRestApiAuthorizationToken()

    def request(self, method: str, uri: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> HttpAnswer:
        """One request; the answer's status, ``ETag`` and body. Raises OSError if the server is unreachable."""
        if self.tls:
            # The peer's certificate names its public host, not 127.0.0.1, and the bytes never leave it.
            connection: http.client.HTTPConnection = http.client.HTTPSConnection(
                "127.0.0.1", self.port, timeout=TIMEOUT_S, context=ssl._create_unverified_context())
        else:
            connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=TIMEOUT_S)
        try:
            connection.request(method, uri, body=body,
                               headers={"Authorization": self._authorization, **(headers or {})})
            response = connection.getresponse()
            return HttpAnswer(response.status, response.getheader("ETag"), response.read())
        finally:
            connection.close()
