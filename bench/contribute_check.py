"""After the contribution-creation row (bench/run.py runs it once gunicorn has stopped).

What the requests did to the seeded crowdfunds (bench/seed_crowdfunds.py), against what wrk
saw (bench/contribute.lua's numbers and runs files): every contribution answered 201 exists,
reserved (pending_payment, 100 fen) with its WeChat order answered (a prepaid WechatPayment
with a prepay_id); on every crowdfund reserved_fen is exactly the sum of its pending
contributions, nothing is raised, and raised + reserved ≤ goal (no over-reservation); no
friend chipped in twice to one crowdfund (the pairs ran out: the figure would include the
release of the first); the contributions no 201 was seen for are at most the pre-check's one plus the requests still in
flight when each wrk run stopped (at most one per connection per run). Prints one JSON line
{"check": ..., "check_failed": ...} for bench/run.py.
"""
import json
import os

if __name__ == "__main__":
    from _django import setup

    setup()

from django.db.models import Count, Q, Sum  # noqa: E402

from bench.seed_crowdfunds import CONTRIBUTE_NOS_FILE, CONTRIBUTE_RUNS_FILE, CONTRIBUTE_SEED_FILE  # noqa: E402
from campaigns.models import Contribution, ContributionStatus, Crowdfund  # noqa: E402
from wechat.models import PaymentStatus, WechatPayment  # noqa: E402

CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))


def contribute_check(*, seed: dict, runs: list[dict], nos: list[str], connections: int = CONNECTIONS) -> dict:
    """{"check": text, "check_failed": bool} for the seeded crowdfunds after the wrk `runs`."""
    problems = []
    contributions = Contribution.objects.filter(crowdfund_id__in=seed["crowdfund_ids"])
    made = contributions.count()
    pending = contributions.filter(status=ContributionStatus.PENDING_PAYMENT, amount_fen=seed["amount_fen"]).count()
    if pending != made:
        problems.append(f"{made - pending:,} of {made:,} contributions are not pending_payment of "
                        f"{seed['amount_fen']} fen")
    prepaid = WechatPayment.objects.filter(ref__in=contributions.values("no"), status=PaymentStatus.PREPAID,
                                           amount_fen=seed["amount_fen"]).exclude(prepay_id="").count()
    if prepaid != made:
        problems.append(f"{made:,} contributions but {prepaid:,} prepaid WeChat orders")
    twice = contributions.values("crowdfund_id", "user_id").annotate(n=Count("id")).filter(n__gt=1).count()
    wraps = sum(r.get("wraps", 0) for r in runs)
    if twice or wraps:
        problems.append(f"{twice:,} friends chipped in twice to one crowdfund ({wraps:,} requests past the "
                        "friend × crowdfund pairs: raise BENCH_CF_FRIENDS)")
    created = sum(r["created"] for r in runs)
    answered = set(nos)
    if len(nos) != created or len(answered) != len(nos):
        problems.append(f"wrk counted {created:,} 201s, the numbers file has {len(nos):,} ({len(answered):,} "
                        "distinct)")
    found = set(contributions.filter(no__in=answered).values_list("no", flat=True))
    if found != answered:
        problems.append(f"{len(answered - found):,} contributions answered 201 are missing, e.g. "
                        f"{sorted(answered - found)[:3]}")
    unseen = made - len(found)
    if not 0 < unseen <= 1 + connections * len(runs):  # 1: the pre-check's (its 201 is not wrk's)
        problems.append(f"{unseen:,} contributions no 201 was counted for (expected 1 to "
                        f"{1 + connections * len(runs):,}: the pre-check and requests cut off at the end of a run)")
    sums = dict(contributions.filter(status=ContributionStatus.PENDING_PAYMENT).values_list("crowdfund_id")
                .annotate(s=Sum("amount_fen")))
    bad = []
    for cf in Crowdfund.objects.filter(pk__in=seed["crowdfund_ids"]).annotate(
            n=Count("contributions", filter=Q(contributions__status=ContributionStatus.PENDING_PAYMENT))):
        if cf.reserved_fen != sums.get(cf.pk, 0) or cf.raised_fen or cf.raised_fen + cf.reserved_fen > cf.goal_fen:
            bad.append(f"crowdfund {cf.pk}: reserved {cf.reserved_fen} fen, pending contributions "
                       f"{sums.get(cf.pk, 0)} fen, raised {cf.raised_fen}, goal {cf.goal_fen}")
    if bad:
        problems.append(f"{len(bad)} crowdfunds disagree with their contributions: " + "; ".join(bad[:3]))
    measured = runs[-1] if runs else {"created": 0, "responses": 0}
    used = {cf: n for cf, n in contributions.values_list("crowdfund_id").annotate(n=Count("id"))}
    text = (
        f"the measured run got {measured['created']:,} answers 201 of {measured['responses']:,}; over the pre-check, "
        f"warm-up and measured runs {made:,} contributions were made by {seed['friends']:,} friends on "
        f"{len(used)} of the {len(seed['crowdfund_ids'])} seeded crowdfunds (room for {seed['room']:,}), none "
        "twice to one crowdfund, every "
        f"one answered 201 found reserved with its prepaid WeChat order ({unseen} more: the pre-check's and "
        "requests cut off at the end of a run), and every crowdfund's reserved_fen equals the sum of its pending "
        "contributions, none above its goal"
    )
    if problems:
        text += ". PROBLEMS: " + "; ".join(problems)
    return {"check": text, "check_failed": bool(problems)}


def main() -> None:
    seed = json.loads(CONTRIBUTE_SEED_FILE.read_text())
    runs = [json.loads(line) for line in CONTRIBUTE_RUNS_FILE.read_text().splitlines() if line.strip()]
    nos = [line for line in CONTRIBUTE_NOS_FILE.read_text().splitlines() if line.strip()] \
        if CONTRIBUTE_NOS_FILE.exists() else []
    print(json.dumps(contribute_check(seed=seed, runs=runs, nos=nos), ensure_ascii=False))


if __name__ == "__main__":
    main()
