"""Every numba kernel compiled, or loaded from numba's on-disk cache, and every IOD table compiled, before
the first object needs it: Orthanc calls this at start-up, the Dockerfile at build time (so that a
container starts warm)."""

from __future__ import annotations

from . import pixelbits, pixels, series, standard, waveform

MODULES = (pixelbits, pixels, series, standard, waveform)


def warm_up() -> None:
    """Compile or load every kernel signature the checks use; compile every IOD table."""
    for module in MODULES:
        module.warm_up()
