"""validators.pixels.lattice: a patch pasted into a frame whose values lie on a lattice is found by its
values off it; frames without a lattice, clean lattice frames and graphics drawn off it are not."""

import numpy as np

from bench import tampering
from validators.pixels.lattice import off_lattice_findings, value_lattice


def on_lattice(seed=0, g=32, residue=0, shape=(240, 320)):
    """An ultrasound-like frame of 8-bit speckle stored as multiples of ``g`` plus ``residue``, uint16."""
    rng = np.random.default_rng(seed)
    speckle = np.clip(np.round(rng.normal(120, 20, shape)), 0, 255).astype(np.int64)
    return (speckle * g + residue).astype(np.uint16)


def test_lattice_read_from_sampled_rows():
    assert value_lattice(on_lattice()) == (32, 0)
    assert value_lattice(on_lattice(g=8, residue=3)) == (8, 3)
    noisy = np.random.default_rng(1).integers(0, 4096, (256, 256)).astype(np.int16)
    assert value_lattice(noisy) == (1, 0)
    mask = np.zeros((128, 128), np.uint8)
    mask[40:80, 30:90] = 255             # two values: a segmentation, not an image on a lattice
    assert value_lattice(mask) == (1, 0)


def test_pasted_patch_found_off_the_lattice():
    frame, donor = on_lattice(0), np.round(np.random.default_rng(5).normal(2000, 300, (240, 320))).astype(np.uint16)
    assert off_lattice_findings(frame, 0) == []
    rng = np.random.default_rng(2)
    for size in (24, 32, 64):
        forged, box = tampering.paste(frame, size, rng, donor)
        assert value_lattice(forged) == (32, 0)     # rows through the patch are outvoted
        found = off_lattice_findings(forged, 3)
        assert len(found) == 1 and tampering.overlaps(found[0].details["bbox"], box)
        assert found[0].details["frame"] == 3 and found[0].details["lattice"] == [32, 0]
        assert 0.8 < found[0].details["score"] <= 1.05


def test_graphics_and_frames_without_lattice_not_reported():
    frame = on_lattice(1)
    frame[100:140, 100:200] = 65535      # a text box burned in at one value off the lattice
    assert off_lattice_findings(frame, 0) == []
    noisy = np.random.default_rng(1).integers(0, 4096, (256, 256)).astype(np.int16)
    assert off_lattice_findings(noisy, 0) == []
    assert off_lattice_findings(on_lattice().astype(np.float32), 0) == []
