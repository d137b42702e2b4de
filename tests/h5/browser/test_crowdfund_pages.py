"""Three friends crowdfund an item to completion, in a real browser at a phone's size.

The initiator starts the crowdfund from its page (SKU, address, message), three friends open
the link the page shares, log in through the WeChat login page when they chip in, pay on the
sandbox's WeChat pay sheet, and the page shows each step; the third payment fills it, the order
places itself and is paid. The database is asserted beside every page: contributions, raised,
the order, the escrow."""

from __future__ import annotations

import re

from campaigns.models import Contribution, ContributionStatus, Crowdfund, CrowdfundStatus
from mall.models import Order, OrderStatus
from tests.campaigns.crowdfund_helpers import assert_money_accounted
from tests.mall.factories import ADDRESS
from tests.mall.orders_helpers import make_sku

from .helpers import login, no_js_errors, pay_on_sheet, pick_identity, shot, with_picture


def _start(page, sku) -> Crowdfund:
    page.goto("/h5/crowdfunds/new")  # what to crowdfund: the products on the shelf
    page.click(f"[data-testid=cf-pick][data-product-id='{sku.product_id}']")
    page.wait_for_url(f"**/h5/crowdfunds/new?product={sku.product_id}")
    page.check(f"[data-testid=cf-sku][value='{sku.pk}']")
    page.fill("[data-testid=cf-quantity]", "1")
    for field in ("name", "phone", "province", "city", "district", "detail"):
        page.fill(f"[data-testid=cf-addr-{field}]", ADDRESS[field])
    page.fill("[data-testid=cf-new-message]", "生日快乐，帮我凑一凑")
    page.select_option("[data-testid=cf-duration]", "72")
    shot(page, "crowdfund-start")
    page.click("[data-testid=cf-start]")
    page.wait_for_url(re.compile(r"/h5/crowdfunds/\d+$"))
    page.wait_for_load_state("networkidle")
    return Crowdfund.objects.get(pk=int(page.url.rsplit("/", 1)[1]))


def _chip_in(page, *, amount: str, message: str) -> None:
    page.fill("[data-testid=chip-amount]", amount)
    page.fill("[data-testid=chip-message]", message)
    page.click("[data-testid=chip-submit]")


def test_three_friends_crowdfund_an_item_to_completion(phone, h5):
    sku = with_picture(make_sku(price_fen=3_000, stock=5, title="云南普洱茶饼"), (150, 90, 60))
    alice_phone = phone()
    alice = login(alice_phone, openid="o-cf-alice", nickname="Alice")
    cf = _start(alice_phone, sku)

    assert cf.initiator == alice and cf.status == CrowdfundStatus.OPEN
    assert cf.goal_fen == 3_000 and cf.raised_fen == 0 and cf.message == "生日快乐，帮我凑一凑"
    assert cf.address["city"] == ADDRESS["city"]
    sku.refresh_from_db()
    assert sku.stock == 4  # held for the crowdfund at once
    assert alice_phone.inner_text("[data-testid=cf-goal]") == "¥30.00"
    assert alice_phone.inner_text("[data-testid=cf-raised]") == "¥0.00"
    assert alice_phone.is_visible("[data-testid=cf-no-contributors]")
    alice_phone.wait_for_selector("[data-testid=cf-mine]:not([hidden])")  # the initiator's own panel
    assert alice_phone.is_visible("[data-testid=cf-cancel]") and alice_phone.is_visible("[data-testid=cf-pay-rest]")
    countdown = int(alice_phone.get_attribute("[data-testid=cf-countdown]", "data-seconds"))
    assert 71 * 3600 < countdown <= 72 * 3600
    alice_phone.click("[data-testid=cf-share]")
    link = alice_phone.input_value("[data-testid=cf-share-url]")
    assert link == f"{h5.url}/h5/crowdfunds/{cf.pk}"  # nobody credited: the page itself
    no_js_errors(alice_phone)

    friends = [
        ("o-cf-bob", "Bob", "10.00", "加油！"),
        ("o-cf-carol", "Carol", "12.50", "生日快乐"),
        ("o-cf-dave", "Dave", "7.50", "凑齐啦"),
    ]
    raised = 0
    for i, (openid, nickname, amount, message) in enumerate(friends):
        page = phone()
        page.goto(link)
        assert page.inner_text("[data-testid=cf-title]") == "云南普洱茶饼"
        assert page.is_hidden("[data-testid=cf-mine]")  # not theirs
        _chip_in(page, amount=amount, message=message)  # not logged in: off to the login page first
        friend = pick_identity(page, openid=openid, nickname=nickname)
        assert page.url.endswith(f"/h5/crowdfunds/{cf.pk}")
        _chip_in(page, amount=amount, message=message)
        fen = int(amount.replace(".", ""))
        pay_on_sheet(page, amount_fen=fen)
        raised += fen

        c = Contribution.objects.get(crowdfund=cf, user=friend)
        assert (c.amount_fen, c.message, c.status) == (fen, message, ContributionStatus.PAID)
        cf.refresh_from_db()
        assert cf.raised_fen == raised and cf.reserved_fen == 0
        assert page.inner_text("[data-testid=cf-raised]") == f"¥{raised // 100}.{raised % 100:02d}"
        rows = page.locator("[data-testid=cf-contributor]")
        assert rows.count() == i + 1
        assert nickname in rows.first.inner_text() and message in rows.first.inner_text()  # newest first
        assert page.get_attribute("[data-testid=flash]", "data-code") == "ok"
        if i == 1:
            shot(page, "crowdfund-open")
        no_js_errors(page)

    cf.refresh_from_db()
    assert cf.status == CrowdfundStatus.ORDERED and cf.raised_fen == cf.goal_fen == 3_000
    order = Order.objects.get(pk=cf.order_id)
    assert order.user == alice and order.status == OrderStatus.PAID and order.total_fen == 3_000
    assert_money_accounted(cf)
    assert page.is_visible("[data-testid=cf-result]")
    assert page.inner_text("[data-testid=cf-progress-text]").startswith("100%")
    assert page.locator("[data-testid=chip-in]").count() == 0  # nothing more to chip in
    top = page.locator("[data-testid=cf-top-row]")
    assert top.count() == 3
    assert "Carol" in top.nth(0).inner_text() and "¥12.50" in top.nth(0).inner_text()
    assert "Bob" in top.nth(1).inner_text() and "Dave" in top.nth(2).inner_text()
    shot(page, "crowdfund-funded")

    alice_phone.reload()
    alice_phone.wait_for_selector("[data-testid=cf-order]:not([hidden])")
    assert alice_phone.inner_text("#cf-order-link") == order.no
    assert alice_phone.is_hidden("[data-testid=cf-cancel]") and alice_phone.is_hidden("[data-testid=cf-pay-rest]")
    no_js_errors(alice_phone)
