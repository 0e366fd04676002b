"""The analyses the worker runs, off the ingest path: fetch what Orthanc stored (bytes, headers, frames
decoded by Orthanc's own decoder, so every transfer syntax it knows works), call the pure validators,
save the reports. Running one twice gives the same report: each run replaces the last."""

from __future__ import annotations

import dataclasses
import hashlib
import json
import time
from concurrent.futures import Future
from concurrent.futures.process import BrokenProcessPool
from typing import Any, Iterator

import numpy as np
import pydicom

import validators
from validators.consistency import check_against_archive
from validators.findings import Finding
from validators.ingest import Limits
from validators.rules import Policy
from validators.nativeframes import LITTLE_ENDIAN_NATIVE
from validators.seal import compare_seal
from validators.series import SeriesMember
from validators.stored import (MAX_ANALYSED_BYTES, NO_PIXELS, DecodedFrames, DecoderNeeded, ScannedSeries,
                               StoredInstance, Undecodable, analyse_instance, check_series_members, declared_pixels,
                               over_limits, read_header)

from .archive import known_identifiers, look_up_together
from .index import Index, InstanceContents
from .reports import IndexReads, Reports
from .scanpool import ScanPool

# How old (s) the metadata and labels of a series' instances read at once by the archive scan may be when
# an instance is analysed: the window in which another peer's change to them goes unseen.
CONTENTS_MAX_AGE_SECONDS = 2.0


def compact_time(iso: str) -> str:
    """``2026-11-25T01:02:03Z`` -> ``20261125T010203``, the form of Orthanc's change dates (UTC)."""
    return iso.replace("-", "").replace(":", "").rstrip("Z")


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

    def _analyse(self, instance_id: str, data: bytes, metadata: dict[str, str]) -> None:
        """:meth:`instance` on the stored file ``data``, the instance's metadata being ``metadata`` (its
        last report, if any, in ``SentinelReport``)."""
        result = analyse_instance(instance_id, data, self.limits, lambda count: self.frame_iter(instance_id, count))
        self.save(instance_id, self.basis(data), result, metadata)

    def save(self, instance_id: str, basis: dict[str, str], result: StoredInstance, metadata: dict[str, str],
             lookups: dict[str, Any] | None = None, labels: list[str] | None = None) -> None:
        """Complete the pure checks' ``result`` on the stored file of :meth:`basis` ``basis`` with those
        that need the archive, and store the report: consistency with what the archive holds under the
        object's UIDs, and the seal. Sealed at the first analysis and kept in the report; every later
        analysis (revalidation, archive scan) compares, so that a file changed in storage after ingest is
        found."""
        findings = list(result.findings)
        if result.identifiers is not None:
            known = known_identifiers(self.index, result.identifiers, instance_id, lookups)
            findings += check_against_archive(result.identifiers, known)
        first_seal = None
        if result.seal is not None:
            previous = json.loads(metadata["SentinelReport"]) if "SentinelReport" in metadata else None
            first_seal = (previous or {}).get("seal")
            if first_seal is not None:
                findings += compare_seal(first_seal, result.seal)
            first_seal = first_seal or result.seal
        self.reports.save_instance_report(instance_id, self.policy.apply(findings), first_seal, basis, metadata, labels)

    def decodable(self, instance_id: str, header: pydicom.Dataset) -> bool:
        """Whether the pixels of a series member may be decoded: its header is within the limits, and
        its own analysis decoded them (its report has a seal, so it has Pixel Data, and no NO_PIXELS
        finding). The header, read without its pixel data, cannot say whether there is any."""
        if over_limits(header, [], self.limits):
            return False
        report = self.reports.stored_report("instances", instance_id)
        return (report is not None and report.get("seal") is not None
                and not any(f["rule"] in NO_PIXELS for f in report["findings"]))

    def series(self, series_id: str, known: dict[str, SeriesMember] | None = None,
               resource: dict[str, Any] | None = None, reads: IndexReads | None = None) -> None:
        """The checks of a stable series as a whole (:func:`check_series_members`). ``known``: members
        just analysed (:meth:`SeriesPass.instance`), by instance id, so that they are not read again; ``resource``:
        the series (``GET /series/{id}``) if just read; ``reads``: see :meth:`save_series`."""
        resource = resource or self.index.resource("series", series_id)
        findings = check_series_members(list(self._members(resource["Instances"], known or {})))
        self.save_series(series_id, findings, resource, reads)

    def save_series(self, series_id: str, findings: list[Finding], resource: dict[str, Any],
                    reads: IndexReads | None = None) -> None:
        """Store the series report of ``findings`` (default severities); ``resource``: ``GET /series/{id}``;
        ``reads``: its instances' metadata if read a moment ago (:meth:`Reports.aggregate`)."""
        self.reports.save_series_report(series_id, self.policy.apply(findings), self._series_basis(resource["Instances"]),
                                        resource, reads)

    def _members(self, instances: list[str], known: dict[str, SeriesMember]) -> Iterator[SeriesMember]:
        """The series' instances that pydicom parses. Series checks hold every member's pixels at once:
        past MAX_ANALYSED_BYTES in all, members come without pixels."""
        budget = MAX_ANALYSED_BYTES
        read = (known.get(i) or self._read_member(i) for i in instances)
        for member in (m for m in read if m is not None):
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

    def frame_iter(self, instance_id: str, count: int) -> Iterator[np.ndarray]:
        """Stored values (no rescale) of each of the ``count`` frames the header declares, decoded by
        Orthanc one at a time (bounded memory): (rows, columns) for one sample per pixel, (rows, columns,
        samples) otherwise. A frame Orthanc cannot decode raises Undecodable."""
        for i in range(count):
            try:
                frame = self.index.frame(instance_id, i)
            except self.index.orthanc.OrthancException as e:
                raise Undecodable(str(e)) from e
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
    checked against this one by its own analysis).

    A series whose every instance needs every check can be handed to worker processes first
    (:meth:`submit`); :meth:`instance` and :meth:`finish` then store their results, and analyse here
    only what they do not cover (an instance stored since, a file whose frames were not decoded ahead: a
    native transfer syntax in colour, say)."""

    def __init__(self, analyses: Analyses, series_id: str):
        self.analyses = analyses
        self.series_id = series_id
        self.members: dict[str, SeriesMember] = {}
        self.lookups: dict[str, Any] = {}
        self.budget = MAX_ANALYSED_BYTES
        self._contents: dict[str, InstanceContents] = {}
        self._contents_read = -CONTENTS_MAX_AGE_SECONDS
        self._looked_up = False  # whether the archive was asked about the SOP Instance UIDs of _contents
        self._pending: Future[ScannedSeries] | None = None
        self._scanned: ScannedSeries | None = None
        self._bases: dict[str, dict[str, str]] = {}  # basis of each file handed to the pool
        self.pooled: set[str] = set()  # instances whose result from the pool is stored

    def submit(self, pool: ScanPool, max_bytes: int) -> int:
        """Hand the series to ``pool`` if none of its instances can have a current report (none has a
        report under these rules) and their files, with the frames of those that need Orthanc's decoder
        (compressed, colour...: decoded here, as the pool asks, and handed over), take at most
        ``max_bytes``; returns the bytes handed over (0 if not)."""
        rules = self.analyses.rules
        contents = self._read_contents()
        for found in contents.values():
            report = json.loads(found.metadata.get("SentinelReport", "{}"))
            if all(report.get("basis", {}).get(k) == v for k, v in rules.items()):
                return 0  # maybe current: the digest decides, in instance()
        files, size = [], 0
        for instance_id in contents:
            data = self.analyses.index.instance_file(instance_id)
            size += len(data)
            if size > max_bytes:
                return 0
            files.append((instance_id, data))
        encoded = [(i, data) for i, data in files
                   if contents[i].metadata.get("TransferSyntax") not in LITTLE_ENDIAN_NATIVE]
        decoded: dict[str, DecodedFrames] = {}
        for instance_id, count in (pool.frames_to_decode(encoded).result() if encoded else {}).items():
            frames, error = [], None
            try:
                for frame in self.analyses.frame_iter(instance_id, count):
                    size += frame.nbytes
                    if size > max_bytes:
                        return 0
                    frames.append(frame)
            except Undecodable as e:
                error = str(e)
            decoded[instance_id] = DecodedFrames(count, frames, error)
        self._bases = {i: self.analyses.basis(data) for i, data in files}
        self._pending = pool.submit(files, decoded)
        return size

    def _pooled(self, instance_id: str) -> StoredInstance | None:
        """The pool's result for the instance; None if there is none (not submitted, or the pool could not
        check the series: it needs Orthanc's decoder, or a process died)."""
        if self._pending is not None:
            try:
                self._scanned = self._pending.result()
            except (DecoderNeeded, BrokenProcessPool):
                self._scanned = None
            self._pending = None
        return None if self._scanned is None else self._scanned.instances.get(instance_id)

    def instance(self, instance_id: str) -> bool:
        """Analyse one instance of the series unless nothing it depends on changed; True if analysed."""
        analyses = self.analyses
        from_pool = self._pooled(instance_id)
        data = None if from_pool is not None else analyses.index.instance_file(instance_id)
        metadata, labels = self._contents_of(instance_id)
        report = json.loads(metadata["SentinelReport"]) if "SentinelReport" in metadata else None
        basis = self._bases[instance_id] if from_pool is not None else analyses.basis(data)
        if report is not None and report.get("basis") == basis:
            return False
        result = from_pool or analyse_instance(instance_id, data, analyses.limits,
                                               lambda count: analyses.frame_iter(instance_id, count), self.budget)
        self._look_up(result.identifiers)
        analyses.save(instance_id, basis, result, metadata, self.lookups, labels)
        if from_pool is not None:
            self.pooled.add(instance_id)
        elif result.member is not None:
            if result.member.pixels is not None:
                self.budget -= declared_pixels(result.member.dataset)[1]
            self.members[instance_id] = result.member
        return True

    def _look_up(self, identifiers: dict[str, str] | None) -> None:
        """Ask the archive about the SOP Instance UIDs of the series' instances and the study and series
        UIDs of the first one analysed (``identifiers``), all at once, unless done since the contents
        were read."""
        if self._looked_up:
            return
        uids = [c.sop_instance_uid for c in self._contents.values()]
        uids += [(identifiers or {}).get(key, "") for key in ("StudyInstanceUID", "SeriesInstanceUID")]
        look_up_together(self.analyses.index, uids, self.lookups)
        self._looked_up = True

    def instance_ids(self) -> list[str]:
        """The series' instances, from its contents read at most CONTENTS_MAX_AGE_SECONDS ago (as when
        the pass was handed to the pool a moment before), else read now for the instances to come."""
        if time.monotonic() - self._contents_read > CONTENTS_MAX_AGE_SECONDS:
            self._read_contents()
        return list(self._contents)

    def _contents_of(self, instance_id: str) -> tuple[dict[str, str], list[str]]:
        """The instance's metadata and labels, from the series' contents read at most
        CONTENTS_MAX_AGE_SECONDS ago (one call for the whole series), or read alone if it came since."""
        index = self.analyses.index
        if time.monotonic() - self._contents_read > CONTENTS_MAX_AGE_SECONDS:
            self._read_contents()
        if instance_id in self._contents:
            return self._contents[instance_id][:2]
        return index.metadata("instances", instance_id), index.labels("instances", instance_id)

    def _read_contents(self) -> dict[str, InstanceContents]:
        self._contents = self.analyses.index.series_contents(self.series_id)
        self._contents_read = time.monotonic()
        self._looked_up = False
        return self._contents

    def finish(self, members_analysed: bool) -> None:
        """The series checks, unless nothing changed since the last (``members_analysed``: whether
        :meth:`instance` analysed any): the pool's if it checked exactly the series' instances now and
        each of their results was stored."""
        analyses = self.analyses
        resource = analyses.index.resource("series", self.series_id)
        if self._scanned is not None and self.pooled == set(resource["Instances"]) == set(self._scanned.instances):
            analyses.save_series(self.series_id, self._scanned.series_findings, resource, self._recent_reads(resource))
            return
        report = analyses.reports.stored_report("series", self.series_id)
        if members_analysed or report is None or report.get("basis") != analyses._series_basis(resource["Instances"]):
            analyses.series(self.series_id, self.members, resource, self._recent_reads(resource))

    def _recent_reads(self, resource: dict[str, Any]) -> IndexReads | None:
        """The instances' metadata as the pass read it (with the reports it wrote since, see
        :meth:`Reports._save`) if read at most CONTENTS_MAX_AGE_SECONDS ago, so that the series' and
        study's labels are computed without reading every instance again, and the series' labels as
        ``resource`` (read just now) has them; None if older."""
        if time.monotonic() - self._contents_read > CONTENTS_MAX_AGE_SECONDS:
            return None
        return IndexReads(metadata={i: found.metadata for i, found in self._contents.items()},
                          instances={self.series_id: resource["Instances"]},
                          labels={self.series_id: resource["Labels"]} if "Labels" in resource else {})
