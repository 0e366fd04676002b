"""Every check of one DICOM file, in one call: what the background worker, ``POST /sentinel/validate``
and the command line run. The ingest path runs only :func:`validators.ingest.check_ingest`."""

from __future__ import annotations

from pydicom.dataset import Dataset
from pydicom.sequence import Sequence

from .findings import Finding
from .header import check_header, standard_edition
from .ingest import MAX_NESTING, NESTING_DEPTH, WALK_LIMIT, Limits, check_ingest
from .instance import UNREADABLE, check_instance
from .reader import read
from .rules import Policy
from .waveform import check_waveform


def read_dataset(data: bytes) -> Dataset:
    """The whole data set of a Part 10 file (or a bare data set), as ``pydicom.dcmread(..., force=True)``
    reads it (:mod:`validators.reader`); raises on what pydicom cannot parse."""
    return read(data)


def check_dataset(ds: Dataset) -> list[Finding]:
    """The instance checks (identifiers, UID/date syntax, pixel module, pixel bits), the header validation
    against the standard (IOD, VR/VM, coherence, plausibility; edition in :data:`STANDARD_EDITION`) and,
    for waveform objects, the waveform checks of one parsed data set."""
    findings = check_instance(ds) + check_header(ds)
    if "WaveformSequence" in ds:
        findings += check_waveform(ds)
    return findings


def examine(data: bytes, limits: Limits = Limits()) -> tuple[list[Finding], Dataset | None]:
    """Findings of the ingest checks (raw bytes, ``limits``) and of :func:`check_dataset` on one Part 10
    file, parsed once, with the rules' default severities; and the data set (None if pydicom cannot
    parse it, or if it nests sequences beyond the ingest limit: then only the ingest findings). pydicom
    reads deep nesting, but freeing the parsed data set recurses in C once per level and overflows a
    thread's stack: 100 levels (a 5 KB file) killed Orthanc in POST /sentinel/validate."""
    findings = check_ingest(data, limits=limits).findings
    rules = {f.rule for f in findings}
    if NESTING_DEPTH.id in rules:
        return findings, None
    try:
        ds = read_dataset(data)
    except Exception as e:  # pydicom raises many types on bad input; all of them mean "unreadable"
        findings.append(UNREADABLE.finding(f"not parseable as DICOM: {type(e).__name__}: {e}"))
        return findings, None
    # A walk stopped at its budget did not see how deep the rest nests.
    if WALK_LIMIT.id in rules and _dismantled_if_deeper(ds, MAX_NESTING):
        return findings + [NESTING_DEPTH.finding(f"sequences nested deeper than {MAX_NESTING} levels after the "
                                                 "ingest walk's budget: not checked further")], None
    return findings + check_dataset(ds), ds


def _dismantled_if_deeper(ds: Dataset, limit: int) -> bool:
    """Whether sequence items (PS3.5 7.5) nest deeper than ``limit`` in ``ds``; if so, every data set in
    it is emptied from the deepest up, so that freeing ``ds`` never recurses through the nesting. Walked
    without recursion."""
    order: list[Dataset] = []
    pending, deepest = [(ds, 0)], 0
    while pending:
        current, depth = pending.pop()
        order.append(current)
        deepest = max(deepest, depth)
        for element in current.elements():
            if element.VR == "SQ" and isinstance(element.value, Sequence):
                pending.extend((item, depth + 1) for item in element.value)
    if deepest <= limit:
        return False
    for current in reversed(order):  # every item comes after the data set that holds it
        current.clear()
    return True


def check_file(data: bytes, policy: Policy) -> list[Finding]:
    """:func:`examine`'s findings with the policy's severities and actions."""
    return policy.apply(examine(data)[0])


def __getattr__(name: str) -> str:
    """``STANDARD_EDITION``: the editions of the tables :func:`check_file` uses, for reports; read from
    the table file on first use so that importing stays cheap."""
    if name == "STANDARD_EDITION":
        return standard_edition()
    raise AttributeError(name)
