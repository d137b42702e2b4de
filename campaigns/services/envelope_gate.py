"""The Redis gate in front of grabbing (when the default cache is Redis).

Per envelope, under ONE hash tag (Redis-Cluster-safe: every key of a script in one slot):

  {env:<id>}:free    list of the positions nobody has grabbed yet (LPOP takes the next)
  {env:<id>}:users   hash user id → the position they took
  {env:<id>}:ready   "1" once the two above were built from the database

GRAB_LUA checks the user, takes the next free position and records the pair in one atomic
step (and says how many positions it has left to hand out). It answers the flood — above
all once the envelope is empty or the user already has a share — without the database. The
database stays the truth: the position Redis hands out is claimed there with a conditional
UPDATE, and a grab is answered only after that commits. When the keys are missing (Redis
flushed or restarted), GRAB_LUA says so and `gate_build` rebuilds them from the database; a
position Redis hands out that the database already gave away (a grab that went through the
database path meanwhile) is simply refused there and the next one taken, and a user the
database knows is never given a second share (a unique constraint): the position goes back to
the head of the list (GIVE_BACK_LUA). PEEK_LUA tells, changing nothing, what GRAB_LUA would.
"""
from __future__ import annotations

import threading

from django.core.cache import caches

try:  # Django's Redis cache needs redis-py; without it there is no gate
    from django.core.cache.backends.redis import RedisCache
except ImportError:  # pragma: no cover
    RedisCache = None

GRAB_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return {-1, 0} end
local p = redis.call('HGET', KEYS[2], ARGV[1])
if p then return {1, tonumber(p)} end
local q = redis.call('LPOP', KEYS[1])
if not q then return {0, 0} end
redis.call('HSET', KEYS[2], ARGV[1], q)
return {2, tonumber(q), redis.call('LLEN', KEYS[1])}
"""
# Read only: what GRAB_LUA would answer without handing out a position (-1: the keys are not
# built, 1: the user has a share, 0: none left, 2: one would be handed out).
PEEK_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return -1 end
if redis.call('HEXISTS', KEYS[2], ARGV[1]) == 1 then return 1 end
if redis.call('LLEN', KEYS[1]) == 0 then return 0 end
return 2
"""
# Put a user's claim right after the database refused it (the position was taken there):
# forget the pair so the next call takes another position.
FORGET_LUA = """
if redis.call('HGET', KEYS[2], ARGV[1]) == ARGV[2] then redis.call('HDEL', KEYS[2], ARGV[1]) end
return 1
"""
# Put a position back at the head of the free list (the database refused the claim for a reason
# that leaves the share free: the user had another share there that Redis did not know).
GIVE_BACK_LUA = """
if redis.call('EXISTS', KEYS[3]) == 0 then return 0 end
if redis.call('LPOS', KEYS[1], ARGV[1]) then return 0 end
redis.call('LPUSH', KEYS[1], ARGV[1])
return 1
"""
# Build the keys from the database's state, unless another process did it first.
BUILD_LUA = """
if redis.call('EXISTS', KEYS[3]) == 1 then return 0 end
redis.call('DEL', KEYS[1], KEYS[2])
local n = tonumber(ARGV[1])
for i = 1, n do redis.call('RPUSH', KEYS[1], ARGV[1 + i]) end
local m = tonumber(ARGV[2 + n])
for i = 1, m do redis.call('HSET', KEYS[2], ARGV[2 + n + 2 * i - 1], ARGV[2 + n + 2 * i]) end
redis.call('SET', KEYS[3], '1', 'EX', ARGV[3 + n + 2 * m])
redis.call('EXPIRE', KEYS[1], ARGV[3 + n + 2 * m])
redis.call('EXPIRE', KEYS[2], ARGV[3 + n + 2 * m])
return 1
"""

NEEDS_BUILD, EMPTY, ALREADY, TAKEN = -1, 0, 1, 2


def gate_keys(envelope_id: int) -> list[str]:
    tag = f"{{env:{int(envelope_id)}}}"
    return [f"fx:{tag}:free", f"fx:{tag}:users", f"fx:{tag}:ready"]


class Gate:
    __slots__ = ("client", "grab", "peek", "forget", "give_back", "build")

    def __init__(self, client):
        self.client = client
        self.grab = client.register_script(GRAB_LUA)
        self.peek = client.register_script(PEEK_LUA)
        self.forget = client.register_script(FORGET_LUA)
        self.give_back = client.register_script(GIVE_BACK_LUA)
        self.build = client.register_script(BUILD_LUA)


_lock = threading.Lock()


def gate() -> Gate | None:
    """The gate's client and scripts when the default cache is Redis, else None."""
    backend = caches["default"]
    if RedisCache is None or not isinstance(backend, RedisCache):
        return None
    found = getattr(backend, "_fx_envelope_gate", None)
    if found is None:
        with _lock:
            found = getattr(backend, "_fx_envelope_gate", None)
            if found is None:
                found = Gate(backend._cache.get_client(write=True))
                backend._fx_envelope_gate = found
    return found


def gate_grab(g: Gate, *, envelope_id: int, user_id: int) -> tuple[int, int, int]:
    """(outcome, position, positions left to hand out — counted only when TAKEN, else -1)."""
    answer = g.grab(keys=gate_keys(envelope_id), args=[int(user_id)])
    return int(answer[0]), int(answer[1]), int(answer[2]) if len(answer) > 2 else -1


def gate_peek(g: Gate, *, envelope_id: int, user_id: int) -> int:
    return int(g.peek(keys=gate_keys(envelope_id), args=[int(user_id)]))


def gate_peek_queue(g: Gate, pipe, *, envelope_id: int, user_id: int) -> int:
    """Queue `gate_peek` on a pipeline of the same client (core.cache.cache_pipeline); returns the
    index of its answer in `pipe.execute()`'s results. By the script's digest: a pipeline that
    carries scripts would ask SCRIPT EXISTS in a round trip of its own on every execute. If Redis
    lost the script (restarted, SCRIPT FLUSH) that answer is a NoScriptError: `gate_peek` (which
    loads it again) or the grab itself takes over."""
    index = len(pipe.command_stack)
    pipe.evalsha(g.peek.sha, 3, *gate_keys(envelope_id), int(user_id))
    return index


def gate_forget(g: Gate, *, envelope_id: int, user_id: int, position: int) -> None:
    g.forget(keys=gate_keys(envelope_id), args=[int(user_id), int(position)])


def gate_give_back(g: Gate, *, envelope_id: int, position: int) -> None:
    g.give_back(keys=gate_keys(envelope_id), args=[int(position)])


def gate_build(g: Gate, *, envelope_id: int, free: list[int], taken: dict[int, int], ttl_seconds: int) -> bool:
    args: list = [len(free), *free, len(taken)]
    for user_id, position in taken.items():
        args.extend([user_id, position])
    args.append(max(int(ttl_seconds), 60))
    return bool(g.build(keys=gate_keys(envelope_id), args=args))


def gate_pairs(g: Gate, *, envelope_id: int) -> dict[int, int] | None:
    """user id → position as the gate records them, or None when the gate is not built."""
    keys = gate_keys(envelope_id)
    pipe = g.client.pipeline(transaction=False)
    pipe.exists(keys[2])
    pipe.hgetall(keys[1])
    ready, pairs = pipe.execute()
    if not ready:
        return None
    return {int(u): int(p) for u, p in pairs.items()}


def post_marker_key(envelope_id: int) -> str:
    """Set while a poster task for the envelope is queued (envelope_grabs_post_schedule)."""
    return f"fx:{{env:{int(envelope_id)}}}:post"


def gate_drop(g: Gate, *, envelope_id: int) -> None:
    g.client.delete(*gate_keys(envelope_id))
