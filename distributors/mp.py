"""The official account (公众号) for the distribution network.

* Scenes: a subscribe or SCAN event whose QR scene is a share code or an invite code binds
  the follower to that distributor (source "scan"), by the binding rules. Scenes look like
  "dist:<share code>" (the links' parametric QR codes, distributors.services.links),
  "inv:<invite code>", or a bare code. The follower's user is found or created by openid
  (accounts.services.user_upsert_from_wechat); a distributor scanning their own code binds
  nothing.
* Text: "海报" / "poster" from a distributor answers with the poster URL of their store link
  (created on first use); "订单" / "order" answers with the sender's latest 3 orders.

The message endpoint (wechat.mp) checks WeChat's signature before any of this runs. The
handlers are registered on wechat.hooks_mp (scene prefixes "dist:", "inv:" and every code
character for bare codes; the text handler "distributors") by DistributorsConfig.ready().
"""
from __future__ import annotations

import logging

from django.conf import settings

from accounts.models import User
from accounts.services import user_upsert_from_wechat
from core.errors import DomainError
from mall.selectors.orders import order_list_for_user
from wechat.oauth import WechatIdentity

from .codes import code_normalise
from .models import Distributor, DistributorStatus, ShareLink, TargetType
from .services.binding import binding_bind
from .services.links import share_link_get_or_create

logger = logging.getLogger(__name__)

SHARE_SCENE_PREFIX = "dist:"
INVITE_SCENE_PREFIX = "inv:"
POSTER_WORDS = frozenset({"海报", "poster"})
ORDER_WORDS = frozenset({"订单", "order", "orders"})
LATEST_ORDERS = 3

STATUS_TEXT = {
    "pending_payment": "待付款",
    "paid": "已付款",
    "shipped": "已发货",
    "completed": "已完成",
    "closed": "已关闭",
    "refunding": "退款中",
    "refunded": "已退款",
    "partially_refunded": "部分退款",
}


def _yuan(fen: int) -> str:
    sign = "-" if fen < 0 else ""
    fen = abs(int(fen))
    return f"{sign}{fen // 100}.{fen % 100:02d}"


def _distributor_for_scene(scene: str) -> tuple[Distributor | None, ShareLink | None]:
    if scene.startswith(SHARE_SCENE_PREFIX):
        kinds, raw = ("link",), scene[len(SHARE_SCENE_PREFIX):]
    elif scene.startswith(INVITE_SCENE_PREFIX):
        kinds, raw = ("invite",), scene[len(INVITE_SCENE_PREFIX):]
    else:
        kinds, raw = ("link", "invite"), scene
    code = code_normalise(raw)
    if code is None:
        return None, None
    if "link" in kinds:
        link = ShareLink.objects.select_related("distributor").filter(code=code).first()
        if link is not None:
            return link.distributor, link
    if "invite" in kinds:
        return Distributor.objects.filter(invite_code=code).first(), None
    return None, None


def mp_scene_bind(*, openid: str, scene: str, event: str, message=None) -> str | None:
    """Scene handler: bind the follower who scanned a share or invite code."""
    distributor, link = _distributor_for_scene(scene)
    if distributor is None:
        logger.info("mp scene %r: no such share or invite code", scene[:64])
        return None
    try:
        user, _ = user_upsert_from_wechat(identity=WechatIdentity(openid=openid))
    except DomainError:  # a disabled account
        return None
    if link is not None:
        result = binding_bind(customer=user, link=link, source="scan")
    else:
        result = binding_bind(customer=user, distributor=distributor, source="scan")
    logger.info("mp scene bind: user %s distributor %s: %s", user.pk, distributor.pk, result.outcome)
    if result.changed and event == "subscribe":
        return f"欢迎关注！您已成为 {distributor.user.nickname or distributor.real_name} 的专属客户。"
    return None


def _user_for(openid: str) -> User | None:
    return User.objects.filter(openid=openid, is_active=True).first() if openid else None


def _poster_reply(user: User | None) -> str:
    distributor = Distributor.objects.filter(user=user).first() if user is not None else None
    if distributor is None:
        return "您还不是分销商，申请成为分销商后即可获取专属海报。"
    if distributor.status != DistributorStatus.APPROVED:
        return {
            DistributorStatus.PENDING: "您的分销商申请正在审核中，通过后即可获取专属海报。",
            DistributorStatus.FROZEN: "您的分销商资格已冻结，暂时无法获取海报。",
        }.get(distributor.status, "您的分销商申请未通过，暂时无法获取海报。")
    link, _ = share_link_get_or_create(user=user, target_type=TargetType.STORE, channel="")
    return f"您的店铺海报：{settings.PUBLIC_BASE_URL}/api/v1/share-links/{link.code}/poster.png"


def _orders_reply(user: User | None) -> str:
    orders = list(order_list_for_user(user=user)[:LATEST_ORDERS]) if user is not None else []
    if not orders:
        return "您还没有订单。"
    lines = [f"您最近的 {len(orders)} 个订单："]
    for order in orders:
        lines.append(f"{order.no} {STATUS_TEXT.get(order.status, order.status)} ¥{_yuan(order.total_fen)}")
    return "\n".join(lines)


def mp_text_reply(*, openid: str, content: str, message=None) -> str | None:
    """Text handler: the poster and order commands; None for anything else."""
    word = (content or "").strip().lower()
    if word in POSTER_WORDS:
        return _poster_reply(_user_for(openid))
    if word in ORDER_WORDS:
        return _orders_reply(_user_for(openid))
    return None

