"""GET /s/{code}: resolution, the redirect and its cookies, binding on click, 404s, bad input."""
from __future__ import annotations

from urllib.parse import urlsplit

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from distributors.models import CustomerBinding, LinkDailyStat, LinkVisitorDay, ShareLink
from distributors.services.attribution import ATTRIBUTION_COOKIE, attribution_token_read
from distributors.services.clicks import store as click_store
from distributors.services.clicks.buffer import click_buffer_drain
from distributors.services.clicks.entries import local_entry_key, process_entries
from distributors.services.clicks.flush import click_counters_flush
from distributors.services.clicks.visitors import VISITOR_COOKIE, visitor_token_make, visitor_token_read
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory, distribution_settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _click_buffers():
    """Each test starts and ends with this process's click buffer sent and its entry copies gone."""
    click_buffer_drain()
    process_entries.clear()
    yield
    click_buffer_drain()
    process_entries.clear()


@pytest.fixture(autouse=True)
def _h5(settings):
    settings.H5_BASE_URL = "https://h5.example.com"
    distribution_settings_set(binding_mode="days", binding_days=15, protection_days=3)


def stats(share_link: ShareLink) -> tuple[int, int]:
    click_counters_flush()
    row = LinkDailyStat.objects.filter(link=share_link, day=timezone.localdate()).first()
    return (row.clicks, row.unique_visitors) if row else (0, 0)


def test_redirect_target_and_cookies(client):
    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    res = client.get(f"/s/{store.code}")
    assert res.status_code == 302
    assert res["Location"] == f"https://h5.example.com/?sc={store.code}"
    assert res["Cache-Control"] == "no-store"
    vid = res.cookies[VISITOR_COOKIE]
    assert vid["httponly"] and vid["samesite"] == "Lax" and int(vid["max-age"]) > 365 * 86400
    assert visitor_token_read(token=vid.value).startswith("v")
    attr = res.cookies[ATTRIBUTION_COOKIE]
    assert int(attr["max-age"]) == 15 * 86400 and attr["httponly"]
    assert attribution_token_read(token=attr.value) == store.pk
    # The visitor's cookie is kept on the next visit (not set again).
    again = client.get(f"/s/{store.code.lower()}")
    assert again.status_code == 302 and VISITOR_COOKIE not in again.cookies
    assert stats(store) == (2, 1)


def test_recruit_link_goes_to_the_recruitment_page_with_the_code_appended(client):
    d = DistributorFactory()
    recruit = ShareLinkFactory(distributor=d, target_type="recruit")
    res = client.get(f"/s/{recruit.code}")
    target = urlsplit(res["Location"])
    assert target.netloc == "h5.example.com"
    assert target.path == "/recruit" and target.query == f"inviter={d.invite_code}&sc={recruit.code}"


def test_product_link_goes_to_the_product_and_a_gone_product_to_the_store(client):
    from tests.mall.orders_helpers import make_sku

    sku = make_sku()
    d = DistributorFactory()
    on = ShareLinkFactory(distributor=d, target_type="product", target_id=sku.product_id)
    gone = ShareLinkFactory(distributor=d, target_type="product", target_id=987654)
    assert client.get(f"/s/{on.code}")["Location"] == f"https://h5.example.com/products/{sku.product_id}?sc={on.code}"
    assert client.get(f"/s/{gone.code}")["Location"] == f"https://h5.example.com/?sc={gone.code}"


@pytest.mark.parametrize("code", ["ZZZZZZZZ", "22222222"])
def test_unknown_code_is_a_clean_404(client, code):
    ShareLinkFactory()
    res = client.get(f"/s/{code}")
    assert res.status_code == 404
    assert res["Content-Type"].startswith("text/html") and "链接不存在".encode() in res.content
    assert ATTRIBUTION_COOKIE not in res.cookies and VISITOR_COOKIE not in res.cookies
    assert not LinkDailyStat.objects.exists() and not LinkVisitorDay.objects.exists()
    # The unknown code is remembered for a while: asking again costs no query.
    with CaptureQueriesContext(connection) as queries:
        assert client.get(f"/s/{code}").status_code == 404
    assert len(queries) == 0


@pytest.mark.parametrize(
    "path",
    ["/s/" + "A" * 5000, "/s/ABC", "/s/%00%00%00%00", "/s/ABCD%27%3B--", "/s/%E4%BD%A0%E5%A5%BD%E4%BD%A0%E5%A5%BD",
     "/s/ABCDEFGHIJKLMN", "/s/OOOOIIII", "/s/a%20b%20c%20d"],
)
def test_bad_codes_are_404_without_touching_the_database(client, path):
    with CaptureQueriesContext(connection) as queries:
        res = client.get(path)
    assert res.status_code == 404
    assert len(queries) == 0
    assert VISITOR_COOKIE not in res.cookies


def test_only_get_and_head(client):
    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    assert client.post(f"/s/{store.code}").status_code == 405
    head = client.head(f"/s/{store.code}")
    assert head.status_code == 302 and head["Location"].endswith(f"?sc={store.code}")
    assert not head.cookies  # a link preview: not counted, no cookies
    assert stats(store) == (0, 0)
    assert client.head("/s/ZZZZZZZZ").status_code == 404


def test_forged_visitor_cookie_is_a_new_visitor(client):
    store = ShareLinkFactory()
    client.cookies[VISITOR_COOKIE] = "vSomeoneElse:forged-signature"
    res = client.get(f"/s/{store.code}")
    assert res.status_code == 302
    assert visitor_token_read(token=res.cookies[VISITOR_COOKIE].value) not in (None, "vSomeoneElse")


def test_logged_in_visitor_is_bound_and_counted_once_across_devices(client_for):
    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    customer = UserFactory()
    api = client_for(customer)
    res = api.get(f"/s/{store.code}")
    assert res.status_code == 302
    assert visitor_token_read(token=res.cookies[VISITOR_COOKIE].value) == f"u{customer.pk}"
    binding = CustomerBinding.objects.get(customer=customer)
    assert (binding.distributor_id, binding.link_id, binding.source) == (d.pk, store.pk, "click")
    # The same user from another browser (logged in again) is the same unique visitor.
    assert client_for(customer).get(f"/s/{store.code}").status_code == 302
    assert stats(store) == (2, 1)


def test_bad_or_expired_token_is_an_anonymous_visit(api_client):
    store = ShareLinkFactory()
    api_client.credentials(HTTP_AUTHORIZATION="Bearer not-a-real-token")
    res = api_client.get(f"/s/{store.code}")
    assert res.status_code == 302
    assert visitor_token_read(token=res.cookies[VISITOR_COOKIE].value).startswith("v")
    assert not CustomerBinding.objects.exists()


def test_the_distributors_own_clicks_count_for_nothing(client_for, client):
    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    own = client_for(d.user)
    for _ in range(3):
        res = own.get(f"/s/{store.code}")
        assert res.status_code == 302
        assert ATTRIBUTION_COOKIE not in res.cookies
    # Their browser is pinned to them: anonymous clicks from it are still their own.
    client.cookies[VISITOR_COOKIE] = visitor_token_make(visitor=f"u{d.user_id}")
    assert client.get(f"/s/{store.code}").status_code == 302
    assert not CustomerBinding.objects.exists()
    assert stats(store) == (0, 0)
    # Someone else's click counts.
    assert client_for(UserFactory()).get(f"/s/{store.code}").status_code == 302
    assert stats(store) == (1, 1)


@pytest.mark.parametrize("status", ["frozen", "rejected", "pending"])
def test_inactive_distributors_links_redirect_but_bind_and_attribute_nothing(client_for, status):
    d = DistributorFactory(status=status)
    store = ShareLinkFactory(distributor=d)
    customer = UserFactory()
    res = client_for(customer).get(f"/s/{store.code}")
    assert res.status_code == 302 and res["Location"].endswith(f"?sc={store.code}")
    assert ATTRIBUTION_COOKIE not in res.cookies
    assert not CustomerBinding.objects.exists()
    assert stats(store) == (1, 1)  # the visit itself is a fact and is counted


def test_freezing_a_distributor_takes_effect_on_cached_links_at_once(client_for):
    from distributors.services.distributors import distributor_freeze

    d = DistributorFactory()
    store = ShareLinkFactory(distributor=d)
    operator = UserFactory(is_staff=True)
    first = client_for(UserFactory()).get(f"/s/{store.code}")
    assert ATTRIBUTION_COOKIE in first.cookies  # the entry is cached now
    distributor_freeze(actor=operator, distributor_id=d.pk, reason="spam")
    customer = UserFactory()
    res = client_for(customer).get(f"/s/{store.code}")
    assert res.status_code == 302 and ATTRIBUTION_COOKIE not in res.cookies
    assert not CustomerBinding.objects.filter(customer=customer).exists()


def test_a_deleted_link_is_404_at_once(client):
    store = ShareLinkFactory()
    assert client.get(f"/s/{store.code}").status_code == 302
    click_counters_flush()
    code = store.code
    store.delete()
    assert client.get(f"/s/{code}").status_code == 404


def test_a_link_created_after_its_code_was_asked_for_is_found(client):
    d = DistributorFactory()
    assert client.get("/s/NEWCDXY2").status_code == 404  # remembered as unknown
    ShareLinkFactory(code="NEWCDXY2", distributor=d)
    assert client.get("/s/NEWCDXY2").status_code == 302


def test_visitor_tokens():
    token = visitor_token_make(visitor="vabc123")
    assert visitor_token_read(token=token) == "vabc123"
    assert visitor_token_read(token=token[:-1] + ("A" if token[-1] != "A" else "B")) is None
    assert visitor_token_read(token="") is None and visitor_token_read(token=None) is None
    assert visitor_token_read(token="x" * 500) is None
    assert visitor_token_read(token=visitor_token_make(visitor="zzz")) is None  # not one of ours


def test_entry_cache_lives_in_redis_when_present(client, settings):
    store = ShareLinkFactory()
    client.get(f"/s/{store.code}")
    r = click_store.click_redis()
    if settings.REDIS_AVAILABLE:
        raw = r.client.get(click_store.entry_key(store.code)).decode()
        assert raw.startswith(f"{store.pk}|{store.distributor_id}|")
    else:
        assert r is None and cache.get(local_entry_key(store.code)).startswith(f"{store.pk}|")
