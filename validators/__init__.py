"""Sentinel's pure core: DICOM bytes, pydicom datasets and numpy arrays in; findings out.

Nothing here imports ``orthanc`` or does I/O beyond what it is handed, so that it runs and is tested
anywhere. The name is also that of an unrelated PyPI package: Sentinel's entry points put this
repository first on ``sys.path`` and check ``validators.SENTINEL`` to be sure they got this one.
"""

SENTINEL = True
__version__ = "0.1.0"
