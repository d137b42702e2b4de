"""The distributor leaderboard (periods, measures, cache) and the evangelists (board flag, ops report)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission

from distributors.models import DistributorDailyStat
from mall.models import OrderStatus
from tests.factories import DistributorFactory, UserFactory
from tests.mall.factories import order_for
from tests.mall.orders_helpers import make_sku

from .stats_helpers import today

pytestmark = pytest.mark.django_db

BOARD = "/api/v1/leaderboards/distributors/"
EVANGELISTS = "/api/v1/ops/reports/evangelists/"


def figures(distributor, days_ago: int, *, orders: int = 0, gmv_fen: int = 0, visitors: int = 0) -> None:
    DistributorDailyStat.objects.create(
        distributor=distributor, day=today() - timedelta(days=days_ago), orders=orders, gmv_fen=gmv_fen,
        unique_visitors=visitors, clicks=visitors * 2,
    )


def names(res) -> list[str]:
    assert res.status_code == 200, res.json()
    return [entry["nickname"] for entry in res.json()["results"]]


@pytest.fixture
def field():
    """Four approved distributors and a frozen one with different figures over the last month."""
    a = DistributorFactory(user__nickname="甲")
    b = DistributorFactory(user__nickname="乙")
    c = DistributorFactory(user__nickname="丙")
    d = DistributorFactory(user__nickname="丁")
    frozen = DistributorFactory(user__nickname="冻", status="frozen")
    figures(a, 0, orders=2, gmv_fen=50_000, visitors=100)     # today
    figures(b, 0, orders=5, gmv_fen=20_000, visitors=40)
    figures(c, 3, orders=9, gmv_fen=90_000, visitors=30)      # this week
    figures(d, 12, orders=20, gmv_fen=100_000, visitors=500)  # this month
    figures(d, 40, orders=99, gmv_fen=999_999, visitors=900)  # too long ago
    figures(frozen, 0, orders=50, gmv_fen=900_000, visitors=60)
    figures(DistributorFactory(user__nickname="零"), 0, visitors=300)  # visitors, no orders: never ranked
    return a, b, c, d


def test_leaderboard_periods_and_measures(field, user_client):
    assert names(user_client.get(BOARD, {"period": "day", "by": "gmv"})) == ["甲", "乙"]
    assert names(user_client.get(BOARD, {"period": "day", "by": "orders"})) == ["乙", "甲"]
    # conversion: 乙 5/40 = 1250 bps, 甲 2/100 = 200 bps
    res = user_client.get(BOARD, {"period": "day", "by": "conversion"})
    assert names(res) == ["乙", "甲"]
    assert [e["conversion_bps"] for e in res.json()["results"]] == [1250, 200]
    assert names(user_client.get(BOARD, {"period": "week", "by": "gmv"})) == ["丙", "甲", "乙"]
    assert names(user_client.get(BOARD, {"period": "month", "by": "gmv"})) == ["丁", "丙", "甲", "乙"]
    assert names(user_client.get(BOARD, {"period": "month", "by": "orders"})) == ["丁", "丙", "乙", "甲"]
    # 丁 20/500 = 400 bps, 丙 9/30 = 3000, 乙 1250, 甲 200
    assert names(user_client.get(BOARD, {"period": "month", "by": "conversion"})) == ["丙", "乙", "丁", "甲"]
    body = user_client.get(BOARD, {"period": "week"}).json()  # by defaults to gmv
    assert body["by"] == "gmv"
    assert (body["from"], body["to"]) == ((today() - timedelta(days=6)).isoformat(), today().isoformat())
    first = body["results"][0]
    assert first == {"rank": 1, "nickname": "丙", "avatar_url": "https://example.com/avatar.png", "orders": 9,
                     "gmv_fen": 90_000, "conversion_bps": 3000, "evangelist": True, "is_me": False}


def test_conversion_needs_enough_visitors(user_client):
    few = DistributorFactory(user__nickname="少")
    figures(few, 0, orders=3, visitors=5)  # 60 % of 5 visitors: not ranked
    many = DistributorFactory(user__nickname="多")
    figures(many, 0, orders=1, visitors=20)
    assert names(user_client.get(BOARD, {"period": "day", "by": "conversion"})) == ["多"]


def test_leaderboard_shows_at_most_20(user_client):
    for i in range(23):
        figures(DistributorFactory(user__nickname=f"d{i:02d}"), 0, orders=1, gmv_fen=1000 + i)
    res = user_client.get(BOARD, {"period": "day"})
    assert names(res) == [f"d{i:02d}" for i in range(22, 2, -1)]
    assert [e["rank"] for e in res.json()["results"]] == list(range(1, 21))


def test_leaderboard_is_cached_for_a_minute(field, user_client):
    assert names(user_client.get(BOARD, {"period": "day"})) == ["甲", "乙"]
    DistributorDailyStat.objects.filter(distributor=field[1], day=today()).update(gmv_fen=80_000)
    assert names(user_client.get(BOARD, {"period": "day"})) == ["甲", "乙"]  # the cached board
    from django.core.cache import cache

    cache.clear()  # a minute later
    assert names(user_client.get(BOARD, {"period": "day"})) == ["乙", "甲"]


def test_leaderboard_marks_me_and_evangelists(field, client_for):
    a, b, *_ = field
    order_for(b.user, make_sku(), 1, status=OrderStatus.PAID)  # 乙 buys too
    order_for(a.user, make_sku(), 1, status=OrderStatus.REFUNDED)  # 甲's only purchase was refunded
    results = client_for(b.user).get(BOARD, {"period": "day"}).json()["results"]
    assert [(e["nickname"], e["evangelist"], e["is_me"]) for e in results] == [
        ("甲", True, False), ("乙", False, True)]


@pytest.mark.parametrize("params", [{"period": "year"}, {"by": "clicks"}, {"period": ""}])
def test_leaderboard_bad_parameters(user_client, params):
    if params == {"period": ""}:  # empty means the default
        assert user_client.get(BOARD, params).status_code == 200
        return
    res = user_client.get(BOARD, params)
    assert res.status_code == 400
    assert res.json()["code"] == "invalid"


def test_leaderboard_needs_a_login(api_client):
    assert api_client.get(BOARD).status_code == 401


# --- ops: evangelists --------------------------------------------------------------------------


def test_evangelists_report(field, client_for, operator_client):
    a, b, c, d = field
    order_for(b.user, make_sku(), 1, status=OrderStatus.COMPLETED)  # 乙 buys: not an evangelist
    order_for(c.user, make_sku(), 1, status=OrderStatus.PENDING_PAYMENT)  # unpaid: still one
    frm, to = (today() - timedelta(days=30)).isoformat(), today().isoformat()
    res = operator_client.get(EVANGELISTS, {"from": frm, "to": to})
    assert res.status_code == 200, res.json()
    body = res.json()
    assert body["count"] == 4  # 丁, 丙, 甲 and the frozen one; not 乙, not the one without orders
    assert [(e["nickname"], e["orders"]) for e in body["results"]] == [("冻", 50), ("丁", 20), ("丙", 9), ("甲", 2)]
    first = body["results"][1]
    assert first["distributor_id"] == d.pk
    assert (first["gmv_fen"], first["unique_visitors"], first["clicks"], first["conversion_bps"]) == (
        100_000, 500, 1000, 400)
    assert first["evangelist"] is True
    # A narrower range: only today
    body = operator_client.get(EVANGELISTS, {"from": to, "to": to}).json()
    assert [e["nickname"] for e in body["results"]] == ["冻", "甲"]
    assert operator_client.get(EVANGELISTS, {"from": to, "to": frm}).status_code == 400


def test_evangelists_report_needs_the_permission(client_for):
    assert client_for(UserFactory()).get(EVANGELISTS).status_code == 403
    staff = UserFactory(is_staff=True)
    assert client_for(staff).get(EVANGELISTS).status_code == 403
    staff.user_permissions.add(Permission.objects.get(codename="view_distributor"))
    assert client_for(staff).get(EVANGELISTS).status_code == 200
