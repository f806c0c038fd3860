#!/usr/bin/env bash
# `make run`: migrate, create the demo tenants, then run the ASGI web server, a Celery worker,
# Celery beat and the simulated fleet of the demo tenant in the foreground. Ctrl-C (or SIGTERM)
# stops all of them cleanly; if one of them dies the others are stopped too.
# Each process logs in full to $RUN_LOG_DIR/<name>.log (default .logs/); the console gets the
# banner, their warnings and errors (scripts/log_tee.py) and a report if one of them dies.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
BIN="$VENV/bin"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"
LOG_DIR="${RUN_LOG_DIR:-.logs}"
mkdir -p "$LOG_DIR"
export PYTHONUNBUFFERED=1  # log lines reach the files as they happen, not a buffer later

"$BIN/python" manage.py migrate --noinput -v0
LOGINS="$("$BIN/python" manage.py demo_setup --simulate "${SIM_DEVICES:-24}" \
  --history-hours "${SIM_HISTORY_HOURS:-24}" --state-dir "${SIM_STATE_DIR:-.simulator}")"

pids=() names=() tees=()
# start NAME COMMAND…: COMMAND in the background, its output through the tee into NAME.log.
start() {
  local name=$1 out
  shift
  exec {out}> >(exec "$BIN/python" scripts/log_tee.py "$name" "$LOG_DIR/$name.log")
  tees+=($!)
  "$@" >&"$out" 2>&1 &
  pids+=($!) names+=("$name")
  exec {out}>&-
}
# await_exit SECONDS PID…: wait until none of the processes is left, at most SECONDS.
await_exit() {
  local deadline=$((SECONDS + $1)) pid alive
  shift
  while [ "$SECONDS" -le "$deadline" ]; do
    alive=0
    for pid in "$@"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && return 0
    sleep 0.1
  done
  return 1
}
stop() {
  trap - INT TERM
  echo "[run] stopping…" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  await_exit 10 "${pids[@]}" || true
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  # The tees end with their input; they then hold the processes' last lines.
  await_exit 5 "${tees[@]}" || true
  echo "[run] stopped" >&2
}
trap 'stop; exit 0' INT TERM

# Email and text messages: unless EMAIL_URL / SMS_BACKEND point at real services, a local SMTP
# sink and a stand-in for Twilio's Messages API keep what the platform "sends" in
# $LOG_DIR/mail/ and $LOG_DIR/sms/ (index.log, messages.jsonl), the real senders' code path.
export PUBLIC_URL="${PUBLIC_URL:-http://$HOST:$PORT}"
if [ -z "${EMAIL_URL:-}" ]; then
  export EMAIL_URL="smtp://127.0.0.1:${MAIL_SINK_PORT:-8025}"
  start mail "$BIN/python" -m iotplatform.devservers.mail_sink --port "${MAIL_SINK_PORT:-8025}" \
    --dir "$LOG_DIR/mail"
fi
if [ -z "${SMS_BACKEND:-}" ]; then
  export SMS_BACKEND=twilio SMS_URL="http://127.0.0.1:${SMS_GATEWAY_PORT:-8026}" \
    SMS_ACCOUNT_SID="AC00000000000000000000000000000000" SMS_AUTH_TOKEN="development" \
    SMS_FROM="+15005550006"
  start sms "$BIN/python" -m iotplatform.devservers.sms_gateway \
    --port "${SMS_GATEWAY_PORT:-8026}" --dir "$LOG_DIR/sms" \
    --account-sid "$SMS_ACCOUNT_SID" --auth-token "$SMS_AUTH_TOKEN"
fi

# MQTT: the platform's broker (Mosquitto with the platform's plugin) and the bridge that feeds
# what devices publish into the ingestion pipeline (and keeps the broker's credentials file).
MQTT_PORT="${MQTT_PORT:-1884}"
export MQTT_URL="mqtt://127.0.0.1:$MQTT_PORT"
start broker bash scripts/broker.sh run "$MQTT_PORT"
start mqtt "$BIN/python" manage.py mqtt_ingest
start web "$BIN/python" -m iotplatform.server --host "$HOST" --port "$PORT" \
  --workers "${WEB_WORKERS:-1}"
start worker "$BIN/celery" -A iotplatform worker --loglevel INFO \
  --concurrency "${CELERY_CONCURRENCY:-2}" --hostname "worker@%h"
start beat "$BIN/celery" -A iotplatform beat --loglevel INFO
start alerts "$BIN/python" manage.py alerts_evaluate

URL="http://$HOST:$PORT/"
for _ in $(seq 1 150); do
  curl -fs -o /dev/null "${URL}accounts/login/" && break
  sleep 0.2
done
# The demo plant: the supervisor runs Acme Plant's simulated fleet (reporting through the public
# device API) and whatever fleets operators start or stop from the API.
start simulator "$BIN/python" manage.py simulator_supervise --url "http://127.0.0.1:$PORT" \
  --state-dir "${SIM_STATE_DIR:-.simulator}"
cat <<BANNER

================================================================
 IoT Platform is up at $URL  (simulated fleet: ${SIM_DEVICES:-24} devices of Acme Plant)
 Admin: ${URL}admin/   API docs: ${URL}api/docs/   Health: ${URL}healthz
$LOGINS
 Devices over MQTT: $MQTT_URL (username: the device's token; topic v1/devices/me/telemetry)
 Logs: $LOG_DIR/ (web.log, worker.log, beat.log, alerts.log, simulator.log, broker.log, mqtt.log); warnings and errors show here.
 Alarm emails and text messages "sent": $LOG_DIR/mail/ (index.log, *.eml) and $LOG_DIR/sms/messages.jsonl
 Ctrl-C stops everything.
================================================================

BANNER

set +e
wait -n "${pids[@]}"
status=$?
dead=""
for i in "${!pids[@]}"; do kill -0 "${pids[$i]}" 2>/dev/null || dead="${names[$i]}"; done
echo "[run] ${dead:-a process} exited (status $status); stopping the rest" >&2
stop
if [ -n "$dead" ]; then
  echo "[run] the last lines of $LOG_DIR/$dead.log:" >&2
  tail -n 20 "$LOG_DIR/$dead.log" | sed "s/^/[$dead] /" >&2
fi
exit "$status"
