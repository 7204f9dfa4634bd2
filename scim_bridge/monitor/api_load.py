"""How busy the API is: the requests it is answering right now (issue 14).

The HTTP layer counts them (http/in_flight.py); the translator reads the count and gives way
while it is above zero (sync/courtesy.py). Both sides import this module, which imports
neither. `serve` runs the translator in a process of its own beside the API processes, so its
count lives in shared memory made before gunicorn forks (SharedInFlight).
"""

from __future__ import annotations

import multiprocessing
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


class SharedInFlight(InFlight):
    """The same count over every process forked after it was made (gunicorn's workers and
    `serve`'s translator): one integer in shared memory under a process-shared lock."""

    def __init__(self) -> None:
        context = multiprocessing.get_context("fork")
        self._lock = context.Lock()  # type: ignore[assignment]
        self._shared = context.RawValue("i", 0)

    def enter(self) -> None:
        """Count one more request being answered, in any process."""
        with self._lock:
            self._shared.value += 1

    def leave(self) -> None:
        """Count one request answered, in any process."""
        with self._lock:
            self._shared.value -= 1

    @property
    def count(self) -> int:
        """Return how many requests every API process is answering now."""
        return int(self._shared.value)

    def busy(self) -> bool:
        """Return whether any API process is answering a request now."""
        return self._shared.value > 0
