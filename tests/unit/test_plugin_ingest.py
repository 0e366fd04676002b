"""The ingest gate with a fake ``orthanc``: decisions, quarantine, fail-open/fail-closed, release."""

from __future__ import annotations

import io

import pydicom
import pytest

import plugin.ingest
import plugin.quarantine
from fake_orthanc import FakeCStoreInstance, FakeOrthanc, InstanceOrigin, ReceivedInstanceAction
from plugin.config import parse_settings
from plugin.ingest import IngestGate
from plugin.quarantine import Quarantine
from realfiles import fresh_copy, pydicom_file

KEEP, DISCARD = ReceivedInstanceAction.KEEP_AS_IS, ReceivedInstanceAction.DISCARD


def gate(tmp_path, **sentinel) -> IngestGate:
    orthanc = FakeOrthanc()
    orthanc.configuration["Sentinel"] = sentinel
    settings = parse_settings(orthanc.configuration)
    return IngestGate(orthanc, settings, Quarantine(str(tmp_path / "q")))


def polyglot() -> bytes:
    data = bytearray(pydicom_file("CT_small.dcm").read_bytes())
    data[0:2] = b"MZ"
    return bytes(data)


def test_clean_file_is_kept(tmp_path):
    g = gate(tmp_path)
    assert g.on_received(pydicom_file("CT_small.dcm").read_bytes(), InstanceOrigin.REST_API)[0] == KEEP
    assert g.quarantine.entries() == []


def test_rest_polyglot_is_discarded_into_quarantine_with_the_client_ip(tmp_path):
    g = gate(tmp_path)
    g.on_http_request("/instances", method=2, ip="10.1.2.3", headers={})
    assert g.on_received(polyglot(), InstanceOrigin.REST_API)[0] == DISCARD
    [entry] = g.quarantine.entries()
    assert entry["remote_ip"] == "10.1.2.3" and entry["origin"] == "REST_API"
    assert entry["rule"] == "ingest.preamble-executable"


def test_dimse_objects_are_left_to_the_cstore_filter(tmp_path):
    g = gate(tmp_path)
    # DISCARD would answer Success to the modality: the received callback keeps, the filter refuses.
    assert g.on_received(polyglot(), InstanceOrigin.DICOM_PROTOCOL)[0] == KEEP
    assert g.on_cstore(FakeCStoreInstance(polyglot(), "CT1")) == 0xC000
    assert g.quarantine.entries()[0]["remote_aet"] == "CT1"
    assert g.on_cstore(FakeCStoreInstance(pydicom_file("CT_small.dcm").read_bytes(), "CT1")) == 0


def test_same_bytes_twice_make_one_entry_with_two_attempts(tmp_path):
    g = gate(tmp_path)
    for _ in range(2):
        g.on_received(polyglot(), InstanceOrigin.REST_API)
    [entry] = g.quarantine.entries()
    assert entry["attempts"] == 2


@pytest.mark.parametrize("fail_open,expected", [(True, KEEP), (False, DISCARD)])
def test_a_bug_in_the_check_follows_failopen(tmp_path, monkeypatch, fail_open, expected):
    def broken(data):
        raise RuntimeError("bug")
    monkeypatch.setattr(plugin.ingest, "check_ingest", broken)
    g = gate(tmp_path, FailOpen=fail_open)
    assert g.on_received(pydicom_file("CT_small.dcm").read_bytes(), InstanceOrigin.REST_API)[0] == expected
    assert g.counts["errors"] == 1
    assert any("bug" in message for level, message in g.orthanc.logs if level == "error")
    assert len(g.quarantine.entries()) == (0 if fail_open else 1)


def test_failclosed_without_a_quarantine_keeps_the_object(tmp_path, monkeypatch):
    """Refusing an object that cannot be kept anywhere would lose it: keep it in Orthanc instead."""
    monkeypatch.setattr(plugin.ingest, "check_ingest", lambda data: 1 / 0)
    g = gate(tmp_path, FailOpen=False)
    monkeypatch.setattr(g.quarantine, "put", lambda *a, **k: 1 / 0)
    assert g.on_received(b"x", InstanceOrigin.REST_API)[0] == KEEP


def test_released_bytes_pass_once(tmp_path):
    g = gate(tmp_path)
    data = polyglot()
    with g.release(data):
        assert g.on_received(data, InstanceOrigin.PLUGIN)[0] == KEEP
    assert g.on_received(data, InstanceOrigin.PLUGIN)[0] == DISCARD


def test_disabled_sentinel_keeps_everything(tmp_path):
    g = gate(tmp_path, Enabled=False)
    assert g.on_received(polyglot(), InstanceOrigin.REST_API)[0] == KEEP
    assert g.on_cstore(FakeCStoreInstance(polyglot(), "CT1")) == 0


def test_same_uid_with_other_content_is_quarantined_but_an_identical_resend_is_not(tmp_path):
    g = gate(tmp_path)
    original = fresh_copy("CT_small.dcm")
    uid = pydicom.dcmread(io.BytesIO(original)).SOPInstanceUID
    g.orthanc.stored[uid] = ("instance-1", original)
    assert g.on_received(original, InstanceOrigin.REST_API)[0] == KEEP
    changed = bytearray(original)
    changed[-1] ^= 0xFF  # one pixel byte
    assert g.on_received(bytes(changed), InstanceOrigin.REST_API)[0] == DISCARD
    assert g.quarantine.entries()[0]["rule"] == "consistency.sop-resent"


@pytest.mark.parametrize("declared", ["²", "١٠٠٠٠٠٠٠٠٠٠٠٠٠"])
def test_a_content_length_in_other_digits_than_ascii_is_no_size(tmp_path, declared):
    """str.isdigit() takes "²" (then int() raised, logged as a failed filter) and Arabic-Indic digits."""
    g = gate(tmp_path, MaxObjectBytes=1000)
    assert g.on_http_request("/instances", headers={"content-length": declared}) is True
    assert g.orthanc.logs == []
    assert g.on_http_request("/instances", headers={"content-length": "1001"}) is False


def test_a_quarantine_that_cannot_write_its_record_leaves_no_bytes_behind(tmp_path, monkeypatch):
    """A full disk between the bytes and their record: the object is kept in Orthanc, no stray .dcm."""
    g = gate(tmp_path)
    written = plugin.quarantine.write_atomic

    def no_room_for_records(path: str, data: bytes) -> None:
        if path.endswith(".json"):
            raise OSError(28, "No space left on device")
        written(path, data)

    monkeypatch.setattr(plugin.quarantine, "write_atomic", no_room_for_records)
    assert g.on_received(polyglot(), InstanceOrigin.REST_API)[0] == KEEP
    assert list((tmp_path / "q").iterdir()) == []
