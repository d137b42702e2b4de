"""Withdrawals (提现): request, operator review, payout to the WeChat balance.

Statuses (API.md): requested → approved → paying → paid; requested → rejected;
approved/paying → failed (the money returns). Each transition locks the row, checks
WITHDRAWAL_TRANSITIONS, writes a WithdrawalEvent (who, when, why) and saves.

Money (ledger postings, idempotency key `withdrawal.<step>:<id>`): the whole amount sits in
the user's `user_withdrawing` account from the request until the outcome is known, so what
the user sees is the ledger's balance at every step:
* request — wallet −amount, withdrawing +amount (at once: the money cannot be spent twice;
  the wallet's CHECK ≥ 0 is the last line against twenty requests at once);
* paid    — withdrawing −amount, wechat_external +net (the money left the system), fee
  income +fee;
* reject / fail — withdrawing −amount back to the wallet, paying off commission debt first.

Payout (`withdrawal_pay`, Celery task `commissions.withdrawal_pay`): marks the withdrawal
paying, then asks WeChat for a transfer to the balance with `transfer_no` as the
partner_trade_no — WeChat pays one number at most once, so retrying is safe. A transfer left
requested/unknown (timeout, crash, untrusted answer) is first *queried*; only if WeChat does
not know it is it sent again. The transfer's final status reaches us through the wechat
transfer hook (`on_transfer_final`), in the transaction that records it: succeeded → paid,
failed → failed (money back). The beat job `commissions.resume_payouts` picks up approved
withdrawals whose task never ran and paying ones whose worker died.

Lock order: the request, the review and a failure lock the user's accounts (wallet, frozen,
debt, withdrawing) in id order through `_user_accounts_locked`; the paid posting goes through
`ledger_post` alone (it locks all legs in id order).
"""
from __future__ import annotations

import logging
import secrets
from datetime import datetime, time, timedelta

from django.conf import settings as django_settings
from django.db import transaction
from django.db.models import Count, Sum
from django.utils import timezone

from accounts.services import ip_or_none
from core.errors import InsufficientBalance, InvalidInput, InvalidTransition, NotFound
from distributors.errors import DistributorNotApproved, NotADistributor
from distributors.models import Distributor, DistributorStatus
from distributors.services.settings import distribution_settings_get
from ledger.models import Account, AccountKind
from ledger.services import account_code, account_get_or_create, ledger_post
from wechat.models import TRANSFER_FINAL, TransferStatus, WechatTransfer
from wechat.services import transfer_create

from ..errors import AmountTooLarge, AmountTooSmall, DebtOutstanding, NoOpenid, SelfApproval, WithdrawalLimit
from ..models import WITHDRAWAL_TRANSITIONS, Withdrawal, WithdrawalEvent
from ..models import WithdrawalStatus as S
from .settlement import user_accounts_locked

logger = logging.getLogger(__name__)

BPS = 10_000
TRANSFER_PURPOSE = "commissions.withdrawal"
WALLET_KINDS = (AccountKind.USER_WALLET, AccountKind.USER_FROZEN, AccountKind.USER_DEBT, AccountKind.USER_WITHDRAWING)
MAX_BULK = 200
# Withdrawals that count against the daily limits (rejected and failed ones gave the money back).
COUNTED = (S.REQUESTED, S.APPROVED, S.PAYING, S.PAID)


# --- helpers --------------------------------------------------------------------------

def withdrawal_fee(*, amount_fen: int, fee_bps: int, min_fee_fen: int) -> int:
    """The fee: basis points of the amount rounded down, at least the minimum fee."""
    return max(amount_fen * fee_bps // BPS, min_fee_fen)


def _user_accounts_locked(*, user_id: int) -> dict[str, Account]:
    """The user's wallet, frozen, debt and withdrawing accounts (created if missing), locked in id order."""
    locked = user_accounts_locked(user_ids=[user_id], kinds=WALLET_KINDS)
    return {kind: account for (_, kind), account in locked.items()}


def _withdrawing(user_id: int) -> Account:
    """The user's withdrawing account (the request created it)."""
    return Account.objects.get(code=account_code(kind=AccountKind.USER_WITHDRAWING, owner_id=user_id))


def _local_day_start(now: datetime) -> datetime:
    local = timezone.localtime(now)
    return timezone.make_aware(datetime.combine(local.date(), time.min), local.tzinfo)


def _transfer_no() -> str:
    # 32 characters at most (WeChat's partner_trade_no): W + time + randomness.
    return f"W{timezone.now():%Y%m%d%H%M%S}{secrets.token_hex(6)}"


def _lock(withdrawal_id: int) -> Withdrawal:
    w = Withdrawal.objects.select_for_update().filter(pk=withdrawal_id).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    return w


def _transition(w: Withdrawal, to: str, *, actor=None, note: str = "", data: dict | None = None,
                **fields) -> Withdrawal:
    """Move a locked withdrawal to `to` (checked), with an event row."""
    if to not in WITHDRAWAL_TRANSITIONS[w.status]:
        raise InvalidTransition(f"A {w.status} withdrawal cannot become {to}.",
                                extra={"status": w.status, "to": to})
    WithdrawalEvent.objects.create(withdrawal=w, from_status=w.status, to_status=to, actor=actor,
                                   reason=note[:200], data=data or {})
    w.status = to
    for name, value in fields.items():
        setattr(w, name, value)
    w.save(update_fields=["status", "updated_at", *fields])
    return w


def _give_back(w: Withdrawal, *, step: str, memo: str, created_by=None) -> None:
    """Post the whole amount from withdrawing back to the user: commission debt is paid off
    first, the rest goes to the wallet (rejected or failed: no payout, no fee)."""
    accounts = _user_accounts_locked(user_id=w.user_id)
    debt = accounts[AccountKind.USER_DEBT]
    payoff = min(w.amount_fen, -debt.balance_fen)
    legs = [(accounts[AccountKind.USER_WITHDRAWING], -w.amount_fen)]
    if payoff:
        legs.append((debt, payoff))
    if w.amount_fen - payoff:
        legs.append((accounts[AccountKind.USER_WALLET], w.amount_fen - payoff))
    ledger_post(kind=f"withdrawal.{step}", idempotency_key=f"withdrawal.{step}:{w.pk}", legs=legs, memo=memo,
                cause_type="commissions.withdrawal", cause_id=w.pk, created_by=created_by)


def _notify(kind: str, withdrawal_id: int) -> None:
    from .. import notifications

    getattr(notifications, f"notify_withdrawal_{kind}")(withdrawal_id=withdrawal_id)


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
    accounts = _user_accounts_locked(user_id=user.pk)
    debt = -accounts[AccountKind.USER_DEBT].balance_fen
    if debt > 0:
        raise DebtOutstanding(extra={"debt_fen": debt})
    available = accounts[AccountKind.USER_WALLET].balance_fen
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
                legs=[(accounts[AccountKind.USER_WALLET], -amount_fen),
                      (accounts[AccountKind.USER_WITHDRAWING], amount_fen)],
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
    from ..tasks import withdrawal_pay_task

    queue = django_settings.PAYOUTS_QUEUE or None
    # robust: a broker outage must not turn a committed approval into an error; the beat job
    # commissions.resume_payouts pays what was never queued.
    transaction.on_commit(lambda: withdrawal_pay_task.apply_async(args=[withdrawal_id], queue=queue), robust=True)


@transaction.atomic
def withdrawal_approve(*, operator, withdrawal_id: int, note: str = "") -> Withdrawal:
    """requested → approved; the payout goes out asynchronously (after commit)."""
    w = _lock(withdrawal_id)
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
    accounts = _user_accounts_locked(user_id=w.user_id)
    debt = -accounts[AccountKind.USER_DEBT].balance_fen
    if debt > 0:
        raise DebtOutstanding("The distributor owes refunded commission: reject, and the money pays it off.",
                              extra={"debt_fen": debt})
    now = timezone.now()
    _transition(w, S.APPROVED, actor=operator, note=note, reviewed_by=operator, reviewed_at=now)
    _enqueue_payout(w.pk)
    logger.info("withdrawal.approve id=%s by=%s", w.pk, operator.pk)
    return w


@transaction.atomic
def withdrawal_reject(*, operator, withdrawal_id: int, reason: str) -> Withdrawal:
    """requested → rejected with a reason; the money goes back (paying off debt first)."""
    reason = (reason or "").strip() if isinstance(reason, str) else ""
    if not reason:
        raise InvalidInput("A reason is required to reject.", extra={"fields": {"reason": ["This field is required."]}})
    w = _lock(withdrawal_id)
    _check_reviewer(w, operator)
    if w.status != S.REQUESTED:
        raise InvalidTransition(f"A {w.status} withdrawal cannot be rejected.", extra={"status": w.status})
    now = timezone.now()
    _transition(w, S.REJECTED, actor=operator, note=reason, reviewed_by=operator, reviewed_at=now,
                reason=reason[:200])
    _give_back(w, step="reject", memo=f"withdrawal #{w.pk} rejected", created_by=operator)
    _notify("rejected", w.pk)
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


# --- payout ---------------------------------------------------------------------------

def _fail(w: Withdrawal, *, code: str, message: str) -> Withdrawal:
    """approved/paying → failed (w locked): the money goes back to the wallet."""
    _transition(w, S.FAILED, note=message, data={"code": code}, failed_at=timezone.now(), error_code=code[:64],
                reason=message[:200])
    _give_back(w, step="fail", memo=f"withdrawal #{w.pk} failed: {code}")
    _notify("failed", w.pk)
    logger.warning("withdrawal.fail id=%s code=%s %s", w.pk, code, message)
    return w


@transaction.atomic
def _start_paying(*, withdrawal_id: int) -> Withdrawal:
    w = _lock(withdrawal_id)
    if w.status != S.APPROVED:
        return w
    s = distribution_settings_get()
    if w.net_fen > s.transfer_max_fen:
        return _fail(w, code="transfer_max_exceeded",
                     message=f"The payout is over the per-transfer maximum of {s.transfer_max_fen} fen.")
    return _transition(w, S.PAYING, paying_at=timezone.now())  # the money stays in withdrawing


def withdrawal_pay(*, withdrawal_id: int) -> Withdrawal:
    """Pay an approved withdrawal (or carry on with a paying one). Safe to run again, and at once:
    WeChat pays a transfer number once. Returns the withdrawal; `paying` means the outcome is
    not known yet (try again later)."""
    w = _start_paying(withdrawal_id=withdrawal_id)
    if w.status != S.PAYING:
        return w
    transfer = WechatTransfer.objects.filter(partner_trade_no=w.transfer_no).first()
    if transfer is not None and transfer.status in TRANSFER_FINAL:
        on_transfer_final(transfer)  # recorded, but the withdrawal missed it (cannot happen in one txn; be safe)
    else:
        # transfer_create queries a transfer that was sent before (timeout, crash, SEND_FAILED,
        # SYSTEMERROR…) and sends the same number again only if WeChat does not know it; only
        # a documented refusal fails it (docs/wechat.md, "Uncertain answers and error codes").
        # FORCE_CHECK with the distributor's real name: WeChat refuses to pay a different person.
        real_name = Distributor.objects.filter(pk=w.distributor_id).values_list("real_name", flat=True).first()
        transfer = transfer_create(partner_trade_no=w.transfer_no, openid=w.openid, amount_fen=w.net_fen,
                                   description="佣金提现", purpose=TRANSFER_PURPOSE, ref=str(w.pk),
                                   real_name=real_name or "")
        if transfer.status not in TRANSFER_FINAL and transfer.error_code:
            # Not paid yet (refused for now, e.g. NOTENOUGH, or no answer): the operator sees why.
            Withdrawal.objects.filter(pk=w.pk, status=S.PAYING).update(error_code=transfer.error_code[:64],
                                                                       updated_at=timezone.now())
    return Withdrawal.objects.get(pk=w.pk)


def on_transfer_final(transfer) -> None:
    """The wechat transfer hook (purpose commissions.withdrawal), in the transaction that recorded
    the transfer's final status: succeeded → paid; failed → failed, the money back."""
    with transaction.atomic():
        w = Withdrawal.objects.select_for_update().filter(transfer_no=transfer.partner_trade_no).first()
        if w is None or w.status != S.PAYING:
            return
        if transfer.status == TransferStatus.SUCCEEDED:
            _transition(w, S.PAID, data={"payment_no": transfer.payment_no}, paid_at=transfer.paid_at or timezone.now())
            legs = [(_withdrawing(w.user_id), -w.amount_fen),
                    (account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL), w.net_fen)]
            if w.fee_fen:
                legs.append((account_get_or_create(kind=AccountKind.FEE_INCOME), w.fee_fen))
            ledger_post(kind="withdrawal.paid", idempotency_key=f"withdrawal.paid:{w.pk}", legs=legs,
                        memo=f"withdrawal #{w.pk} paid ({transfer.payment_no})",
                        cause_type="commissions.withdrawal", cause_id=w.pk)
            _notify("paid", w.pk)
            logger.info("withdrawal.paid id=%s", w.pk)
        elif transfer.status == TransferStatus.FAILED:
            _fail(w, code=transfer.error_code or "transfer_failed",
                  message=transfer.error_message or "WeChat refused the transfer.")


def withdrawals_resume(*, older_than_seconds: int | None = None) -> dict:
    """Beat job: re-drive approved withdrawals whose payout task never ran and paying ones whose
    outcome is unknown (the worker died, WeChat timed out). Returns how many were handled."""
    if older_than_seconds is None:
        older_than_seconds = django_settings.PAYOUT_RESUME_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(Withdrawal.objects.filter(status__in=(S.APPROVED, S.PAYING), updated_at__lte=cutoff)
               .order_by("pk").values_list("pk", flat=True)[:500])
    outcome = {"resumed": 0, "paid": 0, "failed": 0, "still_paying": 0}
    for withdrawal_id in ids:
        w = withdrawal_pay(withdrawal_id=withdrawal_id)
        outcome["resumed"] += 1
        key = {S.PAID: "paid", S.FAILED: "failed"}.get(w.status, "still_paying")
        outcome[key] += 1
    return outcome
