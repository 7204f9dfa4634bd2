"""How busy this API process is: the requests it is answering right now (issue 14).

The HTTP layer counts them (http/in_flight.py); the translator embedded in the same process
reads the count and gives way while it is above zero (sync/courtesy.py). Both sides import
this module, which imports neither.
"""

from __future__ import annotations

import threading


class InFlight:
    """A thread-safe count of the requests being answered."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._count = 0

    def enter(self) -> None:
        """Count one more request being answered."""
        with self._lock:
            self._count += 1

    def leave(self) -> None:
        """Count one request answered."""
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        """Return how many requests are being answered now."""
        return self._count

    def busy(self) -> bool:
        """Return whether any request is being answered now."""
        return self._count > 0
