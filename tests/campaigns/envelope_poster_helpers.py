"""Helpers for the poster kill test (tests/campaigns/test_envelope_poster_kill.py): start the
poster in its own process on this test's PostgreSQL database (envelope_poster_process.py),
read its progress lines, SIGKILL it, and check the books of an envelope from the outside."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

from django.conf import settings
from django.db import connection
from django.db.models import Sum

from campaigns.models import EnvelopeShare
from campaigns.services.envelope_state import envelope_escrow_account
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from ledger.selectors import ledger_audit

ROOT = Path(__file__).resolve().parents[2]
GRABS_KIND = "campaigns.envelope_grabs"


def poster_start(envelope_id: int, mode: str, batch: int) -> subprocess.Popen:
    db = connection.settings_dict
    password = f":{db['PASSWORD']}" if db.get("PASSWORD") else ""
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings.base",
        "DATABASE_URL": f"postgres://{db['USER']}{password}@{db['HOST']}:{db['PORT']}/{db['NAME']}",
        "REDIS_URL": settings.REDIS_URL or "",
        "CELERY_BROKER_URL": settings.REDIS_URL or "",
        "CELERY_TASK_ALWAYS_EAGER": "1",
        "LOG_LEVEL": "WARNING",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "tests.campaigns.envelope_poster_process", str(envelope_id), mode, str(batch)],
        cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, bufsize=1,
    )


def read_until(proc: subprocess.Popen, prefix: str, *, timeout: float = 60.0) -> list[str]:
    """The lines the poster printed up to and including the first that starts with `prefix`."""
    lines: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            raise AssertionError(f"the poster ended before {prefix!r}: {lines} {proc.stderr.read()[-3000:]}")
        lines.append(line.strip())
        if line.startswith(prefix):
            return lines
    raise AssertionError(f"no {prefix!r} from the poster in {timeout} s: {lines}")


def backend_pid(ready_lines: list[str]) -> int:
    return int(ready_lines[-1].split()[1])


def kill(proc: subprocess.Popen, pid: int | None) -> list[str]:
    """SIGKILL the poster; wait until PostgreSQL has ended its session (so its transaction is
    rolled back and its locks gone); the rest of what it printed."""
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=10)
    rest = [line.strip() for line in proc.stdout.read().splitlines()]
    proc.stdout.close()
    proc.stderr.close()
    if pid is not None:
        deadline = time.monotonic() + 20
        with connection.cursor() as cur:
            while True:
                cur.execute("SELECT count(*) FROM pg_stat_activity WHERE pid = %s", [pid])
                if not cur.fetchone()[0]:
                    break
                assert time.monotonic() < deadline, f"backend {pid} of the killed poster still there"
                time.sleep(0.02)
    return rest


def finish(proc: subprocess.Popen, *, timeout: float = 120.0) -> str:
    out, err = proc.communicate(timeout=timeout)
    assert proc.returncode == 0, (proc.returncode, out[-2000:], err[-3000:])
    return out


def assert_books(env, grabbers: dict[int, int]) -> dict[str, int]:
    """The books of `env` as any other session sees them, whatever the poster was doing:

    * the escrow holds exactly the unposted grabbed shares plus the ungrabbed ones;
    * every grabber's wallet holds exactly their share if it is posted, else nothing;
    * no share posted twice: one envelope_grabs entry per posted share's wallet, none for an
      unposted one, each of the share's amount and in the transaction the share is marked with;
    * every envelope_grabs posting is marked on shares (no money moved without its shares), its
      escrow leg the sum of those shares;
    * the whole ledger audits clean.
    `grabbers`: user id → share amount (they have no other money). Returns counts for reports."""
    shares = list(EnvelopeShare.objects.filter(envelope_id=env.pk).values(
        "pk", "user_id", "amount_fen", "posting_id", "returned"))
    escrow = Account.objects.get(pk=envelope_escrow_account(envelope_id=env.pk).pk)
    unposted = sum(s["amount_fen"] for s in shares if s["posting_id"] is None and not s["returned"])
    assert escrow.balance_fen == unposted, ("escrow", escrow.balance_fen, unposted)

    by_user = {s["user_id"]: s for s in shares if s["user_id"] is not None}
    assert {u: s["amount_fen"] for u, s in by_user.items()} == grabbers
    wallets = dict(Account.objects.filter(owner_id__in=list(grabbers), kind=AccountKind.USER_WALLET)
                   .values_list("owner_id", "balance_fen"))
    entries = list(Entry.objects.filter(transaction__kind=GRABS_KIND, account__owner_id__in=list(grabbers),
                                        account__kind=AccountKind.USER_WALLET)
                   .values_list("account__owner_id", "transaction_id", "amount_fen"))
    per_user = Counter(u for u, _, _ in entries)
    assert not [u for u, n in per_user.items() if n > 1], "a share posted twice"
    entry_of = {u: (t, a) for u, t, a in entries}
    for user_id, s in by_user.items():
        posted = s["posting_id"] is not None
        assert wallets.get(user_id, 0) == (s["amount_fen"] if posted else 0), ("wallet", user_id, s)
        assert entry_of.get(user_id) == ((s["posting_id"], s["amount_fen"]) if posted else None), ("entry", s)

    postings = set(LedgerTransaction.objects.filter(kind=GRABS_KIND, cause_id=str(env.pk)).values_list("pk", flat=True))
    marked = {s["posting_id"] for s in shares if s["posting_id"] is not None}
    assert postings == marked, ("postings without their shares", postings - marked, marked - postings)
    for pk in postings:
        escrow_leg = Entry.objects.get(transaction_id=pk, account_id=escrow.pk).amount_fen
        assert -escrow_leg == EnvelopeShare.objects.filter(posting_id=pk).aggregate(s=Sum("amount_fen"))["s"]
    audit = ledger_audit()
    assert audit["ok"], audit
    return {"posted": sum(1 for s in by_user.values() if s["posting_id"] is not None),
            "grabbed": len(by_user), "postings": len(postings)}
