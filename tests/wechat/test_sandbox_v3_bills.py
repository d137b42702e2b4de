"""The sandbox's merchant transfer bills (商家转账, APIv3), talked to as the client does: signed
requests over real HTTP (`wechat.v3.call`), signed answers, and WeChat's callbacks received by a
small HTTP server of the test's own (our notify endpoint is not what is tested here)."""
from __future__ import annotations

import http.server
import json
import secrets
import threading

import pytest
import requests
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings as conf

from wechat import v3
from wechat.errors import InvalidSignature, WechatError, WechatTimeout
from wechat.sandbox.models.v3 import SandboxTransferBill
from wechat.sandbox.v3 import platform_public_key_id, platform_public_key_pem, v3_callback_post
from wechat.sandbox.v3_bill_views import bill_callback_body

BILLS = "/v3/fund-app/mch-transfer/transfer-bills"
OPENID = "o-bill-payee-1"
State = SandboxTransferBill.State


# --- a callback recorder -------------------------------------------------------------------

class Recorder:
    """An HTTP server on 127.0.0.1 that records every POST (headers, body) and answers `status`."""

    def __init__(self) -> None:
        self.received: list[tuple[dict[str, str], bytes]] = []
        self.status = 204
        self._lock = threading.Lock()
        recorder = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's name
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                with recorder._lock:
                    recorder.received.append((dict(self.headers.items()), body))
                self.send_response(recorder.status)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/transfer/notify/"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()

    def opened(self, i: int = -1) -> v3.Callback:
        headers, body = self.received[i]
        return v3.callback_open(headers=_Headers(headers), body=body)


class _Headers(dict):
    """Case-insensitive .get, as requests' and Django's headers are."""

    def get(self, name, default=None):
        for key, value in self.items():
            if key.lower() == name.lower():
                return value
        return default


@pytest.fixture
def recorder():
    rec = Recorder()
    yield rec
    rec.close()


@pytest.fixture
def sandbox(wechat_sandbox, settings):
    v3.certificates_forget()
    yield wechat_sandbox
    v3.certificates_forget()


# --- helpers -------------------------------------------------------------------------------

def new_no() -> str:
    return f"W{secrets.token_hex(8).upper()}"


def payload(out_bill_no: str, notify_url: str = "", **overrides) -> dict:
    data = {
        "appid": conf.WECHAT_APPID, "out_bill_no": out_bill_no, "transfer_scene_id": "1005", "openid": OPENID,
        "transfer_amount": 5000, "transfer_remark": "佣金提现", "notify_url": notify_url,
        "user_recv_perception": "劳务报酬",
        "transfer_scene_report_infos": [{"info_type": "岗位类型", "info_content": "分销推广员"},
                                        {"info_type": "报酬说明", "info_content": "推广佣金"}],
    }
    data.update(overrides)
    return {k: v for k, v in data.items() if v is not None}


def create(out_bill_no: str, notify_url: str = "", *, serial_header: str = "", **overrides) -> dict:
    status, data = v3.call("test.bill.create", "POST", BILLS, payload=payload(out_bill_no, notify_url, **overrides),
                           serial_header=serial_header)
    assert status == 200
    return data


def refused(out_bill_no: str, notify_url: str = "", *, serial_header: str = "", **overrides) -> dict:
    with pytest.raises(WechatError) as info:
        v3.call("test.bill.create", "POST", BILLS, payload=payload(out_bill_no, notify_url, **overrides),
                serial_header=serial_header)
    return info.value.extra


def query(out_bill_no: str) -> dict:
    status, data = v3.call("test.bill.query", "GET", f"{BILLS}/out-bill-no/{out_bill_no}")
    assert status == 200
    return data


def cancel(out_bill_no: str) -> dict:
    status, data = v3.call("test.bill.cancel", "POST", f"{BILLS}/out-bill-no/{out_bill_no}/cancel")
    assert status == 200
    return data


def helper(server, out_bill_no: str, what: str, **body) -> requests.Response:
    return requests.post(f"{server.url}/wechat-sandbox/transfer-bills/{out_bill_no}/{what}/", json=body or None,
                         timeout=30)


def arm(server, endpoint: str, mode: str, **extra) -> None:
    res = requests.post(f"{server.url}/wechat-sandbox/faults/", json={"endpoint": endpoint, "mode": mode, **extra},
                        timeout=5)
    assert res.status_code == 201, res.text


def encrypted_name(name: str) -> tuple[str, str]:
    """(user_name encrypted with WeChat's key, the serial to name in Wechatpay-Serial)."""
    key = v3.encryption_key()
    return v3.oaep_encrypt(key.public_key, name), key.serial


# --- create --------------------------------------------------------------------------------

def test_create_waits_for_the_user_with_a_package(sandbox):
    no = new_no()
    data = create(no)
    assert data["out_bill_no"] == no
    assert data["state"] == "WAIT_USER_CONFIRM"
    assert len(data["package_info"]) > 40
    assert data["transfer_bill_no"].startswith("1330") and data["create_time"].endswith("+08:00")
    bill = SandboxTransferBill.objects.get(out_bill_no=no)
    assert (bill.state, bill.transfer_amount, bill.openid, bill.package_info, bill.transfer_bill_no) == (
        State.WAIT_USER_CONFIRM, 5000, OPENID, data["package_info"], data["transfer_bill_no"])
    assert bill.report_infos[0] == {"info_type": "岗位类型", "info_content": "分销推广员"}
    other = create(new_no())
    assert other["package_info"] != data["package_info"]
    assert other["transfer_bill_no"] != data["transfer_bill_no"]


def test_same_number_same_content_is_the_same_bill(sandbox):
    no = new_no()
    first = create(no)
    again = create(no)
    assert again == first
    assert SandboxTransferBill.objects.filter(out_bill_no=no).count() == 1
    helper(sandbox, no, "confirm")
    assert create(no)["state"] == "SUCCESS"  # the bill as it is now


def test_same_number_other_content_is_refused(sandbox):
    no = new_no()
    create(no)
    before = list(SandboxTransferBill.objects.values())
    extra = refused(no, transfer_amount=5001)
    assert (extra["v3_code"], extra["http_status"], extra["err_code_des"]) == ("INVALID_REQUEST", 400, "商户单号重复")
    assert refused(no, openid="o-someone-else")["err_code_des"] == "商户单号重复"
    assert list(SandboxTransferBill.objects.values()) == before


def test_user_name_is_decrypted_and_required_from_2000_yuan(sandbox):
    no = new_no()
    cipher, serial = encrypted_name("张三")
    create(no, user_name=cipher, transfer_amount=200_000, serial_header=serial)
    assert SandboxTransferBill.objects.get(out_bill_no=no).user_name == "张三"
    # the same name encrypted again (OAEP is randomised) is the same content
    cipher2, _ = encrypted_name("张三")
    assert cipher2 != cipher
    create(no, user_name=cipher2, transfer_amount=200_000, serial_header=serial)

    none = new_no()
    extra = refused(none, transfer_amount=200_000)
    assert extra["v3_code"] == "PARAM_ERROR" and "user_name" in extra["err_code_des"]
    extra = refused(none, user_name=cipher, transfer_amount=200_000)  # no Wechatpay-Serial
    assert extra["v3_code"] == "PARAM_ERROR" and "Wechatpay-Serial" in extra["err_code_des"]
    extra = refused(none, user_name=cipher, serial_header="0123456789ABCDEF")
    assert extra["v3_code"] == "PARAM_ERROR"
    extra = refused(none, user_name="bm90IGVuY3J5cHRlZA==", serial_header=serial)
    assert (extra["v3_code"], extra["err_code_des"]) == ("PARAM_ERROR", "user_name 解密失败")
    assert not SandboxTransferBill.objects.filter(out_bill_no=none).exists()
    create(none, transfer_amount=199_999)  # just under: no name needed


def test_user_name_with_the_wechat_pay_public_key(sandbox, settings):
    settings.WECHAT_PAY_PUBLIC_KEY = platform_public_key_pem()
    settings.WECHAT_PAY_PUBLIC_KEY_ID = platform_public_key_id()
    no = new_no()
    cipher, serial = encrypted_name("李四")
    assert serial == platform_public_key_id()
    create(no, user_name=cipher, serial_header=serial)
    assert SandboxTransferBill.objects.get(out_bill_no=no).user_name == "李四"


BAD_INPUTS = [
    ({"appid": "wx-another-app"}, "INVALID_REQUEST", "appid 与 mchid 不匹配"),
    ({"openid": ""}, "PARAM_ERROR", "openid"),
    ({"openid": None}, "PARAM_ERROR", "openid"),
    ({"transfer_amount": None}, "PARAM_ERROR", "transfer_amount"),
    ({"transfer_remark": ""}, "PARAM_ERROR", "transfer_remark"),
    ({"transfer_scene_report_infos": []}, "PARAM_ERROR", "transfer_scene_report_infos"),
    ({"transfer_amount": 9}, "PARAM_ERROR", "10 分"),
    ({"transfer_amount": 0}, "PARAM_ERROR", "10 分"),
    ({"transfer_amount": -100}, "PARAM_ERROR", "10 分"),
    ({"transfer_amount": "5000"}, "PARAM_ERROR", "integer"),
    ({"transfer_amount": 50.0}, "PARAM_ERROR", "integer"),
    ({"transfer_amount": True}, "PARAM_ERROR", "integer"),
    ({"transfer_remark": "备" * 33}, "PARAM_ERROR", "32"),
    ({"transfer_scene_id": "1001"}, "NO_AUTH", "未开通该场景"),
    ({"transfer_scene_id": 1005}, "PARAM_ERROR", "transfer_scene_id"),
    ({"transfer_scene_id": "1000"}, "PARAM_ERROR", "活动名称、奖励说明"),
    ({"transfer_scene_id": "1000", "transfer_scene_report_infos": [{"info_type": "活动名称", "info_content": "拉新"}]},
     "PARAM_ERROR", "奖励说明"),
    ({"transfer_scene_report_infos": [{"info_type": "岗位类型", "info_content": "推广员"}]}, "PARAM_ERROR", "报酬说明"),
    ({"transfer_scene_report_infos": [{"info_type": "岗位类型", "info_content": "推广员"},
                                      {"info_type": "报酬说明", "info_content": ""}]}, "PARAM_ERROR", "格式错误"),
    ({"transfer_scene_report_infos": "岗位类型"}, "PARAM_ERROR", "格式错误"),
    ({"notify_url": "ftp://example.com/x"}, "PARAM_ERROR", "notify_url"),
]


@pytest.mark.parametrize(("overrides", "code", "says"), BAD_INPUTS)
def test_bad_input_is_refused_and_no_bill_made(sandbox, overrides, code, says):
    no = new_no()
    extra = refused(no, **overrides)
    assert extra["v3_code"] == code
    assert says in extra["err_code_des"]
    assert extra["http_status"] == (403 if code == "NO_AUTH" else 400)
    assert not SandboxTransferBill.objects.exists()


@pytest.mark.parametrize("out_bill_no", ["W123", "W" * 33, "W-1234567", "W_1234567", "单号12345"])
def test_bad_out_bill_no_is_refused(sandbox, out_bill_no):
    extra = refused(out_bill_no)
    assert (extra["v3_code"], extra["http_status"]) == ("PARAM_ERROR", 400)
    assert not SandboxTransferBill.objects.exists()


def test_a_request_signed_with_another_key_is_refused(sandbox):
    body = json.dumps(payload(new_no()), ensure_ascii=False)
    other_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    auth = v3.authorization("POST", BILLS, body, mchid=conf.WECHAT_MCH_ID, serial=v3.merchant_serial(), key=other_key)
    res = requests.post(f"{v3.api_base_url()}{BILLS}", data=body.encode(), timeout=10,
                        headers={"Authorization": auth, "Content-Type": "application/json"})
    assert res.status_code == 401
    assert v3.signature_valid(res.headers, res.content)  # WeChat signs its refusals too
    assert res.json()["code"] == "SIGN_ERROR"
    # a body changed after signing
    good = v3.authorization("POST", BILLS, body, mchid=conf.WECHAT_MCH_ID, serial=v3.merchant_serial(),
                            key=v3.merchant_private_key())
    res = requests.post(f"{v3.api_base_url()}{BILLS}", data=body.replace("5000", "9000").encode(), timeout=10,
                        headers={"Authorization": good, "Content-Type": "application/json"})
    assert (res.status_code, res.json()["code"]) == (401, "SIGN_ERROR")
    assert not SandboxTransferBill.objects.exists()


# --- query ---------------------------------------------------------------------------------

def test_query_by_both_numbers_and_not_found(sandbox):
    no = new_no()
    made = create(no)
    by_out = query(no)
    status, by_bill = v3.call("test.bill.query", "GET", f"{BILLS}/transfer-bill-no/{made['transfer_bill_no']}")
    assert status == 200 and by_bill == by_out
    assert by_out["state"] == "WAIT_USER_CONFIRM"
    assert (by_out["mch_id"], by_out["appid"], by_out["transfer_amount"], by_out["transfer_remark"],
            by_out["openid"], by_out["transfer_bill_no"]) == (conf.WECHAT_MCH_ID, conf.WECHAT_APPID, 5000,
                                                               "佣金提现", OPENID, made["transfer_bill_no"])
    assert "fail_reason" not in by_out
    assert by_out["create_time"] == made["create_time"]
    for path in (f"{BILLS}/out-bill-no/{new_no()}", f"{BILLS}/transfer-bill-no/1330000000"):
        with pytest.raises(WechatError) as info:
            v3.call("test.bill.query", "GET", path)
        assert (info.value.extra["v3_code"], info.value.extra["http_status"], info.value.extra["err_code_des"]) == (
            "NOT_FOUND", 404, "记录不存在")


# --- the user confirms; callbacks ---------------------------------------------------------

def test_confirm_succeeds_and_the_callback_is_signed_and_sealed(sandbox, recorder):
    no = new_no()
    made = create(no, recorder.url)
    assert recorder.received == []  # nothing is called back while the bill waits
    res = helper(sandbox, no, "confirm")
    assert res.status_code == 200, res.text
    answer = res.json()
    assert (answer["state"], answer["code"], answer["notify_url"]) == ("SUCCESS", "SUCCESS", recorder.url)
    assert len(recorder.received) == 1
    headers, body = recorder.received[0]
    assert v3.signature_valid(_Headers(headers), body)
    callback = recorder.opened()
    assert (callback.event_type, callback.resource_type) == ("MCHTRANSFER.BILL.FINISHED", "encrypt-resource")
    envelope = json.loads(body)
    assert envelope["resource"]["original_type"] == "mch_payment"
    resource = callback.resource
    assert (resource["out_bill_no"], resource["transfer_bill_no"], resource["state"], resource["mch_id"],
            resource["transfer_amount"], resource["openid"]) == (no, made["transfer_bill_no"], "SUCCESS",
                                                                 conf.WECHAT_MCH_ID, 5000, OPENID)
    assert "fail_reason" not in resource and resource["update_time"]
    assert query(no)["state"] == "SUCCESS"

    # confirming a final bill re-sends its callback (WeChat's retry), the state stays
    recorder.status = 500
    again = helper(sandbox, no, "confirm").json()
    assert (again["state"], again["code"]) == ("SUCCESS", "FAIL")
    assert len(recorder.received) == 2 and recorder.opened().resource["state"] == "SUCCESS"
    assert helper(sandbox, no, "confirm", action="fail").json()["state"] == "SUCCESS"  # final stays final


def test_confirm_as_failed(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    answer = helper(sandbox, no, "confirm", action="fail").json()
    assert (answer["state"], answer["fail_reason"]) == ("FAIL", "PAYEE_ACCOUNT_ABNORMAL")
    assert recorder.opened().resource["fail_reason"] == "PAYEE_ACCOUNT_ABNORMAL"
    assert query(no)["fail_reason"] == "PAYEE_ACCOUNT_ABNORMAL"

    other = new_no()
    create(other, recorder.url)
    answer = helper(sandbox, other, "confirm", action="fail", fail_reason="REAL_NAME_CHECK_FAIL").json()
    assert (answer["state"], answer["fail_reason"]) == ("FAIL", "REAL_NAME_CHECK_FAIL")
    assert recorder.opened().resource["fail_reason"] == "REAL_NAME_CHECK_FAIL"


def test_confirm_helper_refuses_bad_requests(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    assert helper(sandbox, no, "confirm", action="maybe").status_code == 400
    assert helper(sandbox, no, "confirm", action="fail", fail_reason="<script>").status_code == 400
    assert helper(sandbox, new_no(), "confirm").status_code == 404
    assert helper(sandbox, new_no(), "expire").status_code == 404
    assert helper(sandbox, new_no(), "notify").status_code == 404
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.WAIT_USER_CONFIRM
    assert recorder.received == []


def test_a_bill_without_notify_url_is_not_called_back(sandbox):
    no = new_no()
    create(no, notify_url=None)
    answer = helper(sandbox, no, "confirm").json()
    assert (answer["state"], answer["code"], answer["notifications"]) == ("SUCCESS", "", [])


def test_expire_cancels_a_waiting_bill(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    answer = helper(sandbox, no, "expire").json()
    assert (answer["state"], answer["code"]) == ("CANCELLED", "SUCCESS")
    assert recorder.opened().resource["state"] == "CANCELLED"
    assert query(no)["state"] == "CANCELLED"
    res = helper(sandbox, no, "expire")
    assert (res.status_code, res.json()["state"]) == (409, "CANCELLED")
    res = helper(sandbox, no, "confirm")  # too late to confirm
    assert (res.status_code, res.json()["state"]) == (409, "CANCELLED")
    assert len(recorder.received) == 1


def test_notify_helper_resends_final_states_only(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    res = helper(sandbox, no, "notify")
    assert (res.status_code, res.json()["state"]) == (409, "WAIT_USER_CONFIRM")
    assert recorder.received == []
    helper(sandbox, no, "confirm")
    answer = helper(sandbox, no, "notify").json()
    assert (answer["state"], answer["code"]) == ("SUCCESS", "SUCCESS")
    assert [recorder.opened(i).resource["state"] for i in range(2)] == ["SUCCESS", "SUCCESS"]


# --- cancel --------------------------------------------------------------------------------

def test_cancel_a_waiting_bill(sandbox, recorder):
    no = new_no()
    made = create(no, recorder.url)
    answer = cancel(no)
    assert (answer["out_bill_no"], answer["transfer_bill_no"], answer["state"]) == (
        no, made["transfer_bill_no"], "CANCELLED")
    assert answer["update_time"]
    assert len(recorder.received) == 1 and recorder.opened().resource["state"] == "CANCELLED"
    assert cancel(no)["state"] == "CANCELLED"  # again: the same answer, no second callback
    assert len(recorder.received) == 1
    assert query(no)["state"] == "CANCELLED"


@pytest.mark.parametrize("action", ["confirm", "fail"])
def test_cancel_after_the_end_is_refused(sandbox, recorder, action):
    no = new_no()
    create(no, recorder.url)
    helper(sandbox, no, "confirm", action=action)
    before = SandboxTransferBill.objects.get(out_bill_no=no)
    with pytest.raises(WechatError) as info:
        v3.call("test.bill.cancel", "POST", f"{BILLS}/out-bill-no/{no}/cancel")
    assert (info.value.extra["v3_code"], info.value.extra["err_code_des"]) == ("INVALID_REQUEST", "当前状态不可撤销")
    after = SandboxTransferBill.objects.get(out_bill_no=no)
    assert (after.state, after.updated_at) == (before.state, before.updated_at)
    assert len(recorder.received) == 1


def test_a_bill_in_transfer_cannot_be_cancelled_then_succeeds(sandbox, recorder, client):
    no = new_no()
    made = create(no, recorder.url)
    answer = helper(sandbox, no, "confirm", action="transfering").json()
    assert (answer["state"], answer["notifications"]) == ("TRANSFERING", [])
    assert query(no)["state"] == "TRANSFERING"
    with pytest.raises(WechatError) as info:
        v3.call("test.bill.cancel", "POST", f"{BILLS}/out-bill-no/{no}/cancel")
    assert info.value.extra["err_code_des"] == "当前状态不可撤销"
    res = client.post("/wechat-sandbox/h5/transfer/", {"package": made["package_info"], "back": "/h5/wallet/"})
    assert res.status_code == 409 and "转账中" in res.content.decode()  # the sheet does not finish it
    res = helper(sandbox, no, "expire")
    assert (res.status_code, res.json()["state"]) == (409, "TRANSFERING")
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.TRANSFERING
    assert recorder.received == []
    assert helper(sandbox, no, "confirm").json()["state"] == "SUCCESS"
    assert recorder.opened().resource["state"] == "SUCCESS"


def test_cancel_unknown_is_not_found(sandbox):
    with pytest.raises(WechatError) as info:
        v3.call("test.bill.cancel", "POST", f"{BILLS}/out-bill-no/{new_no()}/cancel")
    assert (info.value.extra["v3_code"], info.value.extra["http_status"]) == ("NOT_FOUND", 404)


# --- faults --------------------------------------------------------------------------------

def test_timeout_on_create_is_carried_out(sandbox):
    no = new_no()
    arm(sandbox, "v3.bill.create", "timeout")
    with pytest.raises(WechatTimeout):
        v3.call("test.bill.create", "POST", BILLS, payload=payload(no))
    assert query(no)["state"] == "WAIT_USER_CONFIRM"  # the query with the same number finds it
    assert create(no)["state"] == "WAIT_USER_CONFIRM"
    assert SandboxTransferBill.objects.filter(out_bill_no=no).count() == 1


def test_fail_without_outcome_carries_nothing_out(sandbox):
    no = new_no()
    arm(sandbox, "v3.bill.create", "fail", err_code="SYSTEM_ERROR")
    extra = refused(no)
    assert (extra["v3_code"], extra["http_status"], extra["err_code"]) == ("SYSTEM_ERROR", 500, "SYSTEMERROR")
    assert not SandboxTransferBill.objects.exists()


def test_fail_with_outcome_executed_makes_the_bill(sandbox):
    no = new_no()
    arm(sandbox, "v3.bill.create", "fail", err_code="SYSTEMERROR", outcome="executed")  # a v2 code: translated
    assert refused(no)["v3_code"] == "SYSTEM_ERROR"
    assert query(no)["state"] == "WAIT_USER_CONFIRM"
    assert SandboxTransferBill.objects.get(out_bill_no=no).package_info


def test_fail_with_outcome_failed_records_a_failed_bill(sandbox, recorder):
    no = new_no()
    arm(sandbox, "v3.bill.create", "fail", err_code="NOT_ENOUGH", outcome="failed")
    extra = refused(no, recorder.url)
    assert (extra["v3_code"], extra["http_status"]) == ("NOT_ENOUGH", 403)
    state = query(no)
    assert (state["state"], state["fail_reason"]) == ("FAIL", "NOT_ENOUGH")
    bill = SandboxTransferBill.objects.get(out_bill_no=no)
    assert bill.package_info == ""
    assert recorder.opened().resource["state"] == "FAIL"
    again = create(no, recorder.url)  # the same request again: the bill as it is
    assert (again["state"], again["fail_reason"]) == ("FAIL", "NOT_ENOUGH") and "package_info" not in again


def test_fail_with_outcome_failed_on_bad_input_records_nothing(sandbox):
    arm(sandbox, "v3.bill.create", "fail", err_code="SYSTEM_ERROR", outcome="failed")
    refused(new_no(), transfer_amount=1)
    assert not SandboxTransferBill.objects.exists()


def test_bad_signature_on_the_answer(sandbox):
    no = new_no()
    arm(sandbox, "v3.bill.create", "bad_signature")
    with pytest.raises(WechatError) as info:
        v3.call("test.bill.create", "POST", BILLS, payload=payload(no))
    assert info.value.code == "invalid_signature"
    assert query(no)["state"] == "WAIT_USER_CONFIRM"  # carried out
    arm(sandbox, "v3.bill.query", "bad_signature")
    with pytest.raises(WechatError) as info:
        query(no)
    assert info.value.code == "invalid_signature"


def test_http_error_on_query_and_cancel(sandbox):
    no = new_no()
    create(no)
    arm(sandbox, "v3.bill.cancel", "http_error")
    with pytest.raises(WechatError) as info:
        cancel(no)
    assert info.value.code == "wechat_http_error"  # an unsigned HTML 500 tells nothing (uncertain)
    assert query(no)["state"] == "WAIT_USER_CONFIRM"


def test_duplicate_notify_sends_five_copies(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    arm(sandbox, "v3.bill.notify", "duplicate_notify")
    answer = helper(sandbox, no, "confirm").json()
    assert len(answer["notifications"]) == 5
    assert len(recorder.received) == 5
    assert {recorder.opened(i).resource["state"] for i in range(5)} == {"SUCCESS"}


def test_bad_signature_on_the_callback(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    arm(sandbox, "v3.bill.notify", "bad_signature")
    helper(sandbox, no, "confirm")
    headers, body = recorder.received[0]
    assert not v3.signature_valid(_Headers(headers), body)
    with pytest.raises(InvalidSignature):
        recorder.opened()
    helper(sandbox, no, "notify")  # the fault is used up: the retry is good
    assert recorder.opened().resource["state"] == "SUCCESS"


def test_bill_callback_body_with_wrong_content(sandbox, recorder):
    no = new_no()
    create(no, recorder.url)
    bill = SandboxTransferBill.objects.get(out_bill_no=no)
    body = bill_callback_body(bill, transfer_amount=1, mch_id="1999999999", state="SUCCESS")
    results = v3_callback_post(recorder.url, body)
    assert results[0]["code"] == "SUCCESS"
    resource = recorder.opened().resource
    assert (resource["out_bill_no"], resource["transfer_amount"], resource["mch_id"], resource["state"]) == (
        no, 1, "1999999999", "SUCCESS")
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.WAIT_USER_CONFIRM  # only a message


# --- the user's sheet --------------------------------------------------------------------------

def _sheet(client, package: str, back: str = "/h5/wallet/", **extra):
    return client.get("/wechat-sandbox/h5/transfer/", {"package": package, "back": back}, **extra)


def test_sheet_shows_the_transfer_and_confirming_works(sandbox, recorder, client):
    no = new_no()
    made = create(no, recorder.url, transfer_amount=12345, transfer_remark="三月佣金")
    res = _sheet(client, made["package_info"])
    assert res.status_code == 200
    html = res.content.decode()
    assert "¥123.45" in html and "三月佣金" in html and "确认收款" in html and "取消" in html
    assert 'href="/h5/wallet/?transfer=cancelled"' in html
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.WAIT_USER_CONFIRM  # looking is not confirming

    res = client.post("/wechat-sandbox/h5/transfer/", {"package": made["package_info"], "back": "/h5/wallet/?tab=1"},
                      HTTP_ORIGIN="http://testserver")
    assert (res.status_code, res["Location"]) == (302, "/h5/wallet/?tab=1&transfer=confirmed")
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.SUCCESS
    assert recorder.opened().resource["state"] == "SUCCESS"

    html = _sheet(client, made["package_info"]).content.decode()  # a final bill: a clear message, no button
    assert "已收款" in html and "确认收款 · Confirm" not in html
    res = client.post("/wechat-sandbox/h5/transfer/", {"package": made["package_info"]})
    assert res.status_code == 200  # confirming again re-sends the callback (no back: the page says received)
    assert len(recorder.received) == 2


def test_sheet_refuses_unknown_packages_other_sites_and_foreign_backs(sandbox, recorder, client):
    no = new_no()
    made = create(no, recorder.url)
    res = _sheet(client, "not-a-package")
    assert res.status_code == 404 and "没有这笔转账" in res.content.decode()
    assert client.post("/wechat-sandbox/h5/transfer/", {"package": ""}).status_code == 404
    res = client.post("/wechat-sandbox/h5/transfer/", {"package": made["package_info"], "back": "/h5/"},
                      HTTP_ORIGIN="https://evil.example")
    assert res.status_code == 403
    res = client.post("/wechat-sandbox/h5/transfer/", {"package": made["package_info"]},
                      HTTP_REFERER="https://evil.example/page")
    assert res.status_code == 403
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.WAIT_USER_CONFIRM
    assert recorder.received == []
    for back in ("https://evil.example/", "//evil.example/x", "/\\evil.example"):
        html = _sheet(client, made["package_info"], back=back).content.decode()
        assert "evil.example" not in html


def test_sheet_for_a_cancelled_bill(sandbox, recorder, client):
    no = new_no()
    made = create(no, recorder.url)
    cancel(no)
    html = _sheet(client, made["package_info"]).content.decode()
    assert "已撤销" in html and "确认收款 · Confirm" not in html
    res = client.post("/wechat-sandbox/h5/transfer/", {"package": made["package_info"], "back": "/h5/wallet/"})
    assert res.status_code == 409 and "已撤销" in res.content.decode()
    assert SandboxTransferBill.objects.get(out_bill_no=no).state == State.CANCELLED
    assert len(recorder.received) == 1  # the cancel's only


def test_concurrent_creates_make_one_bill(sandbox):
    no = new_no()
    results: list = []

    def one():
        try:
            results.append(create(no)["transfer_bill_no"])
        except Exception as exc:  # noqa: BLE001 - recorded for the assertion
            results.append(exc)

    threads = [threading.Thread(target=one) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(set(results)) == 1 and isinstance(results[0], str), results
    assert SandboxTransferBill.objects.filter(out_bill_no=no).count() == 1
