"""The red-envelope rows of `make bench` (issue 12) at a tiny scale: what the seed writes is what
the server accepts (the grab row's users each get a share; the empty envelope answers its
winners already_grabbed and newcomers envelope_empty), the in-process grabs and the profile
run, and the checks that guard the figures can fail. No timing is asserted; `make bench` is
what measures.
"""
from __future__ import annotations

import json

import pytest

from bench import envelopes_bench, report
from bench.endpoints import ENDPOINTS
from bench.envelope_checks import empty_check, envelope_books, grab_check
from bench.seed_envelopes import (
    EMPTY_ENVELOPE_ID,
    EMPTY_OFFSET_FILE,
    EMPTY_RUNS_FILE,
    EMPTY_TOKEN_FILE,
    EMPTY_TOKENS_FILE,
    ENVELOPE_SEED_FILE,
    GRAB_ENVELOPE_ID,
    GRAB_OFFSET_FILE,
    GRAB_RUNS_FILE,
    GRAB_TOKEN_FILE,
    GRAB_TOKENS_FILE,
    ME_TOKEN_FILE,
    grab_path,
    seed_envelope_rows,
)
from campaigns.models import EnvelopeShare, EnvelopeStatus, RedEnvelope
from campaigns.services import envelope_gate
from ledger.models import Account, AccountKind

GRAB_ROW = "red envelope grab, while shares last"
EMPTY_ROW = "red envelope grab, once empty (409)"


def _row(name: str) -> dict:
    return next(e for e in ENDPOINTS if e["name"] == name)


def _relative(path) -> str:
    return str(path.relative_to(path.parents[2]))  # bench/.work/<name>, as the rows name their files


def _run(**counts) -> dict:
    return {"start": 0, "next": 0, "responses": 0, "wraps": 0, "ok": 0, "already_grabbed": 0, "envelope_empty": 0,
            "other_409": 0, "other": 0, **counts}


def test_the_envelope_rows_name_the_files_their_seed_writes():
    grab, empty = _row(GRAB_ROW), _row(EMPTY_ROW)
    assert grab["section"] == empty["section"] == envelopes_bench.SECTION
    assert grab["path"] == grab_path(GRAB_ENVELOPE_ID) and empty["path"] == grab_path(EMPTY_ENVELOPE_ID)
    assert grab.get("expect", 200) == 200 and empty["expect"] == 409
    assert grab["token_file"] == _relative(GRAB_TOKEN_FILE) and empty["token_file"] == _relative(EMPTY_TOKEN_FILE)
    assert grab["env"] == {"BENCH_GRAB_TOKENS": _relative(GRAB_TOKENS_FILE),
                           "BENCH_GRAB_OFFSET": _relative(GRAB_OFFSET_FILE),
                           "BENCH_GRAB_RUNS": _relative(GRAB_RUNS_FILE)}
    assert empty["env"] == {"BENCH_GRAB_TOKENS": _relative(EMPTY_TOKENS_FILE),
                            "BENCH_GRAB_OFFSET": _relative(EMPTY_OFFSET_FILE),
                            "BENCH_GRAB_RUNS": _relative(EMPTY_RUNS_FILE)}
    assert grab["lua"] == empty["lua"] == "bench/grab.lua"
    assert envelopes_bench.ME_ROW["token_file"] == _relative(ME_TOKEN_FILE)
    assert set(envelopes_bench.AIMS) == {GRAB_ROW, EMPTY_ROW}


def _grab(client, token: str, envelope_id: int):
    return client.post(grab_path(envelope_id), HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db(transaction=True)
def test_the_seeded_rows_grab_over_http_and_the_checks_count_right(client, tmp_path):
    seed = seed_envelope_rows(tmp_path, grab_shares=6, empty_shares=3, empty_new=2, threads=1)
    assert json.loads((tmp_path / ENVELOPE_SEED_FILE.name).read_text()) == seed
    grab, empty = seed["grab"], seed["empty"]
    assert (grab["envelope_id"], empty["envelope_id"]) == (GRAB_ENVELOPE_ID, EMPTY_ENVELOPE_ID)
    assert RedEnvelope.objects.get(pk=GRAB_ENVELOPE_ID).status == EnvelopeStatus.ACTIVE
    assert RedEnvelope.objects.get(pk=EMPTY_ENVELOPE_ID).status == EnvelopeStatus.EMPTY
    assert not EnvelopeShare.objects.filter(envelope_id=EMPTY_ENVELOPE_ID, posting__isnull=True).exists()
    tokens = (tmp_path / GRAB_TOKENS_FILE.name).read_text().splitlines()
    precheck = (tmp_path / GRAB_TOKEN_FILE.name).read_text().split()[0]
    assert len(set(tokens)) == 6 and precheck not in tokens
    assert (tmp_path / GRAB_OFFSET_FILE.name).read_text() == "0\n"

    first = _grab(client, precheck, GRAB_ENVELOPE_ID)  # run.py's pre-check: not one of wrk's
    assert first.status_code == 200, first.content
    for k in range(3):  # as grab.lua sends them: token k
        res = _grab(client, tokens[k], GRAB_ENVELOPE_ID)
        assert res.status_code == 200, res.content
        assert res.json()["rank"] >= 1
    ok = grab_check(seed=grab, runs=[_run(responses=1, ok=1), _run(responses=2, ok=2)], connections=1)
    assert not ok["check_failed"], ok["check"]
    assert ok["http_errors"] == 0 and ok["grabbed"] == 4
    assert "4 of the 6 shares were grabbed by as many distinct users" in ok["check"]
    amounts = dict(EnvelopeShare.objects.filter(envelope_id=GRAB_ENVELOPE_ID, user__isnull=False)
                   .values_list("user_id", "amount_fen"))
    wallets = dict(Account.objects.filter(kind=AccountKind.USER_WALLET, owner_id__in=amounts)
                   .values_list("owner_id", "balance_fen"))
    assert wallets == amounts  # posted by the check: every winner's wallet is their share

    assert grab_check(seed=grab, runs=[_run(responses=2, ok=2)], connections=0)["check_failed"]  # 2 unseen > 1
    lie = grab_check(seed=grab, runs=[_run(responses=5, ok=5)], connections=1)  # more 200s than shares grabbed
    assert lie["check_failed"] and "answers 200 seen" in lie["check"]
    wrapped = grab_check(seed=grab, runs=[_run(responses=3, ok=3, wraps=1)], connections=1)
    assert wrapped["check_failed"] and "past the last token" in wrapped["check"]
    refused = grab_check(seed=grab, runs=[_run(responses=4, ok=3, other=1)], connections=1)
    assert refused["http_errors"] == 1  # the table counts what was not a 200

    # The empty envelope: winners hear already_grabbed, newcomers envelope_empty.
    mixed = (tmp_path / EMPTY_TOKENS_FILE.name).read_text().splitlines()
    assert len(mixed) == 5
    codes = [_grab(client, t, EMPTY_ENVELOPE_ID) for t in mixed]
    assert [(r.status_code, r.json()["code"]) for r in codes] == [
        (409, "already_grabbed"), (409, "envelope_empty"), (409, "already_grabbed"), (409, "envelope_empty"),
        (409, "already_grabbed")]
    newcomer = _grab(client, (tmp_path / EMPTY_TOKEN_FILE.name).read_text().split()[0], EMPTY_ENVELOPE_ID)
    assert (newcomer.status_code, newcomer.json()["code"]) == (409, "envelope_empty")
    fine = empty_check(seed=empty, runs=[_run(responses=5, already_grabbed=3, envelope_empty=2)])
    assert not fine["check_failed"], fine["check"]
    assert fine["http_errors"] == 0 and "3 × 409 already_grabbed" in fine["check"]
    odd = empty_check(seed=empty, runs=[_run(responses=5, already_grabbed=3, envelope_empty=1, ok=1)])
    assert odd["check_failed"] and odd["http_errors"] == 1 and "answers other than the two 409s" in odd["check"]

    # The books notice a share that does not add up to the pool.
    share = EnvelopeShare.objects.filter(envelope_id=GRAB_ENVELOPE_ID, user__isnull=True).first()
    EnvelopeShare.objects.filter(pk=share.pk).update(amount_fen=share.amount_fen + 1)
    bad = envelope_books(GRAB_ENVELOPE_ID, post=False)
    assert any("≠ pool" in p for p in bad["problems"])
    EnvelopeShare.objects.filter(pk=share.pk).update(amount_fen=share.amount_fen)
    assert envelope_books(GRAB_ENVELOPE_ID)["problems"] == []


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("redis", [True, False])
def test_in_process_grabs_with_and_without_the_gate_leave_balanced_books(redis):
    result = envelopes_bench.inprocess(redis=redis, shares=24, threads=4)
    assert result["counts"] == {"grabbed": 24} and result["rate"] > 0
    assert result["books"]["problems"] == [] and result["books"]["grabbed"] == 24
    assert result["gate"] is (redis and envelope_gate.gate() is not None)
    assert envelope_gate.gate is not None and callable(envelope_gate.gate)  # the patch was undone
    key = "redis" if redis else "no_redis"
    if result["gate"] == redis:  # with Redis configured, the gated run is the one the row wants
        assert f"in-process grabs ({key})" not in envelopes_bench.failed({key: result})


@pytest.mark.django_db(transaction=True)
def test_the_profile_grabs_then_asks_again_and_sums_where_the_time_goes(tmp_path):
    result = envelopes_bench.profile_grabs(n=3, work=tmp_path)
    first, again = result["first"], result["again"]
    assert first["statuses"] == {"200": 3} and again["statuses"] == {"409": 3}
    parts = {p["key"]: p for p in first["parts"]}
    assert parts["request"]["calls"] == 1 and parts["request"]["share"] == 1
    assert parts["service"]["calls"] == 1 and parts["sql"]["calls"] >= 3
    gated = envelope_gate.gate() is not None
    assert parts["gate"]["calls"] == (1 if gated else 0) and parts["claim"]["calls"] == (1 if gated else 0)
    again_parts = {p["key"]: p for p in again["parts"]}
    assert again_parts["claim"]["calls"] == 0
    assert again_parts["service"]["calls"] == (0 if gated else 1)  # with Redis the peek answers
    assert again_parts["throttle"]["calls"] == 1
    assert "A first grab, largest first" in envelopes_bench.profile_summary(first, again)
    listing = (tmp_path / envelopes_bench.PROFILE_FILE.name).read_text()
    assert listing.startswith("== first grabs (200): 3 in-process") and "== again grabs (409)" in listing
    assert "the grab profile" not in envelopes_bench.failed({"profile": result})
    broken = {**result, "again": {**again, "statuses": {"500": 3}}}
    assert "the grab profile" in envelopes_bench.failed({"profile": broken})


def _wrk(rps: float, **extra) -> dict:
    return {"requests": int(rps * 10), "rps": rps, "p50_ms": 5.0, "p90_ms": 8.0, "p99_ms": 20.0, "http_errors": 0,
            "socket_errors": {}, **extra}


def _meta() -> dict:
    return {"date": "2026-12-04 10:00 UTC", "cores": 2, "load_start": "0.10 0.10 0.10", "load_end": "0.20 0.10 0.10",
            "server": "gunicorn 23, 2 gthread workers. Why gthread: because", "wrk_command": "wrk URL", "warmup": 2}


def test_the_section_says_whether_the_aims_were_met_and_splices_into_the_report():
    base = {"name": "bare", "path": "/livez", "baseline": True, **_wrk(1000.0, rps_again=1000.0)}
    grab = {**_row(GRAB_ROW), **_wrk(300.0), "check": "all there"}
    empty = {**_row(EMPTY_ROW), **_wrk(500.0)}
    other = {"name": "health", "path": "/api/v1/health/", **_wrk(200.0)}
    rows = [base, other, grab, empty]
    report.add_ratios(rows)
    me_rows = []
    for cache, rps in (("off", 100.0), ("on", 250.0)):
        pair = [{"name": f"bare {cache}", "path": "/livez", "baseline": True, "cache": cache, **_wrk(1000.0)},
                {"name": f"me {cache}", "path": "/api/v1/me/", "auth": True, "cache": cache, **_wrk(rps)}]
        report.add_ratios(pair)
        me_rows += pair
    inproc = {"redis": True, "shares": 10, "threads": 2, "counts": {"grabbed": 10}, "seconds": 0.5, "rate": 20.0,
              "books": {"problems": []}, "gate": True}
    results = {"redis": inproc, "no_redis": {"error": "boom"}, "profile": {}}
    text = envelopes_bench.section(meta=_meta(), http_rows=rows, results=results, me_rows=me_rows, alone=True)
    assert text.startswith(envelopes_bench.SECTION_START) and text.rstrip().endswith(envelopes_bench.SECTION_END)
    assert "| health |" not in text and "| 0.30 |" in text and "| 0.50 |" in text
    assert f"*{GRAB_ROW}*: 0.30 of the bare endpoint, aim ≥ 0.25: **met**." in text
    assert f"*{EMPTY_ROW}*: 0.50 of the bare endpoint, aim ≥ 0.6: **not met**." in text
    assert "| Redis Lua gate | 2 | 10 | 20 | grabbed 10 (0.5 s) | balanced, every wallet its share |" in text
    assert "**did not run:** boom" in text and "**The profile did not run:**" in text
    assert "| me off |" in text and "| me on |" in text and text.count("| endpoint | request |") == 2
    assert "2.50× the ratio without it (0.10 → 0.25" in text
    assert envelopes_bench.failed(results) == ["in-process grabs (no_redis)", "the grab profile"]
    assert envelopes_bench.failed({**results, "redis": {**inproc, "gate": False}})[0] == "in-process grabs (redis)"
    assert "Not measured in this run" in envelopes_bench.section(meta=_meta(), http_rows=rows, results=results,
                                                                 me_rows=[], alone=False)

    document = "# Benchmarks\n\nmain\n\n<!-- bench:crowdfunds -->\nc\n<!-- /bench:crowdfunds -->\n"
    once = envelopes_bench.splice(document, text)
    assert once.startswith(document.rstrip("\n")) and once.count(envelopes_bench.SECTION_START) == 1
    again = envelopes_bench.splice(once + "\ntail\n", text.replace("0.30 of", "0.31 of"))
    assert "0.31 of" in again and "0.30 of" not in again and again.endswith("\ntail\n")
    assert "<!-- bench:crowdfunds -->\nc\n<!-- /bench:crowdfunds -->" in again


def test_the_aims_are_judged_against_the_bare_app_and_shown_against_livez_too():
    rows = [{"name": "red envelope grab, while shares last", "rps": 300.0, "ratio": 0.1},
            {"name": "red envelope grab, once empty (409)", "rps": 1800.0, "ratio": 0.6},
            {"name": "livez (our stack)", "path": "/livez", "rps": 1000.0}]
    lines = envelopes_bench.aims_lines(rows)
    assert "0.10 of the bare endpoint, aim ≥ 0.25: **not met**." in lines[0] and "it is 0.30 — at or above" in lines[0]
    assert "0.60 of the bare endpoint, aim ≥ 0.6: **met**." in lines[1] and "it is 1.80" in lines[1]
    assert "livez" not in envelopes_bench.aims_lines(rows[:2])[0]
