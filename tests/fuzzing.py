"""Structural fuzzing of DICOM ingest: seeded mutations of real files, and the accounting of what a real
Orthanc with Sentinel did with each mutant. Shared by tests/integration/test_fuzz.py and bench/fuzz.py.

Every mutant comes from a real file that pydicom ships (:data:`SEED_FILES`), rewritten once with
deterministic UIDs, then given a SOP Instance UID of its own (same length, so that every element offset
stays valid) and one named structural mutation (:data:`MUTATIONS`). ``generate(n, seed)`` gives the same
``n`` mutants for the same ``seed``, so a failing input is reproduced by its index and seed alone.

Accounting (:class:`Accountant`): each input must end stored (and be found in Orthanc), quarantined (and
be found in Sentinel's quarantine), or refused by Orthanc or by the sending client with a message.
Anything else (a 5xx, a lost connection, a timeout, a "stored" object Orthanc does not have, a refusal
that nobody explains) is a failure.
"""

from __future__ import annotations

import hashlib
import io
import random
import re
import struct
import tempfile
import time
import zlib
from collections import Counter
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Callable, Iterator

import pydicom
import requests
from pydicom.uid import generate_uid

from realfiles import pydicom_file
from validators.dicomstream import (EXPLICIT_BE, EXPLICIT_LE, IMPLICIT_LE, ITEM, ITEM_DELIMITATION, LONG_VRS,
                                    PIXEL_TAGS, SEQUENCE_DELIMITATION, UNDEFINED_LENGTH, VALID_VRS, Encoding,
                                    read_header)

# Real files covering the encodings and structures a parser meets: explicit and implicit VR, big endian,
# sequences (RT plan, SR tree), encapsulated JPEG 2000 and RLE multi-frame, a waveform, private elements.
SEED_FILES = ("CT_small.dcm", "MR_small_implicit.dcm", "MR_small_bigendian.dcm", "rtplan.dcm", "JPEG2000.dcm",
              "waveform_ecg.dcm", "SC_rgb_rle_2frame.dcm", "test-SR.dcm")
_TRANSFER_SYNTAX_ENCODINGS = {"1.2.840.10008.1.2": IMPLICIT_LE, "1.2.840.10008.1.2.2": EXPLICIT_BE}
_DEFLATED_TS = b"1.2.840.10008.1.2.1.99"
_META_START = 132
# A private block of our own, odd group just below Pixel Data: no seed uses it, and inserting it there
# keeps the data set in ascending tag order.
_PRIVATE_GROUP = 0x7FD1
PRIVATE_CREATOR = (_PRIVATE_GROUP << 16) | 0x0010
_PRIVATE_ELEMENT = (_PRIVATE_GROUP << 16) | 0x1000
_PRIVATE_SEQUENCE = (_PRIVATE_GROUP << 16) | 0x1001
_ROWS, _COLUMNS, _NUMBER_OF_FRAMES = 0x00280010, 0x00280011, 0x00280008
# Sequence depths: real IODs stay under 10, Sentinel rejects over 32 (ingest.nesting-depth). Orthanc
# 1.12.7 itself dies (SIGSEGV) on a REST upload nested 56 levels or more, with or without Sentinel, even
# when Sentinel refuses it (Orthanc parses the object to answer FilteredOut): so the fuzzing stays under
# that, and tests/integration/test_fuzz.py documents the crash at ORTHANC_CRASH_LEVELS.
NESTING_LEVELS = (8, 31, 33, 48)
ORTHANC_CRASH_LEVELS = 64
# Preambles of things that execute or unpack (what CVE-2019-11687 polyglots carry).
EXECUTABLE_SIGNATURES = (b"MZ\x90\x00\x03\x00\x00\x00", b"\x7fELF\x02\x01\x01", b"\xcf\xfa\xed\xfe", b"PK\x03\x04",
                         b"%PDF-1.7\n", b"#!/bin/sh\n", b"\x1f\x8b\x08", b"<script>")


@dataclass(frozen=True)
class Element:
    """One element header of a seed: where it is, its tag, VR, length, value offset, nesting depth."""

    offset: int
    tag: int
    vr: bytes | None
    length: int
    value_offset: int
    depth: int

    @property
    def length_field(self) -> tuple[int, int]:
        """(offset, width) of the length field: 16-bit for the short explicit VRs (PS3.5 7.1.2)."""
        if self.vr is not None and self.vr not in LONG_VRS:
            return self.offset + 6, 2
        return self.value_offset - 4, 4


@dataclass(frozen=True)
class Seed:
    """A real file rewritten with deterministic UIDs, with its element headers."""

    name: str
    data: bytes
    encoding: Encoding
    dataset_start: int
    sop_instance_uid: bytes
    elements: tuple[Element, ...]

    def top_level(self) -> list[Element]:
        return [e for e in self.elements if e.depth == 0 and e.offset >= self.dataset_start]


@dataclass(frozen=True)
class FuzzInput:
    """One mutant: ``index`` and the run's seed reproduce it; ``sop_instance_uid`` is the UID planted in it
    (a mutation may have damaged it)."""

    index: int
    seed_file: str
    mutation: str
    data: bytes
    sop_instance_uid: str


def scan_elements(data: bytes, start: int, enc: Encoding, limit: int = 20_000) -> list[Element]:
    """Every element header from ``start``, entering sequences and items, in file order (at most ``limit``).
    Encapsulated pixel data fragments are skipped by length, as are values."""
    out: list[Element] = []
    # Stack of (end offset or None for undefined length, True if the container holds fragments).
    stack: list[tuple[int | None, bool]] = []
    pos = start
    while len(out) < limit:
        while stack and stack[-1][0] is not None and pos >= stack[-1][0]:
            stack.pop()
        h = read_header(data, pos, enc if pos >= start else EXPLICIT_LE)
        if h is None:
            break
        tag, vr, length, value_offset = h
        out.append(Element(pos, tag, vr, length, value_offset, len(stack)))
        fragments = bool(stack) and stack[-1][1]
        if tag in (ITEM_DELIMITATION, SEQUENCE_DELIMITATION):
            if stack:
                stack.pop()
            pos = value_offset
        elif tag == ITEM and fragments or (tag != ITEM and vr != b"SQ" and length != UNDEFINED_LENGTH):
            pos = value_offset + length
        else:  # a sequence, an item of one, or undefined-length pixel data: walk into it
            end = None if length == UNDEFINED_LENGTH else value_offset + length
            stack.append((end, tag in PIXEL_TAGS))
            pos = value_offset
        if pos > len(data):
            break
    return out


def _prepare(name: str) -> Seed:
    """``name`` with Study, Series and SOP Instance UIDs derived from its name (the same every run)."""
    ds = pydicom.dcmread(pydicom_file(name))
    ds.StudyInstanceUID = generate_uid(entropy_srcs=["sentinel-fuzz", name, "study"])
    ds.SeriesInstanceUID = generate_uid(entropy_srcs=["sentinel-fuzz", name, "series"])
    uid = generate_uid(entropy_srcs=["sentinel-fuzz", name, "instance"])
    ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = uid
    out = io.BytesIO()
    ds.save_as(out, write_like_original=False)
    data = out.getvalue()
    meta: list[Element] = []
    pos = _META_START
    while (h := read_header(data, pos, EXPLICIT_LE)) is not None and h[0] >> 16 == 2:
        meta.append(Element(pos, *h, depth=0))
        pos = h[3] + h[2]
    enc = _TRANSFER_SYNTAX_ENCODINGS.get(str(ds.file_meta.TransferSyntaxUID), EXPLICIT_LE)
    return Seed(name, data, enc, pos, uid.encode(), tuple(meta + scan_elements(data, pos, enc)))


@lru_cache(maxsize=None)
def seeds() -> tuple[Seed, ...]:
    return tuple(_prepare(name) for name in SEED_FILES)


# -- byte-level helpers ---------------------------------------------------------------------------------

def encode_element(tag: int, vr: bytes, value: bytes, enc: Encoding, length: int | None = None) -> bytes:
    """An element header and value in ``enc``; ``length`` overrides the value's length (UNDEFINED_LENGTH)."""
    order = "<" if enc.little else ">"
    length = len(value) if length is None else length
    group, element = tag >> 16, tag & 0xFFFF
    if tag >> 16 == 0xFFFE or not enc.explicit:
        return struct.pack(order + "HHI", group, element, length) + value
    if vr in LONG_VRS:
        return struct.pack(order + "HH2s2xI", group, element, vr, length) + value
    return struct.pack(order + "HH2sH", group, element, vr, length) + value


def insertion_point(seed: Seed, tag: int) -> int:
    """Where an element ``tag`` goes in the data set: before the first top-level element with a higher tag."""
    after = [e.offset for e in seed.top_level() if e.tag > tag]
    return after[0] if after else len(seed.data)


def insert_top_level(seed: Seed, data: bytes, encoded: bytes, tag: int) -> bytes:
    """``encoded`` inserted into the data set at the insertion point of ``tag``."""
    at = insertion_point(seed, tag)
    return data[:at] + encoded + data[at:]


def replace_value(data: bytes, element: Element, value: bytes, enc: Encoding) -> bytes:
    """``data`` with a top-level ``element`` re-encoded around a new value (its length changes)."""
    return (data[:element.offset] + encode_element(element.tag, element.vr or b"UN", value, enc)
            + data[element.value_offset + element.length:])


def set_length(data: bytes, element: Element, length: int, little: bool) -> bytes:
    """``data`` with the length field of ``element`` overwritten (truncated to the field's width)."""
    at, width = element.length_field
    fmt = ("<" if little else ">") + ("H" if width == 2 else "I")
    return data[:at] + struct.pack(fmt, length & (0xFFFF if width == 2 else 0xFFFFFFFF)) + data[at + width:]


def with_transfer_syntax(seed: Seed, data: bytes, uid: bytes) -> bytes:
    """``data`` with another TransferSyntaxUID (0002,0010) and the File Meta group length to match."""
    meta = [e for e in seed.elements if e.offset < seed.dataset_start]
    by_tag = {e.tag: e for e in meta}
    ts = by_tag[0x00020010]
    padded = uid + b"\x00" * (len(uid) & 1)
    data = data[:ts.offset] + encode_element(ts.tag, b"UI", padded, EXPLICIT_LE) + data[ts.value_offset + ts.length:]
    group_length = seed.dataset_start - by_tag[0x00020000].value_offset - 4 + len(padded) - ts.length
    at = by_tag[0x00020000].value_offset
    return data[:at] + struct.pack("<I", group_length) + data[at + 4:]


@lru_cache(maxsize=8)
def deflated_zeros(size: int) -> bytes:
    """Raw deflate blocks that inflate to ``size`` zero bytes, from a fresh compressor (no back-references
    before them), ending the stream: appended to a fully flushed stream, they make one valid stream."""
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    chunk = bytes(1 << 20)
    parts = [compressor.compress(chunk) for _ in range(size >> 20)]
    parts.append(compressor.compress(bytes(size & ((1 << 20) - 1))))
    parts.append(compressor.flush())
    return b"".join(parts)


# -- the mutations: (seed, base bytes with the mutant's own UID, rng) -> mutant bytes ----------------------

Mutation = Callable[[Seed, bytes, random.Random], bytes]


def _pick(seed: Seed, rng: random.Random, inside_dataset: bool = True) -> Element:
    candidates = [e for e in seed.elements if e.offset >= seed.dataset_start or not inside_dataset]
    return rng.choice(candidates)


def length_huge(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """A length field far past the end of the file (or the 16-bit maximum)."""
    return set_length(data, _pick(seed, rng), rng.choice([0xFFFFFFF0, 0x7FFFFFFF, len(data) * 64, 0xFFFF]),
                      seed.encoding.little)


def length_odd(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """A length one byte off (odd): every following header is read at the wrong place."""
    element = _pick(seed, rng)
    return set_length(data, element, element.length + rng.choice([-1, 1]), seed.encoding.little)


def length_undefined(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """0xFFFFFFFF on an element that is not a sequence, item or encapsulated pixel data."""
    plain = [e for e in seed.elements if e.offset >= seed.dataset_start and e.vr != b"SQ" and e.tag < 0xFFFE0000
             and e.tag not in PIXEL_TAGS] or list(seed.elements)
    return set_length(data, rng.choice(plain), UNDEFINED_LENGTH, seed.encoding.little)


def length_zero(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """A length of 0: the value's bytes are read as the next headers."""
    return set_length(data, _pick(seed, rng), 0, seed.encoding.little)


def vr_replace(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """An explicit VR replaced by another VR (possibly of the other header form) or by two random bytes;
    in implicit VR, where there is no VR field, the 2 bytes at the VR's place in the length."""
    element = _pick(seed, rng, inside_dataset=False)
    vr = rng.choice(sorted(VALID_VRS)) if rng.random() < 0.6 else rng.randbytes(2)
    return data[:element.offset + 4] + vr + data[element.offset + 6:]


def truncate(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """The file cut at a random offset (header, meta, data set or pixels)."""
    return data[:rng.randrange(0, len(data))]


def nested_sequence(levels: int, undefined: bool, enc: Encoding) -> bytes:
    """A private creator and a private sequence whose single item holds the same sequence, ``levels`` deep,
    with undefined lengths (delimitation items) or defined ones."""
    inner = b""
    for _ in range(levels):
        if undefined:
            item = (encode_element(ITEM, b"", inner, enc, UNDEFINED_LENGTH)
                    + encode_element(ITEM_DELIMITATION, b"", b"", enc))
            inner = (encode_element(_PRIVATE_SEQUENCE, b"SQ", item, enc, UNDEFINED_LENGTH)
                     + encode_element(SEQUENCE_DELIMITATION, b"", b"", enc))
        else:
            inner = encode_element(_PRIVATE_SEQUENCE, b"SQ", encode_element(ITEM, b"", inner, enc), enc)
    return encode_element(PRIVATE_CREATOR, b"LO", b"SENTINEL FUZZ ", enc) + inner


def nesting_deep(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """A private sequence nested N levels deep (:data:`NESTING_LEVELS`), of undefined or defined lengths."""
    encoded = nested_sequence(rng.choice(NESTING_LEVELS), rng.random() < 0.5, seed.encoding)
    return insert_top_level(seed, data, encoded, PRIVATE_CREATOR)


def dimensions_huge(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """Rows and Columns set to a huge (or zero) US value in place, and NumberOfFrames to a huge or absurd
    integer string (inserted where the file has none)."""
    order = "<" if seed.encoding.little else ">"
    for element in seed.top_level():
        if element.tag in (_ROWS, _COLUMNS) and element.length == 2 and rng.random() < 0.7:
            value = struct.pack(order + "H", rng.choice([0xFFFF, 0x8000, 0, 46341]))
            data = data[:element.value_offset] + value + data[element.value_offset + 2:]
    frames = rng.choice([b"2147483647", b"4294967296", b"999999999999", b"-1", b"1e9 ", b"0 "])
    existing = [e for e in seed.top_level() if e.tag == _NUMBER_OF_FRAMES]
    if existing:
        return replace_value(data, existing[0], frames, seed.encoding)
    return insert_top_level(seed, data, encode_element(_NUMBER_OF_FRAMES, b"IS", frames, seed.encoding),
                            _NUMBER_OF_FRAMES)


def deflate_bomb(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """Deflated Explicit VR Little Endian (PS3.5 A.5) whose data set carries a private OB of zeros that
    inflates to 0-512 MB from a few hundred kB; sometimes the stream is also cut short."""
    if seed.encoding != EXPLICIT_LE:
        return truncate(seed, data, rng)  # the data set must be re-encodable as is: only explicit LE seeds
    size = rng.choice([0, 1 << 20, 64 << 20, 512 << 20])
    at = insertion_point(seed, PRIVATE_CREATOR)
    head = (data[seed.dataset_start:at] + encode_element(PRIVATE_CREATOR, b"LO", b"SENTINEL FUZZ ", EXPLICIT_LE)
            + encode_element(_PRIVATE_ELEMENT, b"OB", b"", EXPLICIT_LE, size))
    compressor = zlib.compressobj(9, zlib.DEFLATED, -15)
    head = compressor.compress(head) + compressor.flush(zlib.Z_FULL_FLUSH)
    # The rest of the data set (Pixel Data) cannot follow the zeros' final block; it is dropped, which
    # leaves a data set that ends with the bomb.
    stream = head + deflated_zeros(size)
    if rng.random() < 0.25:
        stream = stream[:rng.randrange(len(head), len(stream))]
    return with_transfer_syntax(seed, data[:seed.dataset_start], _DEFLATED_TS) + stream


def preamble_random(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """128 random preamble bytes."""
    return rng.randbytes(128) + data[128:]


def preamble_executable(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """A preamble that starts with an executable, archive or script signature, random bytes after it."""
    signature = rng.choice(EXECUTABLE_SIGNATURES)
    return signature + rng.randbytes(128 - len(signature)) + data[128:]


def private_random(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """A private element (with its creator) whose value is random bytes, of a binary or text VR."""
    vr = rng.choice([b"UN", b"OB", b"LO", b"LT", b"UT", b"SQ"])
    size = rng.choice([0, 2, 64, 1024, 65_534]) if vr not in (b"LO",) else 64
    value = rng.randbytes(size)
    encoded = (encode_element(PRIVATE_CREATOR, b"LO", b"SENTINEL FUZZ ", seed.encoding)
               + encode_element(_PRIVATE_ELEMENT, vr, value, seed.encoding))
    return insert_top_level(seed, data, encoded, PRIVATE_CREATOR)


def header_bytes_random(seed: Seed, data: bytes, rng: random.Random) -> bytes:
    """1-16 random bytes overwritten anywhere between the File Meta and Pixel Data."""
    pixels = [e.offset for e in seed.top_level() if e.tag in PIXEL_TAGS]
    end = pixels[0] if pixels else len(data)
    out = bytearray(data)
    for _ in range(rng.randint(1, 16)):
        out[rng.randrange(_META_START, end)] = rng.randrange(256)
    return bytes(out)


MUTATIONS: dict[str, Mutation] = {
    "length-huge": length_huge, "length-odd": length_odd, "length-undefined": length_undefined,
    "length-zero": length_zero, "vr-replace": vr_replace, "truncate": truncate, "nesting-deep": nesting_deep,
    "dimensions-huge": dimensions_huge, "deflate-bomb": deflate_bomb, "preamble-random": preamble_random,
    "preamble-executable": preamble_executable, "private-random": private_random,
    "header-bytes-random": header_bytes_random,
}


def mutant_uid(seed: Seed, index: int) -> bytes:
    """The seed's SOP Instance UID with its last 8 digits replaced by ``index``: same length, unique."""
    return seed.sop_instance_uid[:-8] + b"%08d" % index


def generate(count: int, run_seed: int = 0, start: int = 0, mutations: list[str] | None = None) -> Iterator[FuzzInput]:
    """``count`` mutants, from index ``start``, round-robin over the mutations, seeds picked by a seeded
    generator: the same arguments always give the same bytes."""
    names = mutations or list(MUTATIONS)
    for index in range(start, start + count):
        rng = random.Random(f"{run_seed}:{index}")
        seed = rng.choice(seeds())
        uid = mutant_uid(seed, index)
        base = seed.data.replace(seed.sop_instance_uid, uid)
        mutation = names[index % len(names)]
        yield FuzzInput(index, seed.name, mutation, MUTATIONS[mutation](seed, base, rng), uid.decode())


# -- accounting -----------------------------------------------------------------------------------------

# What differs between two messages that give one reason: Orthanc ids, numbers, AE titles, paths, tags,
# element names, the bytes of a bad VR.
_VARIABLE_PARTS = re.compile(r"[0-9a-f]{8}(-[0-9a-f]{8}){4}|\d[\d.]*|FZ\d+|/tmp/\S+|\([0-9a-f#]+,[0-9a-f#]+\)"
                             r"|(?<=DcmElement: )\w+|(?<=encountered: ).*")
STORED, QUARANTINED, REFUSED_BY_ORTHANC, REFUSED_BY_CLIENT = "stored", "quarantined", "refused-by-orthanc", "refused-by-client"
ACCEPTED_OUTCOMES = (STORED, QUARANTINED, REFUSED_BY_ORTHANC, REFUSED_BY_CLIENT)


@dataclass
class Result:
    """What happened to one input, through one channel ("rest" or "cstore")."""

    input: FuzzInput
    channel: str
    outcome: str            # one of ACCEPTED_OUTCOMES, or a failure ("5xx", "error", "vanished", ...)
    detail: str
    seconds: float

    @property
    def failed(self) -> bool:
        return self.outcome not in ACCEPTED_OUTCOMES


@dataclass
class Accountant:
    """Sends inputs to one Orthanc (``server``: an OrthancServer) and accounts for each."""

    server: object
    results: list[Result] = field(default_factory=list)
    _pending_quarantine: list[Result] = field(default_factory=list)
    _workdir: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="sentinel-fuzz-")))

    def rest(self, item: FuzzInput) -> Result:
        """POST /instances; a FilteredOut answer is checked against the quarantine in :meth:`settle`."""
        start = time.perf_counter()
        try:
            r = self.server.upload(item.data)
        except requests.RequestException as e:
            return self._record(item, "rest", "error", repr(e), start)
        if r.status_code >= 500:
            return self._record(item, "rest", "5xx", f"{r.status_code} {r.text[:300]}", start)
        if r.status_code >= 400:
            return self._record(item, "rest", REFUSED_BY_ORTHANC, f"{r.status_code} {_message(r.text)}", start)
        status = r.json().get("Status")
        if status in ("Success", "AlreadyStored"):
            try:
                found = self.server.get(f"/instances/{r.json()['ID']}").status_code == 200
            except requests.RequestException as e:  # Orthanc died after answering
                return self._record(item, "rest", "error", f"{status}, then {e!r}", start)
            return self._record(item, "rest", STORED if found else "vanished", f"{status} {r.json()['ID']}", start)
        if status == "FilteredOut":
            result = self._record(item, "rest", QUARANTINED, "FilteredOut", start)
            self._pending_quarantine.append(result)
            return result
        return self._record(item, "rest", "unexpected", r.text[:300], start)

    def cstore(self, item: FuzzInput) -> Result:
        """C-STORE with storescu under an AE title naming the input, so that its quarantine entry and
        Orthanc's log lines can be told apart from every other input's."""
        path = self._workdir / f"fuzz{item.index}.dcm"
        path.write_bytes(item.data)
        aet = f"FZ{item.index}"
        log_before = len(self.server.log())
        count_before = self._instance_count()
        start = time.perf_counter()
        try:
            done = self.server.storescu(path, aet=aet)
        except Exception as e:  # storescu timing out means Orthanc hangs
            return self._record(item, "cstore", "error", repr(e), start)
        finally:
            path.unlink(missing_ok=True)
        response = re.findall(r"Received Store Response \(([^)]*)\)", done.stderr)
        if not response:
            # storescu refused to send the file itself (it could not parse it), or the association failed.
            refusal = _storescu_refusal(done.stderr)
            outcome = REFUSED_BY_CLIENT if refusal else "error"
            return self._record(item, "cstore", outcome, refusal or done.stderr[-500:], start)
        if response[0].startswith(("Success", "Warning")):
            uid = _sop_instance_uid(item)
            try:
                # By its UID, or else by the instance count: a mutation can leave a UID that Orthanc's
                # parser reads other than pydicom (the harness alone stores into this Orthanc).
                found = (self.server.post("/tools/lookup", uid).json() if uid else []) or \
                    self._instance_count() > count_before
            except requests.RequestException as e:  # Orthanc died after answering
                return self._record(item, "cstore", "error", f"{response[0]}, then {e!r}", start)
            return self._record(item, "cstore", STORED if found else "vanished", f"{response[0]} {uid}", start)
        log = self.server.log()[log_before:]
        if "quarantine entry" in log and aet in log:
            result = self._record(item, "cstore", QUARANTINED, response[0], start)
            self._pending_quarantine.append(result)
            return result
        errors = [line for line in log.splitlines() if line.startswith("E")]
        if errors:
            return self._record(item, "cstore", REFUSED_BY_ORTHANC, f"{response[0]}: {errors[0][:300]}", start)
        return self._record(item, "cstore", "unexplained-refusal", f"{response[0]}: {log[-500:]}", start)

    def _instance_count(self) -> int:
        return self.server.get("/statistics").json()["CountInstances"]

    def settle(self) -> None:
        """Check every quarantined input against GET /sentinel/quarantine: REST ones by the SHA-256 of the
        bytes sent, C-STORE ones (Orthanc re-encodes what it received) by the sender's AE title."""
        entries = quarantine_entries(self.server)
        rules = {e["sha256"]: e.get("rule") for e in entries} | {e.get("remote_aet"): e.get("rule") for e in entries}
        for result in self._pending_quarantine:
            key = (hashlib.sha256(result.input.data).hexdigest() if result.channel == "rest"
                   else f"FZ{result.input.index}")
            if key in rules:
                result.detail = f"{result.detail}: {rules[key]}"
            else:
                result.outcome, result.detail = "vanished", "filtered out but not in quarantine"
        self._pending_quarantine.clear()

    def _record(self, item: FuzzInput, channel: str, outcome: str, detail: str, start: float) -> Result:
        result = Result(item, channel, outcome, detail, time.perf_counter() - start)
        self.results.append(result)
        return result

    def failures(self) -> list[Result]:
        return [r for r in self.results if r.failed]

    def counts(self) -> Counter:
        return Counter((r.channel, r.outcome) for r in self.results)

    def reasons(self) -> Counter:
        """(outcome, reason) counts: the quarantine rule, or Orthanc's or the client's message with its
        numbers and identifiers blanked, so that one reason is counted once whatever the input."""
        return Counter((r.outcome, _VARIABLE_PARTS.sub("#", r.detail)[:110]) for r in self.results if r.outcome != STORED)

    def by_mutation(self) -> dict[str, Counter]:
        table: dict[str, Counter] = {}
        for r in self.results:
            table.setdefault(r.input.mutation, Counter())[r.outcome] += 1
        return table


def quarantine_entries(server: object) -> list[dict]:
    """Every entry of GET /sentinel/quarantine, page by page (at most 10,000 a page)."""
    entries: list[dict] = []
    while True:
        page = server.get(f"/sentinel/quarantine?limit=10000&since={len(entries)}").json()
        entries += page["entries"]
        if not page["entries"] or len(entries) >= page["total"]:
            return entries


def _message(body: str) -> str:
    """Orthanc's error message from its JSON error body (or the raw body)."""
    match = re.search(r'"(?:Message|Details|error)"\s*:\s*"([^"]*)"', body)
    return match.group(1) if match else body[:200]


def _storescu_refusal(stderr: str) -> str | None:
    """storescu's own reason for not sending a file, if it gave one."""
    for line in stderr.splitlines():
        if line.startswith(("E:", "F:", "W: cannot", "W: Bad")) or "Bad DICOM file" in line:
            return line.strip()[:300]
    return None


def _sop_instance_uid(item: FuzzInput) -> str:
    """The SOP Instance UID in the mutant as a reader sees it (a mutation may have moved or broken it),
    else the planted one."""
    try:
        uid = pydicom.dcmread(io.BytesIO(item.data), stop_before_pixels=True, force=True).SOPInstanceUID
        return str(uid) or item.sop_instance_uid
    except Exception:
        return item.sop_instance_uid


@dataclass
class Run:
    """A fuzzing run against one Orthanc: every result, and how Orthanc fared."""

    accountant: Accountant
    seconds: float
    alive: bool               # the process still runs and answers GET /system
    rss_kb: tuple[int, int]   # VmRSS before the run and after it and the drain
    peak_kb: int              # VmHWM after the run and the drain (the process's peak since it started)
    drain_seconds: float | None   # until the worker backlog was 0; None if it was not within the bound
    tracebacks: list[str]


def fuzz(server: object, rest_inputs: int, cstore_inputs: int, run_seed: int, drain_bound: float = 120,
         progress: Callable[[int], None] | None = None, sentinel: bool = True) -> Run:
    """Send ``rest_inputs`` mutants over REST then ``cstore_inputs`` more over C-STORE, account for each,
    and check Orthanc afterwards: alive, memory, worker backlog drained, Sentinel tracebacks in its log.
    ``sentinel=False`` for an Orthanc without Sentinel (the reference): no quarantine, no drain."""
    pid = server.process.pid
    rss_before = vm_kb(pid)
    accountant = Accountant(server)
    start = time.perf_counter()
    for item in generate(rest_inputs + cstore_inputs, run_seed):
        if server.process.poll() is not None:
            break  # Orthanc died: the inputs left are not sent, the run is a failure already
        (accountant.rest if item.index < rest_inputs else accountant.cstore)(item)
        if progress:
            progress(item.index)
    seconds = time.perf_counter() - start
    try:
        alive = server.process.poll() is None and server.get("/system").status_code == 200
    except requests.RequestException:
        alive = False
    if not alive:
        return Run(accountant, seconds, False, (rss_before, 0), 0, None, sentinel_tracebacks(server.log()))
    drain = None
    if sentinel:
        accountant.settle()
        drain_start = time.perf_counter()
        try:
            server.wait_for(lambda: server.get("/sentinel/status").json()["worker"]["backlog"] == 0, drain_bound)
            drain = time.perf_counter() - drain_start
        except (TimeoutError, requests.RequestException):  # not drained, or the worker starves the REST API
            pass
    # Once the analyses are done: a deflate bomb being analysed when the last input is sent holds its
    # inflated copy for a moment, which says nothing about memory that stays.
    return Run(accountant, seconds, True, (rss_before, vm_kb(pid)), vm_kb(pid, "VmHWM"), drain,
               sentinel_tracebacks(server.log()))


def vm_kb(pid: int, field_name: str = "VmRSS") -> int:
    """A memory figure of a process from /proc/<pid>/status, in kB (VmRSS now, VmHWM the peak)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field_name + ":"):
            return int(line.split()[1])
    raise KeyError(field_name)


def sentinel_tracebacks(log: str) -> list[str]:
    """Python tracebacks in an Orthanc log that pass through Sentinel's code (sentinel.py, plugin/,
    validators/): each is a bug to report, whatever Orthanc did next. Each from its "Traceback" line to
    its exception line (the first unindented line after it)."""
    blocks = re.findall(r"Traceback \(most recent call last\):\n(?:[ \t].*\n|\n)*.*", log)
    return [b[-3000:] for b in blocks if re.search(r'File "[^"]*(sentinel\.py|/plugin/|/validators/)', b)]
