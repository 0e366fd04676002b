"""Verification of DICOM digital signatures (PS3.15 Annex C, PS3.3 C.12.1.1.3).

A signed data set (or sequence item) holds a MAC Parameters Sequence (4FFE,0001) and a Digital Signatures
Sequence (FFFA,FFFA). Each signature item names, by MAC ID Number (0400,0005), a MAC parameters item
that gives the MAC Calculation Transfer Syntax UID (0400,0010), the MAC Algorithm (0400,0015) and the
Data Elements Signed (0400,0020). The MAC is the hash of a byte stream: the signed elements of the data
set in tag order, then the signature item's own elements except Certificate of Signer (0400,0115),
Signature (0400,0120), Certified Timestamp Type (0400,0305) and Certified Timestamp (0400,0310), all
encoded in the MAC transfer syntax (Explicit VR Little Endian, or the file's encapsulated syntax) with the rules of
PS3.15 C.1 for sequences: no length for a sequence or an item, Item Delimitation and Sequence Delimitation
tags without their length. The Signature is that MAC signed with the private key of the X.509 Certificate
of Signer (Certificate Type (0400,0110) ``X509_1993_SIG``): RSA PKCS #1 v1.5 over a DigestInfo, or ECDSA.

Checked here: the MAC against the signed elements as they are now, the signature against the
certificate's public key, the certificate's own signature when it is self-signed, and the certificate's
validity period at Digital Signature DateTime (0400,0105). Not checked: chains to a trusted CA (there is
no trust store) and certified timestamps. Verified against signatures made by dcmtk's ``dcmsign``.
"""

from __future__ import annotations

import hashlib
import struct
from datetime import datetime
from io import BytesIO
from typing import Iterator

import pydicom
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.hazmat.primitives import hashes
import numpy as np
from pydicom.dataelem import RawDataElement
from pydicom.dataset import Dataset
from pydicom.filebase import DicomBytesIO
from pydicom.filewriter import correct_ambiguous_vr_element, write_data_element
from pydicom.uid import UID

from .findings import Action, Finding, Severity, format_tag
from .rules import define

INVALID = define(
    "signature.invalid", Severity.ERROR, Action.LABEL,
    "A digital signature (FFFA,FFFA) does not verify: the signed elements were changed after signing (the "
    "MAC differs), or the Signature (0400,0120) does not match the signer's certificate (PS3.15 C.1).")
MALFORMED = define(
    "signature.malformed", Severity.ERROR, Action.LABEL,
    "A Digital Signatures Sequence item cannot be verified: no MAC Parameters item with its MAC ID Number, "
    "an unknown MAC Algorithm or transfer syntax, or an unreadable Certificate of Signer (PS3.3 C.12.1).")
CERTIFICATE_INVALID = define(
    "signature.certificate-invalid", Severity.ERROR, Action.LABEL,
    "The self-signed Certificate of Signer (0400,0115) does not verify with its own public key: it was "
    "altered (RFC 5280 6.1).")
CERTIFICATE_VALIDITY = define(
    "signature.certificate-validity", Severity.WARNING, Action.LABEL,
    "Digital Signature DateTime (0400,0105) lies outside the validity period of the Certificate of Signer.")
UNTRUSTED = define(
    "signature.certificate-untrusted", Severity.INFO, Action.REPORT,
    "The Certificate of Signer is issued by a CA; its chain is not verified (Sentinel has no trust store).")
VALID = define(
    "signature.valid", Severity.INFO, Action.REPORT,
    "A digital signature verifies: MAC, signature and (self-signed) certificate.")
SERIES_UNSIGNED = define(
    "signature.series-unsigned", Severity.ERROR, Action.LABEL,
    "An instance without a digital signature arrived in a series whose earlier instances were signed: "
    "signatures may have been stripped to hide a modification.")

# PS3.3 C.12.1.1.3.1.1: MAC Algorithm defined terms -> hashlib names.
_MAC = {"RIPEMD160": "ripemd160", "MD5": "md5", "SHA1": "sha1", "SHA256": "sha256", "SHA384": "sha384",
        "SHA512": "sha512"}
# The DER DigestInfo prefix of each hash for RSA PKCS #1 v1.5 (RFC 8017 9.2 Note 1; RIPEMD-160 is OID
# 1.3.36.3.2.1).
_DIGEST_INFO = {
    "md5": bytes.fromhex("3020300c06082a864886f70d020505000410"),
    "sha1": bytes.fromhex("3021300906052b0e03021a05000414"),
    "ripemd160": bytes.fromhex("3021300906052b2403020105000414"),
    "sha256": bytes.fromhex("3031300d060960864801650304020105000420"),
    "sha384": bytes.fromhex("3041300d060960864801650304020205000430"),
    "sha512": bytes.fromhex("3051300d060960864801650304020305000440"),
}
# ECDSA signs the bare digest; cryptography wants a hash of the same size to name it.
_ECDSA_PREHASH = {16: hashes.MD5(), 20: hashes.SHA1(), 32: hashes.SHA256(), 48: hashes.SHA384(),
                  64: hashes.SHA512()}
# VRs with a 2-byte reserved field and a 4-byte length in explicit VR (PS3.5 7.1.2).
_LONG_VRS = {"OB", "OD", "OF", "OL", "OV", "OW", "SQ", "SV", "UC", "UN", "UR", "UT", "UV"}
_UNSIGNED_ITEM_TAGS = {0x04000115, 0x04000120, 0x04000305, 0x04000310}
# Byte width of the words of binary VRs, swapped when the source is big endian (PS3.5 7.3).
_WORD_SIZE = {"OW": 2, "US": 2, "SS": 2, "AT": 2, "OF": 4, "OL": 4, "UL": 4, "SL": 4, "FL": 4, "OD": 8, "FD": 8,
              "OV": 8, "SV": 8, "UV": 8}
_ITEM, _SEQUENCE_END = b"\xfe\xff\x00\xe0", b"\xfe\xff\xdd\xe0"
# Tag (FFFA,FFFA) as it is written in little and in big endian data sets, and the Deflated Explicit VR
# Little Endian transfer syntax, whose data set shows no tag in the clear (PS3.5 A.5).
_SIGNATURES_TAG_BYTES = (b"\xfa\xff\xfa\xff", b"\xff\xfa\xff\xfa")
_DEFLATED = b"1.2.840.10008.1.2.1.99"


def check_signatures(data: bytes, series_was_signed: bool = False) -> list[Finding]:
    """Verify every digital signature of a Part 10 file, in the main data set and in sequence items.

    Gives one finding per signature: ``signature.valid`` (INFO, report only) or what is wrong with it.
    ``series_was_signed``: earlier instances of this object's series carried signatures, so an unsigned
    one is ``signature.series-unsigned``. A file pydicom cannot parse gives no finding (the instance
    checks report it).
    """
    findings: list[Finding] = []
    count = 0
    # Most objects are unsigned: finding that out by a byte search spares parsing every element.
    if _DEFLATED in data[:8192] or any(tag in data for tag in _SIGNATURES_TAG_BYTES):
        try:
            ds = pydicom.dcmread(BytesIO(data), force=True)
        except Exception:  # unreadable objects are instance.unreadable's to report
            return []
        little = getattr(ds, "is_little_endian", True) is not False
        for path, item in _signed_items(ds, ""):
            for index, signature in enumerate(item.DigitalSignaturesSequence):
                count += 1
                findings += _verify(item, signature, f"{path}(FFFA,FFFA)[{index}]", little)
    if count == 0 and series_was_signed:
        findings.append(SERIES_UNSIGNED.finding("no digital signature, but earlier instances of the series "
                                                "were signed", 0xFFFAFFFA))
    return findings


def is_signed(findings: list[Finding]) -> bool:
    """Whether :func:`check_signatures` found any signature (valid or not) among ``findings``."""
    return any(f.rule.startswith("signature.") and f.rule != SERIES_UNSIGNED.id for f in findings)


def _signed_items(ds: Dataset, path: str) -> Iterator[tuple[str, Dataset]]:
    """(path, data set) of the data set and every nested item that holds a Digital Signatures Sequence."""
    if "DigitalSignaturesSequence" in ds:
        yield path, ds
    for elem in ds:
        if elem.VR == "SQ" and elem.tag != 0xFFFAFFFA:
            for i, child in enumerate(elem.value):
                yield from _signed_items(child, f"{path}{format_tag(elem.tag)}[{i}].")


def _verify(item: Dataset, signature: Dataset, where: str, little: bool) -> list[Finding]:
    """Findings of one Digital Signatures Sequence item ``signature`` of data set ``item``."""
    mac_id = signature.get("MACIDNumber")
    params = next((p for p in item.get("MACParametersSequence", []) if p.get("MACIDNumber") == mac_id), None)
    if params is None:
        return [MALFORMED.finding(f"{where}: no MAC Parameters item with MAC ID Number {mac_id}", 0x04000005)]
    algorithm = _MAC.get(str(params.get("MACAlgorithm", "")).strip())
    if algorithm is None:
        return [MALFORMED.finding(f"{where}: MAC Algorithm {params.get('MACAlgorithm')!r} unknown", 0x04000015)]
    syntax = UID(str(params.get("MACCalculationTransferSyntaxUID", "")))
    # Explicit VR Little Endian, or an encapsulated syntax (explicit little endian, pixel data in fragments).
    if not syntax.is_transfer_syntax or syntax.is_implicit_VR or not syntax.is_little_endian:
        return [MALFORMED.finding(f"{where}: MAC Calculation Transfer Syntax "
                                  f"{params.get('MACCalculationTransferSyntaxUID')} not supported", 0x04000010)]
    try:
        cert = x509.load_der_x509_certificate(_der(bytes(signature.CertificateOfSigner)))
        value = bytes(signature.Signature)
    except (AttributeError, ValueError) as e:
        return [MALFORMED.finding(f"{where}: no readable certificate or signature: {e}", 0x04000115)]
    signed = {int(t) for t in _as_list(params.get("DataElementsSigned", []))}
    stream = _encode_items(item, signed, little) + _encode_items(
        signature, {int(e.tag) for e in signature if e.tag not in _UNSIGNED_ITEM_TAGS}, little)
    digest = hashlib.new(algorithm, stream).digest()
    if not _signature_matches(cert, value, digest, algorithm):
        return [INVALID.finding(f"{where}: the {algorithm.upper()} MAC of {len(signed)} signed elements "
                                f"does not match the signature of {cert.subject.rfc4514_string()}",
                                0xFFFAFFFA, signature_uid=str(signature.get("DigitalSignatureUID", "")))]
    return _check_certificate(cert, signature, where)


def _as_list(value) -> list:
    return list(value) if isinstance(value, (list, pydicom.multival.MultiValue)) else [value]


def _signature_matches(cert: x509.Certificate, value: bytes, digest: bytes, algorithm: str) -> bool:
    key = cert.public_key()
    if isinstance(key, rsa.RSAPublicKey):
        # Raw RSA, since cryptography has no RIPEMD-160 (dcmsign's default): s^e mod n must be
        # 00 01 FF..FF 00 DigestInfo (RFC 8017 8.2.2, EMSA-PKCS1-v1_5).
        numbers = key.public_numbers()
        size = (numbers.n.bit_length() + 7) // 8
        if len(value) != size:
            return False
        encoded = pow(int.from_bytes(value, "big"), numbers.e, numbers.n).to_bytes(size, "big")
        suffix = _DIGEST_INFO[algorithm] + digest
        return encoded == b"\x00\x01" + b"\xff" * (size - len(suffix) - 3) + b"\x00" + suffix
    if isinstance(key, ec.EllipticCurvePublicKey) and len(digest) in _ECDSA_PREHASH:
        try:
            key.verify(_der(value), digest, ec.ECDSA(Prehashed(_ECDSA_PREHASH[len(digest)])))
            return True
        except InvalidSignature:
            return False
    return False


def _der(value: bytes) -> bytes:
    """One DER value without the pad byte that makes OB values even (PS3.5 7.1.1): the certificate
    and ECDSA signatures are DER and may have odd length."""
    if len(value) < 2:
        return value
    size, start = value[1], 2
    if size & 0x80:
        count = size & 0x7F
        size, start = int.from_bytes(value[2:2 + count], "big"), 2 + count
    return value[:start + size]


def _check_certificate(cert: x509.Certificate, signature: Dataset, where: str) -> list[Finding]:
    findings = []
    if cert.issuer == cert.subject:
        try:
            cert.verify_directly_issued_by(cert)
        except (InvalidSignature, ValueError, TypeError) as e:
            return [CERTIFICATE_INVALID.finding(f"{where}: self-signed certificate does not verify: "
                                                f"{type(e).__name__}", 0x04000115)]
    else:
        findings.append(UNTRUSTED.finding(f"{where}: certificate issued by {cert.issuer.rfc4514_string()}, "
                                          "chain not verified", 0x04000115))
    when = _signature_time(str(signature.get("DigitalSignatureDateTime", "")))
    if when is not None and not cert.not_valid_before_utc <= when <= cert.not_valid_after_utc:
        findings.append(CERTIFICATE_VALIDITY.finding(
            f"{where}: signed {when.isoformat()}, certificate valid {cert.not_valid_before_utc.isoformat()} "
            f"to {cert.not_valid_after_utc.isoformat()}", 0x04000105))
    findings.append(VALID.finding(f"{where}: signature by {cert.subject.rfc4514_string()} verifies", 0xFFFAFFFA,
                                  signature_uid=str(signature.get("DigitalSignatureUID", ""))))
    return findings


def _signature_time(text: str) -> datetime | None:
    """A DT value (PS3.5 6.2) as an aware datetime, UTC when it has no offset; None if unreadable."""
    text = text.strip()
    main, zone = (text[:-5], text[-5:]) if len(text) >= 5 and text[-5] in "+-" else (text, "+0000")
    try:
        return datetime.strptime(main.split(".")[0].ljust(14, "0")[:14] + zone, "%Y%m%d%H%M%S%z")
    except ValueError:
        return None


def _encode_items(ds: Dataset, tags: set[int], little: bool) -> bytes:
    """The elements of ``ds`` whose tags are in ``tags``, in tag order, in signature format."""
    out = BytesIO()
    for tag in sorted(tags):
        if tag in ds:
            _encode_element(ds, tag, out, little)
    return out.getvalue()


def _encode_element(ds: Dataset, tag: int, out: BytesIO, little: bool) -> None:
    """One element in Explicit VR Little Endian signature format (PS3.15 C.1, as dcmtk writes it)."""
    raw = ds.get_item(tag)
    elem = ds[tag]   # converts: the VR of implicit VR data comes from the dictionary
    vr = elem.VR if " or " not in elem.VR else correct_ambiguous_vr_element(elem, ds, True).VR
    head = struct.pack("<HH", tag >> 16, tag & 0xFFFF) + vr.encode()
    if vr == "SQ":
        out.write(head + b"\0\0")
        for child in elem.value:
            out.write(_ITEM)
            out.write(_encode_items(child, {int(e.tag) for e in child}, little))
        out.write(_SEQUENCE_END)
        return
    value = _value_bytes(elem, raw, vr, little)
    if elem.is_undefined_length and vr in ("OB", "OW"):
        # Encapsulated Pixel Data: like a sequence, each fragment's item tag without its length.
        out.write(head + b"\0\0")
        offset = 0
        while offset + 8 <= len(value):
            size = struct.unpack_from("<I", value, offset + 4)[0]
            out.write(value[offset:offset + 4] + value[offset + 8:offset + 8 + size])
            offset += 8 + size
        out.write(_SEQUENCE_END)
    elif vr in _LONG_VRS:
        out.write(head + b"\0\0" + struct.pack("<I", len(value)) + value)
    else:
        out.write(head + struct.pack("<H", len(value)) + value)


def _value_bytes(elem, raw, vr: str, little: bool) -> bytes:
    """The value in little endian: the bytes as read when pydicom kept them (byte-swapped per word
    of big endian data), else pydicom's encoding of the converted value."""
    if isinstance(raw, RawDataElement):
        value = raw.value or b""
        width = _WORD_SIZE.get(vr, 1)
        if little or width == 1:
            return value
        return np.frombuffer(value, dtype=f">u{width}").astype(f"<u{width}").tobytes()
    buffer = DicomBytesIO()
    buffer.is_little_endian, buffer.is_implicit_VR = True, False
    write_data_element(buffer, elem)
    return buffer.getvalue()[12 if vr in _LONG_VRS else 8:]
