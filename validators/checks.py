"""Every check of one DICOM file, in one call: what the background worker, ``POST /sentinel/validate``
and the command line run. The ingest path runs only :func:`validators.ingest.check_ingest`."""

from __future__ import annotations

from .findings import Finding
from .header import check_header_bytes, standard_edition
from .ingest import check_ingest
from .instance import check_instance_bytes
from .rules import Policy
from .waveform import check_waveform_bytes


def check_file(data: bytes, policy: Policy) -> list[Finding]:
    """Findings of the ingest checks (raw bytes, header), the instance checks (full data set,
    pixel module, pixel bits) and the header validation against the standard (IOD, VR/VM, coherence,
    plausibility; edition in :data:`STANDARD_EDITION`) of one Part 10 file, with the policy's severities
    and actions."""
    return policy.apply(check_ingest(data).findings + check_instance_bytes(data) + check_header_bytes(data)
                        + check_waveform_bytes(data))


def __getattr__(name: str) -> str:
    """``STANDARD_EDITION``: the editions of the tables :func:`check_file` uses, for reports; read from
    the table file on first use so that importing stays cheap."""
    if name == "STANDARD_EDITION":
        return standard_edition()
    raise AttributeError(name)
