"""The operators' reads of crowdfunds: the list, one crowdfund with everything about its
money, the per-product rule, and the figures for the reports overview.

Nothing here writes. Every read costs a fixed number of queries whatever the number of rows:

* a page of the list is one query (its crowdfunds with their initiator and order,
  `select_related`) plus `crowdfunds_figures_attach`, three grouped queries over the whole
  page (contributions by status, refunds by status, refunds waiting for an operator) — never
  one per row;
* the detail is twelve: the crowdfund, its figures (the three above), its contributions
  (with their users), their WeChat payments (`WechatPayment.out_trade_no` =
  `Contribution.no`), its refunds, their WeChat refunds (`WechatRefund.out_refund_no` =
  `CampaignRefund.no`), the events, the escrow account, the ledger postings and their
  entries. The related rows are matched by sub-select (`… IN (SELECT no FROM …)`), so no
  list of numbers travels to the database;
* `crowdfund_report` is three aggregates (crowdfunds, contributions, refunds).

The postings of a crowdfund are the ledger transactions caused by it
(`cause_type="campaigns.crowdfund"`, `cause_id` = its id: the funding), by its contributions
(`"campaigns.contribution"`, their numbers: paid into escrow, refunded out of it) and, once
it is funded, by its order (`"mall.order"`, the order number: the payment and the
commissions accrued) and the order's refunds (`"mall.refund"`, their numbers).
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet, Sum

from commissions.selectors.reports import report_bounds
from core.errors import NotFound
from core.money import BPS
from ledger.locks import account_code
from ledger.models import Account, AccountKind, Entry, LedgerTransaction
from mall.models import Product, Refund
from wechat.models import WechatPayment, WechatRefund

from ..models import (
    CampaignRefund,
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundEvent,
    CrowdfundProductRule,
    CrowdfundStatus,
    escrow_ref,
)

CAUSE_CROWDFUND = "campaigns.crowdfund"
CAUSE_CONTRIBUTION = "campaigns.contribution"
CAUSE_ORDER = "mall.order"
CAUSE_ORDER_REFUND = "mall.refund"
NEEDS_OPERATOR_EVENT = "refund_needs_operator"
# What the list and detail call "paid": contributions whose money arrived (counted or not).
PAID_STATUSES = (ContributionStatus.PAID, ContributionStatus.REFUNDING, ContributionStatus.REFUNDED)


# --- the list ---------------------------------------------------------------------------

def crowdfund_list_for_ops(
    *,
    status: str | None = None,
    product_id: int | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
    initiator_id: int | None = None,
) -> QuerySet[Crowdfund]:
    """Crowdfunds newest first, filtered (all filters AND; the times inclusive)."""
    qs = Crowdfund.objects.select_related("initiator", "order")
    if status:
        qs = qs.filter(status=status)
    if product_id is not None:
        qs = qs.filter(product_id=product_id)
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_to is not None:
        qs = qs.filter(created_at__lte=created_to)
    if initiator_id is not None:
        qs = qs.filter(initiator_id=initiator_id)
    return qs.order_by("-created_at", "-pk")


def _empty_figures() -> dict:
    return {
        "contributions": {s: 0 for s in ContributionStatus.values},
        "paid_fen": 0,
        "refunded_fen": 0,
        "refunds": {s: 0 for s in CampaignRefundStatus.values},
        "needs_operator": False,
    }


def crowdfunds_figures_attach(*, crowdfunds: Sequence[Crowdfund]) -> Sequence[Crowdfund]:
    """Set `ops_figures` on each crowdfund of a page, in three grouped queries for the page:
    contributions by status, paid and refunded fen; refunds by status; whether a refund
    failed every attempt and waits for an operator (event `refund_needs_operator`)."""
    ids = [cf.pk for cf in crowdfunds]
    figures = {pk: _empty_figures() for pk in ids}
    if not ids:
        return crowdfunds
    for row in (Contribution.objects.filter(crowdfund_id__in=ids).order_by().values("crowdfund_id", "status")
                .annotate(n=Count("pk"), fen=Sum("amount_fen"), back=Sum("refunded_fen"))):
        f = figures[row["crowdfund_id"]]
        f["contributions"][row["status"]] = row["n"]
        if row["status"] in PAID_STATUSES:
            f["paid_fen"] += int(row["fen"] or 0)
        f["refunded_fen"] += int(row["back"] or 0)
    for row in (CampaignRefund.objects.filter(contribution__crowdfund_id__in=ids).order_by()
                .values("contribution__crowdfund_id", "status").annotate(n=Count("pk"))):
        figures[row["contribution__crowdfund_id"]]["refunds"][row["status"]] = row["n"]
    for cf_id in (CrowdfundEvent.objects.filter(crowdfund_id__in=ids, kind=NEEDS_OPERATOR_EVENT).order_by()
                  .values_list("crowdfund_id", flat=True).distinct()):
        figures[cf_id]["needs_operator"] = True
    for cf in crowdfunds:
        cf.ops_figures = figures[cf.pk]
    return crowdfunds


# --- one crowdfund ----------------------------------------------------------------------

def crowdfund_get_for_ops(*, crowdfund_id: int) -> Crowdfund:
    cf = Crowdfund.objects.select_related("initiator", "order").filter(pk=crowdfund_id).first()
    if cf is None:
        raise NotFound("Crowdfund not found.")
    return cf


def crowdfund_postings(*, crowdfund: Crowdfund) -> list[LedgerTransaction]:
    """The ledger transactions of a crowdfund (see the module's docstring), oldest first, with
    their entries and accounts (two queries)."""
    nos = Contribution.objects.filter(crowdfund_id=crowdfund.pk).values("no")
    causes = (Q(cause_type=CAUSE_CROWDFUND, cause_id=str(crowdfund.pk))
              | Q(cause_type=CAUSE_CONTRIBUTION, cause_id__in=nos))
    if crowdfund.order_id is not None:
        causes |= (Q(cause_type=CAUSE_ORDER, cause_id=crowdfund.order.no)
                   | Q(cause_type=CAUSE_ORDER_REFUND,
                       cause_id__in=Refund.objects.filter(order_id=crowdfund.order_id).values("no")))
    return postings_for(causes=causes)


def postings_for(*, causes: Q) -> list[LedgerTransaction]:
    """The ledger transactions matching `causes`, oldest first, with their entries and
    accounts (two queries). Shared by the crowdfund and red-envelope details."""
    entries = Entry.objects.select_related("account").order_by("pk")
    return list(LedgerTransaction.objects.filter(causes)
                .prefetch_related(Prefetch("entries", queryset=entries)).order_by("pk"))


def escrow_balance_fen(*, ref: str) -> int:
    """What a campaign's escrow account (kind campaign_escrow, `ref`) holds now; 0 when it
    was never created (read, never created here). One query."""
    code = account_code(kind=AccountKind.CAMPAIGN_ESCROW, ref=ref)
    return int(Account.objects.filter(code=code).values_list("balance_fen", flat=True).first() or 0)


def wechat_refunds_attach(*, refunds: Sequence[CampaignRefund], refund_nos: QuerySet) -> None:
    """Set `wechat` (its WechatRefund, None until one was asked for) on each refund, in one
    query (`refund_nos`: a sub-select of their numbers)."""
    wechat_refunds = {r.out_refund_no: r for r in WechatRefund.objects.filter(out_refund_no__in=refund_nos)}
    for refund in refunds:
        refund.wechat = wechat_refunds.get(refund.no)


def crowdfund_detail_for_ops(*, crowdfund_id: int) -> dict:
    """The crowdfund with its figures, its contributions newest first — each with its WeChat
    payment (`payment`, None if none was made) and its refunds oldest first (each with its
    WeChat refund as `wechat`, None until one was asked for) —, the events oldest first, the
    escrow balance and the postings."""
    cf = crowdfund_get_for_ops(crowdfund_id=crowdfund_id)
    crowdfunds_figures_attach(crowdfunds=[cf])
    contributions = list(Contribution.objects.filter(crowdfund_id=cf.pk).select_related("user")
                         .order_by("-created_at", "-pk"))
    nos = Contribution.objects.filter(crowdfund_id=cf.pk).values("no")
    payments = {p.out_trade_no: p for p in WechatPayment.objects.filter(out_trade_no__in=nos)}
    refunds = list(CampaignRefund.objects.filter(contribution__crowdfund_id=cf.pk).order_by("pk"))
    wechat_refunds_attach(refunds=refunds, refund_nos=CampaignRefund.objects.filter(
        contribution__crowdfund_id=cf.pk).values("no"))
    by_contribution: dict[int, list[CampaignRefund]] = defaultdict(list)
    for refund in refunds:
        by_contribution[refund.contribution_id].append(refund)
    for c in contributions:
        c.payment = payments.get(c.no)
        c.refund_rows = by_contribution.get(c.pk, [])
    events = list(CrowdfundEvent.objects.filter(crowdfund_id=cf.pk).select_related("actor").order_by("pk"))
    return {
        "crowdfund": cf,
        "contributions": contributions,
        "events": events,
        "escrow_fen": escrow_balance_fen(ref=escrow_ref(crowdfund_id=cf.pk)),
        "postings": crowdfund_postings(crowdfund=cf),
    }


# --- the per-product rule ---------------------------------------------------------------

def crowdfund_product_rule_for_ops(*, product_id: int) -> CrowdfundProductRule:
    """A product's crowdfund rule (unsaved defaults when none was set); 404 for no such product."""
    if not Product.objects.filter(pk=product_id).exists():
        raise NotFound("Product not found.")
    return (CrowdfundProductRule.objects.filter(product_id=product_id).first()
            or CrowdfundProductRule(product_id=product_id))


# --- the reports overview ---------------------------------------------------------------

def _int(value) -> int:
    return int(value or 0)


def _ended_as(status: str) -> Exists:
    return Exists(CrowdfundEvent.objects.filter(crowdfund_id=OuterRef("pk"), subject="crowdfund", to_status=status))


def crowdfund_report(*, day_from: date, day_to: date) -> dict:
    """The crowdfund figures of a period (calendar days in the shop's time zone, both
    included, as the rest of the overview), in three aggregate queries. Money in fen.

    * Crowdfunds **started** in the period (`created_at`), and of those: `open` (still open),
      `funded` (the goal was reached: funded or ordered now), `expired` / `cancelled` (how
      it ended without an order, whether or not its refunds are done: status now, or
      refunded after it), `refunded` (every paid contribution given back: status now);
      `conversion_bps` = funded × 10000 ÷ started, rounded down (0 when none started).
    * Contributions **paid** in the period (`paid_at`; counted or refunded later):
      `contributions`, `contributed_fen` and `contributors` (distinct people).
    * Contribution refunds that **succeeded** in the period (`finished_at`, any reason,
      refunds of funded orders included): `refunds`, `refunded_fen`.
    """
    start, end = report_bounds(day_from=day_from, day_to=day_to)
    S = CrowdfundStatus
    started = (Crowdfund.objects.filter(created_at__gte=start, created_at__lt=end).order_by()
               .annotate(was_expired=_ended_as(S.EXPIRED), was_cancelled=_ended_as(S.CANCELLED))
               .aggregate(started=Count("pk"),
                          open=Count("pk", filter=Q(status=S.OPEN)),
                          funded=Count("pk", filter=Q(status__in=[S.FUNDED, S.ORDERED])),
                          expired=Count("pk", filter=Q(was_expired=True)),
                          cancelled=Count("pk", filter=Q(was_cancelled=True)),
                          refunded=Count("pk", filter=Q(status=S.REFUNDED))))
    paid = (Contribution.objects.filter(paid_at__gte=start, paid_at__lt=end).order_by()
            .aggregate(n=Count("pk"), fen=Sum("amount_fen"), people=Count("user_id", distinct=True)))
    back = (CampaignRefund.objects.filter(status=CampaignRefundStatus.SUCCEEDED, finished_at__gte=start,
                                          finished_at__lt=end).order_by()
            .aggregate(n=Count("pk"), fen=Sum("amount_fen")))
    n_started, n_funded = _int(started["started"]), _int(started["funded"])
    return {
        "started": n_started,
        "open": _int(started["open"]),
        "funded": n_funded,
        "expired": _int(started["expired"]),
        "cancelled": _int(started["cancelled"]),
        "refunded": _int(started["refunded"]),
        "conversion_bps": n_funded * BPS // n_started if n_started else 0,
        "contributions": _int(paid["n"]),
        "contributed_fen": _int(paid["fen"]),
        "contributors": _int(paid["people"]),
        "refunds": _int(back["n"]),
        "refunded_fen": _int(back["fen"]),
    }
