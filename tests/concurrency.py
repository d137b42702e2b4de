"""Run a function in many threads at once (each with its own database connection).

Every test that starts threads goes through `run_at_once`: a thread that crashes (any
exception other than a DomainError, which is an answer) fails the test after all threads
have been joined — a crashed thread can never go unnoticed."""
from __future__ import annotations

import threading
import traceback
from collections.abc import Callable
from typing import Any

from django.db import connection

from core.errors import DomainError

JOIN_TIMEOUT_SECONDS = 300


class ThreadFailed(AssertionError):
    """One or more threads of run_at_once raised; `errors` holds (thread index, exception)."""

    def __init__(self, errors: list[tuple[int, BaseException]]):
        self.errors = errors
        lines = [f"{len(errors)} thread(s) raised:"]
        for i, exc in errors:
            lines.append(f"--- thread {i}: {exc!r}")
            lines.append("".join(traceback.format_exception(exc)).rstrip())
        super().__init__("\n".join(lines))


def run_at_once(fn: Callable[[int], Any], count: int, *, domain_errors: bool = True) -> list[Any]:
    """Start `count` threads that wait at a barrier, then call fn(i) together. Returns each
    call's result, or the error code of a DomainError it raised, in thread order.

    Any other exception (or a DomainError when `domain_errors` is False) in any thread is
    collected and raised as ThreadFailed once every thread has finished; so is a thread
    that does not finish within JOIN_TIMEOUT_SECONDS."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count
    errors: list[tuple[int, BaseException]] = []
    lock = threading.Lock()

    def work(i: int) -> None:
        try:
            start.wait(timeout=30)
            results[i] = fn(i)
        except DomainError as exc:
            if domain_errors:
                results[i] = exc.code
            else:
                with lock:
                    errors.append((i, exc))
        except BaseException as exc:  # noqa: BLE001 - every crash is reported to the test
            with lock:
                errors.append((i, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,), daemon=True) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=JOIN_TIMEOUT_SECONDS)
    hung = [i for i, t in enumerate(threads) if t.is_alive()]
    if hung:
        errors.extend((i, TimeoutError(f"thread {i} still running after {JOIN_TIMEOUT_SECONDS} s")) for i in hung)
    if errors:
        raise ThreadFailed(sorted(errors, key=lambda e: e[0]))
    return results
