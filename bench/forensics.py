"""Pixel forensics benchmark: detection and false-positive rates on a labelled set built from real images,
kernel throughput against the numpy references, and time per 512x512 CT slice.

    scripts/runtime python3 bench/forensics.py [--trials N] [--speed]

Clean set: every image of pydicom's test files, of the data packages (pydicom-data, deid-data) and of
Orthanc's test files (when scripts/test has copied them into .runtime/shared-data) that pydicom decodes,
all frames; a false positive is any forensic finding, and the target is no "suspicious" verdict (no
ERROR finding). The pasted-square, value-gaps and noise-square thresholds are set on these frames
(in-sample): the bench prints their highest scores, and the threshold that the same margin gives when
calibrated on the CT/MR frames alone, or on the US/CR/DX frames alone, against the highest score of the
other group.

Tampered set (bench/tampering.py), single frames of the CT, MR, CR, DX and US images of at least 128 px
among them, squares of SIZES px, ``--trials`` copies per image, size and kind:

- copy-move: a textured square copied exactly to another textured place at least its size away;
- in-paint: a square replaced by its Gaussian blur (sigma 4 px, rounded), where every 8x8 block's noise
  is at least INPAINT_MIN_NOISE stored values (5x the 0.29 that rounding leaves: below that, removing the
  noise changes nothing measurable); not generated on images whose header declares lossy compression
  (LossyImageCompression (0028,2110) "01" or a lossy transfer syntax), where the noise check is off;
- paste: a square of the next image in the list, its mean and standard deviation matched to the target
  square, edges unblended; reported in all and by the noise ratio it happens to have (patch noise over
  the noise in the 16-px ring, median absolute Immerkaer residuals): r < 0.3 (a smoother source: the
  case the noise check targets), 0.3-0.7, 0.7-1.5 (matched noise), >= 1.5 (noisier; far noisier regions
  are not reported by the smooth-region check, see validators/pixels/forensics.py). The seam check
  (validators/pixels/seams.py) looks for the square's outline whatever the ratio; the off-lattice check
  (validators/pixels/lattice.py) for values off a frame's value lattice, the noisy-square check
  (validators/pixels/forensics.py) for squares far noisier than every block around them, the value-gaps
  check (validators/pixels/gaps.py) for squares whose values skip their neighbours (rescaled by a > 1).

Volume set: the 10 frames (64x64 MR, 5 mm apart, noise sigma ~11, tissue ~150) of pydicom-data's
emri_small.dcm as a series (the data packages' only real volume of 3 or more slices of at least 32 px
stored as slices or frames): a Gaussian blob (sd size/4) of peak LESION_CONTRASTS x the slice's noise sigma added to
frame 5 (lesion), and a square of frame 4 copied into frame 5 (copy-across), VOLUME_SIZES px, at least 8
px inside the frame. The contrasts span what an attacker injecting a visible lesion uses: here 6 and 10
sigma are 45% and 75% of the tissue signal (a faint and a plain enhancing lesion on this low-SNR MR), 20
and 40 sigma 1.5x and 3x; CT-GAN's injected lung nodules (Mirsky et al. 2019) stand some 800 HU above
lung whose noise is 20-40 HU, 20-40 sigma. The clean false positives are the interior slices of the
unaltered series with a finding; and every other real multi-slice set of the clean images goes through
the series check too (each object of 3 frames or more, each series of 3 single-frame images or more,
one image in several transfer syntaxes counted once; and the four volumes of heudiconv's Siemens mosaics,
tests/realfiles.py's mosaic_volumes): a false positive is any forensic finding. With --held-out, the volume
set again on the middle slice of each of those four volumes (the lesion check's thresholds were set on
emri_small and nibabel's volumes, not on these), and their lesions found by the blob's peak over the local
change between slices (the rms of the cubic residual of the slices 2-4 away in its square): a contrast in
noise sigma means little where the anatomy changes between slices by several times the noise.

A tampered copy counts as detected when a forensic finding's bbox overlaps the tampered square. Rates
carry Wilson 95% intervals (E. B. Wilson, JASA 22, 1927).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from unittest import mock
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
sys.path.append(str(REPO / ".runtime" / "pydeps"))

from bench import tampering  # noqa: E402
from realfiles import ORTHANC_FILES, all_pydicom_files, data_package_files, mosaic_volumes  # noqa: E402
from validators.findings import verdict_of  # noqa: E402
from validators.pixels import _TOMOGRAPHIC, _is_lossy, check_pixels, check_volume, forensics, kernels, warm_up  # noqa: E402
from validators.pixels import lesions  # noqa: E402
from validators.pixels.lesions import binned_reference, lesion_findings  # noqa: E402
from validators.pixels.matched import local_energy_reference, matched_filter_reference  # noqa: E402
from validators.pixels import gaps, seams  # noqa: E402
from validators.pixels.seams import pasted_square_findings  # noqa: E402

SIZES = (24, 32, 48, 64)
INPAINT_MIN_NOISE = 1.5            # stored values
PASTE_BINS = ((0.0, 0.3, "r < 0.3"), (0.3, 0.7, "r 0.3-0.7"), (0.7, 1.5, "r 0.7-1.5"), (1.5, math.inf, "r >= 1.5"))
LESION_CONTRASTS = (6.0, 10.0, 20.0, 40.0)     # blob peak in units of the slice's noise sigma
VOLUME_SIZES = (12, 16, 24)
VOLUME_FILE = "emri_small.dcm"
EXCESS_BINS = (0.0, 1.0, 2.0, 3.0, 4.0, 6.0, 10.0)   # blob peak over the local change between slices
_NOISY_FLOOR = 0.2          # least block contrast searched for the clean frames' highest
# Checks on the block noise map: rule id, the name of its contrast threshold, what its robust ratio is.
_NOISE_SQUARES = {"noisy-square": ("forensics.noisy-square", "_NOISY_CONTRAST", "at least 2x as noisy"),
                  "quiet-square": ("forensics.quiet-square", "_QUIET_CONTRAST", "at most half as noisy")}


def wilson(k: int, n: int, z: float = 1.96) -> tuple[float, float]:
    if n == 0:
        return 0.0, 1.0
    p = k / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


def frames_of(ds) -> list[np.ndarray]:
    pixels = ds.pixel_array
    frames = int(ds.get("NumberOfFrames", 1) or 1)
    return list(pixels) if frames > 1 else [pixels]


def clean_images():
    orthanc = sorted(p for p in ORTHANC_FILES.rglob("*") if p.is_file() and p.suffix != ".md")
    for path in all_pydicom_files() + data_package_files() + orthanc:
        try:
            ds = pydicom.dcmread(path)
            yield path, ds, frames_of(ds)
        except Exception:  # files broken on purpose, or without a decoder here
            continue


def detected(findings, box) -> bool:
    return any(f.rule.startswith("forensics.") and tampering.overlaps(f.details["bbox"], box) for f in findings)


def rate_line(name, k, n):
    low, high = wilson(k, n)
    return f"  {name:<30} {k:>4}/{n:<4} = {k / max(n, 1):6.1%}   95% CI [{low:.1%}, {high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=4, help="tampered copies per image, size and kind")
    parser.add_argument("--speed", action="store_true", help="only the kernels' speed and the times per slice")
    parser.add_argument("--held-out", action="store_true",
                        help="the volume set on heudiconv's mosaic volumes too (not those the lesion check was set on)")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    warm_up()
    if args.speed:
        _speed([(path.name, ds, frames[0]) for path, ds, frames in clean_images()
                if ds.get("Modality") == "CT" and frames[0].shape == (512, 512)])
        return
    rng = np.random.default_rng(6)

    print("Clean real images, all frames (false positives)")
    clean_total, clean_flagged, clean_suspicious, sources = 0, 0, 0, []
    stacks: dict[str, list] = defaultdict(list)
    seam_best: dict[str, float] = {}
    gap_best: dict[str, tuple[float, str]] = {}
    square_best: dict[str, dict[str, tuple[float, str]]] = {rule: {} for rule in _NOISE_SQUARES}
    for path, ds, frames in clean_images():
        planes = [f[..., 0] if f.ndim == 3 else f for f in frames]
        if len(planes) >= 3:
            stacks[f"{path.name} ({ds.get('Modality')}, {len(planes)} frames)"] = [
                (f"frame{k}", ds, plane) for k, plane in enumerate(planes)]
        elif len(planes) == 1 and "SeriesInstanceUID" in ds:
            # One image in several transfer syntaxes (same SOP Instance UID) is not a series of slices.
            series = stacks[f"series {ds.SeriesInstanceUID} ({ds.get('Modality')})"]
            if all(member[1].get("SOPInstanceUID") != ds.get("SOPInstanceUID") for member in series):
                series.append((path.name, ds, planes[0]))
        findings = [f for f in check_pixels(ds, iter(frames)) if f.rule.startswith("forensics.")]
        clean_total += 1
        clean_flagged += bool(findings)
        clean_suspicious += verdict_of(findings) == "suspicious"
        if findings:
            print(f"    {path.name}: {sorted({f.rule for f in findings})}")
        modality = ds.get("Modality")
        if not _is_lossy(ds):
            for frame in frames:
                seam_best[modality] = max(seam_best.get(modality, -math.inf), _best_seam_score(frame))
                gap_best[modality] = max(gap_best.get(modality, (-math.inf, "")), (_best_gap_score(frame), path.name))
                for rule, score in _best_noise_square_scores(frame, modality).items():
                    square_best[rule][modality] = max(square_best[rule].get(modality, (-math.inf, "")),
                                                      (score, path.name))
        if modality in ("CT", "MR", "CR", "DX", "US") and frames[0].ndim == 2 and min(frames[0].shape) >= 128:
            sources.append((path.name, ds, frames[0]))
    print(rate_line("any forensic finding", clean_flagged, clean_total))
    print(rate_line("'suspicious' verdict", clean_suspicious, clean_total))
    _held_out("pasted-square scores", seam_best, seams._THRESHOLD)
    print("  value-gaps contrasts of the clean frames: " +
          ", ".join(f"{m} {v:.3f} ({name})" for m, (v, name) in sorted(gap_best.items()) if v > -math.inf))
    _held_out("value-gaps contrasts", {m: v for m, (v, _) in gap_best.items()}, gaps._THRESHOLD)
    for rule, (_, limit, ratio) in _NOISE_SQUARES.items():
        best = square_best[rule]
        print(f"  {rule} contrasts of the clean frames (squares of blocks {ratio} by the robust measure; "
              f"{_NOISY_FLOOR} and up searched): " +
              ", ".join(f"{m} {v:.3f} ({name})" for m, (v, name) in sorted(best.items()) if v > -math.inf))
        _held_out(f"{rule} contrasts", {m: v for m, (v, _) in best.items()}, getattr(forensics, limit))

    lossy = sum(_is_lossy(ds) for _, ds, _ in sources)
    print(f"\nTampered copies of {len(sources)} CT/MR/CR/DX/US images ({lossy} declared lossy: no in-paint, no "
          f"paste), squares of {SIZES} px, {args.trials} per image, size and kind")
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    skipped: dict[str, int] = defaultdict(int)
    for index, (name, ds, image) in enumerate(sources):
        donor = sources[(index + 1) % len(sources)][2]
        for size in SIZES:
            for kind in ("copy-move", "in-paint", "paste"):
                if kind != "copy-move" and _is_lossy(ds):
                    continue
                for _ in range(args.trials):
                    try:
                        if kind == "copy-move":
                            forged, box = tampering.copy_move(image, size, rng)
                        elif kind == "in-paint":
                            forged, box = tampering.inpaint(image, size, rng, INPAINT_MIN_NOISE)
                        else:
                            forged, box = tampering.paste(image, size, rng, donor)
                    except ValueError:    # no room, or no tissue noisy enough, in this image
                        skipped[kind] += 1
                        continue
                    found = detected(check_pixels(ds, iter([forged])), box)
                    labels = [kind]
                    if kind == "paste":
                        ratio = tampering.noise_ratio(forged, box)
                        labels.append(kind + " " + next(name for low, high, name in PASTE_BINS if low <= ratio < high))
                    for label in labels:
                        for key in (label, f"{label} | {size}px"):
                            hits[key][0] += found
                            hits[key][1] += 1
    print(f"  (not placed, no room or no tissue noisy enough: {dict(skipped)})")
    for key in sorted(hits, key=lambda k: ("|" in k, k)):
        print(rate_line(key, *hits[key]))

    for path, ds, slices in mosaic_volumes():
        stacks[f"{path.name} ({ds.get('Modality')} mosaic, {len(slices)} slices)"] = [
            (f"slice{k}", ds, plane) for k, plane in enumerate(slices)]
    _clean_series(stacks)
    _volumes(rng, args.trials, args.held_out)
    _speed(sources)


def _clean_series(stacks: dict[str, list]) -> None:
    """check_volume on every real multi-slice set of the clean images: each object of 3 frames or more (the
    plugin hands only single-frame instances in, but their frames are real slices or cine frames) and each
    series of 3 single-frame images or more; a false positive is any forensic finding."""
    print("\nClean real series: objects of 3 frames or more, series of 3 single-frame images or more")
    checked = flagged = slices = flagged_slices = 0
    for name, members in stacks.items():
        if len(members) < 3 or min(members[0][2].shape) < lesions._MIN_SIDE:
            continue
        found = [f for f in check_volume(members) if f.rule.startswith("forensics.")]
        instances = {f.details.get("instance") for f in found}
        checked += 1
        flagged += bool(found)
        slices += len(members) - 2
        flagged_slices += len(instances)
        print(f"    {name}: {len(members)} of {members[0][2].shape}, {len(instances)} flagged {sorted({f.rule for f in found})}")
    print(rate_line("series with a finding", flagged, checked))
    print(rate_line("interior slices flagged", flagged_slices, slices))


def _best_seam_score(frame: np.ndarray) -> float:
    """The highest pasted-square score of a frame, whatever the threshold (-inf if none is scored)."""
    plane = frame[..., 0] if frame.ndim == 3 else frame
    if plane.ndim != 2 or plane.dtype.kind not in "iu" or min(plane.shape) < seams.SMALLEST + 2 * kernels.SEAM_MARGIN:
        return -math.inf
    scores = kernels.seam_squares(plane, seams.SMALLEST, seams.LARGEST, seams._CORNER, seams._WEIGHT, seams._LATTICE, -math.inf,
                                  seams._SHARE, capacity=1 << 20).scores
    return float(scores.max()) if scores.size else -math.inf


def _best_gap_score(frame: np.ndarray) -> float:
    """The highest value-gaps score of a frame, whatever the threshold (-inf if none is scored)."""
    plane = frame[..., 0] if frame.ndim == 3 else frame
    return max((square[0] for square in gaps.gap_squares(plane, -math.inf)), default=-math.inf) \
        if plane.ndim == 2 else -math.inf


def _best_noise_square_scores(frame: np.ndarray, modality: str) -> dict[str, float]:
    """Per rule of _NOISE_SQUARES, the highest block contrast of a frame's findings, searched from
    _NOISY_FLOOR up with no limit on the candidates measured (-inf if there is none)."""
    plane = frame[..., 0] if frame.ndim == 3 else frame
    if plane.ndim != 2 or min(plane.shape) < 4 * forensics.BLOCK:
        return {rule: -math.inf for rule in _NOISE_SQUARES}
    with mock.patch.object(forensics, "_NOISY_CONTRAST", _NOISY_FLOOR), \
            mock.patch.object(forensics, "_QUIET_CONTRAST", _NOISY_FLOOR), \
            mock.patch.object(forensics, "_NOISY_TRIED", 1 << 20):
        found = forensics.noise_findings(plane, 0, skip_constant_blocks=modality not in _TOMOGRAPHIC)
    return {rule: max((f.details["score"] for f in found if f.rule == _NOISE_SQUARES[rule][0]), default=-math.inf)
            for rule in _NOISE_SQUARES}


def _held_out(what: str, best: dict[str, float], threshold: float) -> None:
    """A threshold, calibrated as the check's own (its margin over the highest clean score) on one group
    of modalities alone, against the highest score of the others' clean frames."""
    margin = threshold / max(best.values())
    print(f"  {what} of the clean frames: highest {max(best.values()):.3f}, threshold {threshold} (x{margin:.2f}, "
          f"in-sample)")
    for fitted, held in ((("CT", "MR"), ("US", "CR", "DX")), (("US", "CR", "DX"), ("CT", "MR"))):
        fitted_best = max(best.get(m, -math.inf) for m in fitted)
        highest = max(best.get(m, -math.inf) for m in held)
        if fitted_best == -math.inf:
            print(f"    calibrated on {'/'.join(fitted)} alone: no clean square scored; {'/'.join(held)} frames at most "
                  f"{highest:.3f}")
            continue
        limit = margin * fitted_best
        held_best = f"at most {highest:.3f}" if highest > -math.inf else "none scored"
        print(f"    calibrated on {'/'.join(fitted)} alone: threshold {limit:.3f}; {'/'.join(held)} frames {held_best} "
              f"({'no finding' if highest < limit else 'FINDINGS'})")


def _volumes(rng, trials: int, held_out: bool) -> None:
    """The volume set on emri_small's frame 5; with ``held_out``, the same on the middle slice of each of
    heudiconv's mosaic volumes (tests/realfiles.py), which the lesion check's thresholds were not set on."""
    path = next((p for p in data_package_files() if p.name == VOLUME_FILE), None)
    if path is None:
        print(f"\nVolumes: {VOLUME_FILE} (pydicom-data) not installed")
    else:
        ds = pydicom.dcmread(path)
        _volume_rates(VOLUME_FILE, [(f"frame{k}", ds, frame) for k, frame in enumerate(ds.pixel_array)], 5, rng,
                      trials)
    excess: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for path, ds, slices in mosaic_volumes() if held_out else []:
        _volume_rates(path.name, [(f"frame{k}", ds, plane) for k, plane in enumerate(slices)], len(slices) // 2,
                      rng, trials, excess)
    if excess:
        print("\nLesions of the held-out volumes by their peak over the local change between slices (the rms of the "
              "cubic residual of the slices 2-4 away in the blob's square)")
        for key in sorted(excess, key=lambda k: float(k.split()[1].strip("[,"))):
            print(rate_line(key, *excess[key]))


def _volume_rates(name: str, members: list, middle: int, rng, trials: int,
                  excess: dict[str, list[int]] | None = None) -> None:
    """Lesions of LESION_CONTRASTS and copies across slices in frame ``middle`` of a clean real volume; into
    ``excess``, if given, the lesions found and placed by their peak over the local change between slices
    (EXCESS_BINS; see :func:`_local_change`)."""
    print(f"\nVolume: {name}, {len(members)} frames of {members[0][2].shape}, lesion and copy-across in "
          f"frame {middle}, sizes {VOLUME_SIZES} px, contrasts {LESION_CONTRASTS} x noise sigma")
    clean = [f for f in check_volume(members) if f.rule.startswith("forensics.")]
    flagged = {f.details.get("instance") for f in clean}
    print(rate_line("clean interior slices flagged", len(flagged), len(members) - 2), [f.rule for f in clean])
    ds = members[middle][1]
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for size in VOLUME_SIZES:
        for _ in range(trials * 4):
            cases = [(f"lesion {contrast:g} sigma", tampering.lesion(members[middle][2], size, rng, contrast, 8))
                     for contrast in LESION_CONTRASTS]
            cases.append(("copy-across", tampering.copy_across(members[middle - 1][2], members[middle][2], size,
                                                                rng, 8)))
            for (kind, (forged, box)), contrast in zip(cases, LESION_CONTRASTS + (None,)):
                found = check_volume(members[:middle] + [(f"frame{middle}", ds, forged)] + members[middle + 1:])
                hit = any(f.details.get("instance") == f"frame{middle}" and tampering.overlaps(f.details["bbox"], box)
                          for f in found)
                keys = [kind, f"{kind} | {size}px"]
                for key in keys:
                    hits[key][0] += hit
                    hits[key][1] += 1
                if excess is not None and contrast is not None:
                    peak = contrast * float(np.median(kernels.block_noise(members[middle][2], 8).sigma))
                    ratio = peak / _local_change([m[2] for m in members], middle, box)
                    low = max(edge for edge in EXCESS_BINS if edge <= ratio)
                    high = EXCESS_BINS[EXCESS_BINS.index(low) + 1] if low != EXCESS_BINS[-1] else math.inf
                    excess[f"x [{low:g}, {high:g})"][0] += hit
                    excess[f"x [{low:g}, {high:g})"][1] += 1
    for key in sorted(hits, key=lambda k: ("|" in k, k)):
        print(rate_line(key, *hits[key]))


def _local_change(slices: list[np.ndarray], k: int, box: list[int]) -> float:
    """How much the anatomy changes between slices about ``box`` of slice ``k`` (output units): the root mean
    square, over the box and the slices 2-4 away that have two neighbours on either side, of each slice less
    its cubic prediction (the residual the lesion check filters)."""
    planes = [s.astype(np.float32) for s in slices]
    others = [j for j in range(len(planes)) if 2 <= abs(j - k) <= 4 and 2 <= j <= len(planes) - 3]
    r0, c0, r1, c1 = box
    return float(np.sqrt(np.mean([np.mean(lesions._residual(planes, j)[r0:r1, c0:c1] ** 2) for j in others])))


def _speed(sources) -> None:
    print("\nKernels on a 2048x2048 16-bit frame, one thread, least CPU time of 5 runs (numpy references: of 2)")
    frame = np.random.default_rng(0).integers(0, 4096, (2048, 2048)).astype(np.uint16)
    for name, fast, slow in (
            ("block_noise", lambda: kernels.block_noise(frame), lambda: kernels.block_noise_reference(frame)),
            ("window_hashes", lambda: kernels.window_hashes(frame, 8, 5),
             lambda: kernels.window_hashes_reference(frame, 8, 5)),
            ("histogram", lambda: kernels.histogram(frame), lambda: kernels.histogram_reference(frame))):
        fast_s, slow_s = _best(fast), _best(slow, 2)
        print(f"  {name:<14} {frame.nbytes / fast_s / 1e9:5.2f} GB/s, numpy reference {frame.nbytes / slow_s / 1e9:5.2f} "
              f"GB/s, ratio {slow_s / fast_s:5.1f}x")
    for name, ds, image in sources:
        if ds.get("Modality") == "CT" and image.shape == (512, 512) and not _is_lossy(ds):
            seconds = _best(lambda: check_pixels(ds, iter([image])), 20)
            print(f"\ncheck_pixels (plausibility and forensics) on {name}, a real 512x512 CT slice: "
                  f"{seconds * 1e3:.2f} ms CPU (least of 20)")
            seconds = _best(lambda: pasted_square_findings(image, 0), 20)
            print(f"of which the pasted-square search (seam sums and squares of 24-64 px): {seconds * 1e3:.2f} ms CPU")
            _lesion_speed(image)
            break


def _lesion_speed(image: np.ndarray) -> None:
    """The series lesion check per slice with its numba kernels and with their scipy / numpy references,
    runs alternated: on 10 shifted copies of a real 512x512 CT slice (binned to 256x256), and on 20 of its
    central 128x128 (a small series like the scan bench's)."""
    crop = image[192:320, 192:320]
    for name, stack in (("512x512", [np.roll(image, k, axis=0).astype(np.float64) for k in range(10)]),
                        ("128x128", [np.roll(crop, k, axis=0).astype(np.float64) for k in range(20)])):
        ids = [str(k) for k in range(len(stack))]
        fast, slow = math.inf, math.inf
        for _ in range(5):
            fast = min(fast, _best(lambda: lesion_findings(ids, stack), 1))
            with mock.patch.object(lesions, "matched_filter", matched_filter_reference), \
                    mock.patch.object(lesions, "local_energy", local_energy_reference), \
                    mock.patch.object(lesions, "binned", binned_reference):
                slow = min(slow, _best(lambda: lesion_findings(ids, stack), 1))
        print(f"lesion check (series, off the ingest path) on {len(stack)} shifted copies of its {name}: "
              f"{fast * 1e3 / len(stack):.2f} ms CPU per slice, scipy / numpy references "
              f"{slow * 1e3 / len(stack):.2f} ms, ratio {slow / fast:.1f}x (least of 5, alternated)")


def _best(run, repeat: int = 5) -> float:
    """Least CPU time of the calling thread over ``repeat`` runs (s): the machine's other processes, which
    take the core away now and then, do not count."""
    best = math.inf
    for _ in range(repeat):
        start = time.thread_time()
        run()
        best = min(best, time.thread_time() - start)
    return best


if __name__ == "__main__":
    main()
