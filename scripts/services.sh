#!/usr/bin/env bash
# `make services`: make sure PostgreSQL (+TimescaleDB), Redis and Mosquitto are reachable.
#
# A service whose URL is set in the environment (DATABASE_URL, REDIS_URL, MQTT_URL) is used as
# it is: we only wait for it. Otherwise a local one is reused when it answers, or installed from
# Debian's packages and started bound to 127.0.0.1. The URLs settled on are written to the
# git-ignored .env that the settings read, so any manage.py command works afterwards.
# Idempotent and quick when everything is already up.
set -euo pipefail
cd "$(dirname "$0")/.."

log() { echo "[services] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

# Values from an earlier .env are defaults; the real environment wins.
if [ -f .env ]; then
  while IFS='=' read -r key value; do
    case "$key" in
      DATABASE_URL|REDIS_URL|MQTT_URL) [ -z "${!key:-}" ] && export "$key=$value" ;;
    esac
  done < <(grep -E '^[A-Z_]+=' .env)
fi

APT_UPDATED=
apt_install() {
  [ -n "$APT_UPDATED" ] || { as_root apt-get update -qq; APT_UPDATED=1; }
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$@" >/dev/null
}

wait_tcp() {  # host port seconds
  local deadline=$(( $(date +%s) + $3 ))
  until (exec 3<>"/dev/tcp/$1/$2") 2>/dev/null; do
    [ "$(date +%s)" -lt "$deadline" ] || { log "nothing answers on $1:$2"; return 1; }
    sleep 0.3
  done
}

url_host() { python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.hostname or "127.0.0.1")' "$1"; }
url_port() { python3 -c 'import sys, urllib.parse as u; p=u.urlsplit(sys.argv[1]); print(p.port or sys.argv[2])' "$1" "$2"; }

# --- PostgreSQL + TimescaleDB -------------------------------------------------------------
command -v psql >/dev/null && command -v pg_isready >/dev/null || apt_install postgresql-client
if [ -z "${DATABASE_URL:-}" ]; then
  bash scripts/timescaledb.sh
  DATABASE_URL="postgres://postgres@127.0.0.1:${TSDB_PORT:-5433}/iotplatform"
fi
DB_HOST="$(url_host "$DATABASE_URL")"; DB_PORT="$(url_port "$DATABASE_URL" 5432)"
wait_tcp "$DB_HOST" "$DB_PORT" 60
# Create the database when the server is ours to use and it is missing.
python3 - "$DATABASE_URL" <<'PY' || log "could not check/create the database (is psql installed?)"
import subprocess, sys, urllib.parse as u
p = u.urlsplit(sys.argv[1])
name = p.path.lstrip("/")
admin = p._replace(path="/postgres").geturl().replace("postgres://", "postgresql://", 1)
exists = subprocess.run(["psql", admin, "-tAc", f"SELECT 1 FROM pg_database WHERE datname = '{name}'"],
                        capture_output=True, text=True, check=True).stdout.strip()
if not exists:
    subprocess.run(["psql", admin, "-qc", f'CREATE DATABASE "{name}"'], check=True)
    print(f"[services] created database {name}", file=sys.stderr)
PY

# --- Redis ----------------------------------------------------------------------------------
if [ -z "${REDIS_URL:-}" ]; then
  REDIS_URL="redis://127.0.0.1:6379/0"
  if ! (exec 3<>/dev/tcp/127.0.0.1/6379) 2>/dev/null; then
    command -v redis-server >/dev/null || apt_install redis-server
    log "starting redis-server on 127.0.0.1:6379"
    mkdir -p /tmp/iotplatform-redis
    redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
      --dir /tmp/iotplatform-redis --logfile /tmp/iotplatform-redis/redis.log
  fi
fi
wait_tcp "$(url_host "$REDIS_URL")" "$(url_port "$REDIS_URL" 6379)" 30

# --- Mosquitto ------------------------------------------------------------------------------
# The platform's broker is Mosquitto with the platform's plugin (scripts/broker.sh), run by
# `make run` and by the tests that need it (each on its own port); here it is only built. An
# MQTT_URL set in the environment names a broker that loads the plugin (docker/compose).
bash scripts/broker.sh build
case "${MQTT_URL:-}" in
  ""|mqtt://127.0.0.1:1883) MQTT_URL="mqtt://127.0.0.1:${MQTT_PORT:-1884}" ;;  # 1883: an older default
esac

# --- .env ------------------------------------------------------------------------------------
{
  [ -f .env ] && grep -vE '^(DATABASE_URL|REDIS_URL|MQTT_URL)=' .env || true
  echo "DATABASE_URL=$DATABASE_URL"
  echo "REDIS_URL=$REDIS_URL"
  echo "MQTT_URL=$MQTT_URL"
} >.env.tmp && mv .env.tmp .env
log "ready: DATABASE_URL=$DATABASE_URL REDIS_URL=$REDIS_URL MQTT_URL=$MQTT_URL"
