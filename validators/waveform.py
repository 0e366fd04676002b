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
from .series.continuity import accumulator

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
UNREADABLE_GROUP = define(
    "waveform.unreadable", Severity.ERROR, Action.LABEL,
    "An attribute of a multiplex group of the Waveform Sequence (5400,0100) cannot be read (a malformed "
    "value, length or VR): the group's samples, leads and rhythm were not checked, and viewers may fail "
    "on it too.")
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


# Interleaved values per chunk in :func:`_lead_stats`: the chunk (2 KiB of int16) and its per-position
# accumulators (about 60 KiB) stay in the L1/L2 caches while a chunk is processed.
_CHUNK = 1024


@njit(cache=True, nogil=True, fastmath={"reassoc", "contract"})
def _lead_stats(samples, scale, low, high, columns, weights):
    """Of raw C-contiguous (samples, channels) data in one pass: per channel, in µV, (RMS about the mean,
    RMS of the first difference, peak-to-peak, count of raw samples at ``low`` or ``high``, the limits
    of the sample type), and per relation q the RMS about the mean of sum_k weights[q, k] x lead
    columns[q, k] (three leads each, µV).

    The samples are read once as stored, in chunks of whole rows. In a chunk, position p always holds
    channel p % channels, so every position has its own accumulators: the loop over a chunk reads
    contiguous memory, its iterations are independent and LLVM vectorises it; positions fold into
    channels at the end. Values are taken about the first row (sums exact for integer samples, no
    cancellation under a large baseline), converted to float once per chunk; the relations read the
    converted chunk back, three strided leads each, while it is in L1 cache. ChannelSensitivity
    (``scale``) multiplies the results; ChannelBaseline, an offset, changes none of them. fastmath's
    reassociation lets LLVM vectorise the relations' sums (their order of addition changes, not what
    they add)."""
    n, c = samples.shape
    flat = samples.reshape(-1)
    period = max(1, _CHUNK // c) * c
    first = np.empty(period)
    lows = np.empty(period, samples.dtype)
    highs = np.empty(period, samples.dtype)
    for p in range(period):
        first[p] = flat[p % c]
        lows[p] = highs[p] = flat[p % c]
    sums, squares, steps = np.zeros(period), np.zeros(period), np.zeros(period)
    rails = np.zeros(period, np.int64)
    m = columns.shape[0]
    coefficients = np.empty((m, 3))
    for q in range(m):
        for k in range(3):
            coefficients[q, k] = weights[q, k] * scale[columns[q, k]]
    relation_sums, relation_squares = np.zeros(m), np.zeros(m)
    shifted = np.empty(period)
    # From row 1 on, so that every value has its predecessor one row back; row 0 adds nothing to sums
    # taken about itself, and its extremes and rails are counted at the fold.
    for start in range(c, n * c, period):
        size = min(period, n * c - start)
        chunk = flat[start:start + size]
        before = flat[start - c:start - c + size]
        for p in range(size):
            x = chunk[p]
            v = np.float64(x) - first[p]
            shifted[p] = v
            sums[p] += v
            squares[p] += v * v
            step = np.float64(x) - np.float64(before[p])
            steps[p] += step * step
            lows[p] = min(lows[p], x)
            highs[p] = max(highs[p], x)
            rails[p] += (x <= low) | (x >= high)
        for q in range(m):
            # the three leads as strided views: indices from 0, which numba need not wrap around
            x0, x1, x2 = (shifted[columns[q, 0]:size:c], shifted[columns[q, 1]:size:c],
                          shifted[columns[q, 2]:size:c])
            a0, a1, a2 = coefficients[q, 0], coefficients[q, 1], coefficients[q, 2]
            total = square = 0.0
            for i in range(size // c):
                r = a0 * x0[i] + a1 * x1[i] + a2 * x2[i]
                total += r
                square += r * r
            relation_sums[q] += total
            relation_squares[q] += square
    total, square, step = np.zeros(c), np.zeros(c), np.zeros(c)
    low_of, high_of = flat[:c].copy(), flat[:c].copy()
    count = np.zeros(c, np.int64)
    for j in range(c):
        count[j] = (flat[j] <= low) | (flat[j] >= high)
    for p in range(period):
        j = p % c
        total[j] += sums[p]
        square[j] += squares[p]
        step[j] += steps[p]
        count[j] += rails[p]
        low_of[j] = min(low_of[j], lows[p])
        high_of[j] = max(high_of[j], highs[p])
    gain = np.abs(scale)
    rms = gain * np.sqrt(np.maximum(square / n - (total / n) ** 2, 0.0))
    difference = gain * np.sqrt(step / max(n - 1, 1))
    span = gain * (high_of.astype(np.float64) - low_of)
    residual = np.sqrt(np.maximum(relation_squares / n - (relation_sums / n) ** 2, 0.0))
    return rms, difference, span, count, residual


def lead_stats_reference(samples: np.ndarray, scale: np.ndarray, offset: np.ndarray, low: int, high: int,
                         columns: np.ndarray, weights: np.ndarray):
    """What :func:`_lead_stats` computes, with numpy on the samples in µV."""
    v = samples * scale + offset
    rails = np.count_nonzero((samples <= low) | (samples >= high), axis=0)
    residual = np.array([(v[:, c] @ w).std() for c, w in zip(columns, weights)])
    return v.std(axis=0), np.sqrt((np.diff(v, axis=0) ** 2).mean(axis=0)), np.ptp(v, axis=0), rails, residual


@njit(cache=True, nogil=True)
def _energy(samples, scale, window, zero):
    """Pan-Tompkins feature of one lead, ``samples`` x ``scale`` (µV; a baseline changes no slope):
    squared slope (central difference) averaged over ``window`` samples (trailing window), the same
    length as the lead. The squared differences and the running sum have the type of ``zero``: int64
    for integer samples of up to 16 bits, where the sum is exact and its dependency chain one integer
    addition per sample, float64 otherwise; ``scale`` is applied to the result."""
    n = samples.size
    square = np.full(n, zero)
    if n > 2:
        ahead, behind, middle = samples[2:], samples[:-2], square[1:-1]
        for k in range(n - 2):
            d = (zero + ahead[k]) - behind[k]
            middle[k] = d * d
    factor = (0.5 * scale) ** 2 / window
    out = np.empty(n)
    running = zero
    head = min(window, n)
    for k in range(head):
        running += square[k]
        out[k] = running * factor
    entering, leaving, tail = square[head:], square[:n - head], out[head:]
    for k in range(n - head):
        running += entering[k] - leaving[k]
        tail[k] = running * factor
    return out


def energy_reference(lead: np.ndarray, window: int) -> np.ndarray:
    """What :func:`_energy` computes, with numpy on the lead in µV (a cumulative sum, differenced
    ``window`` apart)."""
    square = np.zeros(lead.size)
    square[1:-1] = ((lead[2:] - lead[:-2]) * 0.5) ** 2
    total = np.cumsum(square)
    total[window:] -= total[:-window].copy()
    return total / window


# Values that the scans below test at once, with one count that LLVM vectorises, before looking at
# them one by one; and the stride of the sample that bounds :func:`_upper_quantile`'s candidates.
_BLOCK = 32
_STRIDE = 8


@njit(cache=True, nogil=True)
def _reaching(values, cutoff):
    """How many of ``values`` are >= ``cutoff`` (a loop without branches: vectorised)."""
    count = 0
    for i in range(values.size):
        count += values[i] >= cutoff
    return count


@njit(cache=True, nogil=True)
def _sift_down(heap, i):
    """Restore the min-heap order of ``heap`` below position ``i``."""
    n = heap.size
    while True:
        child = 2 * i + 1
        if child >= n:
            return
        if child + 1 < n and heap[child + 1] < heap[child]:
            child += 1
        if heap[i] <= heap[child]:
            return
        heap[i], heap[child] = heap[child], heap[i]
        i = child


@njit(cache=True, nogil=True)
def _largest(values, m, cutoff):
    """The ``m`` largest of the finite ``values`` that are >= ``cutoff``, as a min-heap (-inf where
    fewer). Blocks with no value above both the cutoff and the heap's least are passed over."""
    heap = np.full(m, -np.inf)
    n = values.size
    for start in range(0, n, _BLOCK):
        stop = min(start + _BLOCK, n)
        if _reaching(values[start:stop], max(cutoff, heap[0])) == 0:
            continue
        for i in range(start, stop):
            if values[i] >= cutoff and values[i] > heap[0]:
                heap[0] = values[i]
                _sift_down(heap, 0)
    return heap


@njit(cache=True, nogil=True)
def _upper_quantile(values, fraction):
    """numpy's quantile (method "linear") of the finite ``values`` for ``fraction`` >= 0.5: it
    interpolates between the two least of the m = n - floor((n - 1) x fraction) largest values (1 % of
    them for the 99th percentile). These are found in a heap, over only the values above a bound: the
    value of rank 2m/8 of every 8th value, if (one vectorised count) at least m values reach it."""
    n = values.size
    index = (n - 1) * fraction
    below = n - 1 if index >= n - 1 else int(np.floor(index))
    m = n - below
    cutoff = -np.inf
    sample = values[::_STRIDE]
    rank = 2 * (m // _STRIDE) + 2
    if rank < sample.size:
        bound = _largest(sample, rank, -np.inf)[0]
        if _reaching(values, bound) >= m:
            cutoff = bound
    heap = _largest(values, m, cutoff)
    a = heap[0]
    b = a if m < 2 else (heap[1] if m < 3 else min(heap[1], heap[2]))
    t = index - below if below < n - 1 else 0.0
    # numpy's _lerp, which interpolates from the nearer end
    return b - (b - a) * (1 - t) if t >= 0.5 else a + (b - a) * t


def upper_quantile_reference(values: np.ndarray, fraction: float) -> float:
    """What :func:`_upper_quantile` computes: numpy's quantile."""
    return float(np.quantile(values, fraction))


@njit(cache=True, nogil=True)
def _peaks(energy, threshold, refractory):
    """Sample index of the maximum of each run of ``energy`` >= ``threshold``; a run starting within
    ``refractory`` (>= 1) samples of the last kept peak replaces it only when higher. Kept peaks are at
    least ``refractory`` apart, which bounds their number. Between runs, blocks all below the threshold
    (most of a record) are passed over after one count."""
    n = energy.size
    out = np.empty(n // refractory + 1, dtype=np.int64)
    count = 0
    i = 0
    while True:
        while i + _BLOCK <= n and _reaching(energy[i:i + _BLOCK], threshold) == 0:
            i += _BLOCK
        while i < n and energy[i] < threshold:
            i += 1
        if i >= n:
            return out[:count]
        best, top = i, energy[i]
        while i < n and energy[i] >= threshold:
            if energy[i] > top:
                best, top = i, energy[i]
            i += 1
        if count > 0 and best - out[count - 1] < refractory:
            if top > energy[out[count - 1]]:
                out[count - 1] = best
        else:
            out[count] = best
            count += 1


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


@njit(cache=True, nogil=True)
def _r_peaks(samples, scale, window, refractory, zero):
    """:func:`_energy`, its threshold (THRESHOLD_FRACTION of the 99th percentile) and :func:`_peaks` in
    one call; no peaks when the threshold is not positive (a flat lead)."""
    energy = _energy(samples, scale, window, zero)
    threshold = THRESHOLD_FRACTION * _upper_quantile(energy, 0.99)
    if not threshold > 0:
        return np.zeros(0, dtype=np.int64)
    return _peaks(energy, threshold, refractory)


def r_peaks_reference(samples: np.ndarray, scale: float, offset: float, window: int, refractory: int) -> np.ndarray:
    """What :func:`_r_peaks` computes, from the numpy references on the lead in µV."""
    energy = energy_reference(samples * scale + offset, window)
    threshold = THRESHOLD_FRACTION * float(np.percentile(energy, 99))
    if not threshold > 0:
        return np.zeros(0, dtype=np.int64)
    return peaks_reference(energy, threshold, refractory)


def r_peaks(samples: np.ndarray, scale: float, frequency: float) -> np.ndarray:
    """Sample indices of the R peaks (of their energy maxima, a constant lag behind) of one lead, raw
    ``samples`` x ``scale`` µV, sampled at ``frequency`` Hz."""
    samples = np.ascontiguousarray(samples)
    return _r_peaks(samples, float(scale), max(1, int(round(QRS_WINDOW_S * frequency))),
                    max(1, int(round(REFRACTORY_S * frequency))), accumulator(samples))


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
    """(raw samples (samples, channels), scale to µV per channel), or a finding, or None when the
    encoding is not one analysed here (mu-law, A-law). ChannelBaseline (003A,0213), an offset, is not
    read: no check depends on it."""
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
    # numba reads native byte order only: big endian samples are swapped (a copy)
    samples = np.frombuffer(data, dtype=order + kind, count=channels * count).astype(kind, copy=False)
    samples = samples.reshape(count, channels)
    definitions = list(group.get("ChannelDefinitionSequence") or [])
    scale = np.ones(channels)
    for j, channel in enumerate(definitions[:channels]):
        scale[j] = float(channel.get("ChannelSensitivity") or 1) * float(
            channel.get("ChannelSensitivityCorrectionFactor") or 1) * _units_to_uv(channel)
    return samples, scale


def _check_leads(label: str, samples, scale, names: list[str | None], titles: list[str]) -> list[Finding]:
    limits = np.iinfo(samples.dtype)
    samples = np.ascontiguousarray(samples)     # the kernel reads the rows as one flat array
    index = {n: j for j, n in enumerate(names) if n is not None}
    relations = [(lead, terms) for lead, terms in RELATIONS if all(n in index for n, _ in terms)]
    columns = np.array([[index[n] for n, _ in terms] for _, terms in relations], dtype=np.int64).reshape(-1, 3)
    weights = np.array([[w for _, w in terms] for _, terms in relations], dtype=np.float64).reshape(-1, 3)
    rms, diff, span, rails, residuals = _lead_stats(samples, scale, limits.min, limits.max, columns, weights)
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
    for (lead, terms), leads, residual in zip(relations, columns, residuals):
        size = float(rms[leads].mean())
        if residual > max(RESIDUAL_UV, RESIDUAL_FRACTION * size):
            rule = "Einthoven (II = I + III)" if lead == "II" else f"Goldberger ({lead})"
            findings.append(LEAD_RELATION.finding(
                f"{label}: {rule} residual {residual:.0f} µV RMS for leads of {size:.0f} µV RMS", 0x003A0208,
                leads=[n for n, _ in terms]))
    return findings


def _check_rhythm(label: str, samples, scale, names: list[str | None], frequency: float) -> list[Finding]:
    if samples.shape[0] < MIN_RHYTHM_S * frequency:
        return []
    j = names.index("II") if "II" in names else 0
    peaks = r_peaks(samples[:, j], scale[j], frequency)
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
        try:
            findings += _check_group(ds, sop_class, n, group)
        except Exception as e:  # pydicom raises many types on malformed values
            findings.append(UNREADABLE_GROUP.finding(f"group {n}: {type(e).__name__}: {e}", 0x54000100))
    return findings


def _check_group(ds: pydicom.Dataset, sop_class: str, n: int, group: pydicom.Dataset) -> list[Finding]:
    """Findings of multiplex group ``n`` (1-based) of the Waveform Sequence (5400,0100)."""
    findings: list[Finding] = []
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
        return findings
    samples, scale = decoded
    definitions = list(group.get("ChannelDefinitionSequence") or [])[:samples.shape[1]]
    definitions += [pydicom.Dataset()] * (samples.shape[1] - len(definitions))
    names = [_lead_name(c) for c in definitions]
    titles = [str(_source(c).get("CodeMeaning", "")) or f"channel {j + 1}" for j, c in enumerate(definitions)]
    findings += _check_leads(label, samples, scale, names, titles)
    if frequency > 0:
        findings += _check_rhythm(label, samples, scale, names, frequency)
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
    """Compile, or load from numba's cache, the waveform kernels for the sample types analysed, on
    read-only arrays as :func:`_decode` gives them (numba compiles those apart from writable ones)."""
    for kind in sorted(set(_DTYPES.values())):
        for channels in (3, 1):      # a column of several channels is copied, a single channel is not
            samples = np.frombuffer(bytes(4 * channels * np.dtype(kind).itemsize), kind).reshape(4, channels)
            _lead_stats(samples, np.ones(channels), np.iinfo(kind).min, np.iinfo(kind).max,
                        np.zeros((1, 3), dtype=np.int64), np.ones((1, 3)))
            r_peaks(samples[:, 0], 1.0, 1000.0)
