"""Consistency inside one object: SOP Class against Modality, the order of its dates, Patient's Age
against the birth and study dates.

File Meta against the data set (Media Storage SOP Class / Instance UID, transfer syntax) is
``ingest.sop-class-mismatch`` / ``ingest.sop-instance-mismatch`` / ``ingest.filemeta-*``; birth after study
is ``instance.birth-after-study``; Patient's Sex (0010,0040) codes are Enumerated Values of the Patient
module, ``iod.enumerated``.
"""

from __future__ import annotations

import datetime as dt

from pydicom.dataset import Dataset

from .elements import first_text
from .findings import Action, Finding, Severity
from .rules import define
from .values import check_da

SOP_MODALITY = define(
    "coherence.sop-modality", Severity.ERROR, Action.LABEL,
    "Modality (0008,0060) is not one the object's SOP Class can have (PS3.3 C.7.3.1.1.1 and the IOD's "
    "series module, e.g. C.8.2 CT, C.8.3 MR, C.8.7 X-ray): a CT Image Storage object labelled MR is "
    "routed, hung and retained as the wrong thing.")
DATE_ORDER = define(
    "coherence.date-order", Severity.WARNING, Action.REPORT,
    "Dates out of order: StudyDate (0008,0020) after SeriesDate (0008,0021) or AcquisitionDate "
    "(0008,0022), or AcquisitionDate after ContentDate (0008,0023) (PS3.3 C.7.2.1, C.7.3.1, C.7.6.1: a "
    "study contains its series, an image's content is created after its acquisition). Compared by day: "
    "times of different clocks (RIS, modality) disagree by minutes. Reported only: test and anonymised data "
    "often has shifted study dates, and the images stay usable.")
AGE = define(
    "coherence.patient-age", Severity.WARNING, Action.LABEL,
    "PatientAge (0010,1010) differs from the age that PatientBirthDate (0010,0030) and StudyDate "
    "(0008,0020) give (PS3.3 C.7.2.2: the age at the time of the study) by more than one unit.")

_CT, _MR = ("CT",), ("MR",)
# Storage SOP Class -> Modality values it may carry, from the Modality Enumerated Values of the IOD's
# series module where it has one (CT Series C.8.15.1, MR Series C.8.13.6, PET Series C.8.9.1, RT Series
# C.8.8.1, Segmentation Series C.8.20.1, SR Document Series C.17.1, ECG Waveform IODs A.34.3/A.34.4) and
# the Defined Terms of C.7.3.1.1.1 that PS3.3 A.2-A.19 name for each classic image IOD.
_MODALITIES: dict[str, tuple[str, ...]] = {
    "1.2.840.10008.5.1.4.1.1.2": _CT, "1.2.840.10008.5.1.4.1.1.2.1": _CT,
    "1.2.840.10008.5.1.4.1.1.4": _MR, "1.2.840.10008.5.1.4.1.1.4.1": _MR,
    "1.2.840.10008.5.1.4.1.1.1": ("CR",),
    "1.2.840.10008.5.1.4.1.1.1.1": ("DX",), "1.2.840.10008.5.1.4.1.1.1.1.1": ("DX",),
    "1.2.840.10008.5.1.4.1.1.1.2": ("MG",), "1.2.840.10008.5.1.4.1.1.1.2.1": ("MG",),
    "1.2.840.10008.5.1.4.1.1.1.3": ("IO",), "1.2.840.10008.5.1.4.1.1.1.3.1": ("IO",),
    "1.2.840.10008.5.1.4.1.1.6.1": ("US",), "1.2.840.10008.5.1.4.1.1.3.1": ("US",),
    "1.2.840.10008.5.1.4.1.1.12.1": ("XA",), "1.2.840.10008.5.1.4.1.1.12.1.1": ("XA",),
    "1.2.840.10008.5.1.4.1.1.12.2": ("RF",), "1.2.840.10008.5.1.4.1.1.12.2.1": ("RF",),
    "1.2.840.10008.5.1.4.1.1.20": ("NM",),
    "1.2.840.10008.5.1.4.1.1.128": ("PT",), "1.2.840.10008.5.1.4.1.1.130": ("PT",),
    "1.2.840.10008.5.1.4.1.1.66.4": ("SEG",),
    "1.2.840.10008.5.1.4.1.1.481.2": ("RTDOSE",), "1.2.840.10008.5.1.4.1.1.481.5": ("RTPLAN",),
    "1.2.840.10008.5.1.4.1.1.481.3": ("RTSTRUCT",),
    "1.2.840.10008.5.1.4.1.1.9.1.1": ("ECG",), "1.2.840.10008.5.1.4.1.1.9.1.2": ("ECG",),
    "1.2.840.10008.5.1.4.1.1.88.11": ("SR",), "1.2.840.10008.5.1.4.1.1.88.22": ("SR",),
    "1.2.840.10008.5.1.4.1.1.88.33": ("SR",),
}

# Ordered pairs (earlier, later) of DA attributes, by tag.
_ORDER = ((0x00080020, 0x00080021, "StudyDate", "SeriesDate"),
          (0x00080020, 0x00080022, "StudyDate", "AcquisitionDate"),
          (0x00080022, 0x00080023, "AcquisitionDate", "ContentDate"))
# PatientAge units (PS3.5 Table 6.2-1, AS) in days, and the slack of one unit.
_AGE_DAYS = {"D": 1, "W": 7, "M": 30.4375, "Y": 365.25}


# The DA attributes compared: StudyDate, SeriesDate, AcquisitionDate, ContentDate, PatientBirthDate.
_DATED = (0x00080020, 0x00080021, 0x00080022, 0x00080023, 0x00100030)


def check_coherence(ds: Dataset) -> list[Finding]:
    """Findings of the ``coherence.*`` rules for one data set."""
    dates = {tag: _date(ds, tag) for tag in _DATED}  # each read once, though several rules compare it
    return _sop_modality(ds) + _date_order(dates) + _age(ds, dates)


def _sop_modality(ds: Dataset) -> list[Finding]:
    allowed = _MODALITIES.get(first_text(ds, 0x00080016) or "")
    modality = first_text(ds, 0x00080060)
    if allowed is None or modality is None or modality in allowed:
        return []
    return [SOP_MODALITY.finding(f"Modality {modality} with SOP Class {first_text(ds, 0x00080016)}, which "
                                 f"has {' or '.join(allowed)}", 0x00080060, value=modality)]


def _date(ds: Dataset, tag: int) -> dt.date | None:
    text = first_text(ds, tag)
    if text is None or check_da(text):
        return None
    return dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))


def _date_order(dates: dict[int, dt.date | None]) -> list[Finding]:
    out = []
    for first, second, first_name, second_name in _ORDER:
        a, b = dates[first], dates[second]
        if a is not None and b is not None and a > b:
            out.append(DATE_ORDER.finding(f"{first_name} {a:%Y%m%d} is after {second_name} {b:%Y%m%d}", second))
    return out


def _age(ds: Dataset, dates: dict[int, dt.date | None]) -> list[Finding]:
    age, birth, study = first_text(ds, 0x00101010), dates[0x00100030], dates[0x00080020]
    if age is None or birth is None or study is None or len(age) != 4 or not age[:3].isascii() \
            or not age[:3].isdigit() \
            or age[3] not in _AGE_DAYS:
        return []
    unit = _AGE_DAYS[age[3]]
    actual = (study - birth).days / unit
    if abs(actual - int(age[:3])) < 2 and int(age[:3]) <= actual + 1:
        return []
    return [AGE.finding(f"PatientAge {age} but birth {birth:%Y%m%d} and study {study:%Y%m%d} give "
                        f"{actual:.1f}{age[3]}", 0x00101010, value=age)]
