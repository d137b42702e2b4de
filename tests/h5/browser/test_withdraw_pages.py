"""A distributor withdraws, in a real browser; the operator approves in the console and the
payout goes out through the WeChat sandbox.

The distributor (settled commission money in the wallet) sees the wallet, asks for a withdrawal
on the withdraw page (the fee and what arrives shown before), and follows it in the history; the
operator logs into the admin in a desktop browser, ticks it in the review queue and approves
it; the transfer to WeChat balance is sent to the sandbox, and the distributor's pages show it
paid and the wallet moved. The database is asserted beside the pages: the withdrawal's status,
fee and net, the sandbox transfer, the wallet's ledger balances."""

from __future__ import annotations

from commissions.models import Withdrawal, WithdrawalStatus
from ledger.models import AccountKind
from tests.commissions.wallet_helpers import balance, fund, withdrawal_settings
from tests.factories import DistributorFactory, UserFactory
from wechat.sandbox.models.pay import SandboxTransfer

from .helpers import login, no_js_errors, shot


def test_a_distributor_withdraws_and_the_operator_pays_it_out(phone, browser, h5):
    withdrawal_settings(withdrawal_fee_bps=100, withdrawal_min_fee_fen=10)  # 1 %, at least ¥0.10
    distributor = DistributorFactory(user__openid="o-wd-wendy", user__nickname="Wendy")
    fund(distributor.user, 12_345)  # settled commissions
    UserFactory(username="ops", is_staff=True, is_superuser=True, password="ops-Secret-123", openid=None)

    wendy = phone()
    login(wendy, openid="o-wd-wendy", nickname="Wendy", next_path="/h5/distributor/wallet")
    wendy.wait_for_selector("[data-testid=wallet][data-loaded=true]")
    assert wendy.inner_text("[data-testid=wallet-available]") == "¥123.45"
    shot(wendy, "distributor-wallet")
    wendy.click("[data-testid=go-withdraw]")
    wendy.wait_for_url("**/h5/distributor/withdraw")
    wendy.wait_for_function("() => document.querySelector('[data-testid=wallet-available]').dataset.fen === '12345'")
    wendy.fill("[data-testid=withdraw-amount]", "100.00")
    wendy.dispatch_event("[data-testid=withdraw-amount]", "input")
    assert wendy.inner_text("[data-testid=withdraw-net]") == "¥99.00"  # 1 % fee
    shot(wendy, "distributor-withdraw")
    wendy.click("[data-testid=withdraw-submit]")
    wendy.wait_for_selector("[data-testid=withdraw-done]:not([hidden])")
    w = Withdrawal.objects.get(user=distributor.user)
    assert (w.amount_fen, w.fee_fen, w.net_fen, w.status) == (10_000, 100, 9_900, WithdrawalStatus.REQUESTED)
    assert balance(distributor.user, AccountKind.USER_WALLET) == 2_345
    assert balance(distributor.user, AccountKind.USER_WITHDRAWING) == 10_000
    wendy.click("[data-testid=go-withdrawal]")
    wendy.wait_for_selector("[data-testid=withdrawal][data-loaded=true]")
    assert wendy.inner_text("[data-testid=withdrawal-net]") == "¥99.00"
    no_js_errors(wendy)

    # The operator's console, on a desktop.
    desk = browser.new_context(viewport={"width": 1280, "height": 900}, base_url=h5.url, locale="en-US")
    try:
        ops = desk.new_page()
        ops.goto("/admin/login/?next=/admin/commissions/withdrawal/")
        ops.fill("#id_username", "ops")
        ops.fill("#id_password", "ops-Secret-123")
        ops.click("input[type=submit]")
        ops.wait_for_url("**/admin/commissions/withdrawal/")
        ops.check(f"input[name=_selected_action][value='{w.pk}']")
        shot(ops, "admin-withdrawals")
        ops.select_option("select[name=action]", "approve_selected")
        ops.click("button[name=index]")
        ops.wait_for_selector("ul.messagelist li.success")
        assert f"#{w.pk}" in ops.inner_text("ul.messagelist")
    finally:
        desk.close()

    w.refresh_from_db()
    assert w.status == WithdrawalStatus.PAID and w.reviewed_by.username == "ops"
    transfer = SandboxTransfer.objects.get()
    assert (transfer.amount, transfer.openid) == (9_900, "o-wd-wendy")
    assert balance(distributor.user, AccountKind.USER_WITHDRAWING) == 0
    assert balance(distributor.user, AccountKind.USER_WALLET) == 2_345

    wendy.goto("/h5/distributor/withdrawals")
    wendy.wait_for_selector("[data-testid=withdrawal-row]")
    row = wendy.locator(f"[data-testid=withdrawal-row][data-withdrawal-id='{w.pk}']")
    assert row.get_attribute("data-status") == "paid"
    shot(wendy, "distributor-withdrawals")
    wendy.goto("/h5/distributor/wallet")
    wendy.wait_for_selector("[data-testid=wallet][data-loaded=true]")
    assert wendy.inner_text("[data-testid=wallet-available]") == "¥23.45"
    assert wendy.inner_text("[data-testid=wallet-withdrawing]") == "¥0.00"
    no_js_errors(wendy)
