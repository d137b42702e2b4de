"""GET/POST /api/v1/wechat/mp/: WeChat's official-account messages and events.

WeChat signs every request (signature, timestamp, nonce in the query string); anything
that does not check out, is stale, reuses a triple for another message, or is plaintext
while safe mode is configured gets 403 "<code>: <message>" and changes nothing. Answers
are plain text / XML, as WeChat expects, not our JSON error shape."""
from __future__ import annotations

import logging

from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.errors import InvalidInput
from core.net import client_ip
from wechat.errors import EncryptionRequired, InvalidSignature, ReplayedMessage, StaleMessage
from wechat.mp import mp_message_handle

logger = logging.getLogger(__name__)

_SIGNED = [
    OpenApiParameter("signature", str, required=True, description="SHA-1 over token, timestamp and nonce"),
    OpenApiParameter("timestamp", str, required=True),
    OpenApiParameter("nonce", str, required=True),
]


class WechatMpView(APIView):
    """WeChat's server calls this; users never do."""

    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []

    def _answer(self, request, method: str) -> HttpResponse:
        params = {key: request.query_params.get(key, "") for key in request.query_params}
        body = request.body if method == "POST" else b""
        try:
            text = mp_message_handle(method=method, params=params, body=body)
        except InvalidSignature as exc:
            logger.warning("wechat mp: refused a request with a bad signature from %s (%s)", client_ip(request), exc)
            return self._refused(exc)
        except (StaleMessage, ReplayedMessage, EncryptionRequired) as exc:
            logger.warning(
                "wechat mp: refused %s from %s: %s (timestamp=%r nonce=%r)",
                exc.code, client_ip(request), exc.message,
                params.get("timestamp", "")[:32], params.get("nonce", "")[:64],
            )
            return self._refused(exc)
        except InvalidInput as exc:
            logger.warning("wechat mp: refused a bad request from %s: %s", client_ip(request), exc.message)
            return HttpResponse(exc.message, status=400, content_type="text/plain; charset=utf-8")
        content_type = "text/plain" if method == "GET" or text == "success" else "application/xml"
        return HttpResponse(text, content_type=f"{content_type}; charset=utf-8")

    @staticmethod
    def _refused(exc) -> HttpResponse:
        return HttpResponse(f"{exc.code}: {exc.message}", status=403, content_type="text/plain; charset=utf-8")

    @extend_schema(
        parameters=[*_SIGNED, OpenApiParameter("echostr", str, required=True)],
        responses={(200, "text/plain"): OpenApiTypes.STR, (403, "text/plain"): OpenApiTypes.STR},
        tags=["wechat"],
        summary="WeChat URL verification: echoes echostr when the signature checks out",
    )
    def get(self, request):
        return self._answer(request, "GET")

    @extend_schema(
        parameters=[
            *_SIGNED,
            OpenApiParameter("encrypt_type", str, description="'aes' in safe mode"),
            OpenApiParameter("msg_signature", str, description="safe mode: SHA-1 incl. Encrypt"),
        ],
        request={"application/xml": OpenApiTypes.STR},
        responses={(200, "application/xml"): OpenApiTypes.STR, (403, "text/plain"): OpenApiTypes.STR},
        tags=["wechat"],
        summary="A message or event from a follower; answers with a passive reply (XML) or 'success'",
    )
    def post(self, request):
        return self._answer(request, "POST")
