"""Template messages (模板消息) to distributors: commission accrued, commissions settled,
withdrawal paid / rejected / failed / waiting for the user's confirmation.

* The `notify_*` functions are called inside the transaction of the state change. They only
  schedule the Celery task `commissions.notify` with `transaction.on_commit(robust=True)`:
  nothing is sent for a change that rolls back, and neither a broker outage nor the task
  itself (eager in tests) can fail the change.
* The task (`notify_task`, JSON args: kind, subject_id, and for settlements a batch token and
  [[user_id, fen], …] in chunks of SETTLED_CHUNK users) builds one message per user and sends
  it through `wechat.mp.template_message_send`.
* At most once per (kind, subject, user): a `Notification` row with a unique `key`
  ("commission_accrued:<order_id>:<user_id>", "commissions_settled:<batch>:<user_id>",
  "withdrawal_paid:<id>", "withdrawal_rejected:<id>", "withdrawal_failed:<id>") is claimed
  before WeChat is called. A duplicate event or a redelivered task finds the row and stops.
  A row left in `sending` (worker died mid-call) is never sent again.
* WeChat errors are recorded on the row (`failed`, `error_code` = WeChat's errcode, e.g.
  43004 the user does not follow the account), never raised. A timeout marks the row
  `retrying` and the task retries (at most MAX_RETRIES times, COUNTDOWN·n seconds apart);
  only that task may resume a `retrying` row. A timed-out call may still have been
  delivered, so a timeout retry can, rarely, message twice; after the last retry the row is
  `failed` with `wechat_timeout`.
* No template id configured for a kind (settings `WECHAT_TEMPLATE_*`): nothing is queued
  (the operator chose not to send that message; logged at debug level, so settling a
  million commissions costs nothing). If the id is removed after queueing, or the user has
  no openid, the row is recorded `skipped`.

Template data (the classic first / keyword1… / remark layout, values as strings; pick
templates from WeChat's library whose keywords mean the same):

  commission_accrued  first, keyword1 order no, keyword2 commission (元), keyword3 time, remark
  commissions_settled first, keyword1 amount settled (元), keyword2 time, remark
  withdrawal_paid     first, keyword1 amount (元), keyword2 received after the fee (元), keyword3 time, remark
  withdrawal_rejected first, keyword1 amount (元), keyword2 reason, keyword3 time, remark
  withdrawal_failed   (the same fields as rejected; also sent for a cancelled transfer bill)
  withdrawal_confirm  first, keyword1 amount (元), keyword2 to receive (元), keyword3 time, remark
                      (a merchant transfer bill waits: confirm receipt in WeChat within 24 h)

Links: `WECHAT_TEMPLATE_URL_BASE` + "/distributor/commissions" or
"/distributor/withdrawals/<id>"; no link when the base is empty.

The machinery is public for the apps above (campaigns/notifications.py sends its own kinds
through its own task with it): `Message` (one message, its key and template id),
`message_schedule` (queue a notify task on commit, unless the template id is empty),
`message_deliver` (send one message at most once) and `messages_run` (the body of a notify
task: build, deliver, retry timeouts), and the formatting helpers `yuan`, `template_time`,
`template_text`, `template_link`, `template_setting`.
"""
from __future__ import annotations

import logging
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from celery import shared_task
from django.conf import settings
from django.contrib.auth import get_user_model
from django.db import IntegrityError, transaction
from django.db.models import F, Sum
from django.utils import timezone

from core import money
from core.errors import DomainError
from wechat.errors import WechatTimeout
from wechat.mp import template_message_send

from .models import Commission, Notification, NotificationStatus, Withdrawal

logger = logging.getLogger(__name__)

TASK_NAME = "commissions.notify"
MAX_RETRIES = 2
COUNTDOWN = 30  # seconds × the retry number
MAX_KEYWORD_CHARS = 20  # WeChat cuts a "thing" value at 20 characters
SETTLED_CHUNK = 20  # users per commissions_settled task


class Kind:
    COMMISSION_ACCRUED = "commission_accrued"
    COMMISSIONS_SETTLED = "commissions_settled"
    WITHDRAWAL_PAID = "withdrawal_paid"
    WITHDRAWAL_REJECTED = "withdrawal_rejected"
    WITHDRAWAL_FAILED = "withdrawal_failed"
    WITHDRAWAL_CONFIRM = "withdrawal_confirm"


TEMPLATE_SETTINGS = {
    Kind.COMMISSION_ACCRUED: "WECHAT_TEMPLATE_COMMISSION_ACCRUED",
    Kind.COMMISSIONS_SETTLED: "WECHAT_TEMPLATE_COMMISSION_SETTLED",
    Kind.WITHDRAWAL_PAID: "WECHAT_TEMPLATE_WITHDRAWAL_PAID",
    Kind.WITHDRAWAL_REJECTED: "WECHAT_TEMPLATE_WITHDRAWAL_REJECTED",
    Kind.WITHDRAWAL_FAILED: "WECHAT_TEMPLATE_WITHDRAWAL_FAILED",
    Kind.WITHDRAWAL_CONFIRM: "WECHAT_TEMPLATE_WITHDRAWAL_CONFIRM",
}


# --- what the state changes call (inside their transaction) ---------------------------


def template_setting(name: str) -> str:
    """The template id configured in setting `name` ("" = that message is off)."""
    return str(getattr(settings, name, "") or "")


def _template_id(kind: str) -> str:
    return template_setting(TEMPLATE_SETTINGS[kind])


def message_schedule(task, *, template_id: str, **kwargs) -> None:
    """Queue `task` (a notify task) with JSON `kwargs` once the surrounding transaction
    commits; a failure is only logged. Nothing is queued without a template id (the
    operator turned that message off)."""
    if not template_id:
        logger.debug("%s %s: no template id configured; not sent", task.name, kwargs.get("kind"))
        return

    def send() -> None:
        try:
            task.delay(**kwargs)
        except Exception:  # noqa: BLE001 - a notification must never break the state change
            logger.exception("%s could not be run: %s", task.name, kwargs)

    transaction.on_commit(send, robust=True)


def _schedule(**kwargs) -> None:
    message_schedule(notify_task, template_id=_template_id(kwargs["kind"]), **kwargs)


def notify_commission_accrued(*, order_id: int) -> None:
    """After accrual: each beneficiary of the order's commissions gets one message."""
    _schedule(kind=Kind.COMMISSION_ACCRUED, subject_id=int(order_id))


def notify_commissions_settled(*, user_amounts: dict[int, int]) -> None:
    """After a settlement batch: user_id → fen settled (to the wallet or paying off debt).
    One task per SETTLED_CHUNK users, so a big batch neither floods the broker nor runs
    one task past its time limit."""
    pairs = [[int(u), int(a)] for u, a in sorted(user_amounts.items()) if a > 0]
    if not pairs:
        return
    batch = uuid.uuid4().hex[:16]
    for i in range(0, len(pairs), SETTLED_CHUNK):
        _schedule(kind=Kind.COMMISSIONS_SETTLED, batch=batch, user_amounts=pairs[i:i + SETTLED_CHUNK])


def notify_withdrawal_paid(*, withdrawal_id: int) -> None:
    _schedule(kind=Kind.WITHDRAWAL_PAID, subject_id=int(withdrawal_id))


def notify_withdrawal_rejected(*, withdrawal_id: int) -> None:
    _schedule(kind=Kind.WITHDRAWAL_REJECTED, subject_id=int(withdrawal_id))


def notify_withdrawal_failed(*, withdrawal_id: int) -> None:
    _schedule(kind=Kind.WITHDRAWAL_FAILED, subject_id=int(withdrawal_id))


def notify_withdrawal_confirm(*, withdrawal_id: int) -> None:
    """A merchant transfer bill waits: "confirm receipt in WeChat within 24 hours"."""
    _schedule(kind=Kind.WITHDRAWAL_CONFIRM, subject_id=int(withdrawal_id))


# --- building the messages -------------------------------------------------------------


@dataclass(frozen=True, kw_only=True)
class Message:
    """One template message to one user. `key` is unique across every app's messages
    ("<kind>:<subject>…"): the Notification row claimed under it makes delivery at most once.
    `template_id` is the one configured when the message was built ("" = recorded skipped);
    `openid` is used when the user has none."""

    key: str
    kind: str
    user: object
    data: dict
    url: str | None
    template_id: str
    openid: str = ""


def yuan(fen: int) -> str:
    """12345 → "123.45元" (core.money.yuan with the unit people read)."""
    return money.yuan(fen, unit="元")


def template_time(moment) -> str:
    """A moment (None: now) as people read it in a message: "YYYY-MM-DD HH:MM", shop time."""
    return timezone.localtime(moment or timezone.now()).strftime("%Y-%m-%d %H:%M")


def template_text(text: str) -> str:
    """A free text for a keyword: "—" when empty, cut to MAX_KEYWORD_CHARS with "…"."""
    text = (text or "").strip() or "—"
    return text if len(text) <= MAX_KEYWORD_CHARS else text[: MAX_KEYWORD_CHARS - 1] + "…"


def template_link(path: str) -> str | None:
    """WECHAT_TEMPLATE_URL_BASE + path; None (no link) when the base is empty."""
    base = (getattr(settings, "WECHAT_TEMPLATE_URL_BASE", "") or "").rstrip("/")
    return f"{base}{path}" if base else None


def _accrued_messages(order_id: int) -> list[Message]:
    rows = (
        Commission.objects.filter(order_id=order_id)
        .values("beneficiary_id", "order__no")
        .annotate(amount=Sum(F("amount_fen") - F("reversed_fen")))
        .order_by("beneficiary_id")
    )
    rows = [r for r in rows if r["amount"] and r["amount"] > 0]
    users = get_user_model().objects.in_bulk([r["beneficiary_id"] for r in rows])
    now, template_id = template_time(None), _template_id(Kind.COMMISSION_ACCRUED)
    return [
        Message(
            key=f"{Kind.COMMISSION_ACCRUED}:{order_id}:{r['beneficiary_id']}",
            kind=Kind.COMMISSION_ACCRUED,
            user=users[r["beneficiary_id"]],
            data={
                "first": "您有一笔新的推广佣金",
                "keyword1": r["order__no"],
                "keyword2": yuan(r["amount"]),
                "keyword3": now,
                "remark": "订单完成并过冻结期后结算到钱包，即可提现。",
            },
            url=template_link("/distributor/commissions"),
            template_id=template_id,
        )
        for r in rows
    ]


def _settled_messages(user_amounts: list, batch: str) -> list[Message]:
    amounts = {int(u): int(a) for u, a in user_amounts or [] if int(a) > 0}
    if not amounts or not batch:
        return []
    users = get_user_model().objects.in_bulk(list(amounts))
    now, template_id = template_time(None), _template_id(Kind.COMMISSIONS_SETTLED)
    return [
        Message(
            key=f"{Kind.COMMISSIONS_SETTLED}:{batch}:{user_id}",
            kind=Kind.COMMISSIONS_SETTLED,
            user=users[user_id],
            data={
                "first": "您的佣金已结算",
                "keyword1": yuan(amount),
                "keyword2": now,
                "remark": "已转入钱包（如有欠款先行抵扣），可申请提现。",
            },
            url=template_link("/distributor/commissions"),
            template_id=template_id,
        )
        for user_id, amount in sorted(amounts.items())
        if user_id in users
    ]


WITHDRAWAL_EXPECTED_STATUS = {
    Kind.WITHDRAWAL_PAID: ("paid",),
    Kind.WITHDRAWAL_REJECTED: ("rejected",),
    Kind.WITHDRAWAL_FAILED: ("failed", "cancelled"),
    Kind.WITHDRAWAL_CONFIRM: ("confirming",),
}


def _withdrawal_messages(kind: str, withdrawal_id: int) -> list[Message]:
    w = Withdrawal.objects.select_related("user").filter(pk=withdrawal_id).first()
    if w is None:
        logger.warning("commissions.notify %s: withdrawal %s not found", kind, withdrawal_id)
        return []
    if w.status not in WITHDRAWAL_EXPECTED_STATUS[kind]:
        logger.warning("commissions.notify %s: withdrawal %s is %s; not sent", kind, withdrawal_id, w.status)
        return []
    if kind == Kind.WITHDRAWAL_PAID:
        data = {
            "first": "您的提现已到账微信零钱",
            "keyword1": yuan(w.amount_fen),
            "keyword2": yuan(w.net_fen),
            "keyword3": template_time(w.paid_at),
            "remark": f"手续费 {yuan(w.fee_fen)}。" if w.fee_fen else "感谢您的推广。",
        }
    elif kind == Kind.WITHDRAWAL_CONFIRM:
        data = {
            "first": "您的提现已发出，请在微信中确认收款",
            "keyword1": yuan(w.amount_fen),
            "keyword2": yuan(w.net_fen),
            "keyword3": template_time(w.paying_at),
            "remark": f"请在 {settings.WECHAT_TRANSFER_CONFIRM_HOURS} 小时内打开提现记录确认收款，逾期金额退回钱包。",
        }
    else:
        rejected = kind == Kind.WITHDRAWAL_REJECTED
        data = {
            "first": "您的提现申请未通过审核" if rejected else "您的提现未能到账",
            "keyword1": yuan(w.amount_fen),
            "keyword2": template_text(w.reason),
            "keyword3": template_time(w.reviewed_at if rejected else w.failed_at),
            "remark": "金额已退回钱包，可重新申请提现。",
        }
    return [Message(
        key=f"{kind}:{w.pk}", kind=kind, user=w.user, data=data,
        url=template_link(f"/distributor/withdrawals/{w.pk}"), openid=w.openid, template_id=_template_id(kind),
    )]


def _messages(kind: str, subject_id: int, batch: str, user_amounts: list | None) -> list[Message]:
    if kind == Kind.COMMISSION_ACCRUED:
        return _accrued_messages(subject_id)
    if kind == Kind.COMMISSIONS_SETTLED:
        return _settled_messages(user_amounts, batch)
    if kind in WITHDRAWAL_EXPECTED_STATUS:
        return _withdrawal_messages(kind, subject_id)
    logger.error("commissions.notify: unknown kind %r", kind)
    return []


# --- sending, at most once (any app's messages) ----------------------------------------


def _claim(message: Message, *, resume: bool):
    """The message's Notification row if this task may send it now (status `sending`), else None."""
    template_id = message.template_id
    openid = message.user.openid or message.openid or ""
    skip = "no template id configured" if not template_id else ("the user has no openid" if not openid else "")
    fields = {
        "kind": message.kind, "user": message.user, "template_id": template_id, "openid": openid,
        "data": message.data, "url": message.url or "",
    }
    try:
        with transaction.atomic():
            row = Notification.objects.create(
                key=message.key, status=NotificationStatus.SKIPPED if skip else NotificationStatus.SENDING,
                attempts=0 if skip else 1, error=skip, **fields,
            )
    except IntegrityError:  # there is a row already: a duplicate event or a redelivered task
        row = Notification.objects.filter(key=message.key).first()
        if row is None or row.status != NotificationStatus.RETRYING or not resume:
            logger.info("notify %s: already %s", message.key, row.status if row else "?")
            return None
        if not Notification.objects.filter(pk=row.pk, status=NotificationStatus.RETRYING).update(
            status=NotificationStatus.SENDING, attempts=F("attempts") + 1, updated_at=timezone.now()
        ):
            return None
        row.refresh_from_db()
        return row
    if skip:
        logger.info("notify %s: skipped (%s)", message.key, skip)
        return None
    return row


def message_deliver(message: Message, *, retries: int) -> bool:
    """Send one message at most once (its Notification row, module doc); True when WeChat
    timed out and the task should retry (`retries` = the task's retries so far; only a
    retry, retries > 0, may resume a `retrying` row). WeChat's errors are recorded, never raised."""
    row = _claim(message, resume=retries > 0)
    if row is None:
        return False
    update = Notification.objects.filter(pk=row.pk, status=NotificationStatus.SENDING).update
    try:
        msgid = template_message_send(
            openid=row.openid, template_id=row.template_id, data=row.data, url=row.url or None
        )
    except WechatTimeout as exc:
        if retries < MAX_RETRIES:
            update(status=NotificationStatus.RETRYING, error_code=exc.code, error=exc.message[:255],
                   updated_at=timezone.now())
            return True
        update(status=NotificationStatus.FAILED, error_code=exc.code, error=exc.message[:255],
               updated_at=timezone.now())
        return False
    except DomainError as exc:  # WeChat's errcode (43004: not following), HTTP errors, bad input
        code = str(exc.extra.get("errcode") or exc.code)
        error = str(exc.extra.get("errmsg") or exc.message)
        logger.warning("notify %s: %s %s", message.key, code, error)
        update(status=NotificationStatus.FAILED, error_code=code[:64], error=error[:255], updated_at=timezone.now())
        return False
    except Exception as exc:  # noqa: BLE001 - recorded; the row stays unsent for good
        logger.exception("notify %s: unexpected error", message.key)
        update(status=NotificationStatus.FAILED, error_code="internal", error=type(exc).__name__[:255],
               updated_at=timezone.now())
        return False
    now = timezone.now()
    update(status=NotificationStatus.SENT, msgid=msgid, sent_at=now, error_code="", error="", updated_at=now)
    return False


def messages_run(task, *, build: Callable[[], list[Message]], kwargs: dict) -> None:
    """The body of a notify task (bound, max_retries=MAX_RETRIES) called with JSON `kwargs`:
    build its messages, deliver each at most once, and retry the ones WeChat timed out on
    (COUNTDOWN·n seconds later; at once when Celery runs eagerly). Never raises but to retry."""
    retries = task.request.retries or 0
    try:
        messages = build()
    except Exception:  # noqa: BLE001 - never let a notification fail its caller
        logger.exception("%s %s: could not build the messages", task.name, kwargs)
        return
    timed_out = [m.key for m in messages if message_deliver(m, retries=retries)]
    if timed_out:
        logger.warning("%s %s: timed out, retry %s of %s", task.name, timed_out, retries + 1, MAX_RETRIES)
        if task.request.is_eager:  # no broker (tests, CELERY_TASK_ALWAYS_EAGER): try again now
            task.apply(kwargs=kwargs, retries=retries + 1)
            return
        raise task.retry(countdown=COUNTDOWN * (retries + 1))


@shared_task(name=TASK_NAME, bind=True, ignore_result=True, max_retries=MAX_RETRIES, time_limit=300,
             soft_time_limit=270)
def notify_task(self, kind: str, subject_id: int = 0, batch: str = "", user_amounts: list | None = None) -> None:
    """Send the template message(s) for one event; safe to run twice (see the module doc).
    JSON args: kind, subject_id (order or withdrawal id), and for commissions_settled the
    batch token and [[user_id, fen], …]."""
    messages_run(self, build=lambda: _messages(kind, int(subject_id), batch, user_amounts),
                 kwargs={"kind": kind, "subject_id": subject_id, "batch": batch, "user_amounts": user_amounts})
