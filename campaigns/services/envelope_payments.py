"""Red envelopes paid by WeChat: the owner's funding and fans' top-ups, their refunds, and the
cancel of envelopes never opened (or never paid).

* `envelope_wechat_pay` / `top_up_wechat_pay` open a JSAPI payment (purpose
  campaigns.red_envelope, out_trade_no = the backing's number) after the backing row commits.
* `on_wechat_payment_paid` (the wechat payment hook, inside the transaction that marks the
  payment paid, once per payment): every paid fen lands in the envelope's escrow (outside →
  escrow); it counts — the pool grows; the owner's funding moves the envelope to `funding`, and
  opens it when asked — if the envelope can still take it (the owner's money while it waits for
  it; a top-up while `funding` and within the limits). Otherwise it goes back by WeChat refund
  (reason `env_late`).
* `envelopes_cancel_due` (beat job `campaigns.cancel_envelopes`): an envelope left unopened for
  the operator's days (default 7) is cancelled and every backer given back — wallet money to the
  wallet in the same transaction, WeChat money by a WeChat refund of their own payment; an
  envelope whose owner never paid is cancelled after the pay window (its WeChat order closed).
* Refunds are CampaignRefund rows (`backing` set), sent and retried by the same task and job
  as the crowdfunds' (campaigns.refund_send, campaigns.retry_refunds); WeChat's final word comes
  back through `on_wechat_refund_final`.
"""
from __future__ import annotations

import logging
from datetime import timedelta

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from core.errors import DomainError, InvalidInput
from core.transitions import transition
from ledger.locks import accounts_lock, user_account_ids
from ledger.models import AccountKind
from ledger.services import ledger_post
from wechat import services as wechat_services
from wechat.models import RefundStatus as WechatRefundStatus

from ..models import (
    CAMPAIGN_REFUND_TRANSITIONS,
    ENVELOPE_PURPOSE,
    BackingStatus,
    CampaignRefund,
    CampaignRefundStatus,
    EnvelopeBacking,
    EnvelopeEvent,
    EnvelopeStatus,
    PayWith,
    RedEnvelope,
    RefundReason,
)
from ..tasks import campaign_refund_send_task
from .crowdfund_refunds import refund_attempts
from .envelope_opening import envelope_open_locked
from .envelope_state import (
    backing_lock,
    backing_move,
    envelope_escrow_account,
    envelope_event,
    envelope_lock,
    envelope_move,
    envelope_outside_account,
    envelope_settings_get,
)

logger = logging.getLogger(__name__)

E = EnvelopeStatus
B = BackingStatus
R = CampaignRefundStatus
BATCH = 200


def _pay(backing: EnvelopeBacking, *, user, client_ip: str, description: str) -> dict:
    """The backing's WeChat JSAPI order, after its row committed. A failure expires the backing."""
    try:
        _, params = wechat_services.payment_create(
            out_trade_no=backing.no, purpose=ENVELOPE_PURPOSE, ref=backing.no, amount_fen=backing.amount_fen,
            openid=user.openid, description=description, client_ip=client_ip)
    except DomainError:
        with transaction.atomic():
            envelope_lock(envelope_id=backing.envelope_id)
            locked = backing_lock(no=backing.no)
            if locked.status == B.PENDING_PAYMENT:
                backing_move(locked, B.EXPIRED, kind="payment_not_created")
        raise
    return params


def backing_wechat_pay(*, backing: EnvelopeBacking, user, client_ip: str) -> dict:
    if not getattr(user, "openid", ""):
        raise InvalidInput("Paying with WeChat needs a WeChat login.", code="no_openid")
    return _pay(backing, user=user, client_ip=client_ip,
                description="发红包" if backing.is_owner else "给红包加码")


# --- WeChat's answers --------------------------------------------------------------------


def on_wechat_payment_paid(payment) -> None:
    env_id = EnvelopeBacking.objects.filter(no=payment.out_trade_no).values_list("envelope_id", flat=True).first()
    if env_id is None:
        raise RuntimeError(f"payment {payment.out_trade_no} names no red-envelope backing")
    env = envelope_lock(envelope_id=env_id)
    b = backing_lock(no=payment.out_trade_no)
    if b.transaction_id:
        return  # recorded already
    fields = {"transaction_id": payment.transaction_id or "", "paid_at": payment.paid_at or timezone.now()}
    counted = b.status in (B.PENDING_PAYMENT, B.EXPIRED) and (
        (b.is_owner and env.status == E.PENDING_PAYMENT) or (not b.is_owner and env.status == E.FUNDING))
    if counted and not b.is_owner:
        config = envelope_settings_get()
        counted = env.pool_fen + b.amount_fen <= min(config.max_total_fen, env.count * env.max_share_fen)
    escrow, outside = envelope_escrow_account(envelope_id=env.pk), envelope_outside_account(envelope_id=env.pk)
    accounts_lock(accounts_or_ids=[escrow, outside])
    ledger_post(kind="campaigns.envelope_paid", idempotency_key=f"campaigns.envelope_paid:{b.no}",
                legs=[(outside, -b.amount_fen), (escrow, b.amount_fen)],
                memo=f"envelope {env.pk}: {b.no} paid by WeChat", cause_type="campaigns.red_envelope",
                cause_id=env.pk)
    if not counted:
        backing_move(b, B.REFUNDING, kind="paid_refund_late", fields=fields, data={"envelope_status": env.status})
        backing_refund_open(backing=b, reason=RefundReason.ENVELOPE_LATE)
        return
    backing_move(b, B.PAID, kind="paid", fields=fields)
    RedEnvelope.objects.filter(pk=env.pk).update(pool_fen=F("pool_fen") + b.amount_fen, updated_at=timezone.now())
    env.refresh_from_db(fields=["pool_fen"])
    if b.is_owner:
        envelope_move(env, E.FUNDING, kind="paid", actor=None, fields={"funded_at": timezone.now()})
        if env.open_when_paid:
            envelope_open_locked(env, actor=env.owner)
    else:
        envelope_event(env.pk, kind="topped_up", data={"backing": b.no, "amount_fen": b.amount_fen,
                                                       "pay_with": PayWith.WECHAT})


def _refund_no(backing: EnvelopeBacking, *, reason: str, attempt: int) -> str:
    return f"{backing.no}-{'C' if reason == RefundReason.ENVELOPE_CANCELLED else 'L'}{attempt}"


def backing_refund_open(*, backing: EnvelopeBacking, reason: str, attempt: int = 1) -> CampaignRefund:
    """A WeChat refund of the backing's payment, sent after the commit (idempotent row)."""
    refund, created = CampaignRefund.objects.get_or_create(
        backing=backing, reason=reason, attempt=attempt,
        defaults={"amount_fen": backing.amount_fen, "no": _refund_no(backing, reason=reason, attempt=attempt)})
    if created:
        envelope_event(backing.envelope_id, kind="refund_opened",
                       data={"no": refund.no, "backing": backing.no, "amount_fen": refund.amount_fen,
                             "reason": reason, "attempt": attempt})
        refund_id = refund.pk
        transaction.on_commit(lambda: campaign_refund_send_task.delay(refund_id))
    return refund


def _refund_move(refund: CampaignRefund, to: str, *, env_id: int, code: str = "") -> None:
    def record(obj, prev, new):
        EnvelopeEvent.objects.create(envelope_id=env_id, backing_id=refund.backing_id, kind=f"refund_{new}",
                                     from_status=prev, to_status=new,
                                     data={"no": refund.no, "amount_fen": refund.amount_fen, "error_code": code})

    transition(refund, to, table=CAMPAIGN_REFUND_TRANSITIONS, locked=True, what="campaign refund", record=record,
               fields={"finished_at": timezone.now(), **({"error_code": code[:64]} if code else {})})


def on_wechat_refund_final(wechat_refund) -> None:
    """The wechat refund hook (purpose campaigns.red_envelope)."""
    row = CampaignRefund.objects.filter(no=wechat_refund.out_refund_no, backing__isnull=False).values(
        "pk", "backing__envelope_id", "backing__no").first()
    if row is None:
        logger.error("campaigns: WeChat finalised envelope refund %s we do not know", wechat_refund.out_refund_no)
        return
    env = envelope_lock(envelope_id=row["backing__envelope_id"])
    b = backing_lock(no=row["backing__no"])
    refund = CampaignRefund.objects.select_for_update().get(pk=row["pk"])
    if refund.status != R.REQUESTED:
        return
    if wechat_refund.status != WechatRefundStatus.SUCCEEDED:
        code = wechat_refund.error_code or wechat_refund.status
        _refund_move(refund, R.FAILED, env_id=env.pk, code=code)
        if refund.attempt < refund_attempts():
            backing_refund_open(backing=b, reason=refund.reason, attempt=refund.attempt + 1)
        else:
            logger.error("campaigns: envelope refund %s failed %s times: an operator must pay it back",
                         refund.no, refund.attempt)
            envelope_event(env.pk, kind="refund_needs_operator",
                           data={"no": refund.no, "amount_fen": refund.amount_fen, "error_code": code})
        return
    backing_refund_done(env, b, refund)


def backing_refund_done(env, b: EnvelopeBacking, refund: CampaignRefund, *, to: str = R.SUCCEEDED) -> None:
    """The money of `refund` went back (WeChat said so, or `to` SETTLED: an operator paid it back
    outside the API): out of the escrow, the backing refunded. Locked: env, b, refund."""
    _refund_move(refund, to, env_id=env.pk)
    escrow, outside = envelope_escrow_account(envelope_id=env.pk), envelope_outside_account(envelope_id=env.pk)
    accounts_lock(accounts_or_ids=[escrow, outside])
    ledger_post(kind="campaigns.envelope_refund", idempotency_key=f"campaigns.envelope_refund:{refund.no}",
                legs=[(escrow, -refund.amount_fen), (outside, refund.amount_fen)],
                memo=f"envelope {env.pk}: {b.no} refunded ({refund.reason})", cause_type="campaigns.red_envelope",
                cause_id=env.pk)
    if b.status == B.REFUNDING:
        backing_move(b, B.REFUNDED, kind="refunded")


# --- cancelling what was never opened -------------------------------------------------


def envelope_cancel(*, envelope_id: int, now=None) -> bool:
    """Cancel an envelope left unopened past the operator's days, or never paid past the pay
    window; every paid backer given back. False when it is not (any more) due."""
    config = envelope_settings_get()
    now = now or timezone.now()
    with transaction.atomic():
        env = envelope_lock(envelope_id=envelope_id)
        if env.status == E.FUNDING:
            due = env.funded_at is not None and env.funded_at <= now - timedelta(days=config.unopened_cancel_days)
        elif env.status == E.PENDING_PAYMENT:
            due = env.created_at <= now - timedelta(minutes=config.pay_window_minutes)
        else:
            due = False
        if not due:
            return False
        backings = list(EnvelopeBacking.objects.select_for_update().filter(
            envelope=env, status__in=[B.PENDING_PAYMENT, B.PAID]).order_by("pk"))
        wallet_backs = [b for b in backings if b.status == B.PAID and b.pay_with == PayWith.WALLET]
        escrow = envelope_escrow_account(envelope_id=env.pk)
        wallet_ids = user_account_ids(user_ids={b.user_id for b in wallet_backs}, kinds=[AccountKind.USER_WALLET])
        locked = accounts_lock(accounts_or_ids=[escrow.pk, *wallet_ids])
        wallets = {a.owner_id: a for a in locked.values() if a.kind == AccountKind.USER_WALLET}
        envelope_move(env, E.CANCELLED, kind="cancelled", fields={"closed_at": now},
                      data={"pool_fen": env.pool_fen, "backings": len(backings)})
        if wallet_backs:
            total = sum(b.amount_fen for b in wallet_backs)
            ledger_post(kind="campaigns.envelope_cancel", idempotency_key=f"campaigns.envelope_cancel:{env.pk}",
                        legs=[(escrow, -total)] + [(wallets[b.user_id], b.amount_fen) for b in wallet_backs],
                        memo=f"envelope {env.pk} never opened: wallet backers given back",
                        cause_type="campaigns.red_envelope", cause_id=env.pk)
        for b in backings:
            if b.status == B.PENDING_PAYMENT:
                backing_move(b, B.EXPIRED, kind="cancelled_unpaid")
                no = b.no
                transaction.on_commit(lambda no=no: _close_quietly(no))
            elif b.pay_with == PayWith.WALLET:
                backing_move(b, B.REFUNDING, kind="refund_env_cancelled")
                backing_move(b, B.REFUNDED, kind="refunded_to_wallet")
            else:
                backing_move(b, B.REFUNDING, kind="refund_env_cancelled")
                backing_refund_open(backing=b, reason=RefundReason.ENVELOPE_CANCELLED)
    logger.info("envelope.cancelled id=%s", envelope_id)
    return True


def _close_quietly(no: str) -> None:
    try:
        wechat_services.payment_close(out_trade_no=no)
    except DomainError as exc:  # paid meanwhile: the hook refunds it (the envelope is cancelled)
        logger.warning("envelope backing %s: close failed: %s", no, exc.code)


def envelopes_cancel_due() -> dict:
    """Beat job: cancel envelopes unopened past the operator's days or never paid."""
    config = envelope_settings_get()
    now = timezone.now()
    unopened = RedEnvelope.objects.filter(status=E.FUNDING,
                                          funded_at__lte=now - timedelta(days=config.unopened_cancel_days))
    unpaid = RedEnvelope.objects.filter(status=E.PENDING_PAYMENT,
                                        created_at__lte=now - timedelta(minutes=config.pay_window_minutes))
    due = list(unopened.values_list("pk", flat=True)[:BATCH]) + list(unpaid.values_list("pk", flat=True)[:BATCH])
    return {"due": len(due), "cancelled": sum(envelope_cancel(envelope_id=pk, now=now) for pk in due)}
