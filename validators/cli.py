"""``python -m validators PATH...``: Sentinel's checks on files and folders, without Orthanc.

The same rules as the plugin (``check_file`` with the default policy or a ``--rules`` JSON file shaped
like the ``"Rules"`` setting), in parallel worker processes, with a progress bar on a terminal, text or
JSON Lines output, and an exit code scripts can use:

- 0: every file passes (or has only findings below ``--fail-on``);
- 1: at least one file has a finding at or above ``--fail-on`` (default: error);
- 2: usage error (bad arguments, unreadable rules file, no file found).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Iterable, Iterator

from .checks import check_file
from .findings import Severity, verdict_of
from .rules import Policy

# Files handed to a worker process at once: amortises the round trip between processes.
CHUNK = 16


def iter_files(paths: Iterable[str]) -> Iterator[Path]:
    """Every regular file named or found below the folders named, in a stable order (symlinks to
    folders are not followed, so a link loop cannot trap the walk)."""
    for name in paths:
        path = Path(name)
        if path.is_dir():
            for folder, dirs, files in os.walk(path):
                dirs.sort()
                for file in sorted(files):
                    yield Path(folder) / file
        elif path.is_file():
            yield path
        else:
            raise FileNotFoundError(name)


_policy = Policy()


def _init_worker(rules: dict | None) -> None:
    global _policy
    _policy = Policy.from_config(rules)


def check_path(path: Path) -> tuple[str, str, list[dict]]:
    """(path, verdict, findings as JSON) of one file; an unreadable file is a finding, not an error."""
    try:
        data = path.read_bytes()
    except OSError as e:
        return str(path), "error", [{"rule": "cli.unreadable-file", "severity": "error", "message": str(e)}]
    findings = check_file(data, _policy)
    ordered = sorted(findings, key=lambda f: (-f.severity, f.rule))
    return str(path), verdict_of(findings), [f.to_json() for f in ordered]


def _progress(done: int, total: int, start: float) -> None:
    rate = done / max(time.monotonic() - start, 1e-9)
    width = 30
    filled = int(width * done / max(total, 1))
    sys.stderr.write(f"\r[{'#' * filled}{'.' * (width - filled)}] {done}/{total} {rate:.0f} files/s")
    sys.stderr.flush()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m validators", description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="DICOM files or folders (searched recursively)")
    parser.add_argument("--format", choices=("text", "json"), default="text",
                        help="text (default) or JSON Lines: one object per file")
    parser.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="worker processes")
    parser.add_argument("--fail-on", choices=[s.label for s in Severity], default="error",
                        help="lowest severity that makes the exit code 1 (default: error)")
    parser.add_argument("--rules", help='JSON file shaped like the "Rules" setting, to change severities')
    parser.add_argument("--quiet", action="store_true", help="print only files with findings")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar on stderr")
    args = parser.parse_args(argv)
    if args.jobs < 1:
        parser.error("--jobs must be at least 1")
    try:
        rules = json.loads(Path(args.rules).read_text()) if args.rules else None
        _init_worker(rules)
        files = list(iter_files(args.paths))
    except (OSError, ValueError) as e:
        parser.error(str(e))
    if not files:
        parser.error("no file found")

    fail_on = Severity.parse(args.fail_on)
    failed = 0
    progress = not args.no_progress and sys.stderr.isatty()
    start = time.monotonic()
    with ProcessPoolExecutor(args.jobs, initializer=_init_worker, initargs=(rules,)) as pool:
        for done, (path, verdict, findings) in enumerate(pool.map(check_path, files, chunksize=CHUNK), 1):
            if any(Severity.parse(f["severity"]) >= fail_on for f in findings):
                failed += 1
            if progress:
                _progress(done, len(files), start)
            if args.quiet and not findings:
                continue
            if args.format == "json":
                print(json.dumps({"path": path, "verdict": verdict, "findings": findings}))
            else:
                print(f"{path}: {verdict}")
                for f in findings:
                    tag = f" {f['tag']}" if f.get("tag") else ""
                    print(f"  {f['severity']:<8} {f['rule']}{tag}: {f['message']}")
    if progress:
        sys.stderr.write("\n")
    elapsed = time.monotonic() - start
    summary = f"{len(files)} files, {failed} at or above {args.fail_on}, {len(files) / elapsed:.0f} files/s"
    print(summary, file=sys.stderr)
    return 1 if failed else 0
