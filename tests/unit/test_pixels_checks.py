"""validators.pixels: real images stay clean (no ERROR), synthetic tampering and implausible values are
found, with score, frame and bounding box."""

import warnings

import numpy as np
import pydicom
import pytest
from pydicom.dataset import Dataset
from scipy import ndimage

from bench import tampering
from realfiles import all_pydicom_files, data_package_files, pydicom_file
from validators.findings import Severity
from validators.pixels import check_pixels, check_volume
from validators.rules import CATALOGUE


def header(modality="CT", bits=16, signed=True, slope=1, intercept=-1024, **extra):
    ds = Dataset()
    ds.Modality, ds.BitsAllocated, ds.BitsStored = modality, bits, bits
    ds.PixelRepresentation = int(signed)
    ds.RescaleSlope, ds.RescaleIntercept = slope, intercept
    for keyword, value in extra.items():
        setattr(ds, keyword, value)
    return ds


def phantom(seed=0, shape=(256, 256)):
    """Stored values of a CT-like slice: air (-1000 HU, noise 10) around a disc of tissue (40 HU, noise
    15), intercept -1024."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[:shape[0], :shape[1]]
    inside = (y - shape[0] / 2) ** 2 + (x - shape[1] / 2) ** 2 < (0.42 * shape[0]) ** 2
    hu = np.where(inside, 40 + rng.normal(0, 15, shape), -1000 + rng.normal(0, 10, shape))
    return np.round(hu + 1024).astype(np.int16)


def rules(findings):
    return sorted({f.rule for f in findings})


def frames_of(ds):
    pixels = ds.pixel_array
    return list(pixels) if int(ds.get("NumberOfFrames", 1) or 1) > 1 else [pixels]


def real_images():
    for path in all_pydicom_files() + data_package_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path)
                frames = frames_of(ds)
            except Exception:   # broken on purpose, or no decoder for it here
                continue
        yield path.name, ds, frames[:4]


def test_real_images_have_no_error():
    checked = 0
    for name, ds, frames in real_images():
        errors = [f for f in check_pixels(ds, iter(frames)) if f.severity >= Severity.ERROR]
        assert errors == [], name
        checked += 1
    assert checked >= 50


def test_clean_phantom_has_no_finding():
    assert check_pixels(header(), iter([phantom()])) == []


@pytest.mark.parametrize("size", [24, 48])
def test_copy_move_found(size):
    image = phantom()
    forged, box = tampering.copy_move(image, size, np.random.default_rng(size))
    found = [f for f in check_pixels(header(), iter([image, forged])) if f.rule == "forensics.copy-move"]
    assert found and all(f.details["frame"] == 1 for f in found)
    assert any(tampering.overlaps(f.details["bbox"], box) for f in found)
    assert found[0].severity is Severity.ERROR and found[0].details["score"] >= 256
    source, copy = found[0].details["regions"]
    assert copy == box or source == box          # the copied square, found to the pixel
    assert [copy[0] - source[0], copy[1] - source[1]] == found[0].details["offset"]


def test_repeated_text_is_not_a_copy():
    """Burned-in text repeats its glyphs exactly, on a flat band: not a copy-move."""
    image = phantom()
    rng = np.random.default_rng(5)
    glyph = rng.choice([1000, 1100, 1200, 1300, 1400, 1500, 1600, 1700, 1800, 1900], (12, 9))
    image[4:20, :] = 1000
    for col in range(4, 240, 24):
        image[6:18, col:col + 9] = glyph
    assert [f for f in check_pixels(header(), iter([image])) if f.rule == "forensics.copy-move"] == []


@pytest.mark.parametrize("size", [32, 64])
def test_inpainted_region_found(size):
    forged, box = tampering.inpaint(phantom(), size, np.random.default_rng(size))
    found = [f for f in check_pixels(header(), iter([forged])) if f.rule.startswith("forensics.smooth-region")]
    assert found and tampering.overlaps(found[0].details["bbox"], box)


def test_inpainted_region_in_quiet_tissue_found():
    """Noise of 2 stored values: the blur still leaves less than 30% of it."""
    rng = np.random.default_rng(4)
    image = np.round(1000 + rng.normal(0, 2, (256, 256))).astype(np.int16)
    forged, box = tampering.inpaint(image, 32, rng)
    found = [f for f in check_pixels(header(), iter([forged])) if f.rule.startswith("forensics.smooth-region")]
    assert found and tampering.overlaps(found[0].details["bbox"], box) and found[0].details["ratio"] < 0.3
    assert check_pixels(header(), iter([image])) == []


def test_constant_patch_in_ct_found():
    forged = phantom()
    forged[100:140, 100:140] = 1064
    assert "forensics.smooth-region-large" in rules(check_pixels(header(), iter([forged])))


def pasted(image, donor, row, col, size=32):
    """``image`` with the square of ``donor`` at (16, 16) pasted at (row, col), its mean and standard
    deviation matched to the square it replaces (as bench/tampering.py's paste)."""
    out = image.copy()
    patch = donor[16:16 + size, 16:16 + size].astype(np.float64)
    target = image[row:row + size, col:col + size].astype(np.float64)
    out[row:row + size, col:col + size] = np.round((patch - patch.mean()) / patch.std() * target.std() + target.mean())
    return out


def test_pasted_square_found():
    """A square of a real MR pasted into a real CT: its outline is a seam on all four sides."""
    ct = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    mr = pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array
    assert [f for f in check_pixels(ct, iter([ct.pixel_array])) if f.rule.startswith("forensics.")] == []
    for row, col in ((30, 30), (48, 48), (60, 40)):
        found = [f for f in check_pixels(ct, iter([pasted(ct.pixel_array, mr, row, col)]))
                 if f.rule == "forensics.pasted-square"]
        assert [f.details["bbox"] for f in found] == [[row, col, row + 32, col + 32]]
        assert found[0].severity is Severity.WARNING and found[0].details["score"] > 0.33


@pytest.mark.parametrize("noise,rule", [(60, "forensics.noisy-square"), (4, "forensics.quiet-square")])
def test_square_of_other_noise_found(noise, rule):
    """A 40x40 square of the phantom's tissue with its noise of 15 HU replaced by 60 or 4 HU, edges
    left continuous (no seam): every block of it is far noisier, or quieter, than every block around
    (4 HU: a robust ratio of about 0.4 against the ring, which holds blocks it covers in part; the
    smooth-region check wants less than 0.3)."""
    image = phantom()
    rng = np.random.default_rng(5)
    forged = image.copy()
    forged[100:140, 90:130] = np.round(1064 + rng.normal(0, noise, (40, 40))).astype(np.int16)
    found = [f for f in check_pixels(header(), iter([forged])) if f.rule == rule]
    assert len(found) == 1 and tampering.overlaps(found[0].details["bbox"], [100, 90, 140, 130])
    assert (found[0].details["ratio"] > 2) == (noise > 15) and found[0].details["score"] > 0.42
    assert check_pixels(header(), iter([image])) == []


def test_rescaled_square_found_by_its_value_gaps():
    """A square of a quiet image (noise 3) rescaled into a noise-like slice (sd 100, neighbours tens of
    stored values apart): its values lie some 30 apart, and only value-gaps sees it; not searched in
    lossy frames."""
    rng = np.random.default_rng(4)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, (256, 256)), 1.5)
    image = np.round(1100 + texture / texture.std() * 100).astype(np.int16)
    donor = np.round(rng.normal(1000, 3, (256, 256))).astype(np.int16)
    assert rules(check_pixels(header(), iter([image]))) == []
    forged, box = tampering.paste(image, 32, rng, donor)
    found = [f for f in check_pixels(header(), iter([forged])) if f.rule == "forensics.value-gaps"]
    assert len(found) == 1 and tampering.overlaps(found[0].details["bbox"], box)
    assert found[0].severity is Severity.WARNING and found[0].details["score"] > 2
    assert "forensics.value-gaps" not in rules(check_pixels(header(LossyImageCompression="01"), iter([forged])))


def test_pasted_square_not_searched_in_lossy_or_float_frames():
    ct = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    forged = pasted(ct.pixel_array, pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array, 48, 48)
    ct.LossyImageCompression = "01"
    assert "forensics.pasted-square" not in rules(check_pixels(ct, iter([forged])))
    del ct.LossyImageCompression
    assert "forensics.pasted-square" not in rules(check_pixels(ct, iter([forged.astype(np.float32)])))


def volume(count=5, seed=0):
    members = []
    for k in range(count):
        ds = header(ImagePositionPatient=[0, 0, 5 * k], ImageOrientationPatient=[1, 0, 0, 0, 1, 0])
        members.append((f"id{k}", ds, phantom(seed + k)))
    return members


def test_clean_volume_has_no_finding():
    assert check_volume(list(reversed(volume()))) == []


def test_lesion_in_one_slice_found():
    members = volume()
    forged, box = tampering.lesion(members[2][2], 32, np.random.default_rng(2), contrast=10)
    members[2] = ("id2", members[2][1], forged)
    found = [f for f in check_volume(members) if f.rule == "forensics.isolated-object"]
    assert [f.details["instance"] for f in found] == ["id2"]
    assert tampering.overlaps(found[0].details["bbox"], box)


def test_region_copied_across_slices_found():
    members = volume()
    forged, box = tampering.copy_across(members[1][2], members[3][2], 32, np.random.default_rng(3))
    members[3] = ("id3", members[3][1], forged)
    found = [f for f in check_volume(members) if f.rule == "forensics.copy-across-slices"]
    assert found and found[0].details["instance"] == "id3" and found[0].details["source_instance"] == "id1"
    assert tampering.overlaps(found[0].details["bbox"], box)


@pytest.mark.parametrize("ds,message", [
    (header(slope=0), "pixels.rescale"),
    (header(slope=100), "pixels.ct-rescale"),
])
def test_rescale(ds, message):
    assert message in rules(check_pixels(ds, iter([phantom()])))


def test_hounsfield_range():
    image = phantom() + 100                   # air at +124 HU if the intercept is lost
    image[120:136, 120:136] = 1800 + 1024     # bone
    assert "pixels.ct-hu-range" in rules(check_pixels(header(intercept=0), iter([image])))  # no air
    assert "pixels.ct-hu-range" not in rules(check_pixels(header(intercept=-1124), iter([image])))
    hot = image.copy()
    hot[0, 0] = 32767
    assert "pixels.ct-hu-range" in rules(check_pixels(header(intercept=0), iter([hot])))


def test_constant_clipped_negative_non_finite():
    flat = np.full((64, 64), 7, np.uint16)
    assert rules(check_pixels(header("MR", signed=False, intercept=0), iter([flat]))) == ["pixels.constant"]
    saturated = np.random.default_rng(0).integers(0, 4096, (64, 64)).astype(np.uint16)
    saturated[:16] = 4095
    ds = header("CR", signed=False, intercept=0)
    ds.BitsStored = 12
    assert "pixels.clipped" in rules(check_pixels(ds, iter([saturated])))
    negative = np.random.default_rng(0).integers(-100, 100, (64, 64)).astype(np.int16)
    assert "pixels.negative-values" in rules(check_pixels(header("MR", intercept=0), iter([negative])))
    floats = np.random.default_rng(0).normal(0, 1, (64, 64)).astype(np.float32)
    floats[3, 3] = np.nan
    assert rules(check_pixels(header("MR", intercept=0), iter([floats]))) == ["pixels.non-finite"]


def test_colour_and_tiny_frames():
    rgb = np.random.default_rng(0).integers(0, 256, (64, 64, 3)).astype(np.uint8)
    assert check_pixels(header("US", bits=8, signed=False, intercept=0, SamplesPerPixel=3), iter([rgb])) == []
    assert check_pixels(header(), iter([np.zeros((3, 3), np.int16) + 1000])) == []   # too small to judge


def test_forensic_findings_carry_score_frame_and_box():
    rng = np.random.default_rng(9)
    image = phantom()
    forged, _ = tampering.copy_move(image, 32, rng)
    forged, _ = tampering.inpaint(forged, 32, rng)
    ct = pydicom.dcmread(pydicom_file("CT_small.dcm"))
    pasted_ct = pasted(ct.pixel_array, pydicom.dcmread(pydicom_file("MR_small.dcm")).pixel_array, 48, 48)
    members = volume()
    members[2] = ("id2", members[2][1], tampering.lesion(members[2][2], 32, rng, contrast=10)[0])
    members[3] = ("id3", members[3][1], tampering.copy_across(members[1][2], members[3][2], 32, rng)[0])
    found = check_pixels(header(), iter([forged])) + check_volume(members) + check_pixels(ct, iter([pasted_ct]))
    assert {f.rule for f in found} >= {"forensics.copy-move", "forensics.isolated-object",
                                       "forensics.copy-across-slices", "forensics.pasted-square"}
    assert any(f.rule.startswith("forensics.smooth-region") for f in found)
    for f in found:
        assert f.rule in CATALOGUE
        assert isinstance(f.details["score"], (int, float)) and isinstance(f.details["frame"], int)
        r0, c0, r1, c1 = f.details["bbox"]
        assert 0 <= r0 < r1 <= 256 and 0 <= c0 < c1 <= 256
