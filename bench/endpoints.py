"""The HTTP endpoints `make bench` loads, one dict per row of docs/benchmarks.md.

Later issues add rows by appending to ENDPOINTS. Keys:

- name:     the row's label.
- path:     the URL path (GET unless `method` says otherwise).
- method:   optional, default "GET".
- body:     optional JSON text sent with every request (Content-Type: application/json).
- body_file: optional, instead of `body`: a file (from the repository root) whose text is the body,
            read when the row runs (so the seed can write it).
- content_type: optional Content-Type of the body (default application/json).
- auth:     optional, True to send the seeded bench user's `Authorization: Bearer <token>`.
- expect:   optional, the status the pre-check insists on before loading (default 200).
- baseline: exactly one row is the bare Django endpoint; every row's ratio is rps / baseline rps.
- warmup:   optional, seconds of warm-up for this row when it needs more than BENCH_WARMUP (the note says why).
- server:   optional, "bare": the row is served by bench/bare_app.py's gunicorn (the baseline), not the app's.
- note:     optional, what the row exercises (printed under the table).
- lua:      optional, an extra wrk script loaded after bench/wrk.lua (e.g. a `request` hook that
            varies each request, as bench/short_link.lua does for the short link's visitors).
            It may define its own `done`, called after the summary line.
- check_script: optional, a script bench/run.py runs after the HTTP rows, once gunicorn has
            stopped: it checks what the row's requests did and prints one JSON line
            {"check": text, "check_failed": bool} (shown under the table; a failed check fails the run).
- token_file: optional, with `auth`: a file (from the repository root, written by the seed) whose
            first line is the Bearer token sent instead of the bench user's (the row's `lua` may
            send others).
- env:      optional, extra environment for wrk (the row's `lua` reads it, e.g. which files).
- section:  optional, the report section the row is shown in instead of the HTTP table
            ("crowdfunds": bench/crowdfunds_bench.py, "envelopes": bench/envelopes_bench.py, with the
            baseline of the same run). A row's check may also set `http_errors` (the answers that were
            not the row's expected one, e.g. the 409s the empty envelope's row expects are not errors).

Every request of a run is the same request (wrk replays it) unless the row's `lua` script has a
`request` hook. Creating an order per request needs none (the same body makes a new order each
time); a payment notification does (each must pay another order: bench/pay_notify.lua).
"""

import datetime
import os
from zoneinfo import ZoneInfo

# The stats row asks for the last 366 days (the most the endpoint allows), in the shop's days.
_TODAY = datetime.datetime.now(ZoneInfo(os.environ.get("TIME_ZONE", "Asia/Shanghai"))).date()
_LAST_366_DAYS = f"from={(_TODAY - datetime.timedelta(days=365)).isoformat()}&to={_TODAY.isoformat()}"

ENDPOINTS: list[dict] = [
    {
        "name": "bare Django JSON (baseline)",
        "path": "/bare",
        "server": "bare",
        "baseline": True,
        "note": "bench/bare_app.py: a Django app of its own (settings configured in code, no middleware, no "
        "installed apps, no database), one view returning JsonResponse({'ok': True}), served by its own gunicorn "
        "with exactly the app server's settings: the framework's ceiling, the divisor of every ratio",
    },
    {
        "name": "livez (our stack)",
        "path": "/livez",
        "note": "the same JsonResponse through the project's middleware stack (security, whitenoise, sessions, "
        "locale, common, CSRF, auth, messages, clickjacking, the API 404) and URL conf: what our stack costs",
    },
    {
        "name": "health",
        "path": "/api/v1/health/",
        "note": "DRF view, no auth/throttle; SELECT 1, and a PING each to Redis and the Celery broker over pooled "
        "clients (workers are not pinged without ?workers=1)",
    },
    {
        "name": "me",
        "path": "/api/v1/me/",
        "auth": True,
        "note": "DRF, Bearer token lookup (1 query), user throttle in Redis, ledger balances (1 query)",
    },
    {
        "name": "product list",
        "path": "/api/v1/products/",
        "note": "public catalog, first page of 20 of 42 products; pre-rendered JSON from the versioned "
        "catalog cache in Redis (one MGET), anonymous throttle in Redis, no DB query on a hit",
    },
    {
        "name": "product detail",
        "path": "/api/v1/products/900001/",  # bench/seed_catalog.py BENCH_PRODUCT_ID
        "note": "public product with 4 SKUs and the review summary; pre-rendered JSON from the catalog "
        "cache in Redis (one MGET), anonymous throttle in Redis, no DB query on a hit",
    },
    {
        "name": "share link QR PNG (cached)",
        "path": "/api/v1/share-links/BENCHQR2/qr.png",  # bench/seed_links.py BENCH_SHARE_CODE
        "note": "public QR image of a share link; the pre-check request renders and caches it, then every "
        "request is a cache hit answered before DRF (one Redis GET, no DB query), with ETag and Cache-Control. "
        "Generation without the cache: see the share-link images section (bench/qr_gen.py)",
    },
    {
        "name": "short link /s/<code>",
        "path": "/s/BENCHQR2",  # bench/seed_links.py BENCH_SHARE_CODE
        "expect": 302,
        "lua": "bench/short_link.lua",
        "note": "the share link's redirect: plain Django view; 80 % returning visitors (signed fx_vid cookie "
        "from a pool of 2,000), 20 % first visits (a new visitor id and cookie); code resolved and the click "
        "counted (page view + exact unique-visitor SADD) in ONE Redis Lua call, no DB query; sets the signed "
        "attribution cookie, 302",
    },
    {
        "name": "distributor stats, 1 year",
        "path": f"/api/v1/distributors/me/stats/?{_LAST_366_DAYS}",  # bench/seed_stats.py
        "auth": True,
        "note": "the bench user as a distributor with 100,000 attributed paid orders (20,000 customers, 15,000 "
        "bound) and 1,000,000 clicks on 50 links over the 366 days asked for: Bearer auth (1 query), user "
        "throttle in Redis, then 2 queries (the distributor with its customer totals and team size; its 366 "
        "daily aggregate rows) and the bound-customers count from the cache (counted once a minute); no Order or "
        "click row is read. ~26 KB of JSON with the 366-point daily series",
    },
    {
        "name": "order creation",
        "path": "/api/v1/orders/",
        "method": "POST",
        "auth": True,
        "expect": 201,
        # bench/seed_orders.py BENCH_ORDER_SKU_ID: stock 10^9, so no run runs out
        "body": '{"items": [{"sku_id": 900102, "quantity": 1}], "address": {"name": "张三", "phone": "13800138000", '
        '"province": "浙江省", "city": "杭州市", "district": "西湖区", "detail": "龙井路 1 号"}}',
        "note": "POST /api/v1/orders/, one item, a full address, no Idempotency-Key: every request creates a "
        "new pending order (201). Bearer auth, user throttle, input validation, then one transaction: SKU read, "
        "stock taken with a conditional UPDATE, attribution lookup, order number drawn, order + item + event rows; "
        "the catalog cache versions bumped on commit; the order read back for the answer. Every request takes "
        "stock from the same SKU, so the transactions queue on that one row (a hot product)",
    },
    {
        "name": "payment notification (distinct, with ledger)",
        "path": "/api/v1/wechat/pay/notify/",
        "method": "POST",
        "body_file": "bench/.work/pay_notify_precheck.xml",  # bench/seed_orders.py
        "content_type": "text/xml",
        "lua": "bench/pay_notify.lua",
        "check_script": "bench/pay_notify_check.py",
        "note": "WeChat Pay's payment notification, each request a different one: bench/seed_orders.py made "
        "unpaid orders (mall order_create) with prepaid WechatPayments and wrote their notifications, signed "
        "like WeChat's (the sandbox's builder: MD5 with the merchant key), one per line; bench/pay_notify.lua "
        "(wrk request hook) sends each line once, the wrk threads taking alternate lines, and counts repeats. "
        "Per request: XML parsed, signature, appid/mch_id and amount checked, then one transaction: payment "
        "row locked and moved to paid with its event, order locked and moved to paid with its event, the "
        "ledger transaction (platform cash in, sales revenue), product sold count, the PAID hook's subscribers "
        "(the orders carry no distributor attribution); SUCCESS XML. Every posting updates the same two "
        "platform accounts and the same product row, so the transactions queue on those rows",
    },
    {
        "name": "crowdfund contribution creation",
        "section": "crowdfunds",
        "path": "/api/v1/crowdfunds/900001/contributions/",  # bench/seed_crowdfunds.py BENCH_CROWDFUND_FIRST_ID
        "method": "POST",
        "auth": True,
        "token_file": "bench/.work/contribute_token.txt",  # the first friend's (bench/seed_crowdfunds.py)
        "expect": 201,
        "body": '{"amount_fen": 100}',
        "lua": "bench/contribute.lua",
        "check_script": "bench/contribute_check.py",
        "note": "POST /api/v1/crowdfunds/{id}/contributions/ by 1,000 distinct friends (WeChat users, each their own "
        "Bearer token) over 50 open crowdfunds of 10,000 yuan (ids 900001-900050, room for 500,000 contributions of "
        "100 fen: no request meets a full crowdfund); bench/contribute.lua varies friend and crowdfund with every "
        "request and no friend chips in to one crowdfund twice. No message, no Idempotency-Key: every request is a "
        "new contribution (201). Bearer auth, user throttle, input validation, the crowdfund and the operator's "
        "settings read, the friend's earlier unpaid reservation looked for (none), then one transaction: the "
        "reservation (ONE conditional "
        "UPDATE: open, before the deadline, raised + reserved + 100 ≤ goal), the contribution row and its event; "
        "then the WeChat payment row and the JSAPI unified order, an HTTP call to the sandbox (its own gunicorn: it "
        "parses, checks the signature, stores the prepay and answers signed XML), the payment moved to prepaid, and "
        "the JSAPI pay parameters signed for the answer. Every friend's request updates one of 50 crowdfund rows, so "
        "transactions on the same crowdfund queue on its row lock",
    },
    {
        "name": "crowdfund payment notification (distinct, settles a contribution)",
        "section": "crowdfunds",
        "path": "/api/v1/wechat/pay/notify/",
        "method": "POST",
        "body_file": "bench/.work/cf_notify_precheck.xml",  # bench/seed_crowdfunds.py
        "content_type": "text/xml",
        "lua": "bench/pay_notify.lua",
        "env": {
            "BENCH_NOTIFY_BODIES": "bench/.work/cf_notify_bodies.txt",
            "BENCH_NOTIFY_OFFSET": "bench/.work/cf_notify.offset",
            "BENCH_NOTIFY_RUNS": "bench/.work/cf_notify_runs.jsonl",
        },
        "check_script": "bench/cf_notify_check.py",
        "note": "WeChat Pay's payment notification for a crowdfund contribution, each request a different one: "
        "bench/seed_crowdfunds.py started crowdfunds of 10 yuan (crowdfund_create), each fully reserved by ten "
        "pending contributions of 100 fen with prepaid WechatPayments, and wrote their notifications signed like "
        "WeChat's (the sandbox's builder), ten crowdfunds at a time taking turns, so that every tenth notification "
        "completes its crowdfund; bench/pay_notify.lua sends each line once. Per request: XML, signature, merchant "
        "and amount checked, then one transaction: payment row locked and moved to paid, the campaigns payment hook "
        "(crowdfund and contribution locked, reserved → raised, contribution → paid with its event, the escrow "
        "posting from the sharded outside account). The tenth also funds its crowdfund in the same transaction: "
        "funded, the initiator's order created and paid from the escrow (mall's paid path: the order's stock, "
        "events, the mall.payment posting, the PAID hook's subscribers), the funding posting, ordered. So the "
        "figure is contributions settled per second, one in ten with a paid order",
    },
    {
        "name": "red envelope grab, while shares last",
        "section": "envelopes",
        "path": "/api/v1/red-envelopes/900001/grab/",  # bench/seed_envelopes.py GRAB_ENVELOPE_ID
        "method": "POST",
        "auth": True,
        "token_file": "bench/.work/grab_token.txt",  # the pre-check's grabber (bench/seed_envelopes.py)
        "lua": "bench/grab.lua",
        "env": {
            "BENCH_GRAB_TOKENS": "bench/.work/grab_tokens.txt",
            "BENCH_GRAB_OFFSET": "bench/.work/grab.offset",
            "BENCH_GRAB_RUNS": "bench/.work/grab_runs.jsonl",
        },
        "check_script": "bench/envelope_grab_check.py",
        "note": "POST /api/v1/red-envelopes/{id}/grab/ on one opened envelope of 12,000 shares "
        "(bench/seed_envelopes.py: filled from its owner's wallet and opened through the services); "
        "bench/grab.lua sends every request with another user's Bearer token, so each is a user's first grab "
        "and gets a share (200). Answered ahead of Django's stack by api/grab_route.py: the Bearer token (never "
        "seen: one SELECT of the token and its user), one Redis round trip for the grab throttle's counter and "
        "the gate's read-only question, the gate's Lua script (next free position), ONE SQL statement in "
        "autocommit (the share's conditional UPDATE joined to the open envelope, and the follow INSERT) with "
        "its commit, the poster's marker (a Redis SET NX; the Celery publish at most once a second per "
        "envelope). Django's database health check adds a SELECT 1 per request. No ledger posting per grab: "
        "the checks post the grabbed money afterwards in batches",
    },
    {
        "name": "red envelope grab, once empty (409)",
        "section": "envelopes",
        "path": "/api/v1/red-envelopes/900002/grab/",  # bench/seed_envelopes.py EMPTY_ENVELOPE_ID
        "method": "POST",
        "auth": True,
        "token_file": "bench/.work/empty_token.txt",
        "expect": 409,
        "lua": "bench/grab.lua",
        "env": {
            "BENCH_GRAB_TOKENS": "bench/.work/empty_tokens.txt",
            "BENCH_GRAB_OFFSET": "bench/.work/empty.offset",
            "BENCH_GRAB_RUNS": "bench/.work/empty_runs.jsonl",
        },
        "check_script": "bench/envelope_empty_check.py",
        "warmup": 20,
        "note": "the flood after the last share: an envelope of 2,000 shares every one of which was grabbed (and "
        "posted) in the seed; bench/grab.lua alternates its 2,000 winners (409 already_grabbed) and 2,000 "
        "users who never grabbed it (409 envelope_empty), each asking again every 4,000 requests. 409 is the "
        "expected answer and counted as success here. Answered by api/grab_route.py: the token from the "
        "worker's token cache (an entry up to AUTH_TOKEN_ANSWER_SECONDS old serves these read-only answers; "
        "the 20 s warm-up lets each worker verify the 4,000 tokens once, one SELECT each: the steady state of "
        "a flood of people asking again; measured by hand on a quiet machine, the first 5 s from cold tokens gave "
        "about half the steady rate), then ONE Redis round trip (the grab throttle's counter and the gate's read-only "
        "script) answers; no SQL",
    },
]
