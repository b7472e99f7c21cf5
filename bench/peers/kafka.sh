#!/usr/bin/env bash
# Apache Kafka 4.4 as the reference broker for bench/peers/compare.sh: one JVM in KRaft combined mode
# (broker and controller, node 1) on 127.0.0.1, assembled from Maven Central jars.
#
#   bench/peers/kafka.sh setup                       resolve the jars with Maven, write the configs
#   bench/peers/kafka.sh start [--fsync-every-message]
#                                                    wipe the data, format, start, wait until it serves
#   bench/peers/kafka.sh stop                        SIGTERM the broker by its PID (SIGKILL after 30 s)
#   bench/peers/kafka.sh pid                         print the broker's PID (exit 1 if it is not running)
#   bench/peers/kafka.sh perf-produce ARGS...        org.apache.kafka.tools.ProducerPerformance
#   bench/peers/kafka.sh perf-consume ARGS...        org.apache.kafka.tools.ConsumerPerformance
#   bench/peers/kafka.sh java CLASS ARGS...          any class on the Kafka classpath (+ $KAFKA_EXTRA_CLASSPATH)
#   bench/peers/kafka.sh classpath                   the classpath the commands above use
#
# The broker runs as Kafka ships it except for what one node on loopback needs (replication factors 1)
# and group.initial.rebalance.delay.ms, 0 here by default (Kafka's default is 3000; its development config
# uses 0; ringlog's default is 0, and the comparison gives both brokers the same value).
# Kafka does not fsync before acknowledging (log.flush.interval.messages is unbounded by default);
# --fsync-every-message sets log.flush.interval.messages=1: a flush after every append, the durable
# comparison.
#
# Environment (defaults in brackets):
#   PEERS_HOME    where jars, configs, data and logs go [${TMPDIR:-/tmp}/ringlog-bench-peers]
#   PEERS_M2      local Maven repository to use, e.g. an existing one, to download nothing twice [$PEERS_HOME/m2]
#   KAFKA_VERSION [4.4.0]   LOG4J_VERSION [2.24.3]
#   KAFKA_PORT [29092]   KAFKA_CONTROLLER_PORT [29093]   KAFKA_HEAP [1g, as kafka-server-start.sh]
#   KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS [0]   TOOLS_HEAP [512m]   JAVA [java, version 17 or later]
#   KAFKA_SSL_PORT [none]  with KAFKA_SSL_KEYSTORE (a PEM file: the private key, PKCS#8 unencrypted, then the
#                  certificate chain): an SSL listener too (ssl.keystore.type=PEM, no client certificates)
set -euo pipefail

PEERS_HOME=${PEERS_HOME:-${TMPDIR:-/tmp}/ringlog-bench-peers}
PEERS_M2=${PEERS_M2:-$PEERS_HOME/m2}
KAFKA_VERSION=${KAFKA_VERSION:-4.4.0}
LOG4J_VERSION=${LOG4J_VERSION:-2.24.3}
KAFKA_PORT=${KAFKA_PORT:-29092}
KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-29093}
KAFKA_HEAP=${KAFKA_HEAP:-1g}
KAFKA_SSL_PORT=${KAFKA_SSL_PORT:-}
KAFKA_SSL_KEYSTORE=${KAFKA_SSL_KEYSTORE:-}
KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=${KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS:-0}
TOOLS_HEAP=${TOOLS_HEAP:-512m}
JAVA=${JAVA:-java}

# Jars per version; the running broker's files in one place.
LIB=$PEERS_HOME/kafka-$KAFKA_VERSION/lib
RUN=$PEERS_HOME/kafka-run
PID_FILE=$RUN/broker.pid
# How long start waits for "Kafka Server started", and stop for the JVM to exit after SIGTERM.
START_WAIT_S=90
STOP_WAIT_S=30
# The JVM flags bin/kafka-run-class.sh gives every Kafka process (KAFKA_JVM_PERFORMANCE_OPTS).
JVM_OPTS=(-server -XX:+UseG1GC -XX:MaxGCPauseMillis=20 -XX:InitiatingHeapOccupancyPercent=35
    -XX:+ExplicitGCInvokesConcurrent -XX:MaxInlineLevel=15 -Djava.awt.headless=true)

die() { echo "kafka.sh: $*" >&2; exit 1; }

need_java() {
    command -v "$JAVA" > /dev/null || die "'$JAVA' not found: Kafka $KAFKA_VERSION needs Java 17 or later (set JAVA=...)"
    local major
    major=$("$JAVA" -version 2>&1 | sed -nE '1s/.*version "([0-9]+)(\.[^"]*)?".*/\1/p')
    if [ -z "$major" ] || [ "$major" -lt 17 ]; then
        die "'$JAVA' is Java ${major:-of unknown version}; Kafka $KAFKA_VERSION needs 17 or later (set JAVA=...)"
    fi
}

need_setup() {
    [ -f "$LIB/kafka_2.13-$KAFKA_VERSION.jar" ] || die "Kafka $KAFKA_VERSION is not set up in $PEERS_HOME: run '$0 setup'"
}

classpath() { echo "${KAFKA_EXTRA_CLASSPATH:+$KAFKA_EXTRA_CLASSPATH:}$LIB/*"; }

# A client-side JVM (tools, the join timer): warnings only, on stderr.
run_java() {
    need_java; need_setup
    exec "$JAVA" -Xms"$TOOLS_HEAP" -Xmx"$TOOLS_HEAP" "${JVM_OPTS[@]}" \
        -Dlog4j2.configurationFile="$RUN/tools-log4j2.properties" -cp "$(classpath)" "$@"
}

setup() {
    need_java
    command -v mvn > /dev/null || die "mvn (Apache Maven) not found: it fetches Kafka's jars from Maven Central"
    local dir=$PEERS_HOME/kafka-$KAFKA_VERSION
    mkdir -p "$dir" "$PEERS_M2"
    # kafka_2.13 is the broker, kafka-tools the perf tools, kafka-storage the format tool. kafka-clients
    # pins slf4j-api 1.7, which finds only slf4j-1 bindings: log4j-slf4j-impl, not log4j-slf4j2-impl.
    cat > "$dir/pom.xml" <<POM
<project>
  <modelVersion>4.0.0</modelVersion>
  <groupId>ringlog.bench</groupId>
  <artifactId>kafka-peer</artifactId>
  <version>0</version>
  <packaging>pom</packaging>
  <dependencies>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka_2.13</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-storage</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.kafka</groupId><artifactId>kafka-tools</artifactId><version>$KAFKA_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-core</artifactId><version>$LOG4J_VERSION</version></dependency>
    <dependency><groupId>org.apache.logging.log4j</groupId><artifactId>log4j-slf4j-impl</artifactId><version>$LOG4J_VERSION</version></dependency>
  </dependencies>
</project>
POM
    rm -rf "$LIB"
    echo "kafka.sh: resolving Kafka $KAFKA_VERSION with Maven (local repository $PEERS_M2)" >&2
    if ! (cd "$dir" && mvn --batch-mode -Dstyle.color=never -Dmaven.repo.local="$PEERS_M2" \
        dependency:copy-dependencies -DincludeScope=runtime -DoutputDirectory="$LIB" > "$dir/mvn.log" 2>&1); then
        tail -n 25 "$dir/mvn.log" >&2
        die "Maven could not resolve Kafka $KAFKA_VERSION (full log: $dir/mvn.log)"
    fi
    need_setup
    echo "kafka.sh: Kafka $KAFKA_VERSION ready: $(find "$LIB" -name '*.jar' | wc -l) jars in $LIB" >&2
}

write_configs() { # write_configs FSYNC_EVERY_MESSAGE(0|1)
    mkdir -p "$RUN"
    cat > "$RUN/broker-log4j2.properties" <<'CFG'
status = warn
appender.out.type = Console
appender.out.name = OUT
appender.out.layout.type = PatternLayout
appender.out.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = INFO
rootLogger.appenderRef.out.ref = OUT
CFG
    cat > "$RUN/tools-log4j2.properties" <<'CFG'
status = warn
appender.err.type = Console
appender.err.name = ERR
appender.err.target = SYSTEM_ERR
appender.err.layout.type = PatternLayout
appender.err.layout.pattern = [%d] %p %m (%c)%n
rootLogger.level = WARN
rootLogger.appenderRef.err.ref = ERR
CFG
    {
        echo "process.roles=broker,controller"
        echo "node.id=1"
        echo "controller.quorum.bootstrap.servers=127.0.0.1:$KAFKA_CONTROLLER_PORT"
        echo "controller.listener.names=CONTROLLER"
        local ssl=""
        if [ -n "$KAFKA_SSL_PORT" ]; then
            [ -f "$KAFKA_SSL_KEYSTORE" ] || die "KAFKA_SSL_PORT needs KAFKA_SSL_KEYSTORE (a PEM file: key, then certificate chain)"
            ssl=",SSL://127.0.0.1:$KAFKA_SSL_PORT"
            echo "ssl.keystore.type=PEM"
            echo "ssl.keystore.location=$KAFKA_SSL_KEYSTORE"
            echo "ssl.client.auth=none"
        fi
        echo "listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT$ssl"
        echo "advertised.listeners=PLAINTEXT://127.0.0.1:$KAFKA_PORT,CONTROLLER://127.0.0.1:$KAFKA_CONTROLLER_PORT$ssl"
        echo "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT,SSL:SSL"
        echo "inter.broker.listener.name=PLAINTEXT"
        echo "log.dirs=$RUN/data"
        echo "num.partitions=1"
        # One node: every internal topic with one replica.
        echo "default.replication.factor=1"
        echo "offsets.topic.replication.factor=1"
        echo "transaction.state.log.replication.factor=1"
        echo "transaction.state.log.min.isr=1"
        echo "share.coordinator.state.topic.replication.factor=1"
        echo "share.coordinator.state.topic.min.isr=1"
        echo "group.initial.rebalance.delay.ms=$KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS"
        # Deleted topics leave the disk after 1 s instead of 60 s: the comparison deletes each load's topic.
        echo "file.delete.delay.ms=1000"
        if [ "$1" = 1 ]; then echo "log.flush.interval.messages=1"; fi
    } > "$RUN/server.properties"
}

# The PID in the PID file, if that process is alive and is our broker (not a reused PID).
running_pid() {
    [ -f "$PID_FILE" ] || return 1
    local pid; pid=$(cat "$PID_FILE")
    [ -n "$pid" ] && kill -0 "$pid" 2> /dev/null || return 1
    tr '\0' ' ' < "/proc/$pid/cmdline" 2> /dev/null | grep -qF "$RUN/server.properties" || return 1
    echo "$pid"
}

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

stop() {
    local pid
    if ! pid=$(running_pid); then rm -f "$PID_FILE"; return 0; fi
    kill "$pid" 2> /dev/null || true
    local i
    for ((i = 0; i < STOP_WAIT_S * 4; i++)); do kill -0 "$pid" 2> /dev/null || break; sleep 0.25; done
    if kill -0 "$pid" 2> /dev/null; then
        echo "kafka.sh: broker $pid still running ${STOP_WAIT_S} s after SIGTERM: SIGKILL" >&2
        kill -9 "$pid" 2> /dev/null || true
    fi
    rm -f "$PID_FILE"
    echo "kafka.sh: stopped broker $pid" >&2
}

start() {
    local fsync=0
    case "${1:-}" in
        "") ;;
        --fsync-every-message) fsync=1 ;;
        *) die "start: unknown option '$1' (only --fsync-every-message)" ;;
    esac
    need_java; need_setup
    local pid
    if pid=$(running_pid); then die "a broker is already running (pid $pid): '$0 stop' first"; fi
    for port in "$KAFKA_PORT" "$KAFKA_CONTROLLER_PORT"; do
        port_open "$port" && die "127.0.0.1:$port is already in use (set KAFKA_PORT / KAFKA_CONTROLLER_PORT)"
    done
    write_configs "$fsync"
    rm -rf "$RUN/data"
    mkdir -p "$RUN/data"
    local cluster_id
    cluster_id=$("$JAVA" -Dlog4j2.configurationFile="$RUN/tools-log4j2.properties" -cp "$LIB/*" \
        kafka.tools.StorageTool random-uuid 2> "$RUN/format.log") \
        || { cat "$RUN/format.log" >&2; die "kafka.tools.StorageTool random-uuid failed"; }
    "$JAVA" -Dlog4j2.configurationFile="$RUN/tools-log4j2.properties" -cp "$LIB/*" \
        kafka.tools.StorageTool format --cluster-id "$cluster_id" --config "$RUN/server.properties" --standalone \
        >> "$RUN/format.log" 2>&1 || { cat "$RUN/format.log" >&2; die "kafka.tools.StorageTool format failed"; }
    "$JAVA" -Xms"$KAFKA_HEAP" -Xmx"$KAFKA_HEAP" "${JVM_OPTS[@]}" \
        -Dlog4j2.configurationFile="$RUN/broker-log4j2.properties" -cp "$LIB/*" \
        kafka.Kafka "$RUN/server.properties" > "$RUN/broker.log" 2>&1 < /dev/null &
    pid=$!
    echo "$pid" > "$PID_FILE"
    # Interrupted or failed while starting: the broker goes too.
    trap 'stop; exit 130' INT TERM
    local i
    for ((i = 0; i < START_WAIT_S * 4; i++)); do
        if grep -q "Kafka Server started" "$RUN/broker.log" && port_open "$KAFKA_PORT"; then
            trap - INT TERM
            echo "kafka.sh: Kafka $KAFKA_VERSION serving on 127.0.0.1:$KAFKA_PORT (pid $pid$([ "$fsync" = 1 ] && echo ", log.flush.interval.messages=1"))" >&2
            return 0
        fi
        kill -0 "$pid" 2> /dev/null || { tail -n 30 "$RUN/broker.log" >&2; rm -f "$PID_FILE"; die "the broker exited while starting (log: $RUN/broker.log)"; }
        sleep 0.25
    done
    tail -n 30 "$RUN/broker.log" >&2
    stop
    die "the broker did not start within $START_WAIT_S s (log: $RUN/broker.log)"
}

cmd=${1:-}
[ $# -gt 0 ] && shift
case "$cmd" in
    setup) setup ;;
    start) start "$@" ;;
    stop) stop ;;
    pid) running_pid ;;
    perf-produce) run_java org.apache.kafka.tools.ProducerPerformance "$@" ;;
    perf-consume) run_java org.apache.kafka.tools.ConsumerPerformance "$@" ;;
    java) [ $# -gt 0 ] || die "java: which class?"; run_java "$@" ;;
    classpath) need_setup; classpath ;;
    *) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2 ;;
esac
