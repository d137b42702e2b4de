"""After the red-envelope empty row (bench/run.py runs it once gunicorn has stopped): bench/envelope_checks.py
empty_check on the seeded envelope and bench/grab.lua's runs file; one JSON line for bench/run.py."""
import json

if __name__ == "__main__":
    from _django import setup

    setup()

from bench.envelope_checks import empty_check  # noqa: E402
from bench.seed_envelopes import EMPTY_RUNS_FILE, ENVELOPE_SEED_FILE  # noqa: E402


def main() -> None:
    seed = json.loads(ENVELOPE_SEED_FILE.read_text())["empty"]
    runs = [json.loads(line) for line in EMPTY_RUNS_FILE.read_text().splitlines() if line.strip()] \
        if EMPTY_RUNS_FILE.exists() else []
    print(json.dumps(empty_check(seed=seed, runs=runs),
                     ensure_ascii=False))


if __name__ == "__main__":
    main()
