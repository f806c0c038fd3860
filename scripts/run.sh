#!/usr/bin/env bash
# `make run`: migrate, create the demo tenants, then run the ASGI web server, a Celery worker,
# Celery beat and the simulated fleet of the demo tenant in the foreground. Ctrl-C (or SIGTERM)
# stops all of them cleanly; if one of them dies the others are stopped too.
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${VENV:-.venv}"
BIN="$VENV/bin"
HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8000}"

"$BIN/python" manage.py migrate --noinput -v0
LOGINS="$("$BIN/python" manage.py demo_setup --simulate "${SIM_DEVICES:-24}" \
  --history-hours "${SIM_HISTORY_HOURS:-24}")"

pids=()
stop() {
  trap - INT TERM
  echo "[run] stopping…" >&2
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null || true; done
  for _ in $(seq 1 100); do
    alive=0
    for pid in "${pids[@]}"; do kill -0 "$pid" 2>/dev/null && alive=1; done
    [ "$alive" = 0 ] && break
    sleep 0.1
  done
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  echo "[run] stopped" >&2
}
trap 'stop; exit 0' INT TERM

"$BIN/uvicorn" iotplatform.asgi:application --host "$HOST" --port "$PORT" \
  --workers "${WEB_WORKERS:-1}" --no-access-log &
pids+=($!)
"$BIN/celery" -A iotplatform worker --loglevel INFO --concurrency "${CELERY_CONCURRENCY:-2}" \
  --hostname "worker@%h" &
pids+=($!)
"$BIN/celery" -A iotplatform beat --loglevel INFO &
pids+=($!)

URL="http://$HOST:$PORT/"
for _ in $(seq 1 150); do
  curl -fs -o /dev/null "${URL}accounts/login/" && break
  sleep 0.2
done
# The demo plant: the supervisor runs Acme Plant's simulated fleet (reporting through the public
# device API) and whatever fleets operators start or stop from the API.
"$BIN/python" manage.py simulator_supervise --url "http://127.0.0.1:$PORT" \
  --state-dir "${SIM_STATE_DIR:-.simulator}" &
pids+=($!)
cat <<BANNER

================================================================
 IoT Platform is up at $URL  (simulated fleet: ${SIM_DEVICES:-24} devices of Acme Plant)
 Admin: ${URL}admin/   API docs: ${URL}api/docs/   Health: ${URL}healthz
$LOGINS
 Ctrl-C stops everything.
================================================================

BANNER

set +e
wait -n "${pids[@]}"
status=$?
echo "[run] a process exited (status $status); stopping the rest" >&2
stop
exit "$status"
