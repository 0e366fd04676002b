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


def test_einthoven_alone_and_goldberger_alone(ecg):
    x = leads(ecg).copy()
    x[:, 2] = -x[:, 2]                     # III inverted: only Einthoven involves III
    findings = check_waveform(with_leads(ecg, x))
    assert [(f.rule, f.details["leads"]) for f in findings] == [("waveform.lead-relation", ["II", "I", "III"])]
    assert "Einthoven" in findings[0].message
    x = leads(ecg).copy()
    x[:, 5] = -x[:, 5]                     # aVF inverted: only its Goldberger relation breaks
    findings = check_waveform(with_leads(ecg, x))
    assert [(f.rule, f.details["leads"]) for f in findings] == [("waveform.lead-relation", ["aVF", "II", "I"])]
    assert "Goldberger (aVF)" in findings[0].message


def test_sensitivity_applied_per_channel(ecg):
    ds = copy.deepcopy(ecg)
    channel = ds.WaveformSequence[0].ChannelDefinitionSequence[1]     # lead II read at twice its gain
    channel.ChannelSensitivity = 2 * float(channel.ChannelSensitivity)
    assert set(rules(check_waveform(ds))) == {"waveform.lead-relation"}


def test_big_endian_copy_passes(ecg):
    ds = copy.deepcopy(ecg)
    ds.is_little_endian = False
    for group in ds.WaveformSequence:
        group.WaveformData = np.frombuffer(group.WaveformData, "<i2").astype(">i2").tobytes()
    assert check_waveform(ds) == []


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


LIMB = [1, 0, 2], [3, 0, 1], [4, 0, 1], [5, 1, 0]      # II, aVR, aVL, aVF with their two other leads
LIMB_WEIGHTS = [1.0, -1.0, -1.0], [1.0, 0.5, 0.5], [1.0, -1.0, 0.5], [1.0, -1.0, 0.5]


def kernels(function):
    """The compiled kernel and its Python source run as Python (coverage of the kernel's code); with
    NUMBA_DISABLE_JIT=1 both are the Python function."""
    return function, getattr(function, "py_func", function)


def assert_lead_stats(x, scale, offset, columns, weights):
    limits = np.iinfo(x.dtype)
    expected = waveform.lead_stats_reference(x, scale, offset, limits.min, limits.max, columns, weights)
    for stats in kernels(waveform._lead_stats):
        got = stats(x, scale, limits.min, limits.max, columns, weights)
        for name, a, b in zip(("rms", "difference", "span", "rails", "residual"), got, expected):
            np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-9 * float(np.abs(b).max(initial=1)), err_msg=name)


def test_lead_stats_equal_reference(ecg):
    x = leads(ecg)
    columns, weights = np.array(LIMB, dtype=np.int64), np.array(LIMB_WEIGHTS)
    assert_lead_stats(x, np.full(12, 1.25), np.zeros(12), columns, weights)
    rng = np.random.default_rng(2)
    # Sensitivities and baselines differ per channel; saturated samples; lengths that end inside a chunk.
    for dtype, rows, channels in ((np.int16, 1001, 12), (np.uint16, 257, 5), (np.int8, 3000, 1), (np.uint8, 2, 3),
                                  (np.int32, 700, 7)):
        limits = np.iinfo(dtype)
        y = rng.integers(limits.min, limits.max, (rows, channels), endpoint=True).astype(dtype)
        y[rng.random(y.shape) < 0.05] = limits.max
        scale, offset = rng.uniform(-3, 3, channels), rng.uniform(-500, 500, channels)
        columns = rng.integers(0, channels, (3, 3))
        assert_lead_stats(y, scale, offset, columns, rng.uniform(-1, 1, (3, 3)))
    assert_lead_stats(x, np.ones(12), np.zeros(12), np.zeros((0, 3), np.int64), np.zeros((0, 3)))


def test_r_peak_kernels_equal_references(ecg):
    g = ecg.WaveformSequence[0]
    raw = np.ascontiguousarray(leads(ecg)[:, 1])
    rng = np.random.default_rng(3)
    # Integer leads (int64 sums) with a baseline the kernel ignores, and float leads (float64 sums).
    for samples, scale, offset, window in ((raw, 1.25, 0.0, 150), (raw[:200], 2.5, -300.0, 150),
                                           (rng.integers(-32768, 32767, 3000, endpoint=True).astype(np.int16), 0.7, 5.0, 9),
                                           (rng.integers(0, 255, 500).astype(np.uint8), 3.0, -128 * 3.0, 20),
                                           (rng.normal(0, 100, 5000), 1.0, 0.0, 37), (np.zeros(10), 1.0, 0.0, 3),
                                           (raw[:2].astype(float), 1.0, 0.0, 5)):
        expected = waveform.energy_reference(samples * scale + offset, window)
        for energy in kernels(waveform._energy):
            np.testing.assert_allclose(energy(samples, scale, window, waveform.accumulator(samples)), expected,
                                       rtol=1e-9, atol=1e-9 * max(expected.max(), 1))
    e = waveform._energy(raw, 1.25, 150, waveform.accumulator(raw))
    ties, rising = rng.integers(0, 3, 5000).astype(float), np.sort(rng.random(3000))
    for values in (e, rng.random(1), rng.random(2), rng.random(101), rng.normal(size=9999), np.zeros(7), ties,
                   rising, rising[::-1].copy()):
        for fraction in (0.5, 0.9, 0.99, 1.0):
            for quantile in kernels(waveform._upper_quantile):
                assert quantile(values, fraction) == waveform.upper_quantile_reference(values, fraction)
    threshold = 0.3 * np.percentile(e, 99)
    for peaks in kernels(waveform._peaks):
        np.testing.assert_array_equal(peaks(e, threshold, 200), waveform.peaks_reference(e, threshold, 200))
        for _ in range(100):        # short random runs, refractory periods shorter and longer than them
            values, cut, refractory = rng.random(int(rng.integers(1, 200))), rng.random(), int(rng.integers(1, 30))
            np.testing.assert_array_equal(peaks(values, cut, refractory),
                                          waveform.peaks_reference(values, cut, refractory))
    for r_peaks in kernels(waveform._r_peaks):
        for samples in (raw, np.zeros(300, np.int16), rng.normal(0, 50, 3000)):
            np.testing.assert_array_equal(r_peaks(samples, 1.25, 150, 200, waveform.accumulator(samples)),
                                          waveform.r_peaks_reference(samples, 1.25, 10.0, 150, 200))
    assert waveform.r_peaks(raw, 1.25, float(g.SamplingFrequency)).size == 10


def test_warm_up():
    waveform.warm_up()


def test_a_malformed_value_in_a_group_is_a_finding_not_a_crash():
    """What the fuzzer met: a ChannelSensitivity (003A,0210) that is not a number."""
    from pydicom.dataelem import RawDataElement
    from pydicom.tag import Tag
    ds = pydicom.dcmread(pydicom_file("waveform_ecg.dcm"))
    channel = ds.WaveformSequence[0].ChannelDefinitionSequence[0]
    channel[0x003A0210] = RawDataElement(Tag(0x003A0210), "DS", 2, b"i ", 0, True, True)
    findings = waveform.check_waveform(ds)
    assert [f.rule for f in findings if f.rule == "waveform.unreadable"] == ["waveform.unreadable"]
