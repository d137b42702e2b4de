"""Pure helpers of the bench: read wrk's summary, work out the ratios, render docs/benchmarks.md."""
from __future__ import annotations

import json

WRK_MARKER = "BENCH_JSON "


def parse_wrk(output: str) -> dict:
    """The figures of one wrk run, from the line bench/wrk.lua prints at the end.

    Returns requests/s, p50/p90/p99 in ms, HTTP errors (status >= 400) and socket errors.
    """
    for line in reversed(output.splitlines()):
        if line.startswith(WRK_MARKER):
            raw = json.loads(line[len(WRK_MARKER) :])
            break
    else:
        raise ValueError("wrk printed no BENCH_JSON line (was bench/wrk.lua loaded?)")
    seconds = raw["duration_us"] / 1e6
    return {
        "requests": raw["requests"],
        "rps": raw["requests"] / seconds if seconds else 0.0,
        "p50_ms": raw["p50_us"] / 1000,
        "p90_ms": raw["p90_us"] / 1000,
        "p99_ms": raw["p99_us"] / 1000,
        "http_errors": raw["status"],
        "socket_errors": {k: raw[k] for k in ("connect", "read", "write", "timeout") if raw[k]},
    }


def baseline_rps(rows: list[dict]) -> float | None:
    """The baseline's requests/s: the mean of its first run and, when there was one, its run at the end."""
    base = next((r for r in rows if r.get("baseline") and r.get("rps")), None)
    if base is None:
        return None
    runs = [base["rps"], *([base["rps_again"]] if base.get("rps_again") else [])]
    return sum(runs) / len(runs)


def add_ratios(rows: list[dict]) -> None:
    """Set each measured row's `ratio` to its rps over the baseline's rps (None when unknown)."""
    base = baseline_rps(rows)
    for row in rows:
        row["ratio"] = row["rps"] / base if base and row.get("rps") is not None else None
        if row.get("baseline") and row["ratio"] is not None:
            row["ratio"] = 1.0  # by definition: its rps cell shows the mean of its runs


def drift_note(rows: list[dict]) -> list[str]:
    base = next((r for r in rows if r.get("baseline") and r.get("rps_again")), None)
    if base is None:
        return []
    return [
        f"Drift check: the baseline gave {base['rps']:,.0f} requests/s first and {base['rps_again']:,.0f} when "
        f"run again after the other endpoints; ratios divide by their mean, {baseline_rps(rows):,.0f}. A wide "
        "gap means the machine's load changed during the run.",
        "",
    ]


def _num(value, fmt: str) -> str:
    return "—" if value is None else format(value, fmt)


def _errors_cell(row: dict) -> str:
    if row.get("failed"):
        return f"**pre-check failed: {row['failed']}**"
    parts = []
    if row["http_errors"]:
        parts.append(f"**{row['http_errors']} of {row['requests']}**")
    else:
        parts.append("0")
    if row["socket_errors"]:
        parts.append("socket " + ", ".join(f"{k} {v}" for k, v in row["socket_errors"].items()))
    if row.get("check_failed"):
        parts.append("**check failed** (below)")
    return "; ".join(parts)


def http_table(rows: list[dict]) -> list[str]:
    lines = [
        "| endpoint | request | requests/s | p50 ms | p99 ms | ratio to bare | non-2xx |",
        "| --- | --- | ---: | ---: | ---: | ---: | --- |",
    ]
    for r in rows:
        request = f"`{r.get('method', 'GET')} {r['path']}`" + (" (Bearer)" if r.get("auth") else "")
        rps = _num(r.get("rps"), ",.0f")
        if r.get("baseline") and r.get("rps_again"):
            rps = f"{baseline_rps(rows):,.0f} ({r['rps']:,.0f}, then {r['rps_again']:,.0f})"
        lines.append(
            f"| {r['name']} | {request} | {rps} | {_num(r.get('p50_ms'), '.1f')} "
            f"| {_num(r.get('p99_ms'), '.1f')} | {_num(r.get('ratio'), '.2f')} | {_errors_cell(r)} |"
        )
    return lines


def ledger_table(rows: list[dict]) -> list[str]:
    lines = [
        "| scenario | processes | accounts | postings/s | errors |",
        "| --- | ---: | --- | ---: | --- |",
    ]
    for r in rows:
        errors = ", ".join(f"{k} {v}" for k, v in r["errors"].items()) or "0"
        lines.append(
            f"| {r['name']} | {r['processes']} | {r['accounts']} | {r['rate']:,.0f} | {errors} |"
        )
    return lines


HOW_TO_READ = """\
## How to read this

- **requests/s** is what the whole server (all gunicorn workers) answered per second with
  {connections} connections open; **p50/p99** are the latencies wrk saw, queueing included.
- **ratio to bare** is the endpoint's requests/s divided by the bare Django endpoint's
  requests/s *from the same run*. It is the number to compare between runs and machines:
  both figures share the machine, its load and its noise, so the ratio says what our stack
  (DRF, auth, throttling, queries) costs on top of Django itself. Absolute figures move with
  the machine and with whatever else runs on it ({load_note}).
- wrk runs on the same machine as gunicorn, PostgreSQL and Redis, so they compete for the
  {cores} core(s); figures are a floor, not a capacity plan.
- **non-2xx** counts responses with status ≥ 400 (wrk's "Non-2xx or 3xx" counter); every
  endpoint must answer its expected status (200 unless the row says otherwise, e.g. 201 for
  order creation) to a single request before it is loaded. A row with errors, or whose
  check after the run failed, is not a valid figure.
- **postings/s** is `ledger.services.ledger_post` called in a loop (1-fen transfers between
  two wallets, each a locked, balanced, idempotent transaction) with no HTTP in front.
  Each posting is one commit, so with `synchronous_commit=on` the WAL flush to disk often sets the pace.
  *Distinct accounts* shows how postings scale with processes; *shared accounts* shows the
  cost of row-lock contention, since both processes queue on the same two account rows.
"""


def noisy_note(meta: dict) -> list[str]:
    """A warning above the figures when the machine was busy before the run or after it (other work)."""
    load = max(float(meta[key].split()[0]) for key in ("load_start", "load_end") if meta.get(key))
    if load < 0.5 * meta["cores"]:
        return []
    return [
        f"**Noisy run:** the 1-minute load average reached {load:.2f} on {meta['cores']} core(s) before or after "
        "the bench (other work was running), so the absolute figures below are low and jumpy. Compare the "
        "*ratio to bare* column: the bare endpoint and the others were measured in the same run, under the "
        "same load.",
        "",
    ]


def render(meta: dict, http_rows: list[dict], ledger_rows: list[dict]) -> str:
    m = meta
    elsewhere = sorted({r["section"] for r in http_rows if r.get("section")})
    http_rows = [r for r in http_rows if not r.get("section")]  # rows of another section are shown there
    lines = [
        "# Benchmarks",
        "",
        f"Written by `make bench` (`bench/run.py`) on {m['date']}. Do not edit by hand: run `make bench`",
        "again to refresh it. Endpoints are listed in `bench/endpoints.py`; later issues append rows there.",
        "",
        "## Machine and versions",
        "",
        "| | |",
        "| --- | --- |",
        f"| CPU | {m['cpu_model']} |",
        f"| cores (nproc) | {m['cores']} |",
        f"| memory | {m['memory']} |",
        f"| OS | {m['os']} |",
        f"| load average at start / end | {m['load_start']} / {m.get('load_end', '—')} |",
        f"| Python | {m['python']} |",
        f"| Django / DRF / gunicorn / psycopg | {m['django']} / {m['drf']} / {m['gunicorn']} / {m['psycopg']} |",
        f"| PostgreSQL server | {m['postgres']} |",
        f"| Redis server | {m['redis']} |",
        f"| wrk | {m['wrk']} |",
        "",
        "## HTTP endpoints",
        "",
        f"Server: {m['server']}.",
        "",
        f"Load: `{m['wrk_command']}` per endpoint, after a {m['warmup']} s warm-up run of the same command.",
        "",
        *noisy_note(m),
        *http_table(http_rows),
        "",
        *drift_note(http_rows),
    ]
    lines += [f"- *{r['name']}*: {r['note']}" for r in http_rows if r.get("note")]
    lines += [f"- *{r['name']}*, checked after the run: {r['check']}" for r in http_rows if r.get("check")]
    if elsewhere:
        lines += ["", "Measured in the same run, shown with this baseline in their own section below: the "
                  + ", ".join(elsewhere) + " rows."]
    lines += [
        "",
        "## Ledger postings per second (no HTTP)",
        "",
        f"Each process sets Django up against the same PostgreSQL database and posts for {m['ledger_seconds']} s.",
        f"Ledger audit after the runs: **{m['audit']}**.",
        "",
        *ledger_table(ledger_rows),
        "",
        HOW_TO_READ.format(
            connections=m["connections"],
            cores=m["cores"],
            load_note=m["load_note"],
        ),
    ]
    return "\n".join(lines).rstrip() + "\n"
