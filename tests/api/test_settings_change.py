"""The operators' settings endpoints (api/settings_change.py): PATCH (and PUT, its alias) need a
JSON object with at least one setting; bad input is 400 and changes nothing (updated_at stays)."""

from __future__ import annotations

import pytest
from django.db import models

from campaigns.models import CrowdfundProductRule, CrowdfundSettings, RedEnvelopeSettings
from distributors.models import DistributionSettings
from mall.models import MallSettings
from tests.mall.orders_helpers import make_sku

SETTINGS = {
    "/api/v1/ops/settings/distribution/": (DistributionSettings, {"freeze_days": 9}),
    "/api/v1/ops/settings/mall/": (MallSettings, {"refund_window_days": 20}),
    "/api/v1/ops/settings/crowdfunds/": (CrowdfundSettings, {"pay_window_minutes": 20}),
    "/api/v1/ops/settings/red-envelopes/": (RedEnvelopeSettings, {"pay_window_minutes": 20}),
}


def row_of(model: type[models.Model]):
    return model.objects.filter(pk=1).values().first()


@pytest.fixture
def saved(operator_client):
    """Every settings row saved once, so an unwanted save would show in updated_at."""
    for url, (_, change) in SETTINGS.items():
        assert operator_client.patch(url, change, format="json").status_code == 200, url
    return {url: row_of(model) for url, (model, _) in SETTINGS.items()}


@pytest.mark.parametrize("url", SETTINGS)
@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(
    "body", [None, {}, [], "x", 5, {"updated_at": "2020-01-01T00:00:00Z"}, {"no_such_setting": 1}], ids=repr
)
def test_no_setting_to_change_is_400_and_changes_nothing(operator_client, saved, url, method, body):
    model = SETTINGS[url][0]
    kwargs = {"format": "json"} if body is not None else {}
    res = (
        getattr(operator_client, method)(url, body, **kwargs)
        if body is not None
        else getattr(operator_client, method)(url)
    )
    assert res.status_code == 400, res.content
    assert res.json()["code"] == "invalid"
    assert row_of(model) == saved[url]  # updated_at included


@pytest.mark.parametrize("url", SETTINGS)
def test_patch_and_put_change_only_what_is_sent(operator_client, saved, url):
    model, change = SETTINGS[url]
    name, value = next(iter(change.items()))
    for method, new in (("patch", value + 1), ("put", value + 2)):
        res = getattr(operator_client, method)(url, {name: new}, format="json")
        assert res.status_code == 200 and res.json()[name] == new
        row = row_of(model)
        assert row[name] == new and row["updated_at"] > saved[url]["updated_at"]
        assert {k: v for k, v in row.items() if k not in (name, "updated_at", "updated_by_id")} == {
            k: v for k, v in saved[url].items() if k not in (name, "updated_at", "updated_by_id")
        }


@pytest.mark.parametrize(
    ("url", "body", "field"),
    [
        ("/api/v1/ops/settings/distribution/", {"default_level1_bps": 10001}, "default_level1_bps"),
        ("/api/v1/ops/settings/distribution/", {"default_level1_bps": "100"}, "default_level1_bps"),
        ("/api/v1/ops/settings/distribution/", {"self_purchase_commission": "yes"}, "self_purchase_commission"),
        ("/api/v1/ops/settings/distribution/", {"binding_mode": 1}, "binding_mode"),
        ("/api/v1/ops/settings/mall/", {"refund_window_days": 1.5}, "refund_window_days"),
        ("/api/v1/ops/settings/crowdfunds/", {"enabled": 1}, "enabled"),
        # above the service's bound (10^10 fen); the fuzzer found 9,999,999,999 a DataError (500) when the
        # column was `integer` (it is bigint since campaigns 0007)
        ("/api/v1/ops/settings/crowdfunds/", {"min_goal_fen": 10**10 + 1}, "min_goal_fen"),
        ("/api/v1/ops/settings/red-envelopes/", {"max_count": 0}, "max_count"),
    ],
)
def test_a_bad_value_is_400_on_its_field_and_changes_nothing(operator_client, saved, url, body, field):
    res = operator_client.patch(url, body, format="json")
    assert res.status_code == 400 and field in res.json()["extra"]["fields"], res.content
    assert row_of(SETTINGS[url][0]) == saved[url]


def test_the_largest_min_goal_the_service_allows_is_stored(operator_client, db):
    """10^10 fen (the service's bound) fits the bigint column: stored as sent (the fuzzer's
    9,999,999,999 was a 500 when the column was `integer`)."""
    for value in (9_999_999_999, 10**10):
        res = operator_client.patch("/api/v1/ops/settings/crowdfunds/", {"min_goal_fen": value}, format="json")
        assert res.status_code == 200 and CrowdfundSettings.objects.get().min_goal_fen == value


def test_a_product_crowdfund_rule_needs_a_body_too(operator_client):
    product = make_sku().product
    url = f"/api/v1/ops/products/{product.pk}/crowdfund-rule/"
    for method in ("put", "patch"):
        assert getattr(operator_client, method)(url, {}, format="json").status_code == 400
        assert getattr(operator_client, method)(url).status_code == 400
    assert not CrowdfundProductRule.objects.exists()
    res = operator_client.patch(url, {"min_goal_fen": 10**10 + 1}, format="json")
    assert res.status_code == 400 and "min_goal_fen" in res.json()["extra"]["fields"]
    assert not CrowdfundProductRule.objects.exists()
    res = operator_client.patch(url, {"min_goal_fen": 9_999_999_999}, format="json")  # bigint: fits
    assert res.status_code == 200 and CrowdfundProductRule.objects.get().min_goal_fen == 9_999_999_999
    res = operator_client.patch(url, {"enabled": False}, format="json")
    assert res.status_code == 200 and CrowdfundProductRule.objects.get().enabled is False
    assert operator_client.patch("/api/v1/ops/products/999999/crowdfund-rule/", {}, format="json").status_code == 404


def test_a_shopper_may_not_change_settings(user_client, db):
    for url in SETTINGS:
        assert user_client.patch(url, {"freeze_days": 1}, format="json").status_code == 403
