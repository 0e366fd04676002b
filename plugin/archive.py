"""What the archive already holds under a new object's UIDs, for the cross-object consistency rules
(:mod:`validators.consistency`), looked up in Orthanc's index."""

from __future__ import annotations

import json
from typing import Any

from .index import Index, NotFound

_UID_KEYS = ("StudyInstanceUID", "SeriesInstanceUID", "SOPInstanceUID")


def known_identifiers(index: Index, new: dict[str, str], own_instance_id: str,
                      answers: dict[Any, Any] | None = None) -> list[dict[str, str]]:
    """The identifiers (keys of ``validators.consistency.KEYS``) of every study, series and instance
    whose DICOM UID equals one of the new object's Study, Series or SOP Instance UIDs, the new object
    itself excluded. Unknown values are left out: they never conflict.

    ``answers``: the index's answers kept from earlier calls, used and added to, for several instances
    of one series analysed in a row (they share their study's and series' lookups); None to ask all."""
    answers = {} if answers is None else answers
    known = []
    for key in _UID_KEYS:
        uid = new.get(key)
        if not uid:
            continue
        if uid not in answers:
            answers[uid] = json.loads(index.orthanc.RestApiPost("/tools/lookup", uid.encode()))
        for match in answers[uid]:
            if match["ID"] == own_instance_id:
                continue
            resource = (match["Type"], match["ID"])
            if resource not in answers:
                try:
                    answers[resource] = _identifiers(index, *resource)
                except NotFound:
                    answers[resource] = {}  # deleted meanwhile
            known.append(answers[resource])
    return [k for k in known if k]


def _identifiers(index: Index, kind: str, resource_id: str) -> dict[str, str]:
    if kind == "Study":
        study = index.resource("studies", resource_id)
        return {"StudyInstanceUID": study["MainDicomTags"].get("StudyInstanceUID", ""),
                "PatientID": study["PatientMainDicomTags"].get("PatientID", "")}
    if kind == "Series":
        series = index.resource("series", resource_id)
        study = index.resource("studies", series["ParentStudy"])
        return {"SeriesInstanceUID": series["MainDicomTags"].get("SeriesInstanceUID", ""),
                "Modality": series["MainDicomTags"].get("Modality", ""),
                "StudyInstanceUID": study["MainDicomTags"].get("StudyInstanceUID", ""),
                "PatientID": study["PatientMainDicomTags"].get("PatientID", "")}
    if kind == "Instance":
        instance = index.resource("instances", resource_id)
        series = index.resource("series", instance["ParentSeries"])
        return {"SOPInstanceUID": instance["MainDicomTags"].get("SOPInstanceUID", ""),
                "SeriesInstanceUID": series["MainDicomTags"].get("SeriesInstanceUID", "")}
    return {}
