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
