"""Stopping a long-running command on SIGTERM or SIGINT (``make run``'s Ctrl-C, a container's
stop) at the next turn of its loop, after what it is doing."""

import signal
from typing import Any


class StopRequested:
    """Installs the handlers; true once either signal has arrived."""

    def __init__(self) -> None:
        self.requested = False
        signal.signal(signal.SIGTERM, self._stop)
        signal.signal(signal.SIGINT, self._stop)

    def _stop(self, *_: Any) -> None:
        self.requested = True

    def __bool__(self) -> bool:
        return self.requested
