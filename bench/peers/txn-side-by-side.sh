#!/usr/bin/env bash
# Transactions (issue #18) side by side: TxnBench.java (Kafka's own Java client, kafka-clients 4.4) against
# ringlog and against Apache Kafka 4.4 in one run, one Markdown table with the ringlog/Kafka ratios and the
# issue's goals.
#
#   bench/peers/txn-side-by-side.sh [ROUNDS] [RECORDS]          defaults 3 and 200000
#
# Per round, alternately (ringlog, then Kafka, so slow drift of the machine spreads over both):
#   ringlog   a fresh `ringlog serve --cores $RINGLOG_CORES --io $RINGLOG_IO --flush $RINGLOG_FLUSH` child on a
#             fresh data directory, 127.0.0.1:$RINGLOG_PORT, stopped after the round
#   kafka     one Kafka 4.4 broker (bench/peers/kafka.sh, started once for the whole run, KRaft, as shipped: no
#             fsync before the ack, transaction.version as its format tool sets it)
# Each is the same TxnBench run (one JVM): for each size in PER_TXN, a new 1-partition topic; one transactional
# producer (acks=all, idempotent) writes WARMUP_RECORDS then RECORDS records of 1 KiB in transactions of that
# many records (throughput MB/s and records/s of the measured part, and the time of every commitTransaction()
# call: p50/p99); then a KafkaConsumer (assign + seekToBeginning, until the end offset) reads the topic just
# written, warm in the page cache, read_uncommitted and read_committed (three passes each after one unmeasured).
# Medians over rounds; goals: ringlog >= 2 x Kafka's transactional throughput, ringlog's commit p99 <= 0.5 x
# Kafka's, and on ringlog read_committed >= 0.9 x read_uncommitted bytes/s (Kafka's shown for reference).
#
# Writes the table to stdout and to bench-results/txn-<UTC date>-<time>.md (with every figure of every round);
# raw JSON and logs stay in $PEERS_HOME/txn-<time>/. Exits 1 if a run failed (the table is still written), 2 on
# bad arguments. Stops every broker and client it started at the end, also on failure and Ctrl-C.
#
# Needs: Java 17+ with javac, Maven (first run only, for bench/peers/kafka.sh setup), python3, and a release
# build (cargo build --release) with the transaction coordinator. Environment (defaults in brackets):
#   RINGLOG [target/release/ringlog of this checkout]   RINGLOG_CORES [1]   RINGLOG_FLUSH [always]
#   RINGLOG_IO [uring]   RINGLOG_PORT [29394]
#   KAFKA_PORT [29392]   KAFKA_CONTROLLER_PORT [29393]   PEERS_HOME, PEERS_M2, KAFKA_HEAP, TOOLS_HEAP: see
#   bench/peers/kafka.sh
#   PER_TXN [100,1000]: records per transaction, one topic each   WARMUP_RECORDS [RECORDS / 10]
#   TXN_BROKERS ["ringlog kafka"]: which brokers to run (one of them alone: a smoke test, no ratios)
#   TXN_CLIENT_PROPS: more client properties for both brokers, "producer.NAME=VALUE consumer.NAME=VALUE ..."
#   PHASE_TIMEOUT_S [600]: bound of one produce or one consume pass inside TxnBench
#   RESULTS_DIR [bench-results of this checkout]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-3}
RECORDS=${2:-200000}
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
bad() { echo "txn-side-by-side.sh: $*" >&2; exit 2; }
[ $# -le 2 ] || usage
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || bad "ROUNDS must be a positive integer, not '$ROUNDS'"
[[ "$RECORDS" =~ ^[1-9][0-9]*$ ]] || bad "RECORDS must be a positive integer, not '$RECORDS'"

RINGLOG=${RINGLOG:-$REPO/target/release/ringlog}
RINGLOG_CORES=${RINGLOG_CORES:-1}
RINGLOG_FLUSH=${RINGLOG_FLUSH:-always}
RINGLOG_IO=${RINGLOG_IO:-uring}
# Not compare.sh's 29192: both may run side by side; next to this script's Kafka ports.
RINGLOG_PORT=${RINGLOG_PORT:-29394}
PER_TXN=${PER_TXN:-100,1000}
WARMUP_RECORDS=${WARMUP_RECORDS:-$((RECORDS / 10))}
TXN_BROKERS=${TXN_BROKERS:-ringlog kafka}
TXN_CLIENT_PROPS=${TXN_CLIENT_PROPS:-}
PHASE_TIMEOUT_S=${PHASE_TIMEOUT_S:-600}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench-results}
export PEERS_HOME=${PEERS_HOME:-${TMPDIR:-/tmp}/ringlog-bench-peers}
# Not compare.sh's 29092: the share bench's ports, free unless it runs at the same time.
export KAFKA_PORT=${KAFKA_PORT:-29392}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-29393}
KAFKA_SH=$HERE/kafka.sh
[[ "$PER_TXN" =~ ^[1-9][0-9]*(,[1-9][0-9]*)*$ ]] || bad "PER_TXN must be a comma-separated list of positive integers, not '$PER_TXN'"
[[ "$WARMUP_RECORDS" =~ ^[0-9]+$ ]] || bad "WARMUP_RECORDS must be a non-negative integer, not '$WARMUP_RECORDS'"
[[ "$PHASE_TIMEOUT_S" =~ ^[1-9][0-9]*$ ]] || bad "PHASE_TIMEOUT_S must be a positive integer, not '$PHASE_TIMEOUT_S'"
RUN_RINGLOG=0
RUN_KAFKA=0
for b in $TXN_BROKERS; do
    case "$b" in
        ringlog) RUN_RINGLOG=1 ;;
        kafka) RUN_KAFKA=1 ;;
        *) bad "TXN_BROKERS lists '$b': only ringlog and kafka" ;;
    esac
done
[ $((RUN_RINGLOG + RUN_KAFKA)) -gt 0 ] || bad "TXN_BROKERS names no broker"
# A TxnBench run (one JVM, one broker, one round) past this is stuck: each size is one produce and seven
# consume passes, each bounded by PHASE_TIMEOUT_S inside the JVM; a minute more for the JVM and topics.
SIZES=$(tr ',' '\n' <<< "$PER_TXN" | wc -l)
RUN_TIMEOUT_S=$((SIZES * 8 * PHASE_TIMEOUT_S + 60))
RINGLOG_START_WAIT_S=15
RINGLOG_STOP_WAIT_S=30

die() { echo "txn-side-by-side.sh: $*" >&2; exit 1; }
log() { echo "[txn $(date -u +%H:%M:%S)] $*" >&2; }
port_open() { (exec 3<> "/dev/tcp/127.0.0.1/$1") 2> /dev/null; }

# --- what it needs: checked before anything starts -------------------------------------------------------
command -v python3 > /dev/null || die "python3 not found (the table needs it)"
JAVA=${JAVA:-java}
command -v "$JAVA" > /dev/null || die "'$JAVA' not found: Java 17 or later is needed (set JAVA=...)"
JAVAC=${JAVAC:-$(dirname "$(readlink -f "$(command -v "$JAVA")")")/javac}
[ -x "$JAVAC" ] || JAVAC=$(command -v javac || true)
if [ -z "$JAVAC" ] || [ ! -x "$JAVAC" ]; then
    die "javac not found: a JDK 17+ (not only a JRE) is needed to compile TxnBench.java"
fi
if [ "$RUN_RINGLOG" = 1 ]; then
    [ -x "$RINGLOG" ] || die "no ringlog binary at $RINGLOG: run 'cargo build --release' (or set RINGLOG=...)"
    "$RINGLOG" serve --help 2>&1 | grep -- "--transaction-max-timeout-ms" > /dev/null \
        || die "$RINGLOG has no transaction coordinator (no --transaction-max-timeout-ms): rebuild it from this checkout"
    port_open "$RINGLOG_PORT" && die "127.0.0.1:$RINGLOG_PORT is in use: set RINGLOG_PORT"
fi
if ! "$KAFKA_SH" classpath > /dev/null 2>&1; then
    log "Kafka is not set up in $PEERS_HOME: bench/peers/kafka.sh setup"
    "$KAFKA_SH" setup || die "Kafka set-up failed"
fi
if [ "$RUN_KAFKA" = 1 ]; then
    "$KAFKA_SH" pid > /dev/null 2>&1 && die "a Kafka broker from $PEERS_HOME is already running: bench/peers/kafka.sh stop"
fi

STAMP=$(date -u +%Y%m%d-%H%M%S)
WORK=$PEERS_HOME/txn-$STAMP
mkdir -p "$WORK/classes" "$RESULTS_DIR"
"$JAVAC" -encoding UTF-8 -d "$WORK/classes" -cp "$("$KAFKA_SH" classpath)" "$HERE/TxnBench.java" \
    || die "javac could not compile TxnBench.java against the Kafka jars"

# --- brokers, the client, the sampler, and stopping them whatever happens ---------------------------------
KAFKA_STARTED=0
KAFKA_PID=
RINGLOG_PID=
CHILD=
SAMPLER=
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
    rm -rf "${WORK:?}/ringlog-data"
}
cleanup() {
    trap - EXIT INT TERM
    if [ -n "$CHILD" ]; then kill "$CHILD" 2> /dev/null || true; wait "$CHILD" 2> /dev/null || true; CHILD=; fi
    stop_ringlog
    if [ "$KAFKA_STARTED" = 1 ]; then "$KAFKA_SH" stop || true; KAFKA_STARTED=0; rm -rf "$PEERS_HOME/kafka-run/data"; fi
    if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2> /dev/null || true; wait "$SAMPLER" 2> /dev/null || true; SAMPLER=; fi
}
trap cleanup EXIT
trap 'log "interrupted: stopping every broker and client started"; exit 130' INT TERM

start_ringlog() { # start_ringlog ROUND
    local dir=$WORK/ringlog-data
    rm -rf "$dir"
    "$RINGLOG" serve --listen "127.0.0.1:$RINGLOG_PORT" --data-dir "$dir" --cores "$RINGLOG_CORES" \
        --io "$RINGLOG_IO" --flush "$RINGLOG_FLUSH" > "$WORK/ringlog-$1.serve.log" 2>&1 < /dev/null &
    RINGLOG_PID=$!
    local i
    for ((i = 0; i < RINGLOG_START_WAIT_S * 4; i++)); do
        port_open "$RINGLOG_PORT" && return 0
        kill -0 "$RINGLOG_PID" 2> /dev/null || break
        sleep 0.25
    done
    tail -n 20 "$WORK/ringlog-$1.serve.log" >&2
    stop_ringlog
    return 1
}

if [ "$RUN_KAFKA" = 1 ]; then
    log "starting Kafka 4.4 on 127.0.0.1:$KAFKA_PORT"
    KAFKA_STARTED=1
    "$KAFKA_SH" start || { KAFKA_STARTED=0; die "Kafka did not start (log: $PEERS_HOME/kafka-run/broker.log)"; }
    KAFKA_PID=$("$KAFKA_SH" pid) || die "Kafka started but has no PID"
fi

# What else runs on the machine meanwhile (a shared machine: builds and tests skew the figures): every
# SAMPLE_S, the 1-minute load average and how many cargo, rustc and java processes (Kafka's own JVM and this
# run's client excluded) run.
SAMPLE_S=2
(
    while :; do
        others_java=$(pgrep -x java | grep -cvxF -e "${KAFKA_PID:-none}" -e "$(cat "$WORK/client.pid" 2> /dev/null || echo none)" || true)
        echo "$(date -u +%T) $(cut -d' ' -f1 /proc/loadavg) $(pgrep -x cargo | wc -l) $(pgrep -x rustc | wc -l) $others_java"
        sleep "$SAMPLE_S"
    done
) > "$WORK/activity.txt" 2> /dev/null &
SAMPLER=$!

FAILED=0
# failed_run LABEL ROUND MESSAGE: a round without figures, as a JSON the report lists.
failed_run() {
    python3 -c 'import json, sys; print(json.dumps({"failures": [sys.argv[1]]}))' "$3" > "$WORK/$1-$2.json"
    log "round $2: $1 failed: $3"
    FAILED=1
}
# bench LABEL ROUND BOOTSTRAP: one TxnBench run; its JSON in $WORK/LABEL-ROUND.json, its stderr in .log.
bench() {
    local label=$1 round=$2 bootstrap=$3 rc=0
    log "round $round/$ROUNDS: $label"
    # shellcheck disable=SC2086 # TXN_CLIENT_PROPS is a list of NAME=VALUE arguments
    KAFKA_EXTRA_CLASSPATH=$WORK/classes timeout "$RUN_TIMEOUT_S" "$KAFKA_SH" java TxnBench "$bootstrap" \
        "$STAMP-$label-$round" "$RECORDS" "$WARMUP_RECORDS" "$PHASE_TIMEOUT_S" "$PER_TXN" $TXN_CLIENT_PROPS \
        > "$WORK/$label-$round.json" 2> "$WORK/$label-$round.log" < /dev/null &
    CHILD=$!
    # kafka.sh java execs the JVM: timeout's child is the client (the sampler leaves it out).
    sleep 0.5
    pgrep -P "$CHILD" > "$WORK/client.pid" 2> /dev/null || true
    wait "$CHILD" || rc=$?
    CHILD=
    if [ "$rc" != 0 ]; then
        tail -n 5 "$WORK/$label-$round.log" >&2
        if [ -s "$WORK/$label-$round.json" ]; then
            log "round $round: $label: TxnBench exited $rc (log: $WORK/$label-$round.log)"
            FAILED=1
        else
            failed_run "$label" "$round" "TxnBench exited $rc$([ "$rc" = 124 ] && echo ": stopped after $RUN_TIMEOUT_S s"), no figures (log: $label-$round.log)"
        fi
    fi
}
for ((round = 1; round <= ROUNDS; round++)); do
    if [ "$RUN_RINGLOG" = 1 ]; then
        log "round $round/$ROUNDS: ringlog serve --cores $RINGLOG_CORES --io $RINGLOG_IO --flush $RINGLOG_FLUSH"
        if start_ringlog "$round"; then
            bench ringlog "$round" "127.0.0.1:$RINGLOG_PORT"
            if ! kill -0 "$RINGLOG_PID" 2> /dev/null; then
                log "round $round: ringlog serve exited during the run (log: $WORK/ringlog-$round.serve.log)"
                FAILED=1
            fi
            stop_ringlog
        else
            failed_run ringlog "$round" "ringlog serve did not start (log: ringlog-$round.serve.log)"
        fi
    fi
    if [ "$RUN_KAFKA" = 1 ]; then
        if kill -0 "$KAFKA_PID" 2> /dev/null; then
            bench kafka "$round" "127.0.0.1:$KAFKA_PORT"
        else
            failed_run kafka "$round" "the Kafka broker is gone (log: $PEERS_HOME/kafka-run/broker.log)"
        fi
    fi
done
cleanup

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2> /dev/null)" ]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
RINGLOG_VERSION=$([ "$RUN_RINGLOG" = 1 ] && "$RINGLOG" --version 2> /dev/null | awk '{ print $2 }' || echo "not run")
OUT=$RESULTS_DIR/txn-$STAMP.md
python3 - "$WORK" "$ROUNDS" "$RECORDS" "$WARMUP_RECORDS" "$PER_TXN" "$TXN_BROKERS" "$COMMIT" "$RINGLOG_VERSION" \
    "$RINGLOG_CORES" "$RINGLOG_IO" "$RINGLOG_FLUSH" "$KAFKA_PORT" "${KAFKA_VERSION:-4.4.0}" \
    "$("$JAVA" -version 2>&1 | head -n 1 | tr -d '"')" "bench/peers/txn-side-by-side.sh $*" "$TXN_CLIENT_PROPS" \
    > "$OUT" <<'PY' || FAILED=1
import glob, json, os, platform, re, statistics, sys

(work, rounds, records, warmup, per_txn, brokers, commit, ringlog_version, cores, io, flush, kafka_port,
 kafka_version, java, command, client_props) = sys.argv[1:]
rounds = int(rounds)
sizes = [int(s) for s in per_txn.split(",")]
labels = [b for b in ("ringlog", "kafka") if b in brokers.split()]
reports = {"ringlog": [], "kafka": []}
for label in labels:
    for n in range(1, rounds + 1):
        path = os.path.join(work, f"{label}-{n}.json")
        try:
            with open(path) as f:
                reports[label].append(json.load(f))
        except (OSError, ValueError) as e:
            reports[label].append({"failures": [f"{os.path.basename(path)}: no result ({e})"]})

def size_of(rep, n):
    return next((s for s in rep.get("sizes", []) if s.get("per_txn") == n), {})

def spread(values):
    values = [v for v in values if v is not None]
    return (statistics.median(values), min(values), max(values)) if values else None

def fig(label, f):
    return spread([f(rep) for rep in reports[label]])

def get(*path):
    def f(rep):
        v = size_of(rep, path[0])
        for k in path[1:]:
            v = v.get(k) if isinstance(v, dict) else None
        return v
    return f

def rc_over_ru(n):
    def f(rep):
        rc, ru = get(n, "consume", "read_committed", "mb_per_s")(rep), get(n, "consume", "read_uncommitted", "mb_per_s")(rep)
        return rc / ru if rc is not None and ru else None
    return f

def cell(s, digits=1):
    if s is None:
        return "n/a"
    m, lo, hi = s
    return f"{m:,.{digits}f} ({lo:,.{digits}f}..{hi:,.{digits}f})"

goals, rows = [], []
def row(name, f, digits=1, goal=None):
    a, b = fig("ringlog", f), fig("kafka", f)
    ratio = a[0] / b[0] if a and b and b[0] else None
    met = ""
    if goal and len(labels) == 2:
        kind, bound = goal
        ok = ratio is not None and (ratio >= bound if kind == ">=" else ratio <= bound)
        met = "yes" if ok else "**no**"
        goals.append((name, f"ringlog/Kafka {kind} {bound}", ratio, ok))
    rows.append(f"| {name} | {cell(a, digits)} | {cell(b, digits)} | {'n/a' if ratio is None else f'{ratio:.2f}'} | "
                f"{'' if not goal else f'{goal[0]} {goal[1]} x Kafka'} | {met} |")

def within(name, f, bound):
    # read_committed against read_uncommitted within each broker: the median of the per-round ratios.
    a, b = fig("ringlog", f), fig("kafka", f)
    ok = a is not None and a[0] >= bound
    if "ringlog" in labels:
        goals.append((name + " on ringlog", f"read_committed/read_uncommitted >= {bound}", a[0] if a else None, ok))
    rows.append(f"| {name} | {cell(a, 2)} | {cell(b, 2)} | - | ringlog >= {bound} | "
                f"{('yes' if ok else '**no**') if 'ringlog' in labels else ''} |")

def txns(n):
    return f"{n:,} records/transaction"

for n in sizes:
    row(f"transactional produce, {txns(n)}: MB/s", get(n, "mb_per_s"), goal=(">=", 2.0))
    row(f"transactional produce, {txns(n)}: records/s", get(n, "records_per_s"), digits=0)
    row(f"commitTransaction(), {txns(n)}: p50 µs", get(n, "commit_us", "p50"), digits=0)
    row(f"commitTransaction(), {txns(n)}: p99 µs", get(n, "commit_us", "p99"), digits=0, goal=("<=", 0.5))
for n in sizes:
    row(f"consume read_uncommitted, topic of {txns(n)}: MB/s", get(n, "consume", "read_uncommitted", "mb_per_s"))
    row(f"consume read_committed, topic of {txns(n)}: MB/s", get(n, "consume", "read_committed", "mb_per_s"))
    within(f"read_committed / read_uncommitted, topic of {txns(n)}", rc_over_ru(n), 0.9)

cpu = "unknown"
try:
    with open("/proc/cpuinfo") as f:
        m = re.search(r"^model name\s*:\s*(.+)$", f.read(), re.M)
        cpu = m.group(1).strip() if m else cpu
except OSError:
    pass
activity = []
try:
    with open(os.path.join(work, "activity.txt")) as f:
        activity = [l.split() for l in f if len(l.split()) == 5]
except OSError:
    pass
passes = next((rep["consume_passes"] for label in labels for rep in reports[label] if "consume_passes" in rep), "n/a")
tv = {label: sorted({str(rep.get("transaction_version")) for rep in reports[label] if "sizes" in rep}) for label in labels}

print("# Transactions side by side: ringlog and Apache Kafka 4.4 (issue #18)\n")
print(f"Command: `{command}`" + (f" with TXN_CLIENT_PROPS=`{client_props}`" if client_props else "")
      + f"; ringlog commit {commit}, ringlog {ringlog_version}; {java}.  ")
print(f"Machine: {os.cpu_count()} CPUs, {cpu}, kernel {platform.release()}.  ")
print(f"Brokers: ringlog `serve --cores {cores} --io {io} --flush {flush}` (a fresh child and data directory per "
      f"round); Apache Kafka {kafka_version}, one KRaft node (broker+controller) on 127.0.0.1:{kafka_port}, 1 GiB "
      f"heap, as shipped (no fsync before the ack), started once by bench/peers/kafka.sh. Finalized "
      f"transaction.version seen by the client: "
      + ", ".join(f"{label} {'/'.join(v) if v else 'n/a'}" for label, v in tv.items())
      + " (2: the client adds partitions implicitly with Produce and EndTxn bumps the epoch; 1 or none: the "
      f"classic protocol, AddPartitionsToTxn from the client). Rounds: {rounds}"
      + (", ringlog then Kafka in each" if len(labels) == 2 else f", {labels[0]} only (a smoke run: no ratios)")
      + f". Client on both: TxnBench.java (kafka-clients {kafka_version}, one JVM per broker and round). Per "
      f"size, a new 1-partition topic; one transactional producer (acks=all, idempotent, batch.size=65536, "
      f"linger.ms=5) writes {int(warmup):,} records (warm-up, not measured) then {int(records):,} records of "
      f"1 KiB in transactions of that size: throughput from the first send() to the return of the last "
      f"commitTransaction(); commit latency is each commitTransaction() call (it sends the transaction's last "
      f"batches and waits for their acks, then EndTxn). Then a KafkaConsumer (assign + seekToBeginning, client "
      f"defaults) reads the topic just written, in the page cache, to its end offset: one read_uncommitted pass "
      f"not measured, then {passes} passes per isolation level alternating, the median of those; every pass must "
      f"return every record. A figure is the median (min..max) of the rounds; ringlog/Kafka ratios are of "
      f"medians; read_committed/read_uncommitted is the median of the per-round ratios. MB = 10^6 bytes of "
      f"record values.\n")
if activity:
    loads = [float(a[1]) for a in activity]
    busy = lambda i: sum(1 for a in activity if int(a[i]) > 0)
    print(f"Machine activity during the run ({len(activity)} samples, 2 s apart): 1-minute load average "
          f"{min(loads):.2f}..{max(loads):.2f}; other processes seen: cargo in {busy(2)}, rustc in {busy(3)}, "
          f"another JVM in {busy(4)} samples" + (" (a shared machine: those skew the figures)."
          if busy(2) + busy(3) + busy(4) else ".") + "\n")
print("| measurement | ringlog | Kafka 4.4 | ringlog / Kafka | goal | met |")
print("|---|---|---|---|---|---|")
for r in rows:
    print(r)
print("\n## Goals\n")
if len(labels) < 2:
    print(f"Not judged: {labels[0]} only.")
for name, goal, ratio, ok in goals:
    print(f"- {name}: {goal}: {'n/a' if ratio is None else f'{ratio:.2f}'}, {'met' if ok else '**not met**'}")
failures = [f"{label} round {i}: {f}" for label in labels for i, rep in enumerate(reports[label], 1)
            for f in rep.get("failures", [])]
missing = [(label, sum(1 for rep in reports[label] if rep.get("sizes"))) for label in labels]
missing = [(label, done) for label, done in missing if done < rounds]
if failures or missing:
    print("\n## Failures\n")
    for f in failures:
        print(f"- {f}")
    for label, done in missing:
        print(f"- {label}: {done} of {rounds} rounds have figures")
print("\n## Every round\n")
print("| broker | round | records/txn | MB/s | records/s | commit p50/p99/max µs | initTransactions ms "
      "| read_uncommitted MB/s | read_committed MB/s | end offset |")
print("|---|---|---|---|---|---|---|---|---|---|")
def num(v, digits=1):
    return "n/a" if v is None else f"{v:,.{digits}f}"
for label in labels:
    for i, rep in enumerate(reports[label], 1):
        for n in sizes:
            g = lambda *p: get(n, *p)(rep)
            passes = lambda lvl: "/".join(num(v) for v in (g("consume", lvl, "passes_mb_per_s") or [])) or "n/a"
            print(f"| {label} | {i} | {n:,} | {num(g('mb_per_s'))} | {num(g('records_per_s'), 0)} | "
                  f"{num(g('commit_us', 'p50'), 0)}/{num(g('commit_us', 'p99'), 0)}/{num(g('commit_us', 'max'), 0)} | "
                  f"{num(g('init_transactions_ms'))} | {passes('read_uncommitted')} | {passes('read_committed')} | "
                  f"{num(g('end_offset'), 0)} |")
sys.exit(1 if failures or missing else 0)
PY
# No machine paths in the results: the run's directory is named as the script's header does.
sed -i "s|$WORK|\$PEERS_HOME/txn-<time>|g" "$OUT"
cat "$OUT"
log "wrote $OUT (raw: $WORK)"
exit "$FAILED"
