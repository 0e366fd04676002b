"""The archive scan's worker processes (plugin.scanpool) through a real Orthanc: the same archive scanned
with every check in the scan's thread and with worker processes gives the same reports, finding for
finding; series that need Orthanc's decoder are checked in Orthanc's process."""

from __future__ import annotations

import io
import json
import shutil

import numpy as np
from pydicom.uid import generate_uid

from integration.orthanc_server import OrthancServer
from realfiles import fresh_copy
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
    with OrthancServer({"Sentinel": {"Enabled": False}}) as off:
        for data in files:
            off.upload(data).raise_for_status()
        shutil.copytree(off.workdir / "db", tmp_path / "archive")
    found = {}
    for processes in (0, 2):
        shutil.copytree(tmp_path / "archive", tmp_path / str(processes))
        config = {"StorageDirectory": str(tmp_path / str(processes)), "IndexDirectory": str(tmp_path / str(processes)),
                  "Sentinel": {"Enabled": False}}  # no change-log worker: only the scan analyses
        with OrthancServer(config) as orthanc:
            state = scan_all(orthanc, processes)
            assert state["instances_done"] == state["instances_analysed"] == len(files)
            assert state["series_failed"] == 0
            # Compressed series (JPEG 2000, RLE) need Orthanc's decoder: checked in its process.
            assert state["instances_in_processes"] == (12 if processes else 0)
            found[processes] = reports(orthanc)
    assert found[0] == found[2]
    rules = {f["rule"] for verdict, findings, _ in found[2].values() for f in findings}
    assert {"forensics.isolated-object", "instance.birth-after-study"} <= rules, rules
