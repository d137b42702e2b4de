"""Red envelopes — the operators' side (the shoppers': api/red_envelopes.py).

* `GET /api/v1/ops/red-envelopes/?status=&owner=&from=&to=` — paginated, newest first
  (`campaigns.view_redenvelope`);
* `GET /api/v1/ops/red-envelopes/{id}/` — one envelope with its shares (only the grabbed
  or returned ones by position; the unclaimed ones of an active envelope as a count and a
  total, never which position holds which amount), backings (each with its WeChat payment
  and its refunds with theirs), events and ledger postings (same permission);
* `GET/PUT /api/v1/ops/settings/red-envelopes/` — the shop's red-envelope limits
  (`campaigns.change_redenvelopesettings`); PUT changes the fields sent, strictly typed.

Reads go through campaigns/selectors/ops_envelopes.py, writes through
campaigns/services/envelope_settings.py. The shared output shapes (user, WeChat payment and
refund, refund, posting) and the `from`/`to` filter come from api/ops_crowdfunds.py.
"""
from __future__ import annotations

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.response import Response
from rest_framework.views import APIView

from api.auth import HasModelPerm
from api.ops_crowdfunds import (
    MAX_ID,
    CampaignRefundOutput,
    CrowdfundUserRef,
    PeriodQuery,
    PostingOutput,
    WechatPaymentRef,
)
from api.pagination import Pagination
from api.settings_change import StrictBooleanField, bounded, settings_changes, settings_schema
from campaigns.models import BackingStatus, EnvelopeStatus, PayWith, SplitMode
from campaigns.selectors import ops_envelopes as selectors
from campaigns.services import envelope_settings as settings_services

VIEW_PERM = "campaigns.view_redenvelope"
SETTINGS_PERM = "campaigns.change_redenvelopesettings"


class EnvelopeQuery(PeriodQuery):
    status = serializers.ChoiceField(choices=EnvelopeStatus.choices, required=False)
    owner = serializers.IntegerField(min_value=1, max_value=MAX_ID, required=False)


FILTER_PARAMS = [
    OpenApiParameter("status", str, enum=EnvelopeStatus.values, required=False),
    OpenApiParameter("owner", int, required=False, description="The owner's user id"),
    OpenApiParameter("from", str, required=False, description="Created from: YYYY-MM-DD or ISO date-time"),
    OpenApiParameter("to", str, required=False, description="Created until (a day: its end), inclusive; ≥ `from`"),
]


# --- output -------------------------------------------------------------------------------

class EnvelopeFiguresOutput(serializers.Serializer):
    shares = serializers.IntegerField(help_text="Shares made when it was opened (0 before)")
    grabbed = serializers.IntegerField()
    grabbed_fen = serializers.IntegerField()
    posted_fen = serializers.IntegerField(help_text="Grabbed money already moved to the grabbers' wallets")
    returned_fen = serializers.IntegerField(help_text="Ungrabbed shares given back to the owner")
    backers = serializers.IntegerField(help_text="Fans whose top-up was paid")
    topped_up_fen = serializers.IntegerField(help_text="Their paid top-ups (given back since or not)")
    backings = type("EnvelopeBackingsByStatus", (serializers.Serializer,),
                    {s: serializers.IntegerField() for s in BackingStatus.values})()


class OpsEnvelopeRowOutput(serializers.Serializer):
    id = serializers.IntegerField()
    owner = CrowdfundUserRef()
    status = serializers.ChoiceField(choices=EnvelopeStatus.choices)
    split = serializers.ChoiceField(choices=SplitMode.choices)
    count = serializers.IntegerField()
    total_fen = serializers.IntegerField(help_text="The owner's own money")
    pool_fen = serializers.IntegerField(help_text="Own money and paid top-ups")
    max_share_fen = serializers.IntegerField()
    greeting = serializers.CharField()
    share_code = serializers.CharField()
    expires_hours = serializers.IntegerField()
    created_at = serializers.DateTimeField()
    funded_at = serializers.DateTimeField(allow_null=True)
    opened_at = serializers.DateTimeField(allow_null=True)
    expires_at = serializers.DateTimeField(allow_null=True)
    closed_at = serializers.DateTimeField(allow_null=True)
    returned_fen = serializers.IntegerField()
    figures = EnvelopeFiguresOutput(source="ops_figures")


class OpsShareOutput(serializers.Serializer):
    position = serializers.IntegerField(help_text="0 is grabbed first")
    amount_fen = serializers.IntegerField()
    grabber = CrowdfundUserRef(source="user", allow_null=True)
    grabbed_at = serializers.DateTimeField(allow_null=True)
    posting_id = serializers.IntegerField(allow_null=True, help_text="The batch that paid it to the wallet")
    returned = serializers.BooleanField()


class UnclaimedOutput(serializers.Serializer):
    count = serializers.IntegerField()
    total_fen = serializers.IntegerField()


class OpsBackingOutput(serializers.Serializer):
    id = serializers.IntegerField()
    no = serializers.CharField()
    user = CrowdfundUserRef()
    is_owner = serializers.BooleanField()
    amount_fen = serializers.IntegerField()
    pay_with = serializers.ChoiceField(choices=PayWith.choices)
    status = serializers.ChoiceField(choices=BackingStatus.choices)
    transaction_id = serializers.CharField()
    created_at = serializers.DateTimeField()
    paid_at = serializers.DateTimeField(allow_null=True)
    payment = WechatPaymentRef(allow_null=True, help_text="Its WeChat payment (out_trade_no = no); None: wallet")
    refunds = CampaignRefundOutput(many=True, source="refund_rows")


class EnvelopeEventOutput(serializers.Serializer):
    id = serializers.IntegerField()
    kind = serializers.CharField()
    backing_no = serializers.CharField(source="backing.no", allow_null=True, default=None)
    from_status = serializers.CharField()
    to_status = serializers.CharField()
    actor = CrowdfundUserRef(allow_null=True)
    data = serializers.JSONField()
    created_at = serializers.DateTimeField()


class OpsEnvelopeDetailOutput(OpsEnvelopeRowOutput):
    best_position = serializers.IntegerField(allow_null=True, help_text="Shown once the envelope is over")
    escrow_fen = serializers.IntegerField(help_text="What the envelope's escrow account holds now")
    shares = OpsShareOutput(many=True, help_text="Grabbed or returned shares only, by position")
    unclaimed = UnclaimedOutput(help_text="Shares nobody grabbed yet: how many and their total, never where")
    backings = OpsBackingOutput(many=True)
    events = EnvelopeEventOutput(many=True)
    postings = PostingOutput(many=True)


def _detail(envelope_id: int) -> dict:
    d = selectors.envelope_detail_for_ops(envelope_id=envelope_id)
    data = dict(OpsEnvelopeRowOutput(d["envelope"]).data)
    data.update(best_position=d["best_position"], escrow_fen=d["escrow_fen"],
                shares=OpsShareOutput(d["shares"], many=True).data, unclaimed=d["unclaimed"],
                backings=OpsBackingOutput(d["backings"], many=True).data,
                events=EnvelopeEventOutput(d["events"], many=True).data,
                postings=PostingOutput(d["postings"], many=True).data)
    return data


# --- views --------------------------------------------------------------------------------

class OpsEnvelopeListView(APIView):
    """Envelopes newest first, each with its page-loaded figures (shares, grabs, posted and
    returned fen, backers and backings by status)."""

    permission_classes = [HasModelPerm]
    required_perm = VIEW_PERM
    pagination_class = Pagination  # for the schema

    @extend_schema(parameters=FILTER_PARAMS, responses={200: OpsEnvelopeRowOutput(many=True)}, tags=["ops"])
    def get(self, request):
        query = EnvelopeQuery(data=request.query_params)
        query.is_valid(raise_exception=True)
        v = query.validated_data
        qs = selectors.envelope_list_for_ops(status=v.get("status"), owner_id=v.get("owner"),
                                             created_from=v.get("from"), created_to=v.get("to"))
        paginator = Pagination()
        page = paginator.paginate_queryset(qs, request, view=self)
        selectors.envelopes_figures_attach(envelopes=page)
        return paginator.get_paginated_response(OpsEnvelopeRowOutput(page, many=True).data)


class OpsEnvelopeDetailView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = VIEW_PERM

    @extend_schema(responses={200: OpsEnvelopeDetailOutput}, tags=["ops"])
    def get(self, request, pk: int):
        return Response(_detail(pk))


def _bounded(name: str) -> serializers.IntegerField:
    low, high = settings_services.LIMITS[name]
    return bounded(low, high)


class EnvelopeSettingsSerializer(serializers.Serializer):
    """PATCH (or PUT): only the fields sent change; integers must be JSON integers, `enabled` a
    boolean; an empty body, an unknown field, a value out of range or a default lifetime above
    the maximum is 400 `invalid` (extra.fields) and nothing changes."""

    enabled = StrictBooleanField()
    max_total_fen = _bounded("max_total_fen")
    max_count = _bounded("max_count")
    max_share_fen = _bounded("max_share_fen")
    default_expires_hours = _bounded("default_expires_hours")
    max_expires_hours = _bounded("max_expires_hours")
    unopened_cancel_days = _bounded("unopened_cancel_days")
    pay_window_minutes = _bounded("pay_window_minutes")
    updated_at = serializers.DateTimeField(read_only=True, allow_null=True)


class OpsEnvelopeSettingsView(APIView):
    permission_classes = [HasModelPerm]
    required_perm = SETTINGS_PERM

    @extend_schema(responses={200: EnvelopeSettingsSerializer}, tags=["ops"])
    def get(self, request):
        """The red-envelope settings."""
        return Response(EnvelopeSettingsSerializer(settings_services.envelope_settings_get()).data)

    @settings_schema(EnvelopeSettingsSerializer, tags=["ops"])
    def patch(self, request):
        """Change the red-envelope settings.

        Only the fields sent change; an empty body, an unknown field, a bad value or a default
        lifetime above the maximum is 400 `invalid` and nothing changes."""
        changes = settings_changes(request, EnvelopeSettingsSerializer)
        row = settings_services.envelope_settings_update(actor=request.user, **changes)
        return Response(EnvelopeSettingsSerializer(row).data)

    @settings_schema(EnvelopeSettingsSerializer, tags=["ops"], deprecated=True)
    def put(self, request):
        """Change the red-envelope settings (the same as PATCH; kept for existing clients).

        Only the fields sent change; an empty body is 400 `invalid`."""
        return self.patch(request)
