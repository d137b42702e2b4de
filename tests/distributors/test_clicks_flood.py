"""A flood of clicks on one link from many visitors, from several threads at once:
page views and unique visitors exact after the flush (Redis path and database path); two
flushes at once count once; a flush that dies half-way loses nothing and counts nothing twice."""
from __future__ import annotations

import random
import threading
import time
from collections import defaultdict

import pytest
from django.test import Client
from django.utils import timezone

from accounts.services import token_issue
from core.jobs import job_run
from distributors.models import ClickFlushBatch, DistributorDailyStat, LinkDailyStat, LinkVisitorDay, ShareLink
from distributors.services.clicks import flush as click_flush
from distributors.services.clicks import store as click_store
from distributors.services.clicks.buffer import click_buffer, click_buffer_drain
from distributors.services.clicks.entries import process_entries
from distributors.services.clicks.flush import click_counters_flush
from distributors.services.clicks.record import click_record
from distributors.services.clicks.visitors import VISITOR_COOKIE, visitor_token_make
from tests.concurrency import run_at_once
from tests.factories import DistributorFactory, ShareLinkFactory, UserFactory, distribution_settings_set

THREADS = 8


@pytest.fixture(autouse=True)
def _click_buffers():
    """Each test starts and ends with this process's click buffer sent and its entry copies gone."""
    click_buffer_drain()
    process_entries.clear()
    yield
    click_buffer_drain()
    process_entries.clear()


def _plan(dist, *, visitors: int, requests_total: int, own: int, rng: random.Random):
    """Visitors and their request counts: cookie visitors, visitors who arrive without a cookie
    and keep the one we set, logged-in users, one-off cookieless visitors, and the distributor."""
    kinds = []
    n_users = visitors // 6
    n_fresh = visitors // 6
    n_oneoff = visitors // 6
    n_cookie = visitors - n_users - n_fresh - n_oneoff
    kinds += [("cookie", visitor_token_make(visitor=f"vflood{i}")) for i in range(n_cookie)]
    kinds += [("fresh", None) for _ in range(n_fresh)]
    kinds += [("user", token_issue(user=UserFactory())) for _ in range(n_users)]
    # Every visitor at least once; one-off visitors exactly once; the rest shared out at random.
    counts = [1] * len(kinds)
    repeatable = [i for i, (k, _) in enumerate(kinds)]
    spare = requests_total - own - len(kinds) - n_oneoff
    assert spare >= 0
    for _ in range(spare):
        counts[rng.choice(repeatable)] += 1
    kinds += [("oneoff", None)] * n_oneoff
    counts += [1] * n_oneoff
    own_token = token_issue(user=dist.user)
    kinds.append(("own", own_token))
    counts.append(own)
    assert sum(counts) == requests_total
    return list(zip(kinds, counts, strict=True)), len(kinds) - 1  # distinct visitors other than the distributor


def _flood(code: str, plan, rng: random.Random) -> dict:
    """Send the plan from THREADS threads at once through Django's full request stack
    (middleware, URL routing, the view), one test client per thread."""
    work = defaultdict(list)
    for n, item in enumerate(rng.sample(plan, len(plan))):
        work[n % THREADS].append(item)
    seen = {"status": defaultdict(int), "errors": []}
    lock = threading.Lock()
    batches = list(work.values())

    def run(i):
        items = batches[i]
        client = Client()
        for (kind, secret), count in items:
            extra, cookie = {}, None
            if kind == "cookie":
                cookie = secret
            if kind in ("user", "own"):
                extra["HTTP_AUTHORIZATION"] = f"Bearer {secret}"
            for _ in range(count):
                client.cookies.clear()
                res = client.get(f"/s/{code}", HTTP_COOKIE=f"{VISITOR_COOKIE}={cookie}" if cookie else "",
                                 **extra)
                with lock:
                    seen["status"][res.status_code] += 1
                if kind == "fresh" and cookie is None:
                    cookie = res.cookies[VISITOR_COOKIE].value  # the cookie we were given, kept

    run_at_once(run, len(batches), domain_errors=False)  # any exception in a thread fails the test
    return seen


def _assert_exact(share_link: ShareLink, dist, *, page_views: int, unique: int) -> None:
    today = timezone.localdate()
    row = LinkDailyStat.objects.get(link=share_link, day=today)
    assert (row.clicks, row.unique_visitors, row.distributor_id) == (page_views, unique, dist.pk)
    drow = DistributorDailyStat.objects.get(distributor=dist, day=today)
    assert (drow.clicks, drow.unique_visitors) == (page_views, unique)
    share_link.refresh_from_db()
    assert (share_link.clicks, share_link.unique_visitors) == (page_views, unique)


def _run_flood(*, visitors, requests_total, own, seed):
    distribution_settings_set(binding_mode="last_click", binding_days=30, protection_days=0)
    rng = random.Random(seed)
    dist = DistributorFactory()
    share_link = ShareLinkFactory(distributor=dist)
    other = ShareLinkFactory()  # another link, clicked a little, must not mix in
    plan, distinct = _plan(dist, visitors=visitors, requests_total=requests_total, own=own, rng=rng)
    seen = _flood(share_link.code, plan, rng)
    assert not seen["errors"], seen["errors"][:3]
    assert dict(seen["status"]) == {302: requests_total}
    assert Client().get(f"/s/{other.code}").status_code == 302
    return dist, share_link, other, distinct


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("write_behind_ms", [50, 0], ids=["write-behind", "synchronous"])
def test_flood_redis_counters_flushed_exact(settings, write_behind_ms):
    settings.CLICKS_WRITE_BEHIND_MS = write_behind_ms
    dist, share_link, other, distinct = _run_flood(visitors=300, requests_total=2000, own=60, seed=7)
    assert not LinkDailyStat.objects.exists()  # nothing in the database until the flush
    report = job_run(name="distributors.flush_click_counters")
    assert report["page_views"] == 2000 - 60 + 1 and report["unique_visitors"] == distinct + 1
    _assert_exact(share_link, dist, page_views=2000 - 60, unique=distinct)
    _assert_exact(other, other.distributor, page_views=1, unique=1)
    # Flushing again moves nothing more.
    assert click_counters_flush()["page_views"] == 0
    _assert_exact(share_link, dist, page_views=2000 - 60, unique=distinct)
    assert not LinkVisitorDay.objects.exists()  # the database path was not used


@pytest.mark.django_db(transaction=True)
def test_flood_database_path_exact(monkeypatch):
    monkeypatch.setattr(click_store, "click_redis", lambda: None)  # as if there were no Redis
    dist, share_link, other, distinct = _run_flood(visitors=150, requests_total=800, own=30, seed=11)
    _assert_exact(share_link, dist, page_views=800 - 30, unique=distinct)
    _assert_exact(other, other.distributor, page_views=1, unique=1)
    assert LinkVisitorDay.objects.filter(link=share_link).count() == distinct


def _click(code: str, visitor: str, times: int = 1) -> None:
    for _ in range(times):
        assert click_record(code=code, visitor=visitor) is not None


@pytest.mark.redis
@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_flushes_at_once_count_once():
    dists = [DistributorFactory() for _ in range(3)]
    # 30 links over many shards
    links = [ShareLinkFactory(distributor=d, channel=str(n)) for d in dists for n in range(10)]
    expected = {}
    for n, share_link in enumerate(links):
        for v in range(n % 4 + 1):
            _click(share_link.code, f"vx{v}", times=2)
        expected[share_link.pk] = (2 * (n % 4 + 1), n % 4 + 1)
    reports = run_at_once(lambda i: click_counters_flush(), 2, domain_errors=False)
    assert sum(r["page_views"] for r in reports) == sum(pv for pv, _ in expected.values())
    for share_link in links:
        share_link.refresh_from_db()
        assert (share_link.clicks, share_link.unique_visitors) == expected[share_link.pk]
    for d in dists:
        mine = [expected[x.pk] for x in links if x.distributor_id == d.pk]
        row = DistributorDailyStat.objects.get(distributor=d, day=timezone.localdate())
        assert (row.clicks, row.unique_visitors) == (sum(p for p, _ in mine), sum(u for _, u in mine))


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_flush_that_dies_after_the_commit_does_not_count_twice(monkeypatch):
    share_link = ShareLinkFactory()
    _click(share_link.code, "va", times=3)
    _click(share_link.code, "vb")
    r = click_store.click_redis()
    monkeypatch.setattr(r, "done", lambda **kw: 0)  # the process dies before deleting the pending batch
    assert click_counters_flush()["page_views"] == 4
    monkeypatch.undo()
    _click(share_link.code, "vc")  # a new click lands in the live counters meanwhile
    first = click_counters_flush()
    assert first["skipped"] == 1 and first["page_views"] == 0  # the left-over batch was already applied
    second = click_counters_flush()
    assert second["page_views"] == 1
    share_link.refresh_from_db()
    assert (share_link.clicks, share_link.unique_visitors) == (5, 3)
    assert ClickFlushBatch.objects.count() == 2


@pytest.mark.redis
@pytest.mark.django_db(transaction=True)
def test_flush_that_fails_before_the_commit_loses_nothing(monkeypatch):
    share_link = ShareLinkFactory()
    _click(share_link.code, "va", times=2)

    def broken(**kwargs):
        raise RuntimeError("database went away")

    monkeypatch.setattr(click_flush, "click_counts_apply", broken)
    with pytest.raises(RuntimeError):
        click_counters_flush()
    monkeypatch.undo()
    share_link.refresh_from_db()
    assert share_link.clicks == 0 and not ClickFlushBatch.objects.exists()
    _click(share_link.code, "vb")
    assert click_counters_flush()["page_views"] == 2  # the taken batch first
    assert click_counters_flush()["page_views"] == 1  # then what came in meanwhile
    share_link.refresh_from_db()
    assert (share_link.clicks, share_link.unique_visitors) == (3, 2)


@pytest.mark.redis
@pytest.mark.django_db
def test_counter_keys_share_one_hash_tag_and_expire():
    share_link = ShareLinkFactory()
    _click(share_link.code, "va")
    click_buffer_drain()
    r = click_store.click_redis()
    keys = [k.decode() for k in r.client.keys("fx:*")]
    tag = click_store.tag(click_store.shard(share_link.code))
    assert keys and all(tag in k for k in keys), keys
    for key in keys:
        assert 0 < r.client.ttl(key) <= click_store.COUNTER_TTL


def test_flush_job_is_registered():
    from core.jobs import job_list

    assert "distributors.flush_click_counters" in {j.name for j in job_list()}


@pytest.mark.redis
@pytest.mark.django_db
def test_write_behind_sends_clicks_in_the_background_and_on_drain(settings):
    settings.CLICKS_WRITE_BEHIND_MS = 60_000  # the sender sleeps: only drain() sends
    share_link = ShareLinkFactory()
    _click(share_link.code, "va", times=3)
    r = click_store.click_redis()
    pv_key, _ = click_store.counter_keys(click_store.shard(share_link.code), timezone.localdate())
    field = f"{share_link.pk}:{share_link.distributor_id}"
    assert r.client.hget(pv_key, field) is None  # still in this process's buffer
    assert click_buffer_drain() == 3
    assert int(r.client.hget(pv_key, field)) == 3
    settings.CLICKS_WRITE_BEHIND_MS = 20
    _click(share_link.code, "vb")
    click_buffer().wake.set()
    for _ in range(200):  # the background sender delivers on its own
        if int(r.client.hget(pv_key, field)) == 4:
            break
        time.sleep(0.02)
    assert int(r.client.hget(pv_key, field)) == 4


@pytest.mark.redis
@pytest.mark.django_db
def test_write_behind_counts_in_the_database_when_redis_fails(settings, monkeypatch):
    settings.CLICKS_WRITE_BEHIND_MS = 60_000
    share_link = ShareLinkFactory()
    _click(share_link.code, "va", times=2)
    _click(share_link.code, "vb")
    monkeypatch.setattr(click_store, "click_redis", lambda: None)  # Redis is gone when the buffer is sent
    assert click_buffer_drain() == 3
    share_link.refresh_from_db()
    assert (share_link.clicks, share_link.unique_visitors) == (3, 2)
    assert LinkVisitorDay.objects.filter(link=share_link).count() == 2


@pytest.mark.redis
@pytest.mark.django_db
def test_write_behind_retry_after_an_unclear_failure_counts_once(settings, monkeypatch):
    settings.CLICKS_WRITE_BEHIND_MS = 60_000
    share_link = ShareLinkFactory()
    _click(share_link.code, "va", times=2)
    _click(share_link.code, "vb")
    from redis.client import Pipeline
    from redis.exceptions import TimeoutError as RedisTimeout

    real_execute = Pipeline.execute
    calls = []

    def execute_then_time_out(self, *args, **kwargs):
        result = real_execute(self, *args, **kwargs)
        calls.append(1)
        if len(calls) == 1:
            raise RedisTimeout("the answer never came")  # ... but Redis did the work
        return result

    monkeypatch.setattr(Pipeline, "execute", execute_then_time_out)
    click_buffer_drain()
    assert click_buffer().retry  # kept for a retry
    click_buffer_drain()  # the same batch id again: Redis recognises it
    assert not click_buffer().retry
    monkeypatch.undo()
    assert click_counters_flush()["page_views"] == 3
    share_link.refresh_from_db()
    assert (share_link.clicks, share_link.unique_visitors) == (3, 2)
    assert not LinkVisitorDay.objects.exists()
