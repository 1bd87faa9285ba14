"""What the scheduler and executor drivers share about their life cycle.

- A running driver is held here, so that it keeps working when the program
  drops its last reference to it.
- Every driver in existence is closed (its threads joined) at interpreter
  exit, while the interpreter is whole: once it finalizes, a driver thread
  that asks for the GIL is ended on the spot, which C++ cannot survive.
  Drivers closed from their own callback threads are waited for too.
  Closing never tears a framework down.
- join() waits in short slices, so that Ctrl-C is handled promptly.
"""

from __future__ import annotations

import abc
import atexit
import threading
import time
import weakref
from collections.abc import Callable
from typing import Protocol, TypeVar

from corral import _native
from corral._ids import non_negative
from corral.errors import error_for

Result = tuple[int, str]
_T = TypeVar("_T")


class _Closable(Protocol):
    def _close(self) -> None: ...


class _NativeDriver(Protocol):
    def close(self) -> None: ...


_existing: weakref.WeakSet[_Closable] = weakref.WeakSet()
_running: set[object] = set()
_lock = threading.Lock()


def track(driver: _Closable) -> None:
    """Registers a new driver, to be closed at exit if it still exists."""
    _existing.add(driver)


def start(driver: object, native_start: Callable[[], Result]) -> None:
    """Starts a driver and holds it while it runs."""
    with _lock:
        check(native_start())
        _running.add(driver)


def forget(driver: object) -> None:
    """The driver stopped: the program's references alone decide its life."""
    with _lock:
        _running.discard(driver)


def check(result: Result) -> None:
    """Raises the CorralError for a failed native status."""
    if result[0] != 0:
        raise error_for(result[0], result[1])


def join(join_for: Callable[[float], Result | None], timeout: float | None) -> Result | None:
    """Waits for a driver to stop; None if `timeout` passed first."""
    deadline = None if timeout is None else time.monotonic() + non_negative(timeout, "timeout")
    while True:
        step = 0.2 if deadline is None else max(0.0, min(0.2, deadline - time.monotonic()))
        result = join_for(step)
        if result is not None:
            return result
        if deadline is not None and time.monotonic() >= deadline:
            return None


@atexit.register
def _close_all() -> None:
    for d in list(_existing):
        d._close()
    _native.wait_for_closing(10.0)


class DriverBase(abc.ABC):
    """The plumbing both Python drivers share: status checks, closing, and
    running a user callback so that an exception stops the driver and is
    kept for join() to raise."""

    _error: BaseException | None = None
    _native: _NativeDriver

    _check = staticmethod(check)

    @abc.abstractmethod
    def _deliver(self, payload: bytes) -> None:
        """Handles one serialized event from the native driver."""

    def _disconnected(self) -> None:
        """The native driver lost its connection (schedulers only)."""

    @abc.abstractmethod
    def _halt(self) -> None:
        """Stops the native driver after a callback raised (without tearing down)."""

    def _close(self) -> None:
        """Stops the driver (never tearing a framework down) and joins its threads."""
        self._forget()
        self._native.close()

    def _forget(self) -> None:
        forget(self)

    def _guarded(self, fn: Callable[[_T], None], arg: _T) -> None:
        if self._error is not None:
            return
        try:
            fn(arg)
        except BaseException as e:  # noqa: BLE001 - raised again from join()
            self._error = e
            self._halt()
            self._forget()


class Sink:
    """What a native driver delivers events to. Holds its driver weakly, so
    that the native object and the Python one do not keep each other alive."""

    __slots__ = ("_driver",)

    def __init__(self, driver: DriverBase) -> None:
        self._driver = weakref.ref(driver)

    def _on_event(self, payload: bytes) -> None:
        d = self._driver()
        if d is not None:
            d._deliver(payload)

    def _on_disconnected(self) -> None:
        d = self._driver()
        if d is not None:
            d._disconnected()
