"""Issue 11's rows of `make bench`: crowdfunds (好友众筹).

1. *Contribution creation* (HTTP row of bench/endpoints.py, section "crowdfunds"): POST
   /api/v1/crowdfunds/{id}/contributions/ by 1,000 distinct friends (Bearer tokens) over 50
   crowdfunds with room for 500,000 contributions (bench/seed_crowdfunds.py,
   bench/contribute.lua); each request reserves 100 fen (one conditional UPDATE) and creates
   the WeChat unified order through the sandbox over HTTP. Checked by bench/contribute_check.py.
2. *Contributions settled by payment notifications* (HTTP row): signed notifications of
   distinct pending contributions, one in ten funding its crowdfund (its order created and
   paid); bench/pay_notify.lua with this row's files. Checked by bench/cf_notify_check.py.
3. *The 200-friends race* for the last 10 yuan of one crowdfund (bench/crowdfund_race.py),
   over HTTP against the same gunicorn, after the HTTP rows.
4. *What the profile shows*: `profile_contributions` posts contributions in-process through
   Django's test client (the whole middleware / DRF / service path, the sandbox over HTTP)
   under cProfile and sums where a request's time goes (`python bench/crowdfunds_bench.py
   profile`; the full listing goes to bench/.work/contribution_profile.txt).

The sandbox runs in its own gunicorn (bench/run.py starts it: the app server calls it for every
unified order; one server calling itself could run out of threads). bench/run.py calls
`during()` while both servers are up, and writes `section()` between markers after the other
sections; `BENCH_ONLY=crowdfunds make bench` (or `python bench/run.py --only crowdfunds`)
re-creates the bench database, measures the bare baseline and these rows in one run, and
replaces only this section.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

SECTION = "crowdfunds"
SECTION_START = "<!-- bench:crowdfunds -->"
SECTION_END = "<!-- /bench:crowdfunds -->"
PROFILE_REQUESTS = 200
WORK = Path(__file__).resolve().parent / ".work"
PROFILE_FILE = WORK / "contribution_profile.txt"

# Where a contribution request's time goes: key -> (label, file suffix, function name). Nested:
# the request contains everything; the service contains the reservation and the payment.
PROFILE_PARTS = {
    "request": ("the whole request in Django (middleware, DRF, view)", "django/core/handlers/base.py",
                "get_response"),
    "auth": ("Bearer authentication (token lookup)", "rest_framework/request.py", "_authenticate"),
    "throttle": ("throttles (Redis)", "rest_framework/views.py", "check_throttles"),
    "service": ("`contribution_create` (the service)", "campaigns/services/crowdfunds.py", "contribution_create"),
    "reserve": ("the reservation's conditional UPDATE (`_reserve`)", "campaigns/services/crowdfunds.py", "_reserve"),
    "payment": ("WeChat payment (`wechat.services.payment_create`: row, event, unified order, status)",
                "wechat/services.py", "payment_create"),
    "unified": ("of which the unified order's HTTP call to the sandbox and its XML (`pay_unified_order_jsapi`)",
                "wechat/pay.py", "pay_unified_order_jsapi"),
    "connect": ("new TCP connections (`socket.connect`)", "~", "<method 'connect' of '_socket.socket' objects>"),
    "sql": ("SQL statements (`CursorWrapper._execute`)", "django/db/backends/utils.py", "_execute"),
    "commit": ("commits", "django/db/backends/base/base.py", "commit"),
    "pg_wait": ("waiting for PostgreSQL (psycopg's `wait`, inside the two above)", "psycopg/connection.py", "wait"),
    "render": ("rendering the JSON answer", "rest_framework/response.py", "rendered_content"),
}


def _log(message: str) -> None:
    print(f"bench crowdfunds: {message}", file=sys.stderr, flush=True)


# --- the profile -------------------------------------------------------------------------------


def _stat(stats: dict, suffix: str, name: str) -> tuple[int, float]:
    """(calls, cumulative seconds) of the function `name` in a file ending with `suffix`; recursive
    calls are counted once (pstats' primitive calls)."""
    calls, seconds = 0, 0.0
    for (filename, _line, func), (primitive, _total, _own, cumulative, _callers) in stats.items():
        if func == name and filename.replace("\\", "/").endswith(suffix):
            calls += primitive
            seconds += cumulative
    return calls, seconds


def profile_parts(stats: dict, *, requests: int, parts: dict | None = None) -> list[dict]:
    """`parts` (default PROFILE_PARTS; its "request" is the whole) per request from pstats' raw
    `stats` of `requests` requests."""
    parts = PROFILE_PARTS if parts is None else parts
    rows = []
    whole = _stat(stats, *parts["request"][1:])[1]
    for key, (label, suffix, name) in parts.items():
        calls, seconds = _stat(stats, suffix, name)
        rows.append({"key": key, "part": label, "calls": calls / requests, "ms": 1000 * seconds / requests,
                     "share": seconds / whole if whole else 0.0})
    return rows


def profile_top(stats: dict, *, requests: int, n: int = 8) -> list[dict]:
    """The `n` functions with the most own time (time not spent in functions they call), per request."""
    rows = sorted(stats.items(), key=lambda kv: kv[1][2], reverse=True)[:n]
    return [{"function": f"{Path(filename).name}:{line} {func}" if line else func, "calls": v[1] / requests,
             "own_ms": 1000 * v[2] / requests} for (filename, line, func), v in rows]


def profile_contributions(*, n: int = PROFILE_REQUESTS, work: Path = WORK) -> dict:
    """`n` contributions posted in-process (django.test.Client, one after the other) by `n`
    distinct friends to one crowdfund with room, under cProfile (after 10 unprofiled ones)."""
    import cProfile
    import io
    import pstats
    import secrets

    from django.test import Client

    from accounts.services import token_issue
    from bench.seed_crowdfunds import BIG_SKU_ID, _start, contribution_path, crowdfund_skus, users

    tag = secrets.token_hex(3)
    crowdfund_skus()
    cf = _start(initiator=users(f"bench-prof-{tag}-initiator", 1)[0], sku_id=BIG_SKU_ID)
    tokens = [token_issue(user=u, user_agent="bench") for u in users(f"bench-prof-{tag}-friend", n + 10)]
    client = Client(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    body = json.dumps({"amount_fen": 100})
    statuses: Counter = Counter()

    def post(token: str) -> None:
        res = client.post(contribution_path(cf.pk), body, content_type="application/json",
                          HTTP_AUTHORIZATION=f"Bearer {token}")
        statuses[res.status_code] += 1

    for token in tokens[n:]:
        post(token)  # warm-up: imports, connections, caches
    statuses.clear()
    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for token in tokens[:n]:
        post(token)
    profiler.disable()
    seconds = time.perf_counter() - started
    stats = pstats.Stats(profiler)
    work.mkdir(parents=True, exist_ok=True)
    listing = io.StringIO()
    printer = pstats.Stats(profiler, stream=listing)
    printer.sort_stats("cumulative").print_stats(45)
    printer.sort_stats("tottime").print_stats(30)
    (work / PROFILE_FILE.name).write_text(f"{n} contributions in-process, {seconds:.2f} s under cProfile\n"
                                          + listing.getvalue())
    return {"requests": n, "statuses": {str(k): v for k, v in statuses.items()}, "seconds": seconds,
            "ms_per_request": 1000 * seconds / n, "parts": profile_parts(stats.stats, requests=n),
            "top": profile_top(stats.stats, requests=n)}


# --- while the servers are up --------------------------------------------------------------------


def _worker(python: str, root: Path, env: dict, *args: str, timeout: float = 900) -> dict:
    done = subprocess.run([python, *args], cwd=root, env=env, capture_output=True, text=True, timeout=timeout)
    if done.returncode != 0:
        return {"error": f"{' '.join(args[:2])} exited with {done.returncode}: {done.stderr.strip()[-600:]}"}
    try:
        return json.loads(done.stdout.strip().splitlines()[-1])
    except (IndexError, ValueError):
        return {"error": f"{' '.join(args[:2])} printed no JSON: {done.stdout[-300:]} {done.stderr[-300:]}"}


def during(python: str, root: Path, env: dict, port: int) -> dict:
    """The race and the profile, run by bench/run.py while gunicorn and the sandbox are up."""
    _log("the 200-friends race")
    race = _worker(python, root, env, str(root / "bench" / "crowdfund_race.py"), "--app", f"http://127.0.0.1:{port}")
    if "wall_seconds" in race:
        _log(f"  {race['wall_seconds']:.2f} s, {race['reserved']} reservations, {race['status']}"
             + (" — check FAILED" if race.get("check_failed") else ""))
    else:
        _log(f"  FAILED: {race.get('error')}")
    _log(f"profiling {PROFILE_REQUESTS} contributions in-process")
    profile = _worker(python, root, env, str(root / "bench" / "crowdfunds_bench.py"), "profile")
    if "error" in profile:
        _log(f"  FAILED: {profile['error']}")
    return {"race": race, "profile": profile}


def failed(results: dict) -> list[str]:
    out = []
    race = results.get("race") or {}
    if "error" in race or race.get("check_failed") or not race:
        out.append("the 200-friends race")
    profile = results.get("profile") or {}
    if "error" in profile or not profile or set(profile.get("statuses", {})) != {"201"}:
        out.append("the contribution profile")
    return out


# --- the report -----------------------------------------------------------------------------------


def _race_lines(race: dict) -> list[str]:
    if "wall_seconds" not in race:
        return [f"**The race did not run:** {race.get('error', 'no result')}."]
    refused = ", ".join(f"{k} {v}" for k, v in sorted(race["refused"].items())) or "none"
    return [
        "| friends | missing | wall time s | HTTP requests | got a reservation | raised / goal fen | crowdfund "
        "| refused | ledger |",
        "| ---: | ---: | ---: | ---: | ---: | --- | --- | --- | --- |",
        f"| {race['friends']} | {race['missing_fen']:,} fen | {race['wall_seconds']:.2f} | {race['requests']:,} "
        f"| {race['reserved']} "
        f"({race['race_fen']:,} fen) | {race['raised_fen']:,} / {race['goal_fen']:,} | {race['status']} "
        f"| {refused} | {'balanced' if race['audit_ok'] else '**FAILED**'} |",
        "",
        f"One crowdfund of {race['goal_fen'] // 100:,} yuan, filled up to {race['missing_fen'] // 100:,} yuan short "
        "beforehand (not timed); then "
        f"{race['friends']} threads of `bench/crowdfund_race.py`, each a friend with their own Bearer token and HTTP "
        "connection, released together at a barrier: each POSTs its contribution (100–500 fen; told the amount is "
        "more than is missing, it tries again with what is missing, as the page would offer) and, on 201, the "
        "payment notification WeChat would send for it (signed by the sandbox's builder) to "
        "`/api/v1/wechat/pay/notify/`. *HTTP requests*: contribution attempts and notifications. Wall time from the "
        "barrier to the last answer; each friend's last contribution attempt was answered "
        f"within {race['reserve_max_s']:.2f} s (median {race['reserve_p50_s']:.2f} s). The server handles 8 "
        "requests at a time (2 workers × 4 threads), so the 200 queue there, and the conditional UPDATE on the one "
        f"crowdfund row decides who gets the room. Checked after: {race['check']}.",
    ]


def _profile_lines(profile: dict) -> list[str]:
    if "parts" not in profile:
        return [f"**The profile did not run:** {profile.get('error', 'no result')}."]
    parts = {p["key"]: p for p in profile["parts"]}
    lines = [
        f"`python bench/crowdfunds_bench.py profile`: {profile['requests']} contributions posted one after the "
        "other in-process through Django's test client (middleware, DRF, the service; the sandbox over HTTP, as in "
        f"the row) under cProfile: {profile['ms_per_request']:.1f} ms per request with the profiler's overhead, "
        "which inflates the Python-heavy parts. Nested: the request contains every other line, the service the "
        "reservation and the unified order.",
        "",
        "| part | calls per request | ms per request | share of the request |",
        "| --- | ---: | ---: | ---: |",
    ]
    lines += [f"| {p['part']} | {p['calls']:.1f} | {p['ms']:.1f} | {100 * p['share']:.0f} % |"
              for p in profile["parts"]]
    lines += ["", "Most own time (the function itself, not what it calls), per request: "
              + "; ".join(f"`{t['function']}` {t['own_ms']:.2f} ms" for t in profile["top"][:6]) + "."]
    lines += ["", "What it shows: " + profile_summary(parts) + " Full listing: `bench/.work/contribution_profile.txt`."]
    return lines


def profile_summary(parts: dict[str, dict]) -> str:
    """The profile's top costs in words, largest first, from `profile_parts` by key."""
    def get(key: str, field: str = "ms") -> float:
        return (parts.get(key) or {}).get(field, 0.0)

    whole = get("request") or 1.0
    costs = [  # disjoint parts of the request: (ms, what, detail)
        (get("sql") + get("commit"), "PostgreSQL",
         f"{get('sql', 'calls'):.0f} statements and {get('commit', 'calls'):.0f} commits, {get('pg_wait'):.1f} ms "
         "of it waiting for the server, which the machine's load stretches"),
        (get("unified"), "the unified order's HTTP call to the sandbox",
         "with its XML and signatures; the sandbox spends our CPU here, WeChat's would not"),
        (get("auth"), "Bearer authentication", ""),
        (get("throttle"), "throttles", ""),
        (get("render"), "the JSON answer", ""),
    ]
    costs.sort(key=lambda c: c[0], reverse=True)
    text = "; ".join(f"{what} {ms:.1f} ms ({100 * ms / whole:.0f} %{': ' + detail if detail else ''})"
                     for ms, what, detail in costs)
    text = f"per request, largest first: {text}. The reservation itself — the one conditional UPDATE that makes " \
           f"over-funding impossible — is only {get('reserve'):.1f} ms. `payment_create` as a whole " \
           f"({get('payment'):.1f} ms) also writes the payment row, its event and its move to prepaid."
    if get("connect", "calls") >= 0.5:
        text += (f" Each request opens {get('connect', 'calls'):.1f} new TCP connection(s): `wechat.pay` builds a "
                 "fresh client for every call, so no connection to WeChat Pay is reused (in production, a TLS "
                 "handshake per contribution).")
    return text


def section(*, meta: dict, http_rows: list[dict], results: dict, alone: bool) -> str:
    """The crowdfunds section of docs/benchmarks.md, between its markers."""
    from bench import report

    base = [r for r in http_rows if r.get("baseline")]
    rows = base + [r for r in http_rows if r.get("section") == SECTION]
    how = (
        "measured on their own (`BENCH_ONLY=crowdfunds make bench`, i.e. `python bench/run.py --only crowdfunds`): "
        "the bare baseline below was measured in the same run, against the same gunicorn, under the same load; the "
        "other sections' figures come from the full run written at the top of this file, under other load, so "
        "compare ratios, not requests/s"
        if alone else
        "measured in the full run above, against the same gunicorn; the bare baseline is the HTTP table's"
    )
    lines = [
        SECTION_START,
        "## Crowdfunds: chipping in, settling payments, the 200-friends race",
        "",
        f"`bench/crowdfunds_bench.py`, {how}. Measured {meta['date']} on {meta['cores']} core(s); load average "
        f"{meta['load_start']} at the start and {meta.get('load_end', '—')} at the end.",
        "",
        f"Server: as above ({meta['server'].split('. Why gthread')[0]}), and the WeChat sandbox in a gunicorn of its "
        f"own ({meta['sandbox_server']}) on the same machine: every contribution's unified order is an HTTP call from "
        "the app server to it, so the sandbox competes for the same cores (WeChat's real API is a network round "
        "trip away, on none of our CPU). No beat or worker runs: reservations do not expire during the run.",
        "",
        f"Load: `{meta['wrk_command']}` per row, after a {meta['warmup']} s warm-up run of the same command.",
        "",
        *report.noisy_note(meta),
        *report.http_table(rows),
        "",
        *(report.drift_note(rows) if alone else []),
    ]
    lines += [f"- *{r['name']}*: {r['note']}" for r in rows if r.get("note") and not r.get("baseline")]
    lines += [f"- *{r['name']}*, checked after the run: {r['check']}" for r in rows if r.get("check")]
    lines += ["", "### The 200-friends race for the last 10 yuan (PostgreSQL, over HTTP)", "",
              *_race_lines(results.get("race") or {}), "",
              "### What the profile shows: contribution creation", "",
              *_profile_lines(results.get("profile") or {}), SECTION_END]
    return "\n".join(lines) + "\n"


def splice(document: str, new_section: str, *, start_marker: str = SECTION_START,
           end_marker: str = SECTION_END) -> str:
    """`document` with its section between the markers (by default the crowdfunds') replaced by
    `new_section` (appended when absent)."""
    start, end = document.find(start_marker), document.find(end_marker)
    if start == -1 or end == -1:
        return document.rstrip("\n") + "\n\n" + new_section
    return document[:start] + new_section.rstrip("\n") + document[end + len(end_marker):]


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile")
    p.add_argument("--n", type=int, default=PROFILE_REQUESTS)
    args = parser.parse_args()
    root = str(Path(__file__).resolve().parent.parent)
    if root not in sys.path:
        sys.path.insert(0, root)
    from bench._django import setup

    setup()
    print(json.dumps(profile_contributions(n=args.n)), flush=True)


if __name__ == "__main__":
    main()
