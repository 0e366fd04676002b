"""What the archive already holds under a new object's UIDs, for the cross-object consistency rules
(:mod:`validators.consistency`), looked up in Orthanc's index."""

from __future__ import annotations

import json
import re
from typing import Any, Iterable

from .index import Index, NotFound

_LEVELS = (("Study", "StudyInstanceUID"), ("Series", "SeriesInstanceUID"), ("Instance", "SOPInstanceUID"))
_UID_KEYS = tuple(key for _, key in _LEVELS)
# Values that can go into a /tools/find list constraint as they are: a UID's characters (PS3.5 9.1), none
# of which /tools/find reads as a separator ("\\"), wildcard ("*", "?") or range ("-").
_PLAIN_UID = re.compile(r"^[0-9.]{1,64}$")
UIDS_PER_FIND = 100


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


def look_up_together(index: Index, uids: Iterable[str], answers: dict[Any, Any]) -> None:
    """Add to ``answers`` (see :func:`known_identifiers`) what ``/tools/lookup`` answers on each of
    ``uids`` not answered yet, with one ``/tools/find`` per level (a list of UIDs, PS3.4 C.2.2.2.2) for
    up to UIDS_PER_FIND of them instead of one lookup each: for the archive scan, which knows the SOP
    Instance UIDs of a whole series before analysing its instances (and its Study and Series Instance
    UIDs once it has read one file). Patients, which the lookup also matches on PatientID, are left out:
    they never conflict. Values that are not plain UIDs are left to the lookup. The study and series
    found come with their identifiers (a series' study ones as RequestedTags), so that
    :func:`known_identifiers` need not read them; instances, whose own answer is their series'
    instances themselves, do not (their parents' tags would double the find's cost on PostgreSQL)."""
    todo = sorted({uid for uid in uids if uid not in answers and _PLAIN_UID.match(uid)})
    for start in range(0, len(todo), UIDS_PER_FIND):
        found: dict[str, list[dict[str, str]]] = {uid: [] for uid in todo[start:start + UIDS_PER_FIND]}
        for level, key in _LEVELS:
            query = {"Level": level, "Query": {key: "\\".join(found)}, "ResponseContent": ["MainDicomTags"]}
            if level == "Series":
                query["RequestedTags"] = ["StudyInstanceUID", "PatientID"]
            for match in index.find(query):
                uid = match["MainDicomTags"].get(key)
                if uid in found:
                    found[uid].append({"ID": match["ID"], "Type": level})
                if level == "Study":
                    answers[(level, match["ID"])] = _study_identifiers(match)
                elif level == "Series":
                    answers[(level, match["ID"])] = _series_identifiers(match, match.get("RequestedTags", {}))
        answers.update(found)


def _study_identifiers(study: dict[str, Any]) -> dict[str, str]:
    return {"StudyInstanceUID": study["MainDicomTags"].get("StudyInstanceUID", ""),
            "PatientID": study.get("PatientMainDicomTags", {}).get("PatientID", "")}


def _series_identifiers(series: dict[str, Any], study: dict[str, str]) -> dict[str, str]:
    """A series' identifiers from its resource (its MainDicomTags) and its study's ``study``
    (StudyInstanceUID and PatientID)."""
    return {"SeriesInstanceUID": series["MainDicomTags"].get("SeriesInstanceUID", ""),
            "Modality": series["MainDicomTags"].get("Modality", ""),
            "StudyInstanceUID": study.get("StudyInstanceUID", ""), "PatientID": study.get("PatientID", "")}


def _identifiers(index: Index, kind: str, resource_id: str) -> dict[str, str]:
    if kind == "Study":
        return _study_identifiers(index.resource("studies", resource_id))
    if kind == "Series":
        series = index.resource("series", resource_id)
        study = index.resource("studies", series["ParentStudy"])
        return _series_identifiers(series, {"StudyInstanceUID": study["MainDicomTags"].get("StudyInstanceUID", ""),
                                            "PatientID": study["PatientMainDicomTags"].get("PatientID", "")})
    if kind == "Instance":
        instance = index.resource("instances", resource_id)
        series = index.resource("series", instance["ParentSeries"])
        return {"SOPInstanceUID": instance["MainDicomTags"].get("SOPInstanceUID", ""),
                "SeriesInstanceUID": series["MainDicomTags"].get("SeriesInstanceUID", "")}
    return {}
