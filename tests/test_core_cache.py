"""core.cache: one-round-trip counters with an expiry set once."""
import pytest
from django.core.cache import cache

from core.cache import cache_incr, cache_redis_client


def test_cache_incr_counts_from_one():
    assert [cache_incr("t:counter", ttl=60) for _ in range(3)] == [1, 2, 3]
    cache.delete("t:counter")
    assert cache_incr("t:counter", ttl=60) == 1


@pytest.mark.redis
def test_expiry_is_set_when_the_counter_is_created_and_not_pushed_back():
    client = cache_redis_client()
    assert client is cache_redis_client()  # one client per backend, reused
    cache_incr("t:ttl", ttl=30)
    key = cache.make_and_validate_key("t:ttl")
    client.expire(key, 5)  # as if 25 s had passed
    cache_incr("t:ttl", ttl=30)
    assert 0 < client.ttl(key) <= 5
