"""The campaign pages without a browser (Django's test client): every way a person reaches them —
a distributor's share link (/s/{code} → H5_BASE_URL + the target's path), a template message's
link, a person's page — lands on a page that answers 200 and shows the campaign; what the server
renders for each state; and what a page costs in queries however many contributors or grabs."""

from __future__ import annotations

from datetime import timedelta
from urllib.parse import urlsplit

import pytest
from django.conf import settings
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from campaigns.models import Crowdfund, CrowdfundStatus
from campaigns.services import crowdfunds as cf_services
from campaigns.services import envelope_grabs
from commissions.notifications import template_link
from distributors.services.links import share_link_get_or_create
from tests.campaigns.api_helpers import paid
from tests.campaigns.crowdfund_helpers import IP, start
from tests.campaigns.envelope_helpers import opened
from tests.factories import DistributorFactory, UserFactory

pytestmark = pytest.mark.django_db


def _path(url: str) -> str:
    parts = urlsplit(url)
    return parts.path + (f"?{parts.query}" if parts.query else "")


def _h5_path(url: str) -> str:
    """The path of an H5_BASE_URL address on this site."""
    assert url.startswith(settings.H5_BASE_URL), url
    return _path(url)


@pytest.mark.parametrize("kind", ["crowdfund", "red_envelope"])
def test_a_distributors_share_link_lands_on_the_campaign_page(client, kind):
    target = start(price_fen=2_000) if kind == "crowdfund" else opened(total_fen=600, count=3)
    link, _ = share_link_get_or_create(user=DistributorFactory().user, target_type=kind, target_id=target.pk)
    res = client.get(f"/s/{link.code}")
    assert res.status_code == 302
    page = _h5_path(res["Location"])
    expected = f"/h5/crowdfunds/{target.pk}" if kind == "crowdfund" else f"/h5/red-envelopes/{target.pk}"
    assert page == f"{expected}?sc={link.code}"
    res = client.get(page)
    assert res.status_code == 200
    assert f'data-id="{target.pk}"' in res.content.decode()


def test_template_message_links_land_on_the_pages(client):
    cf = start(price_fen=2_000)
    env = opened(total_fen=600, count=3)
    for path, pk in ((f"/crowdfunds/{cf.pk}", cf.pk), (f"/red-envelopes/{env.pk}", env.pk)):
        res = client.get(_h5_path(template_link(path)))
        assert res.status_code == 200 and f'data-id="{pk}"' in res.content.decode()


def test_a_crowdfund_started_from_a_share_link_credits_it_and_shares_the_short_link(client):
    distributor = DistributorFactory()
    cf = start(price_fen=2_000)
    link, _ = share_link_get_or_create(user=distributor.user, target_type="product", target_id=cf.product_id)
    res = client.get(f"/h5/crowdfunds/new?product={cf.product_id}&sc={link.code}")
    assert res.status_code == 200
    assert f'name="share_code" value="{link.code}"' in res.content.decode()
    # What the start page sends (h5/static/h5/campaigns.js) is what the API hands the service:
    credited = cf_services.crowdfund_create(
        user=UserFactory(), sku_id=cf.sku_id, quantity=1, address=dict(cf.address), client_ip=IP, share_code=link.code
    )
    page = client.get(f"/h5/crowdfunds/{credited.pk}").content.decode()
    assert f'data-share-url="{settings.PUBLIC_BASE_URL}/s/{credited.share_code}"' in page
    assert credited.share_link.distributor_id == distributor.pk


def test_the_server_renders_each_crowdfund_state(client):
    cf = start(price_fen=2_000)
    html = client.get(f"/h5/crowdfunds/{cf.pk}").content.decode()
    assert 'id="chip-in"' in html and 'data-testid="cf-countdown"' in html
    assert 'data-testid="cf-result"' not in html
    assert 'data-fen="2000"' in html  # "all that is missing"
    cf_services.crowdfund_cancel(user=cf.initiator, crowdfund_id=cf.pk)
    cf.refresh_from_db()
    assert cf.status == CrowdfundStatus.REFUNDED  # nothing was paid: refunded at once
    html = client.get(f"/h5/crowdfunds/{cf.pk}").content.decode()
    assert 'id="chip-in"' not in html and 'data-testid="cf-countdown"' not in html
    assert 'data-testid="cf-result"' in html and 'data-status="refunded"' in html


def test_a_crowdfund_past_its_deadline_takes_no_more_before_the_job_expires_it(client):
    cf = start(price_fen=2_000)
    Crowdfund.objects.filter(pk=cf.pk).update(deadline=timezone.now() - timedelta(seconds=1))
    html = client.get(f"/h5/crowdfunds/{cf.pk}").content.decode()
    assert 'id="chip-in"' not in html and 'data-testid="cf-countdown"' not in html
    assert "已到截止时间" in html  # not "raising"


def _queries(client, path: str, marker: str) -> tuple[int, int]:
    with CaptureQueriesContext(connection) as ctx:
        res = client.get(path)
    assert res.status_code == 200
    return len(ctx.captured_queries), res.content.decode().count(marker)


def test_pages_cost_the_same_queries_for_few_or_many(client, wechat_sandbox):
    few, many = opened(total_fen=3_000, count=30), opened(total_fen=3_000, count=30)
    envelope_grabs.envelope_grab(user_id=UserFactory().pk, envelope_id=few.pk)
    for _ in range(25):
        envelope_grabs.envelope_grab(user_id=UserFactory().pk, envelope_id=many.pk)
    row = 'data-testid="env-grab-row"'
    q_few, rows_few = _queries(client, f"/h5/red-envelopes/{few.pk}", row)
    q_many, rows_many = _queries(client, f"/h5/red-envelopes/{many.pk}", row)
    assert (rows_few, rows_many) == (1, 25) and q_few == q_many <= 10

    cf_few, cf_many = start(price_fen=100_000), start(price_fen=100_000)
    for cf, n in ((cf_few, 1), (cf_many, 12)):
        for _ in range(n):
            paid(wechat_sandbox, cf, 500)  # through the service, paid in the sandbox
    row = 'data-testid="cf-contributor"'
    q_few, rows_few = _queries(client, f"/h5/crowdfunds/{cf_few.pk}", row)
    q_many, rows_many = _queries(client, f"/h5/crowdfunds/{cf_many.pk}", row)
    assert (rows_few, rows_many) == (1, 12) and q_few == q_many <= 10


def test_a_person_without_envelopes_has_an_empty_page(client):
    res = client.get(f"/h5/users/{UserFactory().pk}/red-envelopes")
    assert res.status_code == 200 and 'data-testid="person-no-envelopes"' in res.content.decode()
