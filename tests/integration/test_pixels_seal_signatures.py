"""Pixel checks, the integrity seal and digital signatures through a real Orthanc."""

from __future__ import annotations

from cryptography.hazmat.primitives.asymmetric import rsa

from integration.orthanc_server import OrthancServer
from realfiles import fresh_copy
from signing import dcmsign, make_identity


def stored_file(orthanc, instance_id: str):
    """The path of an instance's DICOM file in Orthanc's storage folder (uncompressed storage)."""
    uuid = orthanc.get(f"/instances/{instance_id}/attachments/dicom/info").json()["Uuid"]
    return orthanc.workdir / "db" / uuid[0:2] / uuid[2:4] / uuid


def test_a_file_changed_in_storage_after_ingest_breaks_its_seal():
    # No storage cache: Orthanc must read the file from disk again, as it does once the cache evicts it.
    with OrthancServer({"MaximumStorageCacheSize": 0}) as orthanc:
        seal_breaks_when_storage_changes(orthanc)


def seal_breaks_when_storage_changes(orthanc: OrthancServer) -> None:
    stored = orthanc.upload(fresh_copy("CT_small.dcm")).json()
    report = orthanc.report("instances", stored["ID"])
    assert report["seal"]["algorithm"] == "sha256-raw"
    assert not any(f["rule"].startswith("seal.") for f in report["findings"])
    path = stored_file(orthanc, stored["ID"])
    data = bytearray(path.read_bytes())
    data[-200] ^= 0x01  # one stored pixel value, as an attacker with access to the storage would
    path.write_bytes(bytes(data))
    revalidated = orthanc.post(f"/sentinel/instances/{stored['ID']}/revalidate").json()
    assert "seal.pixels-changed" in {f["rule"] for f in revalidated["findings"]}
    assert revalidated["seal"] == report["seal"]  # the first seal is kept
    assert revalidated["verdict"] == "suspicious"


def test_signed_object_verifies_and_a_tampered_one_does_not(orthanc, tmp_path):
    identity = make_identity(tmp_path, rsa.generate_private_key(65537, 2048))
    source = tmp_path / "source.dcm"
    source.write_bytes(fresh_copy("MR_small.dcm"))
    signed = dcmsign(tmp_path, source, identity)
    good = orthanc.upload(signed).json()
    assert "signature.valid" in {f["rule"] for f in orthanc.report("instances", good["ID"])["findings"]}
    source.write_bytes(fresh_copy("MR_small.dcm"))
    tampered = bytearray(dcmsign(tmp_path, source, identity))
    pixel_data = tampered.rfind(b"\xe0\x7f\x10\x00")  # (7FE0,0010); the signature sequence follows it
    tampered[pixel_data + 100] ^= 0x01  # one pixel byte, after signing
    bad = orthanc.upload(bytes(tampered)).json()
    report = orthanc.report("instances", bad["ID"])
    assert "signature.invalid" in {f["rule"] for f in report["findings"]}
    assert "sentinel-suspicious" in orthanc.get(f"/instances/{bad['ID']}/labels").json()


def test_revalidate_of_a_series_and_unknown_ids(orthanc):
    stored = orthanc.upload(fresh_copy("CT_small.dcm")).json()
    report = orthanc.post(f"/sentinel/series/{stored['ParentSeries']}/revalidate").json()
    assert report["pending"] is False and report["instances"]["total"] == 1
    assert orthanc.post("/sentinel/studies/00000000-00000000-00000000-00000000-00000000/revalidate").status_code == 404
    assert orthanc.get(f"/sentinel/series/{stored['ParentSeries']}/revalidate").status_code == 405
