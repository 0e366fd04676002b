"""The analyses the worker runs, off the ingest path: fetch what Orthanc stored (bytes, headers, frames
decoded by Orthanc's own decoder, so every transfer syntax it knows works), call the pure validators,
save the reports. Running one twice gives the same report: each run replaces the last."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from io import BytesIO
from typing import Any, Iterator

import numpy as np
import pydicom
from pydicom.datadict import dictionary_has_tag, dictionary_VR
from pydicom.dataelem import RawDataElement

import validators
from validators.checks import examine
from validators.consistency import check_against_archive, identifiers
from validators.findings import Action, Finding, Severity
from validators.ingest import TOO_LARGE, Limits
from validators.pixels import check_pixels, check_volume
from validators.rules import Policy, define
from validators.seal import compare_seal, seal
from validators.series import SeriesMember, check_multiframe, check_series
from validators.nativeframes import native_frames
from validators.signatures import SERIES_UNSIGNED, check_signatures

from .archive import known_identifiers, look_up_together
from .index import Index, InstanceContents
from .reports import Reports

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
# What the worker decodes at most: the forensics work on float copies of a frame, several times its size.
MAX_ANALYSED_FRAME_BYTES = 64 << 20
MAX_ANALYSED_BYTES = 512 << 20  # per object, and per series for the series checks
# Longest non-sequence value kept in a series member's header: the series checks read positions,
# orientations, times and identifiers, never a long binary or text value.
MAX_HEADER_VALUE_BYTES = 1 << 20
# How old (s) the metadata and labels of a series' instances read at once by the archive scan may be when
# an instance is analysed: the window in which another peer's change to them goes unseen.
CONTENTS_MAX_AGE_SECONDS = 2.0
# The first tag pydicom's stop_before_pixels stops at: Float Pixel Data (7FE0,0008).
PIXEL_DATA_TAGS_START = 0x7FE00008


def compact_time(iso: str) -> str:
    """``2026-11-25T01:02:03Z`` -> ``20261125T010203``, the form of Orthanc's change dates (UTC)."""
    return iso.replace("-", "").replace(":", "").rstrip("Z")


def declared_pixels(ds: pydicom.Dataset) -> tuple[int, int]:
    """(frames, bytes once decoded) as the Image Pixel module of ``ds`` describes them: Rows (0028,0010)
    x Columns (0028,0011) x SamplesPerPixel (0028,0002) x BitsAllocated (0028,0100) x NumberOfFrames
    (0028,0008). Raises on values that are not numbers."""
    frames = int(ds.get("NumberOfFrames") or 1)
    size = (int(ds.get("Rows") or 0) * int(ds.get("Columns") or 0) * int(ds.get("SamplesPerPixel") or 1)
            * int(ds.get("BitsAllocated") or 8) * frames + 7) // 8
    return frames, size


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


class Analyses:
    """The worker's handlers, by change type of Orthanc's log."""

    def __init__(self, index: Index, reports: Reports, policy: Policy, limits: Limits):
        self.index = index
        self.reports = reports
        self.policy = policy
        self.limits = limits
        # What an analysis depends on besides the file: the rules and limits as configured, and
        # Sentinel's version.
        settings = json.dumps([policy.catalogue(), dataclasses.astuple(limits)], sort_keys=True).encode()
        self.rules = {"rules": hashlib.blake2b(settings, digest_size=16).hexdigest(), "version": validators.__version__}

    def handlers(self) -> dict:
        """The analysis of each change of the log that needs one. Every peer of a cluster reads the whole
        log (its cursor is its own), so each handler first asks whether another peer did the work
        already: an instance's content never changes, and a series report checked after the change
        covers it. Two peers may still race on one change; the second report replaces the first."""
        return {"NewInstance": self._new_instance, "StableSeries": self._stable_series}

    def _new_instance(self, change: dict) -> None:
        metadata = self.index.metadata("instances", change["ID"])
        if "SentinelReport" not in metadata:
            self._analyse(change["ID"], self.index.instance_file(change["ID"]), metadata)

    def _stable_series(self, change: dict) -> None:
        report = self.reports.stored_report("series", change["ID"])
        if report is None or compact_time(report["checked"]) < change["Date"]:
            self.series(change["ID"])

    def basis(self, data: bytes) -> dict[str, str]:
        """What an instance report was computed from: the stored file (BLAKE2b-128 of its bytes), the
        rules and Sentinel's version. A report whose basis is current needs no new analysis."""
        return {"file": hashlib.blake2b(data, digest_size=16).hexdigest(), **self.rules}

    def series_pass(self, series_id: str) -> SeriesPass:
        """For the archive scan: one series, its instances one by one, then the series as a whole."""
        return SeriesPass(self, series_id)

    def _series_basis(self, instances: list[str]) -> dict[str, Any]:
        """What a series report was computed from: how many ``instances`` (ids) it had, the rules."""
        return {"instances": len(instances), **self.rules}

    def instance(self, instance_id: str) -> None:
        """All single-object checks of one stored instance: header, pixels, digital signatures, the
        integrity seal, and consistency with what the archive holds under its UIDs."""
        self._analyse(instance_id, self.index.instance_file(instance_id), self.index.metadata("instances", instance_id))

    def _analyse(self, instance_id: str, data: bytes, metadata: dict[str, str],
                 lookups: dict[str, Any] | None = None, keep_bytes: int = 0,
                 labels: list[str] | None = None) -> SeriesMember | None:
        """:meth:`instance` on the stored file ``data``, the instance's metadata being ``metadata`` (its
        last report, if any, in ``SentinelReport``) and its labels ``labels`` (None: unknown).
        ``lookups``: see :func:`known_identifiers`.

        Returns the instance as a series member (header, and its decoded frames if they were decoded
        and take at most ``keep_bytes``), for a series check that follows at once; None if pydicom
        cannot parse it."""
        previous = json.loads(metadata["SentinelReport"]) if "SentinelReport" in metadata else None
        findings, ds = examine(data, self.limits)
        if ds is not None:
            new = identifiers(ds)
            findings += check_against_archive(new, known_identifiers(self.index, new, instance_id, lookups))
            findings += check_signatures(data)
        first_seal = None
        frames: list[np.ndarray] | None = None
        if ds is not None and "PixelData" in ds:
            findings += self._over_limits(ds, findings)
            if not any(f.rule in NO_PIXELS for f in findings):
                count, size = declared_pixels(ds)
                kept: list[np.ndarray] | None = [] if size <= keep_bytes else None
                findings += self._check_pixels(instance_id, ds, kept)
                if kept is not None and len(kept) == count and not any(f.rule in NO_PIXELS for f in findings):
                    frames = kept
            # Sealed at the first analysis and kept in the report; every later analysis (revalidation,
            # archive scan) compares, so that a file changed in storage after ingest is found. The seal
            # is of the stored bytes read just now: Orthanc's decoded frames may come from its cache.
            current = seal(ds, None, ds.PixelData)
            first_seal = (previous or {}).get("seal")
            if first_seal is not None:
                findings += compare_seal(first_seal, current)
            first_seal = first_seal or current
        self.reports.save_instance_report(instance_id, self.policy.apply(findings), first_seal, self.basis(data),
                                          metadata, labels)
        if ds is None:
            return None
        header = header_of(ds)
        return SeriesMember(instance_id, header, pixels=None if frames is None else
                            (lambda stacked=np.stack(frames): stacked))

    def _over_limits(self, ds: pydicom.Dataset, findings: list[Finding]) -> list[Finding]:
        """TOO_LARGE from the parsed header, when the ingest walk could not see the pixel description
        (it stops at malformed elements): Orthanc must never be asked to decode such an object; and
        NOT_ANALYSED for an object within the limits but too large for the pixel checks' memory."""
        if any(f.rule == TOO_LARGE.id for f in findings):
            return []
        try:
            frames, size = declared_pixels(ds)
        except (TypeError, ValueError, OverflowError, KeyError) as e:  # undecodable description
            return [TOO_LARGE.finding(f"the pixel description cannot be read ({e}); not decoded", 0x7FE00010)]
        limits = self.limits
        if (limits.max_frames is not None and frames > limits.max_frames) or \
                (limits.max_decoded_bytes is not None and size > limits.max_decoded_bytes):
            return [TOO_LARGE.finding(f"{frames} frames, {size} bytes once decoded: over the limits, not decoded",
                                      0x7FE00010, decoded_bytes=size, frames=frames)]
        if size > MAX_ANALYSED_BYTES or size // max(frames, 1) > MAX_ANALYSED_FRAME_BYTES:
            return [NOT_ANALYSED.finding(f"{frames} frames, {size} bytes once decoded: pixels not analysed",
                                         0x7FE00010, decoded_bytes=size, frames=frames)]
        return []

    def _check_pixels(self, instance_id: str, ds: pydicom.Dataset, kept: list[np.ndarray] | None) -> list[Finding]:
        """The pixel checks, on frames decoded one at a time; each is also appended to ``kept`` unless
        None."""
        # Uncompressed grayscale is decoded here as Orthanc would, sparing it a read and parse of the file.
        frames = native_frames(ds) or self.frame_iter(instance_id, declared_pixels(ds)[0])
        try:
            return check_pixels(ds, frames if kept is None else _appending(frames, kept))
        except self.index.orthanc.OrthancException as e:
            return [UNDECODABLE.finding(f"Orthanc cannot decode the pixel data: {e}", 0x7FE00010)]

    def decodable(self, instance_id: str, header: pydicom.Dataset) -> bool:
        """Whether the pixels of a series member may be decoded: its header is within the limits, and
        its own analysis decoded them (its report has a seal, so it has Pixel Data, and no NO_PIXELS
        finding). The header, read without its pixel data, cannot say whether there is any."""
        if self._over_limits(header, []):
            return False
        report = self.reports.stored_report("instances", instance_id)
        return (report is not None and report.get("seal") is not None
                and not any(f["rule"] in NO_PIXELS for f in report["findings"]))

    def series(self, series_id: str, known: dict[str, SeriesMember] | None = None,
               resource: dict[str, Any] | None = None) -> None:
        """The checks of a stable series as a whole: identity, geometry, timing, cine, continuity,
        cross-slice forensics, and unsigned instances in a series that is otherwise signed. ``known``:
        members just analysed (:meth:`_analyse`), by instance id, so that they are not read again;
        ``resource``: the series (``GET /series/{id}``) if just read."""
        resource = resource or self.index.resource("series", series_id)
        members = list(self._members(resource["Instances"], known or {}))
        findings = check_series(members)
        for member in members:
            findings += check_multiframe(member)
        findings += self._unsigned_among_signed(members)
        slices = [(m.instance_id, m.dataset, m.pixels()) for m in members
                  if m.pixels is not None and "NumberOfFrames" not in m.dataset and "Rows" in m.dataset]
        findings += check_volume([(i, ds, frames[0]) for i, ds, frames in slices if frames.ndim == 3])
        self.reports.save_series_report(series_id, self.policy.apply(findings), self._series_basis(resource["Instances"]),
                                        resource)

    def _members(self, instances: list[str], known: dict[str, SeriesMember]) -> Iterator[SeriesMember]:
        """The series' instances whose header pydicom reads whole; the others' own reports say what is
        wrong with them (instance.unreadable), and a series check cannot use them. Series checks hold
        every member's pixels at once: past MAX_ANALYSED_BYTES in all, members come without pixels."""
        budget = MAX_ANALYSED_BYTES
        for instance_id in instances:
            member = known.get(instance_id) or self._read_member(instance_id)
            if member is None:
                continue
            try:
                # Decodes every public element now, so that no series check meets a bad one; private
                # ones (most of many vendors' headers) are never read by a series check.
                for tag in [t for t in member.dataset.keys() if not t.is_private]:
                    member.dataset[tag]
            except Exception:  # pydicom raises many types on bad input
                continue
            if member.pixels is not None:
                budget -= declared_pixels(member.dataset)[1]
            yield member if budget >= 0 else dataclasses.replace(member, pixels=None)

    def _read_member(self, instance_id: str) -> SeriesMember | None:
        """A series member read from storage, its frames decoded on demand if :meth:`decodable`."""
        try:
            header = read_header(self.index.instance_file(instance_id))
        except Exception:  # pydicom raises many types on bad input
            return None
        if not self.decodable(instance_id, header):
            return SeriesMember(instance_id, header)
        count = declared_pixels(header)[0]
        return SeriesMember(instance_id, header, pixels=lambda: self.frames(instance_id, count))

    @staticmethod
    def _unsigned_among_signed(members: list[SeriesMember]) -> list[Finding]:
        signed = [m for m in members if SIGNATURES in m.dataset]
        if not signed:
            return []
        return [SERIES_UNSIGNED.finding(f"no digital signature, while {len(signed)} of the series' "
                                        f"{len(members)} instances are signed", instances=[m.instance_id])
                for m in sorted(members, key=lambda m: m.instance_id) if SIGNATURES not in m.dataset]

    def frame_iter(self, instance_id: str, count: int) -> Iterator[np.ndarray]:
        """Stored values (no rescale) of each of the ``count`` frames the header declares, decoded by
        Orthanc one at a time (bounded memory): (rows, columns) for one sample per pixel, (rows, columns,
        samples) otherwise. A frame Orthanc cannot decode raises its OrthancException."""
        for i in range(count):
            frame = self.index.frame(instance_id, i)
            yield frame[..., 0] if frame.shape[-1] == 1 else frame

    def frames(self, instance_id: str, count: int) -> np.ndarray:
        """Every frame at once: (frames, rows, columns[, samples])."""
        return np.stack(list(self.frame_iter(instance_id, count)))


class SeriesPass:
    """One series in the archive scan: :meth:`instance` for each of its instances, then :meth:`finish`.

    An instance is analysed unless its report was computed from these very bytes with these rules (then
    its seal holds too: the pixels are the bytes analysed); the series, unless none of its instances
    needed a new analysis and its report was computed with these rules from as many instances as it
    holds now. What the instance analyses read (headers, decoded frames up to the series checks' pixel
    budget, the archive's answers on the series' and study's UIDs and, asked together, on the SOP
    Instance UIDs of all its instances) serves the series check and the next instances, instead of
    being asked from Orthanc again: a pass lasts seconds, so these answers are as current as the
    analysis of one change by the worker (and an object stored meanwhile under one of these UIDs is
    checked against this one by its own analysis)."""

    def __init__(self, analyses: Analyses, series_id: str):
        self.analyses = analyses
        self.series_id = series_id
        self.members: dict[str, SeriesMember] = {}
        self.lookups: dict[str, Any] = {}
        self.budget = MAX_ANALYSED_BYTES
        self._contents: dict[str, InstanceContents] = {}
        self._contents_read = -CONTENTS_MAX_AGE_SECONDS
        self._looked_up = False  # whether the archive was asked about the SOP Instance UIDs of _contents

    def instance(self, instance_id: str) -> bool:
        """Analyse one instance of the series unless nothing it depends on changed; True if analysed."""
        analyses = self.analyses
        data = analyses.index.instance_file(instance_id)
        metadata, labels = self._contents_of(instance_id)
        report = json.loads(metadata["SentinelReport"]) if "SentinelReport" in metadata else None
        if report is not None and report.get("basis") == analyses.basis(data):
            return False
        if not self._looked_up:
            look_up_together(analyses.index, (c.sop_instance_uid for c in self._contents.values()), self.lookups)
            self._looked_up = True
        member = analyses._analyse(instance_id, data, metadata, self.lookups, self.budget, labels)
        if member is not None:
            if member.pixels is not None:
                self.budget -= declared_pixels(member.dataset)[1]
            self.members[instance_id] = member
        return True

    def _contents_of(self, instance_id: str) -> tuple[dict[str, str], list[str]]:
        """The instance's metadata and labels, from the series' contents read at most
        CONTENTS_MAX_AGE_SECONDS ago (one call for the whole series), or read alone if it came since."""
        index = self.analyses.index
        if time.monotonic() - self._contents_read > CONTENTS_MAX_AGE_SECONDS:
            self._contents = index.series_contents(self.series_id)
            self._contents_read = time.monotonic()
            self._looked_up = False
        if instance_id in self._contents:
            return self._contents[instance_id][:2]
        return index.metadata("instances", instance_id), index.labels("instances", instance_id)

    def finish(self, members_analysed: bool) -> None:
        """The series checks, unless nothing changed since the last (``members_analysed``: whether
        :meth:`instance` analysed any)."""
        analyses = self.analyses
        resource = analyses.index.resource("series", self.series_id)
        report = analyses.reports.stored_report("series", self.series_id)
        if members_analysed or report is None or report.get("basis") != analyses._series_basis(resource["Instances"]):
            analyses.series(self.series_id, self.members, resource)


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


def _appending(frames: Iterator[np.ndarray], kept: list[np.ndarray]) -> Iterator[np.ndarray]:
    for frame in frames:
        kept.append(frame)
        yield frame
