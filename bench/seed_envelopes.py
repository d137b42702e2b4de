"""The red-envelope rows' data (issue 12), seeded through the campaigns services.

* *Grabs while shares last* (`seed_grab_row`): envelope GRAB_ENVELOPE_ID of GRAB_SHARES
  (12,000) shares of 1 yuan on average (random split), filled from its owner's wallet and
  opened by `envelope_create(open_now=True)` (the owner's wallet funded from the outside world,
  as bench/seed.py funds its ledger users; RedEnvelopeSettings raised for the bench so such an
  envelope is allowed). GRAB_SHARES + 1 WeChat users with a Bearer token each: the pre-check's
  (GRAB_TOKEN_FILE) and the row's (GRAB_TOKENS_FILE, one per line). bench/grab.lua sends the
  k-th request of a run (counted over the warm-up and the measured run) with token k, so every
  request is a different user's first grab; past the last token (`wraps`) users come again.
* *Grabs once it is empty* (`seed_empty_row`): envelope EMPTY_ENVELOPE_ID of EMPTY_SHARES
  (2,000) shares, every one grabbed in the seed through `envelope_grab` (threads, in-process) by
  EMPTY_SHARES users and posted to their wallets; EMPTY_NEW (2,000) more users who never
  grabbed it. EMPTY_TOKENS_FILE alternates the two (a winner, a newcomer, ...): the row asks
  again and again, and every answer is a 409 — already_grabbed for a winner, envelope_empty
  for a newcomer.
* The `/api/v1/me/` rows' user (ME_TOKEN_FILE), with a wallet.

`python bench/seed_envelopes.py` (Django set up from DATABASE_URL) seeds them and prints one JSON
line; bench/seed.py calls `seed_envelope_rows()` in the full bench.
"""
from __future__ import annotations

import json
import os
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

if __name__ == "__main__":
    from _django import setup

    setup()

from django.db import close_old_connections, connections  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_issue  # noqa: E402
from bench.seed_crowdfunds import crowdfund_ids_from, users  # noqa: E402
from campaigns.models import RedEnvelope, RedEnvelopeSettings  # noqa: E402
from campaigns.services.envelope_grabs import envelope_grab  # noqa: E402
from campaigns.services.envelope_posting import envelope_grabs_post  # noqa: E402
from campaigns.services.envelopes import envelope_create  # noqa: E402
from core.errors import Conflict  # noqa: E402
from ledger.models import AccountKind  # noqa: E402
from ledger.services import account_get_or_create, ledger_post  # noqa: E402

WORK = Path(__file__).resolve().parent / ".work"

GRAB_ENVELOPE_ID = 900001
EMPTY_ENVELOPE_ID = 900002
GRAB_SHARES = int(os.environ.get("BENCH_ENVELOPE_SHARES", "12000"))
EMPTY_SHARES = int(os.environ.get("BENCH_EMPTY_SHARES", "2000"))
EMPTY_NEW = int(os.environ.get("BENCH_EMPTY_NEW", "2000"))
SHARE_FEN = 100  # the average share
MAX_COUNT = 100_000  # the model's ceiling: the bench's envelopes are far larger than the default 1,000
SEED_THREADS = 8

GRAB_TOKENS_FILE = WORK / "grab_tokens.txt"
GRAB_TOKEN_FILE = WORK / "grab_token.txt"  # the pre-check's grabber
GRAB_OFFSET_FILE = WORK / "grab.offset"
GRAB_RUNS_FILE = WORK / "grab_runs.jsonl"  # one line per wrk run, written by bench/grab.lua
EMPTY_TOKENS_FILE = WORK / "empty_tokens.txt"
EMPTY_TOKEN_FILE = WORK / "empty_token.txt"
EMPTY_OFFSET_FILE = WORK / "empty.offset"
EMPTY_RUNS_FILE = WORK / "empty_runs.jsonl"
ME_TOKEN_FILE = WORK / "me_token.txt"
ENVELOPE_SEED_FILE = WORK / "envelope_seed.json"


def grab_path(envelope_id: int) -> str:
    return f"/api/v1/red-envelopes/{envelope_id}/grab/"


def envelope_settings_raise(*, count: int = MAX_COUNT, pool_fen: int) -> None:
    """The operator's limits raised so the bench's envelopes are allowed (the bench database only)."""
    config, _ = RedEnvelopeSettings.objects.get_or_create(pk=1)
    config.max_count = max(config.max_count, count)
    config.max_total_fen = max(config.max_total_fen, pool_fen)
    config.save()


def owner_funded(name: str, amount_fen: int) -> User:
    """A user whose wallet got `amount_fen` from the outside world (one posting)."""
    owner = users(name, 1)[0]
    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=owner)
    ledger_post(kind="bench.fund", idempotency_key=f"bench:fund:{owner.username}",
                legs=[(outside, -amount_fen), (wallet, amount_fen)])
    return owner


def envelope_opened(*, owner_name: str, count: int, total_fen: int | None = None) -> RedEnvelope:
    """An envelope of `count` shares filled from a freshly funded owner's wallet and opened."""
    total_fen = total_fen or count * SHARE_FEN
    envelope_settings_raise(count=count, pool_fen=total_fen)
    owner = owner_funded(owner_name, total_fen)
    env, _ = envelope_create(owner=owner, total_fen=total_fen, count=count, split="random",
                             greeting="", open_now=True)
    return env


def grab_many(envelope_id: int, people: list[User], *, threads: int = SEED_THREADS) -> dict:
    """Each of `people` grabs once through `envelope_grab`, `threads` at a time (1: in the calling
    thread); counts by outcome and the wall time. Each thread closes its database connection at the end."""
    def grabs(part: list[User]) -> dict:
        counts: dict[str, int] = {}
        for user in part:
            try:
                envelope_grab(user_id=user.pk, envelope_id=envelope_id)
                key = "grabbed"
            except Conflict as exc:
                key = exc.code
            counts[key] = counts.get(key, 0) + 1
        return counts

    def work(part: list[User]) -> dict:
        try:
            return grabs(part)
        finally:
            connections.close_all()  # this thread's

    started = time.perf_counter()
    if threads == 1:  # in the calling thread, on its connection (no thread started)
        results = [grabs(people)]
    else:
        close_old_connections()
        parts = [people[i::threads] for i in range(threads)]
        with ThreadPoolExecutor(threads) as pool:
            results = list(pool.map(work, parts))
    seconds = time.perf_counter() - started
    total: dict[str, int] = {}
    for counts in results:
        for k, v in counts.items():
            total[k] = total.get(k, 0) + v
    return {"counts": total, "seconds": seconds}


def post_all(envelope_id: int) -> int:
    """`envelope_grabs_post` until it posts nothing; the shares posted."""
    posted = 0
    while n := envelope_grabs_post(envelope_id=envelope_id):
        posted += n
    return posted


def gate_forget(envelope_id: int) -> None:
    """Drop a Redis gate left under this id by an earlier run (bench/run.py flushes Redis only
    after the seed; a stale gate would answer the new envelope's grabs from the old one's state)."""
    from campaigns.services import envelope_gate

    g = envelope_gate.gate()
    if g is not None:
        envelope_gate.gate_drop(g, envelope_id=envelope_id)


def _tokens(people: list[User]) -> list[str]:
    return [token_issue(user=u, user_agent="bench") for u in people]


def seed_grab_row(*, shares: int = GRAB_SHARES, work: Path = WORK, first_id: int = GRAB_ENVELOPE_ID) -> dict:
    started = time.monotonic()
    crowdfund_ids_from(first_id, model=RedEnvelope)
    gate_forget(first_id)
    env = envelope_opened(owner_name="bench-env-owner", count=shares)
    if env.pk != first_id:
        raise RuntimeError(f"the grab row's envelope got id {env.pk}, not {first_id}")
    people = users("bench-grabber", shares + 1)  # the last: the pre-check's
    tokens = _tokens(people)
    work.mkdir(parents=True, exist_ok=True)
    (work / GRAB_TOKENS_FILE.name).write_text("".join(f"{t}\n" for t in tokens[:shares]))
    (work / GRAB_TOKEN_FILE.name).write_text(tokens[shares] + "\n")
    (work / GRAB_OFFSET_FILE.name).write_text("0\n")
    (work / GRAB_RUNS_FILE.name).unlink(missing_ok=True)
    return {"envelope_id": env.pk, "shares": shares, "pool_fen": env.pool_fen, "owner_id": env.owner_id,
            "grabbers": len(people), "seconds": round(time.monotonic() - started, 1)}


def seed_empty_row(*, shares: int = EMPTY_SHARES, new: int = EMPTY_NEW, work: Path = WORK,
                   envelope_id: int = EMPTY_ENVELOPE_ID, threads: int = SEED_THREADS) -> dict:
    started = time.monotonic()
    gate_forget(envelope_id)
    env = envelope_opened(owner_name="bench-env-empty-owner", count=shares)
    if env.pk != envelope_id:
        raise RuntimeError(f"the empty row's envelope got id {env.pk}, not {envelope_id}")
    winners = users("bench-env-winner", shares)
    newcomers = users("bench-env-newcomer", new + 1)  # the last: the pre-check's
    grabbed = grab_many(env.pk, winners, threads=threads)
    if grabbed["counts"] != {"grabbed": shares}:
        raise RuntimeError(f"emptying envelope {env.pk}: {grabbed['counts']}")
    posted = post_all(env.pk)
    env.refresh_from_db()
    mixed = [u for pair in zip(winners, newcomers[:new], strict=False) for u in pair]
    mixed += winners[len(mixed) // 2:] + newcomers[len(mixed) // 2:new]  # unequal sizes: the rest
    tokens = _tokens(mixed)
    work.mkdir(parents=True, exist_ok=True)
    (work / EMPTY_TOKENS_FILE.name).write_text("".join(f"{t}\n" for t in tokens))
    (work / EMPTY_TOKEN_FILE.name).write_text(_tokens(newcomers[new:])[0] + "\n")
    (work / EMPTY_OFFSET_FILE.name).write_text("0\n")
    (work / EMPTY_RUNS_FILE.name).unlink(missing_ok=True)
    return {"envelope_id": env.pk, "shares": shares, "pool_fen": env.pool_fen, "status": env.status,
            "winners": len(winners), "newcomers": new, "posted": posted,
            "emptied_seconds": round(grabbed["seconds"], 2), "seconds": round(time.monotonic() - started, 1)}


def seed_me_user(*, work: Path = WORK) -> dict:
    user = users("bench-me", 1)[0]
    account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
    work.mkdir(parents=True, exist_ok=True)
    (work / ME_TOKEN_FILE.name).write_text(token_issue(user=user, user_agent="bench") + "\n")
    return {"user_id": user.pk}


def seed_envelope_rows(work: Path = WORK, *, grab_shares: int = GRAB_SHARES, empty_shares: int = EMPTY_SHARES,
                       empty_new: int = EMPTY_NEW, threads: int = SEED_THREADS) -> dict:
    info = {"grab": seed_grab_row(shares=grab_shares, work=work),
            "empty": seed_empty_row(shares=empty_shares, new=empty_new, work=work, threads=threads),
            "me": seed_me_user(work=work)}
    (work / ENVELOPE_SEED_FILE.name).write_text(json.dumps(info) + "\n")
    return info


if __name__ == "__main__":
    print(json.dumps(seed_envelope_rows()))
