"""validators.waveform: the real 12-lead ECG passes, mutated copies are flagged; kernels against numpy."""

import copy

import numpy as np
import pydicom
import pytest

from realfiles import pydicom_file
from validators import waveform
from validators.checks import check_file
from validators.rules import Policy
from validators.waveform import check_waveform, check_waveform_bytes


@pytest.fixture(scope="module")
def ecg():
    return pydicom.dcmread(pydicom_file("waveform_ecg.dcm"))


def leads(ds, group=0):
    g = ds.WaveformSequence[group]
    return np.frombuffer(g.WaveformData, "<i2").reshape(g.NumberOfWaveformSamples, g.NumberOfWaveformChannels)


def with_leads(ds, samples, group=0):
    out = copy.deepcopy(ds)
    out.WaveformSequence[group].WaveformData = np.ascontiguousarray(samples, "<i2").tobytes()
    return out


def rules(findings):
    return sorted(f.rule for f in findings)


def test_real_ecg_passes(ecg):
    assert check_waveform(ecg) == []
    assert check_waveform_bytes(pydicom_file("waveform_ecg.dcm").read_bytes()) == []
    assert check_waveform_bytes(pydicom_file("CT_small.dcm").read_bytes()) == []
    assert not [f for f in check_file(pydicom_file("waveform_ecg.dcm").read_bytes(), Policy())
                if f.rule.startswith("waveform.")]


def test_swapped_limb_leads(ecg):
    x = leads(ecg).copy()
    x[:, [0, 1]] = x[:, [1, 0]]            # I and II exchanged: Einthoven and Goldberger break
    assert set(rules(check_waveform(with_leads(ecg, x)))) == {"waveform.lead-relation"}


def test_flat_noisy_and_saturated_leads(ecg):
    x = leads(ecg).copy()
    x[:, 6] = 0                                                         # V1 off
    x[:, 7] = np.random.default_rng(1).normal(0, 400, x.shape[0])       # V2 noise
    x[:, 8] = np.clip(x[:, 8].astype(np.int64) * 200, -32768, 32767)                      # V3 amplified until it clips
    assert rules(check_waveform(with_leads(ecg, x))) == ["waveform.flat-lead", "waveform.noise-lead",
                                                         "waveform.saturated-lead"]


def test_wrong_sampling_frequency_and_length(ecg):
    ds = copy.deepcopy(ecg)
    ds.WaveformSequence[0].SamplingFrequency = 2000    # above the 12-lead IOD's 1000 Hz
    assert rules(check_waveform(ds)) == ["waveform.sampling-frequency"]
    ds.WaveformSequence[0].SamplingFrequency = 250     # allowed, but the heart rate becomes 15/min
    assert rules(check_waveform(ds)) == ["waveform.heart-rate"]
    ds = copy.deepcopy(ecg)
    ds.WaveformSequence[1].WaveformData = ds.WaveformSequence[1].WaveformData[:-24]
    assert rules(check_waveform(ds)) == ["waveform.data-length"]


def test_irregular_rhythm_is_information(ecg):
    x = leads(ecg)
    # Cut out stretches of the rhythm strip so that RR intervals alternate short and long.
    keep = np.ones(x.shape[0], bool)
    for start in (1800, 4000, 6900):
        keep[start:start + 450] = False
    ds = with_leads(ecg, x[keep])
    ds.WaveformSequence[0].NumberOfWaveformSamples = int(keep.sum())
    findings = check_waveform(ds)
    assert rules(findings) == ["waveform.rhythm-irregular"]
    assert findings[0].action.value == "report"


def test_kernels_equal_references(ecg):
    x = leads(ecg)
    g = ecg.WaveformSequence[0]
    scale, offset = np.full(12, 1.25), np.zeros(12)
    for stats in (waveform._channel_stats, waveform._channel_stats.py_func):
        got = stats(x, scale, offset, -32768, 32767)
        for a, b in zip(got, waveform.channel_stats_reference(x, scale, offset, -32768, 32767)):
            np.testing.assert_allclose(a, b, rtol=1e-9)
    columns, weights = np.array([1, 0, 2]), np.array([1.0, -1.0, -1.0])
    for residual in (waveform._residual, waveform._residual.py_func):
        np.testing.assert_allclose(residual(x, columns, weights, scale, offset),
                                   waveform.residual_reference(x, columns, weights, scale, offset), atol=1e-6)
    lead = x[:, 1] * 1.25
    for energy in (waveform._energy, waveform._energy.py_func):
        np.testing.assert_allclose(energy(lead, 150), waveform.energy_reference(lead, 150), rtol=1e-9, atol=1e-9)
    e = waveform._energy(lead, 150)
    threshold = 0.3 * np.percentile(e, 99)
    for peaks in (waveform._peaks, waveform._peaks.py_func):
        np.testing.assert_array_equal(peaks(e, threshold, 200), waveform.peaks_reference(e, threshold, 200))
    assert waveform.r_peaks(lead, float(g.SamplingFrequency)).size == 10


def test_warm_up():
    waveform.warm_up()
