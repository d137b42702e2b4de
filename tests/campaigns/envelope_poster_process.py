"""The red-envelope poster as a separate process, to be killed by tests/campaigns/test_envelope_poster_kill.py.

    python -m tests.campaigns.envelope_poster_process <envelope_id> <mode> [batch]

It runs campaigns.services.envelope_posting.envelope_grabs_post against the database in
DATABASE_URL, printing one line per step (flushed) so that the test knows where it is:

* ``READY <backend pid>`` once Django is set up and connected, before the first batch;
* ``BEGIN`` before each batch, ``DONE <n>`` after each batch committed (n shares), ``END`` at the end;
* mode ``batches``: batches of `batch` shares (the module's POST_BATCH) until nothing is left;
* mode ``hold_after_ledger`` / ``hold_after_mark``: one batch whose transaction stays open
  (``HELD``, then pg_sleep in a loop) right after its ledger posting was written, or right
  after the shares were marked with it — a SIGKILL then lands inside the transaction for sure.
"""
from __future__ import annotations

import os
import sys


def _say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def _hold() -> None:
    from django.db import connection

    _say("HELD")
    with connection.cursor() as cur:
        for _ in range(600):  # at most 30 s; the test kills it long before
            cur.execute("SELECT pg_sleep(0.05)")


def main(envelope_id: int, mode: str, batch: int) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings.base")
    import django

    django.setup()
    from django.db import connection

    from campaigns.services import envelope_posting

    envelope_posting.POST_BATCH = batch
    if mode == "hold_after_ledger":
        real_post = envelope_posting.ledger_post

        def ledger_post_then_hold(**kwargs):
            posting = real_post(**kwargs)
            _hold()
            return posting

        envelope_posting.ledger_post = ledger_post_then_hold
    elif mode == "hold_after_mark":
        # The shares are marked with the posting by the last statement of the batch's
        # transaction (an UPDATE of EnvelopeShare): hold right after it, before the commit.
        from django.db.models import QuerySet

        from campaigns.models import EnvelopeShare

        real_update = QuerySet.update

        def update_then_hold(self, **kwargs):
            done = real_update(self, **kwargs)
            if self.model is EnvelopeShare and "posting" in kwargs:
                _hold()
            return done

        QuerySet.update = update_then_hold
    elif mode != "batches":
        raise SystemExit(f"unknown mode {mode!r}")
    with connection.cursor() as cur:
        cur.execute("SELECT pg_backend_pid()")
        _say(f"READY {cur.fetchone()[0]}")
    while True:
        _say("BEGIN")
        n = envelope_posting.envelope_grabs_post(envelope_id=envelope_id)
        _say(f"DONE {n}")
        if not n:
            break
    _say("END")


if __name__ == "__main__":
    main(int(sys.argv[1]), sys.argv[2], int(sys.argv[3]) if len(sys.argv) > 3 else 5000)
