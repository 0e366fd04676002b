"""Structurally fuzzed DICOM through REST and C-STORE into a real Orthanc with Sentinel (issue 9).

A short run of tests/fuzzing.py's mutants (bench/fuzz.py runs thousands): Orthanc never crashes or
hangs, never answers 5xx, its memory stays bounded, every input is stored, quarantined or refused with a
reason, the background analysis drains, and no Sentinel traceback appears in the log.
"""

from __future__ import annotations

import pytest
import requests

from fuzzing import ORTHANC_CRASH_LEVELS, PRIVATE_CREATOR, fuzz, insert_top_level, nested_sequence, seeds
from integration.orthanc_server import OrthancServer

RUN_SEED = 9
# The largest deflate bomb inflates to 512 MB: a reader that inflated it whole would grow by that much.
MAX_RSS_GROWTH_KB = 400 * 1024
DRAIN_SECONDS = 60


def test_fuzzed_inputs_are_accounted_for_and_orthanc_survives(orthanc):
    run = fuzz(orthanc, rest_inputs=200, cstore_inputs=30, run_seed=RUN_SEED, drain_bound=DRAIN_SECONDS)
    last = run.accountant.results[-1]
    assert run.alive, (f"Orthanc stopped answering (exit code {orthanc.process.poll()}) after input {last.input.index} "
                       f"({last.input.seed_file}, {last.input.mutation}): {last.outcome} {last.detail}")
    failures = [(r.input.index, r.input.seed_file, r.input.mutation, r.channel, r.outcome, r.detail)
                for r in run.accountant.failures()]
    assert not failures, f"inputs not accounted for (index, seed file, mutation, channel, outcome, detail): {failures}"
    assert len(run.accountant.results) == 230
    rss_before, rss_after = run.rss_kb
    assert rss_after - rss_before < MAX_RSS_GROWTH_KB, (run.rss_kb, run.peak_kb)
    assert run.drain_seconds is not None, f"worker backlog not drained within {DRAIN_SECONDS} s"
    assert not run.tracebacks, run.tracebacks[0]


@pytest.mark.xfail(strict=True, reason="Orthanc 1.12.7 dies (SIGSEGV) on a REST upload whose sequences nest 56 "
                                       "levels or more, with or without Sentinel: it parses the object even "
                                       "after Sentinel's DISCARD, to answer FilteredOut (reported to the lead)")
def test_deeply_nested_sequence_does_not_kill_orthanc():
    seed = seeds()[0]
    data = insert_top_level(seed, seed.data, nested_sequence(ORTHANC_CRASH_LEVELS, True, seed.encoding),
                            PRIVATE_CREATOR)
    with OrthancServer() as server:
        try:
            server.upload(data)
        except requests.ConnectionError:
            pass  # the process died under the request: checked below
        server.wait_for(lambda: server.process.poll() is not None or server.get("/system").ok, timeout=10)
        assert server.process.poll() is None
