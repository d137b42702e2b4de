"""The distribution console: review actions and settings go through the services."""
import pytest

from distributors.models import DistributionSettings, Distributor
from distributors.services.settings import distribution_settings_get
from tests.factories import DistributorFactory

pytestmark = pytest.mark.django_db


def test_every_distribution_page_opens(admin_client):
    d = DistributorFactory()
    for path in ("distributionsettings", "tier", "distributor", "sharelink", "customerbinding", "bindingevent",
                 "distributordailystat", "linkdailystat"):
        assert admin_client.get(f"/admin/distributors/{path}/").status_code == 200, path
    assert admin_client.get(f"/admin/distributors/distributor/{d.pk}/change/").status_code == 200


def test_review_actions(admin_client):
    pending = DistributorFactory(real_name="甲", phone="13800000000", invite_code="PENDING2", status="pending")
    url = "/admin/distributors/distributor/"
    admin_client.post(url, {"action": "approve", "_selected_action": [pending.pk]})
    assert Distributor.objects.get(pk=pending.pk).status == "approved"
    asked = admin_client.post(url, {"action": "freeze", "_selected_action": [pending.pk]})
    assert asked.status_code == 200 and b"reason" in asked.content
    assert Distributor.objects.get(pk=pending.pk).status == "approved"
    admin_client.post(url, {"action": "freeze", "_selected_action": [pending.pk], "apply": "1", "reason": "刷单"})
    frozen = Distributor.objects.get(pk=pending.pk)
    assert (frozen.status, frozen.reason) == ("frozen", "刷单")
    again = admin_client.post(url, {"action": "approve", "_selected_action": [pending.pk]}, follow=True)
    assert "invalid_transition" in again.content.decode()
    assert Distributor.objects.get(pk=pending.pk).status == "frozen"


def test_settings_are_saved_through_the_service(admin_client):
    distribution_settings_get()
    url = "/admin/distributors/distributionsettings/1/change/"
    page = admin_client.get(url)
    assert page.status_code == 200
    row = DistributionSettings.objects.get(pk=1)
    form = {name: getattr(row, name) for name in page.context["adminform"].form.fields}
    form = {k: ("on" if v is True else "" if v is False else v) for k, v in form.items()}
    admin_client.post(url, {**form, "binding_days": 15})
    assert distribution_settings_get().binding_days == 15
    admin_client.post(url, {**form, "binding_days": 15, "default_level1_bps": 9000, "default_level2_bps": 2000})
    row = DistributionSettings.objects.get(pk=1)
    assert (row.default_level1_bps, row.default_level2_bps) != (9000, 2000)
