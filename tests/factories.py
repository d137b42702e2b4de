"""One factory per model (factory_boy), and the one way to set the distribution settings.

- `UserFactory`: a WeChat user with a unique username and openid.
- `DistributorFactory`: an *approved* distributor (what most tests need) with its own user;
  `DistributorFactory(status="pending")` leaves `approved_at` empty; `inviter=` builds the
  recruiter tree; `user__nickname=...` reaches the user. Invite codes are a unique sequence
  written in the codes' alphabet (`distributors.codes.ALPHABET`), so they parse like real ones.
- `ShareLinkFactory`: a store link (`target_type="store"`, `target_id=0`) of a new approved
  distributor unless `distributor=` is given; codes a unique sequence in the same alphabet.
- `CustomerBindingFactory`: a click binding made now (permanent unless `expires_at=` is given).
- `TierFactory`: a tier with a unique name and rank.

The catalog factories (Category, Product, Sku) live in tests/mall/factories.py. Orders are
made through the real services (tests/mall/orders_helpers.py), or, for reads that only need
the rows, by tests/mall/factories.py `order_for`.

`distribution_settings_set(**fields)` writes the settings row and forgets what is cached of it.
"""
from __future__ import annotations

import factory
from django.core.cache import cache
from django.utils import timezone

from accounts.models import User
from distributors.codes import ALPHABET
from distributors.models import CustomerBinding, DistributionSettings, Distributor, DistributorStatus, ShareLink, Tier
from distributors.services import attribution
from distributors.services.settings import CACHE_KEY


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = User

    username = factory.Sequence(lambda n: f"user{n}")
    openid = factory.Sequence(lambda n: f"o-test-openid-{n:06d}")
    nickname = factory.Sequence(lambda n: f"用户{n}")
    avatar_url = "https://example.com/avatar.png"
    password = factory.django.Password("pw-Secret-123")


def sequence_code(n: int, prefix: str) -> str:
    """`prefix` and `n` in base 31 over the codes' alphabet: 8 characters, unique per prefix."""
    digits = []
    for _ in range(8 - len(prefix)):
        n, d = divmod(n, len(ALPHABET))
        digits.append(ALPHABET[d])
    return prefix + "".join(reversed(digits))


class DistributorFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Distributor

    user = factory.SubFactory(UserFactory)
    status = DistributorStatus.APPROVED
    real_name = "王五"
    phone = "13700137000"
    invite_code = factory.Sequence(lambda n: sequence_code(n, "V"))
    inviter = None
    approved_at = factory.LazyAttribute(lambda d: timezone.now() if d.status == DistributorStatus.APPROVED else None)


class ShareLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ShareLink

    code = factory.Sequence(lambda n: sequence_code(n, "S"))
    distributor = factory.SubFactory(DistributorFactory)
    target_type = "store"
    target_id = 0
    channel = ""


class CustomerBindingFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CustomerBinding

    customer = factory.SubFactory(UserFactory)
    distributor = factory.SubFactory(DistributorFactory)
    source = "click"
    bound_at = factory.LazyFunction(lambda: timezone.now())  # looked up at each call: tests may move the clock
    expires_at = None
    protected_until = factory.LazyAttribute(lambda b: b.bound_at)


class TierFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Tier

    name = factory.Sequence(lambda n: f"等级{n}")
    rank = factory.Sequence(lambda n: 100 + n)


def distribution_settings_set(**fields) -> DistributionSettings:
    """Write `fields` into the distribution settings row and forget the cached copies (the
    settings cache and attribution's memo of the binding age)."""
    row, _ = DistributionSettings.objects.update_or_create(pk=1, defaults=fields)
    cache.delete(CACHE_KEY)
    attribution._max_age_memo = (0.0, 0)
    return row
