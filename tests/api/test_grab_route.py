"""The grab answered ahead of Django's stack (api/grab_route.py, wrapped around the WSGI app in
config/wsgi.py): the same answers, headers and rules as the DRF view behind it; what it does not
answer itself reaches Django untouched; a token it trusts from its cache never takes a share
unless the database vouched for it within AUTH_TOKEN_CACHE_SECONDS.

These run the real WSGI application (config.wsgi.application) in-process on real PostgreSQL and
Redis, outside a test transaction (the claim's one-statement path runs only in autocommit)."""
from __future__ import annotations

import io
from datetime import timedelta

import pytest
from django.core.handlers.wsgi import WSGIHandler
from django.test import RequestFactory
from django.utils import timezone, translation

from accounts import token_cache
from accounts.models import AuthToken, Follow
from accounts.services import token_issue
from api.grab_route import GrabRoute, grab_route
from campaigns.models import EnvelopeShare, EnvelopeStatus, RedEnvelope
from campaigns.services import envelope_gate as gates
from campaigns.services import envelope_grabs
from tests.campaigns.envelope_helpers import opened
from tests.factories import UserFactory

pytestmark = pytest.mark.django_db(transaction=True)
IGNORED = {"Date", "Server"}
django_application = WSGIHandler()  # what config/wsgi.py wraps
application = grab_route(django_application)


class Clock:
    def __init__(self):
        self.now = 5_000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(autouse=True)
def _setup(settings, monkeypatch):
    settings.AUTH_TOKEN_CACHE_SECONDS = 1
    settings.AUTH_TOKEN_ANSWER_SECONDS = 300
    settings.THROTTLE_GRAB = "1000/min"
    token_cache.cache.clear()
    clock = Clock()
    monkeypatch.setattr(token_cache, "clock", clock)
    yield clock
    token_cache.cache.clear()


def call(app, path: str, *, token: str | None = None, method: str = "POST", **extra) -> tuple[int, dict, bytes]:
    """One request through a WSGI app: (status, headers, body)."""
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    environ = getattr(RequestFactory(), method.lower())(path, **headers, **extra).environ
    environ["wsgi.input"] = io.BytesIO(b"")
    seen = {}

    def start_response(status, response_headers, exc_info=None):
        seen["status"] = int(status.split()[0])
        seen["headers"] = dict(response_headers)

    body = b"".join(app(environ, start_response))
    return seen["status"], seen["headers"], body


def grab_url(env) -> str:
    return f"/api/v1/red-envelopes/{env.pk}/grab/"


def same_shape(fast, slow) -> None:
    """Status, body and every header (but Date/Server) equal between the route and Django."""
    assert fast[0] == slow[0]
    assert fast[2] == slow[2]
    assert {k: v for k, v in fast[1].items() if k not in IGNORED} == {
        k: v for k, v in slow[1].items() if k not in IGNORED}


def test_a_grab_through_the_route_is_the_views_grab_and_commits_before_the_answer():
    env = opened(total_fen=900, count=3)
    users = [UserFactory() for _ in range(4)]
    tokens = [token_issue(user=u) for u in users]
    answers = [call(application, grab_url(env), token=t) for t in tokens[:2]]
    assert [a[0] for a in answers] == [200, 200]
    rows = dict(EnvelopeShare.objects.filter(envelope=env, user__isnull=False).values_list("user_id", "amount_fen"))
    import json

    bodies = [json.loads(a[2]) for a in answers]
    assert {users[0].pk: bodies[0]["amount_fen"], users[1].pk: bodies[1]["amount_fen"]} == rows
    assert [b["is_best"] for b in bodies] == [None, None]  # shares are left: not known yet
    assert Follow.objects.filter(followee=env.owner, source="red_envelope").count() == 2
    # The last share: through Django's stack for one user, the route for another: same headers.
    slow = call(django_application, grab_url(env), token=tokens[2])
    assert slow[0] == 200 and json.loads(slow[2])["is_best"] in (True, False)
    fast_again = call(application, grab_url(env), token=tokens[0])
    slow_again = call(django_application, grab_url(env), token=tokens[0])
    assert fast_again[0] == 409 and json.loads(fast_again[2])["code"] == "already_grabbed"
    same_shape(fast_again, slow_again)
    empty_fast = call(application, grab_url(env), token=tokens[3])
    empty_slow = call(django_application, grab_url(env), token=tokens[3])
    assert json.loads(empty_fast[2])["code"] == "envelope_empty"
    same_shape(empty_fast, empty_slow)
    assert {k for k in answers[0][1]} - IGNORED == {k for k in slow[1]} - IGNORED  # the 200's headers too
    assert EnvelopeShare.objects.filter(envelope=env, user__isnull=False).count() == 3


def test_the_last_grab_through_the_route_learns_who_had_the_best_luck():
    import json

    env = opened(total_fen=1_000, count=2)
    answers = [json.loads(call(application, grab_url(env), token=token_issue(user=UserFactory()))[2])
               for _ in range(2)]
    best = RedEnvelope.objects.get(pk=env.pk).best_position
    assert answers[0]["is_best"] is None
    assert answers[1]["is_best"] is (answers[1]["rank"] - 1 == best)


@pytest.mark.parametrize("case", ["no token", "malformed", "unknown token", "bad host", "html only", "huge id",
                                  "get"])
def test_what_the_route_does_not_answer_reaches_django_untouched(case):
    env = opened(total_fen=300, count=3)
    token = token_issue(user=UserFactory())
    path, kwargs = grab_url(env), {"token": token}
    if case == "no token":
        kwargs = {}
    elif case == "malformed":
        kwargs = {"HTTP_AUTHORIZATION": f"Bearer {token} extra"}
    elif case == "unknown token":
        kwargs = {"token": "x" * 40}
    elif case == "bad host":
        kwargs["HTTP_HOST"] = "evil.example.com"
    elif case == "html only":
        kwargs["HTTP_ACCEPT"] = "text/html"
    elif case == "huge id":
        path = "/api/v1/red-envelopes/" + "9" * 30 + "/grab/"
    elif case == "get":
        kwargs["method"] = "GET"
    fast = call(application, path, **kwargs)
    slow = call(django_application, path, **kwargs)
    same_shape(fast, slow)
    assert fast[0] in (400, 401, 404, 405, 406)
    assert not EnvelopeShare.objects.filter(envelope=env, user__isnull=False).exists()


def test_a_throttled_grabber_gets_the_views_429_and_nothing_is_taken(settings):
    settings.THROTTLE_GRAB = "2/min"
    env = opened(total_fen=300, count=3)
    token = token_issue(user=UserFactory())
    codes = [call(application, grab_url(env), token=token)[0] for _ in range(4)]
    assert codes[:2] == [200, 409] and codes[2:] == [429, 429]
    status, headers, _ = call(application, grab_url(env), token=token)
    assert status == 429 and "Retry-After" in headers
    assert EnvelopeShare.objects.filter(envelope=env, user__isnull=False).count() == 1


@pytest.mark.redis
def test_a_token_revoked_elsewhere_may_hear_already_grabbed_but_never_takes_a_share(_setup):
    clock = _setup
    full = opened(total_fen=300, count=3)
    other = opened(total_fen=300, count=3)
    user = UserFactory()
    token = token_issue(user=user)
    assert call(application, grab_url(full), token=token)[0] == 200  # the token is now cached here
    AuthToken.objects.filter(user=user).update(revoked_at=timezone.now())  # another process logs out
    clock.now += 5  # past AUTH_TOKEN_CACHE_SECONDS, within AUTH_TOKEN_ANSWER_SECONDS
    again = call(application, grab_url(full), token=token)
    assert again[0] == 409  # an answer that changes nothing, from Redis
    status, _, body = call(application, grab_url(other), token=token)
    assert status == 401, body  # a share would be taken: the database was asked, and said no
    assert not EnvelopeShare.objects.filter(envelope=other, user__isnull=False).exists()
    assert gates.gate_peek(gates.gate(), envelope_id=other.pk, user_id=user.pk) == 2  # nothing recorded
    clock.now += 400  # past AUTH_TOKEN_ANSWER_SECONDS: not even that
    assert call(application, grab_url(full), token=token)[0] == 401


def test_a_grab_past_the_envelopes_lifetime_says_so_every_time_and_takes_nothing():
    import json

    env = opened(total_fen=300, count=3)
    envelope_grabs.envelope_gate_warm(envelope_id=env.pk)
    RedEnvelope.objects.filter(pk=env.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    token = token_issue(user=UserFactory())
    codes = [json.loads(call(application, grab_url(env), token=token)[2])["code"] for _ in range(2)]
    assert codes == ["envelope_expired", "envelope_expired"]
    assert not EnvelopeShare.objects.filter(envelope=env, user__isnull=False).exists()
    assert RedEnvelope.objects.get(pk=env.pk).status == EnvelopeStatus.ACTIVE  # the beat job expires it


@pytest.mark.redis
def test_a_share_redis_forgot_is_refused_and_its_position_goes_to_the_next_grabber():
    """Redis rebuilt without a grab the database has (say it was lost between the commit and the
    rebuild): the user is refused a second share by the unique constraint, and the position the
    gate handed them goes back to the head of the list for the next person."""
    import json

    env = opened(total_fen=300, count=3)
    user = UserFactory()
    first = json.loads(call(application, grab_url(env), token=token_issue(user=user))[2])
    g = gates.gate()
    g.client.hdel(gates.gate_keys(env.pk)[1], user.pk)  # Redis forgets the pair
    again = json.loads(call(application, grab_url(env), token=token_issue(user=user))[2])
    assert again["code"] == "already_grabbed"
    assert g.client.lindex(gates.gate_keys(env.pk)[0], 0) == b"1"  # position 1 given back
    nxt = json.loads(call(application, grab_url(env), token=token_issue(user=UserFactory()))[2])
    assert (first["rank"], nxt["rank"]) == (1, 2)
    assert EnvelopeShare.objects.filter(envelope=env, user__isnull=False).count() == 2


def test_the_served_application_is_the_route_around_django():
    """What gunicorn and runserver load (config.wsgi:application) is this route around Django's app."""
    import subprocess
    import sys
    from pathlib import Path

    from tests.test_production_checks import _env

    root = Path(__file__).resolve().parents[2]
    code = ("import config.wsgi as w; from api.grab_route import GrabRoute; "
            "assert isinstance(w.application, GrabRoute) and w.application.django_app is "
            "w.django_application; print('ok')")
    done = subprocess.run([sys.executable, "-c", code], cwd=root, capture_output=True, text=True, timeout=120,
                          env=_env(DEBUG="1", DATABASE_URL="sqlite:////tmp/fenxiao-deploy-check.sqlite3"))
    assert done.stdout.strip() == "ok", done.stderr
    assert GrabRoute  # the class the subprocess checked


def test_with_a_middleware_it_does_not_know_the_route_steps_aside(settings):
    settings.MIDDLEWARE = [*settings.MIDDLEWARE, "tests.api.test_grab_route.TagMiddleware"]
    route = GrabRoute(WSGIHandler())
    env = opened(total_fen=300, count=3)
    status, headers, _ = call(route, grab_url(env), token=token_issue(user=UserFactory()))
    assert (route.enabled, status, headers.get("X-Tag")) == (False, 200, "django")  # Django answered


class TagMiddleware:
    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        response["X-Tag"] = "django"
        return response


def test_the_language_of_the_answer_follows_the_request_as_in_django():
    env = opened(total_fen=300, count=1)
    token = token_issue(user=UserFactory())
    assert call(application, grab_url(env), token=token)[0] == 200
    for language in ("en", "zh-hans", "fr"):
        fast = call(application, grab_url(env), token=token, HTTP_ACCEPT_LANGUAGE=language)
        slow = call(django_application, grab_url(env), token=token, HTTP_ACCEPT_LANGUAGE=language)
        same_shape(fast, slow)
        assert fast[1]["Content-Language"] == ("en" if language == "en" else "zh-hans")


def test_sixty_grabbers_at_once_through_the_route_take_twenty_shares_once_each():
    import json

    from tests.concurrency import run_at_once

    env = opened(total_fen=20_000, count=20)
    tokens = [token_issue(user=UserFactory()) for _ in range(60)]

    def one(i: int):
        from django.db import connection

        try:
            status, _, body = call(application, grab_url(env), token=tokens[i])
            return status, json.loads(body)
        finally:
            connection.close()

    results = run_at_once(one, 60)
    wins = [body for status, body in results if status == 200]
    assert len(wins) == 20 and sorted(b["rank"] for b in wins) == list(range(1, 21))
    assert {body["code"] for status, body in results if status != 200} == {"envelope_empty"}
    rows = EnvelopeShare.objects.filter(envelope=env, user__isnull=False)
    assert rows.count() == 20 and rows.values("user").distinct().count() == 20
    assert sum(b["amount_fen"] for b in wins) == 20_000
    assert sum(1 for b in wins if b["is_best"]) <= 1


@pytest.mark.redis
@pytest.mark.parametrize("lost", ["scripts", "everything"])
def test_redis_losing_its_scripts_or_its_keys_mid_envelope_grabs_nobody_twice(lost):
    """SCRIPT FLUSH (a restarted Redis forgets the scripts the route sends by digest) or FLUSHDB
    half-way: the winners are told already_grabbed, the rest still get the remaining shares."""
    import json

    env = opened(total_fen=600, count=6)
    users = [UserFactory() for _ in range(8)]
    tokens = [token_issue(user=u) for u in users]
    first = [call(application, grab_url(env), token=t)[0] for t in tokens[:3]]
    g = gates.gate()
    if lost == "scripts":
        g.client.script_flush()
    else:
        g.client.flushdb()
    again = [json.loads(call(application, grab_url(env), token=t)[2]).get("code") for t in tokens[:3]]
    rest = [call(application, grab_url(env), token=t) for t in tokens[3:]]
    assert first == [200, 200, 200] and again == ["already_grabbed"] * 3
    assert [r[0] for r in rest] == [200, 200, 200, 409, 409]
    rows = EnvelopeShare.objects.filter(envelope=env, user__isnull=False)
    assert rows.count() == 6 and rows.values("user").distinct().count() == 6


def test_a_crash_in_the_grab_answers_the_json_500_in_the_requests_language(monkeypatch):
    import json

    env = opened(total_fen=300, count=3)
    token = token_issue(user=UserFactory())

    def broken(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(envelope_grabs, "envelope_grab", broken)
    for language in ("en", "zh-hans"):
        status, headers, body = call(application, grab_url(env), token=token, HTTP_ACCEPT_LANGUAGE=language)
        with translation.override(language):
            expected = translation.gettext("Internal server error.")
        assert (status, json.loads(body)) == (500, {"code": "server_error", "message": expected, "extra": {}})
        assert headers["Content-Language"] == language
    assert not EnvelopeShare.objects.filter(envelope=env, user__isnull=False).exists()
