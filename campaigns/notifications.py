"""Template messages (模板消息) about crowdfunds — a friend chipped in, the crowdfund's result,
a contribution refunded — and red envelopes: the envelope's result when it ends.

Sent with the machinery of commissions/notifications.py (its module doc tells the rules):

* The `notify_*` functions are called inside the transaction of the state change; they only
  schedule the Celery task `campaigns.notify` (JSON args: kind, subject_id) with
  `transaction.on_commit(robust=True)`. A rolled-back change sends nothing; a broker outage
  or a failing message never fails the payment, the close or the refund.
* At most once per key, through a `commissions.Notification` row claimed before WeChat is
  called: "crowdfund_contribution:<contribution_id>", "crowdfund_result:<crowdfund_id>:<status>",
  "crowdfund_refund:<campaign_refund_id>". WeChat's errors are recorded on the row, never
  raised; timeouts are retried (commissions.notifications.MAX_RETRIES).
* No template id configured for a kind (WECHAT_TEMPLATE_CROWDFUND_CONTRIBUTION / _RESULT /
  _REFUND, "" by default): nothing is queued. A user without openid: recorded `skipped`.
* The task reads the rows when it runs and sends what is true then: a contribution only
  while it is `paid` (and not the initiator's own), a refund only once `succeeded`, and the
  crowdfund's result for the status it has *now* (ordered, expired, cancelled or refunded;
  open and the instant `funded` send nothing). The result is called at each of those moves
  and keyed on (crowdfund, status), so each result is sent at most once; a task that runs
  after the crowdfund has moved on (expired, then refunded before the task ran) sends the
  later result, and the later call finds it sent.

Red envelopes: `notify_envelope_result` is called in the transaction that moves an envelope
to `expired` (envelopes.envelope_expire) or `empty` (envelope_posting._empty_maybe); the
task sends the result to the owner and to each of the top three backers
(selectors.envelopes.envelopes_top_backers), keyed "envelope_result:<envelope_id>:<user_id>"
— at most once per (envelope, user), a backer who is also the owner gets one. Nothing is
sent for an envelope that is not (yet) empty or expired. Template id
WECHAT_TEMPLATE_ENVELOPE_RESULT ("" by default: nothing queued).

Template data (classic first / keyword1… / remark; values are strings, amounts "12.34元",
times "YYYY-MM-DD HH:MM" shop time); links WECHAT_TEMPLATE_URL_BASE + "/crowdfunds/<id>":

  crowdfund_contribution (to the initiator) first, keyword1 crowdfund title, keyword2 the
      friend (nickname, or 匿名好友 for an anonymous one), keyword3 amount, keyword4 raised /
      goal, remark what is still missing
  crowdfund_result (to the initiator) first, keyword1 title, keyword2 result, keyword3 raised,
      keyword4 time, remark (the order number when ordered; the refunds otherwise)
  crowdfund_refund (to the contributor) first, keyword1 title, keyword2 amount refunded,
      keyword3 reason, keyword4 time, remark
  envelope_result (to the owner and the top three backers; link "/red-envelopes/<id>") first,
      keyword1 the greeting (or 红包), keyword2 result (已抢光 / 已到期, shares grabbed of all),
      keyword3 grabbed amount / pool, keyword4 time it ended, remark (empty: who had the best
      luck and how much; expired: what nobody grabbed, back to the owner's wallet)
"""
from __future__ import annotations

import logging

from celery import shared_task
from django.db.models import Count, Sum

from accounts.models import User
from commissions.notifications import (
    MAX_RETRIES,
    Message,
    message_schedule,
    messages_run,
    template_link,
    template_setting,
    template_text,
    template_time,
    yuan,
)

from .models import (
    CampaignRefund,
    CampaignRefundStatus,
    Contribution,
    ContributionStatus,
    Crowdfund,
    CrowdfundStatus,
    EnvelopeShare,
    EnvelopeStatus,
    RedEnvelope,
    RefundReason,
)
from .selectors.envelopes import envelopes_top_backers

logger = logging.getLogger(__name__)

TASK_NAME = "campaigns.notify"


class Kind:
    CONTRIBUTION_PAID = "crowdfund_contribution"
    CROWDFUND_RESULT = "crowdfund_result"
    CONTRIBUTION_REFUNDED = "crowdfund_refund"
    ENVELOPE_RESULT = "envelope_result"


TEMPLATE_SETTINGS = {
    Kind.CONTRIBUTION_PAID: "WECHAT_TEMPLATE_CROWDFUND_CONTRIBUTION",
    Kind.CROWDFUND_RESULT: "WECHAT_TEMPLATE_CROWDFUND_RESULT",
    Kind.CONTRIBUTION_REFUNDED: "WECHAT_TEMPLATE_CROWDFUND_REFUND",
    Kind.ENVELOPE_RESULT: "WECHAT_TEMPLATE_ENVELOPE_RESULT",
}

ANONYMOUS = "匿名好友"

S = CrowdfundStatus
RESULT_STATUSES = frozenset({S.ORDERED, S.EXPIRED, S.CANCELLED, S.REFUNDED})

REASON_TEXT = {
    RefundReason.EXPIRED: "众筹到期未达成",
    RefundReason.CANCELLED: "发起人取消了众筹",
    RefundReason.NO_ROOM: "众筹金额已满",
    RefundReason.CLOSED: "众筹已结束",
    RefundReason.ORDER_REFUND: "众筹订单退款",
}


def _template_id(kind: str) -> str:
    return template_setting(TEMPLATE_SETTINGS[kind])


def _schedule(kind: str, subject_id: int) -> None:
    message_schedule(notify_task, template_id=_template_id(kind), kind=kind, subject_id=int(subject_id))


# --- what the state changes call (inside their transaction) ---------------------------


def notify_contribution_paid(*, contribution_id: int) -> None:
    """A contribution was paid and counted: its crowdfund's initiator is told."""
    _schedule(Kind.CONTRIBUTION_PAID, contribution_id)


def notify_crowdfund_result(*, crowdfund_id: int) -> None:
    """The crowdfund was ordered, expired, cancelled or refunded: its initiator is told (once per status)."""
    _schedule(Kind.CROWDFUND_RESULT, crowdfund_id)


def notify_contribution_refunded(*, refund_id: int) -> None:
    """A CampaignRefund succeeded: its contributor is told."""
    _schedule(Kind.CONTRIBUTION_REFUNDED, refund_id)


def notify_envelope_result(*, envelope_id: int) -> None:
    """A red envelope ended (empty or expired): its owner and top three backers are told (once each)."""
    _schedule(Kind.ENVELOPE_RESULT, envelope_id)


# --- building the messages -------------------------------------------------------------


def _link(cf_id: int) -> str | None:
    return template_link(f"/crowdfunds/{cf_id}")


def _contribution_messages(contribution_id: int) -> list[Message]:
    c = (Contribution.objects.select_related("user", "crowdfund__initiator")
         .filter(pk=contribution_id).first())
    if c is None:
        logger.warning("%s: contribution %s not found", TASK_NAME, contribution_id)
        return []
    cf = c.crowdfund
    if c.status != ContributionStatus.PAID:
        logger.info("%s: contribution %s is %s; not sent", TASK_NAME, c.pk, c.status)
        return []
    if c.is_rest or c.user_id == cf.initiator_id:
        return []  # the initiator's own money is no friend's (the result message follows)
    missing = max(cf.goal_fen - cf.raised_fen, 0)
    friend = ANONYMOUS if c.anonymous else template_text(c.user.nickname or ANONYMOUS)
    return [Message(
        key=f"{Kind.CONTRIBUTION_PAID}:{c.pk}", kind=Kind.CONTRIBUTION_PAID, user=cf.initiator,
        template_id=_template_id(Kind.CONTRIBUTION_PAID), url=_link(cf.pk),
        data={
            "first": "有好友为您的众筹出了一份力",
            "keyword1": template_text(cf.title),
            "keyword2": friend,
            "keyword3": yuan(c.amount_fen),
            "keyword4": f"{yuan(cf.raised_fen)} / {yuan(cf.goal_fen)}",
            "remark": f"还差 {yuan(missing)}，分享给更多好友吧。" if missing else "已筹满，订单已为您下单。",
        },
    )]


def _result_data(cf: Crowdfund) -> dict | None:
    if cf.status == S.ORDERED:
        if cf.order is None:
            return None
        first, result, moment = "您的众筹成功了，订单已下单", "众筹成功", cf.funded_at
        remark = f"订单 {cf.order.no} 已下单，我们会尽快为您发货。"
    elif cf.status in (S.EXPIRED, S.CANCELLED):
        expired = cf.status == S.EXPIRED
        first = "您的众筹已到期结束" if expired else "您的众筹已取消"
        result, moment = ("已到期" if expired else "已取消"), cf.closed_at
        remark = "好友的助力款正在原路退回。"
    else:  # refunded
        first, result, moment = "您的众筹助力款已全部退回", "已全部退款", None
        remark = "好友的助力款已全部原路退回。"
        if not cf.raised_fen:
            first, result, remark = "您的众筹已结束", "已结束", "没有需要退回的助力款。"
    return {
        "first": first,
        "keyword1": template_text(cf.title),
        "keyword2": result,
        "keyword3": yuan(cf.raised_fen),
        "keyword4": template_time(moment),
        "remark": remark,
    }


def _result_messages(crowdfund_id: int) -> list[Message]:
    cf = Crowdfund.objects.select_related("initiator", "order").filter(pk=crowdfund_id).first()
    if cf is None:
        logger.warning("%s: crowdfund %s not found", TASK_NAME, crowdfund_id)
        return []
    data = _result_data(cf) if cf.status in RESULT_STATUSES else None
    if data is None:
        logger.info("%s: crowdfund %s is %s; no result to send", TASK_NAME, cf.pk, cf.status)
        return []
    return [Message(
        key=f"{Kind.CROWDFUND_RESULT}:{cf.pk}:{cf.status}", kind=Kind.CROWDFUND_RESULT, user=cf.initiator,
        template_id=_template_id(Kind.CROWDFUND_RESULT), url=_link(cf.pk), data=data,
    )]


def _refund_messages(refund_id: int) -> list[Message]:
    r = (CampaignRefund.objects.select_related("contribution__user", "contribution__crowdfund")
         .filter(pk=refund_id).first())
    if r is None:
        logger.warning("%s: campaign refund %s not found", TASK_NAME, refund_id)
        return []
    if r.status != CampaignRefundStatus.SUCCEEDED:
        logger.info("%s: campaign refund %s is %s; not sent", TASK_NAME, r.pk, r.status)
        return []
    c, cf = r.contribution, r.contribution.crowdfund
    return [Message(
        key=f"{Kind.CONTRIBUTION_REFUNDED}:{r.pk}", kind=Kind.CONTRIBUTION_REFUNDED, user=c.user,
        template_id=_template_id(Kind.CONTRIBUTION_REFUNDED), url=_link(cf.pk),
        data={
            "first": "您的众筹助力款已退回",
            "keyword1": template_text(cf.title),
            "keyword2": yuan(r.amount_fen),
            "keyword3": REASON_TEXT.get(r.reason, "众筹退款"),
            "keyword4": template_time(r.finished_at),
            "remark": "款项已原路退回您的支付账户，感谢您的支持。",
        },
    )]


ENVELOPE_ENDED = frozenset({EnvelopeStatus.EMPTY, EnvelopeStatus.EXPIRED})
ENVELOPE_NAME = "红包"
SOMEONE = "好友"


def _envelope_result_data(env: RedEnvelope, *, to_owner: bool) -> dict:
    shares = EnvelopeShare.objects.filter(envelope=env)
    grabbed = shares.filter(user__isnull=False).aggregate(n=Count("pk"), fen=Sum("amount_fen"))
    n_grabbed, grabbed_fen = grabbed["n"] or 0, grabbed["fen"] or 0
    if env.status == EnvelopeStatus.EMPTY:
        best = (shares.filter(position=env.best_position).select_related("user").first()
                if env.best_position is not None else None)
        first = "您的红包已被抢光" if to_owner else "您助力的红包已被抢光"
        result = f"已抢光（{n_grabbed}/{env.count}个）"
        remark = (f"手气最佳：{template_text(best.user.nickname or SOMEONE)}，抢到 {yuan(best.amount_fen)}。"
                  if best is not None and best.user_id else "红包已全部领完。")
    else:
        first = "您的红包已到期" if to_owner else "您助力的红包已到期"
        result = f"已到期（领取 {n_grabbed}/{env.count}个）"
        if not env.returned_fen:
            remark = "红包已全部领完。"
        elif to_owner:
            remark = f"未领取的 {yuan(env.returned_fen)} 已退回您的钱包。"
        else:
            remark = f"未领取的 {yuan(env.returned_fen)} 已退回发红包的人。"
    return {
        "first": first,
        "keyword1": template_text(env.greeting or ENVELOPE_NAME),
        "keyword2": result,
        "keyword3": f"{yuan(grabbed_fen)} / {yuan(env.pool_fen)}",
        "keyword4": template_time(env.closed_at),
        "remark": remark,
    }


def _envelope_result_messages(envelope_id: int) -> list[Message]:
    env = RedEnvelope.objects.select_related("owner").filter(pk=envelope_id).first()
    if env is None:
        logger.warning("%s: red envelope %s not found", TASK_NAME, envelope_id)
        return []
    if env.status not in ENVELOPE_ENDED:
        logger.info("%s: red envelope %s is %s; no result to send", TASK_NAME, env.pk, env.status)
        return []
    backer_ids = [b["user_id"] for b in envelopes_top_backers(envelope_ids=[env.pk]).get(env.pk, [])
                  if b["user_id"] != env.owner_id]
    backers = User.objects.in_bulk(backer_ids)
    recipients = [(env.owner, True)] + [(backers[pk], False) for pk in backer_ids if pk in backers]
    template_id, url = _template_id(Kind.ENVELOPE_RESULT), template_link(f"/red-envelopes/{env.pk}")
    owner_data, backer_data = _envelope_result_data(env, to_owner=True), None
    messages = []
    for user, is_owner in recipients:
        if not is_owner and backer_data is None:
            backer_data = _envelope_result_data(env, to_owner=False)
        messages.append(Message(
            key=f"{Kind.ENVELOPE_RESULT}:{env.pk}:{user.pk}", kind=Kind.ENVELOPE_RESULT, user=user,
            template_id=template_id, url=url, data=owner_data if is_owner else backer_data))
    return messages


BUILDERS = {
    Kind.CONTRIBUTION_PAID: _contribution_messages,
    Kind.CROWDFUND_RESULT: _result_messages,
    Kind.CONTRIBUTION_REFUNDED: _refund_messages,
    Kind.ENVELOPE_RESULT: _envelope_result_messages,
}


def _messages(kind: str, subject_id: int) -> list[Message]:
    build = BUILDERS.get(kind)
    if build is None:
        logger.error("%s: unknown kind %r", TASK_NAME, kind)
        return []
    return build(subject_id)


@shared_task(name=TASK_NAME, bind=True, ignore_result=True, max_retries=MAX_RETRIES, time_limit=300,
             soft_time_limit=270)
def notify_task(self, kind: str, subject_id: int) -> None:
    """Send the template message(s) for one campaign event; safe to run twice (module doc).
    JSON args: kind and subject_id (a contribution, crowdfund, campaign refund or red envelope id)."""
    messages_run(self, build=lambda: _messages(kind, int(subject_id)),
                 kwargs={"kind": kind, "subject_id": subject_id})
