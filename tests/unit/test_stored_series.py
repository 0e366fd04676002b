"""The checks of a stored series as a whole (validators.stored.check_series_members) on members whose
headers are read from their files as the scan reads them (elements decoded by pydicom on first use): an
element that pydicom cannot decode, or a Modality LUT that is not a number, costs the series check at most
that member, never the series."""

from __future__ import annotations

import copy
import io

import pytest
from pydicom.datadict import dictionary_VR
from pydicom.dataelem import RawDataElement
from pydicom.tag import Tag

from seriesfiles import emri_stack
from validators.series import SeriesMember
from validators.stored import check_series_members, read_header, readable_members

ROWS, RESCALE_INTERCEPT = 0x00280010, 0x00281052


def as_stored() -> list[SeriesMember]:
    """emri_stack's slices with their headers written and read back (each element raw until used), and
    their pixels shaped (frames, rows, columns) as validators.stored.analyse_instance keeps them."""
    members = []
    for m in emri_stack():
        out = io.BytesIO()
        m.dataset.save_as(out, write_like_original=False)
        members.append(SeriesMember(m.instance_id, read_header(out.getvalue()), lambda frame=m.pixels(): frame[None]))
    return members


def with_raw_value(m: SeriesMember, tag: int, raw: bytes) -> SeriesMember:
    """The member with element ``tag`` replaced by a raw value of the dictionary's VR, as read from a file."""
    ds = copy.deepcopy(m.dataset)
    ds._dict[Tag(tag)] = RawDataElement(Tag(tag), dictionary_VR(tag), len(raw), raw, 0, False, True)
    return SeriesMember(m.instance_id, ds, m.pixels)


def raw_public_elements(members: list[SeriesMember]) -> int:
    return sum(isinstance(e, RawDataElement) and not e.tag.is_private
               for m in members for e in m.dataset._dict.values())


def test_the_series_checks_decode_only_what_they_read_and_find_what_decoding_everything_first_finds():
    lazy, eager = as_stored(), as_stored()
    eager = list(readable_members(eager))  # every public element decoded first
    assert raw_public_elements(eager) == 0
    assert check_series_members(lazy) == check_series_members(eager)
    assert raw_public_elements(lazy) > len(lazy)  # several elements of each member left as read


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_member_with_an_element_pydicom_cannot_decode_is_left_out_of_the_series_checks():
    members = as_stored()
    broken = with_raw_value(members[4], ROWS, b"\x01\x02\x03")  # a US value of 3 bytes
    with pytest.raises(Exception):
        broken.dataset.Rows
    assert check_series_members(members[:4] + [broken] + members[5:]) == check_series_members(members[:4] + members[5:])


@pytest.mark.filterwarnings("ignore::UserWarning")
def test_a_slice_whose_rescale_intercept_is_not_a_number_leaves_the_series_checks_running():
    members = as_stored()
    broken = with_raw_value(members[4], RESCALE_INTERCEPT, b"\x00\x01\x02")  # DS bytes that are no number
    findings = check_series_members(members[:4] + [broken] + members[5:])
    assert not any(f.rule.startswith("forensics.") for f in findings)  # no volume to compare, no finding
