#!/usr/bin/env bash
# The whole suite twice: on PostgreSQL + Redis, then on SQLite without Redis.
# Extra arguments go to pytest (e.g. scripts/test.sh -k ledger).
set -uo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python

PG_URL=${TEST_DATABASE_URL:-postgres://postgres@127.0.0.1:5432/fenxiao}
TEST_REDIS_URL=${TEST_REDIS_URL:-redis://127.0.0.1:6379/15}

bash scripts/browser.sh  # headless Chromium for tests/h5/browser/ (apt when missing)

echo "=== suite 1/2: PostgreSQL + Redis ($PG_URL, $TEST_REDIS_URL)"
DATABASE_URL=$PG_URL REDIS_URL=$TEST_REDIS_URL $PY -m pytest "$@"
first=$?

echo "=== suite 2/2: SQLite, no Redis"
DATABASE_URL=sqlite:///$(pwd)/.test-sqlite.db REDIS_URL= CELERY_BROKER_URL= $PY -m pytest "$@"
second=$?

echo "=== PostgreSQL+Redis: exit $first; SQLite: exit $second"
[ $first -eq 0 ] && [ $second -eq 0 ]
