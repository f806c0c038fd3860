#!/usr/bin/env bash
# Builds (once) and starts a real PostgreSQL 17 + TimescaleDB on 127.0.0.1:$TSDB_PORT.
#
# TimescaleDB is not packaged for Debian 12, so it lives in a Debian trixie root made with
# debootstrap under a cache directory outside the checkout; a second run reuses the root and the
# data directory. The host's apt sources and libc are never touched. Idempotent: when the server
# already answers, this returns at once. `timescaledb.sh stop` and `restart` stop or restart the
# running server with pg_ctl's fast mode, as an operator does (bench/faults.py uses them);
# `timescaledb.sh client TOOL ARGS…` runs its pg_dump, pg_restore or psql (manage.py backup).
set -euo pipefail

CACHE_DIR="${IOT_CACHE_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/iotplatform}"
ROOT="$CACHE_DIR/tsdb-root"
PORT="${TSDB_PORT:-5433}"
PGBIN=/usr/lib/postgresql/17/bin
PGDATA=/var/lib/postgresql/17/iot

log() { echo "[timescaledb] $*" >&2; }

as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
case "${1:-}" in
  client)  # `timescaledb.sh client pg_dump ARGS…`: the server's own client tools (PostgreSQL 17,
    # which Debian 12's packages are older than), reading stdin and writing stdout as usual
    tool="$2"; shift 2
    if [ -x "$ROOT$PGBIN/$tool" ]; then exec chroot "$ROOT" "$PGBIN/$tool" "$@"; fi
    exec "$tool" "$@" ;;
  restart|stop)
    as_root chroot "$ROOT" su postgres -s /bin/sh -c \
      "$PGBIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -m fast -w -t 60 $1" >/dev/null
    exit 0 ;;
esac

if pg_isready -q -h 127.0.0.1 -p "$PORT" 2>/dev/null; then
  exit 0
fi

if [ ! -x "$ROOT$PGBIN/postgres" ] || [ ! -e "$ROOT/usr/lib/postgresql/17/lib/timescaledb.so" ]; then
  log "building a Debian trixie root with postgresql-17-timescaledb in $ROOT (once, ~2 min)"
  if ! command -v debootstrap >/dev/null; then
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
  fi
  MIRROR="$(awk '/^URIs:/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources)"
  rm -rf "$ROOT.partial"
  mkdir -p "$CACHE_DIR"
  as_root debootstrap --variant=minbase trixie "$ROOT.partial" "$MIRROR" >"$CACHE_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  printf '#!/bin/sh\nexit 101\n' >"$ROOT.partial/usr/sbin/policy-rc.d"
  chmod +x "$ROOT.partial/usr/sbin/policy-rc.d"
  mkdir -p "$ROOT.partial/etc/postgresql-common/createcluster.d"
  echo "create_main_cluster = false" >"$ROOT.partial/etc/postgresql-common/createcluster.d/00.conf"
  as_root mount -t proc proc "$ROOT.partial/proc"
  trap 'as_root umount "$ROOT.partial/proc" 2>/dev/null || true' EXIT
  as_root chroot "$ROOT.partial" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
    --no-install-recommends postgresql-17 postgresql-17-timescaledb >>"$CACHE_DIR/debootstrap.log" 2>&1 \
    || { tail -20 "$CACHE_DIR/debootstrap.log" >&2; exit 1; }
  as_root chroot "$ROOT.partial" apt-get clean
  as_root umount "$ROOT.partial/proc"
  trap - EXIT
  rm -rf "$ROOT"
  mv "$ROOT.partial" "$ROOT"
fi

in_root() { as_root chroot "$ROOT" "$@"; }

if [ ! -f "$ROOT$PGDATA/PG_VERSION" ]; then
  log "initdb in $ROOT$PGDATA"
  in_root install -d -o postgres -g postgres "$PGDATA" /var/run/postgresql
  in_root su postgres -s /bin/sh -c "$PGBIN/initdb -D $PGDATA -U postgres --auth=trust -E UTF8 --locale=C.UTF-8" >/dev/null
  cat >>"$ROOT$PGDATA/postgresql.conf" <<CONF
listen_addresses = '127.0.0.1'
port = $PORT
shared_preload_libraries = 'timescaledb'
timescaledb.telemetry_level = off
unix_socket_directories = '/var/run/postgresql'
dynamic_shared_memory_type = mmap
max_connections = 200
shared_buffers = 512MB
synchronous_commit = on
CONF
  echo "host all all 127.0.0.1/32 trust" >"$ROOT$PGDATA/pg_hba.conf"
  echo "local all all trust" >>"$ROOT$PGDATA/pg_hba.conf"
fi

in_root install -d -o postgres -g postgres /var/run/postgresql
log "starting PostgreSQL 17 + TimescaleDB on 127.0.0.1:$PORT"
in_root su postgres -s /bin/sh -c "$PGBIN/pg_ctl -D $PGDATA -l $PGDATA/server.log -w -t 60 start" >/dev/null \
  || { tail -20 "$ROOT$PGDATA/server.log" >&2; exit 1; }
