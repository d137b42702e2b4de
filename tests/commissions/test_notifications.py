"""Template messages to distributors (commissions/notifications.py), sent over real HTTP to
the WeChat sandbox: commission accrued and settled, withdrawal paid / rejected / failed; at
most once per event and user; WeChat failures recorded and never raised into the change."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from commissions.models import Commission, Notification, Withdrawal
from commissions.notifications import (
    TASK_NAME,
    notify_commission_accrued,
    notify_task,
    notify_withdrawal_paid,
    notify_withdrawal_rejected,
    yuan,
)
from commissions.services.settlement import commissions_settle
from commissions.services.withdrawals import withdrawal_approve, withdrawal_reject, withdrawal_request
from config.celery import app
from mall.models import Order
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, UserFactory, distribution_settings_set
from tests.mall.orders_helpers import make_sku
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxTemplateMessage
from wechat.sandbox.mp_views import sandbox_wait_idle

from .accrual_helpers import attributed_order, pay
from .wallet_helpers import funded_distributor, wallet, withdrawal_settings

H5 = "https://h5.example.com"
TEMPLATES = {
    "WECHAT_TEMPLATE_COMMISSION_ACCRUED": "TPL-accrued",
    "WECHAT_TEMPLATE_COMMISSION_SETTLED": "TPL-settled",
    "WECHAT_TEMPLATE_WITHDRAWAL_PAID": "TPL-paid",
    "WECHAT_TEMPLATE_WITHDRAWAL_REJECTED": "TPL-rejected",
    "WECHAT_TEMPLATE_WITHDRAWAL_FAILED": "TPL-failed",
}


@pytest.fixture
def templates(wechat_sandbox, settings):
    for name, value in TEMPLATES.items():
        setattr(settings, name, value)
    settings.WECHAT_TEMPLATE_URL_BASE = H5
    return settings


@pytest.fixture
def two_levels(templates):
    distribution_settings_set(default_level1_bps=1000, default_level2_bps=500, levels=2, freeze_days=7)
    top = DistributorFactory()
    mid = DistributorFactory(inviter=top)
    return mid, top


def sent(template_id=None):
    rows = SandboxTemplateMessage.objects.order_by("pk")
    if template_id:
        rows = rows.filter(template_id=template_id)
    return [(m.touser, m.template_id, {k: v["value"] for k, v in m.data.items()}, m.url) for m in rows]


def paid_order(mid, top, price_fen=1000, txn="4200000000000000000000000101"):
    order = attributed_order(UserFactory(), [(make_sku(price_fen=price_fen), 1)], level1=mid, level2=top)
    pay(order, txn=txn)
    return Order.objects.get(pk=order.pk)


# --- commission accrued -------------------------------------------------------------------


def test_a_paid_order_messages_each_beneficiary_once_with_the_amount(two_levels):
    mid, top = two_levels
    order = paid_order(mid, top)

    messages = sent()
    assert len(messages) == 2
    by_user = {m[0]: m for m in messages}
    assert set(by_user) == {mid.user.openid, top.user.openid}
    _, template, data, url = by_user[mid.user.openid]
    assert (template, url) == ("TPL-accrued", f"{H5}/distributor/commissions")
    assert (data["keyword1"], data["keyword2"]) == (order.no, "1.00元")  # 10 % of 10.00
    assert by_user[top.user.openid][2]["keyword2"] == "0.50元"  # 5 %
    assert set(data) == {"first", "keyword1", "keyword2", "keyword3", "remark"}
    rows = Notification.objects.order_by("user_id")
    assert {(n.key, n.status, n.attempts) for n in rows} == {
        (f"commission_accrued:{order.pk}:{mid.user_id}", "sent", 1),
        (f"commission_accrued:{order.pk}:{top.user_id}", "sent", 1),
    }
    assert {n.msgid for n in rows} == set(SandboxTemplateMessage.objects.values_list("pk", flat=True))


def test_duplicate_events_and_redelivered_tasks_message_once(two_levels):
    mid, top = two_levels
    order = paid_order(mid, top)
    assert len(sent()) == 2

    pay(order)  # the same payment notification again
    notify_commission_accrued(order_id=order.pk)  # the event itself again (no transaction: runs at once)
    notify_task.apply(kwargs={"kind": "commission_accrued", "subject_id": order.pk})  # the task redelivered
    app.tasks[TASK_NAME].apply(kwargs={"kind": "commission_accrued", "subject_id": order.pk})  # by its name

    assert len(sent()) == 2
    assert Notification.objects.count() == 2


def test_an_order_without_commissions_messages_nobody(two_levels):
    pay(attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)]))
    assert Commission.objects.count() == 0
    assert sent() == [] and Notification.objects.count() == 0


def test_a_rolled_back_change_sends_nothing(two_levels):
    mid, top = two_levels
    order = paid_order(mid, top)
    SandboxTemplateMessage.objects.all().delete()
    Notification.objects.all().delete()
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_commission_accrued(order_id=order.pk)
        raise RuntimeError("the state change failed")
    assert sent() == [] and Notification.objects.count() == 0


# --- template ids and openids -------------------------------------------------------------


def test_an_empty_template_id_sends_and_records_nothing(two_levels, templates):
    mid, top = two_levels
    templates.WECHAT_TEMPLATE_COMMISSION_ACCRUED = ""
    order = paid_order(mid, top)

    assert Commission.objects.filter(order=order).count() == 2  # the payment and accrual went through
    assert order.status == "paid"
    assert sent() == [] and Notification.objects.count() == 0


def test_a_template_id_removed_after_queueing_is_recorded_as_skipped(two_levels, templates):
    mid, top = two_levels
    templates.WECHAT_TEMPLATE_COMMISSION_ACCRUED = ""
    order = paid_order(mid, top)
    notify_task.apply(kwargs={"kind": "commission_accrued", "subject_id": order.pk})  # queued before the change

    assert sent() == []
    assert set(Notification.objects.values_list("status", "error")) == {("skipped", "no template id configured")}
    templates.WECHAT_TEMPLATE_COMMISSION_ACCRUED = "TPL-accrued"
    notify_task.apply(kwargs={"kind": "commission_accrued", "subject_id": order.pk})
    assert sent() == []  # skipped is final: still at most once


def test_a_user_without_openid_is_skipped(two_levels):
    mid, top = two_levels
    type(mid.user).objects.filter(pk=mid.user_id).update(openid=None)
    paid_order(mid, top)

    assert [m[0] for m in sent()] == [top.user.openid]
    assert Notification.objects.get(user=mid.user).status == "skipped"


# --- WeChat failures ------------------------------------------------------------------------


def test_user_not_following_is_recorded_and_the_payment_still_succeeds(two_levels):
    mid, top = two_levels
    fault_arm(endpoint="mp.template_send", mode="fail", err_code="43004", times=2)
    order = paid_order(mid, top)

    assert order.status == "paid"
    assert Commission.objects.filter(order=order).count() == 2
    assert sent() == []
    assert set(Notification.objects.values_list("status", "error_code", "msgid")) == {("failed", "43004", None)}

    notify_commission_accrued(order_id=order.pk)  # a duplicate event does not try again
    assert sent() == []


def test_http_error_is_recorded(two_levels):
    mid, top = two_levels
    fault_arm(endpoint="mp.template_send", mode="http_error", times=1)
    paid_order(mid, top)

    assert sorted(Notification.objects.values_list("status", flat=True)) == ["failed", "sent"]
    assert Notification.objects.get(status="failed").error_code == "wechat_error"
    assert len(sent()) == 1


def test_a_timeout_is_retried_and_sent_once(two_levels, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    mid, top = two_levels
    fault_arm(endpoint="mp.template_send", mode="timeout", times=1)
    paid_order(mid, top)
    assert sandbox_wait_idle()

    assert len(sent()) == 2
    assert sorted(Notification.objects.values_list("status", "attempts")) == [("sent", 1), ("sent", 2)]


def test_timeouts_past_the_retries_are_recorded_and_the_payment_still_succeeds(two_levels, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    mid, top = two_levels
    Commission.objects.all().delete()
    fault_arm(endpoint="mp.template_send", mode="timeout", times=3)
    order = attributed_order(UserFactory(), [(make_sku(price_fen=1000), 1)], level1=mid)  # one beneficiary
    pay(order)
    assert sandbox_wait_idle()

    assert Order.objects.get(pk=order.pk).status == "paid"
    assert sent() == []
    n = Notification.objects.get()
    assert (n.status, n.error_code, n.attempts) == ("failed", "wechat_timeout", 3)


# --- settlement ------------------------------------------------------------------------------


def test_settlement_messages_each_user_their_total_once(two_levels):
    mid, top = two_levels
    orders = [paid_order(mid, top, price_fen=p, txn=f"42000000000000000000000002{i:02d}")
              for i, p in enumerate((1000, 3000))]
    Commission.objects.filter(order__in=orders).update(status="frozen",
                                                       settles_at=timezone.now() - timedelta(minutes=1))
    assert commissions_settle()["settled"] == 4

    messages = {m[0]: m for m in sent("TPL-settled")}
    assert set(messages) == {mid.user.openid, top.user.openid}
    assert messages[mid.user.openid][2]["keyword1"] == "4.00元"  # 1.00 + 3.00
    assert messages[top.user.openid][2]["keyword1"] == "2.00元"  # 0.50 + 1.50
    assert messages[mid.user.openid][3] == f"{H5}/distributor/commissions"

    assert commissions_settle()["settled"] == 0  # nothing more to settle: no more messages
    key = Notification.objects.get(kind="commissions_settled", user=mid.user).key
    batch = key.split(":")[1]
    notify_task.apply(kwargs={"kind": "commissions_settled", "batch": batch,
                              "user_amounts": [[mid.user_id, 400], [top.user_id, 200]]})  # redelivered
    assert len(sent("TPL-settled")) == 2


# --- withdrawals ------------------------------------------------------------------------------


@pytest.fixture
def operator_user(db):
    return UserFactory(is_staff=True)


def test_a_paid_withdrawal_is_messaged_once(templates, operator_user):
    withdrawal_settings(withdrawal_fee_bps=100)
    distributor = funded_distributor(10_000)
    w = withdrawal_request(user=distributor.user, amount_fen=5000)
    withdrawal_approve(operator=operator_user, withdrawal_id=w.pk)  # the payout runs eagerly through the sandbox
    w = Withdrawal.objects.get(pk=w.pk)
    assert w.status == "paid"

    assert sent() == [(distributor.user.openid, "TPL-paid",
                       {"first": "您的提现已到账微信零钱", "keyword1": "50.00元", "keyword2": "49.50元",
                        "keyword3": timezone.localtime(w.paid_at).strftime("%Y-%m-%d %H:%M"),
                        "remark": "手续费 0.50元。"},
                       f"{H5}/distributor/withdrawals/{w.pk}")]
    notify_withdrawal_paid(withdrawal_id=w.pk)
    assert len(sent()) == 1
    assert Notification.objects.get().key == f"withdrawal_paid:{w.pk}"


def test_a_rejected_withdrawal_is_messaged_with_the_reason(templates, operator_user):
    withdrawal_settings()
    distributor = funded_distributor(10_000)
    w = withdrawal_request(user=distributor.user, amount_fen=3000)
    withdrawal_reject(operator=operator_user, withdrawal_id=w.pk, reason="资料不全")

    [(openid, template, data, url)] = sent()
    assert (openid, template, url) == (distributor.user.openid, "TPL-rejected", f"{H5}/distributor/withdrawals/{w.pk}")
    assert (data["keyword1"], data["keyword2"]) == ("30.00元", "资料不全")
    assert wallet(distributor.user)["user_wallet"] == 10_000


def test_a_failed_withdrawal_is_messaged(templates, operator_user):
    withdrawal_settings(withdrawal_min_fen=10)
    distributor = funded_distributor(10_000)
    w = withdrawal_request(user=distributor.user, amount_fen=20)  # WeChat's minimum is 0.30: AMOUNT_LIMIT
    withdrawal_approve(operator=operator_user, withdrawal_id=w.pk)
    assert Withdrawal.objects.get(pk=w.pk).status == "failed"

    [(openid, template, data, _)] = sent()
    assert (openid, template, data["first"], data["keyword1"]) == (
        distributor.user.openid, "TPL-failed", "您的提现未能到账", "0.20元")


def test_a_withdrawal_not_in_the_notified_status_is_not_messaged(templates, operator_user):
    withdrawal_settings()
    distributor = funded_distributor(10_000)
    w = withdrawal_request(user=distributor.user, amount_fen=3000)
    notify_withdrawal_paid(withdrawal_id=w.pk)  # still requested
    notify_withdrawal_rejected(withdrawal_id=w.pk)
    notify_task.apply(kwargs={"kind": "withdrawal_paid", "subject_id": 999_999})  # no such withdrawal
    notify_task.apply(kwargs={"kind": "bogus", "subject_id": w.pk})
    assert sent() == [] and Notification.objects.count() == 0


def test_a_long_rejection_reason_is_cut_for_the_template(templates, operator_user):
    withdrawal_settings()
    distributor = funded_distributor(10_000)
    w = withdrawal_request(user=distributor.user, amount_fen=3000)
    withdrawal_reject(operator=operator_user, withdrawal_id=w.pk, reason="很" * 60)
    value = sent()[0][2]["keyword2"]
    assert value == "很" * 19 + "…"


def test_no_link_without_a_url_base(templates, operator_user):
    templates.WECHAT_TEMPLATE_URL_BASE = ""
    withdrawal_settings()
    distributor = funded_distributor(10_000)
    w = withdrawal_request(user=distributor.user, amount_fen=3000)
    withdrawal_reject(operator=operator_user, withdrawal_id=w.pk, reason="x")
    assert sent()[0][3] == ""


# --- at most once under concurrency -----------------------------------------------------------


@pytest.mark.postgres
def test_the_same_event_at_once_messages_once(two_levels):
    mid, top = two_levels
    order = paid_order(mid, top)
    SandboxTemplateMessage.objects.all().delete()
    Notification.objects.all().delete()
    run_at_once(lambda i: notify_task.apply(kwargs={"kind": "commission_accrued", "subject_id": order.pk}), 6)
    assert len(sent()) == 2
    assert sorted(Notification.objects.values_list("status", flat=True)) == ["sent", "sent"]


def test_yuan_formats_fen_exactly():
    assert [yuan(v) for v in (0, 5, 99, 100, 123456, -250)] == [
        "0.00元", "0.05元", "0.99元", "1.00元", "1234.56元", "-2.50元"]


def test_notifications_are_read_only_in_the_admin(operator):
    from django.test import Client

    row = Notification.objects.create(key="withdrawal_paid:1", kind="withdrawal_paid", user=operator,
                                      status="sent", msgid=42)
    client = Client()
    client.force_login(operator)
    listing = client.get("/admin/commissions/notification/?status=sent")
    assert listing.status_code == 200 and b"withdrawal_paid" in listing.content
    assert client.get(f"/admin/commissions/notification/{row.pk}/change/").status_code == 200
    assert client.post("/admin/commissions/notification/add/", {"key": "x"}).status_code == 403
    assert client.post(f"/admin/commissions/notification/{row.pk}/delete/", {"post": "yes"}).status_code == 403
    assert Notification.objects.filter(pk=row.pk, status="sent").exists()
