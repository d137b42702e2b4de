"""Issue 12's rows of `make bench`: red envelopes (红包).

1. *Grabs while shares last* and *once empty* (HTTP rows of bench/endpoints.py, section
   "envelopes"): POST /api/v1/red-envelopes/{id}/grab/ by distinct users with their own Bearer
   tokens (bench/seed_envelopes.py, bench/grab.lua); checked by bench/envelope_grab_check.py and
   bench/envelope_empty_check.py (bench/envelope_checks.py: winners = grabbed shares, no user
   twice, grabbed + ungrabbed = pool, every wallet its share once posted, ledger audit).
2. *Grabs per second without HTTP* (`inprocess`): GRAB_THREADS threads in one process calling
   `campaigns.services.envelope_grabs.envelope_grab` for distinct users on a fresh envelope,
   with the Redis gate and without it (`envelope_gate.gate` patched to return None: the
   database path, SELECT … FOR UPDATE SKIP LOCKED); the envelope's books checked after.
3. *What the profile shows* (`profile`): grabs posted in-process through Django's test client
   under cProfile, first grabs (a share each) then the same users again (409 already_grabbed),
   summed by part (the token, the gate, the claim, the marker, ...).
4. */api/v1/me/ with the token cache off and on* (ME_ROWS): bench/run.py runs them against two
   gunicorns of the same run, one with AUTH_TOKEN_CACHE_SECONDS=0 and one with the default,
   each with its own bare baseline (`me_pair`).

bench/run.py calls `during()` while the servers are up and writes `section()` between the
markers; `BENCH_ONLY=envelopes make bench` (`python bench/run.py --only envelopes`) re-creates the
bench database, seeds only these rows and replaces only this section.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # run as `python bench/envelopes_bench.py`
    sys.path.insert(0, str(ROOT))

from bench.crowdfunds_bench import _worker, profile_parts, profile_top  # noqa: E402
from bench.crowdfunds_bench import splice as _splice  # noqa: E402

SECTION = "envelopes"
SECTION_START = "<!-- bench:envelopes -->"
SECTION_END = "<!-- /bench:envelopes -->"
WORK = Path(__file__).resolve().parent / ".work"
PROFILE_FILE = WORK / "grab_profile.txt"
PROFILE_REQUESTS = 300
INPROCESS_SHARES = 3000
GRAB_THREADS = 16
AIMS = {"red envelope grab, while shares last": 0.25, "red envelope grab, once empty (409)": 0.6}
CACHE_ON_SECONDS = "1"  # config.settings.base's default AUTH_TOKEN_CACHE_SECONDS

ME_ROW = {
    "name": "me",
    "path": "/api/v1/me/",
    "auth": True,
    "token_file": "bench/.work/me_token.txt",  # bench/seed_envelopes.py seed_me_user
    "note": "DRF, Bearer token lookup, user throttle in Redis, ledger balances (1 query)",
}

GRAB_PARTS = {
    "request": ("the whole request (api/grab_route.py, ahead of Django's stack)", "api/grab_route.py", "_grab"),
    "auth": ("the Bearer token (`token_user_id`: the token cache, else one SELECT)", "accounts/selectors.py",
             "token_user_id"),
    "throttle": ("the grab throttle's counter + the gate's read-only question (one Redis round trip)",
                 "api/grab_route.py", "_throttled_or_refused"),
    "service": ("`envelope_grab` (the service)", "campaigns/services/envelope_grabs.py", "envelope_grab"),
    "gate": ("the Redis Lua gate (`gate_grab`)", "campaigns/services/envelope_gate.py", "gate_grab"),
    "claim": ("the claim (`_claim`: ONE statement in autocommit: the share UPDATE and the follow INSERT)",
              "campaigns/services/envelope_grabs.py", "_claim"),
    "schedule": ("the poster's marker (`envelope_grabs_post_schedule`: SET NX; the Celery publish once a second)",
                 "campaigns/services/envelope_grabs.py", "envelope_grabs_post_schedule"),
    "answer": ("shares left? for the answer (`_answer_for`; a look only on the last grabs)",
               "campaigns/services/envelope_grabs.py", "_answer_for"),
    "health": ("Django's connection health check (`SELECT 1` once per request)", "django/db/backends/base/base.py",
               "close_if_health_check_failed"),
    "sql": ("SQL statements (`CursorWrapper._execute`)", "django/db/backends/utils.py", "_execute"),
    "pg_wait": ("waiting for PostgreSQL (psycopg's `wait`)", "psycopg/connection.py", "wait"),
    "redis": ("Redis round trips (`call_with_retry`)", "redis/retry.py", "call_with_retry"),
    "locale": ("the language (LocaleMiddleware's process_request)", "django/middleware/locale.py",
               "process_request"),
    "render": ("the JSON answer (`_json`)", "api/grab_route.py", "_json"),
}


def _log(message: str) -> None:
    print(f"bench envelopes: {message}", file=sys.stderr, flush=True)


# --- in-process grabs ------------------------------------------------------------------------------


def inprocess(*, redis: bool, shares: int = INPROCESS_SHARES, threads: int = GRAB_THREADS) -> dict:
    """`shares` distinct users grab a fresh envelope of `shares` shares through `envelope_grab`,
    `threads` at a time, with the Redis gate or without (the gate patched away); grabs/s and the
    envelope's books after (posted, wallets, audit)."""
    import secrets

    from bench.envelope_checks import envelope_books
    from bench.seed_crowdfunds import users
    from bench.seed_envelopes import envelope_opened, grab_many
    from campaigns.services import envelope_gate

    tag = secrets.token_hex(3)
    real_gate = envelope_gate.gate
    if not redis:
        envelope_gate.gate = lambda: None
    try:
        env = envelope_opened(owner_name=f"bench-inproc-{tag}-owner", count=shares)
        people = users(f"bench-inproc-{tag}", shares)
        gated = envelope_gate.gate() is not None
        result = grab_many(env.pk, people, threads=threads)
        books = envelope_books(env.pk)
    finally:
        envelope_gate.gate = real_gate
    grabbed = result["counts"].get("grabbed", 0)
    return {"redis": redis, "shares": shares, "threads": threads, "counts": result["counts"],
            "seconds": result["seconds"], "rate": grabbed / result["seconds"] if result["seconds"] else 0.0,
            "books": books, "gate": gated}


# --- the profile -----------------------------------------------------------------------------------


def _profiled(post, tokens: list[str]) -> tuple[dict, float, str]:
    import cProfile
    import io
    import pstats

    profiler = cProfile.Profile()
    started = time.perf_counter()
    profiler.enable()
    for token in tokens:
        post(token)
    profiler.disable()
    seconds = time.perf_counter() - started
    listing = io.StringIO()
    printer = pstats.Stats(profiler, stream=listing)
    printer.sort_stats("cumulative").print_stats(45)
    printer.sort_stats("tottime").print_stats(30)
    return pstats.Stats(profiler).stats, seconds, listing.getvalue()


def profile_grabs(*, n: int = PROFILE_REQUESTS, work: Path = WORK) -> dict:
    """`n` grabs POSTed in-process, one after the other, by `n` distinct users to a fresh envelope
    with shares left, through the WSGI application gunicorn serves (config.wsgi: the grab route
    ahead of Django), under cProfile (after 10 unprofiled ones); then the same `n` users again
    (409 already_grabbed). Per-part figures of each."""
    import io
    import secrets

    from django.core.handlers.wsgi import WSGIHandler
    from django.test import RequestFactory

    from accounts.services import token_issue
    from api.grab_route import grab_route
    from bench.seed_crowdfunds import users
    from bench.seed_envelopes import envelope_opened, grab_path

    application = grab_route(WSGIHandler())  # what config/wsgi.py serves

    tag = secrets.token_hex(3)
    env = envelope_opened(owner_name=f"bench-prof-{tag}-owner", count=2 * (n + 10))
    tokens = [token_issue(user=u, user_agent="bench") for u in users(f"bench-prof-{tag}-grabber", n + 10)]
    factory = RequestFactory(HTTP_HOST="127.0.0.1", REMOTE_ADDR="127.0.0.1")
    statuses: Counter = Counter()

    def post(token: str) -> None:
        environ = factory.post(grab_path(env.pk), HTTP_AUTHORIZATION=f"Bearer {token}").environ
        environ["wsgi.input"] = io.BytesIO(b"")
        seen = []
        b"".join(application(environ, lambda status, headers, exc_info=None: seen.append(int(status[:3]))))
        statuses[seen[0]] += 1

    for token in tokens[n:]:
        post(token)  # warm-up: imports, connections, the gate
    out: dict = {"requests": n}
    listings = []
    for kind, expected in (("first", 200), ("again", 409)):
        statuses.clear()
        stats, seconds, listing = _profiled(post, tokens[:n])
        listings.append(f"== {kind} grabs ({expected}): {n} in-process, {seconds:.2f} s under cProfile\n{listing}")
        out[kind] = {"statuses": {str(k): v for k, v in statuses.items()}, "expected": expected, "seconds": seconds,
                     "ms_per_request": 1000 * seconds / n,
                     "parts": profile_parts(stats, requests=n, parts=GRAB_PARTS),
                     "top": profile_top(stats, requests=n)}
    work.mkdir(parents=True, exist_ok=True)
    (work / PROFILE_FILE.name).write_text("\n".join(listings))
    return out


# --- while the servers are up ------------------------------------------------------------------------


def during(python: str, root: Path, env: dict, port: int) -> dict:
    """The in-process grabs (with and without Redis) and the profile, run by bench/run.py."""
    script = str(root / "bench" / "envelopes_bench.py")
    out = {}
    for key, flag in (("redis", "--redis"), ("no_redis", "--no-redis")):
        _log(f"in-process grabs, {key}")
        out[key] = _worker(python, root, env, script, "inprocess", flag)
        if "rate" in out[key]:
            _log(f"  {out[key]['rate']:,.0f} grabs/s {out[key]['counts']}"
                 + (f" PROBLEMS {out[key]['books']['problems']}" if out[key]["books"]["problems"] else ""))
        else:
            _log(f"  FAILED: {out[key].get('error')}")
    _log(f"profiling {PROFILE_REQUESTS} grabs in-process")
    out["profile"] = _worker(python, root, env, script, "profile")
    if "error" in out["profile"]:
        _log(f"  FAILED: {out['profile']['error']}")
    return out


def failed(results: dict) -> list[str]:
    out = []
    for key in ("redis", "no_redis"):
        row = results.get(key) or {}
        if "rate" not in row or row["books"]["problems"] or set(row["counts"]) != {"grabbed"} \
                or row["gate"] != (key == "redis"):
            out.append(f"in-process grabs ({key})")
    profile = results.get("profile") or {}
    if "first" not in profile or any(set(profile[k]["statuses"]) != {str(profile[k]["expected"])}
                                     for k in ("first", "again")):
        out.append("the grab profile")
    return out


# --- the report ---------------------------------------------------------------------------------------


def aims_lines(rows: list[dict]) -> list[str]:
    """Whether each grab row met its aim (a ratio to the bare endpoint), and the same against our
    own /livez (the baseline the bench used when issue 12 set the aims) for comparison."""
    lines = []
    livez = next((r for r in rows if r.get("path") == "/livez" and r.get("rps")), None)
    for name, aim in AIMS.items():
        row = next((r for r in rows if r["name"] == name), None)
        if row is None or row.get("ratio") is None:
            lines.append(f"- *{name}*: aim ≥ {aim} — not measured.")
            continue
        met = row["ratio"] >= aim
        text = (f"- *{name}*: {row['ratio']:.2f} of the bare endpoint, aim ≥ {aim}: "
                + ("**met**." if met else "**not met**."))
        if livez is not None:
            to_livez = row["rps"] / livez["rps"]
            text += (f" Against our own `/livez` ({livez['rps']:,.0f} requests/s: the baseline the bench used when the"
                     f" aims were set) it is {to_livez:.2f} — " + ("at or above" if to_livez >= aim else "below")
                     + " the aim on that measure.")
        lines.append(text)
    return lines


def _inprocess_lines(results: dict) -> list[str]:
    lines = ["| gate | threads | shares | grabs/s | outcome | books after |",
             "| --- | ---: | ---: | ---: | --- | --- |"]
    for key, label in (("redis", "Redis Lua gate"), ("no_redis", "none: the database (SKIP LOCKED)")):
        row = results.get(key) or {}
        if "rate" not in row:
            lines.append(f"| {label} | — | — | — | **did not run:** {row.get('error', 'no result')} | — |")
            continue
        books = row["books"]
        outcome = ", ".join(f"{k} {v:,}" for k, v in sorted(row["counts"].items()))
        ok = "balanced, every wallet its share" if not books["problems"] else "**" + "; ".join(books["problems"]) + "**"
        lines.append(f"| {label} | {row['threads']} | {row['shares']:,} | {row['rate']:,.0f} | {outcome} "
                     f"({row['seconds']:.1f} s) | {ok} |")
    return lines


def _part_table(profile: dict) -> list[str]:
    lines = ["| part | calls per request | ms per request | share of the request |",
             "| --- | ---: | ---: | ---: |"]
    return lines + [f"| {p['part']} | {p['calls']:.1f} | {p['ms']:.2f} | {100 * p['share']:.0f} % |"
                    for p in profile["parts"]]


def profile_summary(first: dict, again: dict) -> str:
    """The grab profile's main costs in words."""
    def get(prof: dict, key: str, field: str = "ms") -> float:
        return next((p[field] for p in prof["parts"] if p["key"] == key), 0.0)

    whole = get(first, "request") or 1.0
    costs = sorted([
        (get(first, "sql"), f"PostgreSQL ({get(first, 'sql', 'calls'):.0f} statements, of which the health "
         "check's SELECT 1)"),
        (get(first, "redis"), f"Redis ({get(first, 'redis', 'calls'):.0f} round trips)"),
        (get(first, "auth"), "the Bearer token"),
        (get(first, "schedule"), "the poster's marker"),
        (get(first, "locale"), "the language"),
        (get(first, "render"), "the JSON answer"),
    ], reverse=True)
    text = ("A first grab, largest first (overlapping: Redis and PostgreSQL time is inside the other parts): "
            + "; ".join(f"{what} {ms:.2f} ms ({100 * ms / whole:.0f} %)" for ms, what in costs)
            + f". The gate's Lua call itself is {get(first, 'gate'):.2f} ms and the claim's one statement "
            f"{get(first, 'claim'):.2f} ms. Once the user has a share, a request is "
            f"{get(again, 'request'):.2f} ms (first grab {whole:.2f} ms): {get(again, 'sql', 'calls'):.1f} SQL "
            f"statements and {get(again, 'redis', 'calls'):.1f} Redis round trips.")
    return text


def _profile_lines(profile: dict) -> list[str]:
    if "first" not in profile:
        return [f"**The profile did not run:** {profile.get('error', 'no result')}."]
    first, again = profile["first"], profile["again"]
    return [
        f"`python bench/envelopes_bench.py profile`: {profile['requests']} grabs POSTed one after the other "
        "in-process through the WSGI application gunicorn serves (config.wsgi: api/grab_route.py ahead of "
        "Django) by distinct users on an envelope with shares left "
        f"({first['ms_per_request']:.1f} ms per request under cProfile), then the same users again "
        f"({again['ms_per_request']:.1f} ms per request, 409 already_grabbed). The profiler's overhead inflates "
        "Python-heavy parts, and the machine's load stretches the waits. Nested: the request contains every "
        "other line, the service the gate, claim, marker and answer.",
        "",
        "First grabs (200):",
        "",
        *_part_table(first),
        "",
        "The same users again (409 already_grabbed):",
        "",
        *_part_table(again),
        "",
        "Most own time in a first grab, per request: "
        + "; ".join(f"`{t['function']}` {t['own_ms']:.2f} ms" for t in first["top"][:6]) + ".",
        "",
        "What it shows: " + profile_summary(first, again) + " Full listing: `bench/.work/grab_profile.txt`.",
    ]


def _me_lines(me_rows: list[dict]) -> list[str]:
    if not me_rows:
        return ["Not measured in this run (`BENCH_ONLY=envelopes` measures it)."]
    from bench import report

    lines = []
    for cache in ("off", "on"):  # one table, each server's baseline above its own /me row
        server = [r for r in me_rows if r.get("cache") == cache]
        lines += report.http_table(server)[0 if not lines else 2:]
    lines.append("")
    by = {r.get("cache"): r for r in me_rows if not r.get("baseline")}
    off, on = by.get("off"), by.get("on")
    if off and on and off.get("ratio") and on.get("ratio"):
        lines.append(f"With the cache the row gives {on['ratio'] / off['ratio']:.2f}× the ratio without it "
                     f"({off['ratio']:.2f} → {on['ratio']:.2f} of the bare endpoint of its own server). Each "
                     "row ran against its own gunicorn (the setting is read at start): the cache-off server first, "
                     "with its own bare baseline, then the cache-on one with its own, so each ratio compares "
                     "figures taken minutes apart at most.")
    return lines


def section(*, meta: dict, http_rows: list[dict], results: dict, me_rows: list[dict], alone: bool) -> str:
    """The envelopes section of docs/benchmarks.md, between its markers."""
    from bench import report

    base = [r for r in http_rows if r.get("baseline")]
    livez = [r for r in http_rows if r.get("path") == "/livez"]
    rows = base + livez + [r for r in http_rows if r.get("section") == SECTION]
    how = (
        "measured on their own (`BENCH_ONLY=envelopes make bench`, i.e. `python bench/run.py --only envelopes`): "
        "the bare baseline below was measured in the same run, against the same gunicorn, under the same load; "
        "compare ratios, not requests/s, with the other sections"
        if alone else
        "measured in the full run above, against the same gunicorn; the bare baseline is the HTTP table's"
    )
    lines = [
        SECTION_START,
        "## Red envelopes: grabbing while shares last and once empty, grabs without HTTP, /me and the token cache",
        "",
        f"`bench/envelopes_bench.py`, {how}. Measured {meta['date']} on {meta['cores']} core(s); load average "
        f"{meta['load_start']} at the start and {meta.get('load_end', '—')} at the end. The machine was shared with "
        "other test runs: the figures are noisy.",
        "",
        f"Server: as above ({meta['server'].split('. Why gthread')[0]}); the grab throttle (THROTTLE_GRAB, 30/min "
        "per user in production) is set as high as the others (`bench/django_settings.py` reads it from the "
        "environment, which `config.settings.base` does not). No Celery worker runs: the posters the grabs "
        "queue wait in the broker, and the checks post the money after the run.",
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
    lines += ["", "Aims (issue 12):", "", *aims_lines(rows), "",
              "### Grabs per second without HTTP (PostgreSQL, in-process)", "",
              f"`python bench/envelopes_bench.py inprocess --redis|--no-redis`: a fresh envelope of "
              f"{INPROCESS_SHARES:,} shares, each grabbed by a different user through "
              f"`campaigns.services.envelope_grabs.envelope_grab`, {GRAB_THREADS} threads in one Python process "
              "(one database connection each; the GIL lets one run Python at a time, so this is what one process "
              "can do). Without Redis, `envelope_gate.gate` is patched to return None: the database path, "
              "the next free share row-locked, skipping locked ones; the broker is still Redis, and with no "
              "gate the grab queues a poster on every commit (no Redis marker). Books checked after each: posted "
              "until 0, every wallet its share, the escrow what is left, ledger audit.", "",
              *_inprocess_lines(results), "",
              "### /api/v1/me/ with the token cache off and on", "",
              *_me_lines(me_rows), "",
              "### What the profile shows: the grab path", "",
              *_profile_lines(results.get("profile") or {}), SECTION_END]
    return "\n".join(lines) + "\n"


def splice(document: str, new_section: str) -> str:
    """`document` with its envelopes section replaced by `new_section` (appended when absent)."""
    return _splice(document, new_section, start_marker=SECTION_START, end_marker=SECTION_END)


def main() -> None:
    parser = argparse.ArgumentParser()
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("profile")
    p.add_argument("--n", type=int, default=PROFILE_REQUESTS)
    p = sub.add_parser("inprocess")
    p.add_argument("--redis", action=argparse.BooleanOptionalAction, default=True)
    p.add_argument("--shares", type=int, default=INPROCESS_SHARES)
    p.add_argument("--threads", type=int, default=GRAB_THREADS)
    args = parser.parse_args()
    from bench._django import setup

    setup()
    if args.command == "profile":
        print(json.dumps(profile_grabs(n=args.n)), flush=True)
    else:
        print(json.dumps(inprocess(redis=args.redis, shares=args.shares, threads=args.threads)), flush=True)


if __name__ == "__main__":
    main()
