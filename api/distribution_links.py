"""Share links and their images: QR codes (PNG, SVG), posters, mini-program codes.

* `POST /api/v1/share-links/` — an approved distributor's link for a target (200 with the
  existing link when asked again, 201 when new). `GET` lists mine with their counters.
* `GET /api/v1/share-links/{code}/` — one of mine (another's is 404).
* `GET /api/v1/share-links/{code}/qr.png · qr.svg · poster.png · wxacode.png` — public
  images: `Cache-Control: public, max-age=86400`, a strong `ETag`, 304 on a matching
  `If-None-Match`. A QR cache hit is answered before DRF wraps the request (no database).
"""
from __future__ import annotations

from django.conf import settings
from django.core.validators import RegexValidator
from django.http import HttpResponse
from django.urls import reverse
from django.utils.http import parse_etags
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiResponse, extend_schema
from rest_framework import serializers
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.permissions import AllowAny
from rest_framework.response import Response
from rest_framework.views import APIView

from api.fields import StrictCharField, StrictIntegerField
from api.pagination import Pagination
from distributors import qr as qr_mod
from distributors.images import CachedImage
from distributors.models import TargetType
from distributors.selectors import links as link_selectors
from distributors.services import links as link_services

IMAGE_CACHE_CONTROL = "public, max-age=86400"


# --- serializers ---------------------------------------------------------------------------


class ShareLinkCreateInput(serializers.Serializer):
    target_type = serializers.ChoiceField(choices=TargetType.choices)
    target_id = StrictIntegerField(
        required=False, allow_null=True, min_value=0, max_value=link_services.MAX_TARGET_ID,
        help_text="Required for product, crowdfund and red_envelope; omit (or 0) for store and recruit.",
    )
    channel = StrictCharField(
        required=False, allow_blank=True, default="", max_length=32,
        validators=[RegexValidator(r"^[A-Za-z0-9_-]*$", "Only A-Z, a-z, 0-9, '_' and '-'.")],
        help_text="Your own tag for where you post the link (e.g. moments, group_1).",
    )  # fmt: skip

    def to_internal_value(self, data):
        if isinstance(data, dict):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({name: ["Unknown field."] for name in unknown})
        return super().to_internal_value(data)


class ShareLinkOutput(serializers.Serializer):
    code = StrictCharField()
    url = StrictCharField(help_text="The short link to share: PUBLIC_BASE_URL/s/{code}")
    qr_png_url = StrictCharField()
    qr_svg_url = StrictCharField()
    poster_url = StrictCharField()
    wxacode_url = StrictCharField(help_text="The mini-program code (scene = the share code)")
    mp_qr_url = StrictCharField(
        allow_null=True, help_text="The official account's QR code (scene dist:{code}); null when unavailable"
    )
    target_type = serializers.ChoiceField(choices=TargetType.choices)
    target_id = serializers.IntegerField(allow_null=True, help_text="null for store and recruit links")
    channel = StrictCharField()
    clicks = serializers.IntegerField()
    unique_visitors = serializers.IntegerField()
    orders = serializers.IntegerField()
    gmv_fen = serializers.IntegerField()
    created_at = serializers.DateTimeField()


def _absolute(name: str, code: str) -> str:
    return settings.PUBLIC_BASE_URL.rstrip("/") + reverse(name, kwargs={"code": code})


def link_output(link, *, mp_qr_url: str | None) -> dict:
    code = link.code
    return ShareLinkOutput(
        {
            "code": code,
            "url": link_selectors.share_link_url(code=code),
            "qr_png_url": _absolute("share-link-qr-png", code),
            "qr_svg_url": _absolute("share-link-qr-svg", code),
            "poster_url": _absolute("share-link-poster", code),
            "wxacode_url": _absolute("share-link-wxacode", code),
            "mp_qr_url": mp_qr_url,
            "target_type": link.target_type,
            "target_id": link.target_id or None,
            "channel": link.channel,
            "clicks": link.clicks,
            "unique_visitors": link.unique_visitors,
            "orders": link.orders,
            "gmv_fen": link.gmv_fen,
            "created_at": link.created_at,
        }
    ).data


# --- links ---------------------------------------------------------------------------------


class ShareLinkListCreateView(APIView):
    @extend_schema(responses={200: ShareLinkOutput(many=True)}, tags=["distribution"])
    def get(self, request):
        queryset = link_selectors.share_link_list_for_user(user=request.user)
        paginator = Pagination()
        page = paginator.paginate_queryset(queryset, request, view=self)
        known = link_services.share_link_mp_qr_cached(codes=[link.code for link in page])
        return paginator.get_paginated_response([link_output(x, mp_qr_url=known.get(x.code)) for x in page])

    @extend_schema(
        request=ShareLinkCreateInput,
        responses={200: ShareLinkOutput, 201: ShareLinkOutput},
        tags=["distribution"],
    )
    def post(self, request):
        """Create a share link for a product, crowdfund, red envelope, the store or recruiting.

        201 with the new link; 200 with the existing link when you already have one for this target
        and channel. The answer has the short URL and the URLs of its QR codes and poster."""
        data = ShareLinkCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        link, created = link_services.share_link_get_or_create(user=request.user, **data.validated_data)
        mp_qr_url = link_services.share_link_mp_qr(link=link)
        return Response(link_output(link, mp_qr_url=mp_qr_url), status=201 if created else 200)


class ShareLinkDetailView(APIView):
    @extend_schema(responses={200: ShareLinkOutput}, tags=["distribution"])
    def get(self, request, code: str):
        link = link_selectors.share_link_get_for_user(user=request.user, code=code)
        return Response(link_output(link, mp_qr_url=link_services.share_link_mp_qr(link=link)))


# --- images --------------------------------------------------------------------------------


class _AnyAccept(BaseContentNegotiation):
    """Images answer whatever the client accepts; errors are JSON."""

    def select_parser(self, request, parsers):
        return parsers[0] if parsers else None

    def select_renderer(self, request, renderers, format_suffix=None):
        return renderers[0], renderers[0].media_type


def _not_modified(request, etag: str) -> bool:
    header = request.META.get("HTTP_IF_NONE_MATCH")
    if not header:
        return False
    tags = parse_etags(header)
    if "*" in tags:
        return True
    bare = etag[2:] if etag.startswith("W/") else etag
    return any((t[2:] if t.startswith("W/") else t) == bare for t in tags)  # weak comparison (RFC 9110)


def image_response(request, image: CachedImage) -> HttpResponse:
    if _not_modified(request, image.etag):
        response = HttpResponse(status=304)
        del response["Content-Type"]
    else:
        response = HttpResponse(image.body, content_type=image.content_type)
    response["ETag"] = image.etag
    response["Cache-Control"] = IMAGE_CACHE_CONTROL
    response["Content-Security-Policy"] = "default-src 'none'; style-src 'unsafe-inline'"
    response["X-Cache"] = "hit" if image.hit else "miss"
    return response


IMAGE_RESPONSES = {
    (200, "image/png"): OpenApiResponse(OpenApiTypes.BINARY, description="The image"),
    304: OpenApiResponse(description="Not modified (If-None-Match matched the ETag)"),
    404: OpenApiResponse(description="Unknown code"),
}


class _ImageView(APIView):
    authentication_classes: list = []
    permission_classes = [AllowAny]
    content_negotiation_class = _AnyAccept


class _QrView(_ImageView):
    kind = qr_mod.PNG

    def dispatch(self, request, *args, **kwargs):
        """Fast path: a cached QR is answered as plain Django, before DRF wraps the request."""
        if request.method in ("GET", "HEAD"):
            image = link_selectors.share_link_qr_cached(code=kwargs.get("code", ""), kind=self.kind)
            if image is not None:
                return image_response(request, image)
        return super().dispatch(request, *args, **kwargs)

    def get(self, request, code: str):
        return image_response(request, link_selectors.share_link_qr(code=code, kind=self.kind))


class ShareLinkQrPngView(_QrView):
    kind = qr_mod.PNG

    @extend_schema(responses=IMAGE_RESPONSES, tags=["distribution"], summary="The link's QR code (PNG)")
    def get(self, request, code: str):
        return super().get(request, code)


class ShareLinkQrSvgView(_QrView):
    kind = qr_mod.SVG

    @extend_schema(
        responses={
            (200, "image/svg+xml"): OpenApiResponse(OpenApiTypes.BINARY, description="The image"),
            304: IMAGE_RESPONSES[304],
            404: IMAGE_RESPONSES[404],
        },
        tags=["distribution"],
        summary="The link's QR code (SVG)",
    )
    def get(self, request, code: str):
        return super().get(request, code)


class ShareLinkPosterView(_ImageView):
    @extend_schema(
        responses=IMAGE_RESPONSES,
        tags=["distribution"],
        summary="The link's poster (PNG, 750x1200): image, title, price, QR code, '<nickname> 推荐'",
    )
    def get(self, request, code: str):
        return image_response(request, link_selectors.share_link_poster(code=code))


class ShareLinkWxacodeView(_ImageView):
    @extend_schema(
        responses={**IMAGE_RESPONSES, 502: OpenApiResponse(description="WeChat failed")},
        tags=["distribution"],
        summary="The link's mini-program code (PNG; scene = the share code)",
    )
    def get(self, request, code: str):
        return image_response(request, link_services.share_link_wxacode(code=code))
