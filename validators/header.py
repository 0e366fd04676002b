"""Header validation of one object against the standard: IOD conformance, VR/VM, consistency inside the
object and physical plausibility, on one parse. :data:`STANDARD_EDITION` says which tables were used.

Cross-object consistency needs the archive: :func:`validators.consistency.check_against_archive`.
"""

from __future__ import annotations

from io import BytesIO

import pydicom
from pydicom.dataset import Dataset

from . import standard
from .coherence import check_coherence
from .conformance import check_conformance
from .findings import Finding
from .functional_groups import check_functional_groups
from .nuclear import check_nuclear
from .plausibility import check_plausibility
from .sr import check_sr
from .vrvm import check_vr_vm


def standard_edition() -> str:
    """The edition of the IOD tables (PS3.3) and of the data dictionary (PS3.6) the checks use."""
    return f"{standard.edition()}; data dictionary of pydicom {pydicom.__version__}"


def check_header(ds: Dataset) -> list[Finding]:
    """Findings of the ``iod.*``, ``sr.*``, ``vr.*``, ``coherence.*`` and ``plausibility.*`` rules for one
    data set. The checks read raw element bytes; they do not raise on bad data (an element that cannot be read is
    ``instance.unreadable``'s finding, from :mod:`validators.instance`)."""
    return check_conformance(ds) + check_functional_groups(ds) + check_sr(ds) + check_vr_vm(ds) + \
        check_coherence(ds) + check_plausibility(ds) + check_nuclear(ds)


def check_header_bytes(data: bytes) -> list[Finding]:
    """:func:`check_header` of a Part 10 file; nothing if pydicom cannot parse it (``instance.unreadable``
    says so)."""
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True)
    except Exception:  # pydicom raises many types on bad input; instance.unreadable reports it
        return []
    return check_header(ds)
