#!/usr/bin/env bash
# make fuzz: Schemathesis against a live server, the way a client sees the API.
#
# Starts gunicorn on a free port over a fresh database with the demo data (load_demo), logs in a
# shopper (the WeChat sandbox's OAuth) and the operator, and runs `schemathesis run` against
# /api/schema/ once with each token, every phase (examples, coverage, fuzzing, stateful). The
# checks: no server error, status codes, content types, response headers and bodies as the schema
# documents them. Exit 0 only when both runs end with no failure.
#
#   FUZZ_EXAMPLES       test cases per operation and phase (default 30; CI uses a few)
#   FUZZ_DATABASE_URL   the database to create afresh (default: PostgreSQL fx_fuzz on 127.0.0.1,
#                       else a SQLite file); it is dropped and made again on every run
#   FUZZ_REDIS_URL      a Redis db the run may empty (default redis://127.0.0.1:6379/13)
#   FUZZ_PORT           the port (default: a free one)
#   FUZZ_SEED           Hypothesis seed (default: random; printed by Schemathesis)
#   FUZZ_REPORT_DIR     where the JUnit reports go (default /tmp/fenxiao-fuzz)
# Extra arguments go to both `schemathesis run` calls (e.g. --include-path-regex /orders).
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
ST=.venv/bin/schemathesis

EXAMPLES=${FUZZ_EXAMPLES:-30}
REPORT_DIR=${FUZZ_REPORT_DIR:-${TMPDIR:-/tmp}/fenxiao-fuzz}
PORT=${FUZZ_PORT:-$($PY -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')}
BASE=http://127.0.0.1:$PORT

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }
if [ -z "${FUZZ_DATABASE_URL:-}" ]; then
  if port_open 127.0.0.1 5432; then FUZZ_DATABASE_URL=postgres://postgres@127.0.0.1:5432/fx_fuzz
  else FUZZ_DATABASE_URL=sqlite:///${TMPDIR:-/tmp}/fenxiao-fuzz.db; fi
fi
FUZZ_REDIS_URL=${FUZZ_REDIS_URL-redis://127.0.0.1:6379/13}

export DATABASE_URL=$FUZZ_DATABASE_URL REDIS_URL=$FUZZ_REDIS_URL
export DEBUG=1 CELERY_TASK_ALWAYS_EAGER=1 CELERY_BROKER_URL= PUBLIC_BASE_URL=$BASE
export MEDIA_ROOT=${FUZZ_MEDIA_ROOT:-${TMPDIR:-/tmp}/fenxiao-fuzz-media}
# The limits are the API's, not the fuzzer's: high enough that the run tests the endpoints.
export THROTTLE_USER=100000/min THROTTLE_ANON=100000/min THROTTLE_LOGIN=100000/min THROTTLE_GRAB=100000/min
export DEMO_OPERATOR_PASSWORD=${DEMO_OPERATOR_PASSWORD:-fuzz-$RANDOM-$RANDOM-operator}

echo "=== fuzz: fresh database $DATABASE_URL, Redis ${REDIS_URL:-none}, server $BASE"
$PY - <<'EOF'
import os
from urllib.parse import urlparse

url = urlparse(os.environ["DATABASE_URL"])
if url.scheme.startswith("postgres"):
    import psycopg

    name = url.path.lstrip("/")
    admin = url._replace(path="/postgres").geturl()
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        conn.execute(f'CREATE DATABASE "{name}"')
else:
    path = url.path
    if os.path.exists(path):
        os.remove(path)
if os.environ.get("REDIS_URL"):
    import redis

    redis.Redis.from_url(os.environ["REDIS_URL"]).flushdb()
EOF
$PY manage.py migrate --noinput -v 0
$PY manage.py load_demo >/dev/null

LOG=$(mktemp -t fenxiao-fuzz-server.XXXXXX)
# --limit-request-line 0: gunicorn's own 4 KiB cap on the request line answers an HTML 400 before
# Django sees the request; the fuzzer's long query strings are meant for the API's own checks.
.venv/bin/gunicorn config.wsgi -b "127.0.0.1:$PORT" --workers 2 --threads 4 --timeout 60 \
  --limit-request-line 0 --access-logfile /dev/null --error-logfile "$LOG" &
SERVER=$!
trap 'kill $SERVER 2>/dev/null; wait $SERVER 2>/dev/null || true' EXIT
for _ in $(seq 1 60); do port_open 127.0.0.1 "$PORT" && break; sleep 0.5; done

read -r SHOPPER OPERATOR < <($PY - <<'EOF'
import os

import requests

base = os.environ["PUBLIC_BASE_URL"]
code = requests.post(f"{base}/wechat-sandbox/oauth/code/", json={"openid": "o-demo-alice"}, timeout=30)
code.raise_for_status()
shopper = requests.post(f"{base}/api/v1/auth/wechat/", json={"code": code.json()["code"]}, timeout=30)
shopper.raise_for_status()
operator = requests.post(f"{base}/api/v1/auth/login/", timeout=30,
                         json={"username": "operator", "password": os.environ["DEMO_OPERATOR_PASSWORD"]})
operator.raise_for_status()
print(shopper.json()["token"], operator.json()["token"])
EOF
)

mkdir -p "$REPORT_DIR"
# Schemathesis keeps its replay cache in ./.schemathesis unless told: keep it with the reports.
printf '[cache]\ndirectory = "%s/cache"\n' "$REPORT_DIR" > "$REPORT_DIR/schemathesis.toml"
CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance
status=0
for who in shopper operator; do
  token=$SHOPPER; [ "$who" = operator ] && token=$OPERATOR
  echo "=== fuzz as the $who: $EXAMPLES examples per operation, phases examples,coverage,fuzzing,stateful"
  # POST /auth/logout/ would revoke the very token the run uses: every later case would be a 401.
  # One worker: with two, Hypothesis (not thread-safe) now and then stopped an operation with an
  # internal "Inconsistent results" error of its own.
  $ST --config-file "$REPORT_DIR/schemathesis.toml" run "$BASE/api/schema/" \
    --header "Authorization: Bearer $token" \
    --checks "$CHECKS" \
    --phases examples,coverage,fuzzing,stateful \
    --max-examples "$EXAMPLES" \
    --workers 1 \
    --request-timeout 30 \
    --exclude-operation-id v1_auth_logout_create \
    ${FUZZ_SEED:+--seed "$FUZZ_SEED"} \
    --suppress-health-check all \
    --report junit --report-junit-path "$REPORT_DIR/$who.xml" \
    "$@" || status=1
done
if grep -q "Traceback" "$LOG"; then
  echo "=== fuzz: the server logged tracebacks ($LOG):"; grep -A30 "Traceback" "$LOG" | head -120; status=1
fi
echo "=== fuzz: exit $status"
exit $status
