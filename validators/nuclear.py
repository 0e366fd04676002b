"""Plausibility of nuclear medicine and PET radiopharmaceutical attributes.

From the first item of RadiopharmaceuticalInformationSequence (0054,0016): RadionuclideHalfLife
(0018,1075) in s against the half-life of the radionuclide its code names; RadionuclideTotalDose
(0018,1074), in Bq for PET (PS3.3 C.8.9.1.1) and in MBq for NM (PS3.3 C.8.4.10); the injection
(RadiopharmaceuticalStartDateTime (0018,1078), or SeriesDate with RadiopharmaceuticalStartTime
(0018,1072)) before the acquisition. Units (0054,1001) and Decay Correction (0054,1102) are Enumerated
Values of the PET Series module, checked as ``iod.enumerated``.
"""

from __future__ import annotations

import datetime as dt
import re

from pydicom.dataset import Dataset

from .elements import first_number, first_text
from .findings import Action, Finding, Severity
from .rules import define
from .values import check_da, check_dt, check_tm

HALF_LIFE = define(
    "plausibility.half-life", Severity.WARNING, Action.LABEL,
    "RadionuclideHalfLife (0018,1075) in s differs by more than 2% from the half-life of the radionuclide "
    "named in RadionuclideCodeSequence (0054,0300) (half-lives: NNDC NuDat 3 / DDEP). SUV and "
    "decay-corrected activity are then wrong.")
DOSE = define(
    "plausibility.injected-dose", Severity.WARNING, Action.LABEL,
    "RadionuclideTotalDose (0018,1074) implausible for its unit: PET in Bq (PS3.3 C.8.9.1.1) below 1 MBq, "
    "NM in MBq (PS3.3 C.8.4.10) above 100 GBq or PET above 100 GBq: a dose written in MBq, mCi or Bq "
    "where the other unit is due. Diagnostic activities are 10 MBq-1.5 GBq (EANM guidelines).")
INJECTION = define(
    "plausibility.injection-order", Severity.WARNING, Action.LABEL,
    "The radiopharmaceutical start (injection) is after the acquisition start (AcquisitionDateTime "
    "(0008,002A), or AcquisitionDate/Time (0008,0022)/(0008,0032)): activity cannot be imaged before it is "
    "given; decay correction to the injection is then negative.")

# Half-lives in seconds (NNDC NuDat 3), by (mass number, element symbol).
_HALF_LIVES = {(18, "F"): 6586.2, (11, "C"): 1221.8, (13, "N"): 597.9, (15, "O"): 122.24,
               (68, "Ga"): 4062.6, (82, "Rb"): 76.38, (64, "Cu"): 45721.1, (89, "Zr"): 282276.0,
               (124, "I"): 360806.4, (99, "Tc"): 21624.12, (123, "I"): 47602.8, (131, "I"): 693377.0,
               (111, "In"): 242290.0, (201, "Tl"): 262836.0, (67, "Ga"): 281810.0, (177, "Lu"): 574300.0,
               (133, "Xe"): 452995.0, (153, "Sm"): 166622.0, (90, "Y"): 230400.0}
_ELEMENTS = {"fluorine": "F", "carbon": "C", "nitrogen": "N", "oxygen": "O", "gallium": "Ga",
             "rubidium": "Rb", "copper": "Cu", "zirconium": "Zr", "iodine": "I", "technetium": "Tc",
             "indium": "In", "thallium": "Tl", "lutetium": "Lu", "xenon": "Xe", "samarium": "Sm",
             "yttrium": "Y"}
# Code meanings as written: "^18^Fluorine" (SNOMED / DICOM CID 4020), "Fluorine^18^", "F-18", "18F".
_NUCLIDE = re.compile(r"\^?(\d{1,3})\^?\s*-?\s*([A-Za-z]+)|([A-Za-z]+)\s*\^?-?\s*(\d{1,3})", re.ASCII)
_PET_MODALITY = "PT"
_MBQ = 1e6


def check_nuclear(ds: Dataset) -> list[Finding]:
    """Findings of the NM / PET ``plausibility.*`` rules for one data set."""
    modality = first_text(ds, 0x00080060)
    if modality not in ("NM", _PET_MODALITY) or 0x00540016 not in ds:
        return []
    try:
        items = ds[0x00540016].value
    except Exception:  # an unparseable sequence is instance.unreadable's
        return []
    if not items:
        return []
    info = items[0]
    return _half_life(info) + _dose(info, modality) + _injection(ds, info)


def nuclide(meaning: str) -> tuple[int, str] | None:
    """(mass number, symbol) from a radionuclide code meaning, or None."""
    for m in _NUCLIDE.finditer(meaning):
        mass, name = (m.group(1), m.group(2)) if m.group(1) else (m.group(4), m.group(3))
        symbol = _ELEMENTS.get(name.lower()) or next((s for s in _ELEMENTS.values() if s.lower() == name.lower()),
                                                     None)
        if symbol:
            return int(mass), symbol
    return None


def _half_life(info: Dataset) -> list[Finding]:
    stated = first_number(info, 0x00181075)
    if stated is None or 0x00540300 not in info:
        return []
    try:
        codes = info[0x00540300].value
    except Exception:
        return []
    meaning = first_text(codes[0], 0x00080104) if codes else None
    key = nuclide(meaning) if meaning else None
    expected = _HALF_LIVES.get(key) if key else None
    if expected is None or abs(stated - expected) <= 0.02 * expected:
        return []
    return [HALF_LIFE.finding(f"RadionuclideHalfLife {stated:g} s but {meaning} has {expected:g} s", 0x00181075,
                              value=stated, expected=expected)]


def _dose(info: Dataset, modality: str) -> list[Finding]:
    dose = first_number(info, 0x00181074)
    if dose is None or dose <= 0:
        return []
    if modality == _PET_MODALITY and not 1 * _MBQ <= dose <= 1e5 * _MBQ:
        return [DOSE.finding(f"PET RadionuclideTotalDose {dose:g} Bq outside 1 MBq-100 GBq", 0x00181074,
                             value=dose)]
    if modality == "NM" and dose > 1e5:
        return [DOSE.finding(f"NM RadionuclideTotalDose {dose:g} MBq above 100 GBq (Bq written for MBq?)",
                             0x00181074, value=dose)]
    return []


def _datetime(date: str | None, time: str | None) -> dt.datetime | None:
    if not date or not time or check_da(date) or check_tm(time):
        return None
    hhmmss = (time.split(".")[0] + "0000")[:6]
    return dt.datetime(int(date[:4]), int(date[4:6]), int(date[6:8]), int(hhmmss[:2]), int(hhmmss[2:4]),
                       min(int(hhmmss[4:6]), 59))


def _from_dt(value: str | None) -> dt.datetime | None:
    """A DT value of at least YYYYMMDDHHMM, offset ignored (both sides come from one scanner)."""
    if not value or check_dt(value) or len(value) < 12:
        return None
    return _datetime(value[:8], value[8:].split("+")[0].split("-")[0])


def _injection(ds: Dataset, info: Dataset) -> list[Finding]:
    start = _from_dt(first_text(info, 0x00181078)) or _datetime(first_text(ds, 0x00080021),
                                                                 first_text(info, 0x00181072))
    acquired = _from_dt(first_text(ds, 0x0008002A)) or _datetime(first_text(ds, 0x00080022),
                                                                 first_text(ds, 0x00080032))
    if start is None or acquired is None or start <= acquired:
        return []
    return [INJECTION.finding(f"injection {start:%Y-%m-%d %H:%M:%S} after acquisition {acquired:%Y-%m-%d %H:%M:%S}",
                              0x00181072)]
