"""Periodicity checks: numba kernels against their numpy references, a 500-slice 512 x 512 CT series
(geometry + continuity, slices held in memory, one core), and a 10 s 12-lead ECG.

    scripts/runtime python3 bench/periodicity.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import pydicom

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from validators import waveform  # noqa: E402
from validators.series import SeriesMember, check_series, warm_up  # noqa: E402
from validators.series.continuity import _correlations, correlations_reference  # noqa: E402


def best(function, *args, repeat: int = 5) -> float:
    """Best wall time of ``repeat`` calls, s."""
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        function(*args)
        times.append(time.perf_counter() - start)
    return min(times)


def ratio(name: str, kernel, reference, *args) -> None:
    kernel(*args)
    k, r = best(kernel, *args), best(reference, *args)
    print(f"{name:<22} numba {k * 1e3:8.3f} ms   numpy {r * 1e3:8.3f} ms   x{r / k:6.1f}")


def synthetic_series(count: int = 500, size: int = 512) -> list[SeriesMember]:
    """Axial CT slices 1 mm apart: an ellipse whose radius changes along z, plus noise, int16."""
    rng = np.random.default_rng(0)
    y, x = np.mgrid[:size, :size] - size / 2
    members = []
    for i in range(count):
        radius = size * (0.3 + 0.1 * np.sin(i / 40))
        body = np.where(x ** 2 / radius ** 2 + y ** 2 / (0.7 * radius) ** 2 < 1, 1040, 0)
        pixels = (body + 30 * np.sin(x / (9 + i / 100)) + rng.normal(0, 10, body.shape)).astype(np.int16)
        ds = pydicom.Dataset()
        ds.PatientID, ds.StudyInstanceUID, ds.Modality = "BENCH", "1.2.3", "CT"
        ds.FrameOfReferenceUID, ds.Rows, ds.Columns = "1.2.3.4", size, size
        ds.ImagePositionPatient, ds.ImageOrientationPatient = [-250, -250, float(i)], [1, 0, 0, 0, 1, 0]
        ds.PixelSpacing, ds.SliceThickness = [0.9765625, 0.9765625], 1.0
        ds.AcquisitionTime = f"1200{i // 60:02d}.{i % 60:02d}"
        members.append(SeriesMember(f"{i:04d}", ds, lambda p=pixels: p))
    return members


def main() -> None:
    warm_up()
    waveform.warm_up()
    rng = np.random.default_rng(1)
    a, b, c = (rng.integers(-1000, 2000, 512 * 512).astype(np.int16) for _ in range(3))
    ratio("continuity correlations", _correlations, correlations_reference, a, b, c)

    ecg = pydicom.dcmread(Path(pydicom.__file__).parent / "data" / "test_files" / "waveform_ecg.dcm")
    group = ecg.WaveformSequence[0]
    samples = np.frombuffer(group.WaveformData, "<i2").reshape(group.NumberOfWaveformSamples, -1)
    scale, offset = np.full(12, 1.25), np.zeros(12)
    ratio("waveform channel stats", waveform._channel_stats, waveform.channel_stats_reference, samples, scale,
          offset, -32768, 32767)
    ratio("waveform residual", waveform._residual, waveform.residual_reference, samples,
          np.array([1, 0, 2]), np.array([1.0, -1.0, -1.0]), scale, offset)
    lead = samples[:, 1] * 1.25
    ratio("waveform energy", waveform._energy, waveform.energy_reference, lead, 150)
    energy = waveform._energy(lead, 150)
    threshold = 0.3 * float(np.percentile(energy, 99))
    ratio("waveform peaks", waveform._peaks, waveform.peaks_reference, energy, threshold, 200)

    members = synthetic_series()
    findings = check_series(members)
    elapsed = best(check_series, members, repeat=3)
    print(f"500 x 512 x 512 CT series, geometry + timing + continuity: {elapsed * 1e3:.0f} ms "
          f"({len(findings)} findings; pixels already decoded)")
    print(f"10 s 12-lead ECG (1000 Hz), check_waveform: {best(waveform.check_waveform, ecg, repeat=20) * 1e3:.2f} ms")


if __name__ == "__main__":
    main()
