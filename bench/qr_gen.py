"""Share-link image generation without HTTP and without the cache: how many QR codes (PNG,
SVG) and posters one process draws per second.

    python bench/qr_gen.py --seconds 5

Each render uses a new share URL (`PUBLIC_BASE_URL/s/<code>`), as a cache miss would, and
calls distributors.qr / distributors.poster directly. Prints one JSON line per kind:
{"kind", "renders", "seconds", "per_second", "ms_each", "bytes"}.

bench/run.py runs it after the HTTP and ledger rows (`qr_rows`) and appends `section(rows)`
to the report. The cached hit is an HTTP row of bench/endpoints.py.
"""
from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

KINDS = ("qr png", "qr svg", "poster png")


def _renderer(kind: str):
    from django.conf import settings

    from distributors import poster, qr
    from distributors.codes import code_generate

    base = settings.PUBLIC_BASE_URL.rstrip("/")
    if kind == "qr png":
        return lambda: qr.qr_render(data=f"{base}/s/{code_generate()}", kind=qr.PNG)
    if kind == "qr svg":
        return lambda: qr.qr_render(data=f"{base}/s/{code_generate()}", kind=qr.SVG)
    if kind == "poster png":
        return lambda: poster.poster_render(
            poster.PosterContent(
                title="云南普洱熟茶 357克 茶饼 2019年 古树春茶 礼盒装",
                price_fen=19900,
                image_url="https://img.example.com/not-fetched.jpg",  # remote: the placeholder is drawn
                nickname="分销达人",
                qr_data=f"{base}/s/{code_generate()}",
            )
        )
    raise ValueError(kind)


def measure(kind: str, seconds: float) -> dict:
    render = _renderer(kind)
    size = len(render())  # warm-up: imports, fonts
    renders = 0
    started = time.perf_counter()
    deadline = started + seconds
    while time.perf_counter() < deadline:
        render()
        renders += 1
    elapsed = time.perf_counter() - started
    return {
        "kind": kind,
        "renders": renders,
        "seconds": elapsed,
        "per_second": renders / elapsed if elapsed else 0.0,
        "ms_each": elapsed * 1000 / renders if renders else None,
        "bytes": size,
    }


def run(python: str, root: Path, env: dict, seconds: float) -> list[dict]:
    """Run this script in a subprocess (bench/run.py's environment) and return its rows."""
    done = subprocess.run(
        [python, str(root / "bench" / "qr_gen.py"), "--seconds", str(seconds)],
        cwd=root, env=env, capture_output=True, text=True, timeout=len(KINDS) * (seconds + 60), check=True,
    )  # fmt: skip
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def section(rows: list[dict]) -> str:
    lines = [
        "## Share-link images generated per second (no HTTP, no cache)",
        "",
        "`bench/qr_gen.py`: one process calls `distributors.qr.qr_render` / `distributors.poster.poster_render` "
        "in a loop, a new share URL each time (what a cache miss costs before the bytes are stored). QR: error "
        "correction M, 10 px per module; poster: 750×1200 with title, price, nickname and QR (no image download).",
        "",
        "| image | renders/s | ms each | bytes |",
        "| --- | ---: | ---: | ---: |",
    ]
    for r in rows:
        ms = "—" if r["ms_each"] is None else f"{r['ms_each']:.2f}"
        lines.append(f"| {r['kind']} | {r['per_second']:,.0f} | {ms} | {r['bytes']:,} |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=5.0, help="per kind")
    parser.add_argument("--kind", choices=KINDS, action="append", help="default: all")
    args = parser.parse_args()
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from _django import setup

    setup()
    for kind in args.kind or KINDS:
        print(json.dumps(measure(kind, args.seconds)), flush=True)


if __name__ == "__main__":
    main()
