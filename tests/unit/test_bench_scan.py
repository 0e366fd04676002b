"""The scan bench's archive: each series it makes is one series of one study of one patient, whatever
UIDs it draws (a series once came out as 20 studies, which the scan rightly found suspicious)."""

from __future__ import annotations

import io
import itertools

import pydicom

from bench import scan as bench


def test_each_placeholder_is_in_the_template_only_where_it_was_put():
    header = bench.template()[:-128 * 128 * 2]
    counts = {name: header.count(value.encode()) for name, value in bench.PLACEHOLDERS.items()}
    # SOP Instance UID also in the File Meta; z in Image Position (Patient) and Slice Location.
    assert counts == {"study": 1, "series": 1, "sop": 2, "patient": 1, "z": 2, "number": 1}


def test_a_series_stays_one_series_whatever_digits_its_uids_hold(monkeypatch):
    # UIDs full of the digits the placeholders hold; each one distinct.
    serial = itertools.count()
    monkeypatch.setattr(bench, "fixed_length_uid",
                        lambda length: f"2.25.{next(serial) + 1}".ljust(length, "9")[:length])
    files = [pydicom.dcmread(io.BytesIO(data)) for data in bench.make_series(bench.template())]
    assert len({(ds.PatientID, ds.StudyInstanceUID, ds.SeriesInstanceUID) for ds in files}) == 1
    assert files[0].StudyInstanceUID == "2.25.1".ljust(44, "9")
    assert len({ds.SOPInstanceUID for ds in files}) == bench.SERIES_SIZE
    assert [ds.InstanceNumber for ds in files] == list(range(1, bench.SERIES_SIZE + 1))
    assert [ds.ImagePositionPatient[2] for ds in files] == [k * bench.SLICE_SPACING_MM for k in range(bench.SERIES_SIZE)]
    assert {str(ds.TableHeight) for ds in files} == {"133.699997"}  # CT_small's own
