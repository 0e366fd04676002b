"""Functional groups of enhanced multi-frame objects (validators.functional_groups), on the real Enhanced CT,
Enhanced MR and Segmentation files of pydicom and pydicom-data, and minimal mutations of them."""

from __future__ import annotations

import pydicom
import pytest

from realfiles import PYDICOM_DATA_FILES, PYDICOM_FILES
from validators.functional_groups import check_functional_groups
from validators.standard import functional_groups, iod_for


def data_file(name: str) -> pydicom.Dataset:
    """A file of pydicom's test set or, if not there, of pydicom-data."""
    path = next((p for p in (PYDICOM_FILES / name, PYDICOM_DATA_FILES / name) if p.exists()), None)
    if path is None:
        pytest.skip(f"{name} is in neither pydicom's test files nor pydicom-data")
    return pydicom.dcmread(path, force=True)


def found(ds) -> set[tuple[str, str | None]]:
    return {(f.rule, f.tag) for f in check_functional_groups(ds)}


def test_tables_hold_the_macros_of_enhanced_iods():
    ct = {g.id: g for g in functional_groups(iod_for("1.2.840.10008.5.1.4.1.1.2.1").id)}
    assert ct["pixel-measures"].usage == "M" and 0x00289110 in ct["pixel-measures"].tags
    assert ct["ct-exposure"].condition == ("value1", 0x00080008, ("ORIGINAL", "MIXED"))
    assert functional_groups(iod_for("1.2.840.10008.5.1.4.1.1.2").id) == ()  # classic CT: none


@pytest.mark.parametrize("name", ["liver.dcm", "liver_1frame.dcm", "liver_expb.dcm"])
def test_conformant_segmentations_have_no_finding(name):
    assert check_functional_groups(data_file(name)) == []


def test_conformant_enhanced_ct_has_no_finding():
    assert check_functional_groups(data_file("eCT_Supplemental.dcm")) == []


def test_enhanced_mr_without_functional_groups():
    ds = data_file("emri_small.dcm")  # pydicom stripped them
    findings = check_functional_groups(ds)
    missing = {f.details["module"] for f in findings if f.rule == "iod.functional-group-missing"}
    assert {"pixel-measures", "frame-content", "plane-position-patient", "mr-image-frame-type"} <= missing
    # Image Type ORIGINAL: the C macros conditioned on it are required too.
    assert ds.ImageType[0] == "ORIGINAL" and "mr-echo" in missing
    assert ("iod.type1c", "(5200,9230)") in found(ds)


def test_shared_macro_removed_is_missing():
    ds = data_file("eCT_Supplemental.dcm")
    del ds.SharedFunctionalGroupsSequence[0].PixelMeasuresSequence
    assert [f.details["module"] for f in check_functional_groups(ds)
            if f.rule == "iod.functional-group-missing"] == ["pixel-measures"]


def test_type1_inside_a_shared_macro():
    ds = data_file("eCT_Supplemental.dcm")
    del ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleIntercept
    findings = [f for f in check_functional_groups(ds) if f.rule == "iod.type1"]
    assert [(f.tag, f.details["path"]) for f in findings] == [
        ("(0028,1052)", "SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleIntercept")]


def test_type1_inside_per_frame_macros_reported_once_with_the_frame_count():
    ds = data_file("liver.dcm")
    for item in ds.PerFrameFunctionalGroupsSequence:
        item.FrameContentSequence[0].DimensionIndexValues = None
    del ds.PerFrameFunctionalGroupsSequence[0].SegmentIdentificationSequence[0].ReferencedSegmentNumber
    findings = [f for f in check_functional_groups(ds) if f.rule.startswith("iod.type")]
    by_tag = {f.tag: f for f in findings}
    assert by_tag["(0062,000B)"].details["path"].startswith("PerFrameFunctionalGroupsSequence[0].")
    assert "frames" not in by_tag["(0062,000B)"].details
    dimension = [f for f in findings if f.tag == "(0020,9157)"]
    assert len(dimension) <= 1 and (not dimension or dimension[0].details["frames"] == 3)


def test_macro_in_some_frames_only_and_frame_count():
    ds = data_file("liver.dcm")
    del ds.PerFrameFunctionalGroupsSequence[1].FrameContentSequence
    assert ("iod.functional-group-placement", "(0020,9111)") in found(ds)
    ds = data_file("liver.dcm")
    ds.NumberOfFrames = 4
    assert ("iod.functional-group-placement", "(5200,9230)") in found(ds)


def test_macro_both_shared_and_per_frame():
    ds = data_file("liver.dcm")
    ds.SharedFunctionalGroupsSequence[0].FrameContentSequence = \
        ds.PerFrameFunctionalGroupsSequence[0].FrameContentSequence
    assert ("iod.functional-group-placement", "(0020,9111)") in found(ds)


def test_ct_rescale_type_shall_be_hu_in_original_frames():
    ds = data_file("eCT_Supplemental.dcm")  # DERIVED frames: US allowed (dciodvfy reports it anyway)
    assert ds.SharedFunctionalGroupsSequence[0].PixelValueTransformationSequence[0].RescaleType == "US"
    assert not [f for f in check_functional_groups(ds) if f.rule == "iod.enumerated"]
    ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType = ["ORIGINAL", "PRIMARY", "AXIAL",
                                                                                  "NONE"]
    findings = [f for f in check_functional_groups(ds) if f.rule == "iod.enumerated"]
    assert [(f.tag, f.details["value"]) for f in findings] == [("(0028,1054)", "US")]
    ds.SharedFunctionalGroupsSequence[0].CTImageFrameTypeSequence[0].FrameType = ["ORIGINAL", "PRIMARY",
                                                                                  "LOCALIZER", "NONE"]
    assert not [f for f in check_functional_groups(ds) if f.rule == "iod.enumerated"]


def test_functional_groups_sequence_of_another_vr_is_not_walked():
    ds = data_file("liver.dcm")
    ds[0x52009229].VR, ds[0x52009229].value = "OB", b"\x01\x02"  # malformed: vr.mismatch's finding
    findings = check_functional_groups(ds)  # no item to walk, and no exception
    assert {f.rule for f in findings} <= {"iod.functional-group-missing", "iod.type1c"}
