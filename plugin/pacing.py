"""Background work that yields to ingest: while this peer has received an object within the last second,
a background task takes at most ``share`` of the wall time, by sleeping after each unit of work in
proportion to the time that unit took. It still progresses under sustained load, and runs at full speed
once the load stops."""

from __future__ import annotations

import threading
import time
from typing import Callable

LOAD_WINDOW_SECONDS = 1.0


class IngestPacer:
    """``last_ingest()`` is the ``time.monotonic()`` of this peer's latest received object."""

    def __init__(self, share: float, last_ingest: Callable[[], float]):
        self.share = share
        self.last_ingest = last_ingest

    def pause_after(self, spent: float, stop: threading.Event) -> None:
        """Sleep (until ``stop`` is set at most) after a unit of work that took ``spent`` seconds."""
        if time.monotonic() - self.last_ingest() < LOAD_WINDOW_SECONDS:
            stop.wait(spent * (1 - self.share) / self.share)
