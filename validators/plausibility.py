"""Physical plausibility of CT, MR, projection X-ray and ultrasound acquisition attributes.

Each rule's description names its source. Attributes are Type 3 or 2 mostly: absent or empty means
not judged; only a value that physics or the equipment standards exclude gives a finding. Bounds are
wide on purpose (research and pre-clinical systems included): what they catch is a wrong unit or a
wrong field, not an unusual protocol. Nuclear medicine and PET are :mod:`validators.nuclear`'s.
"""

from __future__ import annotations

from pydicom.dataset import Dataset

from .elements import first_number, first_text, numbers, text_values
from .findings import Action, Finding, Severity
from .rules import Rule, define

KVP = define(
    "plausibility.kvp", Severity.WARNING, Action.LABEL,
    "KVP (0018,0060), the peak X-ray tube voltage in kV, outside what X-ray tubes deliver for the modality: "
    "CT 60-150 kV (IEC 60601-2-44 scanners offer 70-150), mammography 20-50 kV (Mo/Rh/W anodes, "
    "IEC 60601-2-45), other projection X-ray 20-150 kV (IEC 60601-2-54). A value in volts or a copied "
    "field.")
TUBE = define(
    "plausibility.tube-current", Severity.WARNING, Action.LABEL,
    "XRayTubeCurrent (0018,1151) in mA negative or, in CT, above 2000 mA (the largest CT generators, "
    "about 120 kW, give 1300 mA); Exposure (0018,1152) in mAs or ExposureTime (0018,1150) in ms negative "
    "(PS3.3 C.8.7.2, C.8.2.1).")
SLICE = define(
    "plausibility.slice-thickness", Severity.WARNING, Action.LABEL,
    "SliceThickness (0018,0050), nominal thickness in mm (PS3.3 C.7.6.2), is zero or negative in a "
    "CT, MR, PET or NM image: a slice has a thickness.")
CT_RESCALE = define(
    "plausibility.ct-rescale", Severity.WARNING, Action.LABEL,
    "CT pixel values do not map to Hounsfield Units: RescaleSlope (0028,1053) not positive, or the "
    "stored range (BitsStored, PixelRepresentation) rescaled by RescaleIntercept (0028,1052) cannot "
    "reach air (-1000 HU) or water (0 HU) (PS3.3 C.8.2.1.1.x: CT values are in HU; air -1000, water 0 by "
    "definition of the HU). A missing or zero intercept shows air as water.")
RECON = define(
    "plausibility.ct-reconstruction-diameter", Severity.WARNING, Action.REPORT,
    "ReconstructionDiameter (0018,1100) in mm not in (0, 1000] (CT gantry bores are 700-900 mm), or "
    "not within 10% of Columns x PixelSpacing (0028,0030) (the reconstructed field of view is the "
    "image, PS3.3 C.8.2.1). Reported only: resampled images keep the original diameter.")
FIELD = define(
    "plausibility.mr-field-strength", Severity.WARNING, Action.LABEL,
    "MagneticFieldStrength (0018,0087), in tesla, not in (0, 21.2]: 0.0065 T low-field to 11.7 T human "
    "(Iseult) and 21.1 T pre-clinical (NHMFL) magnets; 15000 is 1.5 T written in gauss.")
MR_TIMING = define(
    "plausibility.mr-timing", Severity.WARNING, Action.LABEL,
    "EchoTime (0018,0081) not below RepetitionTime (0018,0080) (the echo is read inside the repetition "
    "it belongs to), a negative TE, TR or InversionTime (0018,0082) in ms, or FlipAngle (0018,1314) "
    "outside 0-180 degrees (PS3.3 C.8.3.1; Haacke et al., Magnetic Resonance Imaging, 1999, ch. 8, 18).")
XRAY_SPACING = define(
    "plausibility.xray-pixel-spacing", Severity.WARNING, Action.LABEL,
    "In projection radiography PixelSpacing (0028,0030), at the patient, exceeds ImagerPixelSpacing "
    "(0018,1164), at the detector, or disagrees with EstimatedRadiographicMagnificationFactor (0018,1114) "
    "by more than 2%: the beam diverges from the focal spot, so objects are magnified, never reduced "
    "(PS3.3 10.7.1.3, C.8.11.4.1.1). Measurements made with such a spacing are wrong.")
US_REGION = define(
    "plausibility.us-region", Severity.WARNING, Action.LABEL,
    "An ultrasound region of SequenceOfUltrasoundRegions (0018,6011) lies outside the image or is "
    "inverted (RegionLocationMinX0/MinY0/MaxX1/MaxY1, PS3.3 C.8.5.5.1), or a spatial region (physical "
    "units cm, 0003H) has a zero PhysicalDeltaX/Y (0018,602C/602E): calipers then measure nothing.")

_PROJECTION = {"CR", "DX", "MG", "IO", "RF", "XA", "PX"}
_KVP_RANGE = {"CT": (60.0, 150.0), "MG": (20.0, 50.0)}
_KVP_XRAY = (20.0, 150.0)
_SLICED = {"CT", "MR", "PT", "NM"}
_CT_IMAGE = "1.2.840.10008.5.1.4.1.1.2"


def check_plausibility(ds: Dataset) -> list[Finding]:
    """Findings of the CT, MR, X-ray and US ``plausibility.*`` rules for one data set."""
    modality = first_text(ds, 0x00080060) or ""
    out: list[Finding] = []
    if modality == "CT" or modality in _PROJECTION:
        out += _xray(ds, modality)
    if modality in _SLICED:
        _below(out, SLICE, ds, 0x00180050, "SliceThickness", 0.0, inclusive=True)
    if modality == "CT" and first_text(ds, 0x00080016) == _CT_IMAGE and 0x7FE00010 in ds:
        # CT Image Storage only: enhanced CT rescales and spaces per frame, in functional groups.
        out += _ct_rescale(ds) + _recon(ds)
    elif modality == "MR":
        out += _mr(ds)
    elif modality == "US":
        out += _us(ds)
    if modality in _PROJECTION:
        out += _xray_spacing(ds)
    return out


def _below(out: list[Finding], rule: Rule, ds: Dataset, tag: int, name: str, limit: float,
           inclusive: bool = False) -> float | None:
    """Append a finding when the attribute is below ``limit`` (or equal, if inclusive); its value."""
    value = first_number(ds, tag)
    if value is not None and (value < limit or inclusive and value == limit):
        out.append(rule.finding(f"{name} {value:g} is {'not above' if inclusive else 'below'} {limit:g}", tag,
                                value=value))
    return value


def _xray(ds: Dataset, modality: str) -> list[Finding]:
    out: list[Finding] = []
    kvp = first_number(ds, 0x00180060)
    low, high = _KVP_RANGE.get(modality, _KVP_XRAY)
    # 0 is what devices write for "not recorded" in this Type 2/3 attribute, not a measured voltage.
    if kvp and not low <= kvp <= high:
        out.append(KVP.finding(f"KVP {kvp:g} kV outside {low:g}-{high:g} kV for {modality}", 0x00180060, value=kvp))
    current = _below(out, TUBE, ds, 0x00181151, "XRayTubeCurrent (mA)", 0.0)
    if modality == "CT" and current is not None and current > 2000:
        out.append(TUBE.finding(f"XRayTubeCurrent {current:g} mA above 2000 mA", 0x00181151, value=current))
    _below(out, TUBE, ds, 0x00181152, "Exposure (mAs)", 0.0)
    _below(out, TUBE, ds, 0x00181150, "ExposureTime (ms)", 0.0)
    return out


def _ct_rescale(ds: Dataset) -> list[Finding]:
    slope, intercept = first_number(ds, 0x00281053), first_number(ds, 0x00281052)
    stored, signed = first_number(ds, 0x00280101), first_number(ds, 0x00280103)
    if slope is None or intercept is None or stored is None or signed is None or not 1 <= stored <= 32:
        return []
    if slope <= 0:
        return [CT_RESCALE.finding(f"RescaleSlope {slope:g} is not positive", 0x00281053, value=slope)]
    bits = int(stored)
    low, high = (-(1 << (bits - 1)), (1 << (bits - 1)) - 1) if signed == 1 else (0, (1 << bits) - 1)
    lowest, highest = intercept + slope * low, intercept + slope * high
    if lowest > -1000 or highest < 0:
        return [CT_RESCALE.finding(f"stored values map to {lowest:g}..{highest:g} HU (slope {slope:g}, intercept "
                                   f"{intercept:g}), which misses air (-1000 HU) or water (0 HU)", 0x00281052,
                                   lowest=lowest, highest=highest)]
    return []


def _recon(ds: Dataset) -> list[Finding]:
    diameter = first_number(ds, 0x00181100)
    if diameter is None:
        return []
    if not 0 < diameter <= 1000:
        return [RECON.finding(f"ReconstructionDiameter {diameter:g} mm not in (0, 1000]", 0x00181100,
                              value=diameter)]
    spacing, columns = _pair(ds, 0x00280030), first_number(ds, 0x00280011)
    if spacing is None or not columns:
        return []
    field = spacing[1] * columns
    if abs(field - diameter) > 0.1 * diameter:
        return [RECON.finding(f"ReconstructionDiameter {diameter:g} mm but Columns x PixelSpacing = {field:g} mm",
                              0x00181100, value=diameter, field=field)]
    return []


def _pair(ds: Dataset, tag: int) -> tuple[float, float] | None:
    """Row and column spacing of a PixelSpacing-like DS pair, both positive, or None."""
    if tag not in ds:
        return None
    try:
        values = [float(v) for v in text_values(ds.get_item(tag))]
    except ValueError:
        return None
    return (values[0], values[1]) if len(values) == 2 and min(values) > 0 else None


def _mr(ds: Dataset) -> list[Finding]:
    out: list[Finding] = []
    field = first_number(ds, 0x00180087)
    if field is not None and not 0 < field <= 21.2:
        out.append(FIELD.finding(f"MagneticFieldStrength {field:g} T not in (0, 21.2]", 0x00180087, value=field))
    tr = _below(out, MR_TIMING, ds, 0x00180080, "RepetitionTime (ms)", 0.0)
    te = _below(out, MR_TIMING, ds, 0x00180081, "EchoTime (ms)", 0.0)
    _below(out, MR_TIMING, ds, 0x00180082, "InversionTime (ms)", 0.0)
    if tr is not None and te is not None and tr > 0 and te >= tr:
        out.append(MR_TIMING.finding(f"EchoTime {te:g} ms is not below RepetitionTime {tr:g} ms", 0x00180081,
                                     value=te))
    flip = first_number(ds, 0x00181314)
    if flip is not None and not 0 <= flip <= 180:
        out.append(MR_TIMING.finding(f"FlipAngle {flip:g} degrees outside 0-180", 0x00181314, value=flip))
    return out


def _xray_spacing(ds: Dataset) -> list[Finding]:
    patient, detector = _pair(ds, 0x00280030), _pair(ds, 0x00181164)
    if patient is None or detector is None:
        return []
    factor = first_number(ds, 0x00181114)
    for p, d in zip(patient, detector):
        if p > d * 1.02:
            return [XRAY_SPACING.finding(f"PixelSpacing {p:g} mm exceeds ImagerPixelSpacing {d:g} mm",
                                         0x00280030)]
        if factor is not None and factor >= 1 and abs(p * factor - d) > 0.02 * d:
            return [XRAY_SPACING.finding(f"PixelSpacing {p:g} mm x magnification {factor:g} is not "
                                         f"ImagerPixelSpacing {d:g} mm", 0x00280030)]
    return []


def _us(ds: Dataset) -> list[Finding]:
    if 0x00186011 not in ds:
        return []
    rows, columns = first_number(ds, 0x00280010), first_number(ds, 0x00280011)
    try:
        regions = ds[0x00186011].value
    except Exception:  # an unparseable sequence is instance.unreadable's
        return []
    out: list[Finding] = []
    for i, region in enumerate(regions):
        corners = [_one(region, t) for t in (0x00186018, 0x0018601A, 0x0018601C, 0x0018601E)]
        if None not in corners and rows and columns:
            x0, y0, x1, y1 = corners
            # Max X1/Y1 equal to Columns/Rows is tolerated: devices count the edge inclusively.
            if not (x0 <= x1 <= columns and y0 <= y1 <= rows):
                out.append(US_REGION.finding(f"region {i}: ({x0},{y0})-({x1},{y1}) not inside {columns}x{rows}",
                                             0x00186011, region=i))
        for unit_tag, delta_tag, axis in ((0x00186024, 0x0018602C, "X"), (0x00186026, 0x0018602E, "Y")):
            if _one(region, unit_tag) == 3 and first_number(region, delta_tag) == 0:
                out.append(US_REGION.finding(f"region {i}: PhysicalDelta{axis} is 0 for a spatial region (cm)",
                                             delta_tag, region=i))
    return out


def _one(ds: Dataset, tag: int) -> int | None:
    """The single value of a binary integer attribute (US, UL, SL)."""
    if tag not in ds:
        return None
    values = numbers(ds.get_item(tag))
    return int(values[0]) if values else None
