"""The command-line checker against dciodvfy on the same folder, end to end, in one run.

    scripts/runtime python3 bench/cli.py [--jobs N]

The folder holds every real file of pydicom's test set and of the data packages (pydicom-data,
deid-data), ``--copies`` times (so that start-up weighs as it would on a real folder). Timed, each from a cold start as a person would run it:

- ``python -m validators FOLDER --format json --jobs N``: every Sentinel rule (header, pixels,
  signatures, seal; series checks are the plugin's), start-up included (imports, numba cache, tables);
- ``dciodvfy -new FILE`` for each file, N at a time (``xargs -P N``), header conformance only (it
  aborts on a few files; those count as checked).

Prints files per second of each and the ratio, and checks that the checker's JSON covers every file.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from realfiles import all_pydicom_files, data_package_files  # noqa: E402

REPO = Path(__file__).resolve().parents[1]


def gather(folder: Path, copies: int) -> int:
    """Copy the real files ``copies`` times into ``folder`` (flat, numbered names); how many."""
    files = (all_pydicom_files() + data_package_files()) * copies
    for i, path in enumerate(files):
        shutil.copyfile(path, folder / f"{i:05d}-{path.name}")
    return len(files)


def timed(argv: list[str], **kw) -> tuple[float, subprocess.CompletedProcess]:
    start = time.perf_counter()
    run = subprocess.run(argv, capture_output=True, **kw)
    return time.perf_counter() - start, run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--copies", type=int, default=5, help="copies of the set, so that start-up weighs less")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="sentinel-cli-bench-") as tmp:
        folder = Path(tmp)
        count = gather(folder, args.copies)
        sentinel_s, run = timed([sys.executable, "-m", "validators", str(folder), "--format", "json",
                                 "--jobs", str(args.jobs), "--no-progress"], cwd=REPO)
        reports = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
        dciodvfy_s, checked = timed(["sh", "-c", 
            f'find "{folder}" -type f -print0 | xargs -0 -P {args.jobs} -n 1 sh -c \'dciodvfy -new "$0" 2>&1 || true\''])
        verdicts = checked.stdout.count(b"Error -") + checked.stdout.count(b"Warning -")
    print(f"{count} real files, {args.jobs} jobs at a time")
    print(f"python -m validators: {sentinel_s:7.2f} s  {count / sentinel_s:7.1f} files/s  "
          f"(exit {run.returncode}, {len(reports)} reports)")
    print(f"dciodvfy -new:        {dciodvfy_s:7.2f} s  {count / dciodvfy_s:7.1f} files/s  "
          f"({verdicts} error and warning lines)")
    print(f"ratio (Sentinel / dciodvfy files per second): {dciodvfy_s / sentinel_s:.2f}")
    if len(reports) != count:
        raise SystemExit(f"the checker reported {len(reports)} of {count} files")


if __name__ == "__main__":
    main()
