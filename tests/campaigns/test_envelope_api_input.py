"""Bad input on the red-envelope endpoints over HTTP (issue 12): for each POST the wrong, the
missing, the huge, the negative, the duplicated (Idempotency-Key replays and reuse) and the
forged input, and every state a request can meet (count 0, less than a fen a share, over the
operator's limits, a grab on a funding / expired / cancelled / unknown envelope, a top-up to
an open one, a wallet without the balance, someone else's envelope, no login, no openid).
Each refusal answers the error shape with its status and stable code AND changes nothing:
no envelope, share, backing, WeChat payment, refund, event, follow or ledger transaction,
every balance as it was (envelope_api_helpers.world)."""
from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from api.models import IdempotencyRecord
from campaigns.models import EnvelopeBacking, EnvelopeShare, EnvelopeStatus, RedEnvelope, RedEnvelopeSettings
from campaigns.services import envelopes as env_services
from campaigns.services.envelope_grabs import envelope_grab
from campaigns.services.envelope_payments import envelope_cancel
from campaigns.services.envelope_posting import envelope_grabs_post
from tests.campaigns.api_helpers import assert_error, assert_invalid
from tests.campaigns.envelope_api_helpers import (
    ENVELOPES,
    create_body,
    detail_url,
    grab_url,
    open_url,
    top_ups_url,
    user_envelopes_url,
    world,
)
from tests.campaigns.envelope_helpers import opened, owner_with, wallet
from tests.commissions.wallet_helpers import fund
from tests.factories import UserFactory
from wechat.models import WechatPayment

E = EnvelopeStatus
HUGE = 2**63  # past every integer column
MAX_TOTAL, MAX_COUNT, MAX_SHARE, MAX_HOURS = 1_000_000, 1_000, 20_000, 72  # RedEnvelopeSettings' defaults


def _raw(client, url: str, raw: str, **headers):
    return client.post(url, data=raw, content_type="application/json", **headers)


def _refused(client, url: str, body, status: int, code: str, field: str | None = None, **headers) -> dict:
    before = world()
    res = client.post(url, body, format="json", **headers)
    err = assert_invalid(res, field) if field else assert_error(res, status, code)
    assert world() == before
    return err


def funding(*, total_fen: int = 1_000, count: int = 5, owner=None):
    """An envelope filled from its owner's wallet, not opened (others may top it up)."""
    owner = owner or owner_with(total_fen)
    env, _ = env_services.envelope_create(owner=owner, total_fen=total_fen, count=count)
    return env


@pytest.fixture
def rich_client(client_for, db):
    """A logged-in user with 1,000,000 yuan in the wallet, and that user."""
    person = owner_with(10**8)
    return client_for(person), person


# === POST /red-envelopes/ =================================================================

WRONG_INT = [None, "1000", "1e3", 1000.0, 1000.5, True, False, [1000], {"fen": 1000}, "", HUGE, -HUGE, 10**40]


@pytest.mark.parametrize("value", [*WRONG_INT, 0, -1, -(2**62), 10**12 + 1, 2**62], ids=repr)
def test_create_with_a_wrong_total(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(total_fen=value), 400, "invalid", "total_fen")


@pytest.mark.parametrize("value", [*WRONG_INT, 0, -1, -5, MAX_COUNT + 1, 2**31], ids=repr)
def test_create_with_a_wrong_count(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(count=value), 400, "invalid", "count")


@pytest.mark.parametrize("value", [None, "", "RANDOM", "Equal", "fair", "random ", 1, True, ["random"]], ids=repr)
def test_create_with_a_wrong_split(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(split=value), 400, "invalid", "split")


@pytest.mark.parametrize("value", [0, -1, MAX_HOURS + 1, 24 * 30 + 1, HUGE, "24", 24.0, 24.5, True, [24], {}], ids=repr)
def test_create_with_a_wrong_lifetime(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(expires_hours=value), 400, "invalid", "expires_hours")


@pytest.mark.parametrize("value", [123, True, ["hi"], {"g": "hi"}, "字" * 61, "x" * 10_000, "a\x00b"],
                         ids=lambda v: repr(v)[:20])
def test_create_with_a_wrong_greeting(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(greeting=value), 400, "invalid", "greeting")


@pytest.mark.parametrize("value", [None, "", "cash", "WALLET", "alipay", "wallet ", 1, True, ["wallet"]], ids=repr)
def test_create_with_a_wrong_pay_with(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(pay_with=value), 400, "invalid", "pay_with")


@pytest.mark.parametrize("value", [None, "true", "false", 1, 0, "yes", [True], {}], ids=repr)
def test_create_with_a_wrong_open_now(rich_client, value):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(open_now=value), 400, "invalid", "open_now")


@pytest.mark.parametrize("missing", ["total_fen", "count", "pay_with"])
def test_create_without_a_required_field(rich_client, missing):
    client, _ = rich_client
    body = create_body()
    del body[missing]
    _refused(client, ENVELOPES, body, 400, "invalid", missing)


@pytest.mark.parametrize("raw", ["", "not json", "[]", "[1, 2]", "123", '"text"', "null", '{"total_fen": '])
def test_create_with_a_body_that_is_not_an_object(rich_client, raw):
    client, _ = rich_client
    before = world()
    res = _raw(client, ENVELOPES, raw)
    assert res.json()["code"] in {"invalid", "parse_error"}, res.json()
    assert_error(res, 400, res.json()["code"])
    assert world() == before


def test_create_with_count_zero_is_refused_but_one_is_accepted(rich_client):
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(total_fen=1, count=0), 400, "invalid", "count")
    assert client.post(ENVELOPES, create_body(total_fen=1, count=1), format="json").status_code == 201


@pytest.mark.parametrize(("total", "count"), [(4, 5), (1, 2), (999, 1_000)])
def test_create_with_less_than_a_fen_a_share(rich_client, total, count):
    client, _ = rich_client
    body = _refused(client, ENVELOPES, create_body(total_fen=total, count=count), 400, "amount_too_small")
    assert body["extra"] == {"total_fen": total, "count": count}
    assert client.post(ENVELOPES, create_body(total_fen=count, count=count), format="json").status_code == 201


@pytest.mark.parametrize("split", ["random", "equal"])
def test_create_above_the_total_limit(rich_client, split):
    client, _ = rich_client
    body = _refused(client, ENVELOPES, create_body(total_fen=MAX_TOTAL + 1, count=MAX_COUNT, split=split), 400,
                    "amount_too_large")
    assert body["extra"] == {"max_total_fen": MAX_TOTAL}
    res = client.post(ENVELOPES, create_body(total_fen=MAX_TOTAL, count=MAX_COUNT, split=split), format="json")
    assert res.status_code == 201, res.content


@pytest.mark.parametrize(("total", "count"), [(MAX_SHARE + 1, 1), (2 * MAX_SHARE + 1, 2), (10 * MAX_SHARE + 1, 10)])
def test_create_with_a_share_above_the_limit(rich_client, total, count):
    client, _ = rich_client
    for split in ("random", "equal"):
        body = _refused(client, ENVELOPES, create_body(total_fen=total, count=count, split=split), 400,
                        "share_too_large")
        assert body["extra"] == {"max_share_fen": MAX_SHARE, "count": count}
    res = client.post(ENVELOPES, create_body(total_fen=total - 1, count=count, split="equal"), format="json")
    assert res.status_code == 201, res.content


def test_create_above_the_operators_own_limits(rich_client):
    RedEnvelopeSettings.objects.create(pk=1, max_total_fen=5_000, max_count=10, max_share_fen=600,
                                       default_expires_hours=2, max_expires_hours=4)
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(total_fen=5_001, count=10), 400, "amount_too_large")
    _refused(client, ENVELOPES, create_body(total_fen=100, count=11), 400, "invalid", "count")
    _refused(client, ENVELOPES, create_body(total_fen=601, count=1), 400, "share_too_large")
    _refused(client, ENVELOPES, create_body(total_fen=100, count=1, expires_hours=5), 400, "invalid", "expires_hours")
    res = client.post(ENVELOPES, create_body(total_fen=5_000, count=10, expires_hours=4), format="json")
    assert res.status_code == 201, res.content


def test_create_when_envelopes_are_turned_off(rich_client):
    RedEnvelopeSettings.objects.create(pk=1, enabled=False)
    client, _ = rich_client
    _refused(client, ENVELOPES, create_body(), 409, "envelopes_off")


@pytest.mark.parametrize(("has", "total"), [(0, 1), (999, 1_000), (1_000, 100_000)])
def test_create_from_a_wallet_without_the_balance(client_for, db, has, total):
    owner = owner_with(has) if has else UserFactory()
    body = _refused(client_for(owner), ENVELOPES, create_body(total_fen=total, count=1 if total <= MAX_SHARE else 10),
                    409, "insufficient_balance")
    assert isinstance(body["extra"], dict)
    assert wallet(owner) == has


def test_create_with_the_whole_balance_is_accepted(client_for, db):
    owner = owner_with(1_000)
    res = client_for(owner).post(ENVELOPES, create_body(total_fen=1_000), format="json")
    assert res.status_code == 201, res.content
    assert wallet(owner) == 0


def test_create_without_login(api_client, db):
    _refused(api_client, ENVELOPES, create_body(), 401, "not_authenticated")


def test_create_with_a_forged_token(api_client, db):
    api_client.credentials(HTTP_AUTHORIZATION="Bearer forged.token.value")
    before = world()
    res = api_client.post(ENVELOPES, create_body(), format="json")
    assert res.status_code == 401 and res.json()["code"] in {"authentication_failed", "not_authenticated"}
    assert world() == before


def test_create_by_wechat_without_a_wechat_login(client_for, db):
    body = _refused(client_for(UserFactory(openid=None)), ENVELOPES, create_body(pay_with="wechat"), 400,
                    "no_openid")
    assert body["extra"] == {}


def test_create_with_forged_fields_that_are_not_inputs(rich_client):
    """The owner is the caller; status, pool, share limit, best luck and code are the service's."""
    client, person = rich_client
    other = UserFactory()
    forged = create_body(total_fen=1_000, count=5, status="active", pool_fen=10**6, owner_id=other.pk,
                         owner=other.pk, user_id=other.pk, max_share_fen=10**9, best_position=0, share_code="FORGED",
                         opened_at="2000-01-01T00:00:00Z", expires_at="2099-01-01T00:00:00Z", returned_fen=5,
                         id=1, open_when_paid=True, shares=[1_000, 0, 0, 0, 0])
    res = client.post(ENVELOPES, forged, format="json")
    assert res.status_code == 201, res.content
    env = RedEnvelope.objects.get(pk=res.json()["id"])
    assert (env.owner_id, env.status, env.pool_fen, env.total_fen, env.max_share_fen, env.best_position,
            env.opened_at, env.expires_at, env.returned_fen, env.open_when_paid) \
        == (person.pk, E.FUNDING, 1_000, 1_000, MAX_SHARE, None, None, None, 0, False)
    assert env.share_code != "FORGED" and not EnvelopeShare.objects.exists()
    assert wallet(other) == 0 and wallet(person) == 10**8 - 1_000


def test_create_with_a_bad_idempotency_key(rich_client):
    client, _ = rich_client
    before = world()
    for key in ("x" * 256, "   ", "bad\nkey", "bad\x00key"):
        assert_error(client.post(ENVELOPES, create_body(), format="json", HTTP_IDEMPOTENCY_KEY=key), 400, "invalid")
    assert world() == before


def test_a_replayed_create_charges_the_wallet_once(client_for, db):
    owner = owner_with(5_000)
    client = client_for(owner)
    first = client.post(ENVELOPES, create_body(total_fen=2_000, open_now=True), format="json",
                        HTTP_IDEMPOTENCY_KEY="env-1")
    assert first.status_code == 201, first.content
    before = world()
    again = client.post(ENVELOPES, create_body(total_fen=2_000, open_now=True), format="json",
                        HTTP_IDEMPOTENCY_KEY="env-1")
    assert (again.status_code, again.json(), again.headers.get("Idempotent-Replayed")) \
        == (201, first.json(), "true")
    assert world() == before
    assert RedEnvelope.objects.count() == 1 and wallet(owner) == 3_000
    assert EnvelopeShare.objects.count() == 5


def test_an_idempotency_key_reused_for_another_body_is_refused(client_for, db):
    owner = owner_with(5_000)
    client = client_for(owner)
    assert client.post(ENVELOPES, create_body(total_fen=1_000), format="json",
                       HTTP_IDEMPOTENCY_KEY="env-2").status_code == 201
    _refused(client, ENVELOPES, create_body(total_fen=1_001), 422, "idempotency_key_reused",
             HTTP_IDEMPOTENCY_KEY="env-2")
    _refused(client, ENVELOPES, create_body(total_fen=1_000, count=4), 422, "idempotency_key_reused",
             HTTP_IDEMPOTENCY_KEY="env-2")
    assert wallet(owner) == 4_000
    # keys are per user: someone else's "env-2" is their own request
    other = owner_with(1_000)
    assert client_for(other).post(ENVELOPES, create_body(total_fen=1_000), format="json",
                                  HTTP_IDEMPOTENCY_KEY="env-2").status_code == 201
    assert wallet(other) == 0 and RedEnvelope.objects.count() == 2


def test_a_refused_request_does_not_burn_its_idempotency_key(client_for, db):
    """A request refused for want of money keeps no record of its key: retried with the same key
    once the money is there, it runs (and is then replayed, charged once)."""
    owner = owner_with(500)
    client = client_for(owner)
    records = IdempotencyRecord.objects.count()
    _refused(client, ENVELOPES, create_body(total_fen=1_000), 409, "insufficient_balance",
             HTTP_IDEMPOTENCY_KEY="env-3")
    assert IdempotencyRecord.objects.count() == records
    fund(owner, 500)
    res = client.post(ENVELOPES, create_body(total_fen=1_000), format="json", HTTP_IDEMPOTENCY_KEY="env-3")
    assert res.status_code == 201, res.content
    again = client.post(ENVELOPES, create_body(total_fen=1_000), format="json", HTTP_IDEMPOTENCY_KEY="env-3")
    assert (again.status_code, again.json()) == (201, res.json())
    assert wallet(owner) == 0 and RedEnvelope.objects.count() == 1


def test_duplicate_json_keys_take_the_last_value(rich_client):
    client, _ = rich_client
    before = world()
    res = _raw(client, ENVELOPES, '{"total_fen": 1000, "count": 5, "pay_with": "wallet", "count": 0}')
    assert_invalid(res, "count")
    res = _raw(client, ENVELOPES, '{"total_fen": 1000, "count": 5, "pay_with": "wallet", "total_fen": 4}')
    assert assert_error(res, 400, "amount_too_small")["extra"] == {"total_fen": 4, "count": 5}
    res = _raw(client, ENVELOPES, '{"total_fen": 1000, "count": 5, "pay_with": "wallet", "pay_with": "cash"}')
    assert_invalid(res, "pay_with")
    assert world() == before


# === POST /red-envelopes/{id}/top-ups/ =====================================================


@pytest.mark.parametrize("value", [*WRONG_INT, 0, -1, -(2**62), 10**12 + 1], ids=repr)
def test_top_up_with_a_wrong_amount(rich_client, value):
    client, _ = rich_client
    env = funding()
    _refused(client, top_ups_url(env), {"amount_fen": value, "pay_with": "wallet"}, 400, "invalid", "amount_fen")


@pytest.mark.parametrize("value", [None, "", "cash", "Wallet", 1, True, ["wallet"]], ids=repr)
def test_top_up_with_a_wrong_pay_with(rich_client, value):
    client, _ = rich_client
    env = funding()
    _refused(client, top_ups_url(env), {"amount_fen": 100, "pay_with": value}, 400, "invalid", "pay_with")


@pytest.mark.parametrize("missing", ["amount_fen", "pay_with"])
def test_top_up_without_a_required_field(rich_client, missing):
    client, _ = rich_client
    env = funding()
    body = {"amount_fen": 100, "pay_with": "wallet"}
    del body[missing]
    _refused(client, top_ups_url(env), body, 400, "invalid", missing)


@pytest.mark.parametrize("raw", ["", "not json", "[]", "[100]", "100", "null", '{"amount_fen": '])
def test_top_up_with_a_body_that_is_not_an_object(rich_client, raw):
    client, _ = rich_client
    env = funding()
    before = world()
    res = _raw(client, top_ups_url(env), raw)
    assert res.json()["code"] in {"invalid", "parse_error"}, res.json()
    assert_error(res, 400, res.json()["code"])
    assert world() == before


def _closed(status: str):
    """An envelope in `status`, reached through the services."""
    if status == E.PENDING_PAYMENT:
        return _pending()
    if status == E.CANCELLED:
        env = funding()
        assert envelope_cancel(envelope_id=env.pk, now=timezone.now() + timedelta(days=8))
        return env
    env = opened(total_fen=1_000, count=2)
    if status == E.EXPIRED:
        assert env_services.envelope_expire(envelope_id=env.pk, now=timezone.now() + timedelta(days=4))
    elif status == E.EMPTY:
        for _ in range(2):
            envelope_grab(user_id=UserFactory().pk, envelope_id=env.pk)
        envelope_grabs_post(envelope_id=env.pk)
    env.refresh_from_db()
    assert env.status == status
    return env


def _pending():
    """An envelope waiting for its owner's WeChat payment (no WeChat call: made in the database)."""
    owner = UserFactory()
    return RedEnvelope.objects.create(owner=owner, status=E.PENDING_PAYMENT, count=5, total_fen=1_000,
                                      share_code=f"PEND{owner.pk}", expires_hours=24, max_share_fen=MAX_SHARE)


@pytest.mark.parametrize("status", [E.ACTIVE, E.EMPTY, E.EXPIRED, E.CANCELLED, E.PENDING_PAYMENT])
@pytest.mark.parametrize("pay_with", ["wallet", "wechat"])
def test_top_up_an_envelope_that_is_not_funding(rich_client, status, pay_with):
    client, _ = rich_client
    env = _closed(status)
    body = _refused(client, top_ups_url(env), {"amount_fen": 100, "pay_with": pay_with}, 409, "envelope_not_funding")
    assert body["extra"] == {"status": status}


def test_top_up_an_envelope_the_owner_just_opened(client_for, db):
    owner = owner_with(1_000)
    env = funding(owner=owner)
    fan = client_for(owner_with(500))
    assert fan.post(top_ups_url(env), {"amount_fen": 200, "pay_with": "wallet"}, format="json").status_code == 201
    assert client_for(owner).post(open_url(env)).status_code == 200
    _refused(fan, top_ups_url(env), {"amount_fen": 200, "pay_with": "wallet"}, 409, "envelope_not_funding")
    assert RedEnvelope.objects.get(pk=env.pk).pool_fen == 1_200


@pytest.mark.parametrize("pk", [0, 987_654_321, HUGE, 10**30])
def test_top_up_an_unknown_envelope(rich_client, pk):
    client, _ = rich_client
    funding()
    _refused(client, top_ups_url(pk), {"amount_fen": 100, "pay_with": "wallet"}, 404, "not_found")


@pytest.mark.parametrize("path", ["abc/top-ups/", "-1/top-ups/", "1.0/top-ups/", "1e3/top-ups/"])
def test_top_up_on_a_path_that_is_not_an_envelope(rich_client, path):
    client, _ = rich_client
    funding()
    before = world()
    res = client.post(f"{ENVELOPES}{path}", {"amount_fen": 100, "pay_with": "wallet"}, format="json")
    assert_error(res, 404, "not_found")
    assert world() == before


def test_top_up_past_the_share_limit(rich_client):
    client, _ = rich_client
    env = funding(total_fen=MAX_SHARE - 100, count=1)
    body = _refused(client, top_ups_url(env), {"amount_fen": 101, "pay_with": "wallet"}, 400, "share_too_large")
    assert body["extra"] == {"max_share_fen": MAX_SHARE, "count": 1}
    assert client.post(top_ups_url(env), {"amount_fen": 100, "pay_with": "wallet"}, format="json").status_code == 201


def test_top_up_past_the_total_limit(rich_client):
    client, _ = rich_client
    env = funding(total_fen=MAX_TOTAL - 10, count=MAX_COUNT)
    for pay_with in ("wallet", "wechat"):
        body = _refused(client, top_ups_url(env), {"amount_fen": 11, "pay_with": pay_with}, 400, "amount_too_large")
        assert body["extra"] == {"max_total_fen": MAX_TOTAL}
    assert client.post(top_ups_url(env), {"amount_fen": 10, "pay_with": "wallet"}, format="json").status_code == 201


def test_the_share_limit_of_a_top_up_is_the_envelopes_own(rich_client):
    """The limit fixed when it was created: an operator lowering it later does not refuse top-ups
    the envelope could take, nor raising it let in more."""
    client, _ = rich_client
    env = funding(total_fen=1_000, count=1)
    RedEnvelopeSettings.objects.update_or_create(pk=1, defaults={"max_share_fen": 10**6})
    _refused(client, top_ups_url(env), {"amount_fen": MAX_SHARE, "pay_with": "wallet"}, 400, "share_too_large")
    RedEnvelopeSettings.objects.filter(pk=1).update(max_share_fen=500)
    res = client.post(top_ups_url(env), {"amount_fen": MAX_SHARE - 1_000, "pay_with": "wallet"}, format="json")
    assert res.status_code == 201, res.content


@pytest.mark.parametrize(("has", "amount"), [(0, 1), (99, 100), (500, 10_000)])
def test_top_up_from_a_wallet_without_the_balance(client_for, db, has, amount):
    env = funding(total_fen=1_000, count=5)
    fan = owner_with(has) if has else UserFactory()
    _refused(client_for(fan), top_ups_url(env), {"amount_fen": amount, "pay_with": "wallet"}, 409,
             "insufficient_balance")
    assert wallet(fan) == has and RedEnvelope.objects.get(pk=env.pk).pool_fen == 1_000


def test_top_up_by_wechat_without_a_wechat_login(client_for, db):
    env = funding()
    body = _refused(client_for(UserFactory(openid=None)), top_ups_url(env), {"amount_fen": 100, "pay_with": "wechat"},
                    400, "no_openid")
    assert body["extra"] == {}


def test_top_up_without_login(api_client, db):
    env = funding()
    _refused(api_client, top_ups_url(env), {"amount_fen": 100, "pay_with": "wallet"}, 401, "not_authenticated")


def test_top_up_with_forged_fields_that_are_not_inputs(rich_client):
    """The backer is the caller, the envelope the one in the path; never the owner's own money,
    never a status of the client's choosing."""
    client, person = rich_client
    owner = owner_with(2_000)
    env, other_env = funding(owner=owner), funding()
    forged = {"amount_fen": 300, "pay_with": "wallet", "user_id": owner.pk, "envelope_id": other_env.pk,
              "envelope": other_env.pk, "is_owner": True, "status": "refunded", "no": "X" * 16, "pool_fen": 1}
    res = client.post(top_ups_url(env), forged, format="json")
    assert res.status_code == 201, res.content
    b = EnvelopeBacking.objects.get(no=res.json()["no"])
    assert (b.user_id, b.envelope_id, b.is_owner, b.status, b.amount_fen) == (person.pk, env.pk, False, "paid", 300)
    assert b.no != "X" * 16
    assert RedEnvelope.objects.get(pk=env.pk).pool_fen == 1_300
    assert RedEnvelope.objects.get(pk=other_env.pk).pool_fen == 1_000
    assert wallet(owner) == 1_000 and wallet(person) == 10**8 - 300


def test_a_replayed_top_up_charges_the_wallet_once(client_for, db):
    env = funding()
    fan = owner_with(1_000)
    client = client_for(fan)
    first = client.post(top_ups_url(env), {"amount_fen": 400, "pay_with": "wallet"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="top-1")
    assert first.status_code == 201, first.content
    before = world()
    again = client.post(top_ups_url(env), {"amount_fen": 400, "pay_with": "wallet"}, format="json",
                        HTTP_IDEMPOTENCY_KEY="top-1")
    assert (again.status_code, again.json(), again.headers.get("Idempotent-Replayed")) == (201, first.json(), "true")
    assert world() == before and wallet(fan) == 600
    _refused(client, top_ups_url(env), {"amount_fen": 401, "pay_with": "wallet"}, 422, "idempotency_key_reused",
             HTTP_IDEMPOTENCY_KEY="top-1")
    # the same key on another envelope's path is another request body
    other = funding()
    _refused(client, top_ups_url(other), {"amount_fen": 400, "pay_with": "wallet"}, 422, "idempotency_key_reused",
             HTTP_IDEMPOTENCY_KEY="top-1")
    assert wallet(fan) == 600 and RedEnvelope.objects.get(pk=env.pk).pool_fen == 1_400


def test_top_up_duplicate_json_keys_take_the_last_value(rich_client):
    client, _ = rich_client
    env = funding()
    before = world()
    res = _raw(client, top_ups_url(env), '{"amount_fen": 100, "pay_with": "wallet", "amount_fen": -5}')
    assert_invalid(res, "amount_fen")
    res = _raw(client, top_ups_url(env), '{"amount_fen": 100, "pay_with": "wallet", "amount_fen": "100"}')
    assert_invalid(res, "amount_fen")
    assert world() == before


# === POST /red-envelopes/{id}/open/ ========================================================


def test_open_someone_elses_envelope(client_for, db):
    stranger = owner_with(500)
    env = funding()
    owner = env.owner
    client = client_for(stranger)
    assert client.post(top_ups_url(env), {"amount_fen": 500, "pay_with": "wallet"}, format="json").status_code == 201
    _refused(client, open_url(env), None, 403, "not_envelope_owner")  # even a backer
    _refused(client_for(UserFactory(is_staff=True)), open_url(env), None, 403, "not_envelope_owner")
    assert client_for(owner).post(open_url(env)).status_code == 200


@pytest.mark.parametrize("status", [E.ACTIVE, E.EMPTY, E.EXPIRED, E.CANCELLED, E.PENDING_PAYMENT])
def test_open_an_envelope_that_is_not_funding(client_for, db, status):
    env = _closed(status)
    body = _refused(client_for(env.owner), open_url(env), None, 409, "envelope_not_funding")
    assert body["extra"] == {"status": status}


def test_someone_else_opening_a_closed_envelope_is_told_it_is_not_theirs(client_for, db):
    env = _closed(E.ACTIVE)
    _refused(client_for(UserFactory()), open_url(env), None, 403, "not_envelope_owner")


@pytest.mark.parametrize("pk", [0, 987_654_321, HUGE, 10**30])
def test_open_an_unknown_envelope(rich_client, pk):
    client, _ = rich_client
    funding()
    _refused(client, open_url(pk), None, 404, "not_found")


def test_open_without_login(api_client, db):
    env = funding()
    _refused(api_client, open_url(env), None, 401, "not_authenticated")


def test_open_with_forged_fields(client_for, db):
    """Opening reads no body: no count, split, shares or lifetime of the client's choosing."""
    env = funding(total_fen=1_000, count=5)
    res = client_for(env.owner).post(open_url(env), {"count": 1, "split": "equal", "shares": [1_000],
                                                     "expires_hours": 720, "best_position": 0,
                                                     "envelope_id": 1}, format="json")
    assert res.status_code == 200, res.content
    env.refresh_from_db()
    shares = list(EnvelopeShare.objects.filter(envelope=env).values_list("amount_fen", flat=True))
    assert len(shares) == 5 and sum(shares) == 1_000 and env.split == "random"
    assert env.expires_at - env.opened_at == timedelta(hours=24)


def test_open_twice(client_for, db):
    env = funding()
    client = client_for(env.owner)
    assert client.post(open_url(env)).status_code == 200
    _refused(client, open_url(env), None, 409, "envelope_not_funding")


# === POST /red-envelopes/{id}/grab/ ========================================================


@pytest.mark.parametrize("status", [E.PENDING_PAYMENT, E.EXPIRED, E.CANCELLED])
def test_grab_an_envelope_that_is_not_open(client_for, db, status):
    env = _closed(status)
    body = _refused(client_for(UserFactory()), grab_url(env), None, 409, "envelope_expired")
    assert body["extra"] == {"status": status}


def test_grab_a_funding_envelope(client_for, db):
    """Not open yet: nobody grabs, not the owner, not a backer; and it can be opened afterwards."""
    env = funding(total_fen=1_000, count=5)
    fan = owner_with(100)
    client_for(fan).post(top_ups_url(env), {"amount_fen": 100, "pay_with": "wallet"}, format="json")
    for who in (UserFactory(), fan, env.owner):
        body = _refused(client_for(who), grab_url(env), None, 409, "envelope_expired")
        assert body["extra"] == {"status": "funding"}
        assert client_for(who).post(grab_url(env), HTTP_ACCEPT_LANGUAGE="en").json()["message"] == (
            "This red envelope is not open yet.")
    assert client_for(env.owner).post(open_url(env)).status_code == 200
    assert client_for(fan).post(grab_url(env)).status_code == 200


def test_grab_after_the_lifetime_before_the_expiry_job(client_for, db):
    """Past expires_at but not expired by the job yet: refused the same, nothing taken."""
    env = opened(total_fen=1_000, count=5)
    RedEnvelope.objects.filter(pk=env.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    body = _refused(client_for(UserFactory()), grab_url(env), None, 409, "envelope_expired")
    assert body["extra"] == {"status": "active"}
    assert not EnvelopeShare.objects.filter(envelope=env, user__isnull=False).exists()


def test_grab_an_expired_envelope_after_having_grabbed_it(client_for, db):
    env = opened(total_fen=1_000, count=5)
    grabber = UserFactory()
    assert client_for(grabber).post(grab_url(env)).status_code == 200
    assert env_services.envelope_expire(envelope_id=env.pk, now=timezone.now() + timedelta(days=4))
    _refused(client_for(grabber), grab_url(env), None, 409, "already_grabbed")
    _refused(client_for(UserFactory()), grab_url(env), None, 409, "envelope_expired")


def test_grab_an_empty_envelope(client_for, db):
    env = _closed(E.EMPTY)
    _refused(client_for(UserFactory()), grab_url(env), None, 409, "envelope_empty")
    winner = EnvelopeShare.objects.filter(envelope=env).first().user
    _refused(client_for(winner), grab_url(env), None, 409, "already_grabbed")


def test_grab_twice(client_for, db):
    env = opened(total_fen=1_000, count=5)
    client = client_for(UserFactory())
    assert client.post(grab_url(env)).status_code == 200
    _refused(client, grab_url(env), None, 409, "already_grabbed")


@pytest.mark.parametrize("pk", [0, 987_654_321, HUGE, 10**30])
def test_grab_an_unknown_envelope(rich_client, pk):
    client, _ = rich_client
    opened(total_fen=1_000, count=5)
    _refused(client, grab_url(pk), None, 404, "not_found")


@pytest.mark.parametrize("path", ["abc/grab/", "-1/grab/", "1.0/grab/"])
def test_grab_on_a_path_that_is_not_an_envelope(rich_client, path):
    client, _ = rich_client
    opened(total_fen=1_000, count=5)
    before = world()
    assert_error(client.post(f"{ENVELOPES}{path}"), 404, "not_found")
    assert world() == before


def test_grab_without_login(api_client, db):
    env = opened(total_fen=1_000, count=5)
    _refused(api_client, grab_url(env), None, 401, "not_authenticated")


def test_grab_with_forged_fields(client_for, db):
    """A grab reads no body: no position, amount or user of the client's choosing."""
    env = opened(total_fen=1_000, count=5)
    grabber, other = UserFactory(), UserFactory()
    res = client_for(grabber).post(grab_url(env), {"position": 4, "amount_fen": 1_000, "user_id": other.pk,
                                                   "rank": 1, "is_best": True}, format="json")
    assert res.status_code == 200, res.content
    share = EnvelopeShare.objects.get(envelope=env, user__isnull=False)
    assert share.user_id == grabber.pk and res.json()["amount_fen"] == share.amount_fen
    assert res.json()["rank"] == share.position + 1
    assert not EnvelopeShare.objects.filter(user=other).exists()


# === GET /red-envelopes/{id}/ and /users/{id}/red-envelopes/ ==============================


@pytest.mark.parametrize("pk", [0, 987_654_321, HUGE, 10**30])
def test_the_page_of_an_unknown_envelope(api_client, db, pk):
    funding()
    assert_error(api_client.get(detail_url(pk)), 404, "not_found")


def test_the_page_is_public_and_changes_nothing(api_client, db):
    env = opened(total_fen=1_000, count=5)
    before = world()
    res = api_client.get(detail_url(env))
    assert res.status_code == 200 and res.json()["remaining_count"] == 5
    assert world() == before


@pytest.mark.parametrize("method", ["put", "patch", "delete"])
def test_the_page_cannot_be_written(client_for, db, method):
    env = funding()
    before = world()
    res = getattr(client_for(env.owner), method)(detail_url(env), {"status": "active", "pool_fen": 1}, format="json")
    assert_error(res, 405, "method_not_allowed")
    assert world() == before


@pytest.mark.parametrize("pk", [0, 987_654_321])
def test_the_envelopes_of_an_unknown_user(api_client, db, pk):
    funding()
    res = api_client.get(user_envelopes_url(pk))
    assert res.status_code == 200 and res.json()["count"] == 0 and res.json()["results"] == []


@pytest.mark.parametrize(("query", "status", "code"), [
    ("page=0", 400, "invalid"), ("page=-1", 400, "invalid"), ("page=abc", 400, "invalid"),
    (f"page={HUGE}", 400, "invalid"), ("page=99999", 404, "not_found"),  # past the end (api/pagination.py)
])
def test_the_envelopes_of_a_user_with_a_wrong_page(api_client, db, query, status, code):
    env = funding()
    res = api_client.get(f"{user_envelopes_url(env.owner)}?{query}")
    assert_error(res, status, code)


# === paid by WeChat (the sandbox over HTTP) ================================================


@pytest.mark.django_db(transaction=True)
def test_a_replayed_wechat_create_makes_one_payment(wechat_sandbox, client_for):
    owner = UserFactory()
    client = client_for(owner)
    first = client.post(ENVELOPES, create_body(pay_with="wechat"), format="json", HTTP_IDEMPOTENCY_KEY="wx-1")
    assert first.status_code == 201, first.content
    assert first.json()["status"] == "pending_payment" and first.json()["pay"]["prepay_id"]
    before = world()
    again = client.post(ENVELOPES, create_body(pay_with="wechat"), format="json", HTTP_IDEMPOTENCY_KEY="wx-1")
    assert (again.status_code, again.json()) == (201, first.json())
    assert world() == before and WechatPayment.objects.count() == 1
    # a grab or a top-up while the owner has not paid yet
    env_id = first.json()["id"]
    fan = client_for(owner_with(500))
    _refused(fan, top_ups_url(env_id), {"amount_fen": 100, "pay_with": "wallet"}, 409, "envelope_not_funding")
    _refused(fan, grab_url(env_id), None, 409, "envelope_expired")
    _refused(client, open_url(env_id), None, 409, "envelope_not_funding")


@pytest.mark.django_db(transaction=True)
def test_wechat_top_ups_past_the_limits_create_no_payment(wechat_sandbox, client_for):
    env = funding(total_fen=MAX_SHARE - 100, count=1)
    fan = client_for(UserFactory())
    _refused(fan, top_ups_url(env), {"amount_fen": 101, "pay_with": "wechat"}, 400, "share_too_large")
    _refused(fan, top_ups_url(env), {"amount_fen": 0, "pay_with": "wechat"}, 400, "invalid", "amount_fen")
    res = fan.post(top_ups_url(env), {"amount_fen": 100, "pay_with": "wechat"}, format="json",
                   HTTP_IDEMPOTENCY_KEY="wx-top")
    assert res.status_code == 201 and res.json()["status"] == "pending_payment" and res.json()["pay"], res.content
    before = world()
    again = fan.post(top_ups_url(env), {"amount_fen": 100, "pay_with": "wechat"}, format="json",
                     HTTP_IDEMPOTENCY_KEY="wx-top")
    assert (again.status_code, again.json()) == (201, res.json())
    assert world() == before and WechatPayment.objects.count() == 1


@pytest.mark.django_db(transaction=True)
def test_a_flagged_greeting_creates_nothing(wechat_sandbox, client_for):
    owner = owner_with(1_000)
    for pay_with in ("wallet", "wechat"):
        _refused(client_for(owner), ENVELOPES, create_body(greeting="flagged-word", pay_with=pay_with), 400,
                 "content_flagged")
    assert wallet(owner) == 1_000


@pytest.mark.parametrize("url", ["create", "top_up"])
def test_a_deeply_nested_body_is_a_parse_error_not_a_crash(client_for, db, url):
    """JSON nested 100,000 deep makes Python's parser raise RecursionError: a 400, not a 500."""
    env = funding()
    client = client_for(owner_with(10_000))
    client.raise_request_exception = False
    target = {"create": ENVELOPES, "top_up": top_ups_url(env)}[url]
    before = world()
    res = _raw(client, target, '{"amount_fen": ' + "[" * 100_000 + "]" * 100_000 + "}")
    assert_error(res, 400, "parse_error")
    assert world() == before
