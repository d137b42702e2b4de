"""Template messages about red envelopes (campaigns/notifications.py, kind envelope_result),
sent over real HTTP to the WeChat sandbox when an envelope ends — emptied (who had the best
luck) or expired (what was grabbed, what went back) — to its owner and to each of its top
three backers, at most once per (envelope, user); nothing queued without a template id.

Envelopes go through the real services (fill, top up, open, grab, post, expire)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from campaigns.models import EnvelopeShare, EnvelopeStatus, RedEnvelope
from campaigns.notifications import notify_envelope_result, notify_task
from campaigns.services import envelopes as env_services
from commissions.models import Notification
from core.jobs import job_run
from tests.factories import UserFactory
from wechat.sandbox.faults import fault_arm
from wechat.sandbox.models import SandboxTemplateMessage

from .envelope_helpers import owner_with
from .ops_envelope_helpers import funding, grab, open_it

pytestmark = pytest.mark.django_db(transaction=True)

H5 = "https://h5.example.com"
TPL = "TPL-envelope-result"
E = EnvelopeStatus


@pytest.fixture
def templates(wechat_sandbox, settings):
    settings.WECHAT_TEMPLATE_ENVELOPE_RESULT = TPL
    settings.WECHAT_TEMPLATE_URL_BASE = H5
    return settings


def sent() -> list[tuple[str, dict, str]]:
    return [(m.touser, {k: v["value"] for k, v in m.data.items()}, m.url)
            for m in SandboxTemplateMessage.objects.filter(template_id=TPL).order_by("pk")]


def backed(*, total_fen=1_000, count=4, top_ups=(300, 500, 100, 200), greeting=""):
    """A funding envelope and its fans, each topping it up from the wallet (in that order)."""
    owner = owner_with(total_fen)
    env, _ = env_services.envelope_create(owner=owner, total_fen=total_fen, count=count, greeting=greeting)
    fans = []
    for amount in top_ups:
        fan = owner_with(amount)
        env_services.envelope_top_up(user=fan, envelope_id=env.pk, amount_fen=amount)
        fans.append(fan)
    return env, owner, fans


def expire(env) -> RedEnvelope:
    RedEnvelope.objects.filter(pk=env.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert job_run(name="campaigns.expire_envelopes")["expired"] == 1
    env.refresh_from_db()
    return env


def test_an_emptied_envelope_tells_the_owner_and_the_top_three_backers_who_had_the_best_luck(templates):
    env, owner, fans = backed(greeting="恭喜发财")
    env = open_it(env)
    grab(env, 4)
    env.refresh_from_db()
    assert env.status == E.EMPTY
    best = EnvelopeShare.objects.select_related("user").get(envelope=env, position=env.best_position)
    messages = sent()
    # 500, 300, 200 are the top three; the 100 fan hears nothing
    assert [m[0] for m in messages] == [owner.openid, fans[1].openid, fans[0].openid, fans[3].openid]
    owner_data = messages[0][1]
    assert owner_data["first"] == "您的红包已被抢光"
    assert owner_data["keyword1"] == "恭喜发财"
    assert owner_data["keyword2"] == "已抢光（4/4个）"
    assert owner_data["keyword3"] == "21.00元 / 21.00元"
    assert owner_data["keyword4"] == timezone.localtime(env.closed_at).strftime("%Y-%m-%d %H:%M")
    assert best.user.nickname
    assert owner_data["remark"] == f"手气最佳：{best.user.nickname[:20]}，抢到 {best.amount_fen / 100:.2f}元。"
    assert messages[1][1]["first"] == "您助力的红包已被抢光" and messages[1][1]["remark"] == owner_data["remark"]
    assert {m[2] for m in messages} == {f"{H5}/red-envelopes/{env.pk}"}
    keys = set(Notification.objects.values_list("key", flat=True))
    assert keys == {f"envelope_result:{env.pk}:{u.pk}" for u in (owner, fans[1], fans[0], fans[3])}


def test_an_expired_envelope_tells_what_was_grabbed_and_what_went_back(templates):
    env, owner, fans = backed(total_fen=1_000, count=5, top_ups=(500,))
    env = open_it(env)
    grab(env, 2)
    env = expire(env)
    got = env.pool_fen - env.returned_fen
    [(to_owner, data, _), (to_fan, fan_data, _)] = sent()
    assert (to_owner, to_fan) == (owner.openid, fans[0].openid)
    assert data["first"] == "您的红包已到期" and data["keyword1"] == "红包"
    assert data["keyword2"] == "已到期（领取 2/5个）"
    assert data["keyword3"] == f"{got / 100:.2f}元 / 15.00元"
    assert data["remark"] == f"未领取的 {env.returned_fen / 100:.2f}元 已退回您的钱包。"
    assert fan_data["first"] == "您助力的红包已到期"
    assert fan_data["remark"] == f"未领取的 {env.returned_fen / 100:.2f}元 已退回发红包的人。"


def test_the_result_is_sent_once_per_envelope_and_user(templates):
    env, owner, fans = backed(top_ups=(100,))
    env = open_it(env)
    grab(env, 1)
    env = expire(env)
    assert len(sent()) == 2
    with transaction.atomic():
        notify_envelope_result(envelope_id=env.pk)  # the event again
    notify_task.apply(kwargs={"kind": "envelope_result", "subject_id": env.pk})  # the task redelivered
    assert len(sent()) == 2 and Notification.objects.count() == 2


def test_the_owner_backing_their_own_envelope_hears_once(templates):
    owner = owner_with(1_500)
    env, _ = env_services.envelope_create(owner=owner, total_fen=1_000, count=2)
    env_services.envelope_top_up(user=owner, envelope_id=env.pk, amount_fen=500)
    env = open_it(env)
    grab(env, 2)
    assert [m[0] for m in sent()] == [owner.openid]
    assert sent()[0][1]["first"] == "您的红包已被抢光"


def test_nothing_is_sent_before_the_envelope_ends(templates):
    env, owner, fans = backed(top_ups=(100,))
    notify_task.apply(kwargs={"kind": "envelope_result", "subject_id": env.pk})  # funding
    env = open_it(env)
    grab(env, 2)  # two of four: still active
    notify_task.apply(kwargs={"kind": "envelope_result", "subject_id": env.pk})
    notify_task.apply(kwargs={"kind": "envelope_result", "subject_id": 999_999})  # no such envelope
    assert sent() == [] and Notification.objects.count() == 0


def test_without_a_template_id_nothing_is_queued(templates):
    templates.WECHAT_TEMPLATE_ENVELOPE_RESULT = ""
    env = open_it(funding(total_fen=200, count=2))
    grab(env, 2)
    env.refresh_from_db()
    assert env.status == E.EMPTY
    assert sent() == [] and Notification.objects.count() == 0


def test_a_user_without_openid_is_recorded_skipped_and_a_wechat_error_never_fails_the_expiry(templates):
    env, owner, fans = backed(top_ups=(100,))
    type(owner).objects.filter(pk=fans[0].pk).update(openid=None)
    env = open_it(env)
    fault_arm(endpoint="mp.template_send", mode="fail", err_code="43004", times=1)
    env = expire(env)
    assert env.status == E.EXPIRED and env.returned_fen == env.pool_fen
    assert sent() == []
    assert sorted(Notification.objects.values_list("user_id", "status")) == sorted(
        [(owner.pk, "failed"), (fans[0].pk, "skipped")])
    remark = Notification.objects.get(user=owner).data["remark"]
    assert remark == f"未领取的 {env.pool_fen / 100:.2f}元 已退回您的钱包。"


def test_a_rolled_back_expiry_sends_nothing(templates, monkeypatch):
    env = open_it(funding(total_fen=200, count=2))
    RedEnvelope.objects.filter(pk=env.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    from campaigns.services import envelopes as services

    def boom(**kwargs):
        raise RuntimeError("the return posting failed")

    monkeypatch.setattr(services, "ledger_post", boom)
    with pytest.raises(RuntimeError):
        services.envelope_expire(envelope_id=env.pk)
    assert RedEnvelope.objects.get(pk=env.pk).status == E.ACTIVE
    assert sent() == [] and Notification.objects.count() == 0
    assert UserFactory()  # the database is still usable
