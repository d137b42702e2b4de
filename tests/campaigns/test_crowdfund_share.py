"""The `crowdfund` share target is real: a crowdfund's link opens its page, and the friends who
open it are the credited distributor's clicks, visitors and bindings."""
import pytest
from django.utils import timezone

from distributors.models import CustomerBinding, LinkDailyStat
from distributors.services.clicks.buffer import click_buffer_drain
from distributors.services.clicks.entries import process_entries
from distributors.services.clicks.flush import click_counters_flush
from tests.campaigns.crowdfund_helpers import start
from tests.factories import CustomerBindingFactory, DistributorFactory, UserFactory, distribution_settings_set

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clicks(settings):
    settings.H5_BASE_URL = "https://h5.example.com"
    distribution_settings_set(binding_mode="days", binding_days=15, protection_days=3)
    click_buffer_drain()
    process_entries.clear()
    yield
    click_buffer_drain()
    process_entries.clear()


def test_friends_opening_the_link_are_the_distributors_clicks_and_bindings(client, client_for):
    distributor = DistributorFactory()
    initiator = UserFactory()
    CustomerBindingFactory(customer=initiator, distributor=distributor)
    cf = start(initiator)
    res = client.get(f"/s/{cf.share_code}")
    assert res.status_code == 302
    assert res["Location"] == f"https://h5.example.com/crowdfunds/{cf.pk}?sc={cf.share_code}"
    friend = UserFactory()
    assert client_for(friend).get(f"/s/{cf.share_code}").status_code == 302
    click_counters_flush()
    row = LinkDailyStat.objects.get(link=cf.share_link, day=timezone.localdate())
    assert (row.clicks, row.unique_visitors) == (2, 2)
    assert CustomerBinding.objects.get(customer=friend).distributor_id == distributor.pk


def test_a_distributor_can_share_someone_elses_crowdfund(client_for):
    cf = start()
    other = DistributorFactory()
    res = client_for(other.user).post("/api/v1/share-links/", {"target_type": "crowdfund", "target_id": cf.pk},
                                      format="json")
    assert res.status_code == 201, res.json()
    assert res.json()["code"] != cf.share_code


def test_a_link_to_an_unknown_crowdfund_is_404(client_for):
    other = DistributorFactory()
    res = client_for(other.user).post("/api/v1/share-links/", {"target_type": "crowdfund", "target_id": 999999},
                                      format="json")
    assert res.status_code == 404
