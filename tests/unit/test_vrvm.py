"""VR, VM and text syntax of every element (validators.vrvm), on real files and minimal mutations."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataelem import DataElement, RawDataElement
from pydicom.tag import BaseTag

from realfiles import pydicom_file
from validators.elements import first_number
from validators.findings import format_tag
from validators.vrvm import check_vr_vm


def read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(pydicom_file(name), force=True)


def found(ds) -> set[tuple[str, str | None]]:
    return {(f.rule, f.tag) for f in check_vr_vm(ds)}


def test_clean_real_file():
    assert check_vr_vm(read("CT_small.dcm")) == []


@pytest.mark.parametrize("keyword, value", [
    ("PatientAge", "75Y"), ("PatientAge", "075"), ("ImageType", "ORIGINAL\\primary"),
    ("SliceThickness", "1,5"), ("InstanceNumber", "1A"), ("InstanceNumber", "9999999999"),
    ("StationName", "A" * 17), ("InstitutionName", "A" * 65), ("PatientName", "A=B=C=D"),
    ("StudyDescription", "line\rbreak")])
def test_bad_text_values(keyword, value):
    ds = read("CT_small.dcm")
    tag = pydicom.datadict.tag_for_keyword(keyword)
    set_raw(ds, tag, value.encode())
    assert ("vr.value", format_tag(tag)) in found(ds)


def set_raw(ds: pydicom.Dataset, tag: int, value: bytes) -> None:
    """Replace an element as the reader would have given it (explicit VR little endian, undecoded)."""
    vr = pydicom.datadict.dictionary_VR(tag)
    ds[tag] = RawDataElement(BaseTag(tag), vr, len(value), value, 0, False, True)


def test_vm_and_vr_mismatch():
    ds = read("CT_small.dcm")
    ds.PixelSpacing = [0.5, 0.5, 0.5]            # VM 2
    ds.add(DataElement(0x00180050, "US", 3))      # SliceThickness is DS
    assert {("vr.vm", "(0028,0030)"), ("vr.mismatch", "(0018,0050)")} <= found(ds)


def test_character_sets():
    ds = read("CT_small.dcm")
    del ds.SpecificCharacterSet
    set_raw(ds, 0x00100010, "Müller".encode("latin-1"))
    assert ("vr.charset", "(0010,0010)") in found(ds)
    ds.SpecificCharacterSet = "ISO_IR 192"
    assert ("vr.charset", "(0010,0010)") in found(ds)  # latin-1 bytes are not UTF-8
    ds.SpecificCharacterSet = "ISO_IR 999"
    assert ("vr.charset", "(0008,0005)") in found(ds)
    ds.SpecificCharacterSet = "ISO_IR 100"
    assert not {r for r, _ in found(ds)} & {"vr.charset"}


def test_sequence_items_are_walked():
    ds = read("rtplan.dcm")
    ds.BeamSequence[0].BeamName = "X" * 65
    assert any(f.details.get("path") == "BeamSequence[0].BeamName" for f in check_vr_vm(ds))


@pytest.mark.parametrize("keyword, value", [
    ("InstanceNumber", "١٢"), ("InstanceNumber", "１２"), ("SliceThickness", "١.٥"), ("PatientAge", "٠٧٥Y")])
def test_digits_of_other_scripts_are_no_number_or_age(keyword, value):
    """Python's \\d, int() and float() take Arabic-Indic or full-width digits; DICOM's IS, DS and AS are ASCII."""
    ds = read("CT_small.dcm")
    ds.SpecificCharacterSet = "ISO_IR 192"
    tag = pydicom.datadict.tag_for_keyword(keyword)
    set_raw(ds, tag, value.encode())
    assert ("vr.value", format_tag(tag)) in found(ds)


@pytest.mark.parametrize("value", ["١.٥", "nan", "inf", "1_5"])
def test_a_number_written_as_no_decimal_string_is_no_number(value):
    ds = read("CT_small.dcm")
    ds.SpecificCharacterSet = "ISO_IR 192"
    set_raw(ds, 0x00180050, value.encode())
    assert first_number(ds, 0x00180050) is None
    set_raw(ds, 0x00180050, b"1.5 ")
    assert first_number(ds, 0x00180050) == 1.5
