"""Seed the bench database and print what bench/run.py needs as one JSON line.

- a shopper `bench-user` with a wallet and a Bearer token (for GET /api/v1/me/);
- ledger users a, b, c, d whose wallets are funded from the outside world, for
  bench/ledger_load.py to move money between;
- the rows' own data (catalog, share link, stats, orders and notifications, crowdfunds, red envelopes).
"""
import json

from _django import setup

setup()

from seed_catalog import seed_catalog  # noqa: E402
from seed_crowdfunds import seed_crowdfund_rows  # noqa: E402
from seed_envelopes import seed_envelope_rows  # noqa: E402
from seed_links import seed_share_link  # noqa: E402
from seed_orders import seed_notifications  # noqa: E402
from seed_short_link import seed_visitor_pool  # noqa: E402
from seed_stats import seed_stats  # noqa: E402

from accounts.models import User  # noqa: E402
from accounts.services import token_issue  # noqa: E402
from ledger.models import AccountKind  # noqa: E402
from ledger.services import account_get_or_create, ledger_post  # noqa: E402

LEDGER_NAMES = ("a", "b", "c", "d")
FUNDING_FEN = 10**12  # far more than any run moves


def main() -> None:
    user, _ = User.objects.get_or_create(username="bench-user", defaults={"nickname": "bench"})
    account_get_or_create(kind=AccountKind.USER_WALLET, owner=user)
    token = token_issue(user=user, user_agent="bench")

    outside = account_get_or_create(kind=AccountKind.WECHAT_EXTERNAL)
    wallets = {}
    for name in LEDGER_NAMES:
        owner, _ = User.objects.get_or_create(username=f"bench-ledger-{name}", defaults={"nickname": name})
        wallet = account_get_or_create(kind=AccountKind.USER_WALLET, owner=owner)
        ledger_post(
            kind="bench.fund",
            idempotency_key=f"bench:fund:{name}",
            legs=[(outside, -FUNDING_FEN), (wallet, FUNDING_FEN)],
        )
        wallets[name] = wallet.pk
    product_id = seed_catalog()
    seed_share_link()  # the share link bench/endpoints.py names (BENCH_SHARE_CODE)
    seed_stats(user=user)  # bench-user: a distributor with 100k orders, 1M clicks (the stats row)
    seed_visitor_pool()  # returning visitors' fx_vid cookies for the GET /s/<code> row
    seed_notifications()  # the order row's SKU; unpaid orders and their signed payment notifications
    seed_crowdfund_rows()  # crowdfunds, friends and tokens; pending contributions and their notifications
    seed_envelope_rows()  # an envelope of 12,000 shares and its grabbers; an emptied one; the /me pair's user
    print(json.dumps({"token": token, "user_id": user.pk, "wallets": wallets, "product_id": product_id}))


if __name__ == "__main__":
    main()
