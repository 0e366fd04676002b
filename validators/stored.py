"""Every check of one stored object, and of a series as a whole, as Sentinel's background analysis and
archive scan run them, on what the caller hands in: the files' bytes, and a decoder for pixel data that
:mod:`validators.nativeframes` does not decode (Orthanc's, in the plugin).

Pure: the checks that need the archive (consistency with what it holds under the object's UIDs, the
seal stored at the first analysis) and the reports stay with the caller. :func:`scan_series_files` runs
the checks of a whole series with no decoder, on frames decoded beforehand where a file needs one
(:func:`frames_to_decode` says which), so that the archive scan can hand series to worker processes
outside Orthanc's interpreter.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from io import BytesIO
from typing import Any, Callable, Iterable, Iterator, NamedTuple

import numpy as np
import pydicom
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import RawDataElement

from .checks import examine
from .consistency import identifiers
from .findings import Action, Finding, Severity
from .ingest import TOO_LARGE, Limits
from .nativeframes import native_frames
from .pixels import check_pixels, check_volume
from .rules import define
from .seal import seal
from .series import SeriesMember, check_multiframe, check_series
from .signatures import SERIES_UNSIGNED, check_signatures

SIGNATURES = 0xFFFAFFFA  # Digital Signatures Sequence (FFFA,FFFA), PS3.15 C.1

UNDECODABLE = define(
    "pixels.undecodable", Severity.WARNING, Action.LABEL,
    "Orthanc cannot decode the pixel data (7FE0,0010) of this stored object (unsupported or corrupt "
    "compressed data): its pixels were not checked, and viewers will fail on it too.")
NOT_ANALYSED = define(
    "pixels.not-analysed", Severity.INFO, Action.REPORT,
    "The pixel data is stored but too large for the background pixel checks (a frame over 64 MiB, or over "
    "512 MiB in all, once decoded): its plausibility and forensics were not checked.")
# Findings after which the pixels are not decoded: too large to decode or to analyse, or not decodable.
NO_PIXELS = {TOO_LARGE.id, UNDECODABLE.id, NOT_ANALYSED.id}
# What is decoded at most: the forensics work on float copies of a frame, several times its size.
MAX_ANALYSED_FRAME_BYTES = 64 << 20
MAX_ANALYSED_BYTES = 512 << 20  # per object, and per series for the series checks
# Longest non-sequence value kept in a series member's header: the series checks read positions,
# orientations, times and identifiers, never a long binary or text value.
MAX_HEADER_VALUE_BYTES = 1 << 20
# The first tag pydicom's stop_before_pixels stops at: Float Pixel Data (7FE0,0008).
PIXEL_DATA_TAGS_START = 0x7FE00008

# Frames 0..count-1 of the object being analysed, stored values (no rescale): (rows, columns) for one
# sample per pixel, (rows, columns, samples) otherwise. Raises Undecodable on a frame it cannot decode.
Decoder = Callable[[int], Iterator[np.ndarray]]


class Undecodable(Exception):
    """The decoder cannot decode the pixel data; the message says why."""


class DecoderNeeded(Exception):
    """The pixel data needs a decoder (compressed, colour, big endian...) and none was given."""


class DecodedFrames(NamedTuple):
    """What a :data:`Decoder` gave for one object, decoded ahead of the checks (by Orthanc, for a worker
    process that cannot call it): the ``count`` frames asked, those decoded before any failure, and the
    Undecodable message of the frame after them (None if all were decoded)."""

    count: int
    frames: list[np.ndarray]
    error: str | None = None


def replaying(decoded: DecodedFrames) -> Decoder:
    """A decoder that gives ``decoded`` again: its frames, then its Undecodable error if any; DecoderNeeded
    if asked for another number of frames than was decoded."""
    def replay(count: int) -> Iterator[np.ndarray]:
        if count != decoded.count:
            raise DecoderNeeded(f"{count} frames asked, {decoded.count} decoded ahead")
        return _replayed(decoded)
    return replay


def _replayed(decoded: DecodedFrames) -> Iterator[np.ndarray]:
    yield from decoded.frames
    if decoded.error is not None:
        raise Undecodable(decoded.error)


@dataclass
class StoredInstance:
    """The checks of one stored object that need nothing but its bytes: ``findings`` (default severities),
    ``seal`` (:func:`validators.seal.seal` of the bytes, None without Pixel Data), ``identifiers``
    (:func:`validators.consistency.identifiers`, None if pydicom cannot parse it) and ``member``, the
    object as a series member (its header, and its frames if kept), None if unparseable."""

    findings: list[Finding]
    seal: dict[str, Any] | None
    identifiers: dict[str, str] | None
    member: SeriesMember | None


def declared_pixels(ds: pydicom.Dataset) -> tuple[int, int]:
    """(frames, bytes once decoded) as the Image Pixel module of ``ds`` describes them: Rows (0028,0010)
    x Columns (0028,0011) x SamplesPerPixel (0028,0002) x BitsAllocated (0028,0100) x NumberOfFrames
    (0028,0008). Raises on values that are not numbers."""
    frames = int(ds.get("NumberOfFrames") or 1)
    size = (int(ds.get("Rows") or 0) * int(ds.get("Columns") or 0) * int(ds.get("SamplesPerPixel") or 1)
            * int(ds.get("BitsAllocated") or 8) * frames + 7) // 8
    return frames, size


def over_limits(ds: pydicom.Dataset, findings: list[Finding], limits: Limits) -> list[Finding]:
    """TOO_LARGE from the parsed header, when the ingest walk could not see the pixel description (it
    stops at malformed elements): such an object must never be decoded; and NOT_ANALYSED for an object
    within ``limits`` but too large for the pixel checks' memory. ``findings``: those found so far."""
    if any(f.rule == TOO_LARGE.id for f in findings):
        return []
    try:
        frames, size = declared_pixels(ds)
    except (TypeError, ValueError, OverflowError, KeyError) as e:  # undecodable description
        return [TOO_LARGE.finding(f"the pixel description cannot be read ({e}); not decoded", 0x7FE00010)]
    if (limits.max_frames is not None and frames > limits.max_frames) or \
            (limits.max_decoded_bytes is not None and size > limits.max_decoded_bytes):
        return [TOO_LARGE.finding(f"{frames} frames, {size} bytes once decoded: over the limits, not decoded",
                                  0x7FE00010, decoded_bytes=size, frames=frames)]
    if size > MAX_ANALYSED_BYTES or size // max(frames, 1) > MAX_ANALYSED_FRAME_BYTES:
        return [NOT_ANALYSED.finding(f"{frames} frames, {size} bytes once decoded: pixels not analysed",
                                     0x7FE00010, decoded_bytes=size, frames=frames)]
    return []


def analyse_instance(instance_id: str, data: bytes, limits: Limits, decoder: Decoder | None,
                     keep_bytes: int = 0) -> StoredInstance:
    """Header, digital signatures, pixels and seal of the stored file ``data`` (Orthanc instance
    ``instance_id``). Frames that :func:`native_frames` cannot decode come from ``decoder``;
    DecoderNeeded if it is None. The decoded frames are kept in the returned member if they take at most
    ``keep_bytes``, for a series check that follows."""
    findings, ds = examine(data, limits)
    if ds is None:
        return StoredInstance(findings, None, None, None)
    findings += check_signatures(data)
    current_seal = None
    frames: list[np.ndarray] | None = None
    if "PixelData" in ds:
        findings += over_limits(ds, findings, limits)
        if not any(f.rule in NO_PIXELS for f in findings):
            count, size = declared_pixels(ds)
            kept: list[np.ndarray] | None = [] if size <= keep_bytes else None
            findings += _check_pixels(ds, decoder, kept)
            if kept is not None and len(kept) == count and not any(f.rule in NO_PIXELS for f in findings):
                frames = kept
        # The seal is of the stored bytes read just now: Orthanc's decoded frames may come from its cache.
        current_seal = seal(ds, None, ds.PixelData)
    new = identifiers(ds)
    member = SeriesMember(instance_id, header_of(ds), pixels=None if frames is None else
                          (lambda stacked=np.stack(frames): stacked))
    return StoredInstance(findings, current_seal, new, member)


def _check_pixels(ds: pydicom.Dataset, decoder: Decoder | None, kept: list[np.ndarray] | None) -> list[Finding]:
    """The pixel checks, on frames decoded one at a time; each is also appended to ``kept`` unless None."""
    frames = native_frames(ds)
    if frames is None:
        if decoder is None:
            raise DecoderNeeded(str(getattr(ds.file_meta, "TransferSyntaxUID", "")))
        frames = decoder(declared_pixels(ds)[0])
    try:
        return check_pixels(ds, frames if kept is None else _appending(frames, kept))
    except Undecodable as e:
        return [UNDECODABLE.finding(f"Orthanc cannot decode the pixel data: {e}", 0x7FE00010)]


def _appending(frames: Iterator[np.ndarray], kept: list[np.ndarray]) -> Iterator[np.ndarray]:
    for frame in frames:
        kept.append(frame)
        yield frame


def check_series_members(members: list[SeriesMember]) -> list[Finding]:
    """The checks of a series as a whole: identity, geometry, timing, cine, continuity, cross-slice
    forensics on the members that come with their pixels, and instances without a digital signature in a
    series that is otherwise signed; on the :func:`readable_members`. They run on every member first, so
    that pydicom decodes only the elements they read (deciding readability first decoded each public
    element of each member: a fifth of a small CT's whole analysis); if an element raises, they run
    again on the readable members."""
    try:
        return _series_findings(members)
    except Exception:  # pydicom raises many types on bad values
        return _series_findings(list(readable_members(members)))


def _series_findings(members: list[SeriesMember]) -> list[Finding]:
    findings = check_series(members)
    for member in members:
        findings += check_multiframe(member)
    findings += _unsigned_among_signed(members)
    slices = [(m.instance_id, m.dataset, m.pixels()) for m in members
              if m.pixels is not None and "NumberOfFrames" not in m.dataset and "Rows" in m.dataset]
    return findings + check_volume([(i, ds, frames[0]) for i, ds, frames in slices if frames.ndim == 3])


def _unsigned_among_signed(members: list[SeriesMember]) -> list[Finding]:
    signed = [m for m in members if SIGNATURES in m.dataset]
    if not signed:
        return []
    return [SERIES_UNSIGNED.finding(f"no digital signature, while {len(signed)} of the series' "
                                    f"{len(members)} instances are signed", instances=[m.instance_id])
            for m in sorted(members, key=lambda m: m.instance_id) if SIGNATURES not in m.dataset]


@dataclass
class ScannedSeries:
    """:func:`scan_series_files`' answer, without the members (headers and frames stay in the process
    that read them): each instance's StoredInstance with ``member`` None, by instance id, and the
    series' own findings."""

    instances: dict[str, StoredInstance]
    series_findings: list[Finding]


def scan_series_files(files: list[tuple[str, bytes]], limits: Limits,
                      decoded: dict[str, DecodedFrames] | None = None) -> ScannedSeries:
    """:func:`analyse_instance` on every (instance id, file) of one whole series, then
    :func:`check_series_members` on them, holding at most MAX_ANALYSED_BYTES of decoded pixels for the
    series checks. No decoder: the frames of the files that need one come from ``decoded`` (by instance
    id, as :func:`frames_to_decode` asked them); DecoderNeeded if a file needs frames not there."""
    budget = MAX_ANALYSED_BYTES
    results: dict[str, StoredInstance] = {}
    members: list[SeriesMember] = []
    for instance_id, data in files:
        ahead = (decoded or {}).get(instance_id)
        result = analyse_instance(instance_id, data, limits, None if ahead is None else replaying(ahead), budget)
        if result.member is not None:
            if result.member.pixels is not None:
                budget -= declared_pixels(result.member.dataset)[1]
            members.append(result.member)
        results[instance_id] = dataclasses.replace(result, member=None)
    return ScannedSeries(results, check_series_members(members))


class _Asked(Exception):
    """:func:`frames_to_decode`'s decoder was asked for frames."""


def frames_to_decode(files: list[tuple[str, bytes]], limits: Limits) -> dict[str, int]:
    """How many frames :func:`analyse_instance` asks its decoder for, by instance id, for each of ``files``
    that needs one (compressed, colour, big endian...): the same code decides, stopped where it would
    decode, so that frames are decoded ahead for exactly the objects within the limits that will be
    checked, never for a decompression bomb. Costs the header checks of those files."""
    asked: dict[str, int] = {}
    for instance_id, data in files:
        def ask(count: int, instance_id: str = instance_id) -> Iterator[np.ndarray]:
            asked[instance_id] = count
            raise _Asked
        try:
            analyse_instance(instance_id, data, limits, ask)
        except _Asked:
            pass
    return asked


def readable_members(members: Iterable[SeriesMember]) -> Iterator[SeriesMember]:
    """The members whose public elements pydicom reads whole: a series check cannot use the others, and
    their own reports say what is wrong with them (instance.unreadable). Private elements (most of many
    vendors' headers) are never read by a series check."""
    for member in members:
        try:
            for tag in [t for t in member.dataset.keys() if not t.is_private]:
                member.dataset[tag]
        except Exception:  # pydicom raises many types on bad input
            continue
        yield member


def read_header(data: bytes) -> pydicom.Dataset:
    """The data set without its pixel data (force: Orthanc stored it, so it is DICOM enough) and without
    the values longer than MAX_HEADER_VALUE_BYTES other than sequences, holding no reference to ``data``:
    the series checks keep every member's header at once, and a large private value (a deflate bomb's
    512 MB of zeros) kept in each would make a series of such objects cost one object's size per member."""
    header = pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True,
                             defer_size=MAX_HEADER_VALUE_BYTES)
    # items() gives the elements as read (elements() would read the deferred ones).
    for tag, element in list(header.items()):
        if isinstance(element, RawDataElement) and element.value is None:  # deferred: over the size
            if is_sequence(tag, element):
                header[tag]  # a sequence is structure, never a blob: read it while data is at hand
            else:
                del header[tag]
    header.filename = None  # pydicom keeps the BytesIO to read deferred values later
    return header


def header_of(ds: pydicom.Dataset) -> pydicom.Dataset:
    """The header of a whole parsed data set as :func:`read_header` reads it from the file: without the
    elements from the pixel data (7FE0,0008-0010) on, nor the non-sequence values longer than
    MAX_HEADER_VALUE_BYTES. Changes ``ds``."""
    for tag, element in list(ds.items()):
        # int(): pydicom's Tag comparisons convert their operand, ten times slower.
        if int(tag) >= PIXEL_DATA_TAGS_START:
            del ds[tag]
            continue
        value = element.value
        if isinstance(value, (bytes, str)) and len(value) > MAX_HEADER_VALUE_BYTES and not is_sequence(tag, element):
            del ds[tag]
    return ds


def is_sequence(tag: int, element: RawDataElement | pydicom.DataElement) -> bool:
    """Whether an element is a sequence: by its VR, or for an implicit VR one (VR None), the dictionary's."""
    return element.VR == "SQ" or (element.VR is None and dictionary_has_tag(tag) and dictionary_VR(tag) == "SQ")
