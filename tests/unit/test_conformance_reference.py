"""validators.conformance's planned walk (absent attributes by set difference, plans cached per table) against
a slow, obvious reference that reads every attribute of every table through pydicom, on every real file."""

from __future__ import annotations

import warnings

import pydicom
import pytest

from realfiles import all_pydicom_files, data_package_files
from validators.conformance import _JUDGED_ELSEWHERE, MAX_DEPTH, check_conformance
from validators.standard import Attribute, iod_for


def _empty(elem) -> bool:
    return elem.is_empty or isinstance(elem.value, str) and not elem.value.strip(" \0")


def _holds(condition, item, top) -> bool:
    kind, tag = condition[0], condition[1]
    elem = item[tag] if tag in item else top[tag] if tag in top else None
    if kind == "present":
        return elem is not None and not _empty(elem)
    if kind == "absent":
        return elem is None
    values = [] if elem is None or elem.value is None else \
        [str(v) for v in (elem.value if isinstance(elem.value, (list, pydicom.multival.MultiValue)) else [elem.value])]
    return bool(values) and (values[0] in condition[2] if kind == "value1" else any(v in condition[2] for v in values))


def reference(ds: pydicom.Dataset) -> set[tuple[str, str]]:
    """(rule, path) of the type rules, every attribute read through pydicom."""
    iod = iod_for(str(ds.SOPClassUID))
    out: set[tuple[str, str]] = set()

    def level(item, attributes: tuple[Attribute, ...], path: str, depth: int) -> None:
        for a in attributes:
            if depth == 0 and a.tag in _JUDGED_ELSEWHERE:
                continue
            elem = item[a.tag] if a.tag in item else None
            where = f"{path}{pydicom.datadict.keyword_for_tag(a.tag) or a.tag}"
            if elem is None or _empty(elem):
                conditional = a.type in ("1C", "2C") and a.condition is not None and _holds(a.condition, item, ds)
                if a.type == "1" or a.type == "2" and elem is None or \
                        conditional and (elem is None or a.type == "1C"):
                    out.add(({"1": "iod.type1", "2": "iod.type2", "1C": "iod.type1c", "2C": "iod.type2c"}[a.type],
                             where))
            elif a.children and depth < MAX_DEPTH and elem.VR == "SQ":
                for i, child in enumerate(elem.value):
                    level(child, a.children, f"{where}[{i}].", depth + 1)

    for module in iod.modules:
        present = {int(t) for t in ds.keys()}
        if module.own_tags.isdisjoint(present) and (module.usage != "M" or module.tags.isdisjoint(present) and
                                                    module.own_tags and any(a.type == "1" for a in module.attributes)):
            continue  # not there: not checked, or iod.module-missing
        level(ds, module.attributes, "", 0)
    return out


def _real_datasets():
    for path in all_pydicom_files() + data_package_files():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            try:
                ds = pydicom.dcmread(path, force=True)
                if iod_for(str(ds.get("SOPClassUID", ""))) is None:
                    continue
                reference(ds)  # files whose elements pydicom cannot decode are not for this comparison
            except Exception:
                continue
        yield path.name, ds


@pytest.mark.parametrize("name, ds", list(_real_datasets()), ids=lambda v: v if isinstance(v, str) else "")
def test_planned_walk_finds_what_the_reference_finds(name, ds):
    type_rules = {"iod.type1", "iod.type2", "iod.type1c", "iod.type2c"}
    got = {(f.rule, f.details["path"]) for f in check_conformance(ds) if f.rule in type_rules}
    assert got == reference(ds)
