"""Post ledger transfers as fast as one process can, without HTTP.

    python bench/ledger_load.py --accounts 12,13 --seconds 10 --tag run1-0

Sets Django up, prints "ready", waits for a line on stdin (so that bench/run.py can
start several of these at the same moment), then posts 1-fen transfers back and
forth between the two wallets with ledger.services.ledger_post for the given time,
and prints one JSON line: {"postings", "seconds", "errors"}.
"""
import argparse
import json
import sys
import time
from collections import Counter

from _django import setup

setup()

from ledger.models import Account  # noqa: E402
from ledger.services import ledger_post  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--accounts", required=True, help="two account ids, comma-separated")
    parser.add_argument("--seconds", type=float, required=True)
    parser.add_argument("--tag", required=True, help="unique per process and run (idempotency keys)")
    args = parser.parse_args()

    ids = [int(x) for x in args.accounts.split(",")]
    accounts = Account.objects.in_bulk(ids)
    first, second = accounts[ids[0]], accounts[ids[1]]

    print("ready", flush=True)
    sys.stdin.readline()

    postings, errors = 0, Counter()
    started = time.perf_counter()
    deadline = started + args.seconds
    i = 0
    while time.perf_counter() < deadline:
        src, dst = (first, second) if i % 2 == 0 else (second, first)
        try:
            ledger_post(
                kind="bench.transfer",
                idempotency_key=f"bench:{args.tag}:{i}",
                legs=[(src, -1), (dst, 1)],
            )
            postings += 1
        except Exception as exc:  # noqa: BLE001 - counted and reported, the run goes on
            errors[type(exc).__name__] += 1
        i += 1
    elapsed = time.perf_counter() - started
    print(json.dumps({"postings": postings, "seconds": elapsed, "errors": dict(errors)}), flush=True)


if __name__ == "__main__":
    main()
