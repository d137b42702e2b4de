"""WeChat Pay APIv3 callbacks to us that are not payments or refunds: merchant transfer bills.

Called by WeChat, not by our clients: no auth, no CSRF, no throttling, JSON in and out.
APIv3's rules: received → HTTP 200 (the body `{"code": "SUCCESS"}` is optional for WeChat);
refused → 4xx with `{"code": "FAIL", "message": "<our code>: …"}` (forged, stale, another
merchant, unknown bill, wrong amount: logged, nothing changes); our own failure → 500 with
the FAIL body, so WeChat sends it again later (nothing was committed).
"""
from __future__ import annotations

import logging

from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from core.errors import DomainError
from wechat.transfer_bills import transfer_bill_notify_handle
from wechat.v3 import CALLBACK_MAX_BYTES

from .errors import domain_status

logger = logging.getLogger(__name__)


class _RawParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


def _answer(code: str, message: str, status: int) -> JsonResponse:
    return JsonResponse({"code": code, "message": message}, status=status, json_dumps_params={"ensure_ascii": False})


class TransferBillNotifyView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    throttle_classes: list = []
    parser_classes = [_RawParser]

    @extend_schema(
        summary="WeChat Pay merchant transfer bill callback (called by WeChat, APIv3)",
        description="MCHTRANSFER.BILL.FINISHED, signed by WeChat Pay (Wechatpay-* headers, 5-minute window) with its "
                    "resource AES-256-GCM sealed with our APIv3 key. Answers are WeChat's shapes, not our error "
                    "shape: 200 `{\"code\": \"SUCCESS\"}`; refused 4xx `{\"code\": \"FAIL\", \"message\": "
                    "\"<our code>: …\"}` (`invalid_signature`, `invalid_json`, `merchant_mismatch`, "
                    "`unknown_out_bill_no`, `amount_mismatch`, `invalid_notification`; 413 `payload_too_large`), "
                    "nothing changed; 500 our failure, WeChat sends it again.",
        request={"application/json": OpenApiTypes.OBJECT},
        responses={200: OpenApiResponse(OpenApiTypes.OBJECT, description='{"code": "SUCCESS"}'),
                   400: OpenApiResponse(OpenApiTypes.OBJECT,
                                        description='`FAIL`: refused, e.g. `invalid_signature` (WeChat\'s shape)'),
                   413: OpenApiResponse(OpenApiTypes.OBJECT, description="`FAIL`: `payload_too_large`"),
                   500: OpenApiResponse(OpenApiTypes.OBJECT, description="`FAIL`: our failure; WeChat retries")},
        auth=[], tags=["wechat"],
    )
    def post(self, request):
        try:
            length = int(request.META.get("CONTENT_LENGTH") or 0)
        except ValueError:
            length = 0
        if length > CALLBACK_MAX_BYTES:
            logger.warning("wechat transfer bill notification refused: payload_too_large (%s bytes)", length)
            return _answer("FAIL", "payload_too_large: The notification is too large.", 413)
        body = request._request.read(CALLBACK_MAX_BYTES + 1)
        try:
            transfer_bill_notify_handle(headers=request.headers, body=body)
        except DomainError as exc:
            status = 413 if exc.code == "payload_too_large" else domain_status(exc)
            return _answer("FAIL", f"{exc.code}: {exc.message}", status if status < 500 else 500)
        except Exception:  # noqa: BLE001 - WeChat must get a FAIL it retries, never an HTML page
            logger.exception("wechat transfer bill notification failed")
            return _answer("FAIL", "error: Internal error; send it again later.", 500)
        return _answer("SUCCESS", "成功", 200)
