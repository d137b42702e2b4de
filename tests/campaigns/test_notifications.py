"""Template messages about crowdfunds (campaigns/notifications.py), sent over real HTTP to
the WeChat sandbox: a friend chipped in (to the initiator), the crowdfund's result (to the
initiator, once per status), a contribution refunded (to the contributor); at most once,
nothing queued without a template id, WeChat failures recorded and never raised.

The rows are written straight through the ORM and the notify functions called inside a
transaction the way the services call them; the last tests go through the real flow."""
from __future__ import annotations

import itertools
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import (
    CampaignRefund,
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundStatus,
    RefundReason,
)
from campaigns.notifications import (
    TASK_NAME,
    notify_contribution_paid,
    notify_contribution_refunded,
    notify_crowdfund_result,
    notify_task,
)
from campaigns.services.crowdfunds import crowdfund_cancel, crowdfund_pay_rest
from commissions.models import Notification
from config.celery import app
from tests.campaigns.crowdfund_helpers import IP, chip_in, confirm_refunds, sandbox_pay, start
from tests.concurrency import run_at_once
from tests.factories import UserFactory
from tests.mall.factories import ADDRESS, SkuFactory, order_for
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxTemplateMessage
from wechat.sandbox.mp_views import sandbox_wait_idle

pytestmark = pytest.mark.django_db(transaction=True)

H5 = "https://h5.example.com"
TEMPLATES = {
    "WECHAT_TEMPLATE_CROWDFUND_CONTRIBUTION": "TPL-cf-contribution",
    "WECHAT_TEMPLATE_CROWDFUND_RESULT": "TPL-cf-result",
    "WECHAT_TEMPLATE_CROWDFUND_REFUND": "TPL-cf-refund",
}
S = CrowdfundStatus
K = ContributionStatus
_numbers = itertools.count(1)


@pytest.fixture
def templates(wechat_sandbox, settings):
    for name, value in TEMPLATES.items():
        setattr(settings, name, value)
    settings.WECHAT_TEMPLATE_URL_BASE = H5
    return settings


def sent(template_id=None):
    rows = SandboxTemplateMessage.objects.order_by("pk")
    if template_id:
        rows = rows.filter(template_id=template_id)
    return [(m.touser, m.template_id, {k: v["value"] for k, v in m.data.items()}, m.url) for m in rows]


def minute(moment) -> str:
    return timezone.localtime(moment).strftime("%Y-%m-%d %H:%M")


def crowdfund(*, initiator=None, goal_fen=5000, raised_fen=0, status=S.OPEN, title="众筹一台咖啡机", **fields):
    sku = SkuFactory(price_fen=goal_fen)
    n = next(_numbers)
    return Crowdfund.objects.create(
        initiator=initiator or UserFactory(), product=sku.product, sku=sku, quantity=1, price_fen=goal_fen,
        goal_fen=goal_fen, raised_fen=raised_fen, title=title, sku_name=sku.name, address=dict(ADDRESS),
        status=status, share_code=f"NTF{n:08d}", deadline=timezone.now() + timedelta(hours=24), **fields,
    )


def contribution(cf, amount_fen, *, user=None, status=K.PAID, **fields):
    n = next(_numbers)
    return Contribution.objects.create(
        no=f"CFN{n:010d}", crowdfund=cf, user=user or UserFactory(), amount_fen=amount_fen, status=status,
        reserved_until=timezone.now() + timedelta(minutes=10),
        paid_at=timezone.now() if status == K.PAID else None, **fields,
    )


def refund(c, *, amount_fen=None, reason=RefundReason.EXPIRED, status=CampaignRefundStatus.SUCCEEDED, attempt=1):
    n = next(_numbers)
    return CampaignRefund.objects.create(
        no=f"CFR{n:010d}", contribution=c, amount_fen=amount_fen or c.amount_fen, reason=reason, status=status,
        attempt=attempt,
        finished_at=timezone.now() if status != CampaignRefundStatus.REQUESTED else None,
    )


def in_change(fn, **kwargs):
    """Call a notify function the way the services do: inside the change's transaction."""
    with transaction.atomic():
        fn(**kwargs)


def link(cf) -> str:
    return f"{H5}/crowdfunds/{cf.pk}"


# --- a friend chipped in ----------------------------------------------------------------------


def test_a_paid_contribution_messages_the_initiator_once_with_the_friend_amount_and_progress(templates):
    cf = crowdfund(goal_fen=5000, raised_fen=2000)
    friend = UserFactory(nickname="小李")
    c = contribution(cf, 1500, user=friend)

    in_change(notify_contribution_paid, contribution_id=c.pk)

    assert sent() == [(cf.initiator.openid, "TPL-cf-contribution", {
        "first": "有好友为您的众筹出了一份力",
        "keyword1": "众筹一台咖啡机",
        "keyword2": "小李",
        "keyword3": "15.00元",
        "keyword4": "20.00元 / 50.00元",
        "remark": "还差 30.00元，分享给更多好友吧。",
    }, link(cf))]
    n = Notification.objects.get()
    assert (n.key, n.kind, n.user_id, n.status, n.attempts) == (
        f"crowdfund_contribution:{c.pk}", "crowdfund_contribution", cf.initiator_id, "sent", 1)
    assert n.msgid == SandboxTemplateMessage.objects.get().pk

    in_change(notify_contribution_paid, contribution_id=c.pk)  # the event again
    notify_task.apply(kwargs={"kind": "crowdfund_contribution", "subject_id": c.pk})  # the task redelivered
    app.tasks[TASK_NAME].apply(kwargs={"kind": "crowdfund_contribution", "subject_id": c.pk})  # by its name
    assert len(sent()) == 1 and Notification.objects.count() == 1


def test_an_anonymous_contribution_shows_no_name(templates):
    cf = crowdfund(goal_fen=5000, raised_fen=5000)
    friend = UserFactory(nickname="王小明")
    c = contribution(cf, 5000, user=friend, anonymous=True)

    in_change(notify_contribution_paid, contribution_id=c.pk)

    [(openid, _, data, _)] = sent()
    assert openid == cf.initiator.openid
    assert data["keyword2"] == "匿名好友"
    assert not any("王小明" in value for value in data.values())
    assert data["remark"] == "已筹满，订单已为您下单。"
    assert "王小明" not in str(Notification.objects.get().data)


def test_a_friend_without_nickname_is_a_friend_and_a_long_title_is_cut(templates):
    cf = crowdfund(title="超" * 40)
    c = contribution(cf, 100, user=UserFactory(nickname=""))
    in_change(notify_contribution_paid, contribution_id=c.pk)
    data = sent()[0][2]
    assert (data["keyword1"], data["keyword2"]) == ("超" * 19 + "…", "匿名好友")


def test_the_initiators_own_money_and_unpaid_contributions_are_not_messaged(templates):
    cf = crowdfund()
    own = contribution(cf, 1000, user=cf.initiator, is_rest=True)
    pending = contribution(cf, 1000, status=K.PENDING_PAYMENT)
    refunding = contribution(cf, 1000, status=K.REFUNDING)  # paid when no room was left
    for c in (own, pending, refunding):
        in_change(notify_contribution_paid, contribution_id=c.pk)
    notify_task.apply(kwargs={"kind": "crowdfund_contribution", "subject_id": 999_999})  # no such row
    notify_task.apply(kwargs={"kind": "bogus", "subject_id": own.pk})
    assert sent() == [] and Notification.objects.count() == 0


# --- the crowdfund's result ---------------------------------------------------------------------


def test_an_ordered_crowdfund_tells_the_initiator_the_order_once(templates):
    initiator = UserFactory()
    cf = crowdfund(initiator=initiator, goal_fen=3000, raised_fen=3000, status=S.ORDERED,
                   funded_at=timezone.now())
    order = order_for(initiator, cf.sku, status="paid")
    Crowdfund.objects.filter(pk=cf.pk).update(order=order)

    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)
    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)

    assert sent() == [(initiator.openid, "TPL-cf-result", {
        "first": "您的众筹成功了，订单已下单",
        "keyword1": "众筹一台咖啡机",
        "keyword2": "众筹成功",
        "keyword3": "30.00元",
        "keyword4": minute(cf.funded_at),
        "remark": f"订单 {order.no} 已下单，我们会尽快为您发货。",
    }, link(cf))]
    assert Notification.objects.get().key == f"crowdfund_result:{cf.pk}:ordered"


@pytest.mark.parametrize(("status", "first", "result"), [
    (S.EXPIRED, "您的众筹已到期结束", "已到期"),
    (S.CANCELLED, "您的众筹已取消", "已取消"),
])
def test_an_ended_crowdfund_then_refunded_sends_each_result_once(templates, status, first, result):
    cf = crowdfund(goal_fen=5000, raised_fen=1200, status=status, closed_at=timezone.now())

    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)
    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)  # a duplicate call at the same status
    [(openid, template, data, url)] = sent()
    assert (openid, template, url) == (cf.initiator.openid, "TPL-cf-result", link(cf))
    assert data == {"first": first, "keyword1": "众筹一台咖啡机", "keyword2": result, "keyword3": "12.00元",
                    "keyword4": minute(cf.closed_at), "remark": "好友的助力款正在原路退回。"}

    Crowdfund.objects.filter(pk=cf.pk).update(status=S.REFUNDED)
    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)
    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)
    messages = sent()
    assert len(messages) == 2
    assert (messages[1][2]["first"], messages[1][2]["keyword2"], messages[1][2]["remark"]) == (
        "您的众筹助力款已全部退回", "已全部退款", "好友的助力款已全部原路退回。")
    assert sorted(Notification.objects.values_list("key", "status")) == [
        (f"crowdfund_result:{cf.pk}:{status}", "sent"), (f"crowdfund_result:{cf.pk}:refunded", "sent")]


def test_a_crowdfund_that_ends_with_nothing_raised_just_ends(templates):
    cf = crowdfund(status=S.REFUNDED, closed_at=timezone.now())
    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)
    data = sent()[0][2]
    assert (data["first"], data["keyword2"], data["keyword3"], data["remark"]) == (
        "您的众筹已结束", "已结束", "0.00元", "没有需要退回的助力款。")


def test_an_open_or_funded_crowdfund_has_no_result_to_send(templates):
    for status in (S.OPEN, S.FUNDED):
        in_change(notify_crowdfund_result, crowdfund_id=crowdfund(status=status).pk)
    in_change(notify_crowdfund_result, crowdfund_id=crowdfund(status=S.ORDERED).pk)  # no order: nothing to say
    notify_task.apply(kwargs={"kind": "crowdfund_result", "subject_id": 999_999})
    assert sent() == [] and Notification.objects.count() == 0


# --- a contribution refunded --------------------------------------------------------------------


@pytest.mark.parametrize(("reason", "text"), [
    (RefundReason.EXPIRED, "众筹到期未达成"),
    (RefundReason.CANCELLED, "发起人取消了众筹"),
    (RefundReason.NO_ROOM, "众筹金额已满"),
    (RefundReason.CLOSED, "众筹已结束"),
    (RefundReason.ORDER_REFUND, "众筹订单退款"),
])
def test_a_succeeded_refund_tells_the_contributor_the_amount_and_reason_once(templates, reason, text):
    cf = crowdfund(status=S.EXPIRED)
    friend = UserFactory()
    r = refund(contribution(cf, 1800, user=friend, status=K.REFUNDING), amount_fen=1800, reason=reason)

    in_change(notify_contribution_refunded, refund_id=r.pk)
    in_change(notify_contribution_refunded, refund_id=r.pk)
    notify_task.apply(kwargs={"kind": "crowdfund_refund", "subject_id": r.pk})

    assert sent() == [(friend.openid, "TPL-cf-refund", {
        "first": "您的众筹助力款已退回",
        "keyword1": "众筹一台咖啡机",
        "keyword2": "18.00元",
        "keyword3": text,
        "keyword4": minute(r.finished_at),
        "remark": "款项已原路退回您的支付账户，感谢您的支持。",
    }, link(cf))]
    n = Notification.objects.get()
    assert (n.key, n.user_id, n.status) == (f"crowdfund_refund:{r.pk}", friend.pk, "sent")


def test_a_refund_not_succeeded_is_not_messaged(templates):
    c = contribution(crowdfund(status=S.CANCELLED), 500, status=K.REFUNDING)
    for attempt, status in enumerate((CampaignRefundStatus.FAILED, CampaignRefundStatus.REQUESTED), start=1):
        r = refund(c, reason=RefundReason.CANCELLED, status=status, attempt=attempt)
        in_change(notify_contribution_refunded, refund_id=r.pk)
    assert sent() == [] and Notification.objects.count() == 0


def test_each_attempt_that_succeeds_is_its_own_message(templates):
    """Two partial refunds of a funded order (two CampaignRefund rows) are two messages."""
    c = contribution(crowdfund(status=S.ORDERED), 2000)
    first = refund(c, amount_fen=500, reason=RefundReason.ORDER_REFUND)
    second = CampaignRefund.objects.create(no="CFR-second", contribution=c, amount_fen=700,
                                           reason=RefundReason.ORDER_REFUND, mall_refund_no="R2",
                                           status=CampaignRefundStatus.SUCCEEDED, finished_at=timezone.now())
    in_change(notify_contribution_refunded, refund_id=first.pk)
    in_change(notify_contribution_refunded, refund_id=second.pk)
    assert [m[2]["keyword2"] for m in sent()] == ["5.00元", "7.00元"]


# --- template ids, openids, links -----------------------------------------------------------------


def test_without_a_template_id_nothing_is_queued_or_recorded(templates, django_capture_on_commit_callbacks):
    for name in TEMPLATES:
        setattr(templates, name, "")
    cf = crowdfund(status=S.EXPIRED, raised_fen=1000, closed_at=timezone.now())
    c = contribution(cf, 1000, status=K.REFUNDING)
    r = refund(c)
    paid = contribution(crowdfund(), 300)
    with transaction.atomic(), django_capture_on_commit_callbacks() as callbacks:
        notify_contribution_paid(contribution_id=paid.pk)
        notify_crowdfund_result(crowdfund_id=cf.pk)
        notify_contribution_refunded(refund_id=r.pk)
    assert callbacks == []
    assert sent() == [] and Notification.objects.count() == 0

    templates.WECHAT_TEMPLATE_CROWDFUND_RESULT = "TPL-cf-result"  # one on: only that one is queued
    with transaction.atomic(), django_capture_on_commit_callbacks() as callbacks:
        notify_contribution_paid(contribution_id=paid.pk)
        notify_crowdfund_result(crowdfund_id=cf.pk)
        notify_contribution_refunded(refund_id=r.pk)
    assert len(callbacks) == 1
    assert [m[1] for m in sent()] == ["TPL-cf-result"]


def test_a_template_id_removed_after_queueing_is_recorded_skipped(templates):
    templates.WECHAT_TEMPLATE_CROWDFUND_REFUND = ""
    r = refund(contribution(crowdfund(status=S.EXPIRED), 900, status=K.REFUNDING))
    notify_task.apply(kwargs={"kind": "crowdfund_refund", "subject_id": r.pk})  # queued before it was removed
    assert sent() == []
    assert list(Notification.objects.values_list("status", "error")) == [("skipped", "no template id configured")]


def test_a_user_without_openid_is_skipped(templates):
    initiator = UserFactory(openid=None)
    cf = crowdfund(initiator=initiator, status=S.CANCELLED, raised_fen=500, closed_at=timezone.now())
    friend = UserFactory(openid=None)
    r = refund(contribution(cf, 500, user=friend, status=K.REFUNDING), reason=RefundReason.CANCELLED)

    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)
    in_change(notify_contribution_refunded, refund_id=r.pk)

    assert sent() == []
    assert sorted(Notification.objects.values_list("user_id", "status", "error")) == sorted([
        (initiator.pk, "skipped", "the user has no openid"), (friend.pk, "skipped", "the user has no openid")])


def test_no_link_without_a_url_base(templates):
    templates.WECHAT_TEMPLATE_URL_BASE = ""
    in_change(notify_contribution_paid, contribution_id=contribution(crowdfund(), 100).pk)
    assert sent()[0][3] == ""


# --- WeChat failures and the change's transaction ---------------------------------------------------


def test_a_wechat_error_is_recorded_and_the_change_still_commits(templates):
    cf = crowdfund(status=S.EXPIRED, raised_fen=700, closed_at=timezone.now())
    fault_arm(endpoint="mp.template_send", mode="fail", err_code="43004", times=1)

    with transaction.atomic():
        Crowdfund.objects.filter(pk=cf.pk).update(message="the change")
        notify_crowdfund_result(crowdfund_id=cf.pk)

    assert Crowdfund.objects.get(pk=cf.pk).message == "the change"
    assert sent() == []
    assert list(Notification.objects.values_list("status", "error_code", "msgid")) == [("failed", "43004", None)]
    in_change(notify_crowdfund_result, crowdfund_id=cf.pk)  # a duplicate does not try again
    assert sent() == []


def test_a_timeout_is_retried_and_sent_once(templates, settings):
    settings.WECHAT_HTTP_TIMEOUT = 0.3
    fault_arm(endpoint="mp.template_send", mode="timeout", times=1)
    c = contribution(crowdfund(), 100)
    in_change(notify_contribution_paid, contribution_id=c.pk)
    assert sandbox_wait_idle()

    assert len(sent()) == 1
    assert list(Notification.objects.values_list("status", "attempts")) == [("sent", 2)]


def test_a_rolled_back_change_sends_nothing(templates):
    c = contribution(crowdfund(), 100)
    with pytest.raises(RuntimeError), transaction.atomic():
        notify_contribution_paid(contribution_id=c.pk)
        raise RuntimeError("the payment could not be recorded")
    assert sent() == [] and Notification.objects.count() == 0


def test_the_tasks_of_both_apps_are_registered_by_their_stable_names():
    assert (TASK_NAME, notify_task.name) == ("campaigns.notify", "campaigns.notify")
    assert {"campaigns.notify", "commissions.notify"} <= set(app.tasks)



@pytest.mark.postgres
def test_the_same_result_at_once_in_several_workers_is_sent_once(templates):
    cf = crowdfund(status=S.EXPIRED, raised_fen=100, closed_at=timezone.now())
    run_at_once(lambda i: notify_task.apply(kwargs={"kind": "crowdfund_result", "subject_id": cf.pk}), 6)
    assert len(sent()) == 1
    assert list(Notification.objects.values_list("status", flat=True)) == ["sent"]

# --- through the real flow (the services' calls, WeChat's notifications over HTTP) -----------------


def test_friends_fund_it_the_initiator_hears_of_each_friend_and_of_the_order(templates, wechat_sandbox):
    initiator = UserFactory()
    cf = start(initiator, price_fen=3000)
    friends = [UserFactory(nickname="阿强"), UserFactory(nickname="阿珍")]
    _, pay1 = chip_in(cf, 1000, user=friends[0])
    _, pay2 = chip_in(cf, 1200, user=friends[1], anonymous=True)
    sandbox_pay(wechat_sandbox, pay1)
    sandbox_pay(wechat_sandbox, pay2)
    _, rest = crowdfund_pay_rest(user=initiator, crowdfund_id=cf.pk, client_ip=IP)
    sandbox_pay(wechat_sandbox, rest)

    cf.refresh_from_db()
    assert cf.status == S.ORDERED
    contributions = sent("TPL-cf-contribution")
    assert [(m[0], m[2]["keyword2"], m[2]["keyword3"], m[2]["keyword4"]) for m in contributions] == [
        (initiator.openid, "阿强", "10.00元", "10.00元 / 30.00元"),
        (initiator.openid, "匿名好友", "12.00元", "22.00元 / 30.00元"),
    ]  # the initiator's own rest is not "a friend"
    [(openid, _, data, url)] = sent("TPL-cf-result")
    assert (openid, data["keyword2"], url) == (initiator.openid, "众筹成功", link(cf))
    assert cf.order.no in data["remark"]


def test_a_cancelled_crowdfund_messages_its_end_each_refund_and_the_last_refund(templates, wechat_sandbox):
    initiator = UserFactory()
    cf = start(initiator, price_fen=5000)
    friends = [UserFactory(), UserFactory()]
    for friend, amount in zip(friends, (1000, 2000), strict=True):
        sandbox_pay(wechat_sandbox, chip_in(cf, amount, user=friend)[1])
    crowdfund_cancel(user=initiator, crowdfund_id=cf.pk)
    assert [m[2]["keyword2"] for m in sent("TPL-cf-result")] == ["已取消"]

    assert confirm_refunds(wechat_sandbox, cf) == 2
    cf.refresh_from_db()
    assert cf.status == S.REFUNDED
    refunds = sent("TPL-cf-refund")
    assert sorted((m[0], m[2]["keyword2"], m[2]["keyword3"]) for m in refunds) == sorted([
        (friends[0].openid, "10.00元", "发起人取消了众筹"), (friends[1].openid, "20.00元", "发起人取消了众筹")])
    assert [m[2]["keyword2"] for m in sent("TPL-cf-result")] == ["已取消", "已全部退款"]
    assert Notification.objects.filter(status="sent").count() == 2 + 2 + 2

