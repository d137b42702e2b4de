#!/usr/bin/env bash
# `make run`: migrate, load the demo data, serve on 127.0.0.1:$PORT (default 8000) with the
# periodic jobs running in the serving process (manage.py serve_dev; DEV_JOBS=0 turns them off).
#
# PUBLIC_BASE_URL (the address the WeChat sandbox, its payment notifications, OAuth redirects
# and share links use) follows PORT unless it is set in the environment or in .env: with
# PORT=8810 everything points at http://127.0.0.1:8810. Ctrl-C stops the server and the jobs.
set -euo pipefail
cd "$(dirname "$0")/.."

PORT=${PORT:-8000}
HOST=${HOST:-127.0.0.1}
if ! [[ "$PORT" =~ ^[0-9]+$ ]] || [ "$PORT" -lt 1 ] || [ "$PORT" -gt 65535 ]; then
    echo "run.sh: PORT must be a number from 1 to 65535, not '$PORT'" >&2
    exit 2
fi
if [ -z "${PUBLIC_BASE_URL:-}" ] && ! grep -qs '^[[:space:]]*PUBLIC_BASE_URL=' .env; then
    export PUBLIC_BASE_URL="http://$HOST:$PORT"
fi
export DEBUG=${DEBUG:-1}
export CELERY_TASK_ALWAYS_EAGER=${CELERY_TASK_ALWAYS_EAGER:-1}
PY=${PYTHON:-.venv/bin/python}

bash scripts/fonts.sh
"$PY" manage.py migrate --noinput
"$PY" manage.py load_demo
exec "$PY" manage.py serve_dev "$HOST:$PORT"
