"""Fixtures that start a real Orthanc with Sentinel from the runtime (tests run inside it)."""

from __future__ import annotations

import shutil

import pytest

from integration.orthanc_server import OrthancServer

pytestmark = pytest.mark.integration


@pytest.fixture(scope="session")
def orthanc():
    """One Orthanc with Sentinel for the session, on free ports, in a temporary folder."""
    if shutil.which("Orthanc") is None:
        pytest.fail("Orthanc is not installed: run the tests with scripts/test (inside the runtime)")
    with OrthancServer() as server:
        yield server
        print(server.log()[-3000:])  # shown by pytest when a test failed
