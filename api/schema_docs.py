"""Summaries and descriptions of the operations whose view methods carry no docstring of their
own (api/schema.py AutoSchema reads this table first). Keyed by operationId; the first line is
the summary, the whole text the description. A view's own docstring is as good: an operation
moves out of this table when its method gets one. tests/api/test_openapi.py holds every
operation to having both."""

OPERATION_DOCS: dict[str, str] = {
    # --- accounts -------------------------------------------------------------------------
    "v1_me_retrieve": """The logged-in user.
Id, nickname, avatar, whether an operator (`is_staff`), the distributor record (null, or its
status and tier) and the wallet's balances in fen.""",
    "v1_me_following_list": """Whom I follow, newest first.
Grabbing a red envelope follows its owner.""",
    "v1_me_followers_list": """Who follows me, newest first.""",
    # --- mall: orders ---------------------------------------------------------------------
    "v1_orders_list": """My orders, newest first.
Filter with `status`; each order with its lines, amounts in fen and the distributor credited.""",
    "v1_orders_create": """Place an order.
`items` (SKU and quantity, each SKU once), the delivery `address`, optionally the `share_code` of
the link that brought the buyer (else the attribution cookie or the buyer's binding decides the
distributor). Stock is reserved; the order is `pending_payment` until WeChat confirms the payment
and is closed when the pay window passes. 409 when a SKU is out of stock or off the shelf.""",
    "v1_orders_retrieve": """One of my orders, with its lines, payment, shipping and refunds.""",
    "v1_orders_pay_create": """Pay an order with WeChat.
Answers the JSAPI parameters for `chooseWXPay` (in the sandbox, a page that plays the pay sheet).
The order is paid only when WeChat's signed notification arrives. A WeChat login (openid) is
needed: 400 `no_openid` without one.""",
    "v1_orders_cancel_create": """Cancel an unpaid order; its stock returns.
Only `pending_payment` orders: anything else is 409 `invalid_transition`.""",
    "v1_orders_confirm_receipt_create": """Confirm that a shipped order arrived (shipped → completed).
Orders are also completed automatically some days after shipping; the commission freeze period
starts here.""",
    "v1_orders_refunds_list": """The refunds of one of my orders.""",
    "v1_orders_refunds_create": """Ask for a refund of a paid order.
`amount_fen` (at most what is still refundable) and a `reason`; within the refund window after
completion. An operator reviews it; approval refunds through WeChat.""",
    # --- mall: operators ------------------------------------------------------------------
    "v1_ops_orders_list": """Every order (operators), newest first; filter with `status`.""",
    "v1_ops_orders_retrieve": """One order with its buyer, lines, payment and refunds (operators).""",
    "v1_ops_orders_ship_create": """Ship a paid order: `carrier` and `tracking_no` (paid → shipped).""",
    "v1_ops_refunds_list": """Refund requests (operators), newest first; filter with `status`.""",
    "v1_ops_refunds_approve_create": """Approve a refund request: the money goes back through WeChat.
The commissions of the order are reversed in proportion; a settled commission becomes the
distributor's debt.""",
    "v1_ops_refunds_reject_create": """Reject a refund request, with a `reason` the buyer sees.""",
    "v1_ops_products_retrieve": """One product with every SKU (operators; also off the shelf).""",
    "v1_ops_products_update": """Replace a product (title, description, images, category, shelf, SKUs).
SKUs sent with an `id` are changed, without one are added, those left out are deactivated.""",
    "v1_ops_products_partial_update": """Change some fields of a product.
Only the fields sent change; `skus`, when sent, works as in PUT.""",
    "v1_ops_products_destroy": """Delete a product that was never ordered.
A product with orders is taken off the shelf instead (409).""",
    # --- campaigns: crowdfunds ------------------------------------------------------------
    "v1_crowdfunds_list": """My crowdfunds (as initiator), newest first; filter with `status`.""",
    "v1_crowdfunds_create": """Start a crowdfund for a SKU.
The goal is the SKU's price times `quantity`; friends chip in until the deadline
(`duration_hours`, within the operator's limits). The delivery `address` is the initiator's. The
answer has the share code for the link.""",
    "v1_crowdfunds_retrieve": """A crowdfund's public page.
Item, goal, raised and reserved amounts, progress, deadline, the contributors (top first) with
their messages; for the initiator also what they may do (`can_cancel`, `can_pay_rest`).""",
    "v1_crowdfunds_contributions_create": """Chip in to an open crowdfund.
`amount_fen` (at least the operator's minimum, at most what is missing), a `message`, optionally
anonymous. The amount is reserved for the pay window and answered with the WeChat pay
parameters; it counts once WeChat's notification arrives.""",
    "v1_crowdfunds_finish_create": """The initiator ends a crowdfund early.
`action`: `pay_rest` (pay what is missing: WeChat pay parameters back) or `cancel` (everyone who
paid is refunded).""",
    # --- campaigns: red envelopes (api/red_envelopes.py) ----------------------------------
    "v1_red_envelopes_create": """Create a red envelope.
`total_fen` split into `count` shares (`random` or `equal`), a `greeting` (checked by WeChat's
content check), a lifetime; paid from the wallet or with WeChat (`pay_with`). With `open_now` a
wallet-paid envelope opens at once; otherwise it stays `funding` so friends can top it up.""",
    "v1_red_envelopes_retrieve": """A red envelope's public page.
Owner and greeting, status, total and remaining shares, the top three backers; once it is over,
the grabs with the best luck.""",
    "v1_red_envelopes_top_ups_create": """Top up someone's envelope while it is `funding`.
`amount_fen` from the wallet or with WeChat (`pay_with`); the backer is shown on the page.""",
    "v1_red_envelopes_open_create": """The owner opens the envelope (funding → active).
The whole pool (own money and top-ups) is split into `count` shares.""",
    "v1_red_envelopes_grab_create": """Grab a share of an active envelope.
Answers the amount, the rank and whether it is the best so far; the money lands in the wallet and
the grabber follows the owner. 409 `already_grabbed`, `envelope_empty`, `envelope_expired`;
per-user throttle (429).""",
    "v1_users_red_envelopes_list": """A person's red envelopes, with their top three backers (public).""",
    "v1_ops_red_envelopes_retrieve": """One red envelope for the operators.
Shares grabbed or returned by position (the unclaimed ones only as a count and total), backings
with their WeChat payments and refunds, events, escrow and postings.""",
    "v1_ops_crowdfunds_retrieve": """One crowdfund for the operators.
Contributions with their WeChat payments and refunds, events, escrow and ledger postings.""",
    # --- distribution ---------------------------------------------------------------------
    "v1_distributors_apply_create": """Apply to become a distributor.
`real_name`, `phone`, and the `invite_code` of the inviter (taken from the link). Depending on the
recruitment mode the distributor is `pending` (an operator reviews it) or `approved` at once.""",
    "v1_distributors_me_retrieve": """My distributor record.
Status, tier, invite code, inviter and summary figures; 404 `not_a_distributor` before applying.""",
    "v1_distributors_me_team_list": """My team: the distributors I invited (level 1) and theirs (level 2).""",
    "v1_distributors_me_customers_list": """The customers bound to me, with when each binding ends.""",
    "distributors_me_stats": """My figures over a period.
Clicks, unique visitors, orders, GMV, conversion, earnings per click, commissions by status, team
size and bound customers, per day for the chart; `from` ≤ `to`, at most 366 days.""",
    "v1_share_links_list": """My share links with their click and order counts, newest first.""",
    "v1_share_links_retrieve": """One of my share links with its counts and image URLs.""",
    "v1_share_links_qr.png_retrieve": """The link's QR code as PNG (public, cacheable).
`size` in pixels; the code encodes the short link `/s/{code}`.""",
    "v1_share_links_qr.svg_retrieve": """The link's QR code as SVG (public, cacheable).""",
    "v1_share_links_poster.png_retrieve": """The link's poster (PNG): the product's picture, title, price
and the QR code, for saving by long-press (public, cacheable).""",
    "v1_share_links_wxacode.png_retrieve": """The link's mini-program code (PNG) from WeChat, cached.
502/504 when WeChat fails or does not answer.""",
    # --- distribution: operators ----------------------------------------------------------
    "v1_ops_distributors_list": """Applications and distributors (operators); filter with `status`.""",
    "v1_ops_distributors_approve_create": """Approve a pending application (pending → approved).""",
    "v1_ops_distributors_reject_create": """Reject a pending application, with a `reason`.""",
    "v1_ops_distributors_freeze_create": """Freeze a distributor: no new commissions or withdrawals.
A `reason` is recorded.""",
    "v1_ops_distributors_unfreeze_create": """Unfreeze a frozen distributor (frozen → approved).""",
    "v1_ops_tiers_list": """Distributor tiers by rank.""",
    "v1_ops_tiers_create": """Create a tier.
Its rates (`level1_bps`, `level2_bps`, 0–10000; null = the default rates) and the upgrade
conditions (own GMV, team GMV, orders, invited distributors; `match` all or any). A rank may be
used once (409 `tier_exists`).""",
    "v1_ops_tiers_retrieve": """One tier.""",
    "v1_ops_tiers_partial_update": """Change some fields of a tier.""",
    "v1_ops_tiers_destroy": """Delete a tier no distributor holds (else 409 `tier_in_use`).""",
    "v1_ops_commission_rules_retrieve": """One commission rule.""",
    "v1_ops_commission_rules_partial_update": """Change a commission rule's rates or turn it on or off.
Rates in basis points (0–10000) or fixed fen per level.""",
    "v1_ops_commission_rules_destroy": """Delete a commission rule (the defaults apply again).""",
    # --- money ----------------------------------------------------------------------------
    "v1_commissions_list": """My commissions, newest first; filter with `status`.
Each with its order, level, base, rate or fixed amount, status and when it settles.""",
    "v1_wallet_retrieve": """My wallet: available, frozen, withdrawing, withdrawn and debt, in fen.""",
    "v1_wallet_entries_list": """My wallet's ledger lines, newest first.""",
    "v1_withdrawals_list": """My withdrawals, newest first; filter with `status`.""",
    "v1_withdrawals_create": """Ask to withdraw money from the available balance.
`amount_fen` includes the fee; within the operator's minimum and daily count and amount limits.
The amount leaves the available balance at once; an operator reviews it and the payout goes to
the WeChat balance.""",
    "v1_withdrawals_retrieve": """One of my withdrawals.""",
    "v1_ops_withdrawals_retrieve": """One withdrawal with its risk signals and history (operators).""",
    "v1_ops_withdrawals_approve_create": """Approve a withdrawal; the payout is sent to WeChat
asynchronously. Nobody approves their own request (403 `self_approval`).""",
    "v1_ops_withdrawals_reject_create": """Reject a withdrawal with a `reason`; the money goes back to
the available balance.""",
    # --- WeChat's callbacks ---------------------------------------------------------------
    "v1_wechat_pay_notify_create": """WeChat Pay's payment notification (called by WeChat).
Signed XML in, XML out: SUCCESS (also for duplicates, which change nothing), or the FAIL XML with
400 (bad signature, unknown order, wrong amount...), 413 (too large) or 500 (our failure: WeChat
retries).""",
    "v1_wechat_refund_notify_create": """WeChat Pay's refund notification (called by WeChat).
Encrypted XML in, XML out; answers like the payment notification.""",
}
