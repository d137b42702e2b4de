"""WeChat Pay APIv3 callbacks to us that are not payments or refunds: merchant transfer bills.

Called by WeChat, not by our clients: no auth, no CSRF, no throttling, JSON in and out.
APIv3's rules: received → HTTP 200 (the body `{"code": "SUCCESS"}` is optional for WeChat);
refused → 4xx with `{"code": "FAIL", "message": "<our code>: …"}` (forged, stale, another
merchant, unknown bill, wrong amount: logged, nothing changes); our own failure → 500 with
the FAIL body, so WeChat sends it again later (nothing was committed).
"""
from __future__ import annotations

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework.parsers import BaseParser
from rest_framework.permissions import AllowAny
from rest_framework.views import APIView

from wechat.transfer_bills import transfer_bill_notify_handle

from .wechat import v3_callback_answer


class _RawParser(BaseParser):
    media_type = "*/*"

    def parse(self, stream, media_type=None, parser_context=None):
        return stream.read() if stream is not None else b""


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
        return v3_callback_answer(request, _handle, what="transfer bill")


def _handle(*, headers, body: bytes) -> dict:
    transfer_bill_notify_handle(headers=headers, body=body)
    return {"code": "SUCCESS", "message": "成功"}
