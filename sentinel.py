"""Entry script of the Sentinel plugin for Orthanc's Python plugin (``"Python": {"Path": ".../sentinel.py"}``).

Orthanc's Python plugin puts this file's folder first on ``sys.path``; we make sure of it again and check
that ``validators`` is Sentinel's own package, not the unrelated PyPI package of the same name that a
site-packages folder may hold. Any error here (a bad ``"Sentinel"`` configuration included) stops
Orthanc with the message in its log: refusing to start beats running without the checks one expects.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
if sys.path[:1] != [HERE]:
    sys.path.insert(0, HERE)

import validators  # noqa: E402

if not getattr(validators, "SENTINEL", False):
    raise ImportError(f"'validators' resolved to {validators.__file__}, not Sentinel's package in {HERE}")

import orthanc  # noqa: E402  (exists only inside Orthanc)

from plugin.main import start  # noqa: E402

start(orthanc)
