"""Pixel forensics benchmark: detection and false-positive rates on a labelled set built from real images,
kernel throughput against the numpy references, and time per 512x512 CT slice.

    scripts/runtime python3 bench/forensics.py [--trials N]

The clean set is every image of pydicom's test files and the data packages (pydicom-data, deid-data) that
pydicom decodes; the tampered sets are copies of the CT, MR, CR and US among them (bench/tampering.py)
at several sizes and contrasts. Rates carry Wilson 95% intervals (E. B. Wilson, JASA 22, 1927).
"""

from __future__ import annotations

import argparse
import math
import sys
import time
import warnings
from collections import defaultdict
from pathlib import Path

import numpy as np
import pydicom

REPO = Path(__file__).resolve().parent.parent
sys.path[:0] = [str(REPO), str(REPO / "tests")]
sys.path.append(str(REPO / ".runtime" / "pydeps"))

from bench import tampering  # noqa: E402
from realfiles import all_pydicom_files, data_package_files  # noqa: E402
from validators.findings import verdict_of  # noqa: E402
from validators.pixels import check_pixels, check_volume, kernels, warm_up  # noqa: E402

SIZES = (24, 32, 48, 64)
LESION_CONTRASTS = (6.0, 10.0)     # blob peak in units of the slice's noise sigma
KINDS_2D = ("copy-move", "inpaint", "paste")


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
    for path in all_pydicom_files() + data_package_files():
        try:
            ds = pydicom.dcmread(path)
            yield path, ds, frames_of(ds)
        except Exception:  # files broken on purpose, or without a decoder here
            continue


def detected(findings, box, prefixes) -> bool:
    return any(f.rule.startswith(prefixes) and ("bbox" not in f.details or tampering.overlaps(f.details["bbox"], box))
               for f in findings)


def rate_line(name, k, n):
    low, high = wilson(k, n)
    return f"  {name:<28} {k:>4}/{n:<4} = {k / max(n, 1):6.1%}   95% CI [{low:.1%}, {high:.1%}]"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--trials", type=int, default=3, help="tampered copies per image, size and kind")
    args = parser.parse_args()
    warnings.simplefilter("ignore")
    warm_up()
    rng = np.random.default_rng(6)

    print("Clean real images (false positives)")
    clean_total, clean_flagged, clean_suspicious, sources = 0, 0, 0, []
    for path, ds, frames in clean_images():
        findings = [f for f in check_pixels(ds, iter(frames)) if f.rule.startswith("forensics.")]
        clean_total += 1
        clean_flagged += bool(findings)
        clean_suspicious += verdict_of(findings) == "suspicious"
        if findings:
            print(f"    {path.name}: {sorted({f.rule for f in findings})}")
        modality = ds.get("Modality")
        if modality in ("CT", "MR", "CR", "DX", "US") and frames[0].ndim == 2 and min(frames[0].shape) >= 128:
            sources.append((path.name, ds, frames[0]))
    print(rate_line("any forensic finding", clean_flagged, clean_total))
    print(rate_line("'suspicious' verdict", clean_suspicious, clean_total))

    print(f"\nTampered copies of {len(sources)} CT/MR/CR/DX/US images, sizes {SIZES} px")
    hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for index, (name, ds, image) in enumerate(sources):
        donor = sources[(index + 1) % len(sources)][2]
        for size in SIZES:
            for kind in KINDS_2D:
                for _ in range(args.trials):
                    try:
                        if kind == "copy-move":
                            forged, box = tampering.copy_move(image, size, rng)
                        elif kind == "inpaint":
                            forged, box = tampering.inpaint(image, size, rng)
                        else:
                            forged, box = tampering.paste(image, size, rng, donor)
                    except ValueError:
                        continue
                    findings = check_pixels(ds, iter([forged]))
                    key = f"{kind} {size}px"
                    hits[key][0] += detected(findings, box, ("forensics.",))
                    hits[key][1] += 1
    for key in sorted(hits, key=lambda k: (k.split()[0], int(k.split()[1][:-2]))):
        print(rate_line(key, *hits[key]))

    print("\nVolumes (pydicom dicomdirtests series): lesion in one slice, region copied across slices")
    volume_hits: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    volume_clean = [0, 0]
    for series in _series():
        members = [(str(i), ds, ds.pixel_array) for i, ds in enumerate(series)]
        volume_clean[0] += bool(check_volume(members))
        volume_clean[1] += 1
        order = sorted(range(len(members)), key=lambda i: float(members[i][1].ImagePositionPatient[2]))
        for size in SIZES:
            for _ in range(args.trials):
                try:
                    _tamper_volume(members, order, size, rng, volume_hits)
                except ValueError:   # no textured spot of this size in these slices
                    continue
    print(rate_line("clean series flagged", *volume_clean))
    for key in sorted(volume_hits):
        print(rate_line(key, *volume_hits[key]))
    _speed(sources)


def _tamper_volume(members, order, size, rng, volume_hits) -> None:
    """One lesion per contrast in the middle slice, and one region copied into it from the previous."""
    middle = order[len(order) // 2]
    for contrast in LESION_CONTRASTS:
        forged, box = tampering.lesion(members[middle][2], size, rng, contrast)
        found = check_volume(members[:middle] + [(str(middle), members[middle][1], forged)] + members[middle + 1:])
        key = f"lesion {size}px {contrast:g}sigma"
        volume_hits[key][0] += any(f.details.get("instance") == str(middle) and
                                   tampering.overlaps(f.details["bbox"], box) for f in found)
        volume_hits[key][1] += 1
    previous = order[len(order) // 2 - 1]
    forged, box = tampering.copy_across(members[previous][2], members[middle][2], size, rng)
    found = check_volume(members[:middle] + [(str(middle), members[middle][1], forged)] + members[middle + 1:])
    key = f"copy-across {size}px"
    volume_hits[key][0] += any(f.rule == "forensics.copy-across-slices" for f in found)
    volume_hits[key][1] += 1


def _speed(sources) -> None:
    print("\nKernels on a 2048x2048 16-bit frame (one core)")
    frame = np.random.default_rng(0).integers(0, 4096, (2048, 2048)).astype(np.uint16)
    for name, fast, slow in (("block_noise", kernels.block_noise, kernels.block_noise_reference),
                             ("window_hashes", kernels.window_hashes, None)):
        fast_s = _best(lambda: fast(frame))
        line = f"  {name:<14} {frame.nbytes / fast_s / 1e9:5.2f} GB/s"
        if slow is not None:
            line += f", numpy reference {frame.nbytes / _best(lambda: slow(frame), 2) / 1e9:5.2f} GB/s, " \
                    f"ratio {_best(lambda: slow(frame), 2) / fast_s:4.1f}x"
        print(line)
    small = frame[:128, :128]
    ratio = _best(lambda: kernels.window_hashes_reference(small), 2) / _best(lambda: kernels.window_hashes(small))
    print(f"  window_hashes vs its numpy reference (128x128, the reference is O(window^2) per pixel): {ratio:.0f}x")

    ct = next(((ds, image) for _, ds, image in sources if ds.get("Modality") == "CT" and image.shape == (512, 512)),
              None)
    if ct is not None:
        seconds = _best(lambda: check_pixels(ct[0], iter([ct[1]])), 20)
        print(f"\ncheck_pixels on a real 512x512 CT slice: {seconds * 1e3:.2f} ms")


def _series():
    """The multi-slice series of pydicom's dicomdirtests (CT and MR), as lists of data sets."""
    groups = defaultdict(list)
    for path in all_pydicom_files():
        if "dicomdirtests" in path.parts:
            ds = pydicom.dcmread(path)
            if "ImagePositionPatient" in ds and "PixelData" in ds:
                groups[ds.SeriesInstanceUID].append(ds)
    return [series for series in groups.values() if len(series) >= 3]


def _best(run, repeat: int = 5) -> float:
    best = math.inf
    for _ in range(repeat):
        start = time.perf_counter()
        run()
        best = min(best, time.perf_counter() - start)
    return best


if __name__ == "__main__":
    main()
