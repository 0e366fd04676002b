"""Signing real files with an independent tool, dcmtk's dcmsign, for the signature tests."""

import datetime
import subprocess

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.x509.oid import NameOID


def make_identity(folder, key, name="Sentinel test signer", days_valid=(-1, 30)):
    """A private key and a self-signed certificate as PEM files, valid around now."""
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.datetime.now(datetime.timezone.utc)
    cert = (x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(now + datetime.timedelta(days=days_valid[0]))
            .not_valid_after(now + datetime.timedelta(days=days_valid[1]))
            .sign(key, hashes.SHA256()))
    key_path, cert_path = folder / f"{name}.key.pem", folder / f"{name}.cert.pem"
    key_path.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                           serialization.NoEncryption()))
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def dcmsign(tmp_path, source, identity, *options):
    out = tmp_path / "signed.dcm"
    key, cert = identity
    subprocess.run(["dcmsign", "--sign", str(key), str(cert), *options, str(source), str(out)], check=True,
                   capture_output=True)
    return out.read_bytes()
