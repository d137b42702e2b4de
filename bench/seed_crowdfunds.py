"""The crowdfund rows' data (issue 11), seeded through the campaigns services where they exist.

* Contribution creation (`seed_contribution_row`): CONTRIBUTE_CROWDFUNDS (50) open crowdfunds
  started by `campaigns.services.crowdfunds.crowdfund_create` at the fixed ids
  BENCH_CROWDFUND_FIRST_ID, ... (bench/endpoints.py names the first; the id sequence is moved
  there first), each of one SKU priced 10,000 yuan, so each has room for 10,000 contributions
  of CONTRIBUTE_AMOUNT_FEN (100 fen, the default minimum): 500,000 in all, far more than a run
  makes, and no request fails for lack of room. CONTRIBUTE_FRIENDS (1,000) WeChat users with an
  openid and a Bearer token each (CONTRIBUTE_TOKENS_FILE, one per line; the crowdfunds' paths in
  CONTRIBUTE_PATHS_FILE). The k-th request of a run (counted over the warm-up and the measured
  run) is friend k % F chipping in to crowdfund (k + k // F) % N (`contribute_pair`, which
  bench/contribute.lua computes the same way): consecutive requests go to different friends and
  crowdfunds, and no friend chips in to the same crowdfund twice before F × N (50,000)
  requests — a second chip-in would first close and release the friend's unpaid one (one open
  reservation per friend and crowdfund), another path. The pre-check's friend is one more
  user (CONTRIBUTE_TOKEN_FILE), never one of the F.
* Contributions settled by payment notifications (`seed_contribution_notifications`):
  crowdfunds of CF_NOTIFY_GOAL_FEN (10 yuan) in blocks of CF_NOTIFY_BLOCK_CROWDFUNDS (10), each
  fully reserved by CF_NOTIFY_PER_CROWDFUND (10) pending contributions of 100 fen with a
  prepaid WechatPayment (as if the unified order had been answered; no WeChat call), and for
  each contribution the signed notification WeChat would send (the sandbox's builder, as
  bench/seed_orders.py does for orders). The reservation is written as
  `contribution_create` writes it (the contribution, its `reserved` event, the crowdfund's
  reserved_fen) without its WeChat call. One line per notification in CF_NOTIFY_BODIES_FILE,
  block by block, the block's crowdfunds taking turns: the block's last ten lines each
  complete a crowdfund, which is funded on that notification (its order created and paid
  from the escrow), so one notification in ten funds a crowdfund. The pre-check's
  notification (CF_NOTIFY_PRECHECK_FILE) is a contribution of a crowdfund of its own.
  bench/pay_notify.lua sends the lines, each once (its files named by the row's `env`).

`python bench/seed_crowdfunds.py` (Django set up from DATABASE_URL) seeds both and prints one
JSON line; bench/seed.py calls `seed_crowdfund_rows()` in the full bench.
"""
from __future__ import annotations

import json
import os
import time
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

if __name__ == "__main__":
    from _django import setup

    setup()

from django.db import connection, transaction  # noqa: E402
from django.db.models import F  # noqa: E402
from django.utils import timezone  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_issue  # noqa: E402
from bench.seed_orders import NOTIFICATIONS, ORDER_ADDRESS, _notification_xml  # noqa: E402
from campaigns.models import CROWDFUND_PURPOSE, Contribution, Crowdfund, CrowdfundEvent  # noqa: E402
from campaigns.services.crowdfund_state import contribution_no_generate  # noqa: E402
from campaigns.services.crowdfunds import crowdfund_create  # noqa: E402
from campaigns.services.settings import crowdfund_settings_get  # noqa: E402
from mall.models import Category, Product, Sku  # noqa: E402
from wechat.models import PaymentStatus, WechatPayment  # noqa: E402

WORK = Path(__file__).resolve().parent / ".work"

BENCH_CF_PRODUCT_ID = 900003
BIG_SKU_ID = 900103  # 10,000 yuan: room for 10,000 contributions of 100 fen per crowdfund
SMALL_SKU_ID = 900104  # 10 yuan: ten contributions of 100 fen fund it
BIG_PRICE_FEN = 1_000_000
CF_NOTIFY_GOAL_FEN = 1000
SKU_STOCK = 10**9
CLIENT_IP = "127.0.0.1"

BENCH_CROWDFUND_FIRST_ID = 900001
CONTRIBUTE_CROWDFUNDS = 50
CONTRIBUTE_FRIENDS = int(os.environ.get("BENCH_CF_FRIENDS", "1000"))
CONTRIBUTE_AMOUNT_FEN = 100
CONTRIBUTE_TOKENS_FILE = WORK / "contribute_tokens.txt"  # the friends' Bearer tokens, one per line
CONTRIBUTE_PATHS_FILE = WORK / "contribute_paths.txt"  # the crowdfunds' contribution paths, one per line
CONTRIBUTE_TOKEN_FILE = WORK / "contribute_token.txt"  # the pre-check friend's Bearer token
CONTRIBUTE_OFFSET_FILE = WORK / "contribute.offset"  # requests of earlier runs (bench/contribute.lua)
CONTRIBUTE_NOS_FILE = WORK / "contribute_nos.txt"  # the numbers answered 201, written by bench/contribute.lua
CONTRIBUTE_RUNS_FILE = WORK / "contribute_runs.jsonl"  # one line per wrk run, written by bench/contribute.lua
CONTRIBUTE_SEED_FILE = WORK / "contribute_seed.json"

CF_NOTIFY_PER_CROWDFUND = 10
CF_NOTIFY_BLOCK_CROWDFUNDS = 10
CF_NOTIFY_BLOCK = CF_NOTIFY_PER_CROWDFUND * CF_NOTIFY_BLOCK_CROWDFUNDS
CF_NOTIFY_AMOUNT_FEN = CF_NOTIFY_GOAL_FEN // CF_NOTIFY_PER_CROWDFUND
# As many notifications as the order row's (500 per second of warm-up and measured run), whole blocks.
CF_NOTIFICATIONS = int(os.environ.get("BENCH_CF_NOTIFICATIONS", str(NOTIFICATIONS)))
CF_NOTIFY_BODIES_FILE = WORK / "cf_notify_bodies.txt"
CF_NOTIFY_PRECHECK_FILE = WORK / "cf_notify_precheck.xml"
CF_NOTIFY_OFFSET_FILE = WORK / "cf_notify.offset"
CF_NOTIFY_RUNS_FILE = WORK / "cf_notify_runs.jsonl"  # one line per wrk run, written by bench/pay_notify.lua
CF_NOTIFY_SEED_FILE = WORK / "cf_notify_seed.json"
PAYERS = 100  # the friends whose contributions the notifications pay (openids of WeChat users)


def crowdfund_skus() -> None:
    """The product and its two SKUs every bench crowdfund is of (fixed ids, stock no run uses up)."""
    category, _ = Category.objects.get_or_create(name="bench 茶")
    product, _ = Product.objects.update_or_create(
        pk=BENCH_CF_PRODUCT_ID,
        defaults={"title": "bench 众筹 月饼礼盒", "description": "中秋月饼。" * 20,
                  "images": ["https://img.example.com/bench/crowdfund/0.jpg"], "category": category,
                  "on_shelf": True},
    )
    for pk, name, price in ((BIG_SKU_ID, "大礼盒", BIG_PRICE_FEN), (SMALL_SKU_ID, "小盒", CF_NOTIFY_GOAL_FEN)):
        Sku.objects.update_or_create(pk=pk, defaults={"product": product, "name": name, "price_fen": price,
                                                      "stock": SKU_STOCK, "is_active": True})


def users(prefix: str, count: int) -> list[User]:
    """`count` WeChat users `<prefix>-00000`, ... (created when missing), with openids, in order."""
    names = [f"{prefix}-{i:05d}" for i in range(count)]
    have = set(User.objects.filter(username__in=names).values_list("username", flat=True))
    User.objects.bulk_create([User(username=n, nickname=n[-12:], openid=f"o-{n}"[:64]) for n in names
                              if n not in have])
    by_name = {u.username: u for u in User.objects.filter(username__in=names)}
    return [by_name[n] for n in names]


def crowdfund_ids_from(first: int, *, model=Crowdfund) -> None:
    """The next crowdfund (or row of `model`) gets id `first` (the id sequence moved there; fresh
    bench data only)."""
    table = model._meta.db_table
    if model.objects.filter(pk__gte=first).exists():
        raise RuntimeError(f"{table} rows with ids from {first} exist already: seed a fresh database")
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute("SELECT setval(pg_get_serial_sequence(%s, 'id'), %s, false)", [table, first])
        elif connection.vendor == "sqlite":  # AUTOINCREMENT tables keep their counter in sqlite_sequence
            cursor.execute("DELETE FROM sqlite_sequence WHERE name = %s", [table])
            cursor.execute("INSERT INTO sqlite_sequence (name, seq) VALUES (%s, %s)", [table, first - 1])
        else:  # pragma: no cover
            raise RuntimeError(f"no id sequence support for {connection.vendor}")


def _start(*, initiator: User, sku_id: int) -> Crowdfund:
    return crowdfund_create(user=initiator, sku_id=sku_id, quantity=1, address=dict(ORDER_ADDRESS),
                            duration_hours=crowdfund_settings_get().max_duration_hours, client_ip=CLIENT_IP)


def contribution_path(crowdfund_id: int) -> str:
    return f"/api/v1/crowdfunds/{crowdfund_id}/contributions/"


def contribute_pair(k: int, *, friends: int, crowdfunds: int) -> tuple[int, int]:
    """(friend, crowdfund) of a run's k-th request (0-based), as bench/contribute.lua computes it.
    With friends a multiple of crowdfunds, no pair comes twice for k < friends × crowdfunds."""
    return k % friends, (k + k // friends) % crowdfunds


def seed_contribution_row(*, crowdfunds: int = CONTRIBUTE_CROWDFUNDS, friends: int = CONTRIBUTE_FRIENDS,
                          work: Path = WORK) -> dict:
    """The contribution row's crowdfunds (ids from BENCH_CROWDFUND_FIRST_ID), friends and their tokens."""
    if friends % crowdfunds:
        raise ValueError("friends must be a multiple of crowdfunds (or pairs repeat early)")
    started = time.monotonic()
    crowdfund_skus()
    crowdfund_ids_from(BENCH_CROWDFUND_FIRST_ID)
    initiators = users("bench-cf-initiator", crowdfunds)
    cfs = [_start(initiator=initiators[i], sku_id=BIG_SKU_ID) for i in range(crowdfunds)]
    ids = [cf.pk for cf in cfs]
    if ids != list(range(BENCH_CROWDFUND_FIRST_ID, BENCH_CROWDFUND_FIRST_ID + crowdfunds)):
        raise RuntimeError(f"the contribution row's crowdfunds got ids {ids[0]}..{ids[-1]}, not from "
                           f"{BENCH_CROWDFUND_FIRST_ID}")
    people = users("bench-friend", friends + 1)  # the last: the pre-check's
    tokens = [token_issue(user=u, user_agent="bench") for u in people]
    work.mkdir(parents=True, exist_ok=True)
    (work / CONTRIBUTE_TOKENS_FILE.name).write_text("".join(f"{token}\n" for token in tokens[:friends]))
    (work / CONTRIBUTE_PATHS_FILE.name).write_text("".join(f"{contribution_path(pk)}\n" for pk in ids))
    (work / CONTRIBUTE_TOKEN_FILE.name).write_text(tokens[friends] + "\n")
    (work / CONTRIBUTE_OFFSET_FILE.name).write_text("0\n")
    (work / CONTRIBUTE_NOS_FILE.name).unlink(missing_ok=True)
    (work / CONTRIBUTE_RUNS_FILE.name).unlink(missing_ok=True)
    info = {"crowdfund_ids": ids, "friends": friends, "friend_ids": [people[0].pk, people[-1].pk],
            "amount_fen": CONTRIBUTE_AMOUNT_FEN, "goal_fen": cfs[0].goal_fen,
            "room": sum(cf.goal_fen for cf in cfs) // CONTRIBUTE_AMOUNT_FEN,
            "seconds": round(time.monotonic() - started, 1)}
    (work / CONTRIBUTE_SEED_FILE.name).write_text(json.dumps(info) + "\n")
    return info


def _reserve_block(cfs: list[Crowdfund], *, per_crowdfund: int, payers: list[User], first: int,
                   prepay_prefix: str) -> list[WechatPayment]:
    """`per_crowdfund` pending contributions of 100 fen on each crowdfund, in turns (round r of
    crowdfund m is item r * len(cfs) + m), each with a prepaid WechatPayment; the payments in that order."""
    until = timezone.now() + timedelta(minutes=crowdfund_settings_get().pay_window_minutes)
    amount = CF_NOTIFY_AMOUNT_FEN
    rows = [Contribution(no=contribution_no_generate(), crowdfund=cf, user=payers[(first + r * len(cfs) + m)
                                                                                  % len(payers)],
                         amount_fen=amount, reserved_until=until)
            for r in range(per_crowdfund) for m, cf in enumerate(cfs)]
    rows = Contribution.objects.bulk_create(rows)
    for cf in cfs:  # as _reserve's conditional UPDATE leaves it (checked: raised + reserved ≤ goal)
        updated = Crowdfund.objects.filter(pk=cf.pk, goal_fen__gte=F("raised_fen") + F("reserved_fen")
                                           + amount * per_crowdfund).update(
            reserved_fen=F("reserved_fen") + amount * per_crowdfund, updated_at=timezone.now())
        if not updated:
            raise RuntimeError(f"crowdfund {cf.pk} has no room for {per_crowdfund} × {amount} fen")
    CrowdfundEvent.objects.bulk_create([
        CrowdfundEvent(crowdfund_id=c.crowdfund_id, contribution_id=c.pk, subject="contribution", kind="reserved",
                       actor=c.user, data={"no": c.no, "amount_fen": c.amount_fen, "is_rest": False})
        for c in rows])
    return WechatPayment.objects.bulk_create([
        WechatPayment(out_trade_no=c.no, purpose=CROWDFUND_PURPOSE, ref=c.no, amount_fen=c.amount_fen,
                      openid=c.user.openid, description=f"众筹 {c.crowdfund.title}"[:127], client_ip=CLIENT_IP,
                      prepay_id=f"{prepay_prefix}{first + i:020d}", status=PaymentStatus.PREPAID)
        for i, c in enumerate(rows)])


def seed_contribution_notifications(*, count: int = CF_NOTIFICATIONS, work: Path = WORK,
                                    block_crowdfunds: int = CF_NOTIFY_BLOCK_CROWDFUNDS) -> dict:
    """Crowdfunds fully reserved by pending contributions, and one signed notification per
    contribution (`count` rounded up to whole blocks), plus the pre-check's (files in `work`)."""
    started = time.monotonic()
    crowdfund_skus()
    per_crowdfund = CF_NOTIFY_PER_CROWDFUND  # × 100 fen = the goal: the last one funds it
    block = per_crowdfund * block_crowdfunds
    blocks = max(1, -(-count // block))
    initiators = users("bench-cf-notify-initiator", block_crowdfunds)
    payers = users("bench-cf-payer", PAYERS)
    time_end = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    prefix = f"wx{time_end}"
    with transaction.atomic():  # the pre-check's: one contribution of a crowdfund of its own (not funded by it)
        precheck_cf = _start(initiator=initiators[0], sku_id=SMALL_SKU_ID)
        precheck = _reserve_block([precheck_cf], per_crowdfund=1, payers=payers, first=0,
                                  prepay_prefix=prefix + "p")
    bodies: list[str] = []
    cf_ids: list[int] = [precheck_cf.pk]
    payments = list(precheck)
    for b in range(blocks):
        with transaction.atomic():
            cfs = [_start(initiator=initiators[m], sku_id=SMALL_SKU_ID) for m in range(block_crowdfunds)]
            made = _reserve_block(cfs, per_crowdfund=per_crowdfund, payers=payers, first=b * block,
                                  prepay_prefix=prefix)
        cf_ids += [cf.pk for cf in cfs]
        payments += made
        bodies += [_notification_xml(payment=p, time_end=time_end) for p in made]
    work.mkdir(parents=True, exist_ok=True)
    (work / CF_NOTIFY_PRECHECK_FILE.name).write_text(_notification_xml(payment=precheck[0], time_end=time_end))
    (work / CF_NOTIFY_BODIES_FILE.name).write_text("".join(b + "\n" for b in bodies))
    (work / CF_NOTIFY_OFFSET_FILE.name).write_text("0\n")
    (work / CF_NOTIFY_RUNS_FILE.name).unlink(missing_ok=True)
    nos = [p.out_trade_no for p in payments]
    contribution_pks = list(Contribution.objects.filter(no__in=[nos[0], nos[-1]]).values_list("pk", flat=True))
    info = {"crowdfund_pk_min": min(cf_ids), "crowdfund_pk_max": max(cf_ids), "crowdfunds": len(cf_ids),
            "contribution_pk_min": min(contribution_pks), "contribution_pk_max": max(contribution_pks),
            "contributions": len(payments), "bodies": len(bodies), "per_crowdfund": per_crowdfund,
            "block": block, "goal_fen": CF_NOTIFY_AMOUNT_FEN * per_crowdfund,
            "seconds": round(time.monotonic() - started, 1)}
    (work / CF_NOTIFY_SEED_FILE.name).write_text(json.dumps(info) + "\n")
    return info


def seed_crowdfund_rows(work: Path = WORK) -> dict:
    return {"contribute": seed_contribution_row(work=work), "notify": seed_contribution_notifications(work=work)}


if __name__ == "__main__":
    print(json.dumps(seed_crowdfund_rows()))
