"""WeChat OAuth (H5 web authorisation) through wechatpy. (Being written.)"""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class WechatIdentity:
    openid: str
    unionid: str = ""
    nickname: str = ""
    avatar_url: str = ""


def oauth_identity_from_code(*, code: str) -> WechatIdentity:
    raise NotImplementedError
