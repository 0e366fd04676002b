"""Every check of one DICOM file, in one call: what the background worker, ``POST /sentinel/validate``
and the command line run. The ingest path runs only :func:`validators.ingest.check_ingest`."""

from __future__ import annotations

from .findings import Finding
from .ingest import check_ingest
from .instance import check_instance_bytes
from .rules import Policy


def check_file(data: bytes, policy: Policy) -> list[Finding]:
    """Findings of the ingest checks (raw bytes, header) and the instance checks (full data set,
    pixel module, pixel bits) of one Part 10 file, with the policy's severities and actions."""
    return policy.apply(check_ingest(data).findings + check_instance_bytes(data))
