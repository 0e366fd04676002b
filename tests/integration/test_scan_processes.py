"""The archive scan's worker processes (plugin.scanpool) through a real Orthanc: the same archive scanned
with every check in the scan's thread and with worker processes gives the same reports, finding for
finding, compressed series too (Orthanc decodes their frames ahead, the processes check them)."""

from __future__ import annotations

import io
import json
import shutil
from typing import Callable

import numpy as np
from pydicom.uid import generate_uid

from integration.orthanc_server import OrthancServer
from realfiles import ORTHANC_FILES, all_pydicom_files, data_package_files, fresh_copy
from seriesfiles import emri_stack


def emri_series_files(lesion_slice: int) -> list[bytes]:
    """emri_small's 10 real MR frames as one uncompressed series, a bright blob (40 x the noise) pasted
    into slice ``lesion_slice`` (a one-slice lesion the series check reports)."""
    study, series = generate_uid(), generate_uid()
    out = []
    for i, m in enumerate(emri_stack()):
        frame = m.pixels().astype(np.float64)
        if i == lesion_slice:
            rows, cols = np.mgrid[:frame.shape[0], :frame.shape[1]]
            frame += 440 * np.exp(-((rows - 32) ** 2 + (cols - 30) ** 2) / (2 * 2.0 ** 2))
        ds = m.dataset
        ds.StudyInstanceUID, ds.SeriesInstanceUID = study, series
        ds.SOPInstanceUID = ds.file_meta.MediaStorageSOPInstanceUID = generate_uid()
        ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 0
        ds.add_new(0x7FE00010, "OW", np.clip(frame, 0, 65535).astype("<u2").tobytes())
        data = io.BytesIO()
        ds.save_as(data, write_like_original=False)
        out.append(data.getvalue())
    return out


def scanned_alike(archive_of: Callable[[OrthancServer], None], tmp_path) -> dict[int, dict[str, list]]:
    """The reports of one archive (filled by ``archive_of`` in an Orthanc whose Sentinel analyses
    nothing) scanned once with every check in the scan's thread (0 processes) and once with 2 worker
    processes, by number of processes; each scan must analyse every instance, none failing."""
    with OrthancServer({"Sentinel": {"Enabled": False}}) as off:
        archive_of(off)
        instances = len(off.get("/instances").json())
        shutil.copytree(off.workdir / "db", tmp_path / "archive")
    found = {}
    for processes in (0, 2):
        shutil.copytree(tmp_path / "archive", tmp_path / str(processes))
        config = {"StorageDirectory": str(tmp_path / str(processes)), "IndexDirectory": str(tmp_path / str(processes)),
                  "Sentinel": {"Enabled": False}}  # no change-log worker: only the scan analyses
        with OrthancServer(config) as orthanc:
            state = scan_all(orthanc, processes)
            assert state["instances_done"] == state["instances_analysed"] == instances, state
            assert state["series_failed"] == 0, state["failures"]
            found[processes] = reports(orthanc) | {"in processes": state["instances_in_processes"]}
    return found


def scan_all(orthanc: OrthancServer, processes: int) -> dict:
    assert orthanc.post("/sentinel/scan", json.dumps({"processes": processes})).status_code == 200
    return orthanc.wait_for(lambda: (lambda p: p if p["state"] == "done" else None)(orthanc.get("/sentinel/scan").json()))


def reports(orthanc: OrthancServer) -> dict[str, list]:
    """Every instance's and series' findings, without the times of the checks."""
    out = {}
    for level in ("instances", "series"):
        for resource_id in orthanc.get(f"/{level}").json():
            metadata = orthanc.get(f"/{level}/{resource_id}/metadata/SentinelReport")
            assert metadata.status_code == 200, (level, resource_id)
            report = metadata.json()
            out[resource_id] = [report["verdict"], report["findings"], report.get("seal")]
    return out


def test_worker_processes_give_the_reports_of_the_scans_own_thread(tmp_path):
    files = emri_series_files(lesion_slice=5)
    files += [fresh_copy("CT_small.dcm", PatientBirthDate="20300101"), fresh_copy("MR_small.dcm"),
              fresh_copy("JPEG2000.dcm"), fresh_copy("SC_rgb_rle.dcm")]
    found = scanned_alike(lambda off: [off.upload(data).raise_for_status() for data in files], tmp_path)
    # Compressed series (JPEG 2000, RLE) too: Orthanc decodes their frames, its worker processes check them.
    assert found[0].pop("in processes") == 0 and found[2].pop("in processes") == 14
    assert found[0] == found[2]
    rules = {f["rule"] for verdict, findings, _ in found[2].values() for f in findings}
    assert {"forensics.isolated-object", "instance.birth-after-study"} <= rules, rules


def test_every_real_file_is_scanned_alike_in_processes_and_in_the_thread(tmp_path):
    """pydicom's, the data packages' and Orthanc's test files stored before Sentinel was enabled (some
    malformed on purpose, every transfer syntax they hold): the scan analyses each one, fails on none,
    and its worker processes report what its thread reports."""
    files = all_pydicom_files() + data_package_files() + sorted(
        # Orthanc 1.12.7 itself dies on the deeply nested file (tests/integration/test_fuzz.py's xfail).
        p for p in ORTHANC_FILES.rglob("*.dcm") if "Deeply-Nested" not in p.name)

    def store(off: OrthancServer) -> None:
        for path in files:
            off.upload(path.read_bytes())  # Orthanc refuses some: they are not in the archive

    found = scanned_alike(store, tmp_path)
    assert found[2]["in processes"] > 50 and found[0]["in processes"] == 0
    del found[0]["in processes"], found[2]["in processes"]
    assert len(found[2]) > 200
    assert found[0] == found[2]
