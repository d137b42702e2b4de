"""run_at_once itself: results in order, DomainErrors as codes, any crash fails the test."""
from __future__ import annotations

import pytest

from core.errors import Conflict
from tests.concurrency import ThreadFailed, run_at_once


def test_results_in_thread_order_and_domain_errors_as_codes():
    def fn(i):
        if i == 2:
            raise Conflict("no", code="busy")
        return i * 10

    assert run_at_once(fn, 4) == [0, 10, "busy", 30]


def test_a_thread_that_raises_fails_the_call_after_all_threads_ran():
    ran = []

    def fn(i):
        ran.append(i)
        if i in (1, 3):
            raise RuntimeError(f"crash {i}")
        return i

    with pytest.raises(ThreadFailed) as info:
        run_at_once(fn, 5)
    assert sorted(ran) == [0, 1, 2, 3, 4]  # every thread ran to its end first
    assert [i for i, _ in info.value.errors] == [1, 3]
    assert "crash 1" in str(info.value) and "crash 3" in str(info.value)


def test_domain_errors_can_be_failures_too():
    def fn(i):
        raise Conflict("no", code="busy")

    with pytest.raises(ThreadFailed):
        run_at_once(fn, 2, domain_errors=False)
