"""A distributor shares a link; a friend opens it, logs in, buys and pays — in a real browser.

The distributor makes a product link on "my links" (its page shows the address, the QR code and
the poster), the friend opens the short link in WeChat's browser, lands on the product page with
the share code, is sent through the WeChat login when buying, fills the address on the checkout
page and pays on the sandbox's pay sheet; the paid page confirms. The database is asserted
beside the pages: the link, the click, the binding, the paid order credited to the distributor
and the level-1 commission; the distributor's link page counts the order."""

from __future__ import annotations

import re

from commissions.models import Commission, CommissionStatus
from core.jobs import job_run
from distributors.models import CustomerBinding, ShareLink
from mall.models import Order, OrderStatus
from tests.factories import DistributorFactory, distribution_settings_set
from tests.mall.factories import ADDRESS
from tests.mall.orders_helpers import make_sku

from .helpers import login, no_js_errors, pay_on_sheet, pick_identity, shot, with_picture


def test_a_friend_buys_through_a_distributors_link(phone, h5):
    distribution_settings_set(default_level1_bps=1_000, levels=1)
    sku = with_picture(make_sku(price_fen=9_900, stock=20, title="明前龙井礼盒"), (90, 150, 80))
    distributor = DistributorFactory(user__openid="o-shop-dora", user__nickname="Dora")

    dora = phone()
    login(dora, openid="o-shop-dora", nickname="Dora", next_path="/h5/distributor/links")
    dora.select_option("[data-testid=link-target]", f"product:{sku.product_id}")
    dora.fill("[data-testid=link-channel]", "moments")
    dora.click("[data-testid=link-create]")  # made, and on to the link's own page
    dora.wait_for_url(re.compile(r"/h5/distributor/links/[A-Z0-9]+$"))
    link = ShareLink.objects.get(distributor=distributor)
    assert (link.target_type, link.target_id, link.channel) == ("product", sku.product_id, "moments")
    assert dora.url.endswith(f"/h5/distributor/links/{link.code}")
    dora.wait_for_selector("[data-testid=link][data-loaded=true]")
    url = dora.inner_text("[data-testid=link-url]").strip()
    assert url.endswith(f"/s/{link.code}")
    assert dora.evaluate("() => document.querySelector('[data-testid=link-qr]').naturalWidth") > 0
    shot(dora, "distributor-link")
    no_js_errors(dora)

    friend = phone()
    friend.goto("/h5/")  # the shop's home: the product is on the shelf
    friend.wait_for_selector("[data-testid=product-tile]")
    assert "明前龙井礼盒" in friend.inner_text("[data-testid=products]")
    shot(friend, "home")
    friend.goto(url)
    friend.wait_for_url(re.compile(rf"/h5/products/{sku.product_id}\?sc={link.code}$"))
    assert friend.inner_text("[data-testid=product-title]") == "明前龙井礼盒"
    assert friend.inner_text("[data-testid=price]") == "¥99.00"
    shot(friend, "product")
    friend.click("[data-testid=buy]")  # not logged in: the WeChat login first, then the checkout
    frank = pick_identity(friend, openid="o-shop-frank", nickname="Frank", shot_name="login")
    friend.wait_for_selector("[data-testid=checkout-form]")
    for field in ("name", "phone", "province", "city", "district", "detail"):
        friend.fill(f"[data-testid=address-{field}]", ADDRESS[field])
    assert friend.get_attribute("[data-testid=checkout-total]", "data-fen") == "9900"
    shot(friend, "checkout")
    friend.click("[data-testid=place-order]")
    pay_on_sheet(friend, amount_fen=9_900, shot_name="pay-sheet")
    friend.wait_for_selector("[data-testid=paid][data-state=paid]")
    assert friend.inner_text("[data-testid=paid-amount]") == "¥99.00"
    shot(friend, "paid")
    no_js_errors(friend)

    order = Order.objects.get(user=frank)
    assert order.status == OrderStatus.PAID and order.total_fen == 9_900
    friend.click("[data-testid=paid-order]")
    friend.wait_for_selector("[data-testid=order][data-loaded=true]")
    assert friend.inner_text("[data-testid=order-total]") == "¥99.00"
    shot(friend, "order")
    friend.goto("/h5/orders")
    friend.wait_for_selector("[data-testid=order-row]")
    assert friend.locator("[data-testid=order-row]").count() == 1
    shot(friend, "orders")
    assert order.attribution["distributor_id"] == distributor.pk
    assert order.attribution["link_code"] == link.code
    assert CustomerBinding.objects.filter(customer=frank, distributor=distributor).exists()
    commission = Commission.objects.get(order=order)
    assert (commission.beneficiary_id, commission.level, commission.amount_fen, commission.status) == (
        distributor.user_id,
        1,
        990,
        CommissionStatus.PENDING,
    )

    job_run(name="distributors.flush_click_counters")  # the beat job that writes the click counters down
    link.refresh_from_db()
    assert link.clicks == 1 and link.orders == 1
    dora.reload()
    dora.wait_for_selector("[data-testid=link][data-loaded=true]")
    assert dora.inner_text("[data-testid=link-clicks]") == "1"
    assert dora.inner_text("[data-testid=link-orders]") == "1"

    # The rest of the distributor centre shows the same sale.
    dora.goto("/h5/distributor")
    dora.wait_for_selector("[data-testid=distributor-centre][data-loaded=true]")
    assert dora.inner_text("[data-testid=summary-orders]") == "1"
    assert dora.inner_text("[data-testid=invite-code]") == distributor.invite_code
    shot(dora, "distributor-centre")
    dora.goto("/h5/distributor/stats")
    dora.wait_for_selector("[data-testid=stats][data-loaded=true]")
    assert dora.inner_text("[data-testid=stats-orders]") == "1"
    shot(dora, "distributor-stats")
    dora.goto("/h5/distributor/team")
    dora.click("[data-testid=tab-customers]")
    dora.wait_for_selector("[data-testid=customer]")
    assert "Frank" in dora.inner_text("[data-testid=customers]")
    shot(dora, "distributor-team")
    dora.goto("/h5/distributor/commissions")
    dora.wait_for_selector("[data-testid=commission-row]")
    assert dora.inner_text("[data-testid=commission-amount]") == "¥9.90"
    shot(dora, "distributor-commissions")
    no_js_errors(dora)
