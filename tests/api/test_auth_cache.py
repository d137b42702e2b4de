"""The Bearer token cache (accounts/token_cache.py): a cached token authenticates without a query;
a logout or revocation in this process is refused at once, one elsewhere (a direct database
update here) within AUTH_TOKEN_CACHE_SECONDS; expiry is exact; each request gets its own user."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Permission
from django.db import connection, transaction
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from rest_framework.test import APIClient, APIRequestFactory

from accounts import selectors, token_cache
from accounts.models import AuthToken, User
from accounts.selectors import token_authenticate
from accounts.services import token_hash, token_issue, token_revoke_all
from api.auth import BearerTokenAuthentication
from tests.concurrency import run_at_once
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db

ME = "/api/v1/me/"


class Clock:
    """Stands in for time.monotonic: time moves only when the test says so."""

    def __init__(self):
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


@pytest.fixture(autouse=True)
def _one_second_cache(settings):
    settings.AUTH_TOKEN_CACHE_SECONDS = 1
    token_cache.cache.clear()
    yield
    token_cache.cache.clear()


@pytest.fixture
def clock(monkeypatch):
    fake = Clock()
    monkeypatch.setattr(token_cache, "clock", fake)
    return fake


def bearer(raw: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
    return client


def authenticate(raw: str):
    request = APIRequestFactory().get("/", HTTP_AUTHORIZATION=f"Bearer {raw}")
    return BearerTokenAuthentication().authenticate(request)


def test_a_cached_token_authenticates_without_a_query(user, clock, django_assert_num_queries):
    raw = token_issue(user=user)
    with django_assert_num_queries(1):  # the token joined with its user
        authenticate(raw)
    clock.advance(0.9)
    with django_assert_num_queries(0):
        found_user, token = authenticate(raw)
    assert found_user.pk == user.pk and found_user.username == user.username and found_user.is_active
    assert token.key_hash == token_hash(raw) and token.user is found_user and token.pk is not None
    assert not found_user._state.adding and found_user._state.db == "default"


def test_me_costs_one_query_less_with_the_cache(user, clock, settings):
    def queries(client) -> int:
        with CaptureQueriesContext(connection) as ctx:
            assert client.get(ME).status_code == 200
        return len(ctx)

    client = bearer(token_issue(user=user))
    miss = queries(client)
    hit = queries(client)
    assert hit == miss - 1
    settings.AUTH_TOKEN_CACHE_SECONDS = 0
    assert queries(client) == miss


def test_every_request_gets_its_own_user(operator, clock, django_assert_num_queries):
    raw = token_issue(user=operator)
    first, _ = token_authenticate(raw=raw)
    first.nickname = "changed by one request"
    first.scratch = "left on the instance"
    assert first.has_perm("ledger.view_account")  # superuser: fills no cache, but a view might set one
    first._perm_cache = {"ledger.view_account"}
    with django_assert_num_queries(0):
        second, second_token = token_authenticate(raw=raw)
    assert second is not first and second_token.user is second
    assert second.nickname == operator.nickname
    assert not hasattr(second, "scratch") and not hasattr(second, "_perm_cache")


def test_logout_here_is_refused_at_once(user, clock):
    raw, other = token_issue(user=user), token_issue(user=user)
    client = bearer(raw)
    assert client.get(ME).status_code == 200 and bearer(other).get(ME).status_code == 200  # both cached
    assert client.post("/api/v1/auth/logout/", {}, format="json").status_code == 204
    assert client.get(ME).status_code == 401  # the clock has not moved
    assert bearer(other).get(ME).status_code == 200


def test_logout_all_and_revoke_all_here_are_refused_at_once(user, clock):
    raws = [token_issue(user=user) for _ in range(3)]
    bystander = token_issue(user=UserFactory())
    for raw in [*raws, bystander]:
        assert bearer(raw).get(ME).status_code == 200
    assert bearer(raws[0]).post("/api/v1/auth/logout/", {"all": True}, format="json").status_code == 204
    assert all(bearer(raw).get(ME).status_code == 401 for raw in raws)
    assert bearer(bystander).get(ME).status_code == 200

    again = token_issue(user=user)
    assert bearer(again).get(ME).status_code == 200
    token_revoke_all(user=user)
    assert bearer(again).get(ME).status_code == 401


def test_a_revocation_elsewhere_is_seen_within_the_cache_seconds(user, clock):
    raw = token_issue(user=user)
    client = bearer(raw)
    assert client.get(ME).status_code == 200
    # Another process revokes it: this process's cache is not told.
    AuthToken.objects.filter(key_hash=token_hash(raw)).update(revoked_at=timezone.now())
    clock.advance(0.99)
    assert client.get(ME).status_code == 200  # served from the cache
    clock.advance(0.01)
    assert client.get(ME).status_code == 401


def test_a_user_disabled_elsewhere_is_refused_within_the_cache_seconds(user, clock):
    client = bearer(token_issue(user=user))
    assert client.get(ME).status_code == 200
    User.objects.filter(pk=user.pk).update(is_active=False)
    assert client.get(ME).status_code == 200
    clock.advance(1)
    assert client.get(ME).status_code == 401


def test_a_user_saved_here_is_seen_at_once(user, clock):
    client = bearer(token_issue(user=user))
    assert client.get(ME).json()["nickname"] == user.nickname
    user.nickname = "新昵称"
    user.save()
    assert client.get(ME).json()["nickname"] == "新昵称"
    user.is_active = False
    user.save(update_fields=["is_active"])
    assert client.get(ME).status_code == 401


def test_an_operator_loses_staff_within_the_cache_seconds_and_a_permission_at_once(clock):
    staff = UserFactory(is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_commissionrule"))
    client = bearer(token_issue(user=staff))
    rules = "/api/v1/ops/commission-rules/"
    assert client.get(rules).status_code == 200

    staff.user_permissions.clear()  # permissions are never cached: has_perm asks per request
    assert client.get(rules).status_code == 403

    staff.user_permissions.add(Permission.objects.get(codename="view_commissionrule"))
    assert client.get(rules).status_code == 200
    User.objects.filter(pk=staff.pk).update(is_staff=False)  # by another process
    clock.advance(1)
    assert client.get(rules).status_code == 403


def test_a_token_is_refused_at_its_expiry_even_while_cached(user, clock, monkeypatch):
    raw = token_issue(user=user)
    client = bearer(raw)
    assert client.get(ME).status_code == 200
    expires_at = AuthToken.objects.get(key_hash=token_hash(raw)).expires_at
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: expires_at - timedelta(microseconds=1))
    assert client.get(ME).status_code == 200
    monkeypatch.setattr(timezone, "now", lambda: expires_at)
    assert client.get(ME).status_code == 401  # the clock of freshness has not moved
    monkeypatch.setattr(timezone, "now", real_now)
    assert len(token_cache.cache) == 0


def test_zero_seconds_turns_the_cache_off(user, settings, django_assert_num_queries):
    settings.AUTH_TOKEN_CACHE_SECONDS = 0
    raw = token_issue(user=user)
    for _ in range(2):
        with django_assert_num_queries(1):
            assert authenticate(raw)[0].pk == user.pk
    assert len(token_cache.cache) == 0


def test_unknown_and_disabled_tokens_are_not_cached(user, clock, django_assert_num_queries):
    disabled = UserFactory(is_active=False)
    raw = token_issue(user=disabled)
    for _ in range(2):
        with django_assert_num_queries(1):
            assert token_authenticate(raw=raw) is None
        with django_assert_num_queries(1):
            assert token_authenticate(raw="not-a-token") is None
    assert len(token_cache.cache) == 0


def test_a_revocation_during_the_read_is_not_overwritten(user, clock, monkeypatch, django_assert_num_queries):
    """A lookup that read the token before a revocation must not put it back in the cache."""
    raw = token_issue(user=user)
    real = selectors._token_live

    def read_then_revoked_meanwhile(key_hash):
        token = real(key_hash)
        token_revoke_all(user=user)  # lands while this request is between its read and its store
        return token

    monkeypatch.setattr(selectors, "_token_live", read_then_revoked_meanwhile)
    assert token_authenticate(raw=raw) is not None  # the read said live: this one request passes
    monkeypatch.setattr(selectors, "_token_live", real)
    assert len(token_cache.cache) == 0
    with django_assert_num_queries(1):
        assert token_authenticate(raw=raw) is None


def test_a_lookup_before_the_commit_of_a_revocation_is_dropped_at_the_commit(
    user, clock, django_capture_on_commit_callbacks
):
    raw = token_issue(user=user)
    token = selectors.token_get_active(raw=raw)
    with django_capture_on_commit_callbacks(execute=True):
        with transaction.atomic():
            token_revoke_all(user=user)
            # Another thread, reading before this commit, still sees the token live and stores it.
            assert token_cache.store(token_hash(raw), token, began=token_cache.begin())
            assert len(token_cache.cache) == 1
    assert len(token_cache.cache) == 0


def test_the_cache_is_bounded_least_recently_used_first(clock, monkeypatch, django_assert_num_queries):
    monkeypatch.setattr(token_cache, "cache", token_cache.TokenCache(max_entries=2))
    raws = [token_issue(user=UserFactory()) for _ in range(3)]
    authenticate(raws[0])
    authenticate(raws[1])
    authenticate(raws[0])  # now the most recently used
    authenticate(raws[2])  # evicts raws[1]
    assert len(token_cache.cache) == 2
    with django_assert_num_queries(0):
        authenticate(raws[0])
        authenticate(raws[2])
    with django_assert_num_queries(1):
        authenticate(raws[1])


def _entry(user_id: int, token_id: int) -> token_cache.Entry:
    now = timezone.now()
    return token_cache.Entry(verified_at=0.0, expires_at=now + timedelta(days=1), user_id=user_id,
                             token_id=token_id, db="default", user_values=(), token_values=(), shared=True)


def test_the_cache_holds_under_threads():
    """Threads storing, reading and forgetting at once: the bound holds, the indexes agree with
    the entries, and a forgotten user has no entry left."""
    cache = token_cache.TokenCache(max_entries=50)

    def work(i: int) -> int:
        hits = 0
        for n in range(300):
            key, user_id = f"{i}-{n % 40}", i % 8
            cache.put(key, _entry(user_id, i * 1000 + n % 40), generation=cache.generation())
            hits += cache.get(f"{(i + 1) % 16}-{n % 40}", now=0.0, max_age=10**9) is not None
            if n % 50 == 0:
                cache.forget_user(user_id)
            if n % 7 == 0:
                cache.forget_token(i * 1000 + n % 40)
        return hits

    run_at_once(work, 16)
    assert len(cache) <= 50
    assert sum(len(v) for v in cache._by_user.values()) == len(cache) == len(cache._by_token)
    for key, entry in cache._entries.items():
        assert key in cache._by_user[entry.user_id] and cache._by_token[entry.token_id] == key
    cache.forget_user(3)
    assert all(e.user_id != 3 for e in cache._entries.values())


@pytest.mark.django_db(transaction=True)
def test_threads_sharing_the_cache_each_get_the_right_user(clock):
    users = [UserFactory() for _ in range(4)]
    raws = [token_issue(user=u) for u in users]

    def work(i: int):
        return token_authenticate(raw=raws[i % 4])

    results = run_at_once(work, 24)
    assert [(u.pk, t.user_id, t.key_hash) for u, t in results] == [
        (users[i % 4].pk, users[i % 4].pk, token_hash(raws[i % 4])) for i in range(24)
    ]
    assert len({id(u) for u, _ in results}) == 24  # no two threads share a user object
    assert len(token_cache.cache) == 4


def test_the_plain_token_read_builds_what_the_orm_builds():
    """accounts.selectors._token_live reads the token and its user in one plain SELECT: every
    field of both equals what the ORM's select_related query gives; revoked, expired and unknown
    tokens are not found."""
    user = UserFactory(nickname="小明", is_staff=True)
    raw = token_issue(user=user, user_agent="UA/1", ip="10.0.0.7")
    plain = selectors._token_live(token_hash(raw))
    orm = AuthToken.objects.select_related("user").get(key_hash=token_hash(raw))
    for field in AuthToken._meta.concrete_fields:
        assert getattr(plain, field.attname) == getattr(orm, field.attname), field.name
    for field in User._meta.concrete_fields:
        assert getattr(plain.user, field.attname) == getattr(orm.user, field.attname), field.name
    assert plain.user.nickname == "小明" and str(plain.ip) == "10.0.0.7"
    assert selectors._token_live(token_hash("nope")) is None
    AuthToken.objects.filter(pk=orm.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert selectors._token_live(token_hash(raw)) is None
    AuthToken.objects.filter(pk=orm.pk).update(expires_at=timezone.now() + timedelta(days=1),
                                               revoked_at=timezone.now())
    assert selectors._token_live(token_hash(raw)) is None
