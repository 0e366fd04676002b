"""SR content items (validators.sr), on pydicom's real SR files and minimal mutations of them."""

from __future__ import annotations

import pydicom
import pytest

from realfiles import pydicom_file
from validators.sr import check_sr
from validators.standard import sr_content


def read(name: str) -> pydicom.Dataset:
    return pydicom.dcmread(pydicom_file(name), force=True)


def found(ds) -> set[tuple[str, str | None, str]]:
    return {(f.rule, f.tag, f.details.get("path")) for f in check_sr(ds)}


def test_tables_from_the_standard():
    tables = sr_content()
    assert {"TEXT", "NUM", "CODE", "CONTAINER", "SCOORD", "TCOORD"} <= tables.value_types
    assert "HAS CONCEPT MOD" in tables.relationship_types
    assert tables.concept_name_required == {"TEXT", "NUM", "CODE", "DATETIME", "DATE", "TIME", "UIDREF", "PNAME"}
    assert [a.tag for a in tables.value_attributes["TEXT"]] == [0x0040A160]
    assert [(a.tag, a.type) for a in tables.value_attributes["NUM"]][0] == (0x0040A300, "2")


@pytest.mark.parametrize("name", ["test-SR.dcm", "reportsi.dcm", "reportsi_with_empty_number_tags.dcm"])
def test_real_reports_have_no_finding(name):
    assert check_sr(read(name)) == []


def test_other_objects_are_not_reports():
    assert check_sr(read("CT_small.dcm")) == []


@pytest.mark.parametrize("index, keyword, tag", [
    (2, "TextValue", "(0040,A160)"),            # TEXT
    (0, "UID", "(0040,A124)"),                  # UIDREF
    (3, "ReferencedSOPSequence", "(0008,1199)"),  # COMPOSITE
])
def test_value_of_the_value_type_missing(index, keyword, tag):
    ds = read("test-SR.dcm")
    delattr(ds.ContentSequence[index], keyword)
    assert ("sr.value-missing", tag, f"ContentSequence[{index}].") in found(ds)


def test_num_and_code_values_missing_deeper():
    ds = read("test-SR.dcm")
    container = ds.ContentSequence[1]
    del container.ContentSequence[1].MeasuredValueSequence           # NUM: Type 2, must be present
    container.ContentSequence[0].ContentSequence[0].ConceptCodeSequence = []  # CODE: Type 1, empty
    got = found(ds)
    assert ("sr.value-missing", "(0040,A300)", "ContentSequence[1].ContentSequence[1].") in got
    assert ("sr.value-missing", "(0040,A168)", "ContentSequence[1].ContentSequence[0].ContentSequence[0].") in got


def test_num_empty_measured_value_is_allowed_but_its_item_is_checked():
    ds = read("test-SR.dcm")
    num = ds.ContentSequence[1].ContentSequence[1]
    num.MeasuredValueSequence = []
    assert not [f for f in check_sr(ds) if f.rule == "sr.value-missing"]
    ds = read("test-SR.dcm")
    num = ds.ContentSequence[1].ContentSequence[1]
    del num.MeasuredValueSequence[0].NumericValue
    assert [(f.rule, f.tag) for f in check_sr(ds)] == [("iod.type1", "(0040,A30A)")]


def test_relationship_and_value_type():
    ds = read("test-SR.dcm")
    del ds.ContentSequence[2].RelationshipType
    ds.ContentSequence[1].RelationshipType = "HAS PARENT"
    del ds.ContentSequence[3].ValueType
    ds.ContentSequence[4].ValueType = "BLOB"
    got = {(f.rule, f.details["path"]) for f in check_sr(ds)}
    assert {("sr.relationship-type", "ContentSequence[2]."), ("sr.relationship-type", "ContentSequence[1]."),
            ("sr.value-type", "ContentSequence[3]."), ("sr.value-type", "ContentSequence[4].")} <= got


def test_by_reference_items_need_no_value_type():
    ds = read("test-SR.dcm")
    by_reference = ds.ContentSequence[2].ContentSequence[2].ContentSequence[0]
    assert "ReferencedContentItemIdentifier" in by_reference and "ValueType" not in by_reference
    assert check_sr(ds) == []


def test_concept_name_required_by_value_type_and_at_the_root():
    ds = read("test-SR.dcm")
    del ds.ContentSequence[2].ConceptNameCodeSequence  # TEXT: required
    assert "ConceptNameCodeSequence" not in ds.ContentSequence[1].ContentSequence[3]  # a CONTAINER: optional
    got = found(ds)
    assert ("sr.concept-name", "(0040,A043)", "ContentSequence[2].") in got
    assert not [g for g in got if g[2] == "ContentSequence[1].ContentSequence[3]."]  # CONTAINER: optional
    del ds.ConceptNameCodeSequence
    assert ("sr.concept-name", "(0040,A043)", "root") in found(ds)


def test_concept_name_code_item_checked():
    ds = read("test-SR.dcm")
    del ds.ContentSequence[2].ConceptNameCodeSequence[0].CodeMeaning
    assert [(f.rule, f.tag) for f in check_sr(ds)] == [("iod.type1", "(0008,0104)")]


def test_root_must_be_a_container():
    ds = read("test-SR.dcm")
    ds.ValueType = "TEXT"
    assert ("sr.value-type", "(0040,A040)", "root") in found(ds)


def test_container_continuity_enumerated():
    ds = read("test-SR.dcm")
    ds.ContentSequence[1].ContinuityOfContent = "MAYBE"
    assert [(f.rule, f.tag) for f in check_sr(ds)] == [("iod.enumerated", "(0040,A050)")]
