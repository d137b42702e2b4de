"""After the row of contributions settled by payment notifications (bench/run.py runs it once
gunicorn has stopped).

What the notifications did to the seeded crowdfunds (bench/seed_crowdfunds.py), against what
wrk sent (bench/pay_notify.lua's runs file for this row):

* every contribution that became paid was paid exactly once: its WechatPayment is paid and it
  has one `campaigns.contribution_paid` ledger transaction; none was refunded or expired;
* every crowdfund's raised_fen is the sum of its paid contributions (contributors their
  count), reserved_fen the sum of its pending ones, raised + reserved ≤ goal;
* every crowdfund whose raised reached its goal is `ordered`, with one paid order of the goal
  (one `campaigns.crowdfund_funded` and one `mall.payment` transaction) and an empty escrow;
  the others are open with their raised money in the escrow;
* the paid contributions lie between the fresh notifications answered and those sent (plus
  the pre-check's), no notification was sent twice, and the ledger audit balances.

Prints one JSON line {"check": ..., "check_failed": ...} for bench/run.py.
"""
import json

if __name__ == "__main__":
    from _django import setup

    setup()

from django.db.models import Count, Q, Sum  # noqa: E402

from bench.seed_crowdfunds import CF_NOTIFY_RUNS_FILE, CF_NOTIFY_SEED_FILE  # noqa: E402
from campaigns.models import Contribution, ContributionStatus, Crowdfund, CrowdfundStatus  # noqa: E402
from campaigns.services.crowdfund_state import escrow_account  # noqa: E402
from ledger.models import LedgerTransaction  # noqa: E402
from ledger.selectors import ledger_audit  # noqa: E402
from mall.models import Order, OrderStatus  # noqa: E402
from wechat.models import PaymentStatus, WechatPayment  # noqa: E402

K = ContributionStatus


def cf_notify_check(*, seed: dict, runs: list[dict]) -> dict:
    """{"check": text, "check_failed": bool} for the seeded crowdfunds after the wrk `runs`."""
    problems = []
    contributions = Contribution.objects.filter(pk__range=(seed["contribution_pk_min"], seed["contribution_pk_max"]))
    statuses = dict(contributions.values_list("status").annotate(n=Count("id")))
    paid_nos = list(contributions.filter(status=K.PAID).values_list("no", flat=True))
    paid = len(paid_nos)
    if set(statuses) - {K.PAID, K.PENDING_PAYMENT}:
        problems.append(f"contributions by status {statuses}: some neither paid nor pending")
    payments = WechatPayment.objects.filter(ref__in=paid_nos, status=PaymentStatus.PAID).count()
    postings = LedgerTransaction.objects.filter(kind="campaigns.contribution_paid", cause_id__in=paid_nos).count()
    if payments != paid or postings != paid:
        problems.append(f"{paid:,} paid contributions but {payments:,} paid WechatPayments and {postings:,} "
                        "campaigns.contribution_paid ledger transactions")
    crowdfunds = Crowdfund.objects.filter(pk__range=(seed["crowdfund_pk_min"], seed["crowdfund_pk_max"])).annotate(
        paid_fen=Sum("contributions__amount_fen", filter=Q(contributions__status=K.PAID), default=0),
        paid_n=Count("contributions", filter=Q(contributions__status=K.PAID)),
        pending_fen=Sum("contributions__amount_fen", filter=Q(contributions__status=K.PENDING_PAYMENT), default=0),
    )
    funded, wrong = [], []
    for cf in crowdfunds:
        if (cf.raised_fen, cf.contributors, cf.reserved_fen) != (cf.paid_fen, cf.paid_n, cf.pending_fen) \
                or cf.raised_fen + cf.reserved_fen > cf.goal_fen:
            wrong.append(f"crowdfund {cf.pk}: raised {cf.raised_fen} fen by {cf.contributors}, reserved "
                         f"{cf.reserved_fen}, goal {cf.goal_fen}; paid contributions {cf.paid_fen} fen by "
                         f"{cf.paid_n}, pending {cf.pending_fen}")
            continue
        # (money was posted to the escrow of every crowdfund with raised > 0: the account exists)
        escrow = escrow_account(crowdfund_id=cf.pk).balance_fen if cf.raised_fen else 0
        if cf.raised_fen == cf.goal_fen:
            funded.append(cf)
            if cf.status != CrowdfundStatus.ORDERED or cf.order_id is None or escrow:
                wrong.append(f"crowdfund {cf.pk}: raised its goal but is {cf.status}, order {cf.order_id}, escrow "
                             f"{escrow} fen")
        elif cf.status != CrowdfundStatus.OPEN or escrow != cf.raised_fen:
            wrong.append(f"crowdfund {cf.pk}: {cf.status} with {cf.raised_fen} of {cf.goal_fen} fen raised, escrow "
                         f"{escrow} fen")
    if wrong:
        problems.append(f"{len(wrong)} crowdfunds disagree: " + "; ".join(wrong[:3]))
    orders = Order.objects.filter(pk__in=[cf.order_id for cf in funded if cf.order_id])
    paid_orders = orders.filter(status=OrderStatus.PAID, paid_via="campaigns.crowdfund").count()
    order_postings = LedgerTransaction.objects.filter(kind="mall.payment", cause_id__in=orders.values("no")).count()
    fundings = LedgerTransaction.objects.filter(kind="campaigns.crowdfund_funded",
                                                cause_id__in=[str(cf.pk) for cf in funded]).count()
    if not paid_orders == order_postings == fundings == len(funded):
        problems.append(f"{len(funded)} funded crowdfunds but {paid_orders} paid orders, {order_postings} "
                        f"mall.payment and {fundings} campaigns.crowdfund_funded transactions")
    answered_fresh = 1 + sum(max(0, r["responses"] - r["repeats"]) for r in runs)  # 1: the pre-check
    sent_fresh = 1 + sum(r["fresh"] for r in runs)
    repeats = sum(r["repeats"] for r in runs)
    if not answered_fresh <= paid <= sent_fresh:
        problems.append(f"{paid:,} paid contributions, outside {answered_fresh:,}-{sent_fresh:,} (fresh "
                        "notifications answered - sent)")
    if repeats:
        problems.append(f"{repeats:,} notifications were repeats (the {seed['bodies']:,} seeded ran out: raise "
                        "BENCH_CF_NOTIFICATIONS); the figure is inflated")
    audit = ledger_audit()
    if not audit["ok"]:
        problems.append(f"the ledger audit failed: {audit['mismatched_accounts'][:2]} "
                        f"{audit['unbalanced_transactions'][:2]} {audit['negative_accounts'][:2]}")
    measured = runs[-1] if runs else {"fresh": 0, "repeats": 0}
    text = (
        f"{seed['bodies']:,} signed notifications seeded (+1 for the pre-check) for pending contributions of "
        f"{seed['crowdfunds']:,} crowdfunds of {seed['goal_fen']:,} fen; the measured run sent "
        f"{measured['fresh']:,} distinct ones and {measured['repeats']:,} repeats; over the pre-check, warm-up and "
        f"measured runs {paid:,} contributions became paid, each once ({payments:,} paid WechatPayments, "
        f"{postings:,} campaigns.contribution_paid transactions), {len(funded):,} crowdfunds were funded, each "
        f"with its order paid from the escrow ({paid_orders:,} orders, {fundings:,} crowdfund_funded and "
        f"{order_postings:,} mall.payment transactions); every crowdfund's raised equals the sum of its paid "
        f"contributions; ledger audit {'balanced' if audit['ok'] else 'FAILED'}"
    )
    if problems:
        text += ". PROBLEMS: " + "; ".join(problems)
    return {"check": text, "check_failed": bool(problems), "funded": len(funded), "paid": paid}


def main() -> None:
    seed = json.loads(CF_NOTIFY_SEED_FILE.read_text())
    runs = [json.loads(line) for line in CF_NOTIFY_RUNS_FILE.read_text().splitlines() if line.strip()]
    print(json.dumps(cf_notify_check(seed=seed, runs=runs), ensure_ascii=False))


if __name__ == "__main__":
    main()
