#!/usr/bin/env bash
# ringlog side by side with Apache Kafka 4.4 in one run: the table and the goals of issue #14.
#
#   bench/peers/compare.sh [ROUNDS] [SCALE]          defaults 3 and 1
#
# Per round, one broker at a time on loopback, each on a fresh data directory:
#   kafka               Kafka 4.4 (bench/peers/kafka.sh), no fsync before the ack (its default)
#   kafka-fsync         Kafka 4.4 with log.flush.interval.messages=1            (durable load only)
#   ringlog-1c, -2c     ringlog serve --io uring --flush never --cores 1 / 2
#   ringlog-1c-always, -2c-always   the same with --flush always               (durable load only)
# Kafka goes first in every round: the latency load offers 50% of the rate Kafka reached in that round.
# Every broker is warmed up first (not reported), then, on one partition each:
#   ringlog bench produce   100 B acks=1 640 rec/batch and 1 KiB acks=all 64 rec/batch, 1 and 16 conns
#   ProducerPerformance     100 B acks=1 and 1 KiB acks=all (batch.size=65536, linger.ms=5), unthrottled
#   ProducerPerformance     1 KiB acks=all at --throughput = 50% of Kafka's rate above (p99)
#   ConsumerPerformance     the 1 KiB topic back from the start
#   JoinTime.java           a lone consumer's subscribe() to first assignment, median of JOINS joins
#   /proc/PID/status        the broker's RSS before it is stopped
# The durable runs do the 1 KiB acks=all 16-connection load only.
#
# SCALE multiplies every duration and record count: 1 is 10 s per `ringlog bench` load and 3 M / 1 M
# Java records (~8-10 minutes a round on an idle 2-core machine); 0.1 is a smoke run (~3 minutes a round).
#
# Writes bench-results/peers-<UTC date>-<time>.{json,md,svg} and copies them to peers-latest.*;
# raw tool output stays in $PEERS_HOME/compare-<time>/. Exits 1 if any measurement failed (the report
# is still written and lists the failures), 2 on bad arguments, and at once, with a message, when
# something it needs is missing. Stops every broker it started, also on Ctrl-C.
#
# Needs: Java 17+ with javac, Maven (first run only, for bench/peers/kafka.sh setup), python3, and a
# release build (cargo build --release). Environment (defaults in brackets):
#   RINGLOG [target/release/ringlog of this checkout]   RINGLOG_IO [uring]   RINGLOG_PORT [29192]
#   PEERS_HOME, PEERS_M2, KAFKA_PORT, KAFKA_CONTROLLER_PORT, KAFKA_HEAP: see bench/peers/kafka.sh
#   JOIN_DELAY_MS [0]: group.initial.rebalance.delay.ms for both brokers   JOINS [5]
#   RESULTS_DIR [bench-results of this checkout]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-3}
SCALE=${2:-1}
[ $# -le 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "compare.sh: ROUNDS must be a positive integer, not '$ROUNDS'" >&2; exit 2; }
if ! { [[ "$SCALE" =~ ^([0-9]+\.?[0-9]*|\.[0-9]+)$ ]] && awk -v s="$SCALE" 'BEGIN { exit !(s > 0) }'; }; then
    echo "compare.sh: SCALE must be a positive number, not '$SCALE'" >&2
    exit 2
fi

RINGLOG=${RINGLOG:-$REPO/target/release/ringlog}
RINGLOG_IO=${RINGLOG_IO:-uring}
RINGLOG_PORT=${RINGLOG_PORT:-29192}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench-results}
JOIN_DELAY_MS=${JOIN_DELAY_MS:-0}
JOINS=${JOINS:-5}
export PEERS_HOME=${PEERS_HOME:-${TMPDIR:-/tmp}/ringlog-bench-peers}
export KAFKA_PORT=${KAFKA_PORT:-29092}
export KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS=$JOIN_DELAY_MS
KAFKA_SH=$HERE/kafka.sh
RESULTS_PY=$HERE/results.py

scale() { # scale BASE MIN: BASE x SCALE, at least MIN, an integer
    awk -v b="$1" -v s="$SCALE" -v m="$2" 'BEGIN { v = int(b * s + 0.5); print (v < m ? m : v) }'
}
GEN_S=$(scale 10 1)                  # measured seconds of each `ringlog bench produce` load
WARMUP_S=$(scale 10 4)               # per broker, before anything is measured (JIT, page cache)
N_100B=$(scale 3000000 20000)        # ProducerPerformance 100 B records
N_1K=$(scale 1000000 10000)          # ProducerPerformance 1 KiB records (then consumed)
HALF_S=$(scale 10 2)                 # seconds of the 50%-load latency run
GEN_TIMEOUT_S=$((GEN_S + 90))        # a load that takes longer than this is stuck
JAVA_TIMEOUT_S=$(scale 600 120)
RINGLOG_START_WAIT_S=15
RINGLOG_STOP_WAIT_S=30

die() { echo "compare.sh: $*" >&2; exit 1; }
log() { echo "[compare $(date -u +%H:%M:%S)] $*" >&2; }

# --- what it needs: checked before anything starts -------------------------------------------------------
[ -x "$RINGLOG" ] || die "no ringlog binary at $RINGLOG: run 'cargo build --release' (or set RINGLOG=...)"
command -v python3 > /dev/null || die "python3 not found (the report and chart need it)"
JAVA=${JAVA:-java}
command -v "$JAVA" > /dev/null || die "'$JAVA' not found: Java 17 or later is needed (set JAVA=...)"
JAVAC=${JAVAC:-$(dirname "$(readlink -f "$(command -v "$JAVA")")")/javac}
[ -x "$JAVAC" ] || JAVAC=$(command -v javac || true)
if [ -z "$JAVAC" ] || [ ! -x "$JAVAC" ]; then
    die "javac not found: a JDK 17+ (not only a JRE) is needed to compile JoinTime.java"
fi
"$RINGLOG" serve --help 2>&1 | grep -- "--group-initial-rebalance-delay-ms" > /dev/null \
    || die "$RINGLOG has no --group-initial-rebalance-delay-ms: rebuild it from this checkout"
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }
port_open "$RINGLOG_PORT" && die "127.0.0.1:$RINGLOG_PORT is in use: set RINGLOG_PORT"
if ! "$KAFKA_SH" classpath > /dev/null 2>&1; then
    log "Kafka is not set up in $PEERS_HOME: setting it up"
    "$KAFKA_SH" setup || die "Kafka set-up failed"
fi
"$KAFKA_SH" pid > /dev/null 2>&1 && die "a Kafka broker from $PEERS_HOME is already running: bench/peers/kafka.sh stop"

STAMP=$(date -u +%Y%m%d-%H%M%S)
WORK=$PEERS_HOME/compare-$STAMP
mkdir -p "$WORK/classes" "$RESULTS_DIR"
RESULTS=$WORK/results.jsonl
: > "$RESULTS"
"$JAVAC" -d "$WORK/classes" -cp "$("$KAFKA_SH" classpath)" "$HERE/JoinTime.java" \
    || die "javac could not compile JoinTime.java against the Kafka jars"

# --- brokers, and stopping them whatever happens -----------------------------------------------------------
RINGLOG_PID=
KAFKA_STARTED=
CHILD=
FAILURES=0

stop_ringlog() {
    [ -n "$RINGLOG_PID" ] || return 0
    kill "$RINGLOG_PID" 2> /dev/null || true
    local i
    for ((i = 0; i < RINGLOG_STOP_WAIT_S * 4; i++)); do kill -0 "$RINGLOG_PID" 2> /dev/null || break; sleep 0.25; done
    if kill -0 "$RINGLOG_PID" 2> /dev/null; then
        log "ringlog $RINGLOG_PID still running ${RINGLOG_STOP_WAIT_S} s after SIGTERM: SIGKILL"
        kill -9 "$RINGLOG_PID" 2> /dev/null || true
    fi
    wait "$RINGLOG_PID" 2> /dev/null || true
    RINGLOG_PID=
}

stop_kafka() {
    [ -n "$KAFKA_STARTED" ] || return 0
    "$KAFKA_SH" stop || true
    KAFKA_STARTED=
}

cleanup() {
    trap - EXIT INT TERM
    if [ -n "$CHILD" ]; then kill "$CHILD" 2> /dev/null || true; wait "$CHILD" 2> /dev/null || true; fi
    stop_ringlog
    rm -rf "${WORK:?}/ringlog-data"
    if [ -n "$KAFKA_STARTED" ]; then stop_kafka; rm -rf "$PEERS_HOME/kafka-run/data"; fi
}
trap cleanup EXIT
trap 'log "interrupted: stopping every broker started"; exit 130' INT TERM

# run_bounded SECONDS OUT CMD...: CMD with stdout+stderr to OUT, killed after SECONDS. In the background
# with a wait, so an interrupt reaches the trap at once and the trap can stop the client too.
run_bounded() {
    local seconds=$1 out=$2
    shift 2
    timeout "$seconds" "$@" > "$out" 2>&1 < /dev/null &
    CHILD=$!
    local rc=0
    wait "$CHILD" || rc=$?
    CHILD=
    return "$rc"
}

start_ringlog() { # start_ringlog CORES FLUSH NAME
    local dir=$WORK/ringlog-data
    rm -rf "$dir"
    "$RINGLOG" serve --listen "127.0.0.1:$RINGLOG_PORT" --data-dir "$dir" --cores "$1" --io "$RINGLOG_IO" \
        --flush "$2" --default-partitions 1 --group-initial-rebalance-delay-ms "$JOIN_DELAY_MS" \
        > "$WORK/r$ROUND.$3.serve.log" 2>&1 < /dev/null &
    RINGLOG_PID=$!
    local i
    for ((i = 0; i < RINGLOG_START_WAIT_S * 4; i++)); do
        port_open "$RINGLOG_PORT" && return 0
        kill -0 "$RINGLOG_PID" 2> /dev/null || break
        sleep 0.25
    done
    tail -n 20 "$WORK/r$ROUND.$3.serve.log" >&2
    stop_ringlog
    return 1
}

# --- measurements: each records its figures, or its failure, and carries on ------------------------------
record() { # record BROKER WORKLOAD KIND FILE [k=v...]
    local broker=$1 workload=$2 kind=$3 file=$4
    shift 4
    local sets=() kv
    for kv in "$@"; do sets+=(--set "$kv"); done
    python3 "$RESULTS_PY" record "$RESULTS" --round "$ROUND" --broker "$broker" --workload "$workload" \
        --kind "$kind" --file "$file" "${sets[@]}" || FAILURES=$((FAILURES + 1))
}

failed() { # failed BROKER WORKLOAD MESSAGE
    python3 "$RESULTS_PY" record "$RESULTS" --round "$ROUND" --broker "$1" --workload "$2" --kind failed \
        --set "error=$3" || true
    FAILURES=$((FAILURES + 1))
}

cpu_ticks() { # utime+stime of a process, in clock ticks (the fields after the command name's ')')
    sed 's/^.*) //' "/proc/$1/stat" 2> /dev/null | awk '{ print $12 + $13 }' || echo 0
}
cpu_s() { awk -v a="$1" -v b="$2" -v t="$(getconf CLK_TCK)" 'BEGIN { printf "%.2f", (b - a) / t }'; }

# gen BROKER WORKLOAD PID BOOTSTRAP RECORD_BYTES RECORDS_PER_BATCH ACKS CONNECTIONS
gen() {
    local broker=$1 workload=$2 pid=$3 bs=$4 size=$5 rpb=$6 acks=$7 conns=$8
    local topic="$workload" out="$WORK/r$ROUND.$broker.$workload.json"
    if run_bounded "$GEN_TIMEOUT_S" "$out" "$RINGLOG" bench produce --broker "$bs" --topic "$topic" --partitions 1 \
        --connections "$conns" --record-bytes "$size" --records-per-batch "$rpb" --acks "$acks" \
        --seconds "$GEN_S" --warmup 1 --broker-pid "$pid" --json; then
        record "$broker" "$workload" gen "$out"
    else
        failed "$broker" "$workload" "ringlog bench produce exited $?: see $(basename "$out")"
    fi
    # Each load's topic goes once measured: 10 s at 1 GB/s is 10 GB of disk.
    "$RINGLOG" topics delete --broker "$bs" "$topic" >> "$WORK/r$ROUND.$broker.topics.log" 2>&1 || true
}

create_topic() { # create_topic BOOTSTRAP TOPIC
    "$RINGLOG" topics create --broker "$1" --partitions 1 "$2" >> "$WORK/r$ROUND.topics.log" 2>&1
}

# java_produce BROKER WORKLOAD PID BOOTSTRAP TOPIC RECORDS RECORD_BYTES ACKS THROUGHPUT
java_produce() {
    local broker=$1 workload=$2 pid=$3 bs=$4 topic=$5 n=$6 size=$7 acks=$8 rate=$9
    local out="$WORK/r$ROUND.$broker.$workload.txt" c0 c1
    c0=$(cpu_ticks "$pid")
    if run_bounded "$JAVA_TIMEOUT_S" "$out" "$KAFKA_SH" perf-produce --topic "$topic" --num-records "$n" \
        --record-size "$size" --throughput "$rate" \
        --command-property "bootstrap.servers=$bs" "acks=$acks" batch.size=65536 linger.ms=5; then
        c1=$(cpu_ticks "$pid")
        record "$broker" "$workload" producer-perf "$out" "record_bytes=$size" "acks=$acks" \
            "offered_records_per_s=$rate" "broker_cpu_s=$(cpu_s "$c0" "$c1")"
    else
        failed "$broker" "$workload" "ProducerPerformance exited $?: see $(basename "$out")"
    fi
}

java_consume() { # java_consume BROKER PID BOOTSTRAP TOPIC RECORDS
    local broker=$1 pid=$2 bs=$3 topic=$4 n=$5
    local out="$WORK/r$ROUND.$broker.consume-1k.txt" c0 c1
    c0=$(cpu_ticks "$pid")
    if run_bounded "$JAVA_TIMEOUT_S" "$out" "$KAFKA_SH" perf-consume --bootstrap-server "$bs" --topic "$topic" \
        --num-records "$n" --timeout 10000 --group "consume-$ROUND-$broker"; then
        c1=$(cpu_ticks "$pid")
        record "$broker" consume-1k consumer-perf "$out" "expected_records=$n" "record_bytes=1024" \
            "broker_cpu_s=$(cpu_s "$c0" "$c1")"
    else
        failed "$broker" consume-1k "ConsumerPerformance exited $?: see $(basename "$out")"
    fi
}

join_time() { # join_time BROKER BOOTSTRAP TOPIC
    local out="$WORK/r$ROUND.$1.join.txt"
    if KAFKA_EXTRA_CLASSPATH=$WORK/classes run_bounded 120 "$out" "$KAFKA_SH" java JoinTime "$2" "$3" "$JOINS" 30000; then
        record "$1" join join "$out" "joins=$JOINS"
    else
        failed "$1" join "JoinTime exited $?: see $(basename "$out")"
    fi
}

rss() { # rss BROKER PID
    local out="$WORK/r$ROUND.$1.status.txt"
    if cp "/proc/$2/status" "$out" 2> /dev/null; then record "$1" rss rss "$out"; else failed "$1" rss "broker gone"; fi
}

warm_up() { # warm_up BOOTSTRAP: both produce shapes (JIT, page cache, first topic), not reported
    local half
    half=$(awk -v s="$WARMUP_S" 'BEGIN { print s / 2 }')
    {
        "$RINGLOG" bench produce --broker "$1" --topic warmup --partitions 1 --connections 1 --record-bytes 100 \
            --records-per-batch 640 --seconds "$half" --warmup 0
        "$RINGLOG" bench produce --broker "$1" --topic warmup --partitions 1 --connections 4 --record-bytes 1024 \
            --records-per-batch 64 --acks all --seconds "$half" --warmup 0
        "$RINGLOG" topics delete --broker "$1" warmup
    } > "$WORK/r$ROUND.warmup.txt" 2>&1 || log "warm-up did not finish (see r$ROUND.warmup.txt); measuring anyway"
}

# full_suite BROKER PID BOOTSTRAP: every load of the table against one broker.
full_suite() {
    local broker=$1 pid=$2 bs=$3
    gen "$broker" gen-100b-acks1-1conn "$pid" "$bs" 100 640 1 1
    gen "$broker" gen-100b-acks1-16conn "$pid" "$bs" 100 640 1 16
    gen "$broker" gen-1k-all-1conn "$pid" "$bs" 1024 64 all 1
    gen "$broker" gen-1k-all-16conn "$pid" "$bs" 1024 64 all 16
    create_topic "$bs" java-100b || true
    create_topic "$bs" java-1k || true
    create_topic "$bs" java-1k-half || true
    java_produce "$broker" java-100b-acks1 "$pid" "$bs" java-100b "$N_100B" 100 1 -1
    java_produce "$broker" java-1k-all "$pid" "$bs" java-1k "$N_1K" 1024 all -1
    local kafka_rate half
    if kafka_rate=$(python3 "$RESULTS_PY" value "$RESULTS" --round "$ROUND" --broker kafka \
        --workload java-1k-all --field records_per_s); then
        half=$(awk -v r="$kafka_rate" 'BEGIN { v = int(r / 2); print (v < 1 ? 1 : v) }')
        java_produce "$broker" java-1k-all-half "$pid" "$bs" java-1k-half \
            "$(awk -v r="$half" -v s="$HALF_S" 'BEGIN { print int(r * s) }')" 1024 all "$half"
    else
        failed "$broker" java-1k-all-half "no Kafka 1 KiB acks=all rate in round $ROUND to take 50% of"
    fi
    java_consume "$broker" "$pid" "$bs" java-1k "$N_1K"
    join_time "$broker" "$bs" java-1k
    rss "$broker" "$pid"
}

durable_suite() { # durable_suite BROKER PID BOOTSTRAP
    gen "$1" durable-1k-all-16conn "$2" "$3" 1024 64 all 16
    rss "$1" "$2"
}

run_kafka() { # run_kafka NAME SUITE [--fsync-every-message]
    local name=$1 suite=$2
    shift 2
    log "round $ROUND: $name"
    KAFKA_STARTED=1
    if ! "$KAFKA_SH" start "$@"; then
        KAFKA_STARTED=
        failed "$name" rss "Kafka did not start (see $PEERS_HOME/kafka-run/broker.log)"
        return 0
    fi
    local pid bs="127.0.0.1:$KAFKA_PORT"
    pid=$("$KAFKA_SH" pid)
    warm_up "$bs"
    "$suite" "$name" "$pid" "$bs"
    stop_kafka
    rm -rf "$PEERS_HOME/kafka-run/data"   # up to a few GB; the next start wipes it anyway
}

run_ringlog() { # run_ringlog NAME CORES FLUSH SUITE
    local name=$1 suite=$4 bs="127.0.0.1:$RINGLOG_PORT"
    log "round $ROUND: $name (ringlog serve --cores $2 --flush $3 --io $RINGLOG_IO)"
    if ! start_ringlog "$2" "$3" "$name"; then
        failed "$name" rss "ringlog serve did not start (see r$ROUND.$name.serve.log)"
        return 0
    fi
    warm_up "$bs"
    "$suite" "$name" "$RINGLOG_PID" "$bs"
    stop_ringlog
    rm -rf "$WORK/ringlog-data"
}

# --- the run ----------------------------------------------------------------------------------------------
T0=$(date +%s)
STARTED_UTC=$(date -u +%Y-%m-%dT%H:%M:%SZ)
LOAD_BEFORE=$(cut -d' ' -f1-3 /proc/loadavg)
log "$ROUNDS round(s), SCALE $SCALE: ringlog bench ${GEN_S} s per load, Java $N_100B x 100 B and $N_1K x 1 KiB; raw output in $WORK"
for ((ROUND = 1; ROUND <= ROUNDS; ROUND++)); do
    run_kafka kafka full_suite
    run_kafka kafka-fsync durable_suite --fsync-every-message
    run_ringlog ringlog-1c 1 never full_suite
    run_ringlog ringlog-2c 2 never full_suite
    run_ringlog ringlog-1c-always 1 always durable_suite
    run_ringlog ringlog-2c-always 2 always durable_suite
done
WALL_S=$(($(date +%s) - T0))

NAME=peers-$STAMP
GIT_COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo unknown)
[ -n "$(git -C "$REPO" status --porcelain --untracked-files=no -- crates src 2> /dev/null)" ] && GIT_COMMIT="$GIT_COMMIT+changes"
python3 "$RESULTS_PY" report "$RESULTS" --out "$RESULTS_DIR/$NAME" \
    --set "rounds=$ROUNDS" --set "scale=$SCALE" --set "started_utc=$STARTED_UTC" --set "wall_s=$WALL_S" \
    --set "load_before=$LOAD_BEFORE" --set "load_after=$(cut -d' ' -f1-3 /proc/loadavg)" \
    --set "ringlog_version=$("$RINGLOG" --version | awk '{ print $2 }')" --set "git_commit=$GIT_COMMIT" \
    --set "ringlog_built_utc=$(date -u -r "$RINGLOG" +%Y-%m-%dT%H:%M:%SZ)" \
    --set "ringlog_io=$RINGLOG_IO" --set "kafka_version=${KAFKA_VERSION:-4.4.0}" \
    --set "java=$("$JAVA" -version 2>&1 | head -n 1 | tr -d '"')" \
    --set "gen_seconds=$GEN_S" --set "warmup_s=$WARMUP_S" --set "java_100b_records=$N_100B" \
    --set "java_1k_records=$N_1K" --set "half_seconds=$HALF_S" --set "joins=$JOINS" \
    --set "join_delay_ms=$JOIN_DELAY_MS" --set "json_name=$NAME.json" \
    || die "the report could not be written (raw results: $RESULTS)"
python3 "$HERE/chart.py" "$RESULTS_DIR/$NAME.json" "$RESULTS_DIR/$NAME.svg" || die "the chart could not be drawn"
for ext in json md svg; do cp "$RESULTS_DIR/$NAME.$ext" "$RESULTS_DIR/peers-latest.$ext"; done
cat "$RESULTS_DIR/$NAME.md"
log "done in ${WALL_S} s: $RESULTS_DIR/$NAME.{md,json,svg} (also peers-latest.*)"
if [ "$FAILURES" -gt 0 ]; then
    die "$FAILURES measurement(s) failed: see 'Failures' in $RESULTS_DIR/$NAME.md and the raw output in $WORK"
fi
