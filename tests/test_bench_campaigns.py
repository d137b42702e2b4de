"""The crowdfund rows of `make bench` (issue 11) at a tiny scale: what the seeds write is what the
server accepts (the contribution row's friends and crowdfunds answer 201 through the WeChat
sandbox; every seeded notification settles its contribution once and the tenth funds its
crowdfund), the race leaves consistent books, and the checks that guard the figures can fail.
No timing is asserted; `make bench` itself is what measures.
"""
from __future__ import annotations

import json

import pytest
import requests

from bench import crowdfund_race, crowdfunds_bench, report
from bench.cf_notify_check import cf_notify_check
from bench.contribute_check import contribute_check
from bench.endpoints import ENDPOINTS
from bench.seed_crowdfunds import (
    BENCH_CROWDFUND_FIRST_ID,
    CF_NOTIFY_BODIES_FILE,
    CF_NOTIFY_OFFSET_FILE,
    CF_NOTIFY_PRECHECK_FILE,
    CF_NOTIFY_RUNS_FILE,
    CF_NOTIFY_SEED_FILE,
    CONTRIBUTE_AMOUNT_FEN,
    CONTRIBUTE_OFFSET_FILE,
    CONTRIBUTE_PATHS_FILE,
    CONTRIBUTE_SEED_FILE,
    CONTRIBUTE_TOKEN_FILE,
    CONTRIBUTE_TOKENS_FILE,
    contribute_pair,
    contribution_path,
    seed_contribution_notifications,
    seed_contribution_row,
)
from campaigns.models import Contribution, ContributionStatus, Crowdfund, CrowdfundStatus
from ledger.models import LedgerTransaction
from mall.models import Order, OrderStatus
from wechat.models import PaymentStatus, WechatPayment
from wechat.pay import parse_xml

NOTIFY_URL = "/api/v1/wechat/pay/notify/"
K = ContributionStatus


def _row(name: str) -> dict:
    return next(e for e in ENDPOINTS if e["name"] == name)


def _notify_run(**counts) -> dict:
    return {"start": 0, "next": 0, "sent": 0, "fresh": 0, "repeats": 0, "responses": 0, "errors_status": 0, **counts}


def _relative(path) -> str:
    return str(path.relative_to(path.parents[2]))  # bench/.work/<name>, as the rows name their files


def test_the_crowdfund_rows_name_the_files_their_seed_writes():
    contribute = _row("crowdfund contribution creation")
    assert contribute["section"] == crowdfunds_bench.SECTION and contribute["expect"] == 201
    assert contribute["path"] == contribution_path(BENCH_CROWDFUND_FIRST_ID)
    assert json.loads(contribute["body"]) == {"amount_fen": CONTRIBUTE_AMOUNT_FEN}
    assert contribute["token_file"] == _relative(CONTRIBUTE_TOKEN_FILE)
    notify = _row("crowdfund payment notification (distinct, settles a contribution)")
    assert notify["body_file"] == _relative(CF_NOTIFY_PRECHECK_FILE)
    assert notify["env"] == {"BENCH_NOTIFY_BODIES": _relative(CF_NOTIFY_BODIES_FILE),
                             "BENCH_NOTIFY_OFFSET": _relative(CF_NOTIFY_OFFSET_FILE),
                             "BENCH_NOTIFY_RUNS": _relative(CF_NOTIFY_RUNS_FILE)}


def test_contribute_pairs_never_repeat_a_friend_on_a_crowdfund_and_spread_consecutive_requests():
    friends, crowdfunds = 12, 4
    pairs = [contribute_pair(k, friends=friends, crowdfunds=crowdfunds) for k in range(friends * crowdfunds)]
    assert len(set(pairs)) == friends * crowdfunds  # every (friend, crowdfund) once
    assert all(a[0] != b[0] and a[1] != b[1] for a, b in zip(pairs, pairs[1:], strict=False))
    assert contribute_pair(friends * crowdfunds, friends=friends, crowdfunds=crowdfunds) == pairs[0]  # then again
    with pytest.raises(ValueError):
        seed_contribution_row(crowdfunds=4, friends=10)


@pytest.mark.django_db(transaction=True)
def test_contribution_row_friends_chip_in_and_the_check_counts_right(wechat_sandbox, tmp_path):
    seed = seed_contribution_row(crowdfunds=3, friends=6, work=tmp_path)
    ids = seed["crowdfund_ids"]
    assert ids == [BENCH_CROWDFUND_FIRST_ID + i for i in range(3)]
    assert seed["room"] == 3 * seed["goal_fen"] // CONTRIBUTE_AMOUNT_FEN
    assert json.loads((tmp_path / CONTRIBUTE_SEED_FILE.name).read_text()) == seed
    tokens = (tmp_path / CONTRIBUTE_TOKENS_FILE.name).read_text().splitlines()
    paths = (tmp_path / CONTRIBUTE_PATHS_FILE.name).read_text().splitlines()
    precheck_token = (tmp_path / CONTRIBUTE_TOKEN_FILE.name).read_text().split()[0]
    assert len(set(tokens)) == 6 and precheck_token not in tokens  # the pre-check's friend is none of them
    assert paths == [contribution_path(pk) for pk in ids]
    assert (tmp_path / CONTRIBUTE_OFFSET_FILE.name).read_text() == "0\n"

    row = _row("crowdfund contribution creation")

    def post(token: str, path: str) -> requests.Response:
        return requests.post(wechat_sandbox.url + path, data=row["body"], timeout=30,
                             headers={"Authorization": f"Bearer {token}", "Content-Type": "application/json"})

    precheck = post(precheck_token, row["path"])  # run.py's pre-check: not one of wrk's 201s
    assert precheck.status_code == 201, precheck.text
    nos = []
    for k in range(8):  # as contribute.lua sends them
        friend, crowdfund = contribute_pair(k, friends=6, crowdfunds=3)
        res = post(tokens[friend], paths[crowdfund])
        assert res.status_code == 201, res.text
        nos.append(res.json()["no"])
    assert Contribution.objects.filter(status=K.PENDING_PAYMENT).count() == 9
    assert WechatPayment.objects.filter(status=PaymentStatus.PREPAID).exclude(prepay_id="").count() == 9
    # k = 0..7 go to crowdfunds 0 1 2 0 1 2 1 2; the pre-check to the first
    assert dict(Crowdfund.objects.values_list("pk", "reserved_fen")) == {ids[0]: 300, ids[1]: 300, ids[2]: 300}

    runs = [{"responses": 3, "answered": 3, "created": 3, "other": 0, "wraps": 0, "errors_status": 0},
            {"responses": 4, "answered": 4, "created": 4, "other": 0, "wraps": 0, "errors_status": 0}]
    ok = contribute_check(seed=seed, runs=runs, nos=nos[:7], connections=1)  # the 8th: cut off at the end
    assert not ok["check_failed"], ok["check"]
    assert "9 contributions were made by 6 friends on 3 of the 3 seeded crowdfunds" in ok["check"]
    assert contribute_check(seed=seed, runs=runs[:1], nos=nos[:3], connections=1)["check_failed"]  # 6 unseen > 2
    lost = contribute_check(seed=seed, runs=runs[:1] + [{**runs[1], "created": 5}],
                            nos=nos[:7] + ["CF000000000000000000"], connections=1)
    assert lost["check_failed"] and "answered 201 are missing" in lost["check"]
    wrapped = contribute_check(seed=seed, runs=[runs[0], {**runs[1], "wraps": 1}], nos=nos[:7], connections=1)
    assert wrapped["check_failed"] and "chipped in twice" in wrapped["check"]
    Crowdfund.objects.filter(pk=ids[0]).update(reserved_fen=400)  # more than is pending
    over = contribute_check(seed=seed, runs=runs, nos=nos[:7], connections=1)
    assert over["check_failed"] and "disagree with their contributions" in over["check"]
    Crowdfund.objects.filter(pk=ids[0]).update(reserved_fen=300)

    # A friend chipping in again to the same crowdfund releases the unpaid one: the check fails.
    friend, crowdfund = contribute_pair(0, friends=6, crowdfunds=3)
    again = post(tokens[friend], paths[crowdfund])
    assert again.status_code == 201, again.text
    twice = contribute_check(seed=seed, runs=[runs[0], {**runs[1], "created": 5}], nos=nos + [again.json()["no"]],
                             connections=1)
    assert twice["check_failed"] and "are not pending_payment" in twice["check"]


@pytest.mark.django_db
def test_notification_row_settles_each_contribution_once_and_every_tenth_funds(api_client, tmp_path):
    info = seed_contribution_notifications(count=15, block_crowdfunds=2, work=tmp_path)  # one block of 2 × 10
    assert (info["bodies"], info["contributions"], info["crowdfunds"], info["goal_fen"]) == (20, 21, 3, 1000)
    assert (tmp_path / CF_NOTIFY_OFFSET_FILE.name).read_text() == "0\n"
    precheck = (tmp_path / CF_NOTIFY_PRECHECK_FILE.name).read_text()
    bodies = (tmp_path / CF_NOTIFY_BODIES_FILE.name).read_text().splitlines()
    fields = [parse_xml(b) for b in [precheck, *bodies]]
    assert len({f["out_trade_no"] for f in fields}) == len({f["transaction_id"] for f in fields}) == 21
    cfs = list(Crowdfund.objects.order_by("pk"))
    assert [cf.reserved_fen for cf in cfs] == [100, 1000, 1000] and not any(cf.raised_fen for cf in cfs)
    # the block's crowdfunds take turns: line i belongs to crowdfund i % 2
    owners = dict(Contribution.objects.values_list("no", "crowdfund_id"))
    assert [owners[f["out_trade_no"]] for f in fields[1:]] == [cfs[1 + i % 2].pk for i in range(20)]
    seed = json.loads((tmp_path / CF_NOTIFY_SEED_FILE.name).read_text())
    assert cf_notify_check(seed=seed, runs=[])["check_failed"]  # nothing paid yet: not even the pre-check

    for body in [precheck, *bodies[:17]]:
        res = api_client.post(NOTIFY_URL, data=body.encode(), content_type="text/xml")
        assert res.status_code == 200 and parse_xml(res.content)["return_code"] == "SUCCESS", res.content
    assert cf_notify_check(seed=seed, runs=[_notify_run(sent=17, fresh=17, responses=17)])["funded"] == 0
    for body in [*bodies[17:], bodies[0]]:  # the last one a repeat: answered, changes nothing
        assert api_client.post(NOTIFY_URL, data=body.encode(), content_type="text/xml").status_code == 200
    for cf in cfs:
        cf.refresh_from_db()
    assert [cf.status for cf in cfs] == [CrowdfundStatus.OPEN, CrowdfundStatus.ORDERED, CrowdfundStatus.ORDERED]
    assert [cf.raised_fen for cf in cfs] == [100, 1000, 1000] and not any(cf.reserved_fen for cf in cfs)
    assert Order.objects.filter(status=OrderStatus.PAID, paid_via="campaigns.crowdfund").count() == 2
    assert LedgerTransaction.objects.filter(kind="campaigns.contribution_paid").count() == 21
    assert LedgerTransaction.objects.filter(kind="campaigns.crowdfund_funded").count() == 2

    ok = cf_notify_check(seed=seed, runs=[_notify_run(sent=4, fresh=4, responses=4),
                                          _notify_run(sent=16, fresh=16, responses=16)])
    assert not ok["check_failed"], ok["check"]
    assert (ok["paid"], ok["funded"]) == (21, 2)
    assert "21 contributions became paid, each once" in ok["check"] and "2 crowdfunds were funded" in ok["check"]
    repeated = cf_notify_check(seed=seed, runs=[_notify_run(sent=21, fresh=20, repeats=1, responses=21)])
    assert repeated["check_failed"] and "were repeats" in repeated["check"]
    too_few = cf_notify_check(seed=seed, runs=[_notify_run(sent=10, fresh=10, responses=10)])
    assert too_few["check_failed"] and "outside 11-11" in too_few["check"]
    Crowdfund.objects.filter(pk=cfs[0].pk).update(raised_fen=200, contributors=2)  # more than was paid
    wrong = cf_notify_check(seed=seed, runs=[_notify_run(sent=20, fresh=20, responses=20)])
    assert wrong["check_failed"] and "crowdfunds disagree" in wrong["check"]
    Crowdfund.objects.filter(pk=cfs[0].pk).update(raised_fen=100, contributors=5)  # the count only
    miscounted = cf_notify_check(seed=seed, runs=[_notify_run(sent=20, fresh=20, responses=20)])
    assert miscounted["check_failed"] and "raised 100 fen by 5" in miscounted["check"]
    Crowdfund.objects.filter(pk=cfs[0].pk).update(raised_fen=100, contributors=1)


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_the_race_fills_the_crowdfund_exactly_and_the_check_notices_a_lie(wechat_sandbox):
    seed = crowdfund_race.race_seed(friends=16, missing_fen=1000, goal_fen=3000, tag="t")
    assert (len(seed["early"]), len(seed["friends"])) == (2, 16)
    run = crowdfund_race.race_run(app=wechat_sandbox.url, seed=seed)
    assert len(run["early_nos"]) == 2 and run["wall_seconds"] > 0
    result = crowdfund_race.race_check(seed=seed, run=run)
    assert not result["check_failed"], result["check"]
    cf = Crowdfund.objects.get(pk=seed["crowdfund_id"])
    assert (cf.raised_fen, cf.reserved_fen, cf.status) == (3000, 0, CrowdfundStatus.ORDERED)
    assert result["race_fen"] == 1000 and 2 <= result["reserved"] <= 10
    assert result["reserved"] + sum(result["refused"].values()) == 16
    assert set(result["refused"]) <= crowdfund_race.REFUSALS

    # A friend told 201 whose contribution the database does not have: the check says so.
    fake = {"status": 201, "no": "CF000000000000000000", "notify": "SUCCESS", "reserve_s": 0.1, "done_s": 0.1}
    lie = crowdfund_race.race_check(seed=seed, run={**run, "outcomes": [*run["outcomes"], fake]})
    assert lie["check_failed"] and "reservations answered 201" in lie["check"]


@pytest.mark.django_db(transaction=True)
def test_the_profile_posts_contributions_and_sums_where_the_time_goes(wechat_sandbox, tmp_path):
    result = crowdfunds_bench.profile_contributions(n=3, work=tmp_path)
    assert result["statuses"] == {"201": 3}
    parts = {p["key"]: p for p in result["parts"]}
    whole = parts["request"]
    assert whole["calls"] == 1 and whole["share"] == 1
    assert parts["unified"]["calls"] == 1 and 0 < parts["unified"]["ms"] < parts["payment"]["ms"] < whole["ms"]
    assert parts["reserve"]["calls"] == 1  # one reservation per request
    assert parts["sql"]["calls"] >= 5  # SQL statements
    assert crowdfunds_bench.profile_summary(parts).startswith("per request, largest first: ")
    assert (tmp_path / crowdfunds_bench.PROFILE_FILE.name).read_text().startswith("3 contributions in-process")
    assert crowdfunds_bench.failed({"race": {"wall_seconds": 1.0, "check_failed": False}, "profile": result}) == []


def test_profile_parts_are_per_request_and_found_by_file_and_function():
    stats = {  # (file, line, function): (primitive calls, calls, own s, cumulative s, callers)
        ("/x/django/core/handlers/base.py", 1, "get_response"): (4, 4, 0.01, 0.4, {}),
        ("/x/wechat/services.py", 2, "payment_create"): (4, 4, 0.01, 0.2, {}),
        ("/x/other/services.py", 3, "payment_create"): (4, 4, 0.01, 9.0, {}),  # another file: not counted
    }
    parts = {p["key"]: p for p in crowdfunds_bench.profile_parts(stats, requests=4)}
    payment = parts["payment"]
    assert (payment["calls"], round(payment["ms"], 6), payment["share"]) == (1, 50, 0.5)
    assert parts["sql"]["calls"] == 0
    assert "new TCP connection" not in crowdfunds_bench.profile_summary(parts)
    parts["connect"] = {"calls": 1.0}
    assert "opens 1.0 new TCP connection(s)" in crowdfunds_bench.profile_summary(parts)
    # largest first, whatever the order of the parts
    measured = {"request": {"ms": 100.0}, "sql": {"ms": 10.0, "calls": 3}, "commit": {"ms": 5.0, "calls": 1},
                "unified": {"ms": 40.0}}
    text = crowdfunds_bench.profile_summary(measured)
    assert text.index("the unified order's HTTP call") < text.index("PostgreSQL 15.0 ms (15 %: 3 statements and 1 "
                                                                    "commits, 0.0 ms of it waiting for the server")
    assert "the unified order's HTTP call to the sandbox 40.0 ms (40 %: with its XML" in text
    assert "Bearer authentication 0.0 ms (0 %)" in text
    measured["sql"]["ms"] = 50.0
    text = crowdfunds_bench.profile_summary(measured)
    assert text.index("PostgreSQL") < text.index("the unified order's HTTP call")
    top = crowdfunds_bench.profile_top(stats, requests=4, n=1)
    assert top == [{"function": "base.py:1 get_response", "calls": 1, "own_ms": 2.5}]


def _wrk(rps: float, **extra) -> dict:
    return {"requests": int(rps * 10), "rps": rps, "p50_ms": 5.0, "p90_ms": 8.0, "p99_ms": 20.0, "http_errors": 0,
            "socket_errors": {}, **extra}


def _meta() -> dict:
    return {"date": "2026-12-04 10:00 UTC", "cores": 2, "load_start": "0.10 0.10 0.10", "load_end": "0.20 0.10 0.10",
            "server": "gunicorn 23, 2 gthread workers. Why gthread: because", "sandbox_server": "1 × 8",
            "wrk_command": "wrk URL", "warmup": 2}


def test_the_section_shows_its_rows_against_the_baseline_and_splices_into_the_report():
    base = {"name": "bare", "path": "/livez", "baseline": True, **_wrk(1000.0, rps_again=1000.0)}
    contribute = {**_row("crowdfund contribution creation"), **_wrk(50.0), "check": "all reserved"}
    other = {"name": "me", "path": "/api/v1/me/", **_wrk(200.0)}
    rows = [base, other, contribute]
    report.add_ratios(rows)
    race = {"friends": 200, "missing_fen": 1000, "goal_fen": 10000, "wall_seconds": 2.5, "reserved": 4,
            "requests": 230, "race_fen": 1000, "refused": {"crowdfund_full": 196}, "raised_fen": 10000,
            "status": "ordered", "audit_ok": True, "reserve_p50_s": 1.0, "reserve_max_s": 2.0, "check": "fine",
            "check_failed": False}
    text = crowdfunds_bench.section(meta=_meta(), http_rows=rows, results={"race": race, "profile": {}}, alone=True)
    assert text.startswith(crowdfunds_bench.SECTION_START) and text.rstrip().endswith(crowdfunds_bench.SECTION_END)
    assert "| crowdfund contribution creation | `POST /api/v1/crowdfunds/900001/contributions/` (Bearer) | 50 |" \
        in text and "| 0.05 |" in text
    assert "| me |" not in text  # only the baseline and this section's rows
    assert ("| 200 | 1,000 fen | 2.50 | 230 | 4 (1,000 fen) | 10,000 / 10,000 | ordered | crowdfund_full 196 "
            "| balanced |") in text
    assert "measured on their own" in text and "checked after the run: all reserved" in text
    assert "**The profile did not run:**" in text
    assert crowdfunds_bench.failed({"race": race, "profile": {}}) == ["the contribution profile"]
    assert crowdfunds_bench.failed({"race": {**race, "check_failed": True}, "profile": {"error": "x"}}) == [
        "the 200-friends race", "the contribution profile"]

    document = "# Benchmarks\n\nmain\n\n<!-- bench:commissions -->\nc\n<!-- /bench:commissions -->\n"
    once = crowdfunds_bench.splice(document, text)
    assert once.startswith(document.rstrip("\n")) and once.count(crowdfunds_bench.SECTION_START) == 1
    again = crowdfunds_bench.splice(once + "\ntail\n", text.replace("2.50", "3.75"))
    assert "3.75" in again and "| 2.50 |" not in again and again.endswith("\ntail\n")
    assert again.count(crowdfunds_bench.SECTION_START) == 1 and "<!-- bench:commissions -->\nc\n" in again

    main = report.render({**_meta(), "cpu_model": "cpu", "memory": "1 GiB", "os": "Debian", "python": "3.11",
                          "django": "5", "drf": "3", "gunicorn": "23", "psycopg": "3", "postgres": "15",
                          "redis": "7", "wrk": "wrk", "connections": 16, "ledger_seconds": 10, "audit": "balanced",
                          "load_note": "quiet"}, rows, [])
    assert "| me |" in main and "crowdfund contribution creation |" not in main
    assert "shown with this baseline in their own section below: the crowdfunds rows" in main
