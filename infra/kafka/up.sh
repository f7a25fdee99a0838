#!/usr/bin/env bash
# Starts a single-node Apache Kafka (KRaft, broker+controller in one JVM) on
# 127.0.0.1:$KAFKA_PORT (default 9092) from the jars fetched by fetch.sh, and returns once
# the broker answers metadata requests. Idempotent: a broker already started by this
# script is reused. Stop it with down.sh. See docs/kafka.md.
#
# Environment (all optional):
#   KAFKA_PORT             client port (9092); the controller listens on KAFKA_PORT+1
#   KAFKA_RUN_DIR          pid file, logs, config (infra/kafka/.run)
#   KAFKA_DATA_DIR         log.dirs ($KAFKA_RUN_DIR/data)
#   KAFKA_KEEP_DATA=1      keep topics and offsets from the previous run instead of a fresh cluster
#   KAFKA_START_TIMEOUT    seconds to wait for readiness (60)
#   KAFKA_HEAP_OPTS        JVM heap flags (-Xms256m -Xmx512m)
set -euo pipefail
# shellcheck source=infra/kafka/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"
started_at=$(date +%s%N)
timeout_s="${KAFKA_START_TIMEOUT:-60}"
bootstrap="127.0.0.1:$KAFKA_PORT"

mkdir -p "$RUN_DIR"
# One up/down at a time (two test runs starting together must not race to start two brokers).
exec 9>"$RUN_DIR/.lock"
flock 9
bash "$KAFKA_DIR/fetch.sh"
classpath="$JARS_DIR/*"
short_jvm=(-XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xshare:auto)

# The readiness probe is compiled once per jar set (javac takes about a second).
probe_dir="$JARS_DIR/probe"
if [[ ! -f "$probe_dir/ReadyProbe.class" || "$KAFKA_DIR/ReadyProbe.java" -nt "$probe_dir/ReadyProbe.class" ]]; then
  command -v javac >/dev/null || die "javac not found: a JDK (not only a JRE) 17+ is needed"
  javac -nowarn -d "$probe_dir" -cp "$classpath" "$KAFKA_DIR/ReadyProbe.java"
fi
probe() { java "${short_jvm[@]}" -Dorg.apache.logging.log4j.level=OFF -cp "$classpath:$probe_dir" ReadyProbe "$bootstrap" "$@"; }

if pid="$(running_pid)"; then
  probe 10000 "$pid" >/dev/null || die "broker pid $pid is running but not answering on $bootstrap (see $RUN_DIR/server.log; pnpm kafka:down)"
  log "already running (pid $pid) on $bootstrap"
  exit 0
fi
rm -f "$PID_FILE"
if port_open "$KAFKA_PORT"; then
  die "port $KAFKA_PORT is taken by another process: stop it, choose KAFKA_PORT, or point KAFKA_BROKERS at that broker"
fi
if port_open "$KAFKA_CONTROLLER_PORT"; then
  die "controller port $KAFKA_CONTROLLER_PORT is taken by another process: set KAFKA_CONTROLLER_PORT"
fi

config="$RUN_DIR/server.properties"
sed -e "s|@PORT@|$KAFKA_PORT|g" -e "s|@CONTROLLER_PORT@|$KAFKA_CONTROLLER_PORT|g" \
  -e "s|@DATA_DIR@|$KAFKA_DATA_DIR|g" "$KAFKA_DIR/server.properties.template" >"$config"
jvm_logging=(-Dkafka.logs.dir="$RUN_DIR" -Dlog4j2.configurationFile="$KAFKA_DIR/log4j2.properties")
: >"$RUN_DIR/server.log"

# A fresh cluster each start unless asked otherwise: tests never see another run's topics.
if [[ "${KAFKA_KEEP_DATA:-0}" != "1" || ! -f "$KAFKA_DATA_DIR/meta.properties" ]]; then
  rm -rf "$KAFKA_DATA_DIR"
  # A cluster id is 16 random bytes in URL-safe base64 without padding (what
  # `StorageTool random-uuid` prints); made here to save a JVM start. Kafka rejects ids
  # starting with '-', so draw again in that case.
  cluster_id="-"
  while [[ "$cluster_id" == -* ]]; do
    cluster_id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=')"
  done

  format_started=$(date +%s%N)
  java "${short_jvm[@]}" "${jvm_logging[@]}" -cp "$classpath" kafka.tools.StorageTool \
    format --cluster-id "$cluster_id" --config "$config" --standalone >"$RUN_DIR/format.log" 2>&1 \
    || { cat "$RUN_DIR/format.log" >&2; die "formatting KRaft storage in $KAFKA_DATA_DIR failed"; }
  format_ms=$((($(date +%s%N) - format_started) / 1000000))
fi

# setsid: the broker leaves the caller's process group, so a Ctrl-C in the terminal that
# ran `pnpm kafka:up` (or a test runner's group kill) does not take it down; down.sh does.
# 9>&-: the broker must not inherit the lock, or down.sh would wait for it forever.
# shellcheck disable=SC2086 # KAFKA_HEAP_OPTS is a list of flags
setsid java $KAFKA_HEAP_OPTS -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -Djava.awt.headless=true \
  "${jvm_logging[@]}" -cp "$classpath" kafka.Kafka "$config" \
  >"$RUN_DIR/kafka.out" 2>&1 </dev/null 9>&- &
pid=$!
printf '%s\n' "$pid" >"$PID_FILE"

if ! probe_out="$(probe "$((timeout_s * 1000))" "$pid" 2>&1)"; then
  {
    if kill -0 "$pid" 2>/dev/null; then
      printf 'kafka: error: broker did not become ready on %s within %ss: %s\n' "$bootstrap" "$timeout_s" "$probe_out"
    else
      printf 'kafka: error: the broker exited during start (see the logs below)\n'
    fi
    printf -- '--- tail of %s ---\n' "$RUN_DIR/server.log"
    tail -n 40 "$RUN_DIR/server.log" 2>/dev/null || true
    printf -- '--- tail of %s ---\n' "$RUN_DIR/kafka.out"
    tail -n 20 "$RUN_DIR/kafka.out" 2>/dev/null || true
  } >&2
  kill -KILL "$pid" 2>/dev/null || true
  rm -f "$PID_FILE"
  exit 1
fi
elapsed_ms=$((($(date +%s%N) - started_at) / 1000000))
log "Apache Kafka $KAFKA_VERSION ready on $bootstrap in ${elapsed_ms} ms (format ${format_ms:-0} ms, $probe_out; pid $pid, logs in $RUN_DIR)"
