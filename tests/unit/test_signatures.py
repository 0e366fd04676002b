"""validators.signatures against signatures made by an independent tool, dcmtk's dcmsign: real files of
every encoding (explicit and implicit VR, big endian, encapsulated JPEG 2000, sequences), RSA and ECDSA
keys, several MAC algorithms, and copies tampered with after signing."""

import io
import shutil
import subprocess

import pydicom
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from realfiles import pydicom_file
from signing import dcmsign, make_identity
from validators.findings import Severity
from validators.signatures import check_signatures, is_signed

pytestmark = pytest.mark.skipif(shutil.which("dcmsign") is None, reason="dcmtk's dcmsign not installed")


@pytest.fixture(scope="module")
def identities(tmp_path_factory):
    folder = tmp_path_factory.mktemp("keys")
    return {"rsa": make_identity(folder, rsa.generate_private_key(65537, 2048)),
            "ecdsa": make_identity(folder, ec.generate_private_key(ec.SECP256R1()), "ecdsa signer")}


def rules(findings):
    return sorted(f.rule for f in findings)


@pytest.mark.parametrize("name", ["CT_small.dcm", "rtplan.dcm", "JPEG2000.dcm", "MR_small_bigendian.dcm",
                                  "MR_small_implicit.dcm"])
def test_dcmsign_signature_verifies(tmp_path, identities, name):
    data = dcmsign(tmp_path, pydicom_file(name), identities["rsa"])
    findings = check_signatures(data)
    assert rules(findings) == ["signature.valid"]
    assert is_signed(findings)


@pytest.mark.parametrize("identity,mac", [("rsa", "+m2"), ("rsa", "+m5"), ("rsa", "+ms"), ("ecdsa", "+m2"),
                                          ("ecdsa", "+mr")])
def test_algorithms(tmp_path, identities, identity, mac):
    data = dcmsign(tmp_path, pydicom_file("CT_small.dcm"), identities[identity], mac)
    assert rules(check_signatures(data)) == ["signature.valid"]


def tampered(data, change):
    ds = pydicom.dcmread(io.BytesIO(data))
    change(ds)
    out = io.BytesIO()
    ds.save_as(out)
    return out.getvalue()


def change_one_pixel(ds):
    pixels = ds.pixel_array.copy()
    pixels[10, 10] += 1
    ds.PixelData = pixels.tobytes()


@pytest.mark.parametrize("change", [change_one_pixel, lambda ds: setattr(ds, "PatientName", "Other^Patient"),
                                    lambda ds: delattr(ds, "StudyDate")])
def test_change_after_signing_is_invalid(tmp_path, identities, change):
    data = tampered(dcmsign(tmp_path, pydicom_file("CT_small.dcm"), identities["rsa"]), change)
    findings = check_signatures(data)
    assert rules(findings) == ["signature.invalid"]
    assert findings[0].severity is Severity.ERROR


def test_forged_signature_with_another_key_is_invalid(tmp_path, identities):
    """Someone re-signs an edited object but keeps the original certificate: the signature fails."""
    original = pydicom.dcmread(io.BytesIO(dcmsign(tmp_path, pydicom_file("CT_small.dcm"), identities["rsa"])))
    forged = pydicom.dcmread(io.BytesIO(dcmsign(tmp_path, pydicom_file("CT_small.dcm"), identities["ecdsa"])))
    forged.DigitalSignaturesSequence[0].CertificateOfSigner = \
        original.DigitalSignaturesSequence[0].CertificateOfSigner
    out = io.BytesIO()
    forged.save_as(out)
    assert rules(check_signatures(out.getvalue())) == ["signature.invalid"]


def test_altered_certificate(tmp_path, identities):
    def flip_certificate_signature(ds):
        cert = bytearray(ds.DigitalSignaturesSequence[0].CertificateOfSigner)
        cert[-5] ^= 1   # inside the certificate's own signature, outside the public key
        ds.DigitalSignaturesSequence[0].CertificateOfSigner = bytes(cert)
    data = tampered(dcmsign(tmp_path, pydicom_file("CT_small.dcm"), identities["rsa"]),
                    flip_certificate_signature)
    assert rules(check_signatures(data)) == ["signature.certificate-invalid"]


def test_signature_in_a_sequence_item(tmp_path, identities):
    key, cert = identities["rsa"]
    out = tmp_path / "item.dcm"
    subprocess.run(["dcmsign", "--sign-item", str(key), str(cert), "BeamSequence[0]",
                    str(pydicom_file("rtplan.dcm")), str(out)], check=True, capture_output=True)
    findings = check_signatures(out.read_bytes())
    assert rules(findings) == ["signature.valid"]
    assert "(300A,00B0)[0]." in findings[0].message


def test_expired_certificate(tmp_path):
    identity = make_identity(tmp_path, rsa.generate_private_key(65537, 2048), days_valid=(-30, -1))
    data = dcmsign(tmp_path, pydicom_file("CT_small.dcm"), identity)
    assert rules(check_signatures(data)) == ["signature.certificate-validity", "signature.valid"]


def test_unsigned_instance_in_a_signed_series():
    data = pydicom_file("CT_small.dcm").read_bytes()
    assert check_signatures(data) == []
    assert rules(check_signatures(data, series_was_signed=True)) == ["signature.series-unsigned"]
    assert not is_signed(check_signatures(data, series_was_signed=True))


def test_garbage_gives_no_findings():
    assert check_signatures(b"not dicom at all") == []
