"""validators.instance on pydicom's real files and on one-attribute mutations of CT_small.dcm."""

import warnings
from io import BytesIO

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from realfiles import PYDICOM_FILES, all_pydicom_files, pydicom_file
from validators.findings import Severity
from validators.instance import MAX_DEPTH, check_instance, check_instance_bytes
from validators.rules import CATALOGUE

# The mutations write invalid values on purpose, and pydicom warns on each.
pytestmark = pytest.mark.filterwarnings("ignore::UserWarning:pydicom.valuerep")

# Real files that get ERROR findings, and why they deserve them (each checked by hand, with dciodvfy
# where it does not crash on the file).
EXPECTED_ERRORS = {
    # A referenced UID with component "0123": leading zero, PS3.5 9.1 (dciodvfy asserts on these files).
    **{name: {("instance.uid-syntax", "(0008,1155)")}
       for name in ("badVR.dcm", "rtdose.dcm", "rtdose_1frame.dcm", "rtdose_expb.dcm", "rtdose_expb_1frame.dcm",
                    "rtdose_rle.dcm", "rtdose_rle_1frame.dcm")},
    # Fragments for parser tests, not composite instances: no SOP Class, SOP Instance, Study, Series or
    # Modality (dciodvfy: "Information Object Not found"); two carry Pixel Data without an Image Pixel module.
    **{name: {("instance.missing-identifier", t) for t in
              ("(0008,0016)", "(0008,0018)", "(0020,000D)", "(0020,000E)", "(0008,0060)")}
       for name in ("UN_sequence.dcm", "empty_charset_LEI.dcm", "no_meta.dcm", "no_meta_group_length.dcm",
                    "priv_SQ.dcm")},
}
for _name in ("meta_missing_tsyntax.dcm", "nested_priv_SQ.dcm"):
    EXPECTED_ERRORS[_name] = ({("instance.missing-identifier", t) for t in
                               ("(0008,0016)", "(0008,0018)", "(0020,000D)", "(0020,000E)", "(0008,0060)")}
                              | {("instance.pixel-module", t) for t in
                                 ("(0028,0010)", "(0028,0011)", "(0028,0002)", "(0028,0100)", "(0028,0101)",
                                  "(0028,0102)", "(0028,0103)", "(0028,0004)")})


@pytest.mark.parametrize("path", all_pydicom_files(), ids=lambda p: str(p.relative_to(PYDICOM_FILES)))
def test_real_file_errors_are_the_known_ones(path):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # pydicom warns about the files that are broken on purpose
        findings = check_instance_bytes(path.read_bytes())
    errors = {(f.rule, f.tag) for f in findings if f.severity >= Severity.ERROR}
    assert errors == EXPECTED_ERRORS.get(path.name, set()), findings
    assert all(f.rule in CATALOGUE for f in findings)


def test_clean_real_files_have_no_finding():
    paths = [pydicom_file("CT_small.dcm"), pydicom_file("MR_small.dcm")]
    paths += [p for p in all_pydicom_files() if "dicomdirtests" in p.parts]
    assert len(paths) > 80
    for path in paths:
        assert check_instance_bytes(path.read_bytes()) == [], path


def ct_small():
    return pydicom.dcmread(pydicom_file("CT_small.dcm"))


def rules_and_tags(findings):
    return sorted((f.rule, f.tag) for f in findings)


def set_high_bits(ds):
    """12 of 16 bits stored, samples inside the signed 12-bit range but 7 with bits above High Bit."""
    ds.BitsStored, ds.HighBit = 12, 11
    samples = np.zeros(ds.Rows * ds.Columns, dtype="<i2")
    samples[:7] = [2048, 4095, -2049, 0x4000, -0x4000, 32767, -32768]
    samples[7:20] = [-2048, 2047, -1, 1, 100, -100, 0, 5, 6, 7, 8, 9, 10]
    ds.PixelData = samples.tobytes()


def bad_rgb(ds):
    ds.PhotometricInterpretation = "RGB"


MUTATIONS = {
    "uid leading zero": (lambda ds: setattr(ds, "SeriesInstanceUID", "1.2.840.03"),
                         "instance.uid-syntax", "(0020,000E)"),
    "uid of 65 characters": (lambda ds: setattr(ds, "StudyInstanceUID", "1." + "2" * 63),
                             "instance.uid-syntax", "(0020,000D)"),
    "uid in file meta": (lambda ds: setattr(ds.file_meta, "ImplementationClassUID", "1.2.3.04"),
                         "instance.uid-syntax", "(0002,0012)"),
    "date 20230230": (lambda ds: setattr(ds, "StudyDate", "20230230"), "instance.date-syntax", "(0008,0020)"),
    "time 250000": (lambda ds: setattr(ds, "StudyTime", "250000"), "instance.time-syntax", "(0008,0030)"),
    "datetime offset": (lambda ds: setattr(ds, "AcquisitionDateTime", "20040119072730+1500"),
                        "instance.datetime-syntax", "(0008,002A)"),
    "birth after study": (lambda ds: setattr(ds, "PatientBirthDate", "20040120"),
                          "instance.birth-after-study", "(0010,0030)"),
    "bits stored > allocated": (lambda ds: ds.update({"BitsStored": 17, "HighBit": 16}),
                                "instance.pixel-module", "(0028,0101)"),
    "high bit wrong": (lambda ds: setattr(ds, "HighBit", 11), "instance.pixel-module", "(0028,0102)"),
    "bits allocated 12": (lambda ds: ds.update({"BitsAllocated": 12, "BitsStored": 12, "HighBit": 11}),
                          "instance.pixel-module", "(0028,0100)"),
    "pixel representation 2": (lambda ds: setattr(ds, "PixelRepresentation", 2),
                               "instance.pixel-module", "(0028,0103)"),
    "rows 0": (lambda ds: setattr(ds, "Rows", 0), "instance.pixel-module", "(0028,0010)"),
    "RGB with 1 sample": (bad_rgb, "instance.pixel-module", "(0028,0004)"),
    "SOPInstanceUID removed": (lambda ds: delattr(ds, "SOPInstanceUID"),
                               "instance.missing-identifier", "(0008,0018)"),
    "Modality empty": (lambda ds: setattr(ds, "Modality", ""), "instance.missing-identifier", "(0008,0060)"),
    "PatientID removed": (lambda ds: delattr(ds, "PatientID"), "instance.missing-patient-id", "(0010,0020)"),
    "pixel values with high bits": (set_high_bits, "instance.pixel-bits", "(7FE0,0010)"),
}


@pytest.mark.parametrize("name", MUTATIONS)
def test_one_mutation_gives_one_finding(name):
    mutate, rule, tag = MUTATIONS[name]
    ds = ct_small()
    mutate(ds)
    findings = check_instance(ds)
    assert rules_and_tags(findings) == [(rule, tag)], findings
    assert findings[0].severity is CATALOGUE[rule].severity


def test_findings_survive_writing_and_parsing():
    ds = ct_small()
    ds.SeriesInstanceUID = "1.2.840.03"
    out = BytesIO()
    ds.save_as(out)
    [finding] = check_instance_bytes(out.getvalue())
    assert finding.rule == "instance.uid-syntax"
    assert "SeriesInstanceUID" in finding.message and "'1.2.840.03'" in finding.message
    assert finding.details["value"] == "1.2.840.03"


def test_pixel_bits_reports_count_and_fraction():
    ds = ct_small()
    set_high_bits(ds)
    [finding] = check_instance(ds)
    assert finding.details["count"] == 7
    assert finding.details["fraction"] == 7 / (ds.Rows * ds.Columns)
    assert (finding.details["minimum"], finding.details["maximum"]) == (-32768, 32767)


def test_pixel_bits_in_big_endian_data_equals_little_endian():
    counts = []
    for name in ("MR_small.dcm", "MR_small_bigendian.dcm"):
        ds = pydicom.dcmread(pydicom_file(name))
        ds.BitsStored, ds.HighBit = 8, 7
        [finding] = check_instance(ds)
        counts.append((finding.rule, finding.details["count"], finding.details["minimum"]))
    assert counts[0] == counts[1] and counts[0][1] > 0


def test_pixel_bits_unsigned_counts_bits_above_high_bit():
    ds = pydicom.dcmread(pydicom_file("dicomdirtests/77654033/CR1/6154"))  # 12 of 16 bits, unsigned
    assert check_instance(ds) == []
    samples = np.frombuffer(ds.PixelData, dtype="<u2").copy()
    samples[:3] |= 0x1000
    ds.PixelData = samples.tobytes()
    assert [f.details["count"] for f in check_instance(ds)] == [3]


def test_nested_and_multi_valued_values():
    ds = ct_small()
    item = Dataset()
    item.ReferencedSOPInstanceUID = "1.2.3.04"
    ds.ReferencedImageSequence = Sequence([Dataset(), item])
    ds.add_new(0x00181200, "DA", ["20200101", "20201301", ""])  # DateOfLastCalibration, VM 1-n
    findings = check_instance(ds)
    assert rules_and_tags(findings) == [("instance.date-syntax", "(0018,1200)"),
                                        ("instance.uid-syntax", "(0008,1155)")]
    uid = next(f for f in findings if f.rule == "instance.uid-syntax")
    assert uid.details["path"] == "ReferencedImageSequence[1].ReferencedSOPInstanceUID"
    assert next(f for f in findings if f.rule == "instance.date-syntax").details["value"] == "20201301"


def test_nesting_is_walked_to_a_bound():
    def nest(levels, leaf):
        ds = leaf
        for _ in range(levels):
            outer = Dataset()
            outer.ReferencedImageSequence = Sequence([ds])
            ds = outer
        return ds

    bad = Dataset()
    bad.ReferencedSOPInstanceUID = "1.02"
    assert [f.rule for f in check_instance(nest(MAX_DEPTH, bad)) if f.rule.endswith("syntax")] == [
        "instance.uid-syntax"]
    assert [f.rule for f in check_instance(nest(MAX_DEPTH + 1, bad)) if f.rule.endswith("syntax")] == []


def test_secondary_capture_needs_no_modality():
    """SC Equipment (PS3.3 C.8.6.1) makes Modality Type 3 in the Secondary Capture IODs."""
    ds = pydicom.dcmread(pydicom_file("SC_rgb_small_odd.dcm"))
    del ds.Modality
    assert check_instance(ds) == []


def test_planar_configuration_required_with_three_samples():
    ds = pydicom.dcmread(pydicom_file("SC_rgb_small_odd.dcm"))
    del ds.PlanarConfiguration
    assert rules_and_tags(check_instance(ds)) == [("instance.pixel-module", "(0028,0006)")]


def test_short_pixel_data_is_left_to_ingest():
    """``ingest.pixel-data-short`` reports it; the kernel must not read past the buffer."""
    ds = ct_small()
    set_high_bits(ds)
    ds.PixelData = ds.PixelData[:-2]
    assert check_instance(ds) == []


def test_subsampled_ybr_length():
    """Native YBR_FULL_422 holds two samples a pixel (PS3.3 C.7.6.3.1.2), not three."""
    ds = pydicom.dcmread(pydicom_file("SC_ybr_full_422_uncompressed.dcm"))
    ds.BitsStored, ds.HighBit = 4, 3
    [finding] = check_instance(ds)
    assert finding.rule == "instance.pixel-bits" and finding.details["count"] > 0
    ds.PixelData = ds.PixelData[:-1]
    assert check_instance(ds) == []


def test_undecodable_element_is_a_finding():
    data = pydicom_file("CT_small.dcm").read_bytes()[:1000]  # cut inside a sequence
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        findings = check_instance_bytes(data)
    assert ("instance.unreadable", "(0010,1002)") in rules_and_tags(findings)


def test_unparseable_bytes_are_one_finding():
    deflated = b"1.2.840.10008.1.2.1.99"
    data = (bytes(128) + b"DICM" + b"\x02\x00\x10\x00UI" + len(deflated).to_bytes(2, "little") + deflated
            + b"\xff" * 64)  # a body that is not deflate data
    [finding] = check_instance_bytes(data)
    assert finding.rule == "instance.unreadable" and finding.severity is Severity.ERROR


def test_lossy_jpeg_colour_is_ybr_full_422_or_rgb():
    """PS3.5 8.2.1 (CP 1653): lossy JPEG colour data declares YBR_FULL_422 whatever its subsampling, or RGB."""
    ds = pydicom.dcmread(pydicom_file("SC_rgb_jpeg_dcmtk.dcm"))
    assert ds.PhotometricInterpretation == "YBR_FULL"
    assert rules_and_tags(check_instance(ds)) == [("instance.jpeg-photometric", "(0028,0004)")]
    for allowed in ("YBR_FULL_422", "RGB"):
        ds.PhotometricInterpretation = allowed
        assert check_instance(ds) == []
    ds.PhotometricInterpretation = "YBR_FULL"
    ds.file_meta.TransferSyntaxUID = "1.2.840.10008.1.2.4.70"  # lossless JPEG: any colour space
    assert check_instance(ds) == []
    native = pydicom.dcmread(pydicom_file("SC_ybr_full_422_uncompressed.dcm"))
    assert check_instance(native) == []  # YBR_FULL_422 in native data is PS3.3 C.7.6.3.1.2's own layout
