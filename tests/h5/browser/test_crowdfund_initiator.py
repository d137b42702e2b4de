"""The crowdfund page's other ways: the initiator pays the rest, the initiator cancels (every
friend refunded), bad amounts are refused on the page and change nothing, unknown pages are 404,
and the page speaks English when the browser asks for it. A friend's payment that the initiator's
page starts from is made through the services and the sandbox (tests/campaigns/crowdfund_helpers)."""

from __future__ import annotations

from campaigns.models import CampaignRefund, CampaignRefundStatus, Contribution, ContributionStatus, CrowdfundStatus
from mall.models import OrderStatus
from tests.campaigns.crowdfund_helpers import assert_money_accounted, chip_in, confirm_refunds, sandbox_pay, start
from tests.mall.orders_helpers import make_sku

from .helpers import login, no_js_errors, pay_on_sheet, shot, with_picture


def _opened_by_a_logged_in_initiator(phone, openid: str, *, price_fen: int = 5_000):
    page = phone()
    initiator = login(page, openid=openid, nickname="Ivy")
    sku = with_picture(make_sku(price_fen=price_fen, stock=10, title="白毫银针"), (170, 150, 90))
    cf = start(initiator, sku=sku, message="一起买吧")
    return page, cf


def test_the_initiator_pays_the_rest(phone, h5):
    page, cf = _opened_by_a_logged_in_initiator(phone, "o-cfi-ivy")
    _, pay = chip_in(cf, 1_200, message="先出一点")
    sandbox_pay(h5, pay)
    page.goto(f"/h5/crowdfunds/{cf.pk}")
    page.wait_for_selector("[data-testid=cf-mine]:not([hidden])")
    assert page.inner_text("[data-testid=cf-missing]") == "¥38.00"
    assert "¥38.00" in page.inner_text("[data-testid=cf-pay-rest]")
    shot(page, "crowdfund-initiator")
    page.click("[data-testid=cf-pay-rest]")
    pay_on_sheet(page, amount_fen=3_800)
    cf.refresh_from_db()
    assert cf.status == CrowdfundStatus.ORDERED and cf.order.status == OrderStatus.PAID
    rest = Contribution.objects.get(crowdfund=cf, user=cf.initiator)
    assert (rest.amount_fen, rest.status) == (3_800, ContributionStatus.PAID)
    assert_money_accounted(cf)
    page.wait_for_selector("[data-testid=cf-order]:not([hidden])")
    assert page.inner_text("#cf-order-link") == cf.order.no
    assert page.locator("[data-testid=cf-result]").count() == 1
    assert page.is_hidden("[data-testid=cf-pay-rest]") and page.is_hidden("[data-testid=cf-cancel]")
    page.click("[data-testid=cf-my-list]")  # the initiator's own crowdfunds
    page.wait_for_selector("[data-testid=crowdfund-list][data-loaded=true]")
    rows = page.locator("[data-testid=cf-row]")
    assert rows.count() == 1 and rows.first.get_attribute("data-id") == str(cf.pk)
    assert rows.first.get_attribute("data-status") == "ordered" and "¥50.00" in rows.first.inner_text()
    shot(page, "crowdfund-list")
    no_js_errors(page)


def test_the_initiator_cancels_and_every_friend_is_refunded(phone, h5):
    page, cf = _opened_by_a_logged_in_initiator(phone, "o-cfi-ivan")
    friend_contribution, pay = chip_in(cf, 2_000, message="加油")
    sandbox_pay(h5, pay)
    page.goto(f"/h5/crowdfunds/{cf.pk}")
    page.wait_for_selector("[data-testid=cf-cancel]:not([hidden])")
    page.once("dialog", lambda dialog: dialog.accept())  # "Cancel the crowdfund? ..."
    page.click("[data-testid=cf-cancel]")
    page.wait_for_function("() => document.querySelector('[data-testid=crowdfund]').dataset.status === 'cancelled'")
    cf.refresh_from_db()
    assert cf.status == CrowdfundStatus.CANCELLED
    refund = CampaignRefund.objects.get(contribution=friend_contribution)
    assert (refund.amount_fen, refund.status) == (2_000, CampaignRefundStatus.REQUESTED)
    assert page.locator("[data-testid=cf-result]").count() == 1 and page.locator("[data-testid=chip-in]").count() == 0
    assert page.is_hidden("[data-testid=cf-cancel]")

    assert confirm_refunds(h5, cf) == 1  # WeChat gives the friend's money back
    cf.refresh_from_db()
    assert cf.status == CrowdfundStatus.REFUNDED
    assert_money_accounted(cf)
    page.reload()
    assert page.get_attribute("[data-testid=crowdfund]", "data-status") == "refunded"
    page.wait_for_selector("[data-testid=cf-mine]:not([hidden])")
    assert page.inner_text("[data-testid=cf-mine] [data-k=refunded_fen]") == "¥20.00"
    no_js_errors(page)


def test_bad_amounts_are_refused_on_the_page_and_change_nothing(phone, h5):
    _, cf = _opened_by_a_logged_in_initiator(phone, "o-cfi-iris", price_fen=3_000)
    page = phone()
    login(page, openid="o-cfi-friend", nickname="Fred", next_path=f"/h5/crowdfunds/{cf.pk}")
    for typed in ("abc", "-5", "1.234", "0"):
        page.evaluate("() => { document.getElementById('h5-flash').hidden = true; }")
        page.fill("[data-testid=chip-amount]", typed)
        page.click("[data-testid=chip-submit]")
        page.wait_for_selector("[data-testid=flash]:not([hidden])")
        assert page.get_attribute("[data-testid=flash]", "data-code") == "error"
        assert page.url.endswith(f"/h5/crowdfunds/{cf.pk}")
    page.fill("[data-testid=chip-amount]", "30.01")  # one fen more than is missing: the API says no
    page.click("[data-testid=chip-submit]")
    page.wait_for_selector("[data-testid=flash][data-code=amount_too_large]")
    assert page.url.endswith(f"/h5/crowdfunds/{cf.pk}")
    cf.refresh_from_db()
    assert (cf.raised_fen, cf.reserved_fen, cf.contributions.count()) == (0, 0, 0)
    page.goto("/h5/crowdfunds")  # the friend's own list: somebody else's crowdfund is not in it
    page.wait_for_selector("[data-testid=crowdfund-list][data-loaded=true]")
    assert page.locator("[data-testid=cf-row]").count() == 0 and page.is_visible("[data-testid=cf-rows-none]")
    no_js_errors(page)


def test_unknown_campaign_pages_are_404(phone, h5):
    page = phone()
    for path in (
        "/h5/crowdfunds/999999",
        "/h5/red-envelopes/999999",
        "/h5/crowdfunds/new?product=999999",
        "/h5/crowdfunds/new?product=abc",
    ):
        assert page.goto(path).status == 404, path


def test_the_page_speaks_the_browsers_language(phone, h5):
    _, cf = _opened_by_a_logged_in_initiator(phone, "o-cfi-lang")
    zh = phone()
    zh.goto(f"/h5/crowdfunds/{cf.pk}")
    assert zh.inner_text("[data-testid=page-title]") == "好友众筹"
    en = phone(locale="en-US")
    en.goto(f"/h5/crowdfunds/{cf.pk}")
    assert en.inner_text("[data-testid=page-title]") == "Friend crowdfund"
    assert "Chip in" in en.inner_text("[data-testid=chip-in]")
