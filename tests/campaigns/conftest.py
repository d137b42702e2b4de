import pytest

from campaigns.models import CrowdfundSettings


@pytest.fixture
def crowdfund_settings(db):
    """The operator's crowdfund settings row (defaults), to change in a test."""
    row, _ = CrowdfundSettings.objects.get_or_create(pk=1)
    return row
