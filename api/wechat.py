"""WeChat Pay's notifications to us: payment results and refund results.

These endpoints are called by WeChat, not by our clients: no auth, no CSRF, no
throttling, XML in and XML out.

* SUCCESS: HTTP 200 with `<xml><return_code>SUCCESS</return_code>...</xml>`. Sent also
  for duplicates (they change nothing) and for "payment failed" notifications.
* Refused (bad/missing signature, not XML, too large, another merchant, unknown
  out_trade_no / out_refund_no, wrong amount): the FAIL XML with the error code as
  return_msg (e.g. `invalid_signature: ...`) and HTTP 400 (413 when too large). The
  refusal is logged and nothing changes. WeChat retries FAILs for a while; a forged
  notification never succeeds.
* Our own failure (a database error, a hook that raised): FAIL XML with HTTP 500, so
  WeChat sends the notification again later; nothing was committed.

APIv3 callbacks come to the same URLs: a request carrying Wechatpay-* headers (signature,
timestamp, nonce, serial) is one, whatever WECHAT_PAY_API says now (an order made on v3 is
notified on v3). JSON in and out: received → 200 `{"code": "SUCCESS"}`; refused (not signed by
WeChat or older than 5 minutes, does not decrypt with our APIv3 key, another merchant, unknown
number, wrong amount, trade_state not SUCCESS…) → 4xx `{"code": "FAIL", "message": "<code>: …"}`,
logged, nothing changes; our own failure → 500 with the FAIL body.
"""
from __future__ import annotations

import logging

from django.http import HttpResponse, JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.renderers import BaseRenderer
from rest_framework.views import APIView

from core.errors import DomainError
from wechat import services as wechat_services
from wechat.pay import NOTIFY_MAX_BYTES
from wechat.v3 import CALLBACK_MAX_BYTES

from .errors import domain_status

logger = logging.getLogger(__name__)


class _XMLRenderer(BaseRenderer):
    media_type = "text/xml"
    format = "xml"
    charset = "utf-8"

    def render(self, data, accepted_media_type=None, renderer_context=None):
        return data


class _FirstRenderer(BaseContentNegotiation):
    """WeChat sends whatever Accept header it likes: always answer XML."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _xml(body: str, status: int = 200) -> HttpResponse:
    return HttpResponse(body, status=status, content_type="text/xml; charset=utf-8")


def _fail(code: str, message: str, status: int) -> HttpResponse:
    return _xml(wechat_services.notify_reply_xml(ok=False, message=f"{code}: {message}"), status)


def _json(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status, json_dumps_params={"ensure_ascii": False})


V3_HEADERS = ("Wechatpay-Signature", "Wechatpay-Timestamp", "Wechatpay-Nonce", "Wechatpay-Serial")


def is_v3_callback(request) -> bool:
    """An APIv3 callback carries the Wechatpay-* headers (any of them: a forged one missing
    its signature is still answered, and refused, as APIv3)."""
    return any(request.headers.get(name) for name in V3_HEADERS)


class _NotifyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    renderer_classes = [_XMLRenderer]
    content_negotiation_class = _FirstRenderer
    notify_handler = None  # set by subclasses: a wechat.services function(body=bytes) -> XML
    notify_v3_handler = None  # and its APIv3 twin: function(headers=, body=bytes) -> dict
    what = ""

    def post(self, request):
        if is_v3_callback(request._request):
            return self.post_v3(request)
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > NOTIFY_MAX_BYTES:
            logger.warning("wechat %s notification refused: payload_too_large (%s bytes)", self.what, length)
            return _fail("payload_too_large", "The notification is too large.", 413)
        body = request._request.read(NOTIFY_MAX_BYTES + 1)
        try:
            return _xml(type(self).notify_handler(body=body))
        except DomainError as exc:
            status = 413 if exc.code == "payload_too_large" else domain_status(exc)
            return _fail(exc.code, exc.message, status if status < 500 else 500)
        except Exception:  # noqa: BLE001 - WeChat must get a FAIL it will retry, never an HTML page
            logger.exception("wechat %s notification failed", self.what)
            return _fail("error", "Internal error; send it again later.", 500)

    def post_v3(self, request):
        return v3_callback_answer(request, type(self).notify_v3_handler, what=self.what)


def v3_callback_answer(request, handler, *, what: str) -> JsonResponse:
    """Answer one APIv3 callback the way WeChat expects: `handler(headers=, body=)` (a wechat
    service: it checks everything, raises a DomainError to refuse, returns {code, message}).
    200 SUCCESS; a refusal 4xx (413 when too large) FAIL "<code>: <message>"; our own failure
    500 FAIL, so WeChat sends it again (nothing was committed)."""
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > CALLBACK_MAX_BYTES:
        logger.warning("wechat %s v3 notification refused: payload_too_large (%s bytes)", what, length)
        return _json("FAIL", "payload_too_large: The notification is too large.", 413)
    body = request._request.read(CALLBACK_MAX_BYTES + 1)
    try:
        answer = handler(headers=request._request.headers, body=body) or {}
    except DomainError as exc:
        status = 413 if exc.code == "payload_too_large" else domain_status(exc)
        return _json("FAIL", f"{exc.code}: {exc.message}", status if status < 500 else 500)
    except Exception:  # noqa: BLE001 - WeChat must get a FAIL it will retry, never an HTML page
        logger.exception("wechat %s v3 notification failed", what)
        return _json("FAIL", "error: Internal error; send it again later.", 500)
    return _json(answer.get("code", "SUCCESS"), answer.get("message", "成功"), 200)

_SCHEMA = dict(
    # v2: signed XML; APIv3: JSON with Wechatpay-* headers (the same URL takes both).
    request={"text/xml": OpenApiTypes.STR, "application/json": OpenApiTypes.OBJECT},
    responses={
        (200, "text/xml"): OpenApiResponse(OpenApiTypes.STR, description="SUCCESS XML (v2)"),
        (200, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description='`SUCCESS` (APIv3): {"code": '
                                                   '"SUCCESS", "message": "成功"}'),
        (400, "text/xml"): OpenApiResponse(OpenApiTypes.STR, description="FAIL XML: refused (e.g. invalid_signature)"),
        (400, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description='`FAIL` (APIv3): refused, '
                                                   '{"code": "FAIL", "message": "invalid_signature: …"}'),
        (413, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="`FAIL`: `payload_too_large`"),
        (500, "text/xml"): OpenApiResponse(OpenApiTypes.STR, description="FAIL XML: our failure; WeChat retries"),
        (500, "application/json"): OpenApiResponse(OpenApiTypes.OBJECT, description="`FAIL` (APIv3): our failure; "
                                                   "WeChat retries"),
    },
    auth=[],
    tags=["wechat"],
)


class PayNotifyView(_NotifyView):
    notify_handler = wechat_services.payment_notify_handle
    notify_v3_handler = wechat_services.payment_notify_v3_handle
    what = "payment"

    @extend_schema(summary="WeChat Pay payment notification (called by WeChat)", **_SCHEMA)
    def post(self, request):
        return super().post(request)


class RefundNotifyView(_NotifyView):
    notify_handler = wechat_services.refund_notify_handle
    notify_v3_handler = wechat_services.refund_notify_v3_handle
    what = "refund"

    @extend_schema(summary="WeChat Pay refund notification (called by WeChat)", **_SCHEMA)
    def post(self, request):
        return super().post(request)
