"""One small pure checker per Value Representation: a value string in, None or the reason it is invalid out.

Each checker takes one value of an element as pydicom 2.4 gives it (a ``str``; one item of a multi-valued
element) and judges it against PS3.5 Table 6.2-1. Empty values are not handed to checkers: a zero-length
value is legal for Type 2 and 3 attributes, and whether an attribute may be empty is the IOD's business
(PS3.5 7.4), checked elsewhere. Trailing padding is accepted as PS3.5 6.2 allows it: one NUL (00H) for UI,
SPACE (20H) for DA, TM and DT. What is not covered: character repertoire of other VRs, and the
value-length limits of the byte encoding (``validators.ingest`` sees the raw bytes). Digits are ASCII 0-9 only
(PS3.5 Table 6.2-1): every pattern is compiled with ``re.ASCII``, since Python's ``\d`` (and ``int``) also take
other scripts' digits, which a value decoded from UTF-8 (ISO_IR 192) can hold.
"""

from __future__ import annotations

import calendar
import re
from typing import Callable

# PS3.5 9.1: a UID is at most 64 characters in total.
UID_MAX_LENGTH = 64


def check_ui(value: str) -> str | None:
    """A Unique Identifier (UI), PS3.5 9.1 and Table 6.2-1.

    Components of digits separated by ``.``; no empty component; no leading zero in a component other
    than ``0`` itself; at most 64 characters; padded to even length by one trailing NUL.
    """
    if value.endswith("\0"):
        value = value[:-1]
    if len(value) > UID_MAX_LENGTH:
        return f"{len(value)} characters, more than {UID_MAX_LENGTH} (PS3.5 9.1)"
    bad = sorted(set(value) - set("0123456789."))
    if bad:
        return f"characters {''.join(bad)!r} not allowed; only digits and '.' (PS3.5 9.1)"
    for component in value.split("."):
        if not component:
            return "empty component (PS3.5 9.1)"
        if len(component) > 1 and component[0] == "0":
            return f"component {component!r} has a leading zero (PS3.5 9.1)"
    return None


def _date_reason(year: int, month: int, day: int) -> str | None:
    """Why YYYY, MM, DD are not a day of the Gregorian calendar, or None. Year 0000 is refused: PS3.5
    Table 6.2-1 says DA is a date of the Gregorian calendar, which has no year 0."""
    if year < 1:
        return "year 0000 is not a Gregorian year"
    if not 1 <= month <= 12:
        return f"month {month:02d} not in 01..12"
    last = calendar.monthrange(year, month)[1]
    if not 1 <= day <= last:
        return f"day {day:02d} not in 01..{last:02d} for {year:04d}-{month:02d}"
    return None


def _time_reason(hour: int | None, minute: int | None, second: int | None) -> str | None:
    """Why HH, MM, SS are out of range, or None. SS may be 60 for a leap second (PS3.5 Table 6.2-1)."""
    if hour is not None and hour > 23:
        return f"hour {hour:02d} not in 00..23"
    if minute is not None and minute > 59:
        return f"minute {minute:02d} not in 00..59"
    if second is not None and second > 60:
        return f"second {second:02d} not in 00..60"
    return None


def _int_or_none(text: str | None) -> int | None:
    return None if text is None else int(text)


_DA = re.compile(r"(\d{4})(\d{2})(\d{2})", re.ASCII)
# ACR-NEMA 300's date form, retired from DICOM; pydicom still reads it, conformant writers never emit it.
_DA_LEGACY = re.compile(r"\d{4}\.\d{2}\.\d{2}", re.ASCII)


def check_da(value: str) -> str | None:
    """A Date (DA): ``YYYYMMDD``, a real Gregorian calendar date (PS3.5 Table 6.2-1).

    No lower bound on the year beyond the calendar: the standard sets none, and old birth dates are real.
    The ACR-NEMA form ``YYYY.MM.DD`` is named as such: PS3.5 Table 6.2-1 keeps it only as a note on
    pre-DICOM implementations.
    """
    value = value.rstrip(" ")
    if _DA_LEGACY.fullmatch(value):
        return "legacy ACR-NEMA form YYYY.MM.DD, not YYYYMMDD (PS3.5 Table 6.2-1)"
    m = _DA.fullmatch(value)
    if m is None:
        return "not YYYYMMDD (PS3.5 Table 6.2-1)"
    reason = _date_reason(*map(int, m.groups()))
    return f"{reason} (PS3.5 Table 6.2-1)" if reason else None


# HH, HHMM, HHMMSS or HHMMSS.F to HHMMSS.FFFFFF: the only truncations PS3.5 Table 6.2-1 allows.
_TM = re.compile(r"(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,6})?)?)?", re.ASCII)
# ACR-NEMA 300's time form HH:MM:SS.frac, retired from DICOM.
_TM_LEGACY = re.compile(r"\d{2}:\d{2}(:\d{2}(\.\d{1,6})?)?", re.ASCII)


def check_tm(value: str) -> str | None:
    """A Time (TM): ``HHMMSS.FFFFFF`` or a truncation ``HH``, ``HHMM``, ``HHMMSS``, ``HHMMSS.F``...
    with HH 00-23, MM 00-59, SS 00-60 (60 for a leap second) (PS3.5 Table 6.2-1)."""
    value = value.rstrip(" ")
    if _TM_LEGACY.fullmatch(value):
        return "legacy ACR-NEMA form HH:MM:SS, not HHMMSS (PS3.5 Table 6.2-1)"
    m = _TM.fullmatch(value)
    if m is None:
        return "not HHMMSS.FFFFFF or one of its truncations (PS3.5 Table 6.2-1)"
    reason = _time_reason(*map(_int_or_none, m.groups()))
    return f"{reason} (PS3.5 Table 6.2-1)" if reason else None


# YYYY[MM[DD[HH[MM[SS[.F{1,6}]]]]]] then an optional UTC offset &ZZXX.
_DT = re.compile(r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.\d{1,6})?)?)?)?)?)?"
                 r"(?:([+-])(\d{2})(\d{2}))?", re.ASCII)
# PS3.5 Table 6.2-1: the offset &ZZXX ranges from -1200 to +1400.
_OFFSET_MIN = -12 * 60
_OFFSET_MAX = 14 * 60


def check_dt(value: str) -> str | None:
    """A Date Time (DT): ``YYYYMMDDHHMMSS.FFFFFF&ZZXX`` truncated from the right down to ``YYYY``, with an
    optional offset from UTC ``&ZZXX`` (``&`` is ``+`` or ``-``) from -1200 to +1400 (PS3.5 Table 6.2-1).

    Each component present must be in range; a truncated date is checked as far as it goes.
    """
    value = value.rstrip(" ")
    m = _DT.fullmatch(value)
    if m is None:
        return "not YYYYMMDDHHMMSS.FFFFFF&ZZXX or one of its truncations (PS3.5 Table 6.2-1)"
    year, month, day, hour, minute, second, sign, zz, xx = m.groups()
    reason = _date_reason(int(year), int(month or 1), int(day or 1)) or _time_reason(
        _int_or_none(hour), _int_or_none(minute), _int_or_none(second))
    if reason is None and sign is not None:
        if int(xx) > 59:
            reason = f"offset minutes {xx} not in 00..59"
        else:
            offset = (int(zz) * 60 + int(xx)) * (-1 if sign == "-" else 1)
            if not _OFFSET_MIN <= offset <= _OFFSET_MAX:
                reason = f"offset {sign}{zz}{xx} not in -1200..+1400"
    return f"{reason} (PS3.5 Table 6.2-1)" if reason else None


CHECKERS: dict[str, Callable[[str], str | None]] = {
    "UI": check_ui,
    "DA": check_da,
    "TM": check_tm,
    "DT": check_dt,
}
"""VR -> checker of one value; the VRs :mod:`validators.instance` checks in every element."""
