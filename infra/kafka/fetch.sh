#!/usr/bin/env bash
# Copies the pinned Apache Kafka broker jars from Maven Central into .jars/ (ignored).
# Idempotent: does nothing when .jars/ was filled from this very pom.xml. Maven's own
# cache (~/.m2) makes a re-fetch after `rm -rf .jars` work offline.
set -euo pipefail
# shellcheck source=infra/kafka/common.sh
source "$(dirname "${BASH_SOURCE[0]}")/common.sh"

command -v java >/dev/null || die "java not found: Kafka $KAFKA_VERSION needs a JDK 17+ (see docs/kafka.md)"
stamp="$JARS_DIR/.pom.sha256"
want="$(sha256sum "$KAFKA_DIR/pom.xml" | cut -d' ' -f1)"
if [[ -f "$stamp" && "$(cat "$stamp")" == "$want" && -f "$JARS_DIR/kafka_2.13-$KAFKA_VERSION.jar" ]]; then
  exit 0
fi
command -v mvn >/dev/null || die "mvn not found: install Maven to fetch the Kafka jars (apt-get install maven)"

log "fetching Apache Kafka $KAFKA_VERSION jars with Maven"
rm -rf "$JARS_DIR"
copy() {
  mvn -q -B -Dstyle.color=never "$@" -f "$KAFKA_DIR/pom.xml" dependency:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$JARS_DIR"
}
# Offline first: a warm ~/.m2 needs no network at all. Maven reports errors on stdout, so
# its output is kept and shown only when the online attempt fails too.
if ! copy -o >/dev/null 2>&1; then
  out="$(copy 2>&1)" || { printf '%s\n' "$out" >&2; die "maven could not fetch org.apache.kafka:kafka_2.13:$KAFKA_VERSION"; }
fi
printf '%s\n' "$want" >"$stamp"
log "jars ready in $JARS_DIR ($(find "$JARS_DIR" -name '*.jar' | wc -l) files)"
