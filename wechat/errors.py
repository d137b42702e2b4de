"""WeChat failures, as domain errors with stable codes."""
from core.errors import InvalidInput, UpstreamError, UpstreamTimeout


class WechatError(UpstreamError):
    code = "wechat_error"
    default_message = "WeChat answered with an error."


class WechatTimeout(UpstreamTimeout):
    code = "wechat_timeout"
    default_message = "WeChat did not answer in time."


class InvalidSignature(InvalidInput):
    code = "invalid_signature"
    default_message = "The signature is missing or wrong."


class InvalidOAuthCode(InvalidInput):
    code = "invalid_code"
    default_message = "The WeChat login code is unknown, used or expired."


class StaleMessage(InvalidInput):
    """An official-account message whose signed timestamp is outside the freshness window."""

    code = "stale_message"
    default_message = "The message's timestamp is too old, in the future or unreadable."


class ReplayedMessage(InvalidInput):
    """A signed (timestamp, nonce) seen before with another message: a leaked triple reused."""

    code = "replayed_message"
    default_message = "This timestamp and nonce were already used for another message."


class EncryptionRequired(InvalidInput):
    """Safe mode is configured, so WeChat encrypts every message: a plaintext body is forged."""

    code = "encryption_required"
    default_message = "Safe mode is on: only encrypted messages are accepted."


class ContentFlagged(InvalidInput):
    """WeChat's content check (wechat.content.text_check) did not pass the text: suggest
    "risky" or "review" (not reviewed is not shown). extra: {suggest, label}."""

    code = "content_flagged"
    default_message = "This message did not pass WeChat's content check; please change it."
