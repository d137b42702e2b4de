"""Issue 5's rows of `make bench`, without HTTP: commission accrual on payment, the settlement
of 1,000,000 matured commissions, and the ledger audit over 1,000,000+ entries.

1. Accrual. Per distributor chain (an approved level-1 distributor whose inviter is an
   approved level-2 distributor), `accrual_seed` makes a product with two SKUs, a share link
   of the level-1 distributor and N pending orders of two lines each, created by
   `mall.services.orders.order_create` with the link's share code (so the attributor writes
   the real attribution snapshot: level 1 and level 2), each with a prepaid WechatPayment.
   `accrual_pay` then pays them one by one through the WeChat payment notification without
   HTTP: `wechat.services.payment_notify_handle(body=<signed XML>)` (parse, signature, amount,
   payment → paid, mall `order_mark_paid`, the PAID hook's subscribers — distributor stats and
   `commissions.services.accrual.on_order_paid` — product sold count, two ledger postings). The
   time spent inside the accrual hook is measured too (the hook is wrapped by a timer for the
   run), so the row shows the whole paid path AND the accrual's share of it. Each order accrues
   4 commissions (2 lines × 2 levels).
2. Settlement. `settlement_seed` writes BENCH_COMMISSIONS_N (default 1,000,000) frozen,
   matured commissions over BENCH_COMMISSIONS_N / 100 (at most 10,000) beneficiaries with
   set-based SQL (PostgreSQL): users, approved distributors, orders with 100 lines each (the
   unique (order line, level) needs N / 2 lines), the commissions, and the ledger state the
   accruals would have left — one balanced `commission.accrue` transaction per order, from
   the sharded commission expense to each beneficiary's frozen account (about 1,000,000
   entries for 1,000,000 commissions) — plus debt (as a reversal after settlement leaves it)
   for 1 % of them, so the settlement pays debt first.
   `settlement_run` times `commissions.services.settlement.commissions_settle()`.
3. Audit. `entries_top_up` adds balanced filler transactions when the books have fewer than
   BENCH_AUDIT_ENTRIES (default: BENCH_COMMISSIONS_N) entries; `audit_run` times
   `call_command("audit_ledger")` in-process (the worker also reports the whole
   `python bench/commissions_bench.py audit` process, start-up included).

bench/run.py calls `run()` (each step in its own process, like the ledger rows) and appends
`section()` to docs/benchmarks.md between markers; `BENCH_ONLY=commissions make bench`
re-creates the bench database, runs only these rows and replaces only their section.

Environment: BENCH_ACCRUAL_ORDERS (orders per paying process, default 500),
BENCH_COMMISSIONS_N (default 1,000,000), BENCH_AUDIT_ENTRIES (default BENCH_COMMISSIONS_N).

Worker commands (Django set up from DATABASE_URL / REDIS_URL; each prints one JSON line):
    python bench/commissions_bench.py accrual-seed --chain a --orders 500
    python bench/commissions_bench.py pay --chain a --part 0/1      (prints "ready", waits for a line)
    python bench/commissions_bench.py accrual-check --chain a [--chain b]
    python bench/commissions_bench.py settle-seed --n 1000000
    python bench/commissions_bench.py settle
    python bench/commissions_bench.py settle-check
    python bench/commissions_bench.py audit --entries 1000000
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

ACCRUAL_ORDERS = int(os.environ.get("BENCH_ACCRUAL_ORDERS", "500"))
COMMISSIONS_N = int(os.environ.get("BENCH_COMMISSIONS_N", "1000000"))
AUDIT_ENTRIES = int(os.environ.get("BENCH_AUDIT_ENTRIES", str(COMMISSIONS_N)))
SETTLE_AIM_SECONDS = 60
MAX_BENEFICIARIES = 10_000
LINES_PER_ORDER = 100  # settlement seed: order lines per order
DEBT_EVERY = 100  # settlement seed: every 100th beneficiary owes DEBT_FEN
DEBT_FEN = 300
LEVEL1_BPS, LEVEL2_BPS = 1000, 500

# Each scenario runs one `pay` process per entry of `chains`; a chain named twice is shared:
# both processes pay its orders (half each), so they credit the same two distributors.
ACCRUAL_SCENARIOS = [
    {"name": "single process", "chains": ["one"]},
    {"name": "2 processes, distinct chains", "chains": ["d1", "d2"]},
    {"name": "2 processes, one chain (contention)", "chains": ["sh", "sh"]},
]

SECTION_START = "<!-- bench:commissions -->"
SECTION_END = "<!-- /bench:commissions -->"
ADDRESS = {"name": "张三", "phone": "13800138000", "province": "浙江省", "city": "杭州市", "district": "西湖区",
           "detail": "龙井路 1 号"}


def _log(message: str) -> None:
    print(f"bench commissions: {message}", file=sys.stderr, flush=True)


# --- 1. accrual on payment -------------------------------------------------------------------


def _chain_names(chain: str) -> dict:
    return {"buyer": f"bench-comm-buyer-{chain}", "l1": f"bench-comm-l1-{chain}", "l2": f"bench-comm-l2-{chain}"}


def accrual_settings() -> None:
    """Two levels at 10 % and 5 % (the defaults), set through the settings service."""
    from distributors.services.settings import distribution_settings_update

    distribution_settings_update(actor=None, levels=2, default_level1_bps=LEVEL1_BPS, default_level2_bps=LEVEL2_BPS)


def accrual_seed(*, chain: str, orders: int) -> dict:
    """The chain's distributors, product and share link, and `orders` pending orders with prepaid payments."""
    from django.db import transaction
    from django.utils import timezone

    from accounts.models import User
    from distributors.models import Distributor, DistributorStatus, TargetType
    from distributors.services.links import share_link_get_or_create
    from mall.models import Category, Order, OrderStatus
    from mall.services.catalog import product_create
    from mall.services.orders import PAYMENT_PURPOSE, order_create
    from wechat.models import PaymentStatus, WechatPayment

    started = time.monotonic()
    accrual_settings()
    names = _chain_names(chain)
    users = {}
    for key, username in names.items():
        users[key], _ = User.objects.get_or_create(
            username=username, defaults={"nickname": username, "openid": f"o-{username}"[:64]})
    level2, _ = Distributor.objects.get_or_create(user=users["l2"], defaults={
        "status": DistributorStatus.APPROVED, "real_name": "bench", "phone": "13800000000",
        "invite_code": f"BC2{chain}"[:12].upper(), "approved_at": timezone.now()})
    level1, _ = Distributor.objects.get_or_create(user=users["l1"], defaults={
        "status": DistributorStatus.APPROVED, "real_name": "bench", "phone": "13800000000",
        "invite_code": f"BC1{chain}"[:12].upper(), "inviter": level2, "approved_at": timezone.now()})
    category, _ = Category.objects.get_or_create(name="bench 茶")
    product = product_create(
        title=f"bench 佣金 {chain}", description="commission bench", images=["https://img.example.com/c.jpg"],
        category_id=category.pk, on_shelf=True,
        skus=[{"name": "100g", "price_fen": 12800, "stock": 10**7}, {"name": "250g", "price_fen": 29900,
                                                                       "stock": 10**7}],
    )
    skus = sorted(product.skus.values_list("pk", flat=True))
    link, _ = share_link_get_or_create(user=users["l1"], target_type=TargetType.PRODUCT, target_id=product.pk)
    buyer = users["buyer"]
    made = 0
    while made < orders:
        with transaction.atomic():
            batch = [
                order_create(user=buyer, items=[{"sku_id": s, "quantity": 1} for s in skus], address=ADDRESS,
                             share_code=link.code)
                for _ in range(min(200, orders - made))
            ]
            WechatPayment.objects.bulk_create([
                WechatPayment(out_trade_no=o.no, purpose=PAYMENT_PURPOSE, ref=o.no, amount_fen=o.total_fen,
                              openid=buyer.openid, description=product.title, client_ip="127.0.0.1",
                              prepay_id=f"wx{o.no}", status=PaymentStatus.PREPAID)
                for o in batch
            ])
        made += len(batch)
    snapshot = Order.objects.filter(user=buyer, status=OrderStatus.PENDING_PAYMENT).values_list(
        "attribution", flat=True).first()
    if (snapshot or {}).get("level1_distributor_id") != level1.pk or snapshot.get("level2_distributor_id") != level2.pk:
        raise RuntimeError(f"orders are not attributed to the chain: {snapshot}")
    return {"chain": chain, "orders": made, "lines": len(skus), "level1_id": level1.pk, "level2_id": level2.pk,
            "seconds": round(time.monotonic() - started, 1)}


def _chain_payments(chain: str):
    from mall.models import Order
    from mall.services.orders import PAYMENT_PURPOSE
    from wechat.models import WechatPayment

    nos = Order.objects.filter(user__username=_chain_names(chain)["buyer"]).values("no")
    return WechatPayment.objects.filter(ref__in=nos, purpose=PAYMENT_PURPOSE).order_by("pk")


class _HookTimer:
    """Wraps the accrual's PAID handler for the run: adds up the time spent inside it.

    It takes the accrual's place in the hook (Hook.replace), so the running order is kept."""

    def __init__(self) -> None:
        self.seconds = 0.0
        self.calls = 0

    def __enter__(self) -> _HookTimer:
        from commissions.services.accrual import on_order_paid
        from mall import hooks

        self._hooks, self._original = hooks, on_order_paid
        # the timer takes the accrual's place (same order number, same position)
        hooks.order_moment.replace(on_order_paid, self._timed, key=hooks.OrderMoment.PAID)
        return self

    def _timed(self, order, **data) -> None:
        started = time.perf_counter()
        try:
            self._original(order, **data)
        finally:
            self.seconds += time.perf_counter() - started
            self.calls += 1

    def __exit__(self, *exc) -> None:
        self._hooks.order_moment.replace(self._timed, self._original, key=self._hooks.OrderMoment.PAID)


def accrual_pay(*, chain: str, part: int = 0, parts: int = 1, ready=None) -> dict:
    """Pay this process's share of the chain's prepaid orders through the payment notification."""
    from django.utils import timezone

    from bench.seed_orders import _notification_xml
    from commissions.models import Commission
    from wechat.models import PaymentStatus
    from wechat.services import payment_notify_handle

    # This process's share of all the chain's payments (the same split whoever paid what), still unpaid.
    payments = [p for p in list(_chain_payments(chain))[part::parts] if p.status == PaymentStatus.PREPAID]
    time_end = timezone.localtime().strftime("%Y%m%d%H%M%S")
    bodies = [_notification_xml(payment=p, time_end=time_end).encode() for p in payments]
    if ready is not None:
        ready()
    errors: Counter = Counter()
    with _HookTimer() as timer:
        started = time.perf_counter()
        for body in bodies:
            try:
                payment_notify_handle(body=body)
            except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
                errors[type(exc).__name__] += 1
        seconds = time.perf_counter() - started
    commissions = Commission.objects.filter(order__no__in=[p.ref for p in payments]).count()
    return {"chain": chain, "orders": len(payments), "commissions": commissions, "seconds": seconds,
            "accrual_seconds": timer.seconds, "accrual_calls": timer.calls, "errors": dict(errors)}


def accrual_check(*, chains: list[str]) -> dict:
    """Every seeded order paid once, with lines × 2 commissions; frozen balances = what was accrued."""
    from django.db.models import Count, Sum

    from commissions.models import Commission
    from ledger.models import Account, AccountKind, LedgerTransaction
    from mall.models import Order, OrderItem, OrderStatus

    problems, totals = [], Counter()
    for chain in sorted(set(chains)):
        names = _chain_names(chain)
        orders = Order.objects.filter(user__username=names["buyer"])
        paid = orders.filter(status=OrderStatus.PAID).count()
        lines = OrderItem.objects.filter(order__in=orders).count()
        commissions = Commission.objects.filter(order__in=orders)
        per_level = dict(commissions.values_list("level").annotate(n=Count("id")))
        accruals = LedgerTransaction.objects.filter(kind="commission.accrue",
                                                    cause_id__in=orders.values("no")).count()
        total = orders.count()
        totals.update(orders=total, paid=paid, commissions=commissions.count())
        if paid != total or per_level != {1: lines, 2: lines} or accruals != total:
            problems.append(f"chain {chain}: {paid} of {total} orders paid, commissions by level {per_level} for "
                            f"{lines} lines, {accruals} accrual postings")
        for key in ("l1", "l2"):
            earned = commissions.filter(beneficiary__username=names[key]).aggregate(t=Sum("amount_fen"))["t"] or 0
            frozen = Account.objects.filter(owner__username=names[key], kind=AccountKind.USER_FROZEN).aggregate(
                t=Sum("balance_fen"))["t"] or 0
            if earned != frozen or not earned:
                problems.append(f"chain {chain} {key}: commissions {earned} fen, frozen account {frozen} fen")
    text = (f"{totals['paid']:,} of {totals['orders']:,} seeded orders paid, {totals['commissions']:,} commissions "
            "(2 lines × 2 levels each), one accrual posting per order, frozen balances equal the commissions")
    return {"check": "; ".join(problems) or text, "check_failed": bool(problems)}


# --- 2. settlement of many matured commissions ------------------------------------------------


def _insert_select(cursor, model, values: dict[str, str], source: str, params: list | None = None) -> int:
    """INSERT INTO <model's table> (every concrete column but the id) SELECT … FROM `source`.

    `values` maps a column to its SQL expression; any other column gets the field's default
    (a bound parameter), now() for auto_now(_add) dates, or NULL. The expressions take no
    parameters (they come first in the statement); `params` are `source`'s. Returns the row count."""
    from django.db import models as m

    columns, exprs, bound = [], [], []
    for field in model._meta.concrete_fields:
        if field.primary_key:
            continue
        columns.append(field.column)
        if field.column in values:
            exprs.append(values[field.column])
        elif getattr(field, "auto_now", False) or getattr(field, "auto_now_add", False):
            exprs.append("now()")
        elif field.has_default() or (not field.null and field.empty_strings_allowed):
            default = field.get_default()  # "" for a string field without a default
            if isinstance(field, m.JSONField):
                exprs.append("%s::jsonb")
                bound.append(json.dumps(default))
            else:
                exprs.append("%s")
                bound.append(default)
        elif field.null:
            exprs.append("NULL")
        else:
            raise ValueError(f"{model.__name__}.{field.name} needs a value")
    sql = (f"INSERT INTO {model._meta.db_table} ({', '.join(columns)}) "  # noqa: S608 - our own names
           f"SELECT {', '.join(exprs)} FROM {source}")
    cursor.execute(sql, [*bound, *(params or [])])
    return cursor.rowcount


def _vacuum_analyze(*tables: str) -> None:
    """VACUUM ANALYZE (ANALYZE only inside a transaction, e.g. a test's)."""
    from django.db import connection

    with connection.cursor() as cur:
        for table in tables:
            cur.execute(f"{'ANALYZE' if connection.in_atomic_block else 'VACUUM ANALYZE'} {table}")


def settlement_seed(*, commissions: int = COMMISSIONS_N, beneficiaries: int | None = None, tag: int = 0) -> dict:
    """`commissions` frozen, matured commissions and the ledger state behind them (PostgreSQL).

    Set-based: a handful of INSERT … SELECT generate_series statements in one transaction,
    then VACUUM ANALYZE of the big tables (as autovacuum would have done by the time a million
    commissions have matured). `tag` (0-99) keeps several seeds in one database apart."""
    from django.conf import settings as django_settings
    from django.db import connection, transaction

    from accounts.models import User
    from commissions.models import Commission
    from distributors.models import Distributor
    from ledger.models import Account, AccountKind, Entry, LedgerTransaction
    from ledger.services import account_get_or_create
    from mall.models import Category, Order, OrderItem, Product, Sku

    if connection.vendor != "postgresql":
        raise RuntimeError("the settlement seed is written for PostgreSQL")
    if not 0 <= tag <= 99 or commissions < 1:
        raise ValueError("tag 0-99, at least one commission")
    started = time.monotonic()
    n = commissions
    b = beneficiaries or max(2, min(MAX_BENEFICIARIES, n // 100))
    items = (n + 1) // 2
    orders = (items + LINES_PER_ORDER - 1) // LINES_PER_ORDER
    prefix = f"bench-settle-{tag:02d}-"
    order_prefix = f"00{tag:02d}"  # order numbers 00TT + 12 digits: never a real one (YYMMDD…, month ≥ 01)
    with transaction.atomic(), connection.cursor() as cur:
        if User.objects.filter(username__startswith=prefix).exists():
            raise RuntimeError(f"settlement seed {tag} exists already")
        buyer = User.objects.create(username=f"{prefix}buyer", nickname="bench settle buyer")
        category, _ = Category.objects.get_or_create(name="bench 茶")
        product = Product.objects.create(title=f"bench 结算 {tag}", category=category, on_shelf=False)
        sku = Sku.objects.create(product=product, name="1 件", price_fen=1000, stock=0)
        _insert_select(cur, User, {
            "username": f"'{prefix}' || g", "password": "'!'", "nickname": "'bench'", "is_active": "true",
            "date_joined": "now()", "openid": "NULL"}, "generate_series(0, %s) AS g", [b - 1])
        cur.execute("CREATE TEMP TABLE bench_ben ON COMMIT DROP AS "
                    "SELECT (row_number() OVER (ORDER BY id) - 1)::int AS idx, id AS user_id, 0::bigint AS dist_id "
                    "FROM accounts_user WHERE username LIKE %s AND username <> %s", [prefix + "%", buyer.username])
        _insert_select(cur, Distributor, {
            "user_id": "user_id", "status": "'approved'", "real_name": "'bench'", "phone": "'13800000000'",
            "invite_code": f"'BS{tag:02d}' || lpad(idx::text, 8, '0')", "approved_at": "now()",
            "inviter_id": "NULL", "tier_id": "NULL"}, "bench_ben")
        cur.execute("UPDATE bench_ben SET dist_id = d.id FROM distributors_distributor d WHERE d.user_id = "
                    "bench_ben.user_id")
        cur.execute("CREATE UNIQUE INDEX ON bench_ben (idx)")
        _insert_select(cur, Order, {
            "no": f"'{order_prefix}' || lpad(g::text, 12, '0')", "user_id": str(buyer.pk), "status": "'completed'",
            "total_fen": "1", "paid_fen": "1", "address": "addr.value", "attribution": "'{}'::jsonb",
            "pay_deadline": "now() - interval '20 days'", "paid_at": "now() - interval '20 days'",
            "completed_at": "now() - interval '10 days'", "wechat_transaction_id": "NULL"},
            "generate_series(0, %s) AS g CROSS JOIN (SELECT %s::jsonb AS value) AS addr",
            [orders - 1, json.dumps(ADDRESS, ensure_ascii=False)])
        cur.execute("CREATE TEMP TABLE bench_ord ON COMMIT DROP AS SELECT (row_number() OVER (ORDER BY id) - 1)::int "
                    "AS idx, id FROM mall_order WHERE user_id = %s", [buyer.pk])
        cur.execute("CREATE UNIQUE INDEX ON bench_ord (idx)")
        # Line i: 10.00-59.00 yuan, in order i / 100.
        _insert_select(cur, OrderItem, {
            "order_id": "o.id", "product_id": str(product.pk), "sku_id": str(sku.pk), "title": "'bench'",
            "sku_name": "'1 件'", "price_fen": "1000 + mod(g, 50) * 100", "quantity": "1",
            "amount_fen": "1000 + mod(g, 50) * 100"},
            f"generate_series(0, %s) AS g JOIN bench_ord o ON o.idx = g / {LINES_PER_ORDER}", [items - 1])
        cur.execute("UPDATE mall_order o SET total_fen = t.s, paid_fen = t.s FROM (SELECT order_id, sum(amount_fen) "
                    "AS s FROM mall_orderitem WHERE product_id = %s GROUP BY order_id) t WHERE o.id = t.order_id",
                    [product.pk])
        cur.execute("CREATE TEMP TABLE bench_item ON COMMIT DROP AS SELECT (row_number() OVER (ORDER BY id) - 1)::int "
                    "AS idx, id, order_id, amount_fen FROM mall_orderitem WHERE product_id = %s", [product.pk])
        # Commission 2i + level - 1 is line i's level `level`: level 1 to beneficiary i mod b, level 2 to
        # another one; 10 % and 5 % of the line, frozen since 8 days, matured yesterday.
        _insert_select(cur, Commission, {
            "order_id": "i.order_id", "order_item_id": "i.id", "level": "l.level", "distributor_id": "ben.dist_id",
            "beneficiary_id": "ben.user_id", "base_fen": "i.amount_fen",
            "rate_bps": f"CASE l.level WHEN 1 THEN {LEVEL1_BPS} ELSE {LEVEL2_BPS} END", "fixed_fen": "NULL",
            "rule_source": "'default'",
            "amount_fen": f"i.amount_fen * CASE l.level WHEN 1 THEN {LEVEL1_BPS} ELSE {LEVEL2_BPS} END / 10000",
            "status": "'frozen'", "created_at": "now() - interval '20 days'",
            "frozen_at": "now() - interval '8 days'", "settles_at": "now() - interval '1 day'",
            "settled_at": "NULL", "reversed_at": "NULL"},
            "bench_item i CROSS JOIN (VALUES (1), (2)) AS l(level) JOIN bench_ben ben ON ben.idx = "
            "mod(i.idx + CASE l.level WHEN 1 THEN 0 ELSE %s END, %s) WHERE 2 * i.idx + l.level - 1 < %s",
            [b // 2 + 1, b, n])
        # The books as the accruals would have left them: one `commission.accrue` transaction per
        # order (as accrual.on_order_paid posts: sharded commission expense → each beneficiary's
        # frozen account, one entry per beneficiary), about 200 entries per order here.
        cur.execute("CREATE TEMP TABLE bench_per_user ON COMMIT DROP AS SELECT c.beneficiary_id AS user_id, "
                    "sum(c.amount_fen)::bigint AS fen, bool_or(mod(ben.idx, %s) = 0) AS owes "
                    "FROM commissions_commission c JOIN bench_ben ben ON ben.user_id = c.beneficiary_id "
                    "GROUP BY c.beneficiary_id", [DEBT_EVERY])
        cur.execute("SELECT count(*), coalesce(sum(fen), 0)::bigint, count(*) FILTER (WHERE owes) FROM bench_per_user")
        paid_to, total_fen, debtors = cur.fetchone()
        for kind, where in ((AccountKind.USER_FROZEN, "true"), (AccountKind.USER_DEBT, "owes")):
            _insert_select(cur, Account, {
                "code": f"'user:' || user_id || ':{kind}'", "kind": f"'{kind}'", "owner_id": "user_id", "ref": "''",
                "allow_negative": "false" if kind == AccountKind.USER_FROZEN else "true", "balance_fen": "0"},
                f"bench_per_user WHERE {where}")
        shards = django_settings.MALL_LEDGER_SHARDS
        cur.execute("CREATE TEMP TABLE bench_exp (shard int PRIMARY KEY, id bigint) ON COMMIT DROP")
        cur.execute("INSERT INTO bench_exp VALUES " + ", ".join(["(%s, %s)"] * shards), [  # noqa: S608
            x for shard in range(shards) for x in (shard, account_get_or_create(
                kind=AccountKind.COMMISSION_EXPENSE, ref=f"comm{shard:02d}").pk)])
        _insert_select(cur, LedgerTransaction, {
            "kind": "'commission.accrue'", "idempotency_key": "'commission.accrue:' || o.no",
            "memo": "'commissions for order ' || o.no", "cause_type": "'mall.order'", "cause_id": "o.no",
            "created_at": "o.paid_at", "created_by_id": "NULL"}, "mall_order o WHERE o.user_id = %s", [buyer.pk])
        cur.execute("CREATE TEMP TABLE bench_txn ON COMMIT DROP AS SELECT o.id AS order_id, t.id AS txn_id, "
                    "e.id AS expense_id FROM mall_order o JOIN ledger_ledgertransaction t ON t.idempotency_key = "
                    "'commission.accrue:' || o.no JOIN bench_exp e ON e.shard = mod(o.no::bigint, %s) "
                    "WHERE o.user_id = %s", [shards, buyer.pk])
        _insert_select(cur, Entry, {"transaction_id": "txn_id", "account_id": "account_id", "amount_fen": "fen"},
                       "(SELECT t.txn_id, a.id AS account_id, sum(c.amount_fen) AS fen FROM commissions_commission c "  # noqa: S608
                       "JOIN bench_txn t ON t.order_id = c.order_id JOIN ledger_account a ON a.code = 'user:' || "
                       f"c.beneficiary_id || ':{AccountKind.USER_FROZEN}' GROUP BY t.txn_id, a.id) AS x")
        _insert_select(cur, Entry, {"transaction_id": "txn_id", "account_id": "expense_id", "amount_fen": "-fen"},
                       "(SELECT t.txn_id, t.expense_id, sum(c.amount_fen) AS fen FROM commissions_commission c "
                       "JOIN bench_txn t ON t.order_id = c.order_id GROUP BY t.txn_id, t.expense_id) AS x")
        # And debt, as a reversal after settlement leaves it: the wallet was empty, so the
        # reversed money became debt (commission expense ← the beneficiary's debt account).
        debt_fen = DEBT_FEN * debtors
        if debt_fen:
            reverse = LedgerTransaction.objects.create(
                kind="commission.reverse", idempotency_key=f"bench:commissions:{tag}:debt", cause_type="bench",
                cause_id=f"settlement seed {tag}", memo="settled commissions reversed beyond the wallet (bench seed)")
            _insert_select(cur, Entry, {"transaction_id": str(reverse.pk), "account_id": "a.id",
                                        "amount_fen": str(-DEBT_FEN)},
                           f"bench_per_user p JOIN ledger_account a ON a.code = 'user:' || p.user_id || "
                           f"':{AccountKind.USER_DEBT}' WHERE p.owes")
            Entry.objects.create(transaction=reverse, account_id=account_get_or_create(
                kind=AccountKind.COMMISSION_EXPENSE, ref="comm00").pk, amount_fen=debt_fen)
        # Every touched balance = the sum of the entries just written (relative: other postings stay).
        cur.execute("UPDATE ledger_account a SET balance_fen = a.balance_fen + x.fen FROM (SELECT e.account_id, "
                    "sum(e.amount_fen) AS fen FROM ledger_entry e WHERE e.transaction_id IN (SELECT txn_id FROM "
                    "bench_txn) OR e.transaction_id = %s GROUP BY e.account_id) x WHERE a.id = x.account_id",
                    [reverse.pk if debt_fen else 0])
        cur.execute("DROP TABLE bench_ben, bench_ord, bench_item, bench_per_user, bench_exp, bench_txn")
    _vacuum_analyze("commissions_commission", "ledger_account", "ledger_entry", "ledger_ledgertransaction",
                    "mall_orderitem", "mall_order")
    return {"commissions": n, "beneficiaries": paid_to, "lines": items, "orders": orders, "total_fen": total_fen,
            "debtors": debtors, "debt_fen": debt_fen, "seconds": round(time.monotonic() - started, 1), "tag": tag}


def settlement_run(**batching) -> dict:
    """Time commissions_settle() end to end (`batching`: its batch_users / batch_rows, for tests)."""
    from commissions.services import settlement

    started = time.perf_counter()
    result = settlement.commissions_settle(**batching)
    return {**result, "seconds": time.perf_counter() - started,
            "batch_users": batching.get("batch_users", settlement.BATCH_USERS),
            "batch_rows": batching.get("batch_rows", settlement.BATCH_ROWS)}


def settlement_check(*, seed: dict) -> dict:
    """Every seeded commission settled exactly once; wallets got the money less the debt; nothing frozen."""
    from django.db.models import Count, Sum

    from commissions.models import Commission, CommissionStatus
    from ledger.models import Account, AccountKind, Entry

    prefix = f"bench-settle-{seed['tag']:02d}-"
    mine = Commission.objects.filter(beneficiary__username__startswith=prefix)
    by_status = dict(mine.values_list("status").annotate(n=Count("id")))
    unset = mine.filter(settled_at__isnull=True).count()
    balances = dict(Account.objects.filter(owner__username__startswith=prefix).values_list("kind").annotate(
        t=Sum("balance_fen")))
    # A commission settled twice would have moved its money twice: frozen would be negative
    # (impossible: CHECK) or the settle entries would exceed what was accrued.
    settled_out = -(Entry.objects.filter(transaction__kind="commission.settle", account__kind=AccountKind.USER_FROZEN,
                                         account__owner__username__startswith=prefix)
                    .aggregate(t=Sum("amount_fen"))["t"] or 0)
    expected = {AccountKind.USER_FROZEN: 0, AccountKind.USER_WALLET: seed["total_fen"] - seed["debt_fen"],
                AccountKind.USER_DEBT: 0}
    got = {k: balances.get(k, 0) for k in expected}
    ok = (by_status == {CommissionStatus.SETTLED: seed["commissions"]} and not unset and got == expected
          and settled_out == seed["total_fen"])
    text = (f"{by_status.get('settled', 0):,} of {seed['commissions']:,} commissions settled, each once "
            f"({settled_out:,} fen left the frozen accounts, as accrued); wallets {got['user_wallet']:,} fen = "
            f"accrued − the {seed['debtors']:,} debtors' {seed['debt_fen']:,} fen, paid first; frozen and debt 0")
    if not ok:
        text = f"statuses {by_status}, {unset} without settled_at, balances {got} (expected {expected}), " \
               f"{settled_out} fen settled of {seed['total_fen']}"
    return {"check": text, "check_failed": not ok}


# --- 3. the ledger audit -----------------------------------------------------------------------


FILLER_COUNTERS = 16  # like the platform's sharded accounts


def entries_top_up(*, at_least: int) -> int:
    """Add balanced filler transactions until the books hold `at_least` entries (PostgreSQL);
    returns how many entries were added.

    Filler transaction n moves ±1 fen between filler account n mod F (F up to 10,000, about
    100 entries each, like people's accounts) and counter account n mod 16 (hot, like the
    platform's sharded accounts); the sign flips every round of F transactions and the rounds
    are even, so every balance ends where it was (the balances are not touched)."""
    from django.db import connection, transaction

    from ledger.models import Account, AccountKind, Entry, LedgerTransaction

    if connection.vendor != "postgresql":
        raise RuntimeError("the filler is written for PostgreSQL")
    missing = at_least - Entry.objects.count()
    if missing <= 0:
        return 0
    pairs = (missing + 1) // 2
    width = FILLER_COUNTERS * max(1, min(MAX_BENEFICIARIES // FILLER_COUNTERS, pairs // (FILLER_COUNTERS * 100)))
    rounds = -(-pairs // width)
    rounds += rounds % 2
    tag = time.time_ns()
    kind = AccountKind.ROUNDING
    with transaction.atomic(), connection.cursor() as cur:
        for name, count in (("f", width), ("c", FILLER_COUNTERS)):
            _insert_select(cur, Account, {
                "code": f"'bench-{tag}-{name}-' || g || ':{kind}'", "kind": f"'{kind}'", "owner_id": "NULL",
                "ref": f"'bench-{tag}-{name}-' || g", "allow_negative": "true", "balance_fen": "0"},
                "generate_series(0, %s) AS g", [count - 1])
        cur.execute("CREATE TEMP TABLE bench_fa ON COMMIT DROP AS SELECT split_part(ref, '-', 3) AS side, "
                    "split_part(ref, '-', 4)::int AS n, id FROM ledger_account WHERE ref LIKE %s",
                    [f"bench-{tag}-%"])
        _insert_select(cur, LedgerTransaction, {
            "kind": "'bench.filler'", "idempotency_key": f"'bench:filler:{tag}:' || g", "memo": "''",
            "cause_type": "'bench'", "cause_id": "''", "created_by_id": "NULL"},
            "generate_series(0, %s) AS g", [rounds * width - 1])
        cur.execute("CREATE TEMP TABLE bench_ft ON COMMIT DROP AS SELECT id, (row_number() OVER (ORDER BY id) - 1) "
                    "AS n FROM ledger_ledgertransaction WHERE idempotency_key LIKE %s", [f"bench:filler:{tag}:%"])
        sign = f"CASE WHEN mod(t.n / {width}, 2) = 0 THEN 1 ELSE -1 END"
        for side, modulo, factor in (("f", width, 1), ("c", FILLER_COUNTERS, -1)):
            _insert_select(cur, Entry, {"transaction_id": "t.id", "account_id": "a.id",
                                        "amount_fen": f"{factor} * {sign}"},
                           f"bench_ft t JOIN bench_fa a ON a.side = '{side}' AND a.n = mod(t.n, {modulo})")
        cur.execute("DROP TABLE bench_fa, bench_ft")
    _vacuum_analyze("ledger_entry", "ledger_ledgertransaction", "ledger_account")
    return 2 * rounds * width


def audit_run() -> dict:
    """Time `audit_ledger` (call_command, in this process) and count what it read."""
    import io

    from django.core.management import call_command
    from django.core.management.base import CommandError

    from ledger.models import Account, Entry, LedgerTransaction

    out = io.StringIO()
    started = time.perf_counter()
    try:
        call_command("audit_ledger", stdout=out)
        ok = True
    except CommandError:
        ok = False
    seconds = time.perf_counter() - started
    return {"ok": ok, "seconds": seconds, "entries": Entry.objects.count(),
            "transactions": LedgerTransaction.objects.count(), "accounts": Account.objects.count(),
            "report": out.getvalue()[-1500:] if not ok else ""}


# --- orchestration (bench/run.py) --------------------------------------------------------------


def _worker(python: str, root: Path, env: dict, *args: str, timeout: float = 3600) -> dict:
    done = subprocess.run([python, str(root / "bench" / "commissions_bench.py"), *args], cwd=root, env=env,
                          capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        raise RuntimeError(f"commissions_bench.py {' '.join(args)} exited with {done.returncode}: "
                           f"{done.stderr.strip()[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run_accrual(python: str, root: Path, env: dict, orders: int = ACCRUAL_ORDERS) -> list[dict]:
    rows = []
    for scenario in ACCRUAL_SCENARIOS:
        chains = scenario["chains"]
        counts = Counter(chains)
        for chain, processes in counts.items():
            _log(f"accrual: seeding {orders * processes} orders of chain {chain}")
            _worker(python, root, env, "accrual-seed", "--chain", chain, "--orders", str(orders * processes))
        _log(f"accrual: {scenario['name']}")
        procs, seen = [], Counter()
        try:
            for chain in chains:
                part = f"{seen[chain]}/{counts[chain]}"
                seen[chain] += 1
                procs.append(subprocess.Popen(
                    [python, str(root / "bench" / "commissions_bench.py"), "pay", "--chain", chain, "--part", part],
                    cwd=root, env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True))
            for proc in procs:  # all set up (bodies signed): start them together
                if proc.stdout.readline().strip() != "ready":
                    raise RuntimeError(f"commissions_bench.py pay did not start (exit {proc.wait()})")
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            results = []
            for proc in procs:
                out, _ = proc.communicate(timeout=3600)
                if proc.returncode != 0:
                    raise RuntimeError(f"commissions_bench.py pay exited with {proc.returncode}")
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        seconds = max(r["seconds"] for r in results)
        errors: Counter = Counter()
        for r in results:
            errors.update(r["errors"])
        paid = sum(r["orders"] for r in results)
        row = {
            "name": scenario["name"], "processes": len(procs), "orders": paid,
            "commissions": sum(r["commissions"] for r in results), "seconds": seconds,
            "orders_per_s": paid / seconds if seconds else 0.0,
            "commissions_per_s": sum(r["commissions"] for r in results) / seconds if seconds else 0.0,
            # per order, per process: the paid path, and the accrual hook inside it
            "ms_per_order": 1000 * sum(r["seconds"] for r in results) / paid if paid else None,
            "accrual_ms_per_order": 1000 * sum(r["accrual_seconds"] for r in results) / paid if paid else None,
            "errors": dict(errors),
            **_worker(python, root, env, "accrual-check", *[x for c in counts for x in ("--chain", c)]),
        }
        row["accrual_share"] = (row["accrual_ms_per_order"] / row["ms_per_order"]) if row["ms_per_order"] else None
        _log(f"  {row['orders_per_s']:,.0f} orders/s, {row['commissions_per_s']:,.0f} commissions/s, accrual "
             f"{row['accrual_ms_per_order']:.1f} of {row['ms_per_order']:.1f} ms per order; {row['check']}")
        rows.append(row)
    return rows


def run(python: str, root: Path, env: dict) -> dict:
    """All three rows, each step in its own process against env's database. Returns the results."""
    results = {"date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"), "load_start": _load(),
               "cores": len(os.sched_getaffinity(0))}
    results["accrual"] = run_accrual(python, root, env)
    _log(f"settlement: seeding {COMMISSIONS_N:,} matured commissions")
    seed = results["settle_seed"] = _worker(python, root, env, "settle-seed", "--n", str(COMMISSIONS_N))
    _log(f"  seeded in {seed['seconds']} s; settling")
    results["load_settle"] = _load()
    settle = results["settle"] = _worker(python, root, env, "settle")
    _log(f"  {settle['settled']:,} settled in {settle['seconds']:.1f} s ({settle['batches']} batches)")
    settle.update(_worker(python, root, env, "settle-check", "--seed", json.dumps(seed)))
    _log(f"  check: {settle['check']}")
    results["load_audit"] = _load()
    started = time.perf_counter()
    audit = results["audit"] = _worker(python, root, env, "audit", "--entries", str(AUDIT_ENTRIES))
    audit["process_seconds"] = time.perf_counter() - started
    _log(f"  audit of {audit['entries']:,} entries: {audit['seconds']:.1f} s, {'ok' if audit['ok'] else 'FAILED'}")
    results["load_end"] = _load()
    return results


def failed(results: dict) -> list[str]:
    """The rows that are not valid figures (errors, failed checks, failed audit)."""
    bad = [f"accrual {r['name']}" for r in results["accrual"] if r["errors"] or r.get("check_failed")]
    if results["settle"].get("check_failed"):
        bad.append("settlement")
    if not results["audit"]["ok"]:
        bad.append("audit")
    return bad


def section(results: dict) -> str:
    """The report's section, between markers (so BENCH_ONLY=commissions can replace it alone)."""
    seed, settle, audit = results["settle_seed"], results["settle"], results["audit"]
    acc = results["accrual"]
    lines = [
        SECTION_START,
        "## Commissions: accrual, settlement, audit (no HTTP)",
        "",
        f"`bench/commissions_bench.py`, measured {results['date']} on {results['cores']} core(s); load average "
        f"{results['load_start']} at the start, {results['load_settle']} before the settlement, "
        f"{results['load_end']} at the end (the machine is shared: other work competes for the cores). "
        "PostgreSQL settings as above.",
        "",
        "### Commission accrual for paid orders with two levels, orders per second without HTTP",
        "",
        "Each order: two lines, attributed (by `order_create` with the level-1 distributor's share code) to an "
        "approved level-1 distributor whose inviter is an approved level-2 distributor, so it accrues 4 "
        "commissions. Paid through the WeChat payment notification without HTTP: "
        "`wechat.services.payment_notify_handle(body=<signed XML>)`, i.e. XML and signature, payment → paid, "
        "`order_mark_paid`, the PAID subscribers (distributor stats, then "
        "`commissions.services.accrual.on_order_paid`), sold count, the payment and accrual ledger postings, "
        "one transaction per order. *accrual ms* is the time spent inside the accrual hook (timed around it), "
        "*paid path ms* the whole call, both per order and process.",
        "",
        "| scenario | processes | orders | orders/s | commissions/s | paid path ms | accrual ms | accrual share "
        "| errors |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in acc:
        errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "0"
        if r.get("check_failed"):
            errors += "; **check failed** (below)"
        lines.append(
            f"| {r['name']} | {r['processes']} | {r['orders']:,} | {r['orders_per_s']:,.0f} "
            f"| {r['commissions_per_s']:,.0f} | {r['ms_per_order']:.1f} | {r['accrual_ms_per_order']:.1f} "
            f"| {100 * r['accrual_share']:.0f} % | {errors} |")
    lines += [
        "",
        ("Checked after each scenario: every seeded order paid once ("
         + ", ".join(f"{r['orders']:,}" for r in acc) + " orders), with 4 commissions (2 lines × 2 levels) and "
         "one accrual posting each; the frozen balances equal the commissions."
         if not any(r.get("check_failed") for r in acc) else
         "Checked after each scenario: " + "; ".join(f"*{r['name']}*: {r['check']}" for r in acc) + "."),
        "*Distinct chains*: each process pays orders of its own distributors and product; *one chain*: both "
        "processes credit the same two frozen accounts and the same distributor's daily stats row, and sell the "
        "same product, so their transactions queue on those rows.",
        "",
        f"### Settlement of {seed['commissions']:,} matured commissions on PostgreSQL: total seconds "
        f"(aim ≤ {SETTLE_AIM_SECONDS} s)",
        "",
        "| commissions | beneficiaries | batches | seconds | commissions/s | aim |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {settle['settled']:,} | {seed['beneficiaries']:,} | {settle['batches']:,} | {settle['seconds']:.1f} "
        f"| {settle['settled'] / settle['seconds'] if settle['seconds'] else 0:,.0f} "
        f"| {'met' if settle['seconds'] <= SETTLE_AIM_SECONDS else '**missed**'} |",
        "",
        f"Seeded with set-based SQL in {seed['seconds']:.0f} s (not timed): {seed['commissions']:,} frozen "
        f"commissions matured yesterday on {seed['lines']:,} order lines of {seed['orders']:,} orders, and the "
        f"books behind them (one `commission.accrue` posting per order, {seed['total_fen']:,} fen from the "
        f"sharded commission expense into {seed['beneficiaries']:,} beneficiaries' frozen accounts; "
        f"{seed['debtors']:,} of them owing {DEBT_FEN} fen of debt). Timed: "
        "`commissions.services.settlement.commissions_settle()` in one process, end to end: batches of up to "
        f"{settle.get('batch_users', '—'):,} beneficiaries / {settle.get('batch_rows', '—'):,} rows, each one "
        "statement that picks (`FOR UPDATE SKIP LOCKED`), marks and sums its rows per beneficiary, and one "
        f"ledger posting (debt paid first). Checked after: {settle['check']}.",
        "",
        f"### `audit_ledger` over {audit['entries']:,} entries: total seconds",
        "",
        "| entries | transactions | accounts | seconds | entries/s | result |",
        "| ---: | ---: | ---: | ---: | ---: | --- |",
        f"| {audit['entries']:,} | {audit['transactions']:,} | {audit['accounts']:,} | {audit['seconds']:.1f} "
        f"| {audit['entries'] / audit['seconds'] if audit['seconds'] else 0:,.0f} "
        f"| {'balanced' if audit['ok'] else '**FAILED**'} |",
        "",
        "`call_command(\"audit_ledger\")` timed in-process after the settlement (its entries included; balanced "
        "filler transactions top the books up to the entries asked for when they hold fewer); the whole "
        f"`python bench/commissions_bench.py audit` process, interpreter and Django start-up included, took "
        f"{audit['process_seconds']:.1f} s.",
        SECTION_END,
    ]
    return "\n".join(lines) + "\n"


def splice(document: str, new_section: str) -> str:
    """`document` with its commissions section replaced by `new_section` (appended when absent)."""
    start, end = document.find(SECTION_START), document.find(SECTION_END)
    if start == -1 or end == -1:
        return document.rstrip("\n") + "\n\n" + new_section
    return document[:start] + new_section.rstrip("\n") + document[end + len(SECTION_END):]


# --- worker commands ---------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("accrual-seed")
    p.add_argument("--chain", required=True)
    p.add_argument("--orders", type=int, required=True)
    p = sub.add_parser("pay")
    p.add_argument("--chain", required=True)
    p.add_argument("--part", default="0/1", help="i/k: this process pays every k-th order from the i-th")
    p = sub.add_parser("accrual-check")
    p.add_argument("--chain", action="append", required=True)
    p = sub.add_parser("settle-seed")
    p.add_argument("--n", type=int, default=COMMISSIONS_N)
    p.add_argument("--tag", type=int, default=0)
    sub.add_parser("settle")
    p = sub.add_parser("settle-check")
    p.add_argument("--seed", required=True, help="settle-seed's JSON")
    p = sub.add_parser("audit")
    p.add_argument("--entries", type=int, default=AUDIT_ENTRIES)
    args = parser.parse_args()

    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench._django import setup

    setup()
    if args.command == "accrual-seed":
        result = accrual_seed(chain=args.chain, orders=args.orders)
    elif args.command == "pay":
        part, parts = (int(x) for x in args.part.split("/"))

        def ready() -> None:
            print("ready", flush=True)
            sys.stdin.readline()

        result = accrual_pay(chain=args.chain, part=part, parts=parts, ready=ready)
    elif args.command == "accrual-check":
        result = accrual_check(chains=args.chain)
    elif args.command == "settle-seed":
        result = settlement_seed(commissions=args.n, tag=args.tag)
    elif args.command == "settle":
        result = settlement_run()
    elif args.command == "settle-check":
        result = settlement_check(seed=json.loads(args.seed))
    else:
        added = entries_top_up(at_least=args.entries)
        result = {**audit_run(), "filler_entries": added}
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
