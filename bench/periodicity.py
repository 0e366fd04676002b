"""Periodicity checks: numba kernels against their numpy references, a 10 s 12-lead ECG, and a 500-slice
512 x 512 CT series (geometry + timing + continuity on one core), with its pixels in memory and decoded
from Part 10 bytes, the time split between decoding, geometry, the continuity kernel and Python.

    scripts/runtime python3 bench/periodicity.py
"""

from __future__ import annotations

import sys
import time
from io import BytesIO
from pathlib import Path

import numpy as np
import pydicom
from pydicom.dataset import FileMetaDataset
from pydicom.uid import CTImageStorage, ExplicitVRLittleEndian

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from validators import waveform  # noqa: E402
from validators.series import SeriesMember, check_series, warm_up  # noqa: E402
from validators.series import continuity  # noqa: E402
from validators.series.continuity import _correlations, accumulator, correlations_reference  # noqa: E402


def best(function, *args, repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls, s."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def ratio(name: str, kernel, reference, *args, repeat: int = 20) -> None:
    """Best of ``repeat`` of the kernel and of its reference, alternated so that both see the same load."""
    kernel(*args)
    k = r = float("inf")
    for _ in range(repeat):
        k, r = min(k, best(kernel, *args, repeat=1)), min(r, best(reference, *args, repeat=1))
    print(f"{name:<30} numba {k * 1e3:8.3f} ms   numpy {r * 1e3:8.3f} ms   x{r / k:6.1f}")


def synthetic_slices(count: int = 500, size: int = 512) -> list[tuple[pydicom.Dataset, np.ndarray]]:
    """Axial CT slices 1 mm apart: an ellipse whose radius changes along z, plus noise, int16 with
    their headers."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size] - size / 2
    out = []
    for i in range(count):
        radius = size * (0.3 + 0.1 * np.sin(i / 40))
        body = np.where(x ** 2 / radius ** 2 + y ** 2 / (0.7 * radius) ** 2 < 1, 1040, 0)
        pixels = (body + 30 * np.sin(x / (9 + i / 100)) + rng.normal(0, 10, body.shape)).astype(np.int16)
        ds = pydicom.Dataset()
        ds.PatientID, ds.StudyInstanceUID, ds.Modality = "BENCH", "1.2.3", "CT"
        ds.SeriesInstanceUID, ds.SOPClassUID, ds.SOPInstanceUID = "1.2.3.5", CTImageStorage, f"1.2.3.6.{i}"
        ds.FrameOfReferenceUID, ds.Rows, ds.Columns = "1.2.3.4", size, size
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [-250, -250, float(i)], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.9765625, 0.9765625], 1.0
        ds.AcquisitionTime = f"1200{i // 60:02d}.{i % 60:02d}"
        out.append((ds, pixels))
    return out


def part10(ds: pydicom.Dataset, pixels: np.ndarray) -> bytes:
    """The slice as an uncompressed Part 10 file (Explicit VR Little Endian)."""
    ds = ds.copy()
    ds.SamplesPerPixel, ds.PhotometricInterpretation = 1, "MONOCHROME2"
    ds.BitsAllocated, ds.BitsStored, ds.HighBit, ds.PixelRepresentation = 16, 16, 15, 1
    ds.PixelData = pixels.tobytes()
    ds.file_meta = FileMetaDataset()
    ds.file_meta.MediaStorageSOPClassUID, ds.file_meta.MediaStorageSOPInstanceUID = CTImageStorage, ds.SOPInstanceUID
    ds.file_meta.TransferSyntaxUID = ExplicitVRLittleEndian
    ds.is_little_endian, ds.is_implicit_VR = True, False
    out = BytesIO()
    ds.save_as(out, write_like_original=False)
    return out.getvalue()


def series(slices: list[tuple[pydicom.Dataset, np.ndarray]]) -> None:
    """The series with its pixels in memory, then read from Part 10 bytes as the worker does (header
    parsed first, pixels decoded when the continuity check asks for them). Header parsing, pixel
    decoding and the continuity kernel are timed inside that run (the kernel through a timing wrapper);
    geometry, identity and timing in a run without pixels; Python is the rest."""
    in_memory = [SeriesMember(f"{i:04d}", ds, lambda p=pixels: p) for i, (ds, pixels) in enumerate(slices)]
    findings = check_series(in_memory)
    held = best(check_series, in_memory, repeat=3)
    print(f"500 x 512 x 512 CT series, geometry + timing + continuity, pixels in memory: {held * 1e3:.0f} ms "
          f"({len(findings)} findings)")

    files = [part10(ds, pixels) for ds, pixels in slices]
    spent = dict.fromkeys(("headers", "decoding", "kernel"), 0.0)

    def timed(part: str, function, *args):
        start = time.perf_counter()
        out = function(*args)
        spent[part] += time.perf_counter() - start
        return out

    def decode(data: bytes) -> np.ndarray:
        return timed("decoding", lambda: pydicom.dcmread(BytesIO(data)).pixel_array)

    def header(data: bytes) -> pydicom.Dataset:
        return timed("headers", lambda: pydicom.dcmread(BytesIO(data), stop_before_pixels=True))

    runs = []
    kernel = continuity._correlations
    continuity._correlations = lambda *args: timed("kernel", kernel, *args)
    try:
        for _ in range(3):
            spent.update(dict.fromkeys(spent, 0.0))
            start = time.perf_counter()
            members = [SeriesMember(f"{i:04d}", header(data), lambda d=data: decode(d)) for i, data in enumerate(files)]
            assert check_series(members) == findings
            runs.append((time.perf_counter() - start, dict(spent)))
    finally:
        continuity._correlations = kernel
    total, parts = min(runs, key=lambda run: run[0])
    geometry = best(check_series, [SeriesMember(m.instance_id, m.dataset) for m in members], repeat=3)
    python = total - sum(parts.values()) - geometry
    print(f"same series from {len(files)} Part 10 files ({sum(map(len, files)) / 2 ** 20:.0f} MiB): {total * 1e3:.0f} ms "
          f"= header parsing {parts['headers'] * 1e3:.0f} + pixel decoding {parts['decoding'] * 1e3:.0f} + geometry, "
          f"identity and timing {geometry * 1e3:.0f} + continuity kernel {parts['kernel'] * 1e3:.0f} + Python "
          f"{python * 1e3:.0f} ms")


def main() -> None:
    warm_up()
    waveform.warm_up()
    rng = np.random.default_rng(1)
    a, b, c = (rng.integers(-1000, 2000, 512 * 512).astype(np.int16) for _ in range(3))
    ratio("continuity correlations", lambda: _correlations(a, b, c, accumulator(a, b, c)),
          lambda: correlations_reference(a, b, c), repeat=5)

    ecg = pydicom.dcmread(Path(pydicom.__file__).parent / "data" / "test_files" / "waveform_ecg.dcm")
    group = ecg.WaveformSequence[0]
    samples = np.frombuffer(group.WaveformData, "<i2").reshape(group.NumberOfWaveformSamples, -1)
    scale, offset = np.full(12, 1.25), np.zeros(12)
    columns = np.array([[1, 0, 2], [3, 0, 1], [4, 0, 1], [5, 1, 0]])    # II, aVR, aVL, aVF relations
    weights = np.array([[1.0, -1.0, -1.0], [1.0, 0.5, 0.5], [1.0, -1.0, 0.5], [1.0, -1.0, 0.5]])
    ratio("waveform lead stats", lambda: waveform._lead_stats(samples, scale, -32768, 32767, columns, weights),
          lambda: waveform.lead_stats_reference(samples, scale, offset, -32768, 32767, columns, weights))
    # The relations' share of both: the kernel without them, numpy's gather, product and std per relation.
    alone = best(waveform._lead_stats, samples, scale, -32768, 32767, columns[:0], weights[:0], repeat=20)
    together = best(waveform._lead_stats, samples, scale, -32768, 32767, columns, weights, repeat=20)
    v = samples * scale + offset
    relations = best(lambda: [(v[:, c] @ w).std() for c, w in zip(columns, weights)], repeat=20)
    share = max(together - alone, 1e-7)      # timing noise can exceed a small share
    print(f"{'  of which 4 lead relations':<30} numba {share * 1e3:8.3f} ms   numpy {relations * 1e3:8.3f} ms   "
          f"x{relations / share:6.1f}")
    raw = np.ascontiguousarray(samples[:, 1])          # lead II, raw; 1.25 µV per unit
    zero = accumulator(raw)
    ratio("waveform energy", lambda: waveform._energy(raw, 1.25, 150, zero),
          lambda: waveform.energy_reference(raw * 1.25, 150))
    energy = waveform._energy(raw, 1.25, 150, zero)
    ratio("waveform 99th percentile", waveform._upper_quantile, waveform.upper_quantile_reference, energy, 0.99)
    threshold = 0.3 * float(np.percentile(energy, 99))
    ratio("waveform peaks", waveform._peaks, waveform.peaks_reference, energy, threshold, 200)
    ratio("waveform R peaks (all three)", lambda: waveform._r_peaks(raw, 1.25, 150, 200, zero),
          lambda: waveform.r_peaks_reference(raw, 1.25, 0.0, 150, 200))
    print(f"10 s 12-lead ECG (1000 Hz), check_waveform: {best(waveform.check_waveform, ecg, repeat=20) * 1e3:.2f} ms")

    series(synthetic_slices())


if __name__ == "__main__":
    main()
