"""Orthanc's authentication covers every Sentinel route; oversized uploads never reach Orthanc's parser."""

from __future__ import annotations

import pydicom
import pytest
import requests

from integration.orthanc_server import OrthancServer
from realfiles import fresh_copy, pydicom_file

ROUTES = [
    ("GET", "/sentinel/rules"), ("GET", "/sentinel/status"), ("GET", "/sentinel/quarantine"),
    ("GET", "/sentinel/quarantine/0123456789abcdef0123456789abcdef"),
    ("GET", "/sentinel/quarantine/0123456789abcdef0123456789abcdef/file"),
    ("POST", "/sentinel/quarantine/0123456789abcdef0123456789abcdef/release"),
    ("DELETE", "/sentinel/quarantine/0123456789abcdef0123456789abcdef"),
    ("GET", "/sentinel/instances/00000000-00000000-00000000-00000000-00000000"),
    ("GET", "/sentinel/series/00000000-00000000-00000000-00000000-00000000"),
    ("GET", "/sentinel/studies/00000000-00000000-00000000-00000000-00000000"),
    ("POST", "/sentinel/validate"),
]


@pytest.fixture(scope="module")
def secured():
    with OrthancServer({"AuthenticationEnabled": True, "RegisteredUsers": {"alice": "s3cret"}}) as server:
        yield server


@pytest.mark.parametrize("method,path", ROUTES)
def test_every_route_needs_credentials(secured, method, path):
    anonymous = requests.request(method, secured.url + path, data=b"x", timeout=30)
    assert anonymous.status_code == 401
    wrong = requests.request(method, secured.url + path, data=b"x", auth=("alice", "nope"), timeout=30)
    assert wrong.status_code == 401
    allowed = requests.request(method, secured.url + path, data=b"x", auth=("alice", "s3cret"), timeout=30)
    assert allowed.status_code not in (401, 403, 500)


def test_upload_declared_over_the_limit_is_refused_before_parsing():
    with OrthancServer({"Sentinel": {"MaxObjectBytes": 20000}}) as server:
        small = pydicom_file("MR_small.dcm").read_bytes()       # about 9.8 kB
        large = fresh_copy("CT_small.dcm")                      # about 39 kB
        assert len(small) < 20000 < len(large)
        assert server.upload(small).status_code == 200
        r = server.upload(large)
        assert r.status_code == 403
        uid = pydicom.dcmread(pydicom_file("CT_small.dcm"), stop_before_pixels=True).SOPInstanceUID
        assert server.post("/tools/lookup", uid).json() == []
        assert "over MaxObjectBytes" in server.log()
        assert server.post("/sentinel/validate", large).status_code == 403
        # Sent in chunks, the upload declares no length the filter could refuse: the ingest check
        # measures the object and quarantines it.
        chunked = server.post("/instances", iter([large[:10000], large[10000:]]),
                              headers={"Content-Type": "application/dicom", "Expect": ""})
        assert chunked.status_code == 200 and chunked.json()["Status"] == "FilteredOut", chunked.text
        [entry] = server.get("/sentinel/quarantine").json()["entries"]
        assert entry["rule"] == "ingest.too-large" and entry["size"] == len(large)


def test_cross_site_posts_are_refused_and_same_site_ones_pass(orthanc):
    """CSRF: a browser on another site sends its Origin; Sentinel refuses state changes from it."""
    path = "/sentinel/alerts/00000000-00000000-00000000-00000000-00000000/acknowledge"
    evil = orthanc.post(path, b"{}", headers={"Origin": "http://evil.example"})
    assert evil.status_code == 403 and "cross-site" in evil.json()["error"]
    malformed = orthanc.post(path, b"{}", headers={"Origin": "http://[::1"})  # urlsplit raises on it
    assert malformed.status_code == 403 and "cross-site" in malformed.json()["error"]
    host = orthanc.url.split("//")[1]
    same = orthanc.post(path, b"{}", headers={"Origin": f"http://{host}"})
    assert same.status_code == 404  # got past the check: no such alert
    assert orthanc.post(path, b"{}").status_code == 404  # scripts send no Origin


def test_dashboard_is_served_and_linked_from_orthanc_explorer(orthanc):
    page = orthanc.get("/sentinel/ui/")
    assert page.status_code == 200 and page.headers["Content-Type"].startswith("text/html")
    assert orthanc.get("/sentinel/ui/..%2F..%2Fsentinel.py").status_code == 404
    assert orthanc.get("/sentinel/ui/nothing.js").status_code == 404
    assert "sentinel/ui/" in orthanc.get("/plugins/explorer.js").text  # Orthanc Explorer loads it


def test_objects_over_the_pixel_limits_are_quarantined_not_decoded():
    with OrthancServer({"Sentinel": {"MaxDecodedPixelBytes": 20000}}) as server:
        r = server.upload(fresh_copy("CT_small.dcm"))  # 32768 pixel bytes once decoded
        assert r.json()["Status"] == "FilteredOut"
        [entry] = server.get("/sentinel/quarantine").json()["entries"]
        assert entry["rule"] == "ingest.too-large" and "over the limit" in entry["reason"]
        assert server.upload(fresh_copy("MR_small.dcm")).json()["Status"] == "Success"  # 8192 bytes
