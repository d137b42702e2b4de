"""Withdrawal payouts (提现到零钱) and the steps that the review shares with them.

Payout (`withdrawal_pay`, Celery task `commissions.withdrawal_pay` in commissions/tasks.py):
marks the withdrawal paying, then asks WeChat for a transfer to the balance with
`transfer_no` as the partner_trade_no — WeChat pays one number at most once, so retrying is
safe. A transfer left requested/unknown (timeout, crash, untrusted answer) is first
*queried*; only if WeChat does not know it is it sent again. The transfer's final status
reaches us through the wechat transfer hook (`on_transfer_final`), in the transaction that
records it: succeeded → paid, failed → failed (money back). The beat job
`commissions.resume_payouts` (`withdrawals_resume`) picks up approved withdrawals whose task
never ran and paying ones whose worker died.

Imports point one way: commissions/tasks.py imports this module; the review
(services/withdrawals.py) imports this module and the task, which it queues after commit.
Nothing here imports either, so there is no cycle.

Every status change goes through `core.transitions.transition` (WITHDRAWAL_TRANSITIONS in
commissions/models.py) on the locked row, with a WithdrawalEvent (`withdrawal_recorded`).

Money (ledger postings, idempotency key `withdrawal.<step>:<id>`): see
services/withdrawals.py. The user's wallet, frozen, debt and withdrawing accounts are locked
up front in one id-ordered statement (`ledger.locks.user_accounts_locked`, WALLET_KINDS); the
paid posting goes through `ledger_post` alone (it locks all legs in id order).
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta

from django.conf import settings as django_settings
from django.db import transaction
from django.utils import timezone

from core.errors import Conflict, InvalidInput, NotFound
from core.transitions import transition
from distributors.models import Distributor
from distributors.services.settings import distribution_settings_get
from ledger.locks import user_accounts_locked
from ledger.models import Account, AccountKind
from ledger.services import account_code, account_get_or_create, ledger_post
from wechat.errors import WechatError, WechatTimeout
from wechat.models import TRANSFER_FINAL, TransferApi, TransferStatus, WechatTransfer
from wechat.services import transfer_create
from wechat.transfer_bills import (
    USER_NAME_FROM_FEN,
    transfer_bill_cancel,
    transfer_bill_create,
    transfer_bill_query,
)

from ..models import WITHDRAWAL_TRANSITIONS, Withdrawal, WithdrawalEvent
from ..models import WithdrawalStatus as S
from ..notifications import notify_withdrawal_confirm, notify_withdrawal_failed, notify_withdrawal_paid

logger = logging.getLogger(__name__)

TRANSFER_PURPOSE = "commissions.withdrawal"
CANCEL_REQUESTED = "cancel_requested"  # WithdrawalEvent.data["action"] of an operator's cancel
# A withdrawal's money moves between these accounts of its user (locked together, up front).
WALLET_KINDS = (AccountKind.USER_WALLET, AccountKind.USER_FROZEN, AccountKind.USER_DEBT, AccountKind.USER_WITHDRAWING)


# --- the steps the review shares -------------------------------------------------------

def withdrawal_lock(withdrawal_id: int) -> Withdrawal:
    """The withdrawal, locked (SELECT … FOR UPDATE) for the rest of the transaction."""
    w = Withdrawal.objects.select_for_update().filter(pk=withdrawal_id).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    return w


def withdrawal_recorded(*, actor=None, note: str = "", data: dict | None = None,
                        ) -> Callable[[Withdrawal, str, str], WithdrawalEvent]:
    """The `record` of core.transitions.transition for a withdrawal: the event row (who, why)."""
    def record(w: Withdrawal, from_status: str, to_status: str) -> WithdrawalEvent:
        return WithdrawalEvent.objects.create(withdrawal=w, from_status=from_status, to_status=to_status,
                                              actor=actor, reason=note[:200], data=data or {})
    return record


def withdrawal_give_back(w: Withdrawal, *, step: str, memo: str, created_by=None) -> None:
    """Post the whole amount from withdrawing back to the user: commission debt is paid off
    first, the rest goes to the wallet (rejected or failed: no payout, no fee)."""
    accounts = user_accounts_locked(user_ids=[w.user_id], kinds=WALLET_KINDS)
    debt = accounts[(w.user_id, AccountKind.USER_DEBT)]
    payoff = min(w.amount_fen, -debt.balance_fen)
    legs = [(accounts[(w.user_id, AccountKind.USER_WITHDRAWING)], -w.amount_fen)]
    if payoff:
        legs.append((debt, payoff))
    if w.amount_fen - payoff:
        legs.append((accounts[(w.user_id, AccountKind.USER_WALLET)], w.amount_fen - payoff))
    ledger_post(kind=f"withdrawal.{step}", idempotency_key=f"withdrawal.{step}:{w.pk}", legs=legs, memo=memo,
                cause_type="commissions.withdrawal", cause_id=w.pk, created_by=created_by)


def _withdrawing(user_id: int) -> Account:
    """The user's withdrawing account (the request created it)."""
    return Account.objects.get(code=account_code(kind=AccountKind.USER_WITHDRAWING, owner_id=user_id))


# --- payout ---------------------------------------------------------------------------

def _fail(w: Withdrawal, *, code: str, message: str) -> Withdrawal:
    """approved/paying → failed (w locked): the money goes back to the wallet."""
    transition(w, S.FAILED, table=WITHDRAWAL_TRANSITIONS, record=withdrawal_recorded(note=message, data={"code": code}),
               fields={"failed_at": timezone.now(), "error_code": code[:64], "reason": message[:200]}, locked=True,
               what="withdrawal")
    withdrawal_give_back(w, step="fail", memo=f"withdrawal #{w.pk} failed: {code}")
    notify_withdrawal_failed(withdrawal_id=w.pk)
    logger.warning("withdrawal.fail id=%s code=%s %s", w.pk, code, message)
    return w


@transaction.atomic
def _start_paying(*, withdrawal_id: int) -> Withdrawal:
    w = withdrawal_lock(withdrawal_id)
    if w.status != S.APPROVED:
        return w
    s = distribution_settings_get()
    if w.net_fen > s.transfer_max_fen:
        return _fail(w, code="transfer_max_exceeded",
                     message=f"The payout is over the per-transfer maximum of {s.transfer_max_fen} fen.")
    transition(w, S.PAYING, table=WITHDRAWAL_TRANSITIONS, record=withdrawal_recorded(),
               fields={"paying_at": timezone.now()}, locked=True, what="withdrawal")  # the money stays in withdrawing
    return w


def _payout_api(w: Withdrawal, transfer: WechatTransfer | None) -> str:
    """The API a withdrawal is paid through: the one its transfer was first sent with (a shop
    that moves from v2 to v3 finishes what v2 started), else the configured one."""
    if transfer is not None:
        return transfer.api
    return TransferApi.V3_BILL if django_settings.WECHAT_PAYOUT_API == "v3_transfer_bills" else TransferApi.V2


def withdrawal_pay(*, withdrawal_id: int) -> Withdrawal:
    """Pay an approved withdrawal (or carry on with a paying one). Safe to run again, and at once:
    WeChat pays a transfer number once. Returns the withdrawal; `paying` means the outcome is
    not known yet (try again later); `confirming` means a merchant transfer bill waits for the
    user's confirmation."""
    w = _start_paying(withdrawal_id=withdrawal_id)
    if w.status not in (S.PAYING, S.CONFIRMING):
        return w
    transfer = WechatTransfer.objects.filter(partner_trade_no=w.transfer_no).first()
    if transfer is not None and (transfer.status in TRANSFER_FINAL or
                                 (transfer.status == TransferStatus.WAITING and transfer.package_info)):
        _on_transfer(transfer)  # recorded, but the withdrawal missed it (cannot happen in one txn; be safe)
        return Withdrawal.objects.get(pk=w.pk)
    if w.status == S.CONFIRMING and (transfer is None or transfer.api != TransferApi.V3_BILL):
        return w
    # (a bill waiting without package_info — its create answer was lost — is asked for it again)
    # transfer_create / transfer_bill_create query a transfer that was sent before (timeout, crash,
    # SEND_FAILED, SYSTEMERROR…) and send the same number again only if WeChat does not know it;
    # only a documented refusal fails it (docs/wechat.md, "Uncertain answers and error codes").
    # The distributor's real name: v2 FORCE_CHECK (WeChat refuses to pay a different person);
    # v3 sends it (encrypted) from 2,000 yuan, where WeChat requires it.
    real_name = Distributor.objects.filter(pk=w.distributor_id).values_list("real_name", flat=True).first() or ""
    if _payout_api(w, transfer) == TransferApi.V3_BILL:
        transfer = transfer_bill_create(
            out_bill_no=w.transfer_no, openid=w.openid, amount_fen=w.net_fen, remark="佣金提现",
            purpose=TRANSFER_PURPOSE, ref=str(w.pk),
            user_name=real_name if w.net_fen >= USER_NAME_FROM_FEN else "")
    else:
        transfer = transfer_create(partner_trade_no=w.transfer_no, openid=w.openid, amount_fen=w.net_fen,
                                   description="佣金提现", purpose=TRANSFER_PURPOSE, ref=str(w.pk),
                                   real_name=real_name)
    if transfer.status not in TRANSFER_FINAL and transfer.status != TransferStatus.WAITING and transfer.error_code:
        # Not paid yet (refused for now, e.g. NOTENOUGH, or no answer): the operator sees why.
        # Not a status change: the withdrawal stays paying.
        Withdrawal.objects.filter(pk=w.pk, status=S.PAYING).update(error_code=transfer.error_code[:64],
                                                                   updated_at=timezone.now())
    return Withdrawal.objects.get(pk=w.pk)


def on_transfer_final(transfer) -> None:
    """The wechat transfer hooks (purpose commissions.withdrawal: final and waiting), in the
    transaction that recorded the transfer's status: succeeded → paid; failed → failed, the
    money back; cancelled → cancelled by the operator, or failed when nobody cancelled it (the
    user did not confirm in time), the money back; waiting → confirming."""
    _on_transfer(transfer)


def _on_transfer(transfer) -> None:
    with transaction.atomic():
        w = Withdrawal.objects.select_for_update().filter(transfer_no=transfer.partner_trade_no).first()
        if w is None or w.status not in (S.PAYING, S.CONFIRMING):
            return
        if transfer.status == TransferStatus.WAITING:
            if w.status == S.PAYING:
                transition(w, S.CONFIRMING, table=WITHDRAWAL_TRANSITIONS,
                           record=withdrawal_recorded(data={"transfer_bill_no": transfer.transfer_bill_no}),
                           fields={"error_code": ""}, locked=True, what="withdrawal")
                notify_withdrawal_confirm(withdrawal_id=w.pk)
                logger.info("withdrawal.confirming id=%s bill=%s", w.pk, transfer.transfer_bill_no)
        elif transfer.status == TransferStatus.SUCCEEDED:
            transition(w, S.PAID, table=WITHDRAWAL_TRANSITIONS,
                       record=withdrawal_recorded(data={"payment_no": transfer.payment_no}),
                       fields={"paid_at": transfer.paid_at or timezone.now()}, locked=True, what="withdrawal")
            legs = [(_withdrawing(w.user_id), -w.amount_fen),
                    (account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL), w.net_fen)]
            if w.fee_fen:
                legs.append((account_get_or_create(kind=AccountKind.FEE_INCOME), w.fee_fen))
            ledger_post(kind="withdrawal.paid", idempotency_key=f"withdrawal.paid:{w.pk}", legs=legs,
                        memo=f"withdrawal #{w.pk} paid ({transfer.payment_no})",
                        cause_type="commissions.withdrawal", cause_id=w.pk)
            notify_withdrawal_paid(withdrawal_id=w.pk)
            logger.info("withdrawal.paid id=%s", w.pk)
        elif transfer.status == TransferStatus.FAILED:
            _fail(w, code=transfer.error_code or "transfer_failed",
                  message=transfer.error_message or "WeChat refused the transfer.")
        elif transfer.status == TransferStatus.CANCELLED:
            # An operator's cancel is in the withdrawal's trail; otherwise WeChat closed it (or the
            # beat job did, well past the 24 hours): the user did not confirm in time.
            if WithdrawalEvent.objects.filter(withdrawal=w, data__action=CANCEL_REQUESTED).exists():
                _cancelled(w, transfer)
            else:
                _fail(w, code="not_confirmed_in_time",
                      message="The transfer was not confirmed in WeChat in time; WeChat closed it.")


def _cancelled(w: Withdrawal, transfer) -> None:
    """confirming/paying → cancelled (w locked): the operator cancelled the bill; money back."""
    transition(w, S.CANCELLED, table=WITHDRAWAL_TRANSITIONS,
               record=withdrawal_recorded(note="transfer cancelled",
                                          data={"transfer_bill_no": transfer.transfer_bill_no}),
               fields={"failed_at": timezone.now(), "error_code": "cancelled"}, locked=True, what="withdrawal")
    withdrawal_give_back(w, step="cancel", memo=f"withdrawal #{w.pk} cancelled")
    notify_withdrawal_failed(withdrawal_id=w.pk)
    logger.warning("withdrawal.cancelled id=%s", w.pk)


def withdrawal_cancel(*, withdrawal_id: int, actor, reason: str) -> Withdrawal:
    """The operator cancels a withdrawal whose merchant transfer bill the user has not confirmed
    yet (撤销转账). The money is back once WeChat says the bill is cancelled (at once, or
    through its callback or a query: the withdrawal stays confirming meanwhile). A bill the
    user confirmed meanwhile is paid, not cancelled. Raises Conflict for any other withdrawal."""
    if not (reason or "").strip():
        raise InvalidInput("A reason is required.", code="reason_required", extra={"field": "reason"})
    w = Withdrawal.objects.filter(pk=withdrawal_id).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    transfer = WechatTransfer.objects.filter(partner_trade_no=w.transfer_no, api=TransferApi.V3_BILL).first()
    if w.status != S.CONFIRMING or transfer is None:
        raise Conflict("Only a withdrawal waiting for the user's confirmation can be cancelled.",
                       code="withdrawal_not_cancellable", extra={"status": w.status})
    WithdrawalEvent.objects.create(withdrawal=w, from_status=w.status, to_status=w.status, actor=actor,
                                   reason=reason.strip()[:200], data={"action": CANCEL_REQUESTED})
    transfer_bill_cancel(out_bill_no=w.transfer_no)
    return Withdrawal.objects.get(pk=w.pk)


def withdrawal_confirm_check(*, withdrawal_id: int, user_id: int) -> Withdrawal:
    """The user's page says they confirmed in WeChat: ask WeChat (never believe the page) and
    bring the withdrawal in line. Only the withdrawal's owner may ask."""
    w = Withdrawal.objects.filter(pk=withdrawal_id, user_id=user_id).first()
    if w is None:
        raise NotFound("Withdrawal not found.")
    if w.status == S.CONFIRMING:
        try:
            transfer_bill_query(out_bill_no=w.transfer_no)
        except (WechatError, WechatTimeout) as exc:
            logger.warning("withdrawal.confirm_check id=%s query failed: %s", w.pk, exc.code)
    return Withdrawal.objects.get(pk=w.pk)


def withdrawals_resume(*, older_than_seconds: int | None = None) -> dict:
    """Beat job: re-drive approved withdrawals whose payout task never ran and paying ones whose
    outcome is unknown (the worker died, WeChat timed out); ask WeChat about confirming ones
    (a lost callback), and cancel a bill still unconfirmed well past WeChat's 24 hours (WeChat
    closes it itself; the cancel makes sure, and the money comes back once it is closed).
    Returns how many were handled."""
    if older_than_seconds is None:
        older_than_seconds = django_settings.PAYOUT_RESUME_AFTER_SECONDS
    cutoff = timezone.now() - timedelta(seconds=older_than_seconds)
    ids = list(Withdrawal.objects.filter(status__in=(S.APPROVED, S.PAYING), updated_at__lte=cutoff)
               .order_by("pk").values_list("pk", flat=True)[:500])
    outcome = {"resumed": 0, "paid": 0, "failed": 0, "still_paying": 0, "confirming_checked": 0}
    for withdrawal_id in ids:
        w = withdrawal_pay(withdrawal_id=withdrawal_id)
        outcome["resumed"] += 1
        key = {S.PAID: "paid", S.FAILED: "failed"}.get(w.status, "still_paying")
        outcome[key] += 1
    overdue = timezone.now() - timedelta(hours=django_settings.WECHAT_TRANSFER_CONFIRM_HOURS + 1)
    for w in (Withdrawal.objects.filter(status=S.CONFIRMING, updated_at__lte=cutoff)
              .order_by("pk").only("pk", "transfer_no", "paying_at")[:500]):
        outcome["confirming_checked"] += 1
        try:
            transfer = transfer_bill_query(out_bill_no=w.transfer_no)
            if transfer.status == TransferStatus.WAITING and w.paying_at and w.paying_at <= overdue:
                transfer_bill_cancel(out_bill_no=w.transfer_no)
            elif transfer.status == TransferStatus.WAITING and not transfer.package_info:
                withdrawal_pay(withdrawal_id=w.pk)  # the create answer was lost: ask for package_info
        except (WechatError, WechatTimeout, NotFound) as exc:
            logger.warning("withdrawal.resume id=%s bill query failed: %s", w.pk, exc.code)
            continue
        Withdrawal.objects.filter(pk=w.pk, status=S.CONFIRMING).update(updated_at=timezone.now())
    return outcome
