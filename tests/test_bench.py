"""The benchmark harness's pure parts: reading wrk's summary, ratios, the report, the endpoint list.

No timing is asserted; `make bench` itself is what measures.
"""
import json
import os
from pathlib import Path

import pytest
from django.urls import Resolver404, resolve

from bench import report
from bench.endpoints import ENDPOINTS

ROOT = Path(__file__).resolve().parent.parent


def _wrk_output(**overrides) -> str:
    raw = {
        "requests": 20000, "duration_us": 10_000_000, "bytes": 1, "p50_us": 4000, "p90_us": 6000,
        "p99_us": 12500, "max_us": 30000, "mean_us": 4200.5,
        "connect": 0, "read": 0, "write": 0, "status": 0, "timeout": 0,
    }  # fmt: skip
    raw.update(overrides)
    return "Running 10s test @ http://127.0.0.1:1/livez\n  2 threads\nBENCH_JSON " + json.dumps(raw) + "\n"


def test_parse_wrk_reads_rate_latencies_and_errors():
    result = report.parse_wrk(_wrk_output(status=7, read=3))
    assert result["rps"] == 2000
    assert (result["p50_ms"], result["p99_ms"]) == (4.0, 12.5)
    assert result["http_errors"] == 7
    assert result["socket_errors"] == {"read": 3}


def test_parse_wrk_without_the_summary_line_is_an_error():
    with pytest.raises(ValueError):
        report.parse_wrk("Running 10s test\nRequests/sec: 100\n")


def test_ratios_are_against_the_baseline_and_failed_rows_have_none():
    rows = [
        {"name": "api", "rps": 500.0},
        {"name": "bare", "rps": 2000.0, "baseline": True},
        {"name": "broken", "failed": "status 500, expected 200"},
    ]
    report.add_ratios(rows)
    assert [r["ratio"] for r in rows] == [0.25, 1.0, None]


def test_ratios_use_the_mean_of_both_baseline_runs_and_the_report_shows_the_drift():
    measured = report.parse_wrk(_wrk_output())
    rows = [
        {"name": "bare", "path": "/livez", **measured, "rps": 1500.0, "rps_again": 2500.0, "baseline": True},
        {"name": "api", "path": "/api", **measured, "rps": 500.0},
    ]
    report.add_ratios(rows)
    assert [r["ratio"] for r in rows] == [1.0, 0.25]
    assert "| 2,000 (1,500, then 2,500) |" in "\n".join(report.http_table(rows))
    assert "1,500 requests/s first and 2,500" in "\n".join(report.drift_note(rows))
    assert report.drift_note([{"name": "bare", "rps": 1.0, "baseline": True}]) == []


def test_report_flags_errors_and_failed_prechecks():
    ok = {"name": "bare", "path": "/livez", "baseline": True, **report.parse_wrk(_wrk_output())}
    bad = {"name": "me", "path": "/api/v1/me/", "auth": True, **report.parse_wrk(_wrk_output(status=12))}
    failed = {"name": "health", "path": "/api/v1/health/", "failed": "status 503, expected 200"}
    rows = [ok, bad, failed]
    report.add_ratios(rows)
    table = "\n".join(report.http_table(rows))
    assert "| bare | `GET /livez` | 2,000 | 4.0 | 12.5 | 1.00 | 0 |" in table
    assert "**12 of 20000**" in table
    assert "**pre-check failed: status 503, expected 200**" in table


def test_a_failed_check_after_the_run_is_flagged_and_explained():
    base = {"name": "bare", "path": "/livez", "baseline": True, **report.parse_wrk(_wrk_output())}
    checked = {"name": "notify", "path": "/n", "method": "POST", **report.parse_wrk(_wrk_output()),
               "check": "3 paid. PROBLEMS: 2 repeats", "check_failed": True}  # fmt: skip
    passed = {"name": "orders", "path": "/o", **report.parse_wrk(_wrk_output()), "check": "all paid"}
    rows = [base, checked, passed]
    report.add_ratios(rows)
    table = "\n".join(report.http_table(rows))
    assert "| 1.00 | 0; **check failed** (below) |" in table
    assert table.count("check failed") == 1
    text = report.render(_meta("0.1 0.1 0.1", "0.1 0.1 0.1"), rows, [])
    assert "- *notify*, checked after the run: 3 paid. PROBLEMS: 2 repeats" in text
    assert "- *orders*, checked after the run: all paid" in text


def test_endpoints_are_well_formed_and_routed():
    assert sum(1 for e in ENDPOINTS if e.get("baseline")) == 1
    names = [e["name"] for e in ENDPOINTS]
    assert len(names) == len(set(names))
    for endpoint in ENDPOINTS:
        assert endpoint.get("method", "GET") in {"GET", "POST", "PUT", "PATCH", "DELETE"}
        for key in ("lua", "check_script"):  # files of the repository, named from its root
            if endpoint.get(key):
                assert (ROOT / endpoint[key]).is_file(), f"{endpoint['name']}: no {endpoint[key]}"
        if endpoint.get("body"):
            json.loads(endpoint["body"])
        if endpoint.get("server") == "bare":  # served by bench/bare_app.py (test_the_bare_baseline_is_bare)
            assert endpoint["path"] == "/bare" and endpoint.get("baseline")
            continue
        try:
            resolve(endpoint["path"].split("?")[0])
        except Resolver404:
            pytest.fail(f"bench endpoint {endpoint['name']!r} has no route: {endpoint['path']}")


def test_the_bare_baseline_is_bare():
    """bench/bare_app.py in a process of its own: no middleware, no apps, no database, and /bare
    answers the small JSON (anything else 404)."""
    import subprocess
    import sys

    code = (
        "import io, json, wsgiref.util as u; import bench.bare_app as b; from django.conf import settings as s\n"
        "assert s.MIDDLEWARE == [] and s.INSTALLED_APPS == [] and not s.DATABASES.get('default', {}).get('NAME')\n"
        "out = []\n"
        "for path in ('/bare', '/livez'):\n"
        "    env = {'PATH_INFO': path, 'REQUEST_METHOD': 'GET', 'wsgi.input': io.BytesIO()}\n"
        "    u.setup_testing_defaults(env)\n"
        "    seen = {}\n"
        "    body = b''.join(b.application(env, lambda st, h, e=None: seen.update(st=st)))\n"
        "    out.append([seen['st'], body.decode() if path == '/bare' else ''])\n"
        "print(json.dumps(out))\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"}
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [["200 OK", '{"ok": true}'], ["404 Not Found", ""]]


def _meta(load_start: str, load_end: str) -> dict:
    return {
        "date": "2025-01-01 00:00 UTC", "cpu_model": "Test CPU", "cores": 2, "memory": "1.0 GiB", "os": "Debian",
        "load_start": load_start, "load_end": load_end, "python": "3.11", "django": "5.2", "drf": "3.16",
        "gunicorn": "23", "psycopg": "3.2", "postgres": "15", "redis": "7", "wrk": "wrk 4.1.0",
        "connections": 16, "warmup": 2, "ledger_seconds": 10, "server": "gunicorn", "wrk_command": "wrk URL",
        "audit": "balanced", "load_note": "quiet",
    }  # fmt: skip


@pytest.mark.parametrize(
    ("load_start", "load_end", "noisy"),
    [("0.20 0.10 0.05", "0.30 0.10 0.05", False), ("3.50 2.00 1.00", "0.30 0.10 0.05", True),
     ("0.20 0.10 0.05", "2.50 1.00 0.50", True)],
)  # fmt: skip
def test_render_writes_every_section_and_warns_on_a_busy_machine(load_start, load_end, noisy):
    rows = [{"name": "bare", "path": "/livez", "baseline": True, "note": "ceiling", **report.parse_wrk(_wrk_output())}]
    report.add_ratios(rows)
    ledger = [{"name": "single process", "processes": 1, "accounts": "a+b", "rate": 123.4, "errors": {}}]
    text = report.render(_meta(load_start, load_end), rows, ledger)
    for heading in ("## Machine and versions", "## HTTP endpoints", "## Ledger postings", "## How to read this"):
        assert heading in text
    assert "| single process | 1 | a+b | 123 | 0 |" in text
    assert "Test CPU" in text
    assert ("**Noisy run:**" in text) is noisy
