"""Series whose files need a decoder, checked in a worker process on frames decoded ahead
(validators.stored.frames_to_decode, scan_series_files' ``decoded``): the frames asked are exactly those
analyse_instance asks its decoder for, never those of an object over the limits, and the findings are
those of the same checks with the decoder at hand. pydicom's own RLE decoder plays Orthanc's here (the
plugin's decoder); the archive scan through a real Orthanc is in tests/integration/test_scan_processes.py."""

from __future__ import annotations

from typing import Iterator

import numpy as np
import pydicom
import pytest

from realfiles import fresh_copy
from validators.ingest import Limits
from validators.stored import (UNDECODABLE, DecodedFrames, DecoderNeeded, Undecodable, analyse_instance,
                               frames_to_decode, scan_series_files)

# RLE Lossless (PS3.5 Annex G), which pydicom decodes alone: a 16-bit MR, a 32-bit dose of 15 frames,
# colour of 2 frames.
ENCODED = ("MR_small_RLE.dcm", "rtdose_rle.dcm", "SC_rgb_rle_2frame.dcm")
NATIVE = ("CT_small.dcm", "MR_small.dcm")


def decoded_frames(data: bytes) -> list[np.ndarray]:
    """Every frame's stored values as the plugin's decoder gives them: (rows, columns[, samples])."""
    ds = pydicom.dcmread(pydicom.filebase.DicomBytesIO(data))
    pixels = ds.pixel_array
    return list(pixels) if int(ds.get("NumberOfFrames") or 1) > 1 else [pixels]


def decoder_of(data: bytes, fail_at: int | None = None):
    """A decoder of ``data``'s frames that raises Undecodable at frame ``fail_at`` (None: never)."""
    def decode(count: int) -> Iterator[np.ndarray]:
        for i, frame in enumerate(decoded_frames(data)[:count]):
            if i == fail_at:
                raise Undecodable(f"frame {i} is corrupt")
            yield frame
    return decode


@pytest.fixture(scope="module")
def files() -> list[tuple[str, bytes]]:
    return [(f"id-{name}", fresh_copy(name)) for name in ENCODED + NATIVE]


def test_the_frames_asked_are_those_of_the_encoded_files_and_all_of_them(files):
    assert frames_to_decode(files, Limits()) == {"id-MR_small_RLE.dcm": 1, "id-rtdose_rle.dcm": 15,
                                                  "id-SC_rgb_rle_2frame.dcm": 2}


def test_no_frame_is_asked_of_an_object_over_the_limits(files):
    asked = frames_to_decode(files, Limits(max_frames=5))
    assert "id-rtdose_rle.dcm" not in asked and "id-MR_small_RLE.dcm" in asked


def test_a_series_checked_on_frames_decoded_ahead_has_the_findings_of_one_checked_with_its_decoder(files):
    asked = frames_to_decode(files, Limits())
    decoded = {i: DecodedFrames(count, decoded_frames(data)[:count]) for i, data in files if (count := asked.get(i))}
    scanned = scan_series_files(files, Limits(), decoded)
    for instance_id, data in files:
        expected = analyse_instance(instance_id, data, Limits(), decoder_of(data))
        found = scanned.instances[instance_id]
        assert (found.findings, found.seal, found.identifiers) == \
            (expected.findings, expected.seal, expected.identifiers), instance_id


def test_the_pixel_checks_run_on_the_frames_decoded_ahead(files):
    instance_id, data = files[0]
    wiped = decoded_frames(data)[0] * 0
    found = scan_series_files([(instance_id, data)], Limits(), {instance_id: DecodedFrames(1, [wiped])})
    assert "pixels.constant" in {f.rule for f in found.instances[instance_id].findings}


def test_a_frame_the_decoder_failed_on_gives_the_finding_the_decoder_gives(files):
    instance_id, data = files[1]  # rtdose_rle: 15 frames, the decoder fails on the 4th
    decoded = {instance_id: DecodedFrames(15, decoded_frames(data)[:3], "frame 3 is corrupt")}
    found = scan_series_files([(instance_id, data)], Limits(), decoded).instances[instance_id]
    expected = analyse_instance(instance_id, data, Limits(), decoder_of(data, fail_at=3))
    assert found.findings == expected.findings
    assert UNDECODABLE.id in {f.rule for f in found.findings}


def test_frames_missing_or_of_another_count_leave_the_series_to_a_decoder(files):
    instance_id, data = files[1]
    with pytest.raises(DecoderNeeded):
        scan_series_files([(instance_id, data)], Limits())
    with pytest.raises(DecoderNeeded):
        scan_series_files([(instance_id, data)], Limits(), {instance_id: DecodedFrames(14, decoded_frames(data)[:14])})
