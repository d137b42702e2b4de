"""`make bench`: load our endpoints with wrk through gunicorn, time ledger postings, write docs/benchmarks.md.

Steps: make sure wrk is installed (apt) -> reset and migrate the bench PostgreSQL database
-> seed a user with a Bearer token and funded wallets -> start the WeChat sandbox's gunicorn, then
the app's gunicorn (one worker per core), which calls the sandbox for unified orders -> check every
endpoint of bench/endpoints.py answers 200 (or its `expect`), then load it with wrk -> the
200-friends crowdfund race and the contribution profile (bench/crowdfunds_bench.py) -> stop
gunicorn -> run the rows' check scripts -> time ledger postings in 1 and 2 processes -> share-link
images -> commissions: accrual on payment in 1 and 2 processes, settlement of 1,000,000 matured
commissions, audit_ledger over 1,000,000+ entries (bench/commissions_bench.py) -> WeChat Pay
APIv3 vs v2: crypto primitives and payment notifications without HTTP (bench/wechat_v3_bench.py) -> audit the
ledger -> write docs/benchmarks.md and print it.

Environment (all optional):
  BENCH_SECONDS=10        wrk duration per endpoint, and per ledger scenario
  BENCH_WARMUP=2          warm-up seconds per endpoint (not measured)
  BENCH_CONNECTIONS=16    wrk connections;  BENCH_THREADS=2  wrk threads
  BENCH_WORKERS=nproc     gunicorn workers; BENCH_WORKER_CLASS=gthread (or sync),
                          BENCH_WORKER_THREADS=4 threads per gthread worker
  BENCH_DATABASE_URL      default postgres://postgres@127.0.0.1:5432/fenxiao_bench (dropped and re-created!)
  BENCH_REDIS_URL         default redis://127.0.0.1:6379/14 (flushed!)
  BENCH_OUTPUT            default docs/benchmarks.md
  BENCH_NOTIFICATIONS     distinct payment notifications seeded for their row (default 500 per second
                          of warm-up and measured run: 6,000; bench/seed_orders.py)
  BENCH_ONLY              unset: every section. `commissions`: re-create the bench database, run only
                          the commission rows (bench/commissions_bench.py) and replace only their
                          section of BENCH_OUTPUT (the other sections stay as they are).
                          `crowdfunds`: the same for the crowdfund rows (bench/crowdfunds_bench.py):
                          the bare baseline, the two crowdfund HTTP rows, the race, the profile.
                          `envelopes`: the same for the red-envelope rows (bench/envelopes_bench.py):
                          the bare baseline, the two grab rows, grabs without HTTP, the grab profile,
                          and /api/v1/me/ with the token cache off and on (two more gunicorns).
                          `wechat`: the same for the WeChat Pay APIv3 rows (bench/wechat_v3_bench.py):
                          crypto primitives, v2 vs v3 payment notifications on PostgreSQL, the profile.
                          `python bench/run.py --only <section>` says the same.
  BENCH_SANDBOX_WORKERS=1, BENCH_SANDBOX_THREADS=8  the WeChat sandbox's gunicorn (gthread)
  BENCH_CF_NOTIFICATIONS  crowdfund payment notifications seeded (default BENCH_NOTIFICATIONS)
  BENCH_ACCRUAL_ORDERS=500  orders paid per process in the accrual rows
  BENCH_COMMISSIONS_N=1000000  matured commissions seeded for the settlement row
  BENCH_AUDIT_ENTRIES     ledger entries at least for the audit row (default BENCH_COMMISSIONS_N)

Exits 1 when an endpoint fails its status pre-check or its check script, or the ledger audit
fails (the report is still written).
"""
from __future__ import annotations

import datetime
import fcntl
import http.client
import json
import os
import platform
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from importlib.metadata import version
from pathlib import Path
from urllib.parse import urlparse, urlunparse

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

from bench import commissions_bench, crowdfunds_bench, envelopes_bench, qr_gen, report, wechat_v3_bench  # noqa: E402
from bench.endpoints import ENDPOINTS  # noqa: E402

BENCH = ROOT / "bench"
WORK = BENCH / ".work"  # raw wrk output and the gunicorn log (git-ignored)
PY = sys.executable

SECONDS = int(os.environ.get("BENCH_SECONDS", "10"))
WARMUP = int(os.environ.get("BENCH_WARMUP", "2"))
CONNECTIONS = int(os.environ.get("BENCH_CONNECTIONS", "16"))
WRK_THREADS = int(os.environ.get("BENCH_THREADS", "2"))
WRK_TIMEOUT = int(os.environ.get("BENCH_WRK_TIMEOUT", "30"))  # wrk drops slower responses from its histogram
CORES = len(os.sched_getaffinity(0))
WORKERS = int(os.environ.get("BENCH_WORKERS", str(CORES)))
WORKER_CLASS = os.environ.get("BENCH_WORKER_CLASS", "gthread")
WORKER_THREADS = int(os.environ.get("BENCH_WORKER_THREADS", "4"))
DATABASE_URL = os.environ.get("BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/fenxiao_bench")
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
SANDBOX_WORKERS = int(os.environ.get("BENCH_SANDBOX_WORKERS", "1"))
SANDBOX_THREADS = int(os.environ.get("BENCH_SANDBOX_THREADS", "8"))
OUTPUT = Path(os.environ.get("BENCH_OUTPUT", ROOT / "docs" / "benchmarks.md"))
ONLY = os.environ.get("BENCH_ONLY", "").strip()
if "--only" in sys.argv[1:-1]:  # `python bench/run.py --only crowdfunds`, the same as BENCH_ONLY=crowdfunds
    ONLY = sys.argv[sys.argv.index("--only") + 1].strip()
# Sections that can run alone (their part of the report is replaced).
ONLY_SECTIONS = ("commissions", "crowdfunds", "envelopes", "wechat")

# Each scenario runs one ledger_load.py process per pair of wallets (named in bench/seed.py).
LEDGER_SCENARIOS = [
    {"name": "single process", "pairs": [("a", "b")]},
    {"name": "2 processes, distinct accounts", "pairs": [("a", "b"), ("c", "d")]},
    {"name": "2 processes, shared accounts (contention)", "pairs": [("a", "b"), ("a", "b")]},
]

# What Django sees in every process the bench starts (gunicorn, migrate, seed, ledger load).
DJANGO_ENV = {
    **os.environ,
    "DJANGO_SETTINGS_MODULE": "bench.django_settings",  # config.settings.base + THROTTLE_GRAB from the environment
    "DEBUG": "0",
    "ALLOWED_HOSTS": "127.0.0.1",
    "DATABASE_URL": DATABASE_URL,
    "REDIS_URL": REDIS_URL,
    "CELERY_BROKER_URL": REDIS_URL,  # health checks the broker: ours, whatever the shell exported
    "CELERY_TASK_ALWAYS_EAGER": "0",
    "LOG_LEVEL": "WARNING",
    # Throttles stay on, as in production, but never trigger. A per-second window keeps
    # DRF's per-client request history (pickled to Redis on every request) about one
    # second of requests long, close to production's worst case (600 at 600/min).
    "THROTTLE_USER": "100000000/s",
    "THROTTLE_ANON": "100000000/s",
    "THROTTLE_GRAB": "100000000/s",  # the red-envelope grab throttle (30/min per user in production)
    "PYTHONDONTWRITEBYTECODE": "1",
    # DEBUG is off, so the production check (core/checks.py) refuses the sandbox and the shipped
    # secrets: the bench runs the sandbox on purpose, with secrets of its own for this run.
    "WECHAT_SANDBOX_IN_PRODUCTION": "1",
    "SECRET_KEY": secrets.token_urlsafe(50),
    "WECHAT_MP_TOKEN": "bench-mp-" + secrets.token_hex(8),
    "WECHAT_PAY_API_KEY": secrets.token_hex(16),
    "STATIC_ROOT": str(WORK / "static"),  # an empty directory: WhiteNoise warns when it is missing
}


def log(message: str) -> None:
    print(f"bench: {message}", file=sys.stderr, flush=True)


class BenchError(Exception):
    pass


# --- set-up ------------------------------------------------------------------------


def ensure_wrk() -> None:
    """Install wrk from Debian's packages when it is missing."""
    if shutil.which("wrk"):
        return
    sudo = [] if os.geteuid() == 0 else ["sudo"]
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    install = [*sudo, "apt-get", "install", "-y", "-q", "wrk"]
    log("wrk is missing: installing it with apt-get")
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run([*sudo, "apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)
    if not shutil.which("wrk"):
        raise BenchError("wrk is still not on PATH after apt-get install wrk")


def reset_database() -> None:
    import psycopg
    from psycopg import sql

    url = urlparse(DATABASE_URL)
    name = url.path.lstrip("/")
    admin = urlunparse(url._replace(path="/postgres"))
    log(f"re-creating database {name}")
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))
        conn.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))


def run_django(args: list[str], **kwargs) -> subprocess.CompletedProcess:
    return subprocess.run([PY, *args], cwd=ROOT, env=DJANGO_ENV, check=True, **kwargs)


def prepare_data(seed_script: str = "seed.py") -> dict:
    reset_database()
    log("migrating")
    run_django(["manage.py", "migrate", "--noinput", "-v", "0"])
    log(f"seeding (bench/{seed_script})")
    out = run_django([str(BENCH / seed_script)], capture_output=True, text=True).stdout
    # The seed wrote a million rows: vacuum and analyse now, or autovacuum does it during the
    # measured runs and the database-bound endpoints pay for it; then a checkpoint, so the dirty
    # pages are on disk before the first measurement rather than written out during it.
    log("VACUUM ANALYZE, CHECKPOINT")
    import psycopg

    with psycopg.connect(DATABASE_URL, autocommit=True) as conn:
        conn.execute("VACUUM ANALYZE")
        try:
            conn.execute("CHECKPOINT")
        except psycopg.errors.InsufficientPrivilege:
            log("CHECKPOINT needs a superuser; skipped")
    subprocess.run(["sync"], check=False)
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # our own db only: stale throttle histories
    return json.loads(out.strip().splitlines()[-1])


# --- machine and versions ------------------------------------------------------------


def _cpuinfo(key: str) -> str:
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.split(":")[0].strip() == key:
            return line.split(":", 1)[1].strip()
    return "unknown"


def _memory() -> str:
    for line in Path("/proc/meminfo").read_text().splitlines():
        if line.startswith("MemTotal:"):
            return f"{int(line.split()[1]) / 1024 / 1024:.1f} GiB"
    return "unknown"


def _os_name() -> str:
    try:
        pretty = platform.freedesktop_os_release().get("PRETTY_NAME", "Linux")
    except OSError:
        pretty = "Linux"
    return f"{pretty}, kernel {platform.release()}"


def _load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine_and_versions() -> dict:
    import psycopg
    import redis

    with psycopg.connect(DATABASE_URL) as conn:
        pg_version = conn.execute("SHOW server_version").fetchone()[0]
        # Durability settings decide the cost of a commit, hence of a ledger posting.
        pg_settings = ", ".join(
            f"{name}={conn.execute(f'SHOW {name}').fetchone()[0]}"
            for name in ("fsync", "synchronous_commit", "shared_buffers")
        )
    wrk_banner = subprocess.run(["wrk", "-v"], capture_output=True, text=True)
    wrk_line = (wrk_banner.stdout or wrk_banner.stderr).splitlines()[0]
    wrk_version = " ".join(wrk_line.split()[:3]) if wrk_line.startswith("wrk") else wrk_line
    return {
        "date": datetime.datetime.now().astimezone().strftime("%Y-%m-%d %H:%M %Z"),
        "cpu_model": _cpuinfo("model name"),
        "cores": CORES,
        "memory": _memory(),
        "os": _os_name(),
        "load_start": _load(),
        "python": platform.python_version(),
        "django": version("Django"),
        "drf": version("djangorestframework"),
        "gunicorn": version("gunicorn"),
        "psycopg": version("psycopg"),
        "postgres": f"{pg_version.split()[0]} ({pg_settings})",
        "redis": redis.Redis.from_url(REDIS_URL).info("server")["redis_version"],
        "wrk": wrk_version,
        "connections": CONNECTIONS,
        "warmup": WARMUP,
        "ledger_seconds": SECONDS,
    }


# --- gunicorn ----------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def server_description() -> str:
    kind = f"{WORKER_CLASS} workers"
    if WORKER_CLASS == "gthread":
        kind += f" × {WORKER_THREADS} threads"
    per_core = " (one per core)" if WORKERS == CORES else ""
    text = (
        f"gunicorn {version('gunicorn')}, {WORKERS} {kind}{per_core}, `config.wsgi`, settings "
        "`bench.django_settings` (`config.settings.base` and THROTTLE_GRAB from the environment),"
        " DEBUG off, no access log, LOG_LEVEL=WARNING, PostgreSQL and Redis on the "
        "same machine, throttles on with rates too high to trigger"
    )
    if WORKER_CLASS == "gthread":
        text += (
            ". Why gthread: one process per core gives each core its own interpreter (no shared GIL), and a few "
            "threads per process keep the core busy while a request waits on PostgreSQL or Redis, which our "
            "API endpoints do for much of their time; gthread also keeps HTTP connections alive, as a proxy "
            "with upstream keep-alive would. Sync workers (`BENCH_WORKER_CLASS=sync`) leave the core idle "
            "during those waits and pay a TCP connect per request"
        )
    return text


def sandbox_description() -> str:
    return f"{SANDBOX_WORKERS} gthread worker(s) × {SANDBOX_THREADS} threads"


BARE_APP = "bench.bare_app:application"  # the baseline (bench/bare_app.py)


def start_gunicorn(port: int, *, workers: int = WORKERS, worker_class: str = WORKER_CLASS,
                   threads: int = WORKER_THREADS, logfile: str = "gunicorn.log",
                   app: str = "config.wsgi:application") -> subprocess.Popen:
    cmd = [
        PY, "-m", "gunicorn", app,
        "--bind", f"127.0.0.1:{port}",
        "--workers", str(workers),
        "--worker-class", worker_class,
        "--backlog", "2048",
        "--timeout", "120",
        "--log-level", "warning",
        "--error-logfile", str(WORK / logfile),
    ]  # fmt: skip
    if worker_class == "gthread":
        cmd += ["--threads", str(threads)]
    log(f"starting gunicorn {app} on 127.0.0.1:{port}: {workers} {worker_class} worker(s) ({logfile})")
    # Its own session: Ctrl-C reaches only us, and the finally below stops it.
    return subprocess.Popen(cmd, cwd=ROOT, env=DJANGO_ENV, start_new_session=True)


def stop_gunicorn(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    log("stopping gunicorn")
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def request_body(endpoint: dict) -> str:
    """The row's body: `body`, or the text of `body_file` (read now: the seed writes it)."""
    if endpoint.get("body_file"):
        return (ROOT / endpoint["body_file"]).read_text()
    return endpoint.get("body", "")


def row_token(endpoint: dict, token: str) -> str:
    """The Bearer token a row sends: its `token_file`'s (written by the seed), else the bench user's."""
    if endpoint.get("token_file"):
        return (ROOT / endpoint["token_file"]).read_text().split()[0]
    return token


def request(port: int, endpoint: dict, token: str) -> tuple[int, bytes]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        headers = {}
        if endpoint.get("auth"):
            headers["Authorization"] = f"Bearer {row_token(endpoint, token)}"
        body = request_body(endpoint)
        if body:
            headers["Content-Type"] = endpoint.get("content_type", "application/json")
        conn.request(endpoint.get("method", "GET"), endpoint["path"], body=body.encode() or None, headers=headers)
        response = conn.getresponse()
        return response.status, response.read()
    finally:
        conn.close()


def wait_until_up(proc: subprocess.Popen, port: int, logfile: str = "gunicorn.log", probe: str = "/livez") -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise BenchError(f"gunicorn exited with {proc.returncode}; see {WORK / logfile}")
        try:
            if request(port, {"path": probe}, "")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    raise BenchError(f"gunicorn did not answer {probe} within 60 s")


# --- wrk ---------------------------------------------------------------------------------


def wrk_command(seconds: int, url: str = "URL") -> list[str]:
    return [
        "wrk", f"-t{WRK_THREADS}", f"-c{CONNECTIONS}", f"-d{seconds}s", f"--timeout={WRK_TIMEOUT}s",
        "--latency", "-s", "bench/wrk.lua", url,
    ]  # fmt: skip


def run_wrk(port: int, endpoint: dict, token: str, seconds: int) -> str:
    env = {
        **os.environ,
        "BENCH_METHOD": endpoint.get("method", "GET"),
        "BENCH_BODY": request_body(endpoint),
        "BENCH_CONTENT_TYPE": endpoint.get("content_type", ""),
        "BENCH_THREADS": str(WRK_THREADS),  # row scripts that split their requests between threads
        "BENCH_AUTHORIZATION": f"Bearer {row_token(endpoint, token)}" if endpoint.get("auth") else "",
        "BENCH_LUA": endpoint.get("lua", ""),  # an extra wrk script (e.g. a request hook), see bench/wrk.lua
        **endpoint.get("env", {}),
    }
    url = f"http://127.0.0.1:{port}{endpoint['path']}"
    done = subprocess.run(
        wrk_command(seconds, url), cwd=ROOT, env=env, capture_output=True, text=True, timeout=seconds + 120
    )
    if done.returncode != 0:
        raise BenchError(f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}")
    return done.stdout


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", text.lower()).strip("-")


def bench_http(token: str, endpoints: list[dict] = ENDPOINTS, during=None) -> tuple[list[dict], dict]:
    """Load each endpoint through gunicorn with wrk; `during(port)` runs after the rows, while the
    servers are still up. Returns the rows (checked, with ratios) and what `during` returned."""
    port, sandbox_port = free_port(), free_port()
    # The app server calls the sandbox (its own gunicorn: a server calling itself could run out of
    # threads) for unified orders; the sandbox's notifications would come back to the app server.
    DJANGO_ENV.update({
        "WECHAT_SANDBOX_BASE_URL": f"http://127.0.0.1:{sandbox_port}",
        "WECHAT_PAY_NOTIFY_URL": f"http://127.0.0.1:{port}/api/v1/wechat/pay/notify/",
        "WECHAT_REFUND_NOTIFY_URL": f"http://127.0.0.1:{port}/api/v1/wechat/refund/notify/",
    })
    sandbox = start_gunicorn(sandbox_port, workers=SANDBOX_WORKERS, worker_class="gthread", threads=SANDBOX_THREADS,
                             logfile="sandbox.log")
    proc = bare = None
    rows = []
    extra: dict = {}
    bare_port = free_port()
    try:
        wait_until_up(sandbox, sandbox_port, "sandbox.log")
        # The baseline: bench/bare_app.py under exactly the app server's gunicorn settings.
        bare = start_gunicorn(bare_port, logfile="bare.log", app=BARE_APP)
        wait_until_up(bare, bare_port, "bare.log", probe="/bare")
        proc = start_gunicorn(port)
        wait_until_up(proc, port)

        def port_of(endpoint: dict) -> int:
            return bare_port if endpoint.get("server") == "bare" else port

        for endpoint in endpoints:
            row = {**endpoint}
            rows.append(row)
            expect = endpoint.get("expect", 200)
            status, body = request(port_of(endpoint), endpoint, token)
            if status != expect:
                row["failed"] = f"status {status}, expected {expect}"
                log(f"{endpoint['name']}: {row['failed']}: {body[:300]!r}")
                continue
            warmup = max(WARMUP, int(endpoint.get("warmup", 0)))  # a row may need a longer one (its note says why)
            log(f"{endpoint['name']}: warm-up {warmup} s, then {SECONDS} s")
            if warmup:
                run_wrk(port_of(endpoint), endpoint, token, warmup)
            output = run_wrk(port_of(endpoint), endpoint, token, SECONDS)
            (WORK / f"wrk-{slug(endpoint['name'])}.txt").write_text(output)
            row.update(report.parse_wrk(output))
            log(f"  {row['rps']:,.0f} req/s, p50 {row['p50_ms']:.1f} ms, p99 {row['p99_ms']:.1f} ms")
        # The baseline once more at the end: the ratios use both figures, and their gap shows the drift.
        base = next((r for r in rows if r.get("baseline") and "rps" in r), None)
        if base and len(rows) > 1:
            log(f"{base['name']}: again, {SECONDS} s (drift check)")
            base["rps_again"] = report.parse_wrk(run_wrk(port_of(base), base, token, SECONDS))["rps"]
            log(f"  {base['rps_again']:,.0f} req/s")
        if during is not None:
            extra = during(port)
    finally:
        if proc is not None:
            stop_gunicorn(proc)
        if bare is not None:
            stop_gunicorn(bare)
        stop_gunicorn(sandbox)
    run_checks(rows)
    report.add_ratios(rows)
    return rows, extra


def run_checks(rows: list[dict]) -> None:
    """Run each loaded row's `check` script, once gunicorn has stopped (every request finished).

    The script (Django set up against the bench database) prints one JSON line at the end,
    {"check": "what it found", "check_failed": bool}, merged into the row."""
    for row in rows:
        if not row.get("check_script") or "rps" not in row:
            continue
        done = subprocess.run([PY, row["check_script"]], cwd=ROOT, env=DJANGO_ENV, capture_output=True, text=True)
        try:
            row.update(json.loads(done.stdout.strip().splitlines()[-1]))
        except (IndexError, ValueError):
            row.update(check=f"{row['check_script']} exited with {done.returncode}: {done.stderr.strip()[-300:]}",
                       check_failed=True)
        log(f"{row['name']}: check {'FAILED' if row.get('check_failed') else 'ok'}: {row['check']}")


def bench_me_pair() -> list[dict]:
    """/api/v1/me/ against a gunicorn with the token cache off (AUTH_TOKEN_CACHE_SECONDS=0), then
    against one with it on (the default), each with its own bare baseline (the setting is read
    when the server starts). The rows carry `cache` "off" / "on"; ratios are to their own baseline."""
    base = next(e for e in ENDPOINTS if e.get("baseline"))
    before = DJANGO_ENV.get("AUTH_TOKEN_CACHE_SECONDS")
    rows: list[dict] = []
    try:
        for cache, seconds in (("off", "0"), ("on", envelopes_bench.CACHE_ON_SECONDS)):
            DJANGO_ENV["AUTH_TOKEN_CACHE_SECONDS"] = seconds
            log(f"/api/v1/me/ with AUTH_TOKEN_CACHE_SECONDS={seconds}: its own gunicorn")
            pair = [{**base, "name": f"bare Django JSON (baseline of the cache-{cache} server)", "cache": cache},
                    {**envelopes_bench.ME_ROW, "name": f"me, token cache {cache} (AUTH_TOKEN_CACHE_SECONDS={seconds})",
                     "cache": cache}]
            got, _ = bench_http("", pair)
            rows += got
    finally:
        if before is None:
            DJANGO_ENV.pop("AUTH_TOKEN_CACHE_SECONDS", None)
        else:
            DJANGO_ENV["AUTH_TOKEN_CACHE_SECONDS"] = before
    return rows


# --- ledger ------------------------------------------------------------------------------


def bench_ledger(wallets: dict[str, int]) -> list[dict]:
    run_id = uuid.uuid4().hex[:8]
    rows = []
    for n, scenario in enumerate(LEDGER_SCENARIOS):
        log(f"ledger: {scenario['name']}, {SECONDS} s")
        procs = []
        try:
            for i, (a, b) in enumerate(scenario["pairs"]):
                cmd = [
                    PY, str(BENCH / "ledger_load.py"),
                    "--accounts", f"{wallets[a]},{wallets[b]}",
                    "--seconds", str(SECONDS),
                    "--tag", f"{run_id}-{n}-{i}",
                ]  # fmt: skip
                procs.append(
                    subprocess.Popen(cmd, cwd=ROOT, env=DJANGO_ENV, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                     text=True)
                )
            for proc in procs:  # all set up: start them together
                if proc.stdout.readline().strip() != "ready":
                    raise BenchError(f"ledger_load.py did not start (exit {proc.wait()})")
            for proc in procs:
                proc.stdin.write("go\n")
                proc.stdin.flush()
            results = []
            for proc in procs:
                out, _ = proc.communicate(timeout=SECONDS + 120)
                if proc.returncode != 0:
                    raise BenchError(f"ledger_load.py exited with {proc.returncode}")
                results.append(json.loads(out.strip().splitlines()[-1]))
        finally:
            for proc in procs:
                if proc.poll() is None:
                    proc.kill()
        errors: dict[str, int] = {}
        for r in results:
            for k, v in r["errors"].items():
                errors[k] = errors.get(k, 0) + v
        rate = sum(r["postings"] for r in results) / max(r["seconds"] for r in results)
        accounts = " and ".join(sorted({"+".join(p) for p in scenario["pairs"]}))
        rows.append(
            {"name": scenario["name"], "processes": len(procs), "accounts": accounts, "rate": rate, "errors": errors}
        )
        log(f"  {rate:,.0f} postings/s")
    return rows


def audit_ledger() -> bool:
    done = subprocess.run([PY, "manage.py", "audit_ledger"], cwd=ROOT, env=DJANGO_ENV, capture_output=True, text=True)
    if done.returncode != 0:
        log(f"ledger audit FAILED:\n{done.stdout[-2000:]}{done.stderr[-2000:]}")
    return done.returncode == 0


# --- main --------------------------------------------------------------------------------


def main() -> int:
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # run the finally blocks on kill too
    (WORK / "static").mkdir(parents=True, exist_ok=True)
    # One bench at a time per checkout: a second one would drop the database under the first.
    lock = open(WORK / "lock", "w")  # held (not closed) until the process exits
    try:
        fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        log("another make bench is running in this checkout; waiting for it to finish")
        fcntl.flock(lock, fcntl.LOCK_EX)
    if ONLY:
        return main_only()
    ensure_wrk()
    seed = prepare_data()
    meta = machine_and_versions()
    meta["server"] = server_description()
    meta["wrk_command"] = " ".join(wrk_command(SECONDS))
    def during(port: int) -> dict:
        return {"crowdfunds": crowdfunds_bench.during(PY, ROOT, DJANGO_ENV, port),
                "envelopes": envelopes_bench.during(PY, ROOT, DJANGO_ENV, port)}

    http_rows, during_results = bench_http(seed["token"], during=during)
    crowdfund_results, envelope_results = during_results.get("crowdfunds", {}), during_results.get("envelopes", {})
    me_rows = bench_me_pair()
    ledger_rows = bench_ledger(seed["wallets"])
    qr_rows = qr_gen.run(PY, ROOT, DJANGO_ENV, SECONDS)  # share-link images, no HTTP
    commission_results = commissions_bench.run(PY, ROOT, DJANGO_ENV)  # accrual, settlement, audit; no HTTP
    wechat_results = wechat_v3_bench.run(PY, ROOT, DJANGO_ENV)  # APIv3 crypto and notifications; no HTTP
    audit_ok = audit_ledger()
    meta["audit"] = "balanced" if audit_ok else "FAILED"
    meta["load_end"] = _load()
    meta["load_note"] = (
        f"the load average was {meta['load_start']} when this run started and {meta['load_end']} when it ended"
    )

    meta["sandbox_server"] = sandbox_description()
    text = (report.render(meta, http_rows, ledger_rows) + "\n" + qr_gen.section(qr_rows) + "\n"
            + commissions_bench.section(commission_results) + "\n"
            + crowdfunds_bench.section(meta=meta, http_rows=http_rows, results=crowdfund_results, alone=False) + "\n"
            + envelopes_bench.section(meta=meta, http_rows=http_rows, results=envelope_results, me_rows=me_rows,
                                      alone=False) + "\n"
            + wechat_v3_bench.section(wechat_results))
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(text)
    print(text)
    log(f"wrote {OUTPUT}")

    failed = [r["name"] for r in http_rows if r.get("failed") or r.get("http_errors") or r.get("check_failed")]
    failed += commissions_bench.failed(commission_results) + crowdfunds_bench.failed(crowdfund_results)
    failed += envelopes_bench.failed(envelope_results) + wechat_v3_bench.failed(wechat_results)
    failed += [r["name"] for r in me_rows if r.get("failed") or r.get("http_errors")]
    if failed or not audit_ok:
        log(f"FAILED: endpoints {failed or 'ok'}, ledger audit {'ok' if audit_ok else 'FAILED'}")
        return 1
    return 0


def main_only() -> int:
    """BENCH_ONLY=<section>: a fresh bench database, that section's rows, and only its part of the report."""
    if ONLY not in ONLY_SECTIONS:
        raise BenchError(f"BENCH_ONLY={ONLY!r}: only {', '.join(ONLY_SECTIONS)} can run alone (unset it for all)")
    if ONLY == "crowdfunds":
        return main_only_crowdfunds()
    if ONLY == "envelopes":
        return main_only_envelopes()
    if ONLY == "wechat":
        return main_only_wechat()
    reset_database()
    log("migrating")
    run_django(["manage.py", "migrate", "--noinput", "-v", "0"])
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # our own db only
    results = commissions_bench.run(PY, ROOT, DJANGO_ENV)
    audit_ok = audit_ledger()
    section = commissions_bench.section(results)
    before = OUTPUT.read_text() if OUTPUT.exists() else "# Benchmarks\n"
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(commissions_bench.splice(before, section))
    print(section)
    log(f"replaced the {ONLY} section of {OUTPUT}")
    failed = commissions_bench.failed(results)
    if failed or not audit_ok:
        log(f"FAILED: {failed or 'rows ok'}, ledger audit {'ok' if audit_ok else 'FAILED'}")
        return 1
    return 0


def main_only_crowdfunds() -> int:
    """BENCH_ONLY=crowdfunds: a fresh bench database with only the crowdfund rows' data; the bare
    baseline and the crowdfund HTTP rows in one gunicorn run (the baseline again at the end), the
    race and the profile; only the crowdfunds section of the report is replaced."""
    ensure_wrk()
    prepare_data("seed_crowdfunds.py")
    meta = machine_and_versions()
    meta["server"] = server_description()
    meta["sandbox_server"] = sandbox_description()
    meta["wrk_command"] = " ".join(wrk_command(SECONDS))
    endpoints = [e for e in ENDPOINTS if e.get("baseline") or e.get("section") == crowdfunds_bench.SECTION]
    rows, results = bench_http("", endpoints, during=lambda port: crowdfunds_bench.during(PY, ROOT, DJANGO_ENV, port))
    audit_ok = audit_ledger()
    meta["load_end"] = _load()
    section = crowdfunds_bench.section(meta=meta, http_rows=rows, results=results, alone=True)
    before = OUTPUT.read_text() if OUTPUT.exists() else "# Benchmarks\n"
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(crowdfunds_bench.splice(before, section))
    print(section)
    log(f"replaced the {ONLY} section of {OUTPUT}")
    failed = [r["name"] for r in rows if r.get("failed") or r.get("http_errors") or r.get("check_failed")]
    failed += crowdfunds_bench.failed(results)
    if failed or not audit_ok:
        log(f"FAILED: {failed or 'rows ok'}, ledger audit {'ok' if audit_ok else 'FAILED'}")
        return 1
    return 0


def main_only_envelopes() -> int:
    """BENCH_ONLY=envelopes: a fresh bench database with only the red-envelope rows' data; the bare
    baseline and the two grab rows in one gunicorn run (the baseline again at the end), the
    in-process grabs and the profile while it is up; then /api/v1/me/ with the token cache off
    and on (bench_me_pair); only the envelopes section of the report is replaced."""
    ensure_wrk()
    prepare_data("seed_envelopes.py")
    meta = machine_and_versions()
    meta["server"] = server_description()
    meta["wrk_command"] = " ".join(wrk_command(SECONDS))
    endpoints = [e for e in ENDPOINTS if e.get("baseline") or e["path"] == "/livez"
                 or e.get("section") == envelopes_bench.SECTION]
    rows, results = bench_http("", endpoints, during=lambda port: envelopes_bench.during(PY, ROOT, DJANGO_ENV, port))
    me_rows = bench_me_pair()
    audit_ok = audit_ledger()
    meta["load_end"] = _load()
    section = envelopes_bench.section(meta=meta, http_rows=rows, results=results, me_rows=me_rows, alone=True)
    before = OUTPUT.read_text() if OUTPUT.exists() else "# Benchmarks\n"
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(envelopes_bench.splice(before, section))
    print(section)
    log(f"replaced the {ONLY} section of {OUTPUT}")
    failed = [r["name"] for r in rows + me_rows if r.get("failed") or r.get("http_errors") or r.get("check_failed")]
    failed += envelopes_bench.failed(results)
    if failed or not audit_ok:
        log(f"FAILED: {failed or 'rows ok'}, ledger audit {'ok' if audit_ok else 'FAILED'}")
        return 1
    return 0


def main_only_wechat() -> int:
    """BENCH_ONLY=wechat: a fresh bench database, the WeChat Pay APIv3 rows (bench/wechat_v3_bench.py,
    no HTTP) and only their section of the report."""
    reset_database()
    log("migrating")
    run_django(["manage.py", "migrate", "--noinput", "-v", "0"])
    import redis

    redis.Redis.from_url(REDIS_URL).flushdb()  # our own db only
    results = wechat_v3_bench.run(PY, ROOT, DJANGO_ENV)
    section = wechat_v3_bench.section(results)
    before = OUTPUT.read_text() if OUTPUT.exists() else "# Benchmarks\n"
    OUTPUT.parent.mkdir(parents=True, exist_ok=True)
    OUTPUT.write_text(wechat_v3_bench.splice(before, section))
    print(section)
    log(f"replaced the {ONLY} section of {OUTPUT}")
    failed = wechat_v3_bench.failed(results)
    if failed:
        log(f"FAILED: {failed}")
        return 1
    return 0


if __name__ == "__main__":
    try:
        sys.exit(main())
    except KeyboardInterrupt:
        log("interrupted")
        sys.exit(130)
    except (BenchError, subprocess.CalledProcessError) as exc:
        log(f"error: {exc}")
        sys.exit(2)
