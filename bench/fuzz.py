"""Fuzzing benchmark: thousands of structurally mutated real DICOM files into a real Orthanc with Sentinel.

    scripts/runtime python3 bench/fuzz.py [--rest 4000] [--cstore 1000] [--seed 9] [--keep DIR]

The mutants of tests/fuzzing.py go over REST, then C-STORE (one storescu association each). Prints the
count per outcome and channel, the reasons, per mutation, Orthanc's RSS before and after and its peak, the
time, the worker's drain time, and every input not accounted for (saved to --keep for reproduction); then
the same inputs go into an Orthanc without Sentinel, for its peak RSS (the reference).
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

sys.path[:0] = [str(Path(__file__).resolve().parents[1]), str(Path(__file__).resolve().parents[1] / "tests")]
from fuzzing import MUTATIONS, fuzz  # noqa: E402
from integration.orthanc_server import OrthancServer  # noqa: E402

# The 512 MB deflate bombs take the worker several seconds each (fetch, parse, signatures, seal).
DRAIN_SECONDS = 1200


def innermost(traceback: str) -> tuple[str, str]:
    """(innermost file:line:function of Sentinel's own code, exception line) of a traceback from Orthanc's log."""
    frames = re.findall(r'File "([^"]*(?:sentinel\.py|/plugin/|/validators/)[^"]*)", line (\d+), in (\w+)', traceback)
    return (":".join(frames[-1]) if frames else "?"), traceback.splitlines()[-1][:160]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rest", type=int, default=4000)
    parser.add_argument("--cstore", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=9)
    parser.add_argument("--no-reference", action="store_true",
                        help="skip the reference run of the same inputs into an Orthanc without Sentinel")
    parser.add_argument("--keep", type=Path, default=Path("/tmp/sentinel-fuzz-failures"),
                        help="folder for the inputs not accounted for")
    args = parser.parse_args()

    def progress(i: int) -> None:
        if i % 500 == 0:
            print(f"  ... {i}", file=sys.stderr, flush=True)

    with OrthancServer() as server:
        run = fuzz(server, args.rest, args.cstore, args.seed, drain_bound=DRAIN_SECONDS, progress=progress)
        exit_code = server.process.poll()
    reference = None
    if not args.no_reference:
        with OrthancServer(sentinel=False) as server:
            reference = fuzz(server, args.rest, args.cstore, args.seed, progress=progress, sentinel=False)
    results = run.accountant.results
    print(f"# Fuzzing: {len(results)} of {args.rest + args.cstore} inputs sent ({args.rest} REST, {args.cstore} "
          f"C-STORE), seed {args.seed}, {run.seconds:.1f} s ({len(results) / run.seconds:.1f} inputs/s)")
    print(f"Orthanc alive afterwards: {run.alive} (exit code {exit_code})")
    for (channel, outcome), n in sorted(run.accountant.counts().items()):
        print(f"  {channel:<7} {outcome:<20} {n:>6}")
    print("Reasons (outcome, quarantine rule or message):")
    for (outcome, reason), n in sorted(run.accountant.reasons().items()):
        print(f"  {outcome:<20} {n:>6}  {reason}")
    print("Per mutation:")
    table = run.accountant.by_mutation()
    for name in MUTATIONS:
        print(f"  {name:<20} " + ", ".join(f"{k} {v}" for k, v in sorted(table.get(name, {}).items())))
    before, after = run.rss_kb
    print(f"Orthanc RSS with Sentinel: {before / 1024:.0f} MB before, {after / 1024:.0f} MB after, "
          f"peak {run.peak_kb / 1024:.0f} MB (analysis drained)")
    if reference is not None:
        print(f"Orthanc RSS without Sentinel (same inputs): peak {reference.peak_kb / 1024:.0f} MB, "
              f"{reference.seconds:.1f} s, alive afterwards: {reference.alive}; outcomes: "
              + ", ".join(f"{c} {o} {n}" for (c, o), n in sorted(reference.accountant.counts().items())))
    print(f"Worker backlog drained after the run in: "
          f"{f'not within {DRAIN_SECONDS} s' if run.drain_seconds is None else f'{run.drain_seconds:.1f} s'}")
    print(f"Sentinel tracebacks in the log: {len(run.tracebacks)}")
    for (place, error), n in Counter(innermost(tb) for tb in run.tracebacks).most_common():
        print(f"  {n:>5}  {error}  (at {place})")
    failures = run.accountant.failures()
    print(f"Inputs not accounted for: {len(failures)}")
    args.keep.mkdir(parents=True, exist_ok=True)
    for r in failures:
        path = args.keep / f"{r.input.index}-{r.input.mutation}.dcm"
        path.write_bytes(r.input.data)
        print(f"  {r.input.index} {r.input.seed_file} {r.input.mutation} {r.channel} {r.outcome}: {r.detail[:200]} -> {path}")


if __name__ == "__main__":
    main()
