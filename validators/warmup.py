"""Every numba kernel compiled, or loaded from numba's on-disk cache, before the first object needs it:
Orthanc calls this at start-up, the Dockerfile at build time (so that a container starts warm)."""

from __future__ import annotations

from . import pixelbits, pixels, series, waveform

MODULES = (pixelbits, pixels, series, waveform)


def warm_up() -> None:
    """Compile or load every kernel signature the checks use."""
    for module in MODULES:
        module.warm_up()
