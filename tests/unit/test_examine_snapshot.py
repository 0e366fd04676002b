"""examine()'s findings on every real file, byte for byte against a snapshot (examine-findings.json.gz):
made when the header validation was last rewritten for speed, so that no later speed-up changes a finding,
its order, message or details unnoticed. A deliberate change of a rule updates the snapshot:

    scripts/runtime python3 tests/unit/test_examine_snapshot.py --write

Files are keyed by their place among the real files and the SHA-256 of their bytes (a data package
upgrade is a new file, which --write adds)."""

from __future__ import annotations

import gzip
import hashlib
import json
import sys
import warnings
from pathlib import Path

import pytest

sys.path[:0] = [str(Path(__file__).resolve().parents[2]), str(Path(__file__).resolve().parents[1])]
from realfiles import (DEID_DATA_FILES, ORTHANC_FILES, PYDICOM_DATA_FILES, PYDICOM_FILES,  # noqa: E402
                       all_pydicom_files, data_package_files)
from validators.checks import examine  # noqa: E402

SNAPSHOT = Path(__file__).with_name("examine-findings.json.gz")
_ROOTS = {"pydicom": PYDICOM_FILES, "pydicom-data": PYDICOM_DATA_FILES, "deid-data": DEID_DATA_FILES,
          "orthanc-tests": ORTHANC_FILES}


def _files() -> list[Path]:
    files = all_pydicom_files() + data_package_files()
    if ORTHANC_FILES.is_dir():
        files += sorted(p for p in ORTHANC_FILES.rglob("*") if p.is_file() and p.suffix.lower() in ("", ".dcm"))
    return files


def _key(path: Path, data: bytes) -> str:
    root = next(f"{name}/{path.relative_to(folder)}" for name, folder in _ROOTS.items() if path.is_relative_to(folder))
    return f"{root} {hashlib.sha256(data).hexdigest()[:16]}"


def _findings(data: bytes) -> str:
    """examine's findings of one file as JSON text: what is compared, order and all."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return json.dumps([f.to_json() for f in examine(data)[0]])


def _snapshot() -> dict[str, str]:
    return json.loads(gzip.decompress(SNAPSHOT.read_bytes())) if SNAPSHOT.exists() else {}


@pytest.mark.parametrize("path", _files(), ids=lambda p: p.name)
def test_same_findings(path):
    data = path.read_bytes()
    key = _key(path, data)
    expected = _snapshot().get(key)
    if expected is None:
        pytest.fail(f"{key} is not in {SNAPSHOT.name}: a new or changed real file; run this file with --write")
    assert _findings(data) == expected


if __name__ == "__main__" and sys.argv[1:] == ["--write"]:
    snapshot = {}
    for path in _files():
        data = path.read_bytes()
        snapshot[_key(path, data)] = _findings(data)
    SNAPSHOT.write_bytes(gzip.compress(json.dumps(snapshot, indent=0, sort_keys=True).encode(), mtime=0))
    print(f"{len(snapshot)} files written to {SNAPSHOT}")
