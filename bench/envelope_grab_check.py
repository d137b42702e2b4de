"""After the red-envelope grab row (bench/run.py runs it once gunicorn has stopped): bench/envelope_checks.py
grab_check on the seeded envelope and bench/grab.lua's runs file; one JSON line for bench/run.py."""
import json
import os

if __name__ == "__main__":
    from _django import setup

    setup()

from bench.envelope_checks import grab_check  # noqa: E402
from bench.seed_envelopes import ENVELOPE_SEED_FILE, GRAB_RUNS_FILE  # noqa: E402


def main() -> None:
    seed = json.loads(ENVELOPE_SEED_FILE.read_text())["grab"]
    runs = [json.loads(line) for line in GRAB_RUNS_FILE.read_text().splitlines() if line.strip()] \
        if GRAB_RUNS_FILE.exists() else []
    print(json.dumps(grab_check(seed=seed, runs=runs, connections=int(os.environ.get("BENCH_CONNECTIONS", "16"))),
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
