"""Run a function in many threads at once (each with its own database connection)."""
from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

from django.db import connection

from core.errors import DomainError


def run_at_once(fn: Callable[[int], Any], count: int) -> list[Any]:
    """Start `count` threads that wait at a barrier, then call fn(i) together. Returns each
    call's result, or the error code of a DomainError it raised, in thread order."""
    start = threading.Barrier(count)
    results: list[Any] = [None] * count

    def work(i: int) -> None:
        try:
            start.wait(timeout=30)
            results[i] = fn(i)
        except DomainError as exc:
            results[i] = exc.code
        finally:
            connection.close()

    threads = [threading.Thread(target=work, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return results
