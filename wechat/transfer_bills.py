"""Merchant transfer bills (商家转账, APIv3 transfer-bills): payouts the user confirms in WeChat.

Merchants onboarded since 2025-01-15 cannot enable v2 "enterprise payment to balance"; they
get this instead. The money moves only after the user confirms receipt inside WeChat
(`wx.requestMerchantTransfer` with the bill's `package_info`), within 24 hours, or WeChat
closes the bill and the money stays with the merchant.

A bill is a `WechatTransfer` row with api `v3_bill`; our number is both its
`partner_trade_no` and WeChat's `out_bill_no`. Its status:

    requested ──create──▶ waiting (WAIT_USER_CONFIRM, package_info) ──user confirms──▶ succeeded
        │                    │ └──operator cancels / 24 h pass──▶ cancelled
        │                    └──WeChat fails it──▶ failed
        ├──a documented refusal, or our own limits──▶ failed
        └──timeout / untrusted answer──▶ unknown ──query──▶ waiting / succeeded / failed / cancelled

The rules the v2 transfers keep hold here too:

* One number per payout: calling `transfer_bill_create` again with the same number first
  *queries* the bill; only if WeChat answers NOT_FOUND (within the resend window) is the same
  number sent again. A lost answer is never settled by a second bill.
* Only documented refusals fail a bill before WeChat has it (BILL_DEFINITE_FAILURES); "later"
  codes (NOT_ENOUGH, FREQUENCY_LIMITED) leave it requested; anything else is unknown and
  queried.
* The scene's rules are checked before sending, and break nothing if broken: the scene must
  be one we know with its report infos, the amount within WeChat's minimum, the scene's
  per-transfer maximum and (when set) its per-user daily maximum, and from 2,000 yuan the
  user's real name is required (sent RSA-OAEP encrypted with WeChat's key, which the request
  names in Wechatpay-Serial).
* Hooks: `transfer_waiting` once when the bill starts waiting (package_info known, or fetched
  a moment later after a lost create answer),
  `transfer_final` once when it is succeeded, failed or cancelled — each inside the
  transaction that records it.
"""
from __future__ import annotations

import logging
import re
from typing import Any
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction
from django.db.models import F, Sum
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from core.errors import Conflict, DomainError, InvalidInput, NotFound
from core.transitions import transition

from . import hooks, v3
from .errors import WechatError, WechatTimeout
from .models import TRANSFER_FINAL, TRANSFER_TRANSITIONS, TransferApi, TransferStatus, WechatTransfer
from .services import (
    FAILED,
    LATER,
    _answered,
    _err_code,
    _event,
    _get_or_create,
    _not_found_may_resend,
    _outcome,
    _positive,
    _record_error,
    _recorded,
)

logger = logging.getLogger(__name__)

SHANGHAI_TZ = ZoneInfo("Asia/Shanghai")
BILLS_PATH = "/v3/fund-app/mch-transfer/transfer-bills"
CALLBACK_EVENT = "MCHTRANSFER.BILL.FINISHED"
# WeChat's rules for a bill (商家转账 API documentation).
MIN_FEN = 10                  # 0.1 yuan
USER_NAME_FROM_FEN = 200_000  # from 2,000 yuan the user's real name is required
REMARK_MAX_CHARS = 32
# The scenes we know, with the report infos WeChat requires for each (transfer_scene_report_infos).
SCENES: dict[str, tuple[str, tuple[str, str]]] = {
    "1000": ("现金营销", ("活动名称", "奖励说明")),
    "1005": ("佣金报酬", ("岗位类型", "报酬说明")),
}
# WeChat's bill states. The not-final ones all mean "waiting" for us; bill_state keeps the detail
# (TRANSFERING: the user confirmed and the money is on its way; CANCELING: a cancel is under way).
WAITING_STATES = frozenset({"ACCEPTED", "PROCESSING", "WAIT_USER_CONFIRM", "TRANSFERING", "CANCELING"})
STATE_STATUS = {"SUCCESS": TransferStatus.SUCCEEDED, "FAIL": TransferStatus.FAILED,
                "CANCELLED": TransferStatus.CANCELLED}
# The states in which the user can still confirm (the H5 page offers the button only then).
CONFIRMABLE_STATES = frozenset({"ACCEPTED", "WAIT_USER_CONFIRM"})
# Refusals after which WeChat has no bill (the error codes of 发起转账; v3 codes as wechat.v3 maps
# them): the payout fails and the money goes back. NOT_ENOUGH / FREQUENCY_LIMITED: later.
BILL_DEFINITE_FAILURES = frozenset({"PARAM_ERROR", "INVALID_REQUEST", "NO_AUTH", "SIGNERROR", "ACCOUNT_ERROR",
                                    "ACCOUNTERROR"})
BILL_LATER = frozenset({"NOTENOUGH", "FREQUENCY_LIMITED"})
_BILL_NO_RE = re.compile(r"^[0-9A-Za-z]{5,32}$")


# --- the rules checked before sending ----------------------------------------------------

def _report_infos(scene_id: str, *, remark: str) -> list[dict[str, str]]:
    _, (first, second) = SCENES[scene_id]
    if scene_id == "1005":
        values = (settings.WECHAT_TRANSFER_POSITION, remark)
    else:
        values = (remark, remark)
    return [{"info_type": first, "info_content": values[0][:32]}, {"info_type": second, "info_content": values[1][:32]}]


def _sent_today_fen(transfer: WechatTransfer) -> int:
    """What the bills to this user sent today (Beijing time) add up to, this one left out; only
    bills that may still pay count (failed and cancelled ones moved nothing)."""
    start = timezone.localtime(timezone.now(), SHANGHAI_TZ).replace(hour=0, minute=0, second=0, microsecond=0)
    return WechatTransfer.objects.filter(
        api=TransferApi.V3_BILL, openid=transfer.openid, created_at__gte=start, attempts__gt=0,
    ).exclude(pk=transfer.pk).exclude(status__in=(TransferStatus.FAILED, TransferStatus.CANCELLED)).aggregate(
        total=Sum("amount_fen"))["total"] or 0


def bill_rules_problem(*, amount_fen: int, scene_id: str, user_name: str,
                       transfer: WechatTransfer | None = None) -> tuple[str, str]:
    """(code, message) of the first rule the bill breaks, or ("", "")."""
    if scene_id not in SCENES:
        return "transfer_scene_unknown", f"Transfer scene {scene_id!r} is not one we can report for."
    if amount_fen < MIN_FEN:
        return "amount_below_minimum", f"A merchant transfer is at least {MIN_FEN} fen."
    if amount_fen > settings.WECHAT_TRANSFER_SCENE_MAX_FEN:
        return ("scene_limit_exceeded",
                f"The transfer scene allows at most {settings.WECHAT_TRANSFER_SCENE_MAX_FEN} fen per transfer.")
    if amount_fen >= USER_NAME_FROM_FEN and not user_name:
        return "user_name_required", "From 2,000 yuan WeChat requires the payee's real name."
    daily = settings.WECHAT_TRANSFER_USER_DAILY_MAX_FEN
    if daily and transfer is not None and _sent_today_fen(transfer) + amount_fen > daily:
        return ("scene_daily_limit_exceeded",
                f"The transfer scene allows at most {daily} fen a day to one user.")
    return "", ""


def _fail_before_sending(transfer: WechatTransfer, code: str, message: str) -> WechatTransfer:
    WechatTransfer.objects.filter(pk=transfer.pk).update(error_code=code[:64], error_message=message[:255])
    if not transition(transfer, TransferStatus.FAILED, table=TRANSFER_TRANSITIONS,
                      record=_recorded("rules", {"code": code}), then=hooks.run_transfer_handlers, strict=False):
        transfer.refresh_from_db()
    logger.warning("wechat pay: transfer bill %s not sent: %s", transfer.partner_trade_no, code)
    return transfer


# --- applying what WeChat says ---------------------------------------------------------

def _time(value: Any):
    parsed = parse_datetime(str(value or ""))
    return parsed if parsed is not None and parsed.tzinfo is not None else None


def bill_apply(transfer: WechatTransfer, *, state: str, info: dict[str, Any], source: str) -> WechatTransfer:
    """Bring our row in line with a bill `state` WeChat told us (answer, query or callback)."""
    fields: dict[str, Any] = {"bill_state": state[:20]}
    if info.get("transfer_bill_no"):
        fields["transfer_bill_no"] = str(info["transfer_bill_no"])[:64]
    if info.get("package_info"):
        fields["package_info"] = str(info["package_info"])[:256]
    data = {"state": state, **({"fail_reason": info["fail_reason"]} if info.get("fail_reason") else {})}
    if state in WAITING_STATES:
        with transaction.atomic():
            moved = transition(transfer, TransferStatus.WAITING, table=TRANSFER_TRANSITIONS,
                               record=_recorded(source, data), then=hooks.run_transfer_waiting_handlers,
                               strict=False, fields={**fields, "error_code": "", "error_message": ""})
            if not moved:
                # Already waiting (or final): keep WeChat's detail while it is not final.
                WechatTransfer.objects.filter(pk=transfer.pk, status=TransferStatus.WAITING).update(
                    **fields, updated_at=timezone.now())
                transfer.refresh_from_db()
        return transfer
    target = STATE_STATUS.get(state)
    if target is None:
        raise WechatError(f"WeChat's bill state {state!r} is not one we know.", code="wechat_bad_response",
                          extra={"state": state})
    if target == TransferStatus.SUCCEEDED:
        fields["payment_no"] = fields.get("transfer_bill_no", transfer.transfer_bill_no)[:64]
        fields["paid_at"] = _time(info.get("update_time")) or timezone.now()
        fields.update(error_code="", error_message="")
    else:
        reason = str(info.get("fail_reason") or ("CANCELLED" if target == TransferStatus.CANCELLED else "FAIL"))
        fields.update(error_code=reason[:64], error_message=f"WeChat: bill {state} {info.get('fail_reason') or ''}"
                      .strip()[:255])
    if not transition(transfer, target, table=TRANSFER_TRANSITIONS, record=_recorded(source, data),
                      then=hooks.run_transfer_handlers, strict=False, fields=fields):
        transfer.refresh_from_db()
        if transfer.status != target:
            logger.error("wechat pay: transfer bill %s is %s here but WeChat says %s", transfer.partner_trade_no,
                         transfer.status, state)
            _event(transfer, kind="state_mismatch", source=source, data=data)
    return transfer


def _check_answer(transfer: WechatTransfer, data: dict[str, Any]) -> None:
    v3.expect(data, "out_bill_no", transfer.partner_trade_no)
    v3.expect(data, "transfer_amount", transfer.amount_fen, code="amount_mismatch")
    v3.expect(data, "openid", transfer.openid)
    v3.expect(data, "mch_id", settings.WECHAT_MCH_ID, code="merchant_mismatch")
    if not data.get("state"):
        raise WechatError("WeChat's bill answer has no state.", code="wechat_bad_response")


# --- create, query, cancel -----------------------------------------------------------------

def transfer_bill_create(
    *, out_bill_no: str, openid: str, amount_fen: int, remark: str, purpose: str, ref: str, user_name: str = "",
    scene_id: str | None = None,
) -> WechatTransfer:
    """Ask WeChat for a merchant transfer bill. Never raises WeChat's errors: the row's status
    says what happened (waiting with package_info / succeeded / failed / cancelled / unknown /
    requested with error_code for "later"). Idempotent by out_bill_no (see the module docstring)."""
    if not _BILL_NO_RE.match(out_bill_no or ""):
        raise InvalidInput("out_bill_no must be 5-32 letters or digits.", extra={"field": "out_bill_no"})
    _positive(amount_fen)
    if not openid or not purpose:
        raise InvalidInput("openid and purpose are required.")
    scene = scene_id or settings.WECHAT_TRANSFER_SCENE_ID
    remark = (remark or purpose)[:REMARK_MAX_CHARS]
    defaults = {"openid": openid, "amount_fen": amount_fen, "description": remark, "purpose": purpose,
                "ref": str(ref), "api": TransferApi.V3_BILL, "scene_id": scene[:8]}
    transfer, created = _get_or_create(
        WechatTransfer, lookup={"partner_trade_no": out_bill_no}, defaults=defaults,
        same=("openid", "amount_fen", "purpose", "ref", "api"), reused_code="partner_trade_no_reused",
    )
    if created:
        _event(transfer, kind="created", source="api", to_status=transfer.status)
    if transfer.status in TRANSFER_FINAL:
        return transfer
    if transfer.status != TransferStatus.WAITING and transfer.attempts:
        transfer, send = _query_before_resend(transfer)
        if not send:
            return _package_fetched(transfer, user_name=user_name)
    if transfer.status == TransferStatus.WAITING:
        return _package_fetched(transfer, user_name=user_name)
    code, message = bill_rules_problem(amount_fen=amount_fen, scene_id=transfer.scene_id, user_name=user_name,
                                       transfer=transfer)
    if code:
        return _fail_before_sending(transfer, code, message)
    WechatTransfer.objects.filter(pk=transfer.pk).update(attempts=F("attempts") + 1)
    try:
        answer = _send_bill(transfer, user_name=user_name)
    except (WechatError, WechatTimeout) as exc:
        _record_error(WechatTransfer, transfer.pk, exc)
        err = _err_code(exc)
        outcome = _outcome(exc, definite=BILL_DEFINITE_FAILURES, later=BILL_LATER)
        if outcome == LATER:
            logger.warning("wechat pay: transfer bill %s refused for now (%s); retry later", out_bill_no, err)
            return WechatTransfer.objects.get(pk=transfer.pk)
        target = TransferStatus.FAILED if outcome == FAILED else TransferStatus.UNKNOWN
        logger.warning("wechat pay: transfer bill %s -> %s (%s %s)", out_bill_no, target, exc.code, err)
        if not transition(transfer, target, table=TRANSFER_TRANSITIONS,
                          record=_recorded("transfer_bill", {"code": exc.code, "err_code": err}),
                          then=hooks.run_transfer_handlers if target == TransferStatus.FAILED else None,
                          strict=False):
            transfer.refresh_from_db()
        if target == TransferStatus.UNKNOWN and _answered(exc):
            transfer, _ = _query_before_resend(transfer)  # WeChat answered "system error": ask at once
        return transfer
    return bill_apply(transfer, state=str(answer["state"]), info=answer, source="transfer_bill")


def _send_bill(transfer: WechatTransfer, *, user_name: str) -> dict[str, Any]:
    payload: dict[str, Any] = {
        "appid": settings.WECHAT_APPID, "out_bill_no": transfer.partner_trade_no,
        "transfer_scene_id": transfer.scene_id, "openid": transfer.openid, "transfer_amount": transfer.amount_fen,
        "transfer_remark": transfer.description, "notify_url": settings.WECHAT_TRANSFER_NOTIFY_URL,
        "user_recv_perception": settings.WECHAT_TRANSFER_PERCEPTION,
        "transfer_scene_report_infos": _report_infos(transfer.scene_id, remark=transfer.description),
    }
    serial = ""
    if user_name:
        key = v3.encryption_key()
        payload["user_name"] = v3.oaep_encrypt(key.public_key, user_name)
        serial = key.serial
    _, data = v3.call("pay.v3.transfer_bill", "POST", BILLS_PATH, payload=payload, serial_header=serial)
    _check_answer(transfer, data)
    return data


def _package_fetched(transfer: WechatTransfer, *, user_name: str) -> WechatTransfer:
    """A bill a query found waiting, whose create answer (with package_info) was lost: the
    query does not carry package_info, so the same request is sent again with the same
    out_bill_no — WeChat answers the bill it has (same number, same content), it never makes a
    second one — and its package_info kept. Anything but a clean answer leaves it for later."""
    if transfer.status != TransferStatus.WAITING or transfer.package_info or transfer.bill_state not in (
            CONFIRMABLE_STATES):
        return transfer
    try:
        answer = _send_bill(transfer, user_name=user_name)
    except (WechatError, WechatTimeout) as exc:
        logger.warning("wechat pay: transfer bill %s: package_info not fetched (%s)", transfer.partner_trade_no,
                       exc.code)
        return WechatTransfer.objects.get(pk=transfer.pk)
    return bill_apply(transfer, state=str(answer["state"]), info=answer, source="transfer_bill_again")


def _query_before_resend(transfer: WechatTransfer) -> tuple[WechatTransfer, bool]:
    """Query a bill that was sent before: (row, True) when the same number may be sent again
    (WeChat does not know it, within the resend window), (row, False) otherwise."""
    try:
        return transfer_bill_query(out_bill_no=transfer.partner_trade_no), False
    except (WechatError, WechatTimeout) as exc:
        transfer = WechatTransfer.objects.get(pk=transfer.pk)
        if _err_code(exc) != "NOT_FOUND":
            logger.warning("wechat pay: transfer bill %s query failed (%s); later", transfer.partner_trade_no,
                           exc.code)
            return transfer, False
        return transfer, _not_found_may_resend(WechatTransfer, transfer, "transfer bill")


def _bill(out_bill_no: str) -> WechatTransfer:
    transfer = WechatTransfer.objects.filter(partner_trade_no=out_bill_no, api=TransferApi.V3_BILL).first()
    if transfer is None:
        raise NotFound("No such transfer bill.", extra={"out_bill_no": out_bill_no})
    return transfer


def transfer_bill_query(*, out_bill_no: str) -> WechatTransfer:
    """Ask WeChat for the bill (商户单号查询转账单) and bring our row in line. Raises WeChat's
    errors, e.g. err_code NOT_FOUND when WeChat does not know the number."""
    transfer = _bill(out_bill_no)
    _, data = v3.call("pay.v3.transfer_bill_query", "GET", f"{BILLS_PATH}/out-bill-no/{out_bill_no}")
    _check_answer(transfer, data)
    return bill_apply(transfer, state=str(data["state"]), info=data, source="query")


def transfer_bill_cancel(*, out_bill_no: str) -> WechatTransfer:
    """Cancel a bill the user has not confirmed (撤销转账). WeChat answers CANCELING or
    CANCELLED; the money is back only when the bill is cancelled (then the hooks run). A bill
    the user confirmed meanwhile cannot be cancelled: WeChat refuses and the query says so."""
    transfer = _bill(out_bill_no)
    if transfer.status in TRANSFER_FINAL:
        return transfer
    if transfer.status != TransferStatus.WAITING:
        raise Conflict("Only a bill waiting for the user's confirmation can be cancelled.",
                       code="transfer_not_cancellable", extra={"status": transfer.status})
    WechatTransfer.objects.filter(pk=transfer.pk).update(cancel_requested_at=timezone.now())
    try:
        _, data = v3.call("pay.v3.transfer_bill_cancel", "POST", f"{BILLS_PATH}/out-bill-no/{out_bill_no}/cancel")
    except (WechatError, WechatTimeout) as exc:
        logger.warning("wechat pay: cancelling transfer bill %s: %s %s", out_bill_no, exc.code, _err_code(exc))
        if _answered(exc):
            transfer = _query_quietly(transfer)  # confirmed or failed meanwhile: the query tells
        if isinstance(exc, DomainError) and transfer.status not in TRANSFER_FINAL:
            raise
        return transfer
    v3.expect(data, "out_bill_no", out_bill_no)
    return bill_apply(transfer, state=str(data.get("state", "")), info=data, source="cancel")


def _query_quietly(transfer: WechatTransfer) -> WechatTransfer:
    try:
        return transfer_bill_query(out_bill_no=transfer.partner_trade_no)
    except (WechatError, WechatTimeout):
        return WechatTransfer.objects.get(pk=transfer.pk)


# --- the callback --------------------------------------------------------------------------

def transfer_bill_notify_handle(*, headers: Any, body: bytes) -> None:
    """Handle one MCHTRANSFER.BILL.FINISHED callback. Refusals raise DomainErrors (invalid_signature,
    invalid_json, merchant_mismatch, unknown_out_bill_no, amount_mismatch, invalid_notification),
    are logged and change nothing; a duplicate acts once."""
    try:
        callback = v3.callback_open(headers=headers, body=body)
        if callback.event_type != CALLBACK_EVENT:
            raise InvalidInput(f"Unexpected event {callback.event_type!r}.", code="invalid_notification")
        r = callback.resource
        if str(r.get("mch_id", "")) != settings.WECHAT_MCH_ID:
            raise InvalidInput("The notification is for another merchant.", code="merchant_mismatch")
        out_bill_no = str(r.get("out_bill_no", ""))
        transfer = WechatTransfer.objects.filter(partner_trade_no=out_bill_no, api=TransferApi.V3_BILL).first()
        if transfer is None:
            raise InvalidInput("The notification names an out_bill_no we never created.", code="unknown_out_bill_no",
                               extra={"out_bill_no": out_bill_no})
        if str(r.get("transfer_amount", "")) != str(transfer.amount_fen):
            raise InvalidInput("The notification's amount is not the bill's.", code="amount_mismatch",
                               extra={"expected": transfer.amount_fen, "got": r.get("transfer_amount")})
        if r.get("openid") and r["openid"] != transfer.openid:
            raise InvalidInput("The notification's payee is not the bill's.", code="invalid_notification")
        bill_no = r.get("transfer_bill_no")
        if transfer.transfer_bill_no and bill_no and bill_no != transfer.transfer_bill_no:
            raise InvalidInput("The notification's bill number is not the bill's.", code="invalid_notification")
        state = str(r.get("state", ""))
        if state not in STATE_STATUS and state not in WAITING_STATES:
            raise InvalidInput(f"Unknown bill state {state!r}.", code="invalid_notification")
    except DomainError as exc:
        logger.warning("wechat pay: transfer bill notification refused: %s (%s) %s", exc.code, exc.message, exc.extra)
        raise
    bill_apply(transfer, state=state, info=r, source="notify")

