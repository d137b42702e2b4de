#!/usr/bin/env bash
# Make sure PostgreSQL and Redis answer on 127.0.0.1. Uses running ones; otherwise
# installs them from Debian's packages (apt) and starts them. Idempotent.
set -euo pipefail

PG_HOST=${PG_HOST:-127.0.0.1}
PG_PORT=${PG_PORT:-5432}
REDIS_HOST=${REDIS_HOST:-127.0.0.1}
REDIS_PORT=${REDIS_PORT:-6379}

SUDO=""
if [ "$(id -u)" != "0" ]; then SUDO="sudo"; fi

port_open() { (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; }

apt_updated=""
apt_install() {
  if [ -z "$apt_updated" ]; then $SUDO apt-get update -qq; apt_updated=1; fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "$@" >/dev/null
}

wait_for() {  # host port name
  for _ in $(seq 1 60); do port_open "$1" "$2" && return 0; sleep 0.5; done
  echo "ensure_services: $3 did not come up on $1:$2" >&2; return 1
}

# --- PostgreSQL -------------------------------------------------------------
if port_open "$PG_HOST" "$PG_PORT"; then
  echo "ensure_services: PostgreSQL is up on $PG_HOST:$PG_PORT"
else
  if ! ls /etc/postgresql/*/main >/dev/null 2>&1; then
    echo "ensure_services: installing PostgreSQL (apt)"
    apt_install postgresql postgresql-client
  fi
  ver=$(ls /etc/postgresql | sort -V | tail -n 1)
  conf=/etc/postgresql/$ver/main
  # Local test server: trust auth on loopback, listen on 127.0.0.1.
  if ! grep -q "fenxiao-test" "$conf/pg_hba.conf"; then
    $SUDO sed -i '1i # fenxiao-test: trust on loopback\nhost all all 127.0.0.1/32 trust\nhost all all ::1/128 trust\nlocal all all trust' "$conf/pg_hba.conf"
  fi
  echo "ensure_services: starting PostgreSQL $ver"
  $SUDO pg_ctlcluster --skip-systemctl-redirect "$ver" main start || $SUDO pg_ctlcluster "$ver" main start
  wait_for "$PG_HOST" "$PG_PORT" PostgreSQL
fi

# --- Redis ------------------------------------------------------------------
if port_open "$REDIS_HOST" "$REDIS_PORT"; then
  echo "ensure_services: Redis is up on $REDIS_HOST:$REDIS_PORT"
else
  if ! command -v redis-server >/dev/null 2>&1; then
    echo "ensure_services: installing Redis (apt)"
    apt_install redis-server
  fi
  echo "ensure_services: starting Redis"
  $SUDO redis-server --daemonize yes --bind 127.0.0.1 --port "$REDIS_PORT" --save "" --appendonly no
  wait_for "$REDIS_HOST" "$REDIS_PORT" Redis
fi
