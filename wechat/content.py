"""WeChat's text content security check (内容安全 msgSecCheck) through wechatpy's mini-program
client, for short texts users write that others will see (e.g. a crowdfund contribution's
message).

* With an openid: msgSecCheck v2, `POST wxa/msg_sec_check` {content, version: 2, scene, openid}
  (the openid must have opened the mini-program within the last two hours, WeChat's rule);
  the answer's `result.suggest` is "pass", "review" or "risky". Anything but "pass" is
  refused: a message nobody has reviewed is not shown.
* Without an openid (v2 requires one): v1, {content} only; errcode 87014 = risky content.
* wechatpy's `wxa.check_text_security` is v1 only, so the call goes through `client.wxa._post`.

A refusal raises `ContentFlagged` (400). WeChat failing (errcode, HTTP error, unreachable, an
answer we do not understand) raises WechatError (502), a timeout WechatTimeout (504): the check
fails closed and the caller must not show the text.
"""
from __future__ import annotations

import logging

from wechatpy.exceptions import WeChatException

from core.errors import InvalidInput

from .errors import ContentFlagged
from .miniprogram import miniprogram_client
from .mp import _translated

logger = logging.getLogger(__name__)

CALL = "wxa.msg_sec_check"
# WeChat's scenes: 1 profile (资料), 2 comment (评论), 3 forum (论坛), 4 social log (社交日志).
SCENES = (1, 2, 3, 4)
MAX_CONTENT_CHARS = 2500  # WeChat's limit for one check
RISKY_CONTENT = 87014  # v1's errcode for content that did not pass
SUGGESTS = ("pass", "review", "risky")


def _v2(client, *, content: str, openid: str, scene: int) -> tuple[str, int | None]:
    res = client.wxa._post(
        "wxa/msg_sec_check", data={"content": content, "version": 2, "scene": scene, "openid": openid}
    )
    result = res["result"]
    suggest, label = result["suggest"], result.get("label")
    if suggest not in SUGGESTS:
        raise ValueError(f"unknown suggest {suggest!r}")
    if label is not None:
        label = int(label)
    return suggest, label


def _v1(client, *, content: str) -> tuple[str, int | None]:
    try:
        client.wxa._post("wxa/msg_sec_check", data={"content": content})
    except WeChatException as exc:
        if exc.errcode == RISKY_CONTENT:
            return "risky", None
        raise
    return "pass", None


def text_check(*, content: str, openid: str = "", scene: int = 2) -> None:
    """Ask WeChat whether `content` may be shown; return None when it passes.

    `openid` (the writer's mini-program openid) selects v2 with `scene` (1-4; 2 = comment);
    without it, v1. Empty or whitespace-only content is not sent (nothing to check).

    Raises ContentFlagged (suggest "review" or "risky", or v1's 87014; extra {suggest, label}),
    InvalidInput for a bad argument, WechatError / WechatTimeout when the check could not be
    done (never treat that as a pass)."""
    if not isinstance(content, str):
        raise InvalidInput("content must be text.", extra={"field": "content"})
    if not content.strip():
        return
    if len(content) > MAX_CONTENT_CHARS:
        raise InvalidInput(f"content must be at most {MAX_CONTENT_CHARS} characters.", extra={"field": "content"})
    if not isinstance(openid, str):
        raise InvalidInput("openid must be text.", extra={"field": "openid"})
    if isinstance(scene, bool) or scene not in SCENES:
        raise InvalidInput("scene must be 1, 2, 3 or 4.", extra={"field": "scene"})
    client = miniprogram_client()
    try:
        with _translated(CALL):
            if openid:
                suggest, label = _v2(client, content=content, openid=openid, scene=scene)
            else:
                suggest, label = _v1(client, content=content)
    finally:
        client.close()
    if suggest != "pass":
        logger.info("wechat %s: refused (suggest %s, label %s)", CALL, suggest, label)
        raise ContentFlagged(extra={"suggest": suggest, "label": label})

