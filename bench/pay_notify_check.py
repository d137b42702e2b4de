"""After the payment-notification row (bench/run.py runs it once gunicorn has stopped).

Counts what the notifications did to the seeded orders (bench/seed_orders.py) and compares it
with what wrk sent (bench/pay_notify.lua's runs file): every order that became paid has exactly
one paid WechatPayment and one `mall.payment` ledger transaction; the paid orders lie between the
fresh notifications answered (lower bound) and those sent (upper bound: the last requests of a
run may be cut off, and wrk's script check counts one that is never sent), plus the pre-check's;
and no notification was sent twice (a repeat is a cheap no-op and would inflate the figure).
Prints one JSON line {"check": ..., "check_failed": ...} for bench/run.py.
"""
import json

if __name__ == "__main__":
    from _django import setup

    setup()

from bench.seed_orders import NOTIFY_RUNS_FILE, NOTIFY_SEED_FILE  # noqa: E402
from ledger.models import LedgerTransaction  # noqa: E402
from mall.models import Order, OrderStatus  # noqa: E402
from wechat.models import PaymentStatus, WechatPayment  # noqa: E402


def notify_check(*, seed: dict, runs: list[dict]) -> dict:
    """{"check": text, "check_failed": bool} for the seeded orders (`seed`) after the wrk `runs`."""
    measured = runs[-1] if runs else {"fresh": 0, "repeats": 0}  # the warm-up run (if any) comes first
    orders = Order.objects.filter(user_id=seed["buyer_id"], pk__range=(seed["order_pk_min"], seed["order_pk_max"]))
    paid_nos = list(orders.filter(status=OrderStatus.PAID).values_list("no", flat=True))
    paid = len(paid_nos)
    payments = WechatPayment.objects.filter(ref__in=paid_nos, status=PaymentStatus.PAID).count()
    postings = LedgerTransaction.objects.filter(kind="mall.payment", cause_id__in=paid_nos).count()
    answered_fresh = 1 + sum(max(0, r["responses"] - r["repeats"]) for r in runs)  # 1: the pre-check
    sent_fresh = 1 + sum(r["fresh"] for r in runs)
    repeats = sum(r["repeats"] for r in runs)
    problems = []
    if payments != paid or postings != paid:
        problems.append(f"{paid:,} paid orders but {payments:,} paid payments and {postings:,} mall.payment "
                        "ledger transactions")
    if not answered_fresh <= paid <= sent_fresh:
        problems.append(f"{paid:,} paid orders, outside {answered_fresh:,}-{sent_fresh:,} (fresh notifications "
                        "answered - sent)")
    if repeats:
        problems.append(f"{repeats:,} notifications were repeats (the {seed['bodies']:,} seeded ran out: raise "
                        "BENCH_NOTIFICATIONS); the figure is inflated")
    text = (
        f"{seed['bodies']:,} signed notifications seeded (+1 for the pre-check); the measured run sent "
        f"{measured['fresh']:,} distinct ones and {measured['repeats']:,} repeats; over the pre-check, "
        f"warm-up and measured runs {paid:,} of the {seed['orders']:,} seeded orders became paid, with "
        f"{payments:,} paid WechatPayments and {postings:,} mall.payment ledger transactions"
    )
    if problems:
        text += ". PROBLEMS: " + "; ".join(problems)
    return {"check": text, "check_failed": bool(problems)}


def main() -> None:
    seed = json.loads(NOTIFY_SEED_FILE.read_text())
    runs = [json.loads(line) for line in NOTIFY_RUNS_FILE.read_text().splitlines() if line.strip()]
    print(json.dumps(notify_check(seed=seed, runs=runs), ensure_ascii=False))


if __name__ == "__main__":
    main()
