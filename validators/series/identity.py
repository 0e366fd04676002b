"""One patient, one study, one frame of reference, one modality per series (PS3.3 C.7.1.1, C.7.2.1,
C.7.3.1, C.7.4.1): an instance that disagrees with the rest was misfiled, or belongs to someone else."""

from __future__ import annotations

from collections import Counter

from ..findings import Action, Finding, Severity
from ..rules import Rule, define
from .member import SeriesMember, hashable, involved

PATIENT = define(
    "series.patient-mismatch", Severity.ERROR, Action.LABEL,
    "Instances of one series differ in PatientID (0010,0020), PatientName (0010,0010), PatientBirthDate "
    "(0010,0030) or PatientSex (0010,0040): a series is acquired on one patient (PS3.3 C.7.3.1), so one of "
    "them belongs to someone else or was edited.")
STUDY = define(
    "series.study-mismatch", Severity.ERROR, Action.LABEL,
    "Instances of one series differ in StudyInstanceUID (0020,000D): a series belongs to one study "
    "(PS3.3 C.7.2.1, C.7.3.1).")
FRAME_OF_REFERENCE = define(
    "series.frame-of-reference-mismatch", Severity.ERROR, Action.LABEL,
    "Instances of one series differ in FrameOfReferenceUID (0020,0052): their positions are in different "
    "coordinate systems, so geometry across them means nothing (PS3.3 C.7.4.1.1.1).")
MODALITY = define(
    "series.modality-mismatch", Severity.ERROR, Action.LABEL,
    "Instances of one series differ in Modality (0008,0060): a series has one modality (PS3.3 C.7.3.1.1.1).")

# (rule, attributes, tag reported)
_CHECKS: list[tuple[Rule, tuple[str, ...], int]] = [
    (PATIENT, ("PatientID", "PatientName", "PatientBirthDate", "PatientSex"), 0x00100020),
    (STUDY, ("StudyInstanceUID",), 0x0020000D),
    (FRAME_OF_REFERENCE, ("FrameOfReferenceUID",), 0x00200052),
    (MODALITY, ("Modality",), 0x00080060),
]


def check_identity(members: list[SeriesMember]) -> list[Finding]:
    """One finding per rule whose attributes are not the same in every instance, naming the instances
    that differ from the most common value (all of them on a tie). Absent attributes count as a value,
    except FrameOfReferenceUID, which only images in patient space carry."""
    findings = []
    for rule, keywords, tag in _CHECKS:
        values = {m.instance_id: tuple(hashable(m.dataset.get(k)) for k in keywords) for m in members
                  if rule is not FRAME_OF_REFERENCE or "FrameOfReferenceUID" in m.dataset}
        counts = Counter(values.values())
        if len(counts) < 2:
            continue
        top = max(counts.values())
        usual = [v for v in counts if counts[v] == top]
        odd = [i for i, v in values.items() if len(usual) > 1 or v != usual[0]]
        differing = [k for n, k in enumerate(keywords) if len({v[n] for v in values.values()}) > 1]
        findings.append(rule.finding(
            f"{len(odd)} of {len(values)} instances differ in {', '.join(differing)}", tag,
            **involved([(i, None) for i in odd])))
    return findings
