"""Importing this module loads every kernel and table the checks use (:func:`validators.warmup.warm_up`)
and quiets pydicom's warnings on invalid values: the archive scan's fork server imports it once, so that
every worker process forked from it starts warm."""

from .warmup import quiet_pydicom, warm_up

quiet_pydicom()
warm_up()
