"""Sentinel's header validation against dicom3tools' ``dciodvfy -new`` on the same real files.

    scripts/runtime python3 bench/conformance_vs_dciodvfy.py [--limit N]

Sentinel's time is its whole header validation, as the worker runs it on a stored file without its pixels
(:func:`validators.checks.examine`: one parse; ingest, instance, IOD, VR/VM, coherence and plausibility
rules), after the start-up work the plugin does once (kernels compiled, the IOD tables of every SOP Class
compiled, the start-up's objects collected).
Prints: per file, who calls it erroneous (Sentinel: a finding of severity error or worse from the
instance and header rules; dciodvfy: an ``Error -`` line); every Type 1 and Enumerated Value error
dciodvfy reports, whether Sentinel reports the same attribute, and the ones it does not, with
dciodvfy's message; files per second of each, measured in this one run, file by file in turn (Sentinel
in-process, dciodvfy one process per file as it is used), in wall time and in CPU time (Sentinel: the
process's, ``time.process_time``; dciodvfy: its child process's user and system time, from ``getrusage``),
so that the ratio holds on a shared machine; and Sentinel's median milliseconds per instance in both.
"""

from __future__ import annotations

import argparse
import gc
import re
import resource
import statistics
import subprocess
import sys
import time
import warnings
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parent.parent), str(Path(__file__).resolve().parent.parent / "tests")]

from realfiles import ORTHANC_FILES, all_pydicom_files, data_package_files  # noqa: E402
from validators.findings import Severity, format_tag  # noqa: E402
from validators.checks import examine  # noqa: E402
from validators.header import standard_edition  # noqa: E402
from validators import pixelbits, standard, waveform  # noqa: E402
from validators.standard import iod_for  # noqa: E402
from pydicom.datadict import tag_for_keyword  # noqa: E402

_LINE = re.compile(r"^Error - <([^>]*)> - (.*)$")
_LAST_TAG = re.compile(r"\(([0-9a-fA-F]{4}),([0-9a-fA-F]{4})\)(?:\[\d+\])?$")
_TYPE1 = re.compile(r"(Missing|Empty) attribute.* Type 1 Required|Type 1 Required .*(missing|empty)", re.I)
_ENUM = re.compile(r"Unrecognized enumerated value", re.I)
_VALUE = re.compile(r"= <([^>]*)>")
# Sentinel rules that judge a value against a closed list (iod.single-frame: dciodvfy's
# CheckSingleFramePseudo module reports Number of Frames above 1 as an unrecognized enumerated value;
# instance.jpeg-photometric: dciodvfy reports a colour Photometric Interpretation that PS3.5 8.2.1 does not
# allow with lossy JPEG as an unrecognized enumerated value).
_SENTINEL_ENUM = {"iod.enumerated", "iod.single-frame", "instance.jpeg-photometric"}
# Why Sentinel does not report an Enumerated Value error dciodvfy reports, by (tag, value).
_WHY_NOT = {
    ("(0028,1054)", "US"): "dciodvfy is wrong: Rescale Type in the CT Pixel Value Transformation macro must be HU "
                           "only in frames of "
                           "Frame Type ORIGINAL and not LOCALIZER (PS3.3 C.8.15.3.10, checked by Sentinel); "
                           "eCT_Supplemental's frames are DERIVED: dciodvfy requires HU in every frame",
    ("(0028,0004)", "YBR_FULL_422"): "dciodvfy is stricter than the standard: PS3.3 C.7.6.3.1.2 gives the order "
                                     "of YBR_FULL_422 samples in uncompressed data (two Y, then one CB and one CR, "
                                     "Planar Configuration 0); dciodvfy refuses it in native pixel data by a "
                                     "transfer syntax rule of its own",
}
# Sentinel rules that judge presence of a Type 1 attribute; iod.type1c too, for the attributes dciodvfy's
# older templates call Type 1 where the current PS3.3 says 1C with a condition that holds (Per-frame
# Functional Groups Sequence (5200,9230), C.7.6.16).
_SENTINEL_TYPE1 = {"iod.type1", "iod.type1c", "instance.missing-identifier", "instance.pixel-module"}
# Why Sentinel does not report a Type 1 error dciodvfy reports, by (tag, dciodvfy's module).
_WHY_NOT_TYPE1 = {
    ("(0020,0052)", "FrameOfReference"): "dciodvfy is wrong: the Frame of Reference module is User Optional in the "
                                         "RT Structure Set IOD (PS3.3 Table A.19-1; U in both editions of the "
                                         "tables) and the file has none of its attributes. dicom3tools' template "
                                         "(libsrc/standard/iodcomp/rt.tpl) lists it Usage=\"U\" without the "
                                         "Condition=\"NeedModuleFrameOfReference\" its other IODs give it, so "
                                         "dciodvfy checks the module in every RT Structure Set",
}
_MODULE = re.compile(r"Module=<([^>]*)>")
_GIST = re.compile(r"\s*(=|-)?\s*<[^>]*>.*$")  # a message without the value and what follows it


def dciodvfy(path: Path) -> tuple[list[tuple[str, str, str]], bool]:
    """dciodvfy's errors as (kind, tag, message), kind type1/enum/other; and whether it ran to the end."""
    try:
        run = subprocess.run(["dciodvfy", "-new", str(path)], capture_output=True, text=True, timeout=60,
                             errors="replace")
    except subprocess.TimeoutExpired:
        return [], False
    errors = []
    for line in (run.stdout + run.stderr).splitlines():
        m = _LINE.match(line.strip())
        if not m:
            continue
        where, message = m.groups()
        t = _LAST_TAG.search(where)
        tag = f"({t.group(1).upper()},{t.group(2).upper()})" if t else ""
        kind = "type1" if _TYPE1.search(message) else "enum" if _ENUM.search(message) else "other"
        errors.append((kind, tag, message))
    # dciodvfy aborts (no IOD line, a non-zero status without output) on what it cannot read, or dies on an
    # assertion (SIGABRT: a negative status), e.g. on 32-bit pixel data
    return errors, run.returncode >= 0 and bool(run.stdout.strip() or run.stderr.strip()) and \
        "abort" not in run.stderr.lower()


def _children_cpu() -> float:
    """Seconds of CPU (user and system) used so far by this process's finished children."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def missing_module_tags(findings, sop_class: str) -> set[str]:
    """Tags of the Type 1 attributes of the modules Sentinel reports missing."""
    iod = iod_for(sop_class)
    missing = {f.details["module"] for f in findings if f.rule == "iod.module-missing"}
    return {format_tag(a.tag) for m in (iod.modules if iod else ()) if m.id in missing
            for a in m.attributes if a.type == "1"}


def file_meta_tags(findings) -> set[str]:
    """Tags of the File Meta elements ingest.filemeta-incomplete names ("missing or empty: A, B")."""
    return {format_tag(tag) for f in findings if f.rule == "ingest.filemeta-incomplete"
            for keyword in f.message.partition(":")[2].split(",") if (tag := tag_for_keyword(keyword.strip()))}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=0, help="check only the first N files")
    args = parser.parse_args()
    files = all_pydicom_files() + data_package_files()
    if ORTHANC_FILES.is_dir():
        files += sorted(p for p in ORTHANC_FILES.rglob("*") if p.is_file() and p.suffix.lower() in ("", ".dcm"))
    files = files[:args.limit] if args.limit else files
    warnings.simplefilter("ignore")
    # Sentinel runs resident in Orthanc, which compiles its kernels and the IOD tables of every SOP Class
    # at start-up (validators.warmup: here only what examine() runs). Once, before the clock.
    pixelbits.warm_up()
    waveform.warm_up()
    standard.warm_up()
    examine(files[0].read_bytes())
    # The start-up leaves a few hundred thousand young objects (numba, tables) that the collector promotes
    # once, in a 25-30 ms pass, soon after start: the resident plugin pays it once, not per object.
    gc.collect()

    per_file = Counter()
    agreed = Counter()
    missed: list[tuple[str, str, str, str]] = []
    sentinel_ms: list[float] = []
    sentinel_cpu_ms: list[float] = []
    sentinel_s = dciodvfy_s = sentinel_cpu_s = dciodvfy_cpu_s = 0.0
    aborted = []
    only_sentinel: list[tuple[str, list[str]]] = []
    only_dciodvfy: Counter = Counter()  # dciodvfy's messages (values cut off) in the files only it calls erroneous
    for path in files:
        data = path.read_bytes()
        start, start_cpu = time.perf_counter(), time.process_time()
        findings = examine(data)[0]  # everything the worker runs on one file but pixels: one parse
        elapsed, elapsed_cpu = time.perf_counter() - start, time.process_time() - start_cpu
        sentinel_s += elapsed
        sentinel_cpu_s += elapsed_cpu
        sentinel_ms.append(elapsed * 1e3)
        sentinel_cpu_ms.append(elapsed_cpu * 1e3)
        start, start_cpu = time.perf_counter(), _children_cpu()
        errors, completed = dciodvfy(path)
        dciodvfy_s += time.perf_counter() - start
        dciodvfy_cpu_s += _children_cpu() - start_cpu
        if not completed:
            aborted.append(path.name)
            continue
        ours = any(f.severity >= Severity.ERROR for f in findings)
        theirs = bool(errors)
        per_file[{(True, True): "both", (True, False): "only Sentinel", (False, True): "only dciodvfy",
                  (False, False): "neither"}[(ours, theirs)]] += 1
        if ours and not theirs:
            only_sentinel.append((path.name, sorted({f.rule for f in findings if f.severity >= Severity.ERROR})))
        if theirs and not ours:
            only_dciodvfy.update({_GIST.sub("", m).strip()[:70] for _, _, m in errors})
        type1_tags = {f.tag for f in findings if f.rule in _SENTINEL_TYPE1} | \
            missing_module_tags(findings, _sop_class(data)) | file_meta_tags(findings)
        enum_tags = {f.tag for f in findings if f.rule in _SENTINEL_ENUM}
        for kind, tag, message in errors:
            if kind == "other":
                continue
            hit = tag in (type1_tags if kind == "type1" else enum_tags)
            agreed[(kind, hit)] += 1
            if not hit:
                missed.append((path.name, kind, tag, message))

    print(f"tables: {standard_edition()}")
    print(f"{len(files)} files; dciodvfy did not complete on {len(aborted)}: {', '.join(aborted[:10])}")
    print("\nfiles called erroneous (Sentinel: error or critical finding; dciodvfy: an Error line)")
    for key in ("both", "only Sentinel", "only dciodvfy", "neither"):
        print(f"  {key:<14} {per_file[key]}")
    print("  only Sentinel, by the rules of its errors: " +
          "; ".join(f"{name} ({', '.join(rules)})" for name, rules in only_sentinel))
    print("  only dciodvfy, its errors in those files (number of files): " +
          "; ".join(f"{m} ({n})" for m, n in only_dciodvfy.most_common(12)))
    print("\ndciodvfy's Type 1 and Enumerated Value errors, and whether Sentinel reports the same attribute")
    for kind in ("type1", "enum"):
        print(f"  {kind:<6} reported {agreed[(kind, True)] + agreed[(kind, False)]:4}, Sentinel agrees "
              f"{agreed[(kind, True)]:4}, does not {agreed[(kind, False)]:4}")
    print("\nnot reported by Sentinel (file, kind, tag, dciodvfy's message):")
    for row in Counter((k, t, m) for _, k, t, m in missed).most_common(40):
        (kind, tag, message), n = row
        print(f"  {n:3}x {kind:<5} {tag} {message[:110]}")
    print("\nType 1 and Enumerated Value errors of dciodvfy that Sentinel does not report, and why:")
    for name, kind, tag, message in missed:
        if kind == "enum":
            value = _VALUE.search(message)
            why = _WHY_NOT.get((tag, value.group(1) if value else ""), "not explained")
        else:
            module = _MODULE.search(message)
            why = _WHY_NOT_TYPE1.get((tag, module.group(1) if module else ""), "not explained")
        print(f"  {name} {kind} {tag} {message[:60]}\n      {why}")
    slowest = sorted(zip(sentinel_ms, (p.name for p in files)), reverse=True)[:5]
    print("\nSentinel's slowest files: " + ", ".join(f"{name} {ms:.1f} ms" for ms, name in slowest))
    checked = len(files)
    print(f"\nSentinel: {checked / sentinel_s:.0f} files/s, median {statistics.median(sentinel_ms):.2f} ms "
          f"per instance (header validation: parse, IOD, VR/VM, coherence, plausibility); in CPU time "
          f"{checked / sentinel_cpu_s:.0f} files/s, median {statistics.median(sentinel_cpu_ms):.2f} ms")
    print(f"dciodvfy: {checked / dciodvfy_s:.0f} files/s, {dciodvfy_s / checked * 1e3:.1f} ms per file; in CPU "
          f"time {checked / dciodvfy_cpu_s:.0f} files/s, {dciodvfy_cpu_s / checked * 1e3:.1f} ms per file")
    print(f"ratio: Sentinel {dciodvfy_s / sentinel_s:.1f}x dciodvfy's files per second in wall time, "
          f"{dciodvfy_cpu_s / sentinel_cpu_s:.1f}x in CPU time")


def _sop_class(data: bytes) -> str:
    import io
    import pydicom
    try:
        return str(pydicom.dcmread(io.BytesIO(data), force=True, stop_before_pixels=True).get("SOPClassUID", ""))
    except Exception:
        return ""


if __name__ == "__main__":
    main()
