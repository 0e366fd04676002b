"""The series analysis of plugin/analysis.py with a fake index (issue 9).

Memory: the fuzz bench saw Orthanc's RSS reach 1.7-8.6 GB because the series checks kept every member's
whole header, and the deflate-bomb mutants of one seed file (one series) each carry a private OB of up to
512 MB before their pixel data. The members' headers must keep no long value and no reference to the
member's file, so that a series costs one member's memory.

Members without Pixel Data (the bombs end before it): the series analysis must not ask Orthanc to decode
their frames, which fails ("Bad file format") and used to fail the whole series analysis."""

from __future__ import annotations

import io
import tracemalloc

import pydicom
from pydicom.uid import generate_uid

from plugin.analysis import Analyses
from validators.stored import MAX_HEADER_VALUE_BYTES, read_header
from realfiles import fresh_copy
from validators.ingest import Limits
from validators.rules import Policy

MEMBERS = 6
BLOB_BYTES = 24 << 20  # the private value of each member, in bytes


def member_file(series_uid: str, study_uid: str, z: float, pixels: bool = True) -> bytes:
    """CT_small with the given series, a new SOP Instance UID, slice position ``z`` (mm), a private OB
    of BLOB_BYTES zeros and a sequence longer than MAX_HEADER_VALUE_BYTES under the same creator; without
    its Pixel Data if not ``pixels``."""
    ds = pydicom.dcmread(io.BytesIO(fresh_copy("CT_small.dcm")))
    if not pixels:
        del ds.PixelData
    ds.StudyInstanceUID, ds.SeriesInstanceUID = study_uid, series_uid
    ds.ImagePositionPatient = [0, 0, z]
    block = ds.private_block(0x7FD1, "SENTINEL TEST", create=True)
    block.add_new(0x00, "OB", bytes(BLOB_BYTES))
    item = pydicom.Dataset()
    item.add_new(0x7FD11010, "OB", bytes(MAX_HEADER_VALUE_BYTES // 4))
    block.add_new(0x01, "SQ", [item] * 8)
    out = io.BytesIO()
    ds.save_as(out, write_like_original=False)
    return out.getvalue()


class FakeIndex:
    """The calls the series analysis makes for its members and their headers."""

    def __init__(self, files: dict[str, bytes]):
        self.files = files

    def resource(self, level: str, series_id: str) -> dict:
        return {"Instances": list(self.files)}

    def instance_file(self, instance_id: str) -> bytes:
        return self.files[instance_id]


class FakeReports:
    """The instance reports given (none by default: members come without pixels); keeps the series report."""

    def __init__(self, instance_reports: dict[str, dict] | None = None):
        self.instance_reports = instance_reports or {}
        self.series = None

    def stored_report(self, level: str, resource_id: str) -> dict | None:
        return self.instance_reports.get(resource_id)

    def save_series_report(self, series_id: str, findings: list, basis: dict | None = None,
                           resource: dict | None = None, reads: object = None) -> None:
        self.series = findings


def test_member_header_keeps_no_long_value_and_no_reference_to_the_file():
    data = member_file(generate_uid(), generate_uid(), 0.0)
    header = read_header(data)
    assert 0x7FD11000 not in header  # the 24 MB blob: dropped
    assert len(header[0x7FD11001].value) == 8  # a sequence is kept, even over the limit
    assert header.filename is None
    assert header.ImagePositionPatient[2] == 0 and "PixelData" not in header
    assert all(len(e.value) <= MAX_HEADER_VALUE_BYTES for e in header if isinstance(e.value, (bytes, str)))


def test_series_of_members_with_large_private_values_costs_about_one_member():
    series_uid, study_uid = generate_uid(), generate_uid()
    files = {f"member-{i}": member_file(series_uid, study_uid, 5.0 * i) for i in range(MEMBERS)}
    reports = FakeReports()
    analyses = Analyses(FakeIndex(files), reports, Policy(), Limits())
    tracemalloc.start()
    try:
        analyses.series("series")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert reports.series is not None
    # Before the fix every member's header held its blob: MEMBERS x BLOB_BYTES (144 MB) at once.
    assert peak < 2 * BLOB_BYTES, f"series analysis peaked at {peak >> 20} MB of Python allocations"


def test_members_without_pixel_data_are_not_decoded():
    series_uid, study_uid = generate_uid(), generate_uid()
    files = {f"member-{i}": member_file(series_uid, study_uid, 5.0 * i, pixels=False) for i in range(3)}
    # Analysed without a pixel finding, and without a seal: their analysis found no Pixel Data to seal.
    reports = FakeReports({i: {"findings": [], "seal": None} for i in files})
    Analyses(FakeIndex(files), reports, Policy(), Limits()).series("series")  # FakeIndex cannot decode frames
    assert reports.series is not None
