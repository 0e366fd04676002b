"""validators.values: one table of valid and invalid values per VR, with the PS3.5 reason expected."""

import pytest

from validators.values import CHECKERS, check_da, check_dt, check_tm, check_ui

VALID = {
    check_ui: ["1.2.840.10008.1.2.1", "0", "1.0.2", "2.25.329800735698586629295641978511506172918",
               "1.2.3\0", "1." + "2" * 62],
    check_da: ["20230228", "20240229", "20000229", "18500101", "00010101", "20231231 "],
    check_tm: ["07", "0730", "073015", "073015.1", "073015.123456", "235959", "235960", "000000 "],
    check_dt: ["2023", "202302", "20230228", "2023022807", "202302280730", "20230228073015",
               "20230228073015.123456", "20230228073015+0100", "2023-1200", "2023+1400", "2023+0545",
               "20240229 "],
}

# (value, a fragment of the reason): the fragment names what PS3.5 says is wrong.
INVALID = {
    check_ui: [
        ("1.2.03.4", "leading zero"),        # PS3.5 9.1: no leading zeros in a component
        ("1." + "2" * 63, "65 characters"),  # PS3.5 9.1: at most 64
        ("1..2", "empty component"),
        ("1.2.", "empty component"),
        (".1.2", "empty component"),
        ("1.2.a", "'a'"),                    # PS3.5 9.1: digits and '.' only
        ("1.2 .3", "' '"),
        ("1.2.3\0\0", "'\\x00'"),            # one NUL of padding only
    ],
    check_da: [
        ("20230230", "day 30 not in 01..28"),
        ("20231301", "month 13"),
        ("20230001", "month 00"),
        ("20230100", "day 00"),
        ("19000229", "day 29 not in 01..28"),  # 1900 is not a leap year
        ("00000101", "year 0000"),
        ("2023.02.28", "legacy ACR-NEMA"),
        ("230228", "not YYYYMMDD"),
        ("2023-02-28", "not YYYYMMDD"),
        ("202302281", "not YYYYMMDD"),
        (" 20230228", "not YYYYMMDD"),
        ("٢٠٢٣٠٢٢٨", "not YYYYMMDD"),          # Arabic-Indic digits: Python's \d and int() take them
        ("２０２３０２２８", "not YYYYMMDD"),          # full-width digits
        ("٢٠٢٣.٠٢.٢٨", "not YYYYMMDD"),
    ],
    check_tm: [
        ("250000", "hour 25"),
        ("076000", "minute 60"),
        ("073061", "second 61"),
        ("7", "not HHMMSS"),
        ("073", "not HHMMSS"),
        ("0730.5", "not HHMMSS"),              # a fraction only after seconds
        ("073015.1234567", "not HHMMSS"),      # at most 6 fractional digits
        ("073015.", "not HHMMSS"),
        ("07:30:15", "legacy ACR-NEMA"),
        ("٠٧٣٠١٥", "not HHMMSS"),
        ("٠٧:٣٠", "not HHMMSS"),
    ],
    check_dt: [
        ("20230230", "day 30"),
        ("2023022825", "hour 25"),
        ("20230228073015+1500", "offset +1500"),
        ("20230228073015-1201", "offset -1201"),
        ("20230228073015+0160", "offset minutes 60"),
        ("202", "not YYYYMMDD"),
        ("2023022", "not YYYYMMDD"),
        ("20230228073015.1234567", "not YYYYMMDD"),
        ("20230228T073015", "not YYYYMMDD"),
        ("0000", "year 0000"),
        ("٢٠٢٣٠٢٢٨", "not YYYYMMDD"),
        ("20230228073015+٠١٠٠", "not YYYYMMDD"),
    ],
}


@pytest.mark.parametrize("check,value", [(c, v) for c, vs in VALID.items() for v in vs])
def test_valid(check, value):
    assert check(value) is None


@pytest.mark.parametrize("check,value,reason", [(c, v, r) for c, vs in INVALID.items() for v, r in vs])
def test_invalid(check, value, reason):
    got = check(value)
    assert got is not None and reason in got, got
    assert "PS3.5" in got


def test_table_maps_each_vr_to_its_checker():
    assert CHECKERS == {"UI": check_ui, "DA": check_da, "TM": check_tm, "DT": check_dt}
