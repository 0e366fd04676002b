"""Importing this module loads every kernel and table the checks use (:func:`validators.warmup.warm_up`)
and silences pydicom's warnings on invalid values (each one is a finding already): the archive scan's
fork server imports it once, so that every worker process forked from it starts warm."""

import warnings

from .warmup import warm_up

warnings.filterwarnings("ignore", category=UserWarning, module=r"pydicom(\..*)?$")
warm_up()
