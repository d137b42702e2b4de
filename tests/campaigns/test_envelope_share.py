"""What an envelope's `share_url` opens: the owner's own short link when the owner is a
distributor (counted as their click, binding the friends who open it), else the envelope's H5
page — never a short code with no link behind it (it answered 404)."""
import pytest
from django.utils import timezone

from campaigns.models import RedEnvelope
from distributors.models import CustomerBinding, LinkDailyStat, ShareLink
from distributors.services.clicks.buffer import click_buffer_drain
from distributors.services.clicks.entries import process_entries
from distributors.services.clicks.flush import click_counters_flush
from tests.campaigns.envelope_helpers import owner_with
from tests.factories import DistributorFactory, UserFactory, distribution_settings_set

pytestmark = pytest.mark.django_db
URL = "/api/v1/red-envelopes/"


@pytest.fixture(autouse=True)
def _clicks(settings):
    settings.H5_BASE_URL = "https://h5.example.com"
    settings.PUBLIC_BASE_URL = "https://shop.example.com"
    distribution_settings_set(binding_mode="days", binding_days=15, protection_days=3)
    click_buffer_drain()
    process_entries.clear()
    yield
    click_buffer_drain()
    process_entries.clear()


def _create(client_for, owner) -> dict:
    res = client_for(owner).post(URL, {"total_fen": 1_000, "count": 2, "pay_with": "wallet", "open_now": True},
                                 format="json")
    assert res.status_code == 201, res.json()
    return res.json()


def test_a_distributors_envelope_is_shared_through_their_own_counted_link(client, client_for):
    from tests.commissions.wallet_helpers import fund

    distributor = DistributorFactory()
    fund(distributor.user, 1_000)
    env = _create(client_for, distributor.user)
    link = ShareLink.objects.get(distributor=distributor, target_type="red_envelope", target_id=env["id"])
    assert env["share_url"] == f"https://shop.example.com/s/{link.code}" and env["share_code"] == link.code
    assert RedEnvelope.objects.get(pk=env["id"]).share_link_id == link.pk
    friend = UserFactory()
    res = client_for(friend).get(f"/s/{link.code}")
    assert res.status_code == 302
    assert res["Location"] == f"https://h5.example.com/red-envelopes/{env['id']}?sc={link.code}"
    click_counters_flush()
    assert LinkDailyStat.objects.get(link=link, day=timezone.localdate()).clicks == 1
    assert CustomerBinding.objects.get(customer=friend).distributor_id == distributor.pk
    assert client.get(f"{URL}{env['id']}/").json()["share_url"] == env["share_url"]


def test_anyone_elses_envelope_is_shared_as_its_page(client, client_for):
    env = _create(client_for, owner_with(1_000))
    assert env["share_url"] == f"https://h5.example.com/red-envelopes/{env['id']}"
    assert not ShareLink.objects.exists()
    assert client.get(f"{URL}{env['id']}/").json()["share_url"] == env["share_url"]
