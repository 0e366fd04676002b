"""Every numba kernel compiled, or loaded from numba's on-disk cache, and every IOD table compiled, before
the first object needs it: Orthanc calls this at start-up, the Dockerfile at build time (so that a
container starts warm)."""

from __future__ import annotations

import warnings

from . import pixelbits, pixels, series, standard, waveform

MODULES = (pixelbits, pixels, series, standard, waveform)


def warm_up() -> None:
    """Compile or load every kernel signature the checks use; compile every IOD table."""
    for module in MODULES:
        module.warm_up()


def quiet_pydicom() -> None:
    """Ignore pydicom's warnings on invalid values: each one is a finding already, and a warning per
    element would flood a log (Orthanc's, in the plugin)."""
    warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?$")
