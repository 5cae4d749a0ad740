"""One time limit for judging, on the process's one real-time timer (SIGALRM), that nests: a limit set inside
another runs within what is left of the outer one and gives it back the rest afterwards.

Used for a whole cell's verdict (verdicts.py) and, inside it, for each ``simplify`` (symbolic.py).
"""

from __future__ import annotations

import signal
import threading
import time
from typing import Callable, TypeVar

T = TypeVar("T")


class TimeLimitExpired(BaseException):
    """Not an Exception: the checkers' own error handling must not swallow it."""


def available() -> bool:
    """Only the main thread of a process can own the timer (and only where the platform has one)."""
    return threading.current_thread() is threading.main_thread() and hasattr(signal, "setitimer")


def within(seconds: float, function: Callable[[], T]) -> T:
    """``function()``, stopped by TimeLimitExpired after ``seconds`` (or when an enclosing limit runs out first).
    Where no timer is available (``available()`` is False) the function runs unguarded."""
    if not available():
        return function()

    def expire(signum, frame):
        raise TimeLimitExpired(f"more than {seconds} s")

    outer, _ = signal.getitimer(signal.ITIMER_REAL)
    started = time.monotonic()
    previous = signal.signal(signal.SIGALRM, expire)
    signal.setitimer(signal.ITIMER_REAL, min(seconds, outer) if outer else seconds)
    try:
        return function()
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)
        if outer:
            signal.setitimer(signal.ITIMER_REAL, max(outer - (time.monotonic() - started), 0.001))
