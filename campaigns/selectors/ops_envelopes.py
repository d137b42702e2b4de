"""The operators' reads of red envelopes: the list, one envelope with everything about its
money, and the figures for the reports overview. The crowdfund side (selectors/ops.py) is
the model; its helpers for postings, escrow balances and WeChat refunds are shared.

Nothing here writes. Every read costs a fixed number of queries whatever the number of rows:

* a page of the list is one query (its envelopes with their owner) plus
  `envelopes_figures_attach`, three grouped queries over the whole page (shares; backings
  by status; distinct backers);
* the detail is fourteen: the envelope, its figures (the three above), the shown shares
  (with their grabbers), the unclaimed count and total, the backings (with their users),
  their WeChat payments (`WechatPayment.out_trade_no` = `EnvelopeBacking.no`), their refunds
  and those refunds' WeChat refunds, the events, the escrow account, the postings and their
  entries;
* `envelope_report` is three aggregates (envelopes, backings, shares).

**What the detail never shows:** which position of an envelope still being grabbed holds
which amount — that would tell an operator (or whoever sees the screen) where the big
share is. Only grabbed or returned shares are listed by position with their amounts; the
shares nobody has grabbed yet are one count and one total (`unclaimed`), and the best-luck
position is shown only once the envelope is over.

The postings of an envelope are the ledger transactions caused by it
(`cause_type="campaigns.red_envelope"`, `cause_id` = its id): the funding and top-ups (from
wallets or WeChat), the grab batches to the wallets, what went back to the owner, the
cancel and the WeChat refunds.
"""
from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from datetime import date, datetime

from django.db.models import Count, Q, QuerySet, Sum

from commissions.selectors.reports import report_bounds
from core.errors import NotFound
from wechat.models import WechatPayment

from ..models import (
    BackingStatus,
    CampaignRefund,
    EnvelopeBacking,
    EnvelopeEvent,
    EnvelopeShare,
    EnvelopeStatus,
    RedEnvelope,
    envelope_escrow_ref,
)
from .ops import escrow_balance_fen, postings_for, wechat_refunds_attach

CAUSE_ENVELOPE = "campaigns.red_envelope"
# Backings whose money arrived (kept, or given back since).
PAID_BACKINGS = (BackingStatus.PAID, BackingStatus.REFUNDING, BackingStatus.REFUNDED)
OVER = (EnvelopeStatus.EMPTY, EnvelopeStatus.EXPIRED)


# --- the list ---------------------------------------------------------------------------

def envelope_list_for_ops(
    *,
    status: str | None = None,
    owner_id: int | None = None,
    created_from: datetime | None = None,
    created_to: datetime | None = None,
) -> QuerySet[RedEnvelope]:
    """Envelopes newest first, filtered (all filters AND; the times inclusive)."""
    qs = RedEnvelope.objects.select_related("owner")
    if status:
        qs = qs.filter(status=status)
    if owner_id is not None:
        qs = qs.filter(owner_id=owner_id)
    if created_from is not None:
        qs = qs.filter(created_at__gte=created_from)
    if created_to is not None:
        qs = qs.filter(created_at__lte=created_to)
    return qs.order_by("-created_at", "-pk")


def _empty_figures() -> dict:
    return {"shares": 0, "grabbed": 0, "grabbed_fen": 0, "posted_fen": 0, "returned_fen": 0,
            "backers": 0, "topped_up_fen": 0, "backings": {s: 0 for s in BackingStatus.values}}


def _int(value) -> int:
    return int(value or 0)


def envelopes_figures_attach(*, envelopes: Sequence[RedEnvelope]) -> Sequence[RedEnvelope]:
    """Set `ops_figures` on each envelope of a page, in three grouped queries for the page:
    shares (how many, grabbed and their fen, posted to wallets, returned to the owner),
    backings by status (and the fans' paid top-ups in fen), and the distinct backers (fans
    whose top-up was paid)."""
    ids = [env.pk for env in envelopes]
    figures = {pk: _empty_figures() for pk in ids}
    if not ids:
        return envelopes
    grabbed = Q(user__isnull=False)
    for row in (EnvelopeShare.objects.filter(envelope_id__in=ids).order_by().values("envelope_id")
                .annotate(n=Count("pk"), grabbed=Count("pk", filter=grabbed),
                          grabbed_fen=Sum("amount_fen", filter=grabbed),
                          posted_fen=Sum("amount_fen", filter=grabbed & Q(posting__isnull=False)),
                          returned_fen=Sum("amount_fen", filter=Q(returned=True)))):
        f = figures[row["envelope_id"]]
        f.update(shares=row["n"], grabbed=row["grabbed"], grabbed_fen=_int(row["grabbed_fen"]),
                 posted_fen=_int(row["posted_fen"]), returned_fen=_int(row["returned_fen"]))
    fans_paid = Q(is_owner=False, status__in=PAID_BACKINGS)
    for row in (EnvelopeBacking.objects.filter(envelope_id__in=ids).order_by().values("envelope_id", "status")
                .annotate(n=Count("pk"), fans_fen=Sum("amount_fen", filter=fans_paid))):
        f = figures[row["envelope_id"]]
        f["backings"][row["status"]] = row["n"]
        f["topped_up_fen"] += _int(row["fans_fen"])
    for row in (EnvelopeBacking.objects.filter(fans_paid, envelope_id__in=ids).order_by().values("envelope_id")
                .annotate(people=Count("user_id", distinct=True))):
        figures[row["envelope_id"]]["backers"] = row["people"]
    for env in envelopes:
        env.ops_figures = figures[env.pk]
    return envelopes


# --- one envelope -----------------------------------------------------------------------

def envelope_get_for_ops(*, envelope_id: int) -> RedEnvelope:
    env = RedEnvelope.objects.select_related("owner").filter(pk=envelope_id).first()
    if env is None:
        raise NotFound("Red envelope not found.")
    return env


def envelope_postings(*, envelope: RedEnvelope) -> list:
    """The ledger transactions of an envelope, oldest first, with their entries (two queries)."""
    return postings_for(causes=Q(cause_type=CAUSE_ENVELOPE, cause_id=str(envelope.pk)))


def envelope_detail_for_ops(*, envelope_id: int) -> dict:
    """The envelope with its figures; its shown shares in position order (grabbed or returned
    only, with grabber, grab time and posting) and the unclaimed ones as `unclaimed`
    {count, total_fen} (see the module doc); its backings newest first, each with its WeChat
    payment (`payment`, None for wallet money) and its refunds oldest first (each with its
    WeChat refund as `wechat`); the events oldest first; the escrow balance; the postings;
    `best_position` (None while it is still being grabbed)."""
    env = envelope_get_for_ops(envelope_id=envelope_id)
    envelopes_figures_attach(envelopes=[env])
    shares = EnvelopeShare.objects.filter(envelope_id=env.pk)
    shown = list(shares.filter(Q(user__isnull=False) | Q(returned=True)).select_related("user")
                 .order_by("position"))
    unclaimed = shares.filter(user__isnull=True, returned=False).aggregate(n=Count("pk"), fen=Sum("amount_fen"))
    backings = list(EnvelopeBacking.objects.filter(envelope_id=env.pk).select_related("user")
                    .order_by("-created_at", "-pk"))
    nos = EnvelopeBacking.objects.filter(envelope_id=env.pk).values("no")
    payments = {p.out_trade_no: p for p in WechatPayment.objects.filter(out_trade_no__in=nos)}
    refunds = list(CampaignRefund.objects.filter(backing__envelope_id=env.pk).order_by("pk"))
    wechat_refunds_attach(refunds=refunds, refund_nos=CampaignRefund.objects.filter(
        backing__envelope_id=env.pk).values("no"))
    by_backing: dict[int, list[CampaignRefund]] = defaultdict(list)
    for refund in refunds:
        by_backing[refund.backing_id].append(refund)
    for b in backings:
        b.payment = payments.get(b.no)
        b.refund_rows = by_backing.get(b.pk, [])
    events = list(EnvelopeEvent.objects.filter(envelope_id=env.pk).select_related("actor", "backing")
                  .order_by("pk"))
    return {
        "envelope": env,
        "best_position": env.best_position if env.status in OVER else None,
        "shares": shown,
        "unclaimed": {"count": _int(unclaimed["n"]), "total_fen": _int(unclaimed["fen"])},
        "backings": backings,
        "events": events,
        "escrow_fen": escrow_balance_fen(ref=envelope_escrow_ref(envelope_id=env.pk)),
        "postings": envelope_postings(envelope=env),
    }


# --- the reports overview ---------------------------------------------------------------

def envelope_report(*, day_from: date, day_to: date) -> dict:
    """The red-envelope figures of a period (calendar days in the shop's time zone, both
    included, as the rest of the overview), in three aggregate queries. Money in fen.

    * Envelopes **created** in the period (`created_at`, waiting for payment included);
      **opened** in it (`opened_at`); ended in it (`closed_at`) as `empty` (every share
      grabbed), `expired` (lifetime over) or `cancelled` (never opened or never paid);
      `returned_fen`: what nobody grabbed, given back to the owners of those that expired
      in the period.
    * Backings **paid** in the period (`paid_at`; kept or given back later): the owners'
      own money `funded_fen`, the fans' top-ups `topped_up_fen`.
    * Shares **grabbed** in the period (`grabbed_at`): `grabs`, `grabbed_fen`, `grabbers`
      (distinct people).
    """
    start, end = report_bounds(day_from=day_from, day_to=day_to)
    E = EnvelopeStatus

    def inside(field: str) -> Q:
        return Q(**{f"{field}__gte": start, f"{field}__lt": end})

    closed = inside("closed_at")
    envs = (RedEnvelope.objects.filter(inside("created_at") | inside("opened_at") | closed).order_by()
            .aggregate(created=Count("pk", filter=inside("created_at")),
                       opened=Count("pk", filter=inside("opened_at")),
                       empty=Count("pk", filter=closed & Q(status=E.EMPTY)),
                       expired=Count("pk", filter=closed & Q(status=E.EXPIRED)),
                       cancelled=Count("pk", filter=closed & Q(status=E.CANCELLED)),
                       returned=Sum("returned_fen", filter=closed & Q(status=E.EXPIRED))))
    paid = (EnvelopeBacking.objects.filter(inside("paid_at"), status__in=PAID_BACKINGS).order_by()
            .aggregate(own=Sum("amount_fen", filter=Q(is_owner=True)),
                       fans=Sum("amount_fen", filter=Q(is_owner=False))))
    grabs = (EnvelopeShare.objects.filter(inside("grabbed_at"), user__isnull=False).order_by()
             .aggregate(n=Count("pk"), fen=Sum("amount_fen"), people=Count("user_id", distinct=True)))
    return {
        "created": _int(envs["created"]),
        "opened": _int(envs["opened"]),
        "empty": _int(envs["empty"]),
        "expired": _int(envs["expired"]),
        "cancelled": _int(envs["cancelled"]),
        "funded_fen": _int(paid["own"]),
        "topped_up_fen": _int(paid["fans"]),
        "grabbed_fen": _int(grabs["fen"]),
        "grabs": _int(grabs["n"]),
        "grabbers": _int(grabs["people"]),
        "returned_fen": _int(envs["returned"]),
    }
