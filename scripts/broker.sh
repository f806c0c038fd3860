#!/usr/bin/env bash
# The platform's MQTT broker: Mosquitto with the platform's plugin (broker/iot_auth.c: device
# tokens and gateway keys, per-device topics, "me" resolved, commands handed to devices).
#   scripts/broker.sh build          install what it needs (Debian) and build .broker/iot_auth.so
#   scripts/broker.sh run [PORT]     build, then run the broker in the foreground (make run)
# The plugin reads MQTT_CREDENTIALS_FILE (default .broker/credentials), which the bridge
# (manage.py mqtt_ingest) keeps in step with the platform's credentials.
set -euo pipefail
cd "$(dirname "$0")/.."
log() { echo "[broker] $*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }
DIR="$(pwd)/.broker"
PLUGIN="$DIR/iot_auth.so"

build() {
  local missing=()
  [ -x /usr/sbin/mosquitto ] || missing+=(mosquitto)
  [ -f /usr/include/mosquitto_broker.h ] || missing+=(mosquitto-dev)
  [ -f /usr/include/mosquitto.h ] || missing+=(libmosquitto-dev)
  [ -f /usr/include/openssl/evp.h ] || missing+=(libssl-dev)
  command -v gcc >/dev/null || missing+=(gcc)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" >/dev/null
  fi
  # The plugin is built for the broker's own version (what the broker frees after a plugin
  # rewrites a topic changed in 2.0.15): the headers must be that version.
  local running headers
  running=$(/usr/sbin/mosquitto -h 2>/dev/null | sed -n 's/^mosquitto version \([0-9.]*\).*/\1/p' || true)
  headers=$(awk '/define LIBMOSQUITTO_(MAJOR|MINOR|REVISION) /{v = v (v ? "." : "") $3} END {print v}' \
    /usr/include/mosquitto.h)
  if [ "$running" != "$headers" ]; then
    log "mosquitto is version ${running:-unknown} but its headers are $headers: install the matching mosquitto-dev"
    exit 1
  fi
  mkdir -p "$DIR"
  if [ ! -f "$PLUGIN" ] || [ broker/iot_auth.c -nt "$PLUGIN" ]; then
    log "building $PLUGIN"
    gcc -O2 -Wall -Wextra -Werror -fPIC -shared broker/iot_auth.c -o "$PLUGIN" -lcrypto
  fi
}

# config PORT CREDENTIALS DATA_DIR: the broker's configuration on stdout.
config() {
  cat <<CONF
per_listener_settings false
user $(id -un)
listener $1 127.0.0.1
allow_anonymous false
plugin $PLUGIN
plugin_opt_credentials_file $2
persistence true
persistence_location $3/
autosave_interval 10
# the bridge's persistent session holds what is published while it restarts
max_queued_messages 1000000
max_queued_bytes 0
max_inflight_messages 0
max_packet_size 4200000
log_type error
log_type warning
log_type notice
log_dest stdout
CONF
}

case "${1:-build}" in
  build) build ;;
  config) config "$2" "$3" "$4" ;;
  run)
    build
    port="${2:-1884}"
    credentials="${MQTT_CREDENTIALS_FILE:-$DIR/credentials}"
    [ -f "$credentials" ] || : >"$credentials"
    mkdir -p "$DIR/data"
    config "$port" "$credentials" "$DIR/data" >"$DIR/mosquitto.conf"
    log "Mosquitto with the platform's plugin on 127.0.0.1:$port"
    exec /usr/sbin/mosquitto -c "$DIR/mosquitto.conf"
    ;;
  *) echo "usage: $0 build | run [PORT]" >&2; exit 2 ;;
esac
