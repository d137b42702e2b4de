"""The 200-friends race for the last 10 yuan (issue 11), over HTTP against the bench's gunicorn.

`race_seed` starts one crowdfund (a 100-yuan SKU, through `crowdfund_create`) and makes the
friends: WeChat users with an openid and a Bearer token each. `race_run` then

1. fills the crowdfund up to 10 yuan short of its goal (EARLY friends chip in 10 yuan each, one
   after the other, and pay), not timed;
2. starts FRIENDS (200) threads, each a friend with their own HTTP connection, that wait at a
   barrier and then, together: POST /api/v1/crowdfunds/{id}/contributions/ with their own
   token and amount (100-500 fen: friend i tries 100 × (1 + i % 5)); a friend told the amount
   is more than is missing (amount_too_large, with what is missing) tries again with that, as
   the page would offer, up to RETRIES times; when the answer is 201 (the reservation and its
   WeChat unified order, through the sandbox), the friend pays at once: POST
   the payment notification WeChat would send to /api/v1/wechat/pay/notify/ (built and signed
   by the sandbox's builder from the 201's prepay_id and number). The wall time runs from the
   barrier to the last thread's last answer. (The sandbox's own confirm endpoint would POST
   the same notification from inside the sandbox server; its threads would then wait on the
   app server while the app's threads wait on the sandbox for unified orders, so the threads
   send it themselves.)

`race_check` then verifies in the database: every reservation answered 201 (and no other) is
a contribution, paid exactly once (its WechatPayment paid, one campaigns.contribution_paid
posting); raised ≤ goal and nothing is left reserved; when the goal is reached the crowdfund
is `ordered` with its paid order and an empty escrow; every refusal is one of crowdfund_full,
amount_too_large, crowdfund_closed; the ledger audit balances.

    python bench/crowdfund_race.py --app http://127.0.0.1:PORT [--friends 200] [--missing 1000]

(Django set up from DATABASE_URL / REDIS_URL, the same as the server's; prints one JSON line.)
bench/run.py runs it while gunicorn and the sandbox are up (bench/crowdfunds_bench.py).
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import threading
import time
from collections import Counter
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

FRIENDS = 200
MISSING_FEN = 1000
EARLY_FEN = 1000
GOAL_FEN = 10_000
RACE_SKU_ID = 900105
REFUSALS = frozenset({"crowdfund_full", "amount_too_large", "crowdfund_closed"})
TIMEOUT = 120
RETRIES = 10
NOTIFY_PATH = "/api/v1/wechat/pay/notify/"


def _log(message: str) -> None:
    print(f"bench race: {message}", file=sys.stderr, flush=True)


def race_seed(*, friends: int = FRIENDS, missing_fen: int = MISSING_FEN, goal_fen: int = GOAL_FEN,
              tag: str = "") -> dict:
    """One open crowdfund of `goal_fen`, the early friends who will fill it up to `missing_fen`
    short, and `friends` racing friends, each with a token."""
    from accounts.services import token_issue
    from bench.seed_crowdfunds import BENCH_CF_PRODUCT_ID, _start, crowdfund_skus, users
    from mall.models import Sku

    if (goal_fen - missing_fen) % EARLY_FEN:
        raise ValueError(f"goal - missing must be a multiple of {EARLY_FEN} fen")
    tag = tag or secrets.token_hex(3)
    crowdfund_skus()
    Sku.objects.update_or_create(pk=RACE_SKU_ID, defaults={"product_id": BENCH_CF_PRODUCT_ID, "name": "赛跑",
                                                          "price_fen": goal_fen, "stock": 10**6, "is_active": True})
    initiator = users(f"bench-race-{tag}-initiator", 1)[0]
    cf = _start(initiator=initiator, sku_id=RACE_SKU_ID)
    early = users(f"bench-race-{tag}-early", (goal_fen - missing_fen) // EARLY_FEN)
    racers = users(f"bench-race-{tag}-friend", friends)
    person = lambda u: {"token": token_issue(user=u, user_agent="bench"), "openid": u.openid}  # noqa: E731
    return {"crowdfund_id": cf.pk, "goal_fen": cf.goal_fen, "missing_fen": missing_fen,
            "early": [person(u) for u in early], "friends": [person(u) for u in racers]}


def notification_body(*, no: str, prepay_id: str, amount_fen: int, openid: str, transaction_id: str) -> bytes:
    """The signed payment notification WeChat sends when the JSAPI order `prepay_id` is paid."""
    from django.conf import settings

    from wechat.pay import to_xml
    from wechat.sandbox.models.pay import SandboxPrepay
    from wechat.sandbox.pay_views import payment_notification

    time_end = datetime.now(ZoneInfo("Asia/Shanghai")).strftime("%Y%m%d%H%M%S")
    prepay = SandboxPrepay(prepay_id=prepay_id, appid=settings.WECHAT_APPID, mch_id=settings.WECHAT_MCH_ID,
                           out_trade_no=no, total_fee=amount_fen, openid=openid, trade_type="JSAPI",
                           transaction_id=transaction_id, time_end=time_end)  # unsaved: the fields WeChat repeats
    return to_xml(payment_notification(prepay), signed=False).encode()


def chip_in(session, app: str, *, crowdfund_id: int, friend: dict, amount_fen: int, transaction_id: str) -> dict:
    """One friend: reserve over HTTP and, on 201, pay (the notification). What happened, and when."""
    from wechat.pay import parse_xml

    started = time.perf_counter()
    res = session.post(f"{app}/api/v1/crowdfunds/{crowdfund_id}/contributions/", json={"amount_fen": amount_fen},
                       headers={"Authorization": f"Bearer {friend['token']}"}, timeout=TIMEOUT)
    out = {"status": res.status_code, "amount_fen": amount_fen, "reserve_s": time.perf_counter() - started}
    if res.status_code != 201:
        try:
            error = res.json()
            out["code"] = error.get("code", "")
            out["missing_fen"] = (error.get("extra") or {}).get("missing_fen")
        except (ValueError, AttributeError):
            out["code"] = f"http {res.status_code}"
        return out
    body = res.json()
    out["no"] = body["no"]
    xml = notification_body(no=body["no"], prepay_id=body["pay"]["prepay_id"], amount_fen=amount_fen,
                            openid=friend["openid"], transaction_id=transaction_id)
    answer = session.post(f"{app}{NOTIFY_PATH}", data=xml, headers={"Content-Type": "text/xml"}, timeout=TIMEOUT)
    try:
        out["notify"] = parse_xml(answer.content).get("return_code", "") if answer.status_code == 200 else ""
    except ValueError:
        out["notify"] = ""
    out["notify_status"] = answer.status_code
    out["seconds"] = time.perf_counter() - started
    return out


def _transaction_id(crowdfund_id: int, i: int) -> str:
    return f"4200{datetime.now(ZoneInfo('Asia/Shanghai')):%Y%m%d}{crowdfund_id % 10**8:08d}{i:08d}"


def race_run(*, app: str, seed: dict) -> dict:
    """Fill the crowdfund up to `missing_fen` short, then the friends race for the rest, timed."""
    import requests

    cf_id = seed["crowdfund_id"]
    with requests.Session() as session:
        early = [chip_in(session, app, crowdfund_id=cf_id, friend=f, amount_fen=EARLY_FEN,
                         transaction_id=_transaction_id(cf_id, 10**7 + i)) for i, f in enumerate(seed["early"])]
    if any(e["status"] != 201 or e.get("notify") != "SUCCESS" for e in early):
        raise RuntimeError(f"filling the crowdfund failed: {[e for e in early if e['status'] != 201][:3]}")
    n = len(seed["friends"])
    barrier = threading.Barrier(n + 1)
    outcomes: list[dict | None] = [None] * n

    def friend(i: int) -> None:
        with requests.Session() as session:
            try:
                barrier.wait(timeout=60)
                amount, attempts = 100 * (1 + i % 5), 0
                while True:
                    attempts += 1
                    out = chip_in(session, app, crowdfund_id=cf_id, friend=seed["friends"][i], amount_fen=amount,
                                  transaction_id=_transaction_id(cf_id, i))
                    if out.get("code") != "amount_too_large" or not out.get("missing_fen") or attempts > RETRIES:
                        break
                    amount = out["missing_fen"]  # "only 2 yuan missing: chip in 2 yuan?"
                outcomes[i] = {**out, "attempts": attempts}
            except Exception as exc:  # noqa: BLE001 - counted and reported, the check fails on it
                outcomes[i] = {"status": 0, "code": f"{type(exc).__name__}: {exc}"[:200]}
            outcomes[i]["done_at"] = time.perf_counter()

    threads = [threading.Thread(target=friend, args=(i,), daemon=True) for i in range(n)]
    for t in threads:
        t.start()
    barrier.wait(timeout=60)
    started = time.perf_counter()
    for t in threads:
        t.join(timeout=TIMEOUT * 3)
    wall = max([time.perf_counter() - started if any(t.is_alive() for t in threads) else 0.0]
               + [o["done_at"] - started for o in outcomes if o])
    for o in outcomes:
        if o:
            o["done_s"] = o.pop("done_at") - started
    return {"wall_seconds": wall, "early_nos": [e["no"] for e in early], "outcomes": outcomes}


def race_check(*, seed: dict, run: dict) -> dict:
    """What the race left in the database, against what the friends were told."""
    from django.db.models import Sum

    from campaigns.models import Contribution, ContributionStatus, Crowdfund, CrowdfundStatus
    from campaigns.services.crowdfund_state import escrow_account
    from ledger.models import LedgerTransaction
    from ledger.selectors import ledger_audit
    from mall.models import Order, OrderStatus
    from wechat.models import PaymentStatus, WechatPayment

    outcomes = [o or {"status": 0, "code": "no answer"} for o in run["outcomes"]]
    cf = Crowdfund.objects.get(pk=seed["crowdfund_id"])
    won = [o for o in outcomes if o["status"] == 201]
    refused = Counter(o.get("code", "") for o in outcomes if o["status"] != 201)
    nos = {o["no"] for o in won}
    problems = []
    race = Contribution.objects.filter(crowdfund=cf).exclude(no__in=run["early_nos"])
    made = set(race.values_list("no", flat=True))
    if made != nos:
        problems.append(f"{len(nos)} reservations answered 201 but {len(made)} contributions made "
                        f"({len(made ^ nos)} differ)")
    paid = race.filter(no__in=nos, status=ContributionStatus.PAID)
    payments = WechatPayment.objects.filter(ref__in=nos, status=PaymentStatus.PAID).count()
    postings = LedgerTransaction.objects.filter(kind="campaigns.contribution_paid", cause_id__in=nos).count()
    if not paid.count() == payments == postings == len(nos):
        problems.append(f"{len(nos)} reservations: {paid.count()} paid contributions, {payments} paid WechatPayments, "
                        f"{postings} contribution_paid transactions")
    if any(o.get("notify") != "SUCCESS" for o in won):
        problems.append(f"{sum(o.get('notify') != 'SUCCESS' for o in won)} notifications not answered SUCCESS")
    if set(refused) - REFUSALS:
        problems.append(f"unexpected answers: {dict(refused)}")
    race_fen = paid.aggregate(s=Sum("amount_fen"))["s"] or 0
    early_fen = seed["goal_fen"] - seed["missing_fen"]
    if cf.raised_fen > cf.goal_fen or cf.raised_fen != early_fen + race_fen or cf.reserved_fen:
        problems.append(f"raised {cf.raised_fen} fen of {cf.goal_fen} (early {early_fen} + race {race_fen}), "
                        f"reserved {cf.reserved_fen}")
    escrow = escrow_account(crowdfund_id=cf.pk).balance_fen
    order = Order.objects.filter(pk=cf.order_id).first()
    if cf.raised_fen == cf.goal_fen:
        if cf.status != CrowdfundStatus.ORDERED or order is None or order.status != OrderStatus.PAID \
                or order.paid_fen != cf.goal_fen or escrow:
            problems.append(f"funded but {cf.status}, order {order and order.status}, escrow {escrow} fen")
    elif cf.status != CrowdfundStatus.OPEN or escrow != cf.raised_fen:
        problems.append(f"{cf.raised_fen} of {cf.goal_fen} raised, {cf.status}, escrow {escrow} fen")
    audit = ledger_audit()
    if not audit["ok"]:
        problems.append("the ledger audit failed")
    reserve_s = sorted(o["reserve_s"] for o in outcomes if "reserve_s" in o)
    result = {
        "friends": len(outcomes), "missing_fen": seed["missing_fen"], "goal_fen": cf.goal_fen,
        "wall_seconds": run["wall_seconds"], "reserved": len(nos), "race_fen": race_fen,
        "requests": sum(o.get("attempts", 1) for o in outcomes) + len(won),
        "refused": dict(refused), "raised_fen": cf.raised_fen, "status": cf.status,
        "order_no": order.no if order else None, "audit_ok": audit["ok"],
        "reserve_p50_s": reserve_s[len(reserve_s) // 2] if reserve_s else None,
        "reserve_max_s": reserve_s[-1] if reserve_s else None,
        "last_reservation_s": max((o.get("done_s", 0) for o in won), default=None),
    }
    text = (f"{len(nos)} of {len(outcomes)} friends got a reservation ({race_fen:,} fen), each paid once; raised "
            f"{cf.raised_fen:,} of {cf.goal_fen:,} fen, nothing left reserved; crowdfund {cf.status}"
            + (f" with its paid order {order.no} and an empty escrow" if order else "")
            + f"; refused: {', '.join(f'{k} {v}' for k, v in sorted(refused.items())) or 'none'}; ledger audit "
            + ("balanced" if audit["ok"] else "FAILED"))
    if problems:
        text += ". PROBLEMS: " + "; ".join(problems)
    return {**result, "check": text, "check_failed": bool(problems)}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--app", required=True, help="the app server's base URL, e.g. http://127.0.0.1:8000")
    parser.add_argument("--friends", type=int, default=FRIENDS)
    parser.add_argument("--missing", type=int, default=MISSING_FEN)
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench._django import setup

    setup()
    seed = race_seed(friends=args.friends, missing_fen=args.missing)
    _log(f"crowdfund {seed['crowdfund_id']}: {len(seed['friends'])} friends race for the last "
         f"{seed['missing_fen']} fen")
    run = race_run(app=args.app.rstrip("/"), seed=seed)
    print(json.dumps(race_check(seed=seed, run=run)), flush=True)


if __name__ == "__main__":
    main()
