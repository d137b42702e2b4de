"""A withdrawal paid through a merchant transfer bill (WECHAT_PAYOUT_API=v3_transfer_bills), in a
real browser: after the operator approves, the distributor's withdrawal page asks them to confirm
receipt; the button opens the sandbox's stand-in for wx.requestMerchantTransfer, the user confirms,
the page comes back, asks the server to check with WeChat, and shows the withdrawal paid. The
database is asserted beside the pages: the bill, the withdrawal, the wallet's ledger balances."""

from __future__ import annotations

from commissions.models import Withdrawal, WithdrawalStatus
from commissions.services.withdrawals import withdrawal_approve, withdrawal_request
from ledger.models import AccountKind
from tests.commissions.wallet_helpers import balance, fund, withdrawal_settings
from tests.factories import DistributorFactory, UserFactory
from wechat.sandbox.models.v3 import SandboxTransferBill

from .helpers import login, no_js_errors, shot


def test_the_distributor_confirms_receipt_of_a_transfer_bill(phone, h5, settings):
    settings.WECHAT_PAYOUT_API = "v3_transfer_bills"
    withdrawal_settings()
    distributor = DistributorFactory(user__openid="o-wd-carol", user__nickname="Carol")
    fund(distributor.user, 8_800)
    w = withdrawal_request(user=distributor.user, amount_fen=8_000)
    withdrawal_approve(operator=UserFactory(is_staff=True), withdrawal_id=w.pk)
    w.refresh_from_db()
    assert w.status == WithdrawalStatus.CONFIRMING
    bill = SandboxTransferBill.objects.get(out_bill_no=w.transfer_no)

    carol = phone()
    login(carol, openid="o-wd-carol", nickname="Carol", next_path=f"/h5/distributor/withdrawals/{w.pk}")
    carol.wait_for_selector("[data-testid=withdrawal][data-loaded=true]")
    assert carol.get_attribute("[data-testid=withdrawal]", "data-status") == "confirming"
    carol.wait_for_selector("[data-testid=withdrawal-confirm]:not([hidden])")
    assert carol.inner_text("[data-testid=withdrawal-status]") == "待微信确认收款"
    assert carol.inner_text("[data-testid=withdrawal-confirm-by]")  # the deadline is shown
    shot(carol, "withdrawal-confirm")

    carol.click("[data-testid=confirm-receipt]")
    carol.wait_for_selector("[data-testid=transfer-sheet]")
    assert carol.get_attribute("[data-testid=transfer-sheet-amount]", "data-fen") == "8000"
    shot(carol, "sandbox-transfer-sheet")
    carol.click("[data-testid=transfer-sheet-confirm]")

    carol.wait_for_url(f"**/h5/distributor/withdrawals/{w.pk}?transfer=confirmed")
    carol.wait_for_selector("[data-testid=withdrawal][data-status=paid]")
    assert carol.is_hidden("[data-testid=withdrawal-confirm]")
    no_js_errors(carol)

    bill.refresh_from_db()
    assert bill.state == "SUCCESS"
    assert Withdrawal.objects.get(pk=w.pk).status == WithdrawalStatus.PAID
    assert balance(distributor.user, AccountKind.USER_WITHDRAWING) == 0
    assert balance(distributor.user, AccountKind.USER_WALLET) == 800
