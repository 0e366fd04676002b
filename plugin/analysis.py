"""The analyses the worker runs, off the ingest path: fetch what Orthanc stored (bytes, headers, frames
decoded by Orthanc's own decoder, so every transfer syntax it knows works), call the pure validators,
save the reports. Running one twice gives the same report: each run replaces the last."""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom

from validators.checks import examine
from validators.consistency import check_against_archive, identifiers
from validators.rules import Policy
from validators.series import SeriesMember, check_multiframe, check_series

from .archive import known_identifiers
from .index import Index
from .reports import Reports


def read_header(data: bytes) -> pydicom.Dataset:
    """The data set without its pixel data (force: Orthanc stored it, so it is DICOM enough)."""
    return pydicom.dcmread(BytesIO(data), force=True, stop_before_pixels=True)


class Analyses:
    """The worker's handlers, by change type of Orthanc's log."""

    def __init__(self, index: Index, reports: Reports, policy: Policy):
        self.index = index
        self.reports = reports
        self.policy = policy

    def handlers(self) -> dict:
        return {"NewInstance": self.instance, "StableSeries": self.series}

    def instance(self, instance_id: str) -> None:
        """All single-object checks of one stored instance, and its consistency with what the archive
        already holds under its UIDs."""
        findings, ds = examine(self.index.instance_file(instance_id))
        if ds is not None:
            new = identifiers(ds)
            findings += check_against_archive(new, known_identifiers(self.index, new, instance_id))
        self.reports.save_instance_report(instance_id, self.policy.apply(findings))

    def series(self, series_id: str) -> None:
        """The checks of a stable series as a whole (identity, geometry, timing, cine, continuity)."""
        members = [SeriesMember(instance_id, read_header(self.index.instance_file(instance_id)),
                                pixels=lambda instance_id=instance_id: self.frames(instance_id))
                   for instance_id in self.index.instances_of("series", series_id)]
        findings = check_series(members)
        for member in members:
            findings += check_multiframe(member)
        self.reports.save_series_report(series_id, self.policy.apply(findings))

    def frames(self, instance_id: str) -> np.ndarray:
        """Stored values (no rescale) of every frame, decoded by Orthanc: (frames, rows, columns) for
        one sample per pixel, (frames, rows, columns, samples) otherwise."""
        count = len(self.index.get_json(f"/instances/{instance_id}/frames"))
        stack = np.stack([self.index.frame(instance_id, i) for i in range(count)])
        return stack[..., 0] if stack.shape[-1] == 1 else stack
