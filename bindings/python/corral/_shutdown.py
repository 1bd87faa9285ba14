"""Closing drivers before the interpreter exits.

A driver's threads call into Python; once the interpreter finalizes, a
thread that asks for the GIL is ended on the spot, which C++ cannot survive.
So at exit every driver still in existence is closed (its threads joined)
while the interpreter is whole, and drivers closed from their own callback
threads are waited for. Closing never tears a framework down.
"""

from __future__ import annotations

import atexit
import weakref
from typing import Protocol

from corral import _native


class _Closable(Protocol):
    def _close(self) -> None: ...


_drivers: weakref.WeakSet[_Closable] = weakref.WeakSet()


def track(driver: _Closable) -> None:
    _drivers.add(driver)


@atexit.register
def _close_all() -> None:
    for d in list(_drivers):
        d._close()
    _native.wait_for_closing(10.0)
