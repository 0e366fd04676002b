"""Within-object coherence and physical plausibility (validators.coherence, .plausibility, .nuclear), on
real files and minimal mutations."""

from __future__ import annotations

import pydicom
import pytest
from pydicom.dataset import Dataset

from realfiles import data_package_files, pydicom_file
from validators.coherence import check_coherence
from validators.nuclear import check_nuclear, nuclide
from validators.plausibility import check_plausibility


def read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(pydicom_file(name), force=True)


def rules(findings) -> set[tuple[str, str | None]]:
    return {(f.rule, f.tag) for f in findings}


def test_real_ct_and_mr_are_plausible():
    assert not [f for f in check_plausibility(read("CT_small.dcm"))
                if f.rule != "plausibility.ct-reconstruction-diameter"]  # CT_small was downsampled 4x
    assert check_plausibility(read("MR_small.dcm")) == []


@pytest.mark.parametrize("keyword, value, rule, tag", [
    ("KVP", "120000", "plausibility.kvp", "(0018,0060)"),
    ("XRayTubeCurrent", "-5", "plausibility.tube-current", "(0018,1151)"),
    ("SliceThickness", "0", "plausibility.slice-thickness", "(0018,0050)"),
    ("RescaleIntercept", "40000", "plausibility.ct-rescale", "(0028,1052)"),
    ("RescaleSlope", "-1", "plausibility.ct-rescale", "(0028,1053)"),
    ("ReconstructionDiameter", "5000", "plausibility.ct-reconstruction-diameter", "(0018,1100)")])
def test_ct_mutations(keyword, value, rule, tag):
    ds = read("CT_small.dcm")
    setattr(ds, keyword, value)
    assert (rule, tag) in rules(check_plausibility(ds))


@pytest.mark.parametrize("keyword, value, tag", [
    ("MagneticFieldStrength", "15000", "(0018,0087)"), ("EchoTime", "9000", "(0018,0081)"),
    ("FlipAngle", "270", "(0018,1314)"), ("InversionTime", "-1", "(0018,0082)")])
def test_mr_mutations(keyword, value, tag):
    ds = read("MR_small.dcm")
    setattr(ds, keyword, value)
    rule = "plausibility.mr-field-strength" if keyword == "MagneticFieldStrength" else "plausibility.mr-timing"
    assert (rule, tag) in rules(check_plausibility(ds))


def test_unsigned_ct_without_intercept_cannot_show_air():
    ds = read("CT_small.dcm")
    ds.PixelRepresentation, ds.RescaleIntercept = 0, "0"
    assert ("plausibility.ct-rescale", "(0028,1052)") in rules(check_plausibility(ds))


def test_xray_pixel_spacing_and_us_regions():
    ds = read("CT_small.dcm")
    ds.Modality, ds.ImagerPixelSpacing = "DX", [0.1, 0.1]
    assert ("plausibility.xray-pixel-spacing", "(0028,0030)") in rules(check_plausibility(ds))
    us_files = [p for p in data_package_files() if p.name == "OBXXXX1A.dcm"]
    if not us_files:
        pytest.skip("pydicom-data is not installed in .runtime/pydeps")
    us = pydicom.dcmread(us_files[0])
    assert check_plausibility(us) == []
    us.SequenceOfUltrasoundRegions[0].RegionLocationMaxX1 = 5000
    assert ("plausibility.us-region", "(0018,6011)") in rules(check_plausibility(us))


def pet(half_life: float = 6586.2, dose: float = 3.7e8, start: str = "080000") -> Dataset:
    ds = read("CT_small.dcm")
    ds.Modality, ds.SeriesDate, ds.AcquisitionDate, ds.AcquisitionTime = "PT", "20240101", "20240101", "090000"
    code = Dataset()
    code.CodeValue, code.CodingSchemeDesignator, code.CodeMeaning = "C-111A1", "SRT", "^18^Fluorine"
    info = Dataset()
    info.RadionuclideCodeSequence = [code]
    info.RadionuclideHalfLife, info.RadionuclideTotalDose = str(half_life), str(dose)
    info.RadiopharmaceuticalStartTime = start
    ds.RadiopharmaceuticalInformationSequence = [info]
    return ds


def test_pet_radiopharmaceutical():
    assert check_nuclear(pet()) == []
    assert ("plausibility.half-life", "(0018,1075)") in rules(check_nuclear(pet(half_life=6000)))
    assert ("plausibility.injected-dose", "(0018,1074)") in rules(check_nuclear(pet(dose=370)))
    assert ("plausibility.injection-order", "(0018,1072)") in rules(check_nuclear(pet(start="100000")))
    assert nuclide("Fluorine^18^") == nuclide("F-18") == (18, "F")


def test_coherence():
    ds = read("CT_small.dcm")
    assert ("coherence.date-order", "(0008,0021)") in rules(check_coherence(ds))  # a real flaw of CT_small
    ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = ds.StudyDate
    ds.Modality = "MR"
    ds.PatientBirthDate, ds.PatientAge = "19700101", "010Y"
    assert rules(check_coherence(ds)) == {("coherence.sop-modality", "(0008,0060)"),
                                          ("coherence.patient-age", "(0010,1010)")}
    ds.Modality, ds.PatientAge = "CT", "034Y"
    assert check_coherence(ds) == []


def test_values_in_other_digits_than_ascii_are_not_read_as_numbers():
    """int() and \\d take Arabic-Indic digits; such a PatientAge (0010,1010) is vr.value's, not an age."""
    ds = read("CT_small.dcm")
    ds.SeriesDate = ds.AcquisitionDate = ds.ContentDate = ds.StudyDate
    ds.PatientBirthDate, ds.PatientAge = "19700101", "٠١٠Y"
    assert check_coherence(ds) == []
    assert nuclide("^١٨^Fluorine") is None and nuclide("^18^Fluorine") == (18, "F")
