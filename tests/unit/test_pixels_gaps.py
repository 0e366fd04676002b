"""validators.pixels.gaps: a patch of another image rescaled by a > 1 into a frame of noise-like texture
(no unit steps anywhere) is found by its values skipping their neighbours; clean noise, graphics and
frames on a lattice are not."""

import numpy as np
import pytest
from scipy import ndimage

from bench import tampering
from validators.pixels import gaps
from validators.pixels.gaps import expected_pairs, gap_squares, value_gap_findings


def noise_like_ct(seed=0, shape=(256, 256)):
    """Correlated noise of sd ~100 around 1000, int16: neighbours differ by tens of stored values."""
    rng = np.random.default_rng(seed)
    texture = ndimage.gaussian_filter(rng.normal(0, 1, shape), 1.5)
    return np.round(1000 + texture / texture.std() * 100).astype(np.int16)


def quiet_donor(seed=5, shape=(256, 256)):
    """A low-noise image (sd ~3 stored values): rescaled to sd ~100, its values lie ~30 apart."""
    return np.round(np.random.default_rng(seed).normal(1000, 3, shape)).astype(np.int16)


def test_expected_pairs_of_gaussian_samples():
    rng = np.random.default_rng(0)
    for sd in (2.0, 10.0, 60.0, 400.0):
        counts = []
        for _ in range(400):
            values = np.unique(np.round(rng.normal(0.3, sd, 64)))
            counts.append(np.count_nonzero(np.diff(values) == 1))
        assert expected_pairs(np.array([sd]))[0] == pytest.approx(np.mean(counts), rel=0.1)
    assert expected_pairs(np.array([0.0]))[0] < 0.5


def test_rescaled_patch_found():
    frame, donor = noise_like_ct(), quiet_donor()
    assert value_gap_findings(frame, 0) == []
    rng = np.random.default_rng(2)
    for size in (24, 32, 48, 64):
        forged, box = tampering.paste(frame, size, rng, donor)
        found = value_gap_findings(forged, 4)
        assert found and tampering.overlaps(found[0].details["bbox"], box)
        assert found[0].rule == "forensics.value-gaps" and found[0].details["frame"] == 4
        assert found[0].details["score"] >= gaps._THRESHOLD


def test_clean_noise_graphics_and_lattices_not_reported():
    frame = noise_like_ct(1)
    frame[100:160, 100:160] = 1000 + 300 * (np.arange(60) % 2)    # a two-valued graphic: not informative
    assert value_gap_findings(frame, 0) == []
    assert value_gap_findings(noise_like_ct(2) // 32 * 32, 0) == []    # no pair anywhere: nothing to contrast
    assert value_gap_findings(noise_like_ct(3).astype(np.float32), 0) == []
    assert value_gap_findings(noise_like_ct(3).astype(np.int64), 0) == []
    assert gap_squares(noise_like_ct(3)[:40, :40], -np.inf) == []
