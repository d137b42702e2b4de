"""The sandbox's merchant transfer (商家转账, APIv3 transfer bills), answered the way WeChat does.

WeChat's API (under /wechat-sandbox, signed requests and answers via `v3_endpoint`):
  POST /v3/fund-app/mch-transfer/transfer-bills                                 create  ("v3.bill.create")
  GET  /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}       query   ("v3.bill.query")
  GET  /v3/fund-app/mch-transfer/transfer-bills/transfer-bill-no/{transfer_bill_no}      ("v3.bill.query")
  POST /v3/fund-app/mch-transfer/transfer-bills/out-bill-no/{out_bill_no}/cancel cancel ("v3.bill.cancel")

A new bill waits for the user (WAIT_USER_CONFIRM) with an opaque `package_info`, the argument
of wx.requestMerchantTransfer. When a bill reaches SUCCESS, FAIL or CANCELLED the sandbox sends
WeChat's callback (event MCHTRANSFER.BILL.FINISHED, resource mch_payment, AES-256-GCM sealed,
signed) to the bill's notify_url ("v3.bill.notify": bad_signature, duplicate_notify). A bill
without notify_url gets no callback.

The create checks what WeChat checks: appid, the required fields, out_bill_no (5-32 letters
and digits), the amount (an integer >= 10 fen; from 200000 fen user_name is required),
transfer_remark (at most 32 characters), the scene (1000 / 1005; others NO_AUTH) and its report
infos, user_name (RSA-OAEP with WeChat's key, named by the Wechatpay-Serial header). The same
out_bill_no with the same content answers the bill as it is now; with other content it is
refused (商户单号重复). Faults: timeout / bad_signature (carried out), fail (nothing carried out;
outcome "executed": created, then the error answered; outcome "failed": recorded FAIL with
fail_reason = the error code, its callback sent, the error answered), http_error.

The sandbox's own helpers (not WeChat's; JSON answers {out_bill_no, state, notify_url, code,
notifications}, `code` being what our server answered the callback, "SUCCESS" on 200/204):
  POST /wechat-sandbox/transfer-bills/{out_bill_no}/confirm/ {action?: confirm|fail|transfering,
       fail_reason?}  the user confirms receipt (WAIT_USER_CONFIRM or TRANSFERING -> SUCCESS, or
       FAIL with fail_reason, default PAYEE_ACCOUNT_ABNORMAL), callback sent; a final bill
       re-sends its callback (WeChat's retry); a cancelled bill: 409. "transfering": confirmed,
       the money still on its way (WAIT_USER_CONFIRM -> TRANSFERING, no callback; cancel refused).
  POST /wechat-sandbox/transfer-bills/{out_bill_no}/expire/    24 hours passed unconfirmed:
       WAIT_USER_CONFIRM -> CANCELLED, callback sent; any other state: 409.
  POST /wechat-sandbox/transfer-bills/{out_bill_no}/notify/    re-send the callback of a final
       bill; a bill not final: 409.
  GET/POST /wechat-sandbox/h5/transfer/?package=<package_info>&back=/h5/...
       the stand-in for wx.requestMerchantTransfer: the merchant, the amount, the remark,
       确认收款 (POSTs this page: confirms as above, then redirects to `back` with
       transfer=confirmed) and 取消 (back with transfer=cancelled; nothing happens to the bill).
"""
from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import re
import secrets
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.db import IntegrityError, transaction
from django.http import HttpResponseRedirect, JsonResponse
from django.shortcuts import render
from django.urls import path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods, require_POST

from wechat import v3

from .h5_views import _allowed_hosts, _error_page
from .models.v3 import SandboxTransferBill
from .v3 import answer_serial, platform_private_key, rfc3339, v3_callback_body, v3_endpoint, v3_error, v3_notify

Bill = SandboxTransferBill
State = SandboxTransferBill.State

BILLS = "v3/fund-app/mch-transfer/transfer-bills"
EVENT_TYPE = "MCHTRANSFER.BILL.FINISHED"
RESOURCE_TYPE = "mch_payment"
SUMMARY = "商家转账单据终态通知"
OUT_BILL_NO_RE = re.compile(r"^[A-Za-z0-9]{5,32}$")
FAIL_REASON_RE = re.compile(r"^[A-Z][A-Z0-9_]{0,63}$")
MIN_AMOUNT_FEN = 10
USER_NAME_FROM_FEN = 200_000
REMARK_MAX = 32
# The scenes this merchant has opened, and the report infos (info_type) each requires.
SCENE_REPORT_INFOS = {"1000": ("活动名称", "奖励说明"), "1005": ("岗位类型", "报酬说明")}
FINAL = (State.SUCCESS, State.FAIL, State.CANCELLED)
CANCELLABLE = (State.ACCEPTED, State.PROCESSING, State.WAIT_USER_CONFIRM)
CONFIRMABLE = (State.WAIT_USER_CONFIRM, State.TRANSFERING)
DEFAULT_FAIL_REASON = "PAYEE_ACCOUNT_ABNORMAL"


def _now() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# --- what WeChat says about a bill -----------------------------------------------------------

def bill_resource(bill: Bill) -> dict[str, Any]:
    """The callback's decrypted resource for `bill`."""
    resource: dict[str, Any] = {
        "out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no, "state": bill.state,
        "mch_id": bill.mch_id, "transfer_amount": bill.transfer_amount, "openid": bill.openid,
        "create_time": rfc3339(bill.created_at), "update_time": rfc3339(bill.updated_at),
    }
    if bill.state == State.FAIL:
        resource["fail_reason"] = bill.fail_reason
    return resource


def bill_callback_body(bill: Bill, **resource_overrides: Any) -> bytes:
    """A validly sealed callback body for `bill` with some resource fields replaced (tests:
    a wrong amount, another mch_id...). Sign and send it with `v3_callback_post`."""
    resource = {**bill_resource(bill), **resource_overrides}
    return v3_callback_body(event_type=EVENT_TYPE, resource_type=RESOURCE_TYPE, summary=SUMMARY, resource=resource)


def bill_notify(bill: Bill) -> list[dict[str, Any]]:
    """Send the callback for the bill's (final) state to its notify_url, acting out a fault
    armed for "v3.bill.notify"; what each copy was answered ([] without notify_url)."""
    if not bill.notify_url:
        return []
    return v3_notify(bill.notify_url, fault_endpoint="v3.bill.notify", event_type=EVENT_TYPE,
                     resource_type=RESOURCE_TYPE, summary=SUMMARY, resource=bill_resource(bill))


def _create_answer(bill: Bill) -> dict[str, Any]:
    answer: dict[str, Any] = {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                              "create_time": rfc3339(bill.created_at), "state": bill.state}
    if bill.package_info:
        answer["package_info"] = bill.package_info
    if bill.state == State.FAIL:
        answer["fail_reason"] = bill.fail_reason
    return answer


def _query_answer(bill: Bill) -> dict[str, Any]:
    answer: dict[str, Any] = {
        "mch_id": bill.mch_id, "out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
        "appid": bill.appid, "state": bill.state, "transfer_amount": bill.transfer_amount,
        "transfer_remark": bill.transfer_remark, "openid": bill.openid,
        "create_time": rfc3339(bill.created_at), "update_time": rfc3339(bill.updated_at),
    }
    if bill.state == State.FAIL:
        answer["fail_reason"] = bill.fail_reason
    return answer


def _move(bill: Bill, *, to: str, from_states: tuple[str, ...], fail_reason: str = "") -> bool:
    """Move the bill to `to` if it is still in one of `from_states` (a conditional UPDATE: of
    two concurrent moves one wins); True when this call moved it. `bill` is reloaded."""
    changes: dict[str, Any] = {"state": to, "updated_at": _now()}
    if to == State.FAIL:
        changes["fail_reason"] = fail_reason
    moved = bool(Bill.objects.filter(pk=bill.pk, state__in=from_states).update(**changes))
    bill.refresh_from_db()
    return moved


# --- create --------------------------------------------------------------------------------

def _param_error(message: str) -> tuple[int, dict[str, Any]]:
    return v3_error("PARAM_ERROR", message)


def _bill_input(request, data: dict[str, Any]) -> tuple[tuple[int, dict[str, Any]] | None, dict[str, Any]]:
    """(an error answer, {}) or (None, the bill's fields) for a create request, checked as WeChat does."""
    for name in ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_amount", "transfer_remark",
                 "transfer_scene_report_infos"):
        if data.get(name) in (None, "", []):
            return _param_error(f"输入源“/body/{name}”映射到字段“{name}”必填性规则校验失败，此字段为必填项"), {}
    for name in ("appid", "out_bill_no", "transfer_scene_id", "openid", "transfer_remark", "notify_url",
                 "user_recv_perception", "user_name"):
        if name in data and not isinstance(data[name], str):
            return _param_error(f"字段“{name}”类型错误，应为 string"), {}
    if data["appid"] != settings.WECHAT_APPID:
        return v3_error("INVALID_REQUEST", "appid 与 mchid 不匹配"), {}
    if not OUT_BILL_NO_RE.fullmatch(data["out_bill_no"]):
        return _param_error("out_bill_no 格式错误：5-32 位数字或字母"), {}
    amount = data["transfer_amount"]
    if isinstance(amount, bool) or not isinstance(amount, int):
        return _param_error("字段“transfer_amount”类型错误，应为 integer（单位：分）"), {}
    if amount < MIN_AMOUNT_FEN:
        return _param_error(f"转账金额不能小于 {MIN_AMOUNT_FEN} 分"), {}
    remark = data["transfer_remark"]
    if len(remark) > REMARK_MAX:
        return _param_error(f"transfer_remark 长度不能超过 {REMARK_MAX} 个字符"), {}
    notify_url = data.get("notify_url") or ""
    if notify_url and (len(notify_url) > 256 or urlsplit(notify_url).scheme not in ("http", "https")):
        return _param_error("notify_url 格式错误"), {}
    perception = data.get("user_recv_perception") or ""
    if len(perception) > 32:
        return _param_error("user_recv_perception 过长"), {}
    if len(data["openid"]) > 64:
        return _param_error("openid 格式错误"), {}
    scene = data["transfer_scene_id"]
    if scene not in SCENE_REPORT_INFOS:
        return v3_error("NO_AUTH", "未开通该场景"), {}
    infos = data["transfer_scene_report_infos"]
    if not isinstance(infos, list) or not all(
        isinstance(i, dict) and isinstance(i.get("info_type"), str) and isinstance(i.get("info_content"), str)
        and i["info_content"] and len(i["info_content"]) <= 32 for i in infos
    ):
        return _param_error("transfer_scene_report_infos 格式错误：[{info_type, info_content}]"), {}
    given = {i["info_type"] for i in infos}
    missing = [t for t in SCENE_REPORT_INFOS[scene] if t not in given]
    if missing:
        return _param_error(f"转账场景 {scene} 需报备：{'、'.join(missing)}"), {}
    user_name = ""
    if data.get("user_name"):
        if request.headers.get("Wechatpay-Serial", "") != answer_serial():
            return _param_error("请求头 Wechatpay-Serial 与加密所用的微信支付公钥或平台证书不符"), {}
        try:
            user_name = v3.oaep_decrypt(platform_private_key(), data["user_name"])
        except (ValueError, TypeError):
            return _param_error("user_name 解密失败"), {}
    if amount >= USER_NAME_FROM_FEN and not user_name:
        return _param_error("转账金额大于等于 2000 元时，收款用户姓名 user_name 必填"), {}
    fields = {
        "appid": data["appid"], "mch_id": settings.WECHAT_MCH_ID, "openid": data["openid"], "user_name": user_name,
        "transfer_amount": amount, "transfer_remark": remark, "transfer_scene_id": scene,
        "user_recv_perception": perception, "report_infos": infos, "notify_url": notify_url,
    }
    return None, fields


def _fingerprint(out_bill_no: str, fields: dict[str, Any]) -> str:
    """What makes a repeat "the same request": everything but the callback address."""
    content = {k: v for k, v in fields.items() if k != "notify_url"}
    raw = json.dumps({"out_bill_no": out_bill_no, **content}, ensure_ascii=False, sort_keys=True)
    return hashlib.sha256(raw.encode()).hexdigest()


def _transfer_bill_no() -> str:
    return f"1330{settings.WECHAT_MCH_ID}{_now():%Y%m%d}{secrets.randbelow(10 ** 16):016d}"[:64]


def _package_info() -> str:
    return base64.b64encode(b"\x01\x00" + secrets.token_bytes(58)).decode()


def _bill_record(out_bill_no: str, fields: dict[str, Any], *, state: str = State.WAIT_USER_CONFIRM,
                 fail_reason: str = "") -> tuple[Bill, bool]:
    """(the bill, created?) — the existing bill when the number is taken, even concurrently."""
    fingerprint = _fingerprint(out_bill_no, fields)
    existing = Bill.objects.filter(out_bill_no=out_bill_no).first()
    if existing is not None:
        return existing, False
    try:
        with transaction.atomic():
            bill = Bill.objects.create(
                out_bill_no=out_bill_no, transfer_bill_no=_transfer_bill_no(), fingerprint=fingerprint,
                package_info=_package_info() if state != State.FAIL else "", state=state, fail_reason=fail_reason,
                **fields,
            )
    except IntegrityError:
        return Bill.objects.get(out_bill_no=out_bill_no), False
    return bill, True


def _bill_create_failed(request, data: dict[str, Any], err_code: str) -> None:
    """Fault outcome "failed": WeChat took the bill and failed it (its query says FAIL)."""
    error, fields = _bill_input(request, data)
    if error is not None:
        return
    bill, created = _bill_record(data["out_bill_no"], fields, state=State.FAIL, fail_reason=err_code)
    if created:
        bill_notify(bill)


@v3_endpoint("v3.bill.create", record_failed=_bill_create_failed)
def bill_create(request, data):
    error, fields = _bill_input(request, data)
    if error is not None:
        return error
    out_bill_no = data["out_bill_no"]
    bill, created = _bill_record(out_bill_no, fields)
    if not created and bill.fingerprint != _fingerprint(out_bill_no, fields):
        return v3_error("INVALID_REQUEST", "商户单号重复")
    return 200, _create_answer(bill)


# --- query, cancel -------------------------------------------------------------------------

NOT_FOUND = ("NOT_FOUND", "记录不存在")


@v3_endpoint("v3.bill.query", methods=("GET",))
def bill_query_out(request, data, out_bill_no: str):
    bill = Bill.objects.filter(out_bill_no=out_bill_no, mch_id=settings.WECHAT_MCH_ID).first()
    return (200, _query_answer(bill)) if bill else v3_error(*NOT_FOUND)


@v3_endpoint("v3.bill.query", methods=("GET",))
def bill_query_transfer(request, data, transfer_bill_no: str):
    bill = Bill.objects.filter(transfer_bill_no=transfer_bill_no, mch_id=settings.WECHAT_MCH_ID).first()
    return (200, _query_answer(bill)) if bill else v3_error(*NOT_FOUND)


@v3_endpoint("v3.bill.cancel")
def bill_cancel(request, data, out_bill_no: str):
    bill = Bill.objects.filter(out_bill_no=out_bill_no, mch_id=settings.WECHAT_MCH_ID).first()
    if bill is None:
        return v3_error(*NOT_FOUND)
    if _move(bill, to=State.CANCELLED, from_states=CANCELLABLE):
        bill_notify(bill)
    if bill.state not in (State.CANCELLED, State.CANCELING):
        return v3_error("INVALID_REQUEST", "当前状态不可撤销")
    return 200, {"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no, "state": bill.state,
                 "update_time": rfc3339(bill.updated_at)}


# --- the sandbox's helpers: the user's side -------------------------------------------------

def _helper_answer(bill: Bill, results: list[dict[str, Any]], status: int = 200) -> JsonResponse:
    return JsonResponse({"out_bill_no": bill.out_bill_no, "transfer_bill_no": bill.transfer_bill_no,
                         "state": bill.state, "fail_reason": bill.fail_reason, "notify_url": bill.notify_url,
                         "code": results[0].get("code", "") if results else "", "notifications": results},
                        status=status, json_dumps_params={"ensure_ascii": False})


def _helper_error(error: str, message: str, status: int, **extra: Any) -> JsonResponse:
    return JsonResponse({"error": error, "message": message, **extra}, status=status,
                        json_dumps_params={"ensure_ascii": False})


CONFIRM_ACTIONS = ("confirm", "fail", "transfering")


def bill_confirm(bill: Bill, *, action: str = "confirm", fail_reason: str = "") -> tuple[bool, list[dict[str, Any]]]:
    """The user confirms receipt (action "confirm") or the payout fails ("fail"): a waiting (or
    transferring) bill becomes SUCCESS / FAIL and its callback is sent; a final bill's callback
    is sent again. Action "transfering": the user confirmed and the money is on its way
    (WAIT_USER_CONFIRM -> TRANSFERING, no callback: not final). (False, []) for a bill that cannot
    be confirmed (cancelled, or not waiting)."""
    if action == "transfering":
        moved = _move(bill, to=State.TRANSFERING, from_states=(State.WAIT_USER_CONFIRM,))
        return moved or bill.state == State.TRANSFERING, []
    if action == "fail":
        _move(bill, to=State.FAIL, from_states=CONFIRMABLE, fail_reason=fail_reason or DEFAULT_FAIL_REASON)
    else:
        _move(bill, to=State.SUCCESS, from_states=CONFIRMABLE)
    if bill.state not in (State.SUCCESS, State.FAIL):
        return False, []
    return True, bill_notify(bill)


def _helper_bill(out_bill_no: str) -> Bill | None:
    return Bill.objects.filter(out_bill_no=out_bill_no).first()


@csrf_exempt
@require_POST
def helper_confirm(request, out_bill_no: str):
    try:
        payload = json.loads(request.body or b"{}")
        assert isinstance(payload, dict)
    except (ValueError, AssertionError):
        return _helper_error("PARAM_ERROR", "body must be a JSON object", 400)
    action = payload.get("action", "confirm")
    fail_reason = payload.get("fail_reason", "")
    if action not in CONFIRM_ACTIONS:
        return _helper_error("PARAM_ERROR", f"action must be one of {', '.join(CONFIRM_ACTIONS)}", 400)
    if fail_reason and (not isinstance(fail_reason, str) or not FAIL_REASON_RE.fullmatch(fail_reason)):
        return _helper_error("PARAM_ERROR", "fail_reason must be an upper-case code, e.g. PAYEE_ACCOUNT_ABNORMAL", 400)
    bill = _helper_bill(out_bill_no)
    if bill is None:
        return _helper_error("NOT_FOUND", "no such out_bill_no", 404)
    done, results = bill_confirm(bill, action=action, fail_reason=fail_reason)
    if not done:
        return _helper_error("INVALID_STATE", f"the bill is {bill.state}: it cannot be confirmed", 409,
                             state=bill.state)
    return _helper_answer(bill, results)


@csrf_exempt
@require_POST
def helper_confirm_package(request):
    """The user confirms the bill whose package_info they hold (what wx.requestMerchantTransfer
    is given; a client that only sees the withdrawal's `confirm.package`, e.g. demo_story)."""
    try:
        payload = json.loads(request.body or b"{}")
        assert isinstance(payload, dict) and isinstance(payload.get("package"), str) and payload["package"]
    except (ValueError, AssertionError):
        return _helper_error("PARAM_ERROR", "body must be a JSON object with the package", 400)
    bill = Bill.objects.filter(package_info=payload["package"]).first()
    if bill is None:
        return _helper_error("NOT_FOUND", "no bill has this package", 404)
    done, results = bill_confirm(bill)
    if not done:
        return _helper_error("INVALID_STATE", f"the bill is {bill.state}: it cannot be confirmed", 409,
                             state=bill.state)
    return _helper_answer(bill, results)


@csrf_exempt
@require_POST
def helper_expire(request, out_bill_no: str):
    bill = _helper_bill(out_bill_no)
    if bill is None:
        return _helper_error("NOT_FOUND", "no such out_bill_no", 404)
    if not _move(bill, to=State.CANCELLED, from_states=(State.WAIT_USER_CONFIRM,)):
        return _helper_error("INVALID_STATE", f"the bill is {bill.state}, not waiting for the user", 409,
                             state=bill.state)
    return _helper_answer(bill, bill_notify(bill))


@csrf_exempt
@require_POST
def helper_notify(request, out_bill_no: str):
    bill = _helper_bill(out_bill_no)
    if bill is None:
        return _helper_error("NOT_FOUND", "no such out_bill_no", 404)
    if bill.state not in FINAL:
        return _helper_error("INVALID_STATE", f"the bill is {bill.state}: WeChat only calls back final states",
                             409, state=bill.state)
    return _helper_answer(bill, bill_notify(bill))


# --- the user's sheet (wx.requestMerchantTransfer) --------------------------------------------

def _back_path(request, back: str) -> str:
    """`back` when it is a path on this site (as the pay sheet's `return`), else ''."""
    if (
        not back.startswith("/")
        or back.startswith("//")
        or "\\" in back
        or not url_has_allowed_host_and_scheme(back, allowed_hosts=_allowed_hosts(request))
    ):
        return ""
    return back


def _with(back: str, query: str) -> str:
    return f"{back}{'&' if '?' in back else '?'}{query}" if back else ""


def _same_origin(request) -> bool:
    """A POST from this site's own page: an Origin (or, without one, a Referer) naming another
    host is refused. With neither (a non-browser client) the unguessable package_info in the
    form is what makes the request the user's."""
    origin = request.headers.get("Origin") or request.headers.get("Referer") or ""
    if not origin:
        return True
    if origin == "null":
        return False
    return urlsplit(origin).netloc in _allowed_hosts(request)


MESSAGES = {
    State.SUCCESS: "已收款 · This transfer has been received",
    State.FAIL: "转账失败 · This transfer failed",
    State.CANCELLED: "转账已撤销或已过期 · This transfer was cancelled or has expired",
    State.CANCELING: "转账撤销中 · This transfer is being cancelled",
    State.TRANSFERING: "已确认，转账中 · Confirmed, the money is on its way",
}


@csrf_exempt  # WeChat's page, not ours (see h5_views.oauth_authorize); guarded by _same_origin + the package
@require_http_methods(["GET", "POST"])
def transfer_sheet(request):
    source = request.POST if request.method == "POST" else request.GET
    package = source.get("package", "")
    back = _back_path(request, source.get("back", ""))
    bill = Bill.objects.filter(package_info=package).first() if package else None
    if bill is None:
        return _error_page(request, "没有这笔转账 · no such transfer (package_info unknown)", status=404)
    error = ""
    if request.method == "POST":
        if not _same_origin(request):
            return _error_page(request, "请求来源不被允许 · cross-site request refused", status=403)
        # the sheet confirms a waiting bill (or re-sends a final one's callback), never moves one in transfer
        done, _ = bill_confirm(bill) if bill.state != State.TRANSFERING else (False, [])
        if done and back:
            return HttpResponseRedirect(_with(back, "transfer=confirmed"))
        if not done:
            error = MESSAGES.get(bill.state, f"当前状态不可确认 · state {bill.state}")
    fen = int(bill.transfer_amount)
    context = {
        "bill": bill,
        "package": package,
        "amount": f"¥{fen // 100}.{fen % 100:02d}",
        "merchant": getattr(settings, "SHOP_NAME", "") or f"商户 {bill.mch_id}",
        "waiting": bill.state == State.WAIT_USER_CONFIRM,
        "message": MESSAGES.get(bill.state, ""),
        "error": error,
        "back": back,
        "cancel": _with(back, "transfer=cancelled"),
    }
    return render(request, "wechat_sandbox/transfer_confirm.html", context, status=409 if error else 200)


v3_bill_urlpatterns = [
    path(BILLS, bill_create, name="sandbox-v3-bill-create"),
    path(f"{BILLS}/out-bill-no/<str:out_bill_no>", bill_query_out, name="sandbox-v3-bill-query"),
    path(f"{BILLS}/transfer-bill-no/<str:transfer_bill_no>", bill_query_transfer,
         name="sandbox-v3-bill-query-by-transfer-bill-no"),
    path(f"{BILLS}/out-bill-no/<str:out_bill_no>/cancel", bill_cancel, name="sandbox-v3-bill-cancel"),
    path("transfer-bills/by-package/confirm/", helper_confirm_package, name="sandbox-bill-confirm-package"),
    path("transfer-bills/<str:out_bill_no>/confirm/", helper_confirm, name="sandbox-bill-confirm"),
    path("transfer-bills/<str:out_bill_no>/expire/", helper_expire, name="sandbox-bill-expire"),
    path("transfer-bills/<str:out_bill_no>/notify/", helper_notify, name="sandbox-bill-notify"),
    path("h5/transfer/", transfer_sheet, name="sandbox-h5-transfer"),
]
