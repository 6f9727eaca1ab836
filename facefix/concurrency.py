"""A background thread for the slow tail of the work (encoding and writing), fed through a bounded queue."""

from __future__ import annotations

import functools
import queue
import threading
from collections.abc import Callable


class BackgroundWorker:
    """Runs submitted calls one after another, in order, on its own thread.

    At most ``pending`` calls wait: :meth:`submit` blocks while the queue is full, so a slow worker
    holds the producer back instead of letting memory grow. The first exception a call raises stops
    the worker (later calls are skipped) and is raised again in the producer's thread, by the next
    :meth:`submit` or by :meth:`close`, so errors read exactly as they would without the thread.

    As a context manager it always waits for the thread before leaving. When the body raises,
    ``discard_on_error`` drops the calls not yet started (their work is thrown away anyway), and the
    body's exception is the one that propagates.
    """

    def __init__(self, name: str, *, pending: int = 2, discard_on_error: bool = False):
        self.discard_on_error = discard_on_error
        self._calls: queue.Queue[Callable[[], object] | None] = queue.Queue(maxsize=pending)
        self._error: BaseException | None = None
        self._stopped = False  # set by an error or a discard; read by the thread before each call
        self._thread = threading.Thread(target=self._run, name=name, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while (call := self._calls.get()) is not None:
            if self._stopped:
                continue  # keep draining, so that a blocked submit or close can go on
            try:
                call()
            except BaseException as exc:  # noqa: BLE001 - handed to the producer's thread
                self._error, self._stopped = exc, True

    def submit(self, fn: Callable[..., object], *args: object) -> None:
        self._raise_error()
        self._calls.put(functools.partial(fn, *args))

    def close(self, *, discard: bool = False) -> None:
        """Wait until every call submitted has run (or, with ``discard``, only the one running), then
        raise the first error of a call, if any."""
        self._join(discard)
        self._raise_error()

    def _join(self, discard: bool) -> None:
        if self._thread.is_alive():
            self._stopped = self._stopped or discard
            self._calls.put(None)
            self._thread.join()

    def _raise_error(self) -> None:
        if self._error is not None:
            raise self._error

    def __enter__(self) -> BackgroundWorker:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self._join(self.discard_on_error)
