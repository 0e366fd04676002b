"""ECG and other waveforms (Waveform Sequence (5400,0100), PS3.3 C.10.9): encoding against the IOD's
limits, and for ECG leads the physiology that binds them.

Per multiplex group: SamplingFrequency (003A,001A) in the IOD's range (PS3.3 A.34), WaveformData
(5400,1010) exactly NumberOfWaveformSamples x NumberOfWaveformChannels x WaveformBitsAllocated long;
per channel (in µV, PS3.3 C.10.9.1.4.3: value = sample x ChannelSensitivity x correction factor +
ChannelBaseline): flat, saturated or noise-only leads; between leads Einthoven's law II = I + III and
Goldberger's aVR = -(I + II)/2, aVL = I - II/2, aVF = II - I/2 (Kirchhoff's law on the limb electrodes:
they hold exactly, up to noise and quantisation); on a rhythm strip, R peaks (Pan and Tompkins, IEEE
TBME 32(3), 1985: derivative, squaring, 150 ms moving-window integration) and the RR intervals.

Kernels (numba) take the raw samples array and scalars; ``*_reference`` are their numpy versions.
"""

from __future__ import annotations

from io import BytesIO

import numpy as np
import pydicom
from numba import njit
from pydicom.errors import InvalidDicomError

from .findings import Action, Finding, Severity
from .rules import define

SAMPLING_FREQUENCY = define(
    "waveform.sampling-frequency", Severity.ERROR, Action.LABEL,
    "SamplingFrequency (003A,001A) outside the IOD's range (PS3.3 A.34): 12-lead and General ECG 200-1000 "
    "Hz, Ambulatory ECG 50-1000 Hz, Hemodynamic up to 400 Hz, Basic Cardiac Electrophysiology 200-20000 "
    "Hz. Intervals and rates computed from the samples are then wrong.")
DATA_LENGTH = define(
    "waveform.data-length", Severity.ERROR, Action.LABEL,
    "WaveformData (5400,1010) is not NumberOfWaveformSamples (003A,0010) x NumberOfWaveformChannels "
    "(003A,0005) x WaveformBitsAllocated (5400,1004) / 8 bytes long (padded to even, PS3.3 C.10.9.1.6): "
    "channels and samples cannot be told apart.")
LEAD_RELATION = define(
    "waveform.lead-relation", Severity.ERROR, Action.LABEL,
    "The limb leads break Einthoven's (II = I + III) or Goldberger's (aVR = -(I+II)/2, aVL = I - II/2, "
    "aVF = II - I/2) relation: the RMS residual exceeds 50 µV and 10 % of the leads' RMS. Both are "
    "Kirchhoff's law on three electrodes and hold up to noise, so leads are swapped, mislabelled, "
    "inverted, or come from different recordings.")
FLAT_LEAD = define(
    "waveform.flat-lead", Severity.WARNING, Action.LABEL,
    "A lead's peak-to-peak amplitude is below 20 µV over the whole record: no ECG has a QRS that small "
    "(normal limb-lead QRS >= 500 µV; low voltage is < 500 µV), so the electrode was off or the channel "
    "is empty.")
SATURATED_LEAD = define(
    "waveform.saturated-lead", Severity.WARNING, Action.LABEL,
    "More than 1 % of a lead's samples sit at the limits of the sample type (e.g. -32768 or 32767 for SS): "
    "the amplifier or converter clipped, and amplitudes and morphology are unreliable.")
NOISE_LEAD = define(
    "waveform.noise-lead", Severity.WARNING, Action.LABEL,
    "A lead's sample-to-sample differences are as large as the signal itself (RMS of the first difference "
    "above 0.8 of the RMS, 1.41 for white noise, below 0.3 for ECG sampled at 200 Hz or more): the lead "
    "holds noise, not an ECG.")
HEART_RATE = define(
    "waveform.heart-rate", Severity.WARNING, Action.LABEL,
    "The heart rate from the R peaks of a rhythm strip is outside 20-300 beats/min, which no living "
    "patient's ECG shows for the length of a recording: most often a wrong SamplingFrequency (003A,001A).")
RHYTHM_IRREGULAR = define(
    "waveform.rhythm-irregular", Severity.INFO, Action.REPORT,
    "RR intervals vary with a coefficient of variation above 0.15 (sinus arrhythmia stays below about "
    "0.1; atrial fibrillation and frequent ectopy above): clinical information, not a data error.")

# SOP Class UID -> (least, greatest) SamplingFrequency in Hz (PS3.3 A.34.3.4.2, A.34.4.4.2, A.34.5.4.2,
# A.34.6.4.2, A.34.7.4.2).
FREQUENCY_LIMITS = {
    "1.2.840.10008.5.1.4.1.1.9.1.1": (200.0, 1000.0),   # 12-lead ECG
    "1.2.840.10008.5.1.4.1.1.9.1.2": (200.0, 1000.0),   # General ECG
    "1.2.840.10008.5.1.4.1.1.9.1.3": (50.0, 1000.0),    # Ambulatory ECG
    "1.2.840.10008.5.1.4.1.1.9.2.1": (0.0, 400.0),      # Hemodynamic
    "1.2.840.10008.5.1.4.1.1.9.3.1": (200.0, 20000.0),  # Basic Cardiac Electrophysiology
}
_ECG_CLASSES = {"1.2.840.10008.5.1.4.1.1.9.1.1", "1.2.840.10008.5.1.4.1.1.9.1.2", "1.2.840.10008.5.1.4.1.1.9.1.3"}

# Limb leads by code, SCPECG (PS3.16 CID 3001, "5.6.3-9-n") and MDC (ISO/IEEE 11073-10101, "2:n").
_LEADS = {"I": 1, "II": 2, "III": 61, "aVR": 62, "aVL": 63, "aVF": 64}
# (lead, [(lead, weight)]) that sum to zero: Einthoven, then Goldberger.
RELATIONS = [("II", [("II", 1.0), ("I", -1.0), ("III", -1.0)]),
             ("aVR", [("aVR", 1.0), ("I", 0.5), ("II", 0.5)]),
             ("aVL", [("aVL", 1.0), ("I", -1.0), ("II", 0.5)]),
             ("aVF", [("aVF", 1.0), ("II", -1.0), ("I", 0.5)])]

RESIDUAL_UV = 50.0         # µV: a few times the noise floor of a resting ECG (10-20 µV RMS)
RESIDUAL_FRACTION = 0.10   # of the RMS of the leads in the relation
FLAT_UV = 20.0
SATURATED_FRACTION = 0.01
NOISE_RATIO = 0.8
RATE_LIMITS_BPM = (20.0, 300.0)
RR_VARIATION = 0.15
QRS_WINDOW_S = 0.150       # Pan-Tompkins integration window
REFRACTORY_S = 0.200       # no two R peaks closer (ventricular refractory period)
THRESHOLD_FRACTION = 0.3   # of the 99th percentile of the integrated energy
MIN_RHYTHM_S = 3.0         # shorter groups (median beats) hold too few beats for a rhythm

_DTYPES = {("SS", 16): "i2", ("US", 16): "u2", ("SB", 8): "i1", ("UB", 8): "u1", ("SL", 32): "i4",
           ("UL", 32): "u4"}


@njit(cache=True, nogil=True)
def _channel_stats(samples, scale, offset, low, high):
    """Per channel of raw (samples, channels) data, in µV: (RMS about the mean, RMS of the first
    difference, peak-to-peak, count of raw samples at ``low`` or ``high``, the limits of the sample
    type). Two passes over the rows, each reading a row's channels together (interleaved as stored)."""
    n, c = samples.shape
    total = np.zeros(c)
    lo = np.full(c, np.inf)
    hi = np.full(c, -np.inf)
    for i in range(n):
        for j in range(c):
            v = samples[i, j] * scale[j] + offset[j]
            total[j] += v
            lo[j] = min(lo[j], v)
            hi[j] = max(hi[j], v)
    mean = total / n
    square = np.zeros(c)
    diff = np.zeros(c)
    rails = np.zeros(c, dtype=np.int64)
    for i in range(n):
        for j in range(c):
            v = samples[i, j] * scale[j] + offset[j]
            square[j] += (v - mean[j]) ** 2
            if i > 0:
                diff[j] += (v - (samples[i - 1, j] * scale[j] + offset[j])) ** 2
            if samples[i, j] <= low or samples[i, j] >= high:
                rails[j] += 1
    return np.sqrt(square / n), np.sqrt(diff / max(n - 1, 1)), hi - lo, rails


def channel_stats_reference(samples: np.ndarray, scale: np.ndarray, offset: np.ndarray, low: int, high: int):
    """What :func:`_channel_stats` computes, with numpy."""
    v = samples * scale + offset
    rails = np.count_nonzero((samples <= low) | (samples >= high), axis=0)
    return v.std(axis=0), np.sqrt((np.diff(v, axis=0) ** 2).mean(axis=0)), np.ptp(v, axis=0), rails


@njit(cache=True, nogil=True)
def _residual(samples, columns, weights, scale, offset):
    """(RMS of sum_k weights[k] x lead columns[k], mean of the RMS of the leads) in µV, one pass."""
    n = samples.shape[0]
    total = 0.0
    square = 0.0
    sums = np.zeros(columns.size)
    squares = np.zeros(columns.size)
    for i in range(n):
        r = 0.0
        for k in range(columns.size):
            j = columns[k]
            v = samples[i, j] * scale[j] + offset[j]
            r += weights[k] * v
            sums[k] += v
            squares[k] += v * v
        total += r
        square += r * r
    rms = np.sqrt(max(square / n - (total / n) ** 2, 0.0))
    lead = 0.0
    for k in range(columns.size):
        lead += np.sqrt(max(squares[k] / n - (sums[k] / n) ** 2, 0.0))
    return rms, lead / columns.size


def residual_reference(samples, columns, weights, scale, offset):
    """What :func:`_residual` computes, with numpy."""
    leads = samples[:, columns] * scale[columns] + offset[columns]
    return float((leads @ weights).std()), float(leads.std(axis=0).mean())


@njit(cache=True, nogil=True)
def _energy(lead, window):
    """Pan-Tompkins feature of one lead: squared slope (central difference) averaged over ``window``
    samples (trailing window), the same length as ``lead``."""
    n = lead.size
    out = np.zeros(n)
    running = 0.0
    square = np.zeros(n)
    for i in range(1, n - 1):
        d = (lead[i + 1] - lead[i - 1]) * 0.5
        square[i] = d * d
    for i in range(n):
        running += square[i]
        if i >= window:
            running -= square[i - window]
        out[i] = running / window
    return out


def energy_reference(lead: np.ndarray, window: int) -> np.ndarray:
    """What :func:`_energy` computes, with numpy."""
    square = np.zeros(lead.size)
    square[1:-1] = ((lead[2:] - lead[:-2]) * 0.5) ** 2
    return np.convolve(square, np.ones(window))[:lead.size] / window


@njit(cache=True, nogil=True)
def _peaks(energy, threshold, refractory):
    """Sample index of the maximum of each run of ``energy`` >= ``threshold``; a run starting within
    ``refractory`` samples of the last kept peak replaces it only when higher."""
    out = np.empty(energy.size, dtype=np.int64)
    count = 0
    i = 0
    n = energy.size
    while i < n:
        if energy[i] < threshold:
            i += 1
            continue
        best = i
        while i < n and energy[i] >= threshold:
            if energy[i] > energy[best]:
                best = i
            i += 1
        if count > 0 and best - out[count - 1] < refractory:
            if energy[best] > energy[out[count - 1]]:
                out[count - 1] = best
        else:
            out[count] = best
            count += 1
    return out[:count]


def peaks_reference(energy: np.ndarray, threshold: float, refractory: int) -> np.ndarray:
    """What :func:`_peaks` computes: runs found with numpy, merged in Python."""
    above = np.concatenate(([False], energy >= threshold, [False])).astype(np.int8)
    starts = np.flatnonzero(np.diff(above) == 1)
    ends = np.flatnonzero(np.diff(above) == -1)
    kept: list[int] = []
    for a, b in zip(starts, ends):
        best = int(a + np.argmax(energy[a:b]))
        if kept and best - kept[-1] < refractory:
            if energy[best] > energy[kept[-1]]:
                kept[-1] = best
        else:
            kept.append(best)
    return np.array(kept, dtype=np.int64)


def r_peaks(lead: np.ndarray, frequency: float) -> np.ndarray:
    """Sample indices of the R peaks (of their energy maxima, a constant lag behind) of one lead in µV."""
    lead = np.ascontiguousarray(lead, dtype=np.float64)
    energy = _energy(lead, max(1, int(round(QRS_WINDOW_S * frequency))))
    threshold = THRESHOLD_FRACTION * float(np.percentile(energy, 99))
    if threshold <= 0:
        return np.zeros(0, dtype=np.int64)
    return _peaks(energy, threshold, int(round(REFRACTORY_S * frequency)))


def _source(channel: pydicom.Dataset) -> pydicom.Dataset:
    return (channel.get("ChannelSourceSequence") or [pydicom.Dataset()])[0]


def _lead_name(channel: pydicom.Dataset) -> str | None:
    """The limb lead a channel records ("I", "aVF", ...) from its ChannelSourceSequence (003A,0208) code."""
    code = str(_source(channel).get("CodeValue", ""))
    for name, number in _LEADS.items():
        if code in (f"5.6.3-9-{number}", f"2:{number}"):
            return name
    return None


def _units_to_uv(channel: pydicom.Dataset) -> float:
    units = (channel.get("ChannelSensitivityUnitsSequence") or [None])[0]
    code = str(units.get("CodeValue", "uV")) if units is not None else "uV"
    return {"uV": 1.0, "mV": 1000.0, "V": 1e6}.get(code, 1.0)


def _decode(ds: pydicom.Dataset, group: pydicom.Dataset):
    """(raw samples (samples, channels), scale, offset to µV per channel), or a finding, or None when
    the encoding is not one analysed here (mu-law, A-law)."""
    channels, count = int(group.get("NumberOfWaveformChannels", 0)), int(group.get("NumberOfWaveformSamples", 0))
    bits = int(group.get("WaveformBitsAllocated", 0))
    data = group.get("WaveformData") or b""
    expected = channels * count * bits // 8
    if len(data) not in (expected, expected + expected % 2) or channels == 0 or count == 0:
        return DATA_LENGTH.finding(
            f"WaveformData holds {len(data)} bytes; {count} samples x {channels} channels x {bits} bits "
            f"need {expected}", 0x54001010)
    kind = _DTYPES.get((str(group.get("WaveformSampleInterpretation", "")), bits))
    if kind is None:
        return None
    order = "<" if ds.is_little_endian in (True, None) else ">"
    samples = np.frombuffer(data, dtype=order + kind, count=channels * count).reshape(count, channels)
    definitions = list(group.get("ChannelDefinitionSequence") or [])
    scale, offset = np.ones(channels), np.zeros(channels)
    for j, channel in enumerate(definitions[:channels]):
        factor = _units_to_uv(channel)
        scale[j] = float(channel.get("ChannelSensitivity") or 1) * float(
            channel.get("ChannelSensitivityCorrectionFactor") or 1) * factor
        offset[j] = float(channel.get("ChannelBaseline") or 0) * factor
    return samples, scale, offset


def _check_leads(label: str, samples, scale, offset, names: list[str | None], titles: list[str]) -> list[Finding]:
    limits = np.iinfo(samples.dtype)
    rms, diff, span, rails = _channel_stats(samples, scale, offset, limits.min, limits.max)
    findings = []
    for j in range(samples.shape[1]):
        lead = titles[j]
        if span[j] < FLAT_UV:
            findings.append(FLAT_LEAD.finding(f"{label}, {lead}: peak-to-peak {span[j]:.1f} µV", 0x54001010,
                                              channel=j + 1))
            continue
        if rails[j] > SATURATED_FRACTION * samples.shape[0]:
            findings.append(SATURATED_LEAD.finding(
                f"{label}, {lead}: {rails[j]} of {samples.shape[0]} samples at its extreme", 0x54001010,
                channel=j + 1))
        if diff[j] > NOISE_RATIO * rms[j]:
            findings.append(NOISE_LEAD.finding(
                f"{label}, {lead}: first-difference RMS {diff[j] / rms[j]:.2f} of the RMS", 0x54001010,
                channel=j + 1))
    index = {n: j for j, n in enumerate(names) if n is not None}
    for lead, terms in RELATIONS:
        if not all(n in index for n, _ in terms):
            continue
        columns = np.array([index[n] for n, _ in terms], dtype=np.int64)
        weights = np.array([w for _, w in terms])
        residual, size = _residual(samples, columns, weights, scale, offset)
        if residual > max(RESIDUAL_UV, RESIDUAL_FRACTION * size):
            rule = "Einthoven (II = I + III)" if lead == "II" else f"Goldberger ({lead})"
            findings.append(LEAD_RELATION.finding(
                f"{label}: {rule} residual {residual:.0f} µV RMS for leads of {size:.0f} µV RMS", 0x003A0208,
                leads=[n for n, _ in terms]))
    return findings


def _check_rhythm(label: str, samples, scale, offset, names: list[str | None], frequency: float) -> list[Finding]:
    if samples.shape[0] < MIN_RHYTHM_S * frequency:
        return []
    j = names.index("II") if "II" in names else 0
    peaks = r_peaks(samples[:, j] * scale[j] + offset[j], frequency)
    if peaks.size < 3:
        return []
    rr = np.diff(peaks) / frequency
    rate = 60.0 / float(np.median(rr))
    findings = []
    if not RATE_LIMITS_BPM[0] <= rate <= RATE_LIMITS_BPM[1]:
        findings.append(HEART_RATE.finding(f"{label}: heart rate {rate:.0f}/min from {peaks.size} R peaks",
                                           0x003A001A, heart_rate=round(rate, 1)))
    variation = float(rr.std() / rr.mean())
    if variation > RR_VARIATION:
        findings.append(RHYTHM_IRREGULAR.finding(
            f"{label}: RR intervals vary by {variation:.2f} (coefficient of variation), rate {rate:.0f}/min",
            heart_rate=round(rate, 1), rr_variation=round(variation, 3)))
    return findings


def check_waveform(ds: pydicom.Dataset) -> list[Finding]:
    """Findings of every multiplex group of WaveformSequence (5400,0100); nothing for objects without it.
    Lead relations, lead quality and rhythm are checked on the ECG IODs' groups."""
    findings: list[Finding] = []
    sop_class = str(ds.get("SOPClassUID", ""))
    for n, group in enumerate(ds.get("WaveformSequence") or [], start=1):
        label = f"group {n} ({str(group.get('MultiplexGroupLabel', '')).strip() or 'unlabelled'})"
        frequency = float(group.get("SamplingFrequency") or 0)
        low, high = FREQUENCY_LIMITS.get(sop_class, (0.0, float("inf")))
        if not low <= frequency <= high or frequency <= 0:
            findings.append(SAMPLING_FREQUENCY.finding(
                f"{label}: SamplingFrequency {frequency:g} Hz outside {low:g}-{high:g} Hz", 0x003A001A))
        decoded = _decode(ds, group)
        if isinstance(decoded, Finding):
            findings.append(decoded)
        if not isinstance(decoded, tuple) or sop_class not in _ECG_CLASSES:
            continue
        samples, scale, offset = decoded
        definitions = list(group.get("ChannelDefinitionSequence") or [])[:samples.shape[1]]
        definitions += [pydicom.Dataset()] * (samples.shape[1] - len(definitions))
        names = [_lead_name(c) for c in definitions]
        titles = [str(_source(c).get("CodeMeaning", "")) or f"channel {j + 1}" for j, c in enumerate(definitions)]
        findings += _check_leads(label, samples, scale, offset, names, titles)
        if frequency > 0:
            findings += _check_rhythm(label, samples, scale, offset, names, frequency)
    return findings


# WaveformSequence (5400,0100) as its tag is written in little and big endian transfer syntaxes.
_WAVEFORM_TAGS = (b"\x00\x54\x00\x01", b"\x54\x00\x01\x00")


def check_waveform_bytes(data: bytes) -> list[Finding]:
    """:func:`check_waveform` on a Part 10 file; images and documents, which hold no WaveformSequence
    tag bytes, are not parsed. Unparseable files give nothing here (instance.unreadable reports them)."""
    if not any(tag in data for tag in _WAVEFORM_TAGS):
        return []
    try:
        ds = pydicom.dcmread(BytesIO(data), force=True)
    except (InvalidDicomError, ValueError, EOFError, OSError, KeyError, TypeError):
        return []
    return check_waveform(ds) if "WaveformSequence" in ds else []


def warm_up() -> None:
    """Compile, or load from numba's cache, the waveform kernels for the sample types analysed."""
    for kind in sorted(set(_DTYPES.values())):
        samples = np.zeros((4, 3), dtype=kind)
        ones, zeros = np.ones(3), np.zeros(3)
        _channel_stats(samples, ones, zeros, np.iinfo(kind).min, np.iinfo(kind).max)
        _residual(samples, np.arange(3, dtype=np.int64), ones, ones, zeros)
    r_peaks(np.zeros(8), 1000.0)
