"""Withdrawals (提现): the request and the operator's review. The payout is services/payouts.py.

Statuses (API.md): requested → approved → paying → paid; requested → rejected;
approved/paying → failed (the money returns). Every status change goes through
core.transitions.transition on the locked row (WITHDRAWAL_TRANSITIONS in commissions/models.py)
and writes a WithdrawalEvent (who, when, why: `payouts.withdrawal_recorded`).

Money (ledger postings, idempotency key `withdrawal.<step>:<id>`): the whole amount sits in
the user's `user_withdrawing` account from the request until the outcome is known, so what
the user sees is the ledger's balance at every step:
* request — wallet −amount, withdrawing +amount (at once: the money cannot be spent twice;
  the wallet's CHECK ≥ 0 is the last line against twenty requests at once);
* paid    — withdrawing −amount, wechat_external +net (the money left the system), fee
  income +fee;
* reject / fail — withdrawing −amount back to the wallet, paying off commission debt first.

Approval queues the payout task (`commissions.tasks.withdrawal_pay_task`, imported from where
it is defined) with `transaction.on_commit`. Imports point one way — this module → tasks.py →
services/payouts.py, and this module → payouts.py — so the task calls the payout service and
no module imports back the one that imported it.

Lock order: the request, the review and a failure lock the user's accounts (wallet, frozen,
debt, withdrawing: `payouts.WALLET_KINDS`) up front in id order with one
`ledger.locks.user_accounts_locked`; the paid posting goes through `ledger_post` alone (it
locks all legs in id order).
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, time

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.services import ip_or_none
from core.errors import InsufficientBalance, InvalidInput, InvalidTransition, NotFound
from core.money import BPS
from core.transitions import transition
from distributors.errors import DistributorNotApproved, NotADistributor
from distributors.models import Distributor, DistributorStatus
from distributors.services.settings import distribution_settings_get
from ledger.locks import user_accounts_locked
from ledger.models import AccountKind
from ledger.services import ledger_post

from ..errors import AmountTooLarge, AmountTooSmall, DebtOutstanding, NoOpenid, SelfApproval, WithdrawalLimit
from ..models import WITHDRAWAL_TRANSITIONS, Withdrawal, WithdrawalEvent
from ..models import WithdrawalStatus as S
from ..notifications import notify_withdrawal_rejected
from ..tasks import withdrawal_pay_task
from .payouts import WALLET_KINDS, withdrawal_give_back, withdrawal_lock, withdrawal_recorded

logger = logging.getLogger(__name__)

MAX_BULK = 200
# Withdrawals that count against the daily limits (rejected and failed ones gave the money back).
COUNTED = (S.REQUESTED, S.APPROVED, S.PAYING, S.CONFIRMING, S.PAID)


# --- helpers --------------------------------------------------------------------------

def withdrawal_fee(*, amount_fen: int, fee_bps: int, min_fee_fen: int) -> int:
    """The fee: basis points of the amount rounded down, at least the minimum fee."""
    return max(amount_fen * fee_bps // BPS, min_fee_fen)


def _local_day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def _transfer_no() -> str:
    # 32 characters at most (WeChat's partner_trade_no): W + time + randomness.
    return f"W{timezone.now():%Y%m%d%H%M%S}{secrets.token_hex(6)}"


# --- request --------------------------------------------------------------------------

@transaction.atomic
def withdrawal_request(*, user, amount_fen: int, ip: str | None = None) -> Withdrawal:
    """A distributor asks to withdraw `amount_fen` (fee included) from the available balance."""
    if type(amount_fen) is not int or amount_fen < 1:
        raise AmountTooSmall("amount_fen must be a positive integer number of fen.")
    distributor = Distributor.objects.filter(user_id=user.pk).first()
    if distributor is None:
        raise NotADistributor()
    if distributor.status != DistributorStatus.APPROVED:
        raise DistributorNotApproved(extra={"status": distributor.status})
    if not user.openid:
        raise NoOpenid()
    s = distribution_settings_get()
    if amount_fen < s.withdrawal_min_fen:
        raise AmountTooSmall(f"The smallest withdrawal is {s.withdrawal_min_fen} fen.",
                             extra={"min_fen": s.withdrawal_min_fen})
    fee = withdrawal_fee(amount_fen=amount_fen, fee_bps=s.withdrawal_fee_bps, min_fee_fen=s.withdrawal_min_fee_fen)
    net = amount_fen - fee
    if net < 1:
        raise AmountTooSmall("The amount does not cover the fee.", extra={"fee_fen": fee})
    if net > s.transfer_max_fen:
        raise AmountTooLarge(f"One withdrawal pays out at most {s.transfer_max_fen} fen.",
                             extra={"max_fen": s.transfer_max_fen + fee, "transfer_max_fen": s.transfer_max_fen})

    # The user's accounts are locked first: this user's requests run one at a time, so the
    # daily limits below cannot be raced past.
    accounts = user_accounts_locked(user_ids=[user.pk], kinds=WALLET_KINDS)
    debt = -accounts[(user.pk, AccountKind.USER_DEBT)].balance_fen
    if debt > 0:
        raise DebtOutstanding(extra={"debt_fen": debt})
    available = accounts[(user.pk, AccountKind.USER_WALLET)].balance_fen
    if amount_fen > available:
        raise InsufficientBalance("Not enough available balance.",
                                  extra={"available_fen": available, "amount_fen": amount_fen})
    now = timezone.now()
    today = Withdrawal.objects.filter(user_id=user.pk, requested_at__gte=_local_day_start(now),
                                      status__in=COUNTED).aggregate(n=Count("pk"), fen=Sum("amount_fen"))
    count, total = today["n"], today["fen"] or 0
    if count + 1 > s.withdrawal_daily_count:
        raise WithdrawalLimit(f"At most {s.withdrawal_daily_count} withdrawals a day.",
                              extra={"daily_count": s.withdrawal_daily_count, "today_count": count})
    if total + amount_fen > s.withdrawal_daily_amount_fen:
        raise WithdrawalLimit(f"At most {s.withdrawal_daily_amount_fen} fen a day.",
                              extra={"daily_amount_fen": s.withdrawal_daily_amount_fen, "today_fen": total,
                                     "left_fen": max(0, s.withdrawal_daily_amount_fen - total)})

    w = Withdrawal.objects.create(user_id=user.pk, distributor=distributor, amount_fen=amount_fen, fee_fen=fee,
                                  net_fen=net, transfer_no=_transfer_no(), openid=user.openid,
                                  request_ip=ip_or_none(ip))
    WithdrawalEvent.objects.create(withdrawal=w, to_status=S.REQUESTED, actor=user,
                                   data={"amount_fen": amount_fen, "fee_fen": fee})
    ledger_post(kind="withdrawal.request", idempotency_key=f"withdrawal.request:{w.pk}",
                legs=[(accounts[(user.pk, AccountKind.USER_WALLET)], -amount_fen),
                      (accounts[(user.pk, AccountKind.USER_WITHDRAWING)], amount_fen)],
                memo=f"withdrawal #{w.pk} requested", cause_type="commissions.withdrawal", cause_id=w.pk,
                created_by=user)
    logger.info("withdrawal.request id=%s user=%s amount=%s fee=%s", w.pk, user.pk, amount_fen, fee)
    return w


# --- review ---------------------------------------------------------------------------

def _check_reviewer(w: Withdrawal, operator) -> None:
    if operator is None or not operator.is_staff:
        raise InvalidInput("Only an operator may review withdrawals.")
    if w.user_id == operator.pk:
        raise SelfApproval()


def _enqueue_payout(withdrawal_id: int) -> None:
    queue = django_settings.PAYOUTS_QUEUE or None
    # robust: a broker outage must not turn a committed approval into an error; the beat job
    # commissions.resume_payouts pays what was never queued.
    transaction.on_commit(lambda: withdrawal_pay_task.apply_async(args=[withdrawal_id], queue=queue), robust=True)


@transaction.atomic
def withdrawal_approve(*, operator, withdrawal_id: int, note: str = "") -> Withdrawal:
    """requested → approved; the payout goes out asynchronously (after commit)."""
    w = withdrawal_lock(withdrawal_id)
    _check_reviewer(w, operator)
    if w.status != S.REQUESTED:
        raise InvalidTransition(f"A {w.status} withdrawal cannot be approved.", extra={"status": w.status})
    if Distributor.objects.filter(pk=w.distributor_id).values_list("status", flat=True).first() \
            != DistributorStatus.APPROVED:
        raise InvalidTransition("The distributor is no longer approved (frozen?): reject instead.",
                                code="distributor_not_approved")
    s = distribution_settings_get()
    if w.net_fen > s.transfer_max_fen:
        raise AmountTooLarge("The payout is over the per-transfer maximum now: reject it.",
                             extra={"transfer_max_fen": s.transfer_max_fen, "net_fen": w.net_fen})
    accounts = user_accounts_locked(user_ids=[w.user_id], kinds=WALLET_KINDS)
    debt = -accounts[(w.user_id, AccountKind.USER_DEBT)].balance_fen
    if debt > 0:
        raise DebtOutstanding("The distributor owes refunded commission: reject, and the money pays it off.",
                              extra={"debt_fen": debt})
    now = timezone.now()
    transition(w, S.APPROVED, table=WITHDRAWAL_TRANSITIONS, record=withdrawal_recorded(actor=operator, note=note),
               fields={"reviewed_by": operator, "reviewed_at": now}, locked=True, what="withdrawal")
    _enqueue_payout(w.pk)
    logger.info("withdrawal.approve id=%s by=%s", w.pk, operator.pk)
    return w


@transaction.atomic
def withdrawal_reject(*, operator, withdrawal_id: int, reason: str) -> Withdrawal:
    """requested → rejected with a reason; the money goes back (paying off debt first)."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput("A reason is required to reject.", extra={"fields": {"reason": ["This field is required."]}})
    w = withdrawal_lock(withdrawal_id)
    _check_reviewer(w, operator)
    if w.status != S.REQUESTED:
        raise InvalidTransition(f"A {w.status} withdrawal cannot be rejected.", extra={"status": w.status})
    now = timezone.now()
    transition(w, S.REJECTED, table=WITHDRAWAL_TRANSITIONS, record=withdrawal_recorded(actor=operator, note=reason),
               fields={"reviewed_by": operator, "reviewed_at": now, "reason": reason[:200]}, locked=True,
               what="withdrawal")
    withdrawal_give_back(w, step="reject", memo=f"withdrawal #{w.pk} rejected", created_by=operator)
    notify_withdrawal_rejected(withdrawal_id=w.pk)
    logger.info("withdrawal.reject id=%s by=%s", w.pk, operator.pk)
    return w


def withdrawals_review_bulk(*, operator, ids: list[int], action: str, reason: str = "") -> dict:
    """Approve or reject many: each one in its own transaction; what failed says why."""
    if action not in ("approve", "reject"):
        raise InvalidInput("action must be approve or reject.", extra={"fields": {"action": ["approve or reject"]}})
    if not isinstance(ids, list) or not ids or len(ids) > MAX_BULK or not all(type(i) is int and i > 0 for i in ids):
        raise InvalidInput(f"ids must be 1 to {MAX_BULK} withdrawal ids.", extra={"fields": {"ids": ["invalid"]}})
    if action == "reject" and not (isinstance(reason, str) and reason.strip()):
        raise InvalidInput("A reason is required to reject.", extra={"fields": {"reason": ["This field is required."]}})
    done, errors = [], {}
    for withdrawal_id in sorted(set(ids)):
        try:
            if action == "approve":
                withdrawal_approve(operator=operator, withdrawal_id=withdrawal_id, note=reason or "")
            else:
                withdrawal_reject(operator=operator, withdrawal_id=withdrawal_id, reason=reason)
        except (InvalidInput, InvalidTransition, NotFound, SelfApproval, AmountTooLarge, DebtOutstanding) as exc:
            errors[withdrawal_id] = {"code": exc.code, "message": exc.message}
        else:
            done.append(withdrawal_id)
    return {"done": done, "errors": errors}
