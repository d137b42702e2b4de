"""Five people grab a red envelope, in a real browser at a phone's size.

The owner sends an envelope from its page (paid on the sandbox's WeChat pay sheet), three fans
top it up (WeChat Pay and the wallet) and become its top three backers, the owner opens it, and
five people open the shared page, log in when they grab, and see what they got and that they
now follow the owner; the last grab empties it and the page shows the best luck. A person's
page lists their envelopes with the top backers. The database is asserted beside each page:
backings, shares, wallets, follows."""

from __future__ import annotations

import re

from accounts.models import Follow
from campaigns.models import BackingStatus, EnvelopeBacking, EnvelopeShare, EnvelopeStatus, RedEnvelope
from tests.campaigns.envelope_helpers import assert_envelope_books, wallet
from tests.commissions.wallet_helpers import fund

from .helpers import login, no_js_errors, pay_on_sheet, pick_identity, shot


def _fen_text(fen: int) -> str:
    return f"¥{fen // 100}.{fen % 100:02d}"


def _send(page) -> RedEnvelope:
    page.wait_for_selector("[data-testid=envelope-new]")
    page.fill("[data-testid=env-total]", "20.00")
    page.fill("[data-testid=env-count]", "5")
    page.check("[data-testid=env-split-random]")
    page.fill("[data-testid=env-greeting-input]", "新年快乐，手气最佳请吃饭")
    page.check("[data-testid=env-pay-wechat]")
    shot(page, "envelope-new")
    page.click("[data-testid=env-create]")
    pay_on_sheet(page, amount_fen=2_000)
    page.wait_for_url(re.compile(r"/h5/red-envelopes/\d+\?paid="))
    return RedEnvelope.objects.get(pk=int(re.search(r"/red-envelopes/(\d+)", page.url).group(1)))


def _top_up(page, *, amount: str, pay_with: str) -> None:
    page.fill("[data-testid=env-top-amount]", amount)
    page.check(f"[data-testid=env-top-{pay_with}]")
    page.click("[data-testid=env-top-submit]")


def test_five_people_grab_an_envelope(phone, h5):
    olivia_phone = phone()
    login(olivia_phone, openid="o-env-olivia", nickname="Olivia")
    olivia_phone.goto("/h5/red-envelopes/new")
    env = _send(olivia_phone)
    olivia = env.owner
    assert olivia.openid == "o-env-olivia"
    assert (env.status, env.total_fen, env.pool_fen, env.count) == (EnvelopeStatus.FUNDING, 2_000, 2_000, 5)
    assert env.greeting == "新年快乐，手气最佳请吃饭"
    assert olivia_phone.inner_text("[data-testid=env-pool]") == "¥20.00"
    olivia_phone.wait_for_selector("[data-testid=env-owner]:not([hidden])")  # the owner may open it
    olivia_phone.click("[data-testid=env-share]")
    link = olivia_phone.input_value("[data-testid=env-share-url]")
    assert link == f"{h5.url}/h5/red-envelopes/{env.pk}"
    no_js_errors(olivia_phone)

    # Three fans make it fatter: WeChat Pay, the wallet, WeChat Pay.
    fans = [
        ("o-env-fan1", "Fan1", "5.00", "wechat"),
        ("o-env-fan2", "Fan2", "3.00", "wallet"),
        ("o-env-fan3", "Fan3", "2.00", "wechat"),
    ]
    wallet_fan = None
    for openid, nickname, amount, pay_with in fans:
        page = phone()
        if pay_with == "wallet":
            fan = wallet_fan = login(page, openid=openid, nickname=nickname)
            fund(fan, 1_000)
            page.goto(link)
            _top_up(page, amount=amount, pay_with=pay_with)
        else:
            page.goto(link)
            assert page.is_hidden("[data-testid=env-owner]")
            _top_up(page, amount=amount, pay_with=pay_with)  # not logged in: the login page first
            fan = pick_identity(page, openid=openid, nickname=nickname)
            _top_up(page, amount=amount, pay_with=pay_with)
            pay_on_sheet(page, amount_fen=int(amount.replace(".", "")))
        page.wait_for_url(re.compile(r"\?paid="))
        backing = EnvelopeBacking.objects.get(envelope=env, user=fan)
        assert (backing.amount_fen, backing.pay_with, backing.status) == (
            int(amount.replace(".", "")),
            pay_with,
            BackingStatus.PAID,
        )
        no_js_errors(page)
    assert wallet(wallet_fan) == 1_000 - 300
    top = page.locator("[data-testid=env-top-row]")
    assert [top.nth(i).inner_text().split("\n")[-1].strip() for i in range(3)] == ["¥5.00", "¥3.00", "¥2.00"]
    assert "Fan1" in top.nth(0).inner_text() and "Fan3" in top.nth(2).inner_text()
    assert page.inner_text("[data-testid=env-pool]") == "¥30.00"
    shot(page, "envelope-funding")

    olivia_phone.reload()
    olivia_phone.click("[data-testid=env-open]")
    olivia_phone.wait_for_selector("[data-testid=env-grab]")
    env.refresh_from_db()
    assert env.status == EnvelopeStatus.ACTIVE and env.pool_fen == 3_000
    assert EnvelopeShare.objects.filter(envelope=env).count() == 5
    no_js_errors(olivia_phone)

    got = {}
    for i in range(5):
        page = phone()
        page.goto(link)
        page.click("[data-testid=env-grab]")  # not logged in: the login page first
        grabber = pick_identity(page, openid=f"o-env-grab{i}", nickname=f"抢红包{i}")
        page.click("[data-testid=env-grab]")
        page.wait_for_selector("[data-testid=env-result]:not([hidden])")
        share = EnvelopeShare.objects.get(envelope=env, user=grabber)
        assert page.inner_text("[data-testid=env-result-amount]") == _fen_text(share.amount_fen)
        assert "Olivia" in page.inner_text("[data-testid=env-result-follow]")
        assert Follow.objects.filter(follower=grabber, followee=olivia, source="red_envelope").exists()
        assert wallet(grabber) == share.amount_fen  # posted to the wallet (Celery runs eagerly here)
        got[grabber.pk] = share.amount_fen
        if i == 2:
            shot(page, "envelope-grabbed")
        page.click("[data-testid=env-result-close]")
        page.wait_for_load_state("networkidle")
        assert page.locator("[data-testid=env-grab-row]").count() == i + 1
        no_js_errors(page)

    env.refresh_from_db()
    assert env.status == EnvelopeStatus.EMPTY and sum(got.values()) == 3_000
    assert_envelope_books(env)
    assert page.locator("[data-testid=env-grab]").count() == 0  # the page read again: nothing to grab
    best = EnvelopeShare.objects.get(envelope=env, position=env.best_position)
    assert _fen_text(best.amount_fen) in page.inner_text("[data-testid=env-best]")
    assert best.user.nickname in page.inner_text("[data-testid=env-best]")
    assert page.locator("[data-testid=env-best-tag]").count() == 1
    shot(page, "envelope-empty")

    late = phone()
    login(late, openid="o-env-late", nickname="Late", next_path=f"/h5/red-envelopes/{env.pk}")
    assert late.get_attribute("[data-testid=envelope]", "data-status") == "empty"
    assert late.locator("[data-testid=env-grab]").count() == 0  # nothing left to grab
    assert "5/5" in late.inner_text("[data-testid=env-grabbed]")

    late.click("[data-testid=env-owner-link]")
    late.wait_for_url(re.compile(rf"/h5/users/{olivia.pk}/red-envelopes$"))
    assert late.inner_text("[data-testid=person-name]") == "Olivia"
    rows = late.locator("[data-testid=person-envelope]")
    assert rows.count() == 1 and rows.first.get_attribute("data-id") == str(env.pk)
    backers = late.locator("[data-testid=person-envelope-backer]")
    assert [backers.nth(i).inner_text() for i in range(backers.count())] == ["Fan1 ¥5.00", "Fan2 ¥3.00", "Fan3 ¥2.00"]
    shot(late, "user-envelopes")
    no_js_errors(late)


def test_sending_without_the_balance_changes_nothing(phone, h5):
    page = phone()
    owner = login(page, openid="o-env-poor", nickname="Poor", next_path="/h5/red-envelopes/new")
    fund(owner, 500)
    page.reload()
    page.wait_for_function("() => document.getElementById('env-wallet').textContent === '¥5.00'")
    page.fill("[data-testid=env-total]", "8.88")
    page.fill("[data-testid=env-count]", "3")
    page.check("[data-testid=env-pay-wallet]")
    page.click("[data-testid=env-create]")
    page.wait_for_selector("[data-testid=flash][data-code=insufficient_balance]")
    assert page.url.endswith("/h5/red-envelopes/new")
    assert RedEnvelope.objects.filter(owner=owner).count() == 0
    assert wallet(owner) == 500
    no_js_errors(page)


def test_a_second_grab_is_refused_on_the_page(phone, h5):
    from tests.campaigns.envelope_helpers import opened

    env = opened(total_fen=1_000, count=3)
    page = phone()
    grabber = login(page, openid="o-env-twice", nickname="Twice", next_path=f"/h5/red-envelopes/{env.pk}")
    page.click("[data-testid=env-grab]")
    page.wait_for_selector("[data-testid=env-result]:not([hidden])")
    first = EnvelopeShare.objects.get(envelope=env, user=grabber).amount_fen
    page.reload()  # the page does not know who grabbed: the button is there again
    page.click("[data-testid=env-grab]")
    page.wait_for_selector("[data-testid=flash][data-code=already_grabbed]")
    assert page.is_hidden("[data-testid=env-grab]")
    assert EnvelopeShare.objects.filter(envelope=env, user=grabber).count() == 1
    assert wallet(grabber) == first
    no_js_errors(page)
