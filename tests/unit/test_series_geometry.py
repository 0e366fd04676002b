"""validators.series: identity, stacks, spacing and timing on pydicom's real dicomdirtests series, and on
copies of them with one defect each."""

from collections import defaultdict

import numpy as np
import pydicom
import pytest

from seriesfiles import DICOMDIR_TESTS, by_position, dicomdir_series, member, replaced
from validators.findings import Severity, verdict_of
from validators.series import check_series
from validators.series.geometry import spacing_tolerance
from validators.series.member import seconds
from validators.series.stacks import nominal_step


def real_series():
    """Every series of dicomdirtests, as member lists grouped by SeriesInstanceUID."""
    groups = defaultdict(list)
    for p in sorted(DICOMDIR_TESTS.rglob("*")):
        if p.is_file() and not p.name.startswith(("DICOMDIR", "README")):
            ds = pydicom.dcmread(p, force=True)
            groups[ds.get("SeriesInstanceUID")].append(member(str(p.relative_to(DICOMDIR_TESTS)), ds))
    return list(groups.values())


def rules(findings):
    return {f.rule: f.details.get("instances") for f in findings}


def test_real_series_stay_clean():
    for members in real_series():
        findings = check_series(members)
        assert verdict_of(findings) == "pass", [f.to_json() for f in findings]


def test_partial_series_is_sections_not_gap():
    """77654033/CT2 holds slices 18 and 180-182 of a 1.25 mm range: two sections, reported only."""
    findings = check_series(dicomdir_series("77654033/CT2"))
    assert [f.rule for f in findings] == ["series.sections"]
    assert findings[0].severity is Severity.INFO


def test_missing_slice():
    ct = by_position(dicomdir_series("98892001/CT5N"))
    findings = check_series(ct[:2] + ct[3:])
    assert rules(findings) == {"series.slice-gap": sorted([ct[1].instance_id, ct[3].instance_id])}
    assert findings[0].severity is Severity.ERROR


def test_duplicated_slice():
    ct = dicomdir_series("98892001/CT5N")
    copy_ = replaced(ct[2], SOPInstanceUID=pydicom.uid.generate_uid())
    copy_ = member("copy", copy_.dataset)
    findings = check_series(ct + [copy_])
    assert rules(findings) == {"series.duplicate-position": sorted(["copy", ct[2].instance_id])}


def test_misplaced_slice():
    ct = by_position(dicomdir_series("98892001/CT5N"))
    moved = ct[2].dataset.ImagePositionPatient[:2] + [float(ct[2].dataset.ImagePositionPatient[2]) + 0.8]
    findings = check_series(ct[:2] + [replaced(ct[2], ImagePositionPatient=moved)] + ct[3:])
    assert rules(findings) == {"series.spacing-irregular": sorted(m.instance_id for m in ct[1:4])}


def test_foreign_patient_and_modality():
    ct = dicomdir_series("98892001/CT5N")
    odd = replaced(ct[3], PatientID="SOMEONE-ELSE")
    findings = check_series(ct[:3] + [odd] + ct[4:])
    assert rules(findings) == {"series.patient-mismatch": [ct[3].instance_id]}
    odd = replaced(ct[0], Modality="MR", FrameOfReferenceUID=pydicom.uid.generate_uid())
    assert rules(check_series([odd] + ct[1:])) == {"series.modality-mismatch": [ct[0].instance_id],
                                                   "series.frame-of-reference-mismatch": [ct[0].instance_id]}


def test_foreign_study():
    ct = dicomdir_series("98892001/CT5N")
    odd = replaced(ct[2], StudyInstanceUID=pydicom.uid.generate_uid())
    assert rules(check_series(ct[:2] + [odd] + ct[3:])) == {"series.study-mismatch": [ct[2].instance_id]}


def test_declared_spacing_contradicts_positions():
    ct = by_position(dicomdir_series("98892001/CT5N"))
    spacing = float(ct[1].dataset.ImagePositionPatient[2]) - float(ct[0].dataset.ImagePositionPatient[2])
    declared = [replaced(m, SpacingBetweenSlices=2 * abs(spacing)) for m in ct]
    assert rules(check_series(declared)) == {"series.spacing-declared": sorted(m.instance_id for m in ct)}
    assert check_series([replaced(m, SpacingBetweenSlices=abs(spacing)) for m in ct]) == []


def test_matrix_mismatch():
    ct = dicomdir_series("98892001/CT5N")
    odd = replaced(ct[1], PixelSpacing=[0.7, 0.7])
    assert rules(check_series([odd] + ct[:1] + ct[2:])) == {"series.matrix-mismatch": [ct[1].instance_id]}


def test_shuffled_acquisition_time():
    ct = by_position(dicomdir_series("98892001/CT5N"))
    times = [m.dataset.AcquisitionTime for m in ct]     # 002745 x2 then 002744 x3, along z
    shuffled = [replaced(m, AcquisitionTime=t) for m, t in zip(ct, [times[0], times[3], times[1], *times[3:]])]
    findings = check_series(shuffled)
    assert list(rules(findings)) == ["series.time-order"]
    late = replaced(ct[2], AcquisitionTime="003500")
    assert "series.time-jump" in rules(check_series(ct[:2] + [late] + ct[3:]))


def test_echoes_at_one_position_and_gantry_tilt_are_not_flagged():
    ct = by_position(dicomdir_series("98892001/CT5N"))
    echoes = [replaced(m, EchoNumbers=e) for m in ct for e in (1, 2)]
    echoes = [member(f"{m.instance_id}-{i}", m.dataset) for i, m in enumerate(echoes)]
    assert check_series(echoes) == []
    # 20 degrees of tilt: each slice shifted in y by z tan(20); positions projected on the normal keep
    # their spacing.
    tilted = [replaced(m, ImagePositionPatient=[float(m.dataset.ImagePositionPatient[0]),
                                                float(m.dataset.ImagePositionPatient[1])
                                                + np.tan(np.radians(20)) * float(m.dataset.ImagePositionPatient[2]),
                                                float(m.dataset.ImagePositionPatient[2])]) for m in ct]
    assert check_series(tilted) == []


def test_invalid_orientation():
    ct = dicomdir_series("98892001/CT5N")
    odd = replaced(ct[0], ImageOrientationPatient=[1, 0, 0, 1, 0, 0])
    assert rules(check_series([odd] + ct[1:])) == {"series.orientation-invalid": [ct[0].instance_id]}


def test_deterministic_whatever_the_order():
    ct = by_position(dicomdir_series("98892001/CT5N"))
    series = ct[:2] + ct[3:] + [replaced(ct[0], PatientID="X")]
    series = [member(f"m{i}", m.dataset) for i, m in enumerate(series)]
    first = [f.to_json() for f in check_series(series)]
    assert first == [f.to_json() for f in check_series(series[::-1])]
    assert len(first) == len({str(f) for f in first})


def test_tolerance_and_nominal_step():
    assert spacing_tolerance(1.25, 1.25) == pytest.approx(0.0625)
    assert spacing_tolerance(5.0, 1.0) == pytest.approx(0.05)
    assert spacing_tolerance(0.1, None) == pytest.approx(0.01)
    assert nominal_step(np.array([2.5, 5.0])) == 2.5
    assert nominal_step(np.array([1.0, 1.0, 3.0, 1.0])) == 1.0


def test_a_time_or_date_in_other_digits_than_ascii_is_no_time():
    """int() takes Arabic-Indic digits: such an AcquisitionTime (0008,0032) sorted as a real time."""
    assert seconds(None, "0730") == 27000.0 and seconds("19700102", "00") == 86400.0 * 719164
    assert seconds(None, "٠٧٣٠") is None
    assert seconds("٢٠٢٣٠١٠١", "0730") is None
