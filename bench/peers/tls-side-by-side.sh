#!/usr/bin/env bash
# TLS and zero-copy (issue #20) side by side: consume throughput and broker CPU per GB over PLAINTEXT and over
# TLS, on ringlog and on Apache Kafka 4.4, with the same client, in one run; one Markdown table.
#
#   bench/peers/tls-side-by-side.sh [ROUNDS] [SECONDS] [FILL_MB]          defaults 3, 10 and 1024
#
# Setup, once per run: a test CA and a server certificate for 127.0.0.1/localhost made here with openssl (in
# $PEERS_HOME/tls-<time>/, never committed); one `ringlog serve --cores $RINGLOG_CORES` child with a PLAINTEXT
# and an SSL listener; one Kafka 4.4 broker (bench/peers/kafka.sh) with a PLAINTEXT and an SSL listener
# (ssl.keystore.type=PEM, the same certificate). Each round runs, in this order:
#   ringlog-plain   ringlog bench consume --broker 127.0.0.1:$RINGLOG_PORT
#   ringlog-tls     ... --broker 127.0.0.1:$RINGLOG_SSL_PORT --tls-ca ca.pem   (user-space rustls on a kernel
#                   without kTLS; with kTLS the broker hands the keys to the kernel and Fetch keeps sendfile)
#   kafka-plain     ... --broker 127.0.0.1:$KAFKA_PORT
#   kafka-ssl       ... --broker 127.0.0.1:$KAFKA_SSL_PORT --tls-ca ca.pem     (Kafka's JDK SSLEngine)
# all `--partitions 1 --connections 1 --fill-mb FILL_MB --seconds SECONDS --broker-pid PID`: one consumer
# reading a 1-partition topic of FILL_MB MB of 1 KiB records (page cache, wrapping at the end) with 1 MiB
# fetches; the client is ringlog's own (rustls for TLS) on its own thread. Medians over rounds.
#
# Writes the table to stdout and to bench-results/tls-<UTC date>-<time>.md (every figure of every round, the
# machine's load during the run); raw JSON stays in $PEERS_HOME/tls-<time>/. Exits 1 if a run failed (the table
# is still written), 2 on bad arguments. Stops both brokers at the end, also on failure and Ctrl-C.
#
# Needs: openssl, python3, a release build (cargo build --release); for Kafka (KAFKA=1): Java 17+, Maven (first
# run only). Environment (defaults in brackets):
#   RINGLOG [target/release/ringlog of this checkout]   RINGLOG_CORES [1]   RINGLOG_PORT [29492]
#   RINGLOG_SSL_PORT [29493]   KAFKA [1; 0 leaves Kafka out]   KAFKA_PORT [29392]   KAFKA_SSL_PORT [29394]
#   KAFKA_CONTROLLER_PORT [29393]   PEERS_HOME, PEERS_M2, KAFKA_HEAP: see bench/peers/kafka.sh
#   RESULTS_DIR [bench-results of this checkout]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-3}
SECONDS_=${2:-10}
FILL_MB=${3:-1024}
[ $# -le 3 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
for v in "$ROUNDS" "$SECONDS_" "$FILL_MB"; do
    [[ "$v" =~ ^[1-9][0-9]*$ ]] || { echo "tls-side-by-side.sh: '$v' is not a positive integer" >&2; exit 2; }
done

RINGLOG=${RINGLOG:-$REPO/target/release/ringlog}
RINGLOG_CORES=${RINGLOG_CORES:-1}
RINGLOG_PORT=${RINGLOG_PORT:-29492}
RINGLOG_SSL_PORT=${RINGLOG_SSL_PORT:-29493}
KAFKA=${KAFKA:-1}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench-results}
export PEERS_HOME=${PEERS_HOME:-${TMPDIR:-/tmp}/ringlog-bench-peers}
export KAFKA_PORT=${KAFKA_PORT:-29392}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-29393}
export KAFKA_SSL_PORT=${KAFKA_SSL_PORT:-29394}
KAFKA_SH=$HERE/kafka.sh
# One `ringlog bench consume` run (fill included) that takes longer than this is stuck.
RUN_TIMEOUT_S=900
# How long ringlog serve may take to listen.
START_WAIT_S=30

die() { echo "tls-side-by-side.sh: $*" >&2; exit 1; }
log() { echo "[tls $(date -u +%H:%M:%S)] $*" >&2; }

[ -x "$RINGLOG" ] || die "no ringlog binary at $RINGLOG: run 'cargo build --release' (or set RINGLOG=...)"
command -v openssl > /dev/null || die "openssl not found (it makes the test certificates)"
command -v python3 > /dev/null || die "python3 not found (the table needs it)"

STAMP=$(date -u +%Y%m%d-%H%M%S)
WORK=$PEERS_HOME/tls-$STAMP
mkdir -p "$WORK" "$RESULTS_DIR"
KAFKA_STARTED=0
RINGLOG_PID=
SAMPLER=
cleanup() {
    if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2> /dev/null || true; SAMPLER=; fi
    if [ -n "$RINGLOG_PID" ]; then
        kill "$RINGLOG_PID" 2> /dev/null || true
        wait "$RINGLOG_PID" 2> /dev/null || true
        RINGLOG_PID=
    fi
    if [ "$KAFKA_STARTED" = 1 ]; then "$KAFKA_SH" stop || true; KAFKA_STARTED=0; fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

# Test certificates: a CA, and a server certificate (EC P-256) for 127.0.0.1 and localhost.
log "certificates in $WORK"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 -subj "/CN=ringlog bench CA" \
    -keyout "$WORK/ca.key" -out "$WORK/ca.pem" 2> "$WORK/openssl.log"
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=localhost" \
    -keyout "$WORK/server.key" -out "$WORK/server.csr" 2>> "$WORK/openssl.log"
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' > "$WORK/server.ext"
openssl x509 -req -in "$WORK/server.csr" -CA "$WORK/ca.pem" -CAkey "$WORK/ca.key" -CAcreateserial -days 2 \
    -extfile "$WORK/server.ext" -out "$WORK/server.pem" 2>> "$WORK/openssl.log"
# Kafka's PEM keystore: the PKCS#8 key, then the chain.
openssl pkcs8 -topk8 -nocrypt -in "$WORK/server.key" -out "$WORK/server.pk8"
cat "$WORK/server.pk8" "$WORK/server.pem" "$WORK/ca.pem" > "$WORK/kafka-keystore.pem"

port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

log "starting ringlog serve --cores $RINGLOG_CORES (PLAINTEXT :$RINGLOG_PORT, SSL :$RINGLOG_SSL_PORT)"
for p in "$RINGLOG_PORT" "$RINGLOG_SSL_PORT"; do port_open "$p" && die "127.0.0.1:$p is in use"; done
"$RINGLOG" serve --cores "$RINGLOG_CORES" --data-dir "$WORK/ringlog-data" \
    --listen "PLAINTEXT://127.0.0.1:$RINGLOG_PORT,SSL://127.0.0.1:$RINGLOG_SSL_PORT" \
    --tls-cert "$WORK/server.pem" --tls-key "$WORK/server.key" > "$WORK/ringlog.log" 2>&1 &
RINGLOG_PID=$!
for ((i = 0; i < START_WAIT_S * 4; i++)); do
    port_open "$RINGLOG_SSL_PORT" && break
    kill -0 "$RINGLOG_PID" 2> /dev/null || { cat "$WORK/ringlog.log" >&2; die "ringlog serve exited"; }
    sleep 0.25
done
port_open "$RINGLOG_SSL_PORT" || die "ringlog serve did not listen within $START_WAIT_S s"
KTLS=$(grep -o 'TLS listeners: .*' "$WORK/ringlog.log" | head -n 1 || true)
log "${KTLS:-no TLS line in the broker log}"

KAFKA_PID=
if [ "$KAFKA" = 1 ]; then
    if ! "$KAFKA_SH" classpath > /dev/null 2>&1; then
        log "Kafka is not set up in $PEERS_HOME: bench/peers/kafka.sh setup"
        "$KAFKA_SH" setup
    fi
    log "starting Kafka 4.4 (PLAINTEXT :$KAFKA_PORT, SSL :$KAFKA_SSL_PORT)"
    KAFKA_SSL_KEYSTORE=$WORK/kafka-keystore.pem "$KAFKA_SH" start
    KAFKA_STARTED=1
    KAFKA_PID=$("$KAFKA_SH" pid) || die "Kafka started but has no PID"
fi

# What else runs on the machine meanwhile (a shared machine): every SAMPLE_S, the 1-minute load average and
# how many cargo, rustc and java processes (Kafka's own JVM excluded) run.
SAMPLE_S=2
(
    while :; do
        others_java=$(pgrep -x java | grep -cvx "${KAFKA_PID:-none}" || true)
        echo "$(date -u +%T) $(cut -d' ' -f1 /proc/loadavg) $(pgrep -x cargo | wc -l) $(pgrep -x rustc | wc -l) $others_java"
        sleep "$SAMPLE_S"
    done
) > "$WORK/activity.txt" &
SAMPLER=$!

FAILED=0
# run LABEL ROUND PID ADDR [FLAGS...]: one consume run; its JSON in $WORK/LABEL-ROUND.json.
run() {
    local label=$1 round=$2 pid=$3 addr=$4; shift 4
    log "round $round/$ROUNDS: $label"
    if ! timeout "$RUN_TIMEOUT_S" "$RINGLOG" bench consume --broker "$addr" --topic tls-bench --partitions 1 \
        --connections 1 --fill-mb "$FILL_MB" --seconds "$SECONDS_" --broker-pid "$pid" --json "$@" \
        > "$WORK/$label-$round.json" 2> "$WORK/$label-$round.log"; then
        tail -n 5 "$WORK/$label-$round.log" >&2
        log "round $round: $label failed (log: $WORK/$label-$round.log)"
        FAILED=1
    fi
}
for ((round = 1; round <= ROUNDS; round++)); do
    run ringlog-plain "$round" "$RINGLOG_PID" "127.0.0.1:$RINGLOG_PORT"
    run ringlog-tls "$round" "$RINGLOG_PID" "127.0.0.1:$RINGLOG_SSL_PORT" --tls-ca "$WORK/ca.pem"
    if [ "$KAFKA" = 1 ]; then
        run kafka-plain "$round" "$KAFKA_PID" "127.0.0.1:$KAFKA_PORT"
        run kafka-ssl "$round" "$KAFKA_PID" "127.0.0.1:$KAFKA_SSL_PORT" --tls-ca "$WORK/ca.pem"
    fi
done
cleanup

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2> /dev/null)" ]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
OUT=$RESULTS_DIR/tls-$STAMP.md
python3 - "$WORK" "$ROUNDS" "$SECONDS_" "$FILL_MB" "$COMMIT" "$RINGLOG_CORES" \
    "bench/peers/tls-side-by-side.sh $*" "$KTLS" > "$OUT" <<'PY' || FAILED=1
import glob, json, os, statistics, sys

work, rounds, seconds, fill_mb, commit, cores, command, ktls = sys.argv[1:]
labels = ["ringlog-plain", "ringlog-tls", "kafka-plain", "kafka-ssl"]
runs = {l: [] for l in labels}
for l in labels:
    for path in sorted(glob.glob(os.path.join(work, f"{l}-*.json"))):
        try:
            with open(path) as f:
                runs[l].append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"<!-- {path}: {e} -->")

def med(l, key):
    v = [r[key] for r in runs[l] if r.get(key) is not None]
    return (statistics.median(v), min(v), max(v)) if v else None

def cell(s, d):
    if s is None:
        return "n/a"
    m, lo, hi = s
    return f"{m:,.{d}f} ({lo:,.{d}f}..{hi:,.{d}f})"

def ratio(a, b):
    return f"{a[0] / b[0]:.2f}" if a and b and b[0] else "n/a"

print("# TLS and zero-copy: consume over PLAINTEXT and TLS, ringlog and Kafka 4.4\n")
print(f"`{command.strip()}` at commit {commit}; {rounds} round(s) of {seconds} s per run, a 1-partition topic of "
      f"{fill_mb} MB of 1 KiB records, one consumer (ringlog's client, rustls for TLS), 1 MiB fetches; "
      f"ringlog serve --cores {cores}.\n")
print(f"ringlog's TLS path: {ktls or 'unknown'}\n")
print("| run | MB/s | broker CPU s/GB | client CPU s |")
print("|---|---|---|---|")
for l in labels:
    if runs[l]:
        print(f"| {l} | {cell(med(l, 'mb_per_s'), 0)} | {cell(med(l, 'broker_cpu_s_per_gb'), 3)} | "
              f"{cell(med(l, 'client_cpu_s'), 2)} |")
print("\nMedians (min..max) over rounds.\n")
print("| ratio | MB/s | broker CPU s/GB |")
print("|---|---|---|")
for name, a, b in [("ringlog TLS / ringlog plaintext", "ringlog-tls", "ringlog-plain"),
                   ("Kafka SSL / Kafka plaintext", "kafka-ssl", "kafka-plain"),
                   ("ringlog TLS / Kafka SSL", "ringlog-tls", "kafka-ssl"),
                   ("ringlog plaintext / Kafka plaintext", "ringlog-plain", "kafka-plain")]:
    if runs[a] and runs[b]:
        print(f"| {name} | {ratio(med(a, 'mb_per_s'), med(b, 'mb_per_s'))} | "
              f"{ratio(med(a, 'broker_cpu_s_per_gb'), med(b, 'broker_cpu_s_per_gb'))} |")
machine = next((r["machine"] for l in labels for r in runs[l]), None)
if machine:
    print(f"\nMachine: {machine['cpus']} CPUs, {machine['cpu_model']}, kernel {machine['kernel']}.")
try:
    with open(os.path.join(work, "activity.txt")) as f:
        rows = [l.split() for l in f if l.strip()]
    loads = [float(r[1]) for r in rows]
    busy = sum(1 for r in rows if int(r[2]) + int(r[3]) + int(r[4]) > 0)
    if loads:
        print(f"Load average during the run: median {statistics.median(loads):.2f}, max {max(loads):.2f}; "
              f"cargo/rustc/other JVMs running in {busy} of {len(rows)} samples (every 2 s).")
except OSError:
    pass
print("\n## Every run\n")
print("| run | round | MB/s | records/s | broker CPU s/GB | client CPU s |")
print("|---|---|---|---|---|---|")
for l in labels:
    for i, r in enumerate(runs[l], 1):
        cpu = r.get("broker_cpu_s_per_gb")
        print(f"| {l} | {i} | {r['mb_per_s']:,.0f} | {r['records_per_s']:,.0f} | "
              f"{'n/a' if cpu is None else f'{cpu:.3f}'} | {r['client_cpu_s']:.2f} |")
PY
cat "$OUT"
log "table: $OUT"
exit "$FAILED"
