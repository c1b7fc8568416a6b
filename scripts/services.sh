#!/usr/bin/env bash
# Real Kafka (KRaft, single node) and Redis on loopback for tests and development.
#
#   . scripts/services.sh start   start both and export KAFKA_BROKERS, REDIS_URL, TW_SERVICES_DIR
#                                 into the calling shell (prints nothing on stdout)
#   bash scripts/services.sh start
#                                 same, but prints the `export` lines on stdout (for eval)
#   bash scripts/services.sh stop   stop both and remove the state dir ($TW_SERVICES_DIR)
#   bash scripts/services.sh env    print the env file of the running instance
#
# State (config, logs, data, pids, env file) lives in $TW_SERVICES_DIR (default: a fresh temp dir).
# If KAFKA_BROKERS and REDIS_URL are already set and both answer, `start` reuses them and `stop`
# leaves them alone (e.g. after `. /tmp/tidewatch-dev/env`); TW_FRESH_SERVICES=1 forces new ones.
#
# Why Kafka 3.9.1 by default: the bus speaks the wire protocol itself (packages/bus/src/wire, only
# versions present in both 3.x and 4.x, checked against ApiVersions) and keeps kafkajs 2.2.4 as a
# selectable client, which upstream tested against 2.x/3.x brokers. Both pass packages/bus' contract
# suite on 3.9.1 and on 4.1.1 (TW_KAFKA_VERSION=4.1.1 runs the harness on it); CI runs 3.9.1, the
# last 3.x and KRaft-capable, because it is the version both clients are proven on.
# Kafka comes from Maven Central (`mvn dependency:copy-dependencies` on a generated pom), cached in
# ${XDG_CACHE_HOME:-~/.cache}/tidewatch/kafka-3.9.1; Redis is the Debian package (scripts/system-deps.sh).
# With CI=true a missing java/mvn/redis-server fails the run; locally it is a loud warning and the
# tests that need the services skip.

TW_KAFKA_VERSION="${TW_KAFKA_VERSION:-3.9.1}"
TW_SCALA_VERSION=2.13
TW_SLF4J_VERSION=1.7.36

if [ "${BASH_SOURCE[0]}" != "$0" ]; then
  # Sourced: run the real work in a child bash (so the caller's shell options stay untouched) and
  # import its exports.
  _tw_services_script="${BASH_SOURCE[0]}"
  case "${1:-}" in
    start)
      _tw_services_exports="$(bash "$_tw_services_script" start)" || {
        unset _tw_services_exports _tw_services_script
        return 1
      }
      eval "$_tw_services_exports"
      unset _tw_services_exports _tw_services_script
      ;;
    *)
      bash "$_tw_services_script" "$@" >&2
      ;;
  esac
  return $?
fi

set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
log() { printf '[services] %s\n' "$*" >&2; }
die() { printf '[services] ERROR: %s\n' "$*" >&2; exit 1; }
loud() {
  printf '\n[services] !!! %s !!!\n\n' "$*" >&2
}

# Missing tools: fatal in CI, a loud warning locally.
missing() {
  if [ "${CI:-}" = "true" ]; then die "$* (CI=true: required; run scripts/system-deps.sh or install it)"; fi
  loud "$* -- the tests that need it will skip"
}

port_in_use() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# Below the kernel's ephemeral range (usually 32768-60999), so an outgoing connection cannot take
# the port between this check and the server's bind.
free_port() {
  local p i low=20000 high=32767
  if [ -r /proc/sys/net/ipv4/ip_local_port_range ]; then
    read -r i _ </proc/sys/net/ipv4/ip_local_port_range
    if [ "$i" -gt 21000 ]; then high=$((i - 1)); fi
  fi
  for i in $(seq 1 200); do
    p=$((low + RANDOM % (high - low)))
    port_in_use "$p" || { echo "$p"; return 0; }
  done
  die "no free loopback port found"
}

redis_ping() {
  if command -v redis-cli >/dev/null 2>&1; then
    [ "$(redis-cli -h 127.0.0.1 -p "$1" ping 2>/dev/null)" = "PONG" ]
  else
    local reply
    exec 3<>"/dev/tcp/127.0.0.1/$1" || return 1
    printf 'PING\r\n' >&3
    read -r -t 2 reply <&3 || true
    exec 3>&-
    [ "${reply%$'\r'}" = "+PONG" ]
  fi
}

kafka_cache_dir() { echo "${XDG_CACHE_HOME:-$HOME/.cache}/tidewatch/kafka-$TW_KAFKA_VERSION"; }

fetch_kafka() {
  local cache lib work
  cache="$(kafka_cache_dir)"
  lib="$cache/lib"
  if [ -f "$cache/.complete" ]; then echo "$lib"; return 0; fi
  log "fetching Apache Kafka $TW_KAFKA_VERSION from Maven Central into $cache (first run only)"
  mkdir -p "$cache"
  work="$(mktemp -d "$cache/.fetch.XXXXXX")"
  cat >"$work/pom.xml" <<EOF
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>dev.tidewatch</groupId>
  <artifactId>kafka-runtime</artifactId>
  <version>1</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency>
      <groupId>org.apache.kafka</groupId>
      <artifactId>kafka_$TW_SCALA_VERSION</artifactId>
      <version>$TW_KAFKA_VERSION</version>
    </dependency>
    <!-- The broker logs through slf4j; the distribution binds it to reload4j. -->
    <dependency>
      <groupId>org.slf4j</groupId>
      <artifactId>slf4j-reload4j</artifactId>
      <version>$TW_SLF4J_VERSION</version>
    </dependency>
  </dependencies>
</project>
EOF
  if ! mvn -B -q -f "$work/pom.xml" \
    org.apache.maven.plugins:maven-dependency-plugin:3.8.1:copy-dependencies \
    -DincludeScope=runtime -DoutputDirectory="$work/lib" >"$work/mvn.log" 2>&1; then
    tail -n 30 "$work/mvn.log" >&2
    rm -rf "$work"
    die "mvn could not fetch org.apache.kafka:kafka_$TW_SCALA_VERSION:$TW_KAFKA_VERSION"
  fi
  rm -rf "$lib"
  mv "$work/lib" "$lib"
  rm -rf "$work"
  touch "$cache/.complete"
  log "cached $(find "$lib" -name '*.jar' | wc -l) jars"
  echo "$lib"
}

# A Kafka cluster id is 16 random bytes, base64url without padding (what `StorageTool random-uuid`
# prints); made here to save one JVM start on a 2-core machine. Like Kafka's Uuid.randomUuid, never
# one that starts with '-': `format -t -abc…` reads it as an option (1 start in 64 failed so).
random_cluster_id() {
  local id=-
  while [ "${id#-}" != "$id" ]; do id="$(head -c 16 /dev/urandom | base64 | tr '+/' '-_' | tr -d '=\n')"; done
  printf '%s' "$id"
}

start_kafka() {
  local dir=$1 lib=$2 bport cport
  bport="$(free_port)"
  cport="$(free_port)"
  while [ "$cport" = "$bport" ]; do cport="$(free_port)"; done
  mkdir -p "$dir/kafka/data"
  cat >"$dir/kafka/server.properties" <<EOF
process.roles=broker,controller
node.id=1
controller.quorum.voters=1@127.0.0.1:$cport
listeners=PLAINTEXT://127.0.0.1:$bport,CONTROLLER://127.0.0.1:$cport
advertised.listeners=PLAINTEXT://127.0.0.1:$bport
controller.listener.names=CONTROLLER
inter.broker.listener.name=PLAINTEXT
listener.security.protocol.map=CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT
log.dirs=$dir/kafka/data
num.partitions=4
default.replication.factor=1
auto.create.topics.enable=false
delete.topic.enable=true
offsets.topic.replication.factor=1
offsets.topic.num.partitions=4
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
transaction.state.log.num.partitions=4
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=2
background.threads=2
num.recovery.threads.per.data.dir=1
log.cleaner.threads=1
log.cleaner.dedupe.buffer.size=8388608
EOF
  cat >"$dir/kafka/log4j.properties" <<EOF
log4j.rootLogger=INFO, file
log4j.appender.file=org.apache.log4j.FileAppender
log4j.appender.file.File=$dir/kafka/server.log
log4j.appender.file.layout=org.apache.log4j.PatternLayout
log4j.appender.file.layout.ConversionPattern=[%d] %p %m (%c)%n
log4j.logger.kafka=INFO
log4j.logger.org.apache.kafka=INFO
log4j.logger.state.change.logger=WARN
log4j.logger.kafka.request.logger=WARN
EOF
  local jvm=(java -Xms128m -Xmx512m -XX:+UseSerialGC -XX:TieredStopAtLevel=1 -Djava.awt.headless=true
    "-Djava.io.tmpdir=$dir/kafka" "-Dlog4j.configuration=file:$dir/kafka/log4j.properties"
    -cp "$lib/*")
  "${jvm[@]}" kafka.tools.StorageTool format -t "$(random_cluster_id)" -c "$dir/kafka/server.properties" \
    >"$dir/kafka/format.log" 2>&1 || { cat "$dir/kafka/format.log" >&2; die "formatting the KRaft log dir failed"; }
  setsid nohup "${jvm[@]}" kafka.Kafka "$dir/kafka/server.properties" >"$dir/kafka/stdout.log" 2>&1 </dev/null &
  echo $! >"$dir/kafka.pid"
  echo "127.0.0.1:$bport" >"$dir/kafka.brokers"
}

wait_kafka() {
  local dir=$1 brokers port deadline pid
  brokers="$(cat "$dir/kafka.brokers")"
  port="${brokers##*:}"
  pid="$(cat "$dir/kafka.pid")"
  deadline=$((SECONDS + ${TW_KAFKA_START_TIMEOUT:-180}))
  until port_in_use "$port" && grep -q 'Kafka Server started' "$dir/kafka/server.log" 2>/dev/null; do
    kill -0 "$pid" 2>/dev/null || { tail -n 40 "$dir/kafka/server.log" "$dir/kafka/stdout.log" >&2 || true; die "Kafka exited during start (logs above, in $dir/kafka)"; }
    [ $SECONDS -lt $deadline ] || { tail -n 40 "$dir/kafka/server.log" >&2 || true; die "Kafka did not start within ${TW_KAFKA_START_TIMEOUT:-180}s"; }
    sleep 0.5
  done
  # The broker answers a real client: a kafkajs metadata request (when the workspace is installed).
  if command -v node >/dev/null 2>&1 && [ -d "$ROOT/packages/bus/node_modules/kafkajs" ]; then
    node "$ROOT/scripts/kafka/probe.mjs" "$brokers" >&2 || die "Kafka port is open but metadata requests fail"
  fi
}

start_redis() {
  local dir=$1 port
  port="$(free_port)"
  mkdir -p "$dir/redis"
  # hash-max-listpack-entries 128: the sequencer's slot hashes (see services/sequencer/README.md)
  redis-server --bind 127.0.0.1 --port "$port" --save '' --appendonly no --dir "$dir/redis" \
    --hash-max-listpack-entries 128 \
    --daemonize yes --pidfile "$dir/redis.pid" --logfile "$dir/redis/redis.log" --protected-mode yes \
    || die "redis-server failed to start"
  echo "$port" >"$dir/redis.port"
}

wait_redis() {
  local dir=$1 port deadline
  port="$(cat "$dir/redis.port")"
  deadline=$((SECONDS + 30))
  until redis_ping "$port"; do
    [ $SECONDS -lt $deadline ] || { tail -n 20 "$dir/redis/redis.log" >&2 || true; die "Redis did not answer PING within 30s"; }
    sleep 0.2
  done
}

emit_exports() {
  # stdout is read by the sourcing wrapper (or an eval); everything else goes to stderr.
  cat "$1"
}

cmd_start() {
  if [ -n "${KAFKA_BROKERS:-}" ] && [ -n "${REDIS_URL:-}" ] && [ -z "${TW_FRESH_SERVICES:-}" ]; then
    local kport="${KAFKA_BROKERS%%,*}" rport="${REDIS_URL##*:}"
    rport="${rport%%/*}"
    if port_in_use "${kport##*:}" && redis_ping "$rport"; then
      log "reusing running services KAFKA_BROKERS=$KAFKA_BROKERS REDIS_URL=$REDIS_URL (TW_FRESH_SERVICES=1 for new ones)"
      printf 'export KAFKA_BROKERS=%q\nexport REDIS_URL=%q\nunset TW_SERVICES_DIR\n' "$KAFKA_BROKERS" "$REDIS_URL"
      return 0
    fi
    log "KAFKA_BROKERS/REDIS_URL are set but do not answer; starting new services"
  fi

  local ok_java=1 ok_redis=1
  command -v java >/dev/null 2>&1 || { ok_java=0; missing "java not found (Kafka needs a JRE 17+: apt-get install openjdk-17-jre-headless)"; }
  command -v mvn >/dev/null 2>&1 || [ -f "$(kafka_cache_dir)/.complete" ] || { ok_java=0; missing "mvn not found (needed once to fetch Kafka from Maven Central: apt-get install maven)"; }
  command -v redis-server >/dev/null 2>&1 || { ok_redis=0; missing "redis-server not found (bash scripts/system-deps.sh installs it)"; }

  local dir="${TW_SERVICES_DIR:-}"
  if [ -z "$dir" ]; then dir="$(mktemp -d "${TMPDIR:-/tmp}/tidewatch-services.XXXXXX")"; fi
  mkdir -p "$dir"
  dir="$(cd "$dir" && pwd)"
  if [ -f "$dir/kafka.pid" ] && kill -0 "$(cat "$dir/kafka.pid")" 2>/dev/null; then
    die "services are already running in $dir (bash scripts/services.sh stop with TW_SERVICES_DIR=$dir first)"
  fi
  touch "$dir/.tidewatch-services"
  : >"$dir/env"
  # A failed start leaves nothing running behind.
  TW_SERVICES_DIR="$dir"
  trap '[ $? -eq 0 ] || { log "start failed; cleaning up $TW_SERVICES_DIR"; cmd_stop; }' EXIT

  local lib=""
  if [ $ok_java = 1 ]; then
    lib="$(fetch_kafka)"
    start_kafka "$dir" "$lib"
  fi
  [ $ok_redis = 1 ] && start_redis "$dir"
  # Kafka takes the longest; Redis is checked while the JVM starts.
  [ $ok_redis = 1 ] && wait_redis "$dir"
  [ $ok_java = 1 ] && wait_kafka "$dir"

  {
    [ $ok_java = 1 ] && printf 'export KAFKA_BROKERS=%s\n' "$(cat "$dir/kafka.brokers")"
    [ $ok_redis = 1 ] && printf 'export REDIS_URL=redis://127.0.0.1:%s\n' "$(cat "$dir/redis.port")"
    true
  } >"$dir/env"
  log "ready: $(tr '\n' ' ' <"$dir/env")(state in $dir; env file $dir/env)"
  emit_exports "$dir/env"
  printf 'export TW_SERVICES_DIR=%q\n' "$dir"
  trap - EXIT
}

stop_pid() {
  local pidfile=$1 what=$2 pid i
  [ -f "$pidfile" ] || return 0
  pid="$(cat "$pidfile")"
  if kill -0 "$pid" 2>/dev/null; then
    kill -TERM "$pid" 2>/dev/null || true
    for i in $(seq 1 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    if kill -0 "$pid" 2>/dev/null; then
      log "$what did not stop within 20s; killing it"
      kill -KILL "$pid" 2>/dev/null || true
    fi
  fi
  rm -f "$pidfile"
}

cmd_stop() {
  local dir="${TW_SERVICES_DIR:-}"
  if [ -z "$dir" ]; then log "TW_SERVICES_DIR is not set: nothing of ours to stop"; return 0; fi
  [ -d "$dir" ] || { log "$dir does not exist: nothing to stop"; return 0; }
  [ -f "$dir/.tidewatch-services" ] || die "$dir is not a services state dir; refusing to touch it"
  stop_pid "$dir/redis.pid" Redis
  stop_pid "$dir/kafka.pid" Kafka
  rm -rf "$dir"
  log "stopped; removed $dir"
}

cmd_env() {
  local dir="${TW_SERVICES_DIR:-}"
  [ -n "$dir" ] && [ -f "$dir/env" ] || die "no env file (TW_SERVICES_DIR=${dir:-unset})"
  cat "$dir/env"
}

case "${1:-}" in
  start) cmd_start ;;
  stop) cmd_stop ;;
  env) cmd_env ;;
  *) die "usage: . scripts/services.sh start | bash scripts/services.sh stop | env" ;;
esac
