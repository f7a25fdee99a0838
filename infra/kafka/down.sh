#!/usr/bin/env bash
# Stops the broker started by up.sh: SIGTERM (a controlled shutdown that flushes the log),
# then SIGKILL if it has not exited within KAFKA_STOP_TIMEOUT seconds (30). Idempotent.
set -euo pipefail
# shellcheck source=infra/kafka/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
timeout_s="${KAFKA_STOP_TIMEOUT:-30}"
mkdir -p "$RUN_DIR"
exec 9>"$RUN_DIR/.lock"
flock 9

if ! pid="$(running_pid)"; then
  rm -f "$PID_FILE"
  log "not running"
  exit 0
fi
started_at=$(date +%s%N)
kill -TERM "$pid" 2>/dev/null || true
deadline=$((SECONDS + timeout_s))
while kill -0 "$pid" 2>/dev/null && ((SECONDS < deadline)); do
  sleep 0.1
done
if kill -0 "$pid" 2>/dev/null; then
  log "pid $pid still running after ${timeout_s}s: sending SIGKILL"
  kill -KILL "$pid" 2>/dev/null || true
  while kill -0 "$pid" 2>/dev/null; do sleep 0.05; done
fi
rm -f "$PID_FILE"
log "stopped (pid $pid, $((($(date +%s%N) - started_at) / 1000000)) ms)"
