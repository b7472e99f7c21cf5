#!/usr/bin/env bash
# Share groups (issue #16) side by side: `ringlog bench share` against ringlog and against Apache Kafka 4.4
# in one run, one Markdown table with the ringlog/Kafka ratios and the issue's goals.
#
#   bench/peers/share-side-by-side.sh [ROUNDS] [RECORDS]          defaults 3 and 200000
#
# Per round, alternately (ringlog, then Kafka, so slow drift of the machine spreads over both):
#   ringlog   `ringlog bench share --rounds 1`: a fresh `ringlog serve --cores $RINGLOG_CORES --flush $RINGLOG_FLUSH`
#             child on a fresh data directory
#   kafka     `ringlog bench share --rounds 1 --bootstrap 127.0.0.1:$KAFKA_PORT` against one Kafka 4.4 broker
#             (bench/peers/kafka.sh, started once for the whole run, KRaft, as shipped: no fsync before the ack)
# Each is the same workload from the same client (ringlog's own, one thread): a new 1-partition topic of RECORDS
# records of 1 KiB, a warm-up, classic Fetch throughput, share throughput with 1, 4 and 16 consumers of a new
# group (implicit acknowledgement, until every record is accepted once), and ShareAcknowledge round trips.
# Medians over rounds; goals: ringlog >= 2 x Kafka's share throughput, ringlog's ack p99 <= 0.5 x Kafka's, and
# share >= 0.8 x classic on ringlog.
#
# Writes the table to stdout and to bench-results/share-<UTC date>-<time>.md (with every figure of every round
# and each broker's own report); raw JSON stays in $PEERS_HOME/share-<time>/. Exits 1 if a run failed (the
# table is still written), 2 on bad arguments. Stops Kafka at the end, also on failure and Ctrl-C.
#
# Needs: Java 17+, Maven (first run only, for bench/peers/kafka.sh setup), python3, and a release build
# (cargo build --release). Environment (defaults in brackets):
#   RINGLOG [target/release/ringlog of this checkout]   RINGLOG_CORES [1]   RINGLOG_FLUSH [always]
#   KAFKA_PORT [29392]   KAFKA_CONTROLLER_PORT [29393]   PEERS_HOME, PEERS_M2, KAFKA_HEAP: see bench/peers/kafka.sh
#   BENCH_ARGS: more `ringlog bench share` flags for both brokers, e.g. "--ack-samples 5000"
#   RESULTS_DIR [bench-results of this checkout]
set -euo pipefail

HERE=$(cd "$(dirname "$0")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
ROUNDS=${1:-3}
RECORDS=${2:-200000}
[ $# -le 2 ] || { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
[[ "$ROUNDS" =~ ^[1-9][0-9]*$ ]] || { echo "share-side-by-side.sh: ROUNDS must be a positive integer, not '$ROUNDS'" >&2; exit 2; }
[[ "$RECORDS" =~ ^[1-9][0-9]*$ ]] || { echo "share-side-by-side.sh: RECORDS must be a positive integer, not '$RECORDS'" >&2; exit 2; }

RINGLOG=${RINGLOG:-$REPO/target/release/ringlog}
RINGLOG_CORES=${RINGLOG_CORES:-1}
RINGLOG_FLUSH=${RINGLOG_FLUSH:-always}
RESULTS_DIR=${RESULTS_DIR:-$REPO/bench-results}
BENCH_ARGS=${BENCH_ARGS:-}
export PEERS_HOME=${PEERS_HOME:-${TMPDIR:-/tmp}/ringlog-bench-peers}
# Not compare.sh's 29092: both may be set up side by side.
export KAFKA_PORT=${KAFKA_PORT:-29392}
export KAFKA_CONTROLLER_PORT=${KAFKA_CONTROLLER_PORT:-29393}
KAFKA_SH=$HERE/kafka.sh
# A run (ringlog bench share --rounds 1) that takes longer than this is stuck: the benchmark's own bound per
# measurement is 300 s, and a round has five of them plus the fill.
RUN_TIMEOUT_S=1800

die() { echo "share-side-by-side.sh: $*" >&2; exit 1; }
log() { echo "[share $(date -u +%H:%M:%S)] $*" >&2; }

[ -x "$RINGLOG" ] || die "no ringlog binary at $RINGLOG: run 'cargo build --release' (or set RINGLOG=...)"
command -v python3 > /dev/null || die "python3 not found (the table needs it)"
if ! "$KAFKA_SH" classpath > /dev/null 2>&1; then
    log "Kafka is not set up in $PEERS_HOME: bench/peers/kafka.sh setup"
    "$KAFKA_SH" setup
fi

STAMP=$(date -u +%Y%m%d-%H%M%S)
WORK=$PEERS_HOME/share-$STAMP
mkdir -p "$WORK" "$RESULTS_DIR"
KAFKA_STARTED=0
SAMPLER=
cleanup() {
    if [ -n "$SAMPLER" ]; then kill "$SAMPLER" 2> /dev/null || true; SAMPLER=; fi
    if [ "$KAFKA_STARTED" = 1 ]; then "$KAFKA_SH" stop || true; KAFKA_STARTED=0; fi
}
trap cleanup EXIT
trap 'cleanup; exit 130' INT TERM

log "starting Kafka 4.4 on 127.0.0.1:$KAFKA_PORT"
"$KAFKA_SH" start
KAFKA_STARTED=1
KAFKA_PID=$("$KAFKA_SH" pid) || die "Kafka started but has no PID"

# What else runs on the machine meanwhile (a shared machine: builds and tests skew the figures): every
# SAMPLE_S, the 1-minute load average and how many cargo, rustc and java processes (Kafka's own JVM excluded) run.
SAMPLE_S=2
(
    while :; do
        others_java=$(pgrep -x java | grep -cvx "$KAFKA_PID" || true)
        echo "$(date -u +%T) $(cut -d' ' -f1 /proc/loadavg) $(pgrep -x cargo | wc -l) $(pgrep -x rustc | wc -l) $others_java"
        sleep "$SAMPLE_S"
    done
) > "$WORK/activity.txt" &
SAMPLER=$!

FAILED=0
# bench LABEL ROUND ARGS...: one `ringlog bench share --rounds 1` run; its JSON in $WORK/LABEL-ROUND.json.
bench() {
    local label=$1 round=$2; shift 2
    log "round $round/$ROUNDS: $label"
    # shellcheck disable=SC2086 # BENCH_ARGS is a list of flags
    if ! timeout "$RUN_TIMEOUT_S" "$RINGLOG" bench share --rounds 1 --records "$RECORDS" --label "$label" \
        --out "$WORK/$label-$round" --json $BENCH_ARGS "$@" > "$WORK/$label-$round.json" 2> "$WORK/$label-$round.log"; then
        tail -n 5 "$WORK/$label-$round.log" >&2
        log "round $round: $label failed (log: $WORK/$label-$round.log)"
        FAILED=1
    fi
}
for ((round = 1; round <= ROUNDS; round++)); do
    bench ringlog "$round" --cores "$RINGLOG_CORES" --flush "$RINGLOG_FLUSH"
    bench kafka "$round" --bootstrap "127.0.0.1:$KAFKA_PORT" --broker-pid "$KAFKA_PID"
done
cleanup

COMMIT=$(git -C "$REPO" rev-parse --short HEAD 2> /dev/null || echo unknown)
if [ -n "$(git -C "$REPO" status --porcelain --untracked-files=no 2> /dev/null)" ]; then COMMIT="$COMMIT (with uncommitted changes)"; fi
OUT=$RESULTS_DIR/share-$STAMP.md
python3 - "$WORK" "$ROUNDS" "$RECORDS" "$COMMIT" "$RINGLOG_CORES" "$RINGLOG_FLUSH" "$KAFKA_PORT" \
    "bench/peers/share-side-by-side.sh $*" "$BENCH_ARGS" > "$OUT" <<'PY' || FAILED=1
import glob, json, os, statistics, sys

work, rounds, records, commit, cores, flush, kafka_port, command, extra = sys.argv[1:]
reports = {"ringlog": [], "kafka": []}
for label in reports:
    for path in sorted(glob.glob(os.path.join(work, f"{label}-*.json"))):
        try:
            with open(path) as f:
                reports[label].append(json.load(f))
        except (OSError, ValueError) as e:
            print(f"<!-- {path}: {e} -->")

def rounds_of(label):
    return [r for rep in reports[label] for r in rep.get("rounds", [])]

def spread(values):
    values = [v for v in values if v is not None]
    if not values:
        return None
    return (statistics.median(values), min(values), max(values))

def classic_mb(r): return r["classic"]["mb_per_s"]
def share_of(r, k): return next((s for s in r["share"] if s["consumers"] == k), None)
def share_mb(k): return lambda r: (share_of(r, k) or {}).get("throughput", {}).get("mb_per_s")
def share_rec(k): return lambda r: (share_of(r, k) or {}).get("throughput", {}).get("records_per_s")
def ack(p): return lambda r: r.get("ack_rtt_us", {}).get(p)
def cpu_gb(t):
    return t["broker_cpu_s"] / (t["bytes"] / 1e9) if "broker_cpu_s" in t and t["bytes"] else None
def classic_cpu(r): return cpu_gb(r["classic"])
def share_cpu(k): return lambda r: cpu_gb(share_of(r, k)["throughput"]) if share_of(r, k) else None

def fig(label, f):
    return spread([f(r) for r in rounds_of(label)])

def cell(s, digits=1):
    if s is None:
        return "n/a"
    m, lo, hi = s
    if digits == 0:
        return f"{m:,.0f} ({lo:,.0f}..{hi:,.0f})"
    return f"{m:,.{digits}f} ({lo:,.{digits}f}..{hi:,.{digits}f})"

consumers = sorted({s["consumers"] for label in reports for r in rounds_of(label) for s in r["share"]})
goals = []
rows = []
def row(name, f, digits=1, goal=None):
    a, b = fig("ringlog", f), fig("kafka", f)
    ratio = a[0] / b[0] if a and b and b[0] else None
    met = ""
    if goal and ratio is not None:
        kind, bound = goal
        ok = ratio >= bound if kind == ">=" else ratio <= bound
        met = "yes" if ok else "**no**"
        goals.append((name, f"ringlog/Kafka {kind} {bound}", ratio, ok))
    rows.append(f"| {name} | {cell(a, digits)} | {cell(b, digits)} | "
                f"{'n/a' if ratio is None else f'{ratio:.2f}'} | "
                f"{'' if not goal else f'{goal[0]} {goal[1]}'} | {met} |")

row("classic Fetch, 1 consumer: MB/s", classic_mb)
for k in consumers:
    row(f"share, {k} consumer{'s' if k > 1 else ''}: MB/s", share_mb(k), goal=(">=", 2.0))
for k in consumers:
    row(f"share, {k} consumer{'s' if k > 1 else ''}: records/s", share_rec(k), digits=0)
row("ShareAcknowledge round trip p50: µs", ack("p50"), digits=0)
row("ShareAcknowledge round trip p99: µs", ack("p99"), digits=0, goal=("<=", 0.5))
row("classic: broker CPU s/GB", classic_cpu, digits=2)
for k in consumers:
    row(f"share, {k} consumer{'s' if k > 1 else ''}: broker CPU s/GB", share_cpu(k), digits=2)

# Share against classic within each broker (the issue's >= 0.8 is ringlog's goal).
within = []
for label in reports:
    c = fig(label, classic_mb)
    for k in consumers:
        s = fig(label, share_mb(k))
        if c and s:
            ratio = s[0] / c[0]
            within.append((label, k, ratio))
            if label == "ringlog":
                goals.append((f"ringlog share, {k} consumer{'s' if k > 1 else ''}", "share/classic >= 0.8",
                              ratio, ratio >= 0.8))

machine = next((rep["machine"] for label in reports for rep in reports[label]), None)
# The client settings both brokers ran with (BENCH_ARGS applies to both).
configs = {json.dumps(rep.get("config", {}), sort_keys=True) for label in reports for rep in reports[label]}
config = json.loads(next(iter(configs))) if len(configs) == 1 else {}
max_records = config.get("max_records", "?") if config else "differing (see each report)"
pipelined = config.get("pipeline", False)
client_mode = ("pipelined (`--pipeline`): each consumer, classic and share, sends its next Fetch or ShareFetch "
               "as soon as an answer arrives, before decoding its records" if pipelined
               else "one request at a time per consumer")
activity = []
try:
    with open(os.path.join(work, "activity.txt")) as f:
        activity = [l.split() for l in f if len(l.split()) == 5]
except OSError:
    pass
print("# Share groups side by side: ringlog and Apache Kafka 4.4 (issue #16)\n")
print(f"Command: `{command}`" + (f" with BENCH_ARGS=`{extra}`" if extra else "") + f"; ringlog commit {commit}.  ")
if machine:
    print(f"Machine: {machine['cpus']:.0f} CPUs, {machine['cpu_model']}, kernel {machine['kernel']}.  ")
print(f"Brokers: ringlog `serve --cores {cores} --io uring --flush {flush}` (a fresh child and data directory per "
      f"round, started by `ringlog bench share`); Apache Kafka 4.4.0, one KRaft node (broker+controller) on "
      f"127.0.0.1:{kafka_port}, 1 GiB heap, as shipped (no fsync before the ack; share groups on by default), "
      f"started once by bench/peers/kafka.sh. Rounds: {rounds}, ringlog and Kafka alternately; each round a new "
      f"1-partition topic of {int(records):,} records of 1 KiB and new groups (`share.auto.offset.reset=earliest` "
      f"by IncrementalAlterConfigs). Client on both: `ringlog bench share` (ringlog's own client, one thread, "
      f"every record decoded; {client_mode}; share members implicit-acknowledge, at most {max_records} records "
      f"per ShareFetch, {config.get('fetch_bytes', '?')} bytes per classic Fetch; ack round "
      f"trip = one ShareAcknowledge of one ACCEPT). A figure is the median (min..max) of the rounds; ratios are of "
      f"medians.\n")
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
print("\nShare throughput against classic Fetch, same broker, same run:\n")
print("| broker | " + " | ".join(f"{k} consumer{'s' if k > 1 else ''}" for k in consumers) + " |")
print("|---|" + "---|" * len(consumers))
for label in reports:
    cells = [next((f"{r:.2f} x classic" for (l, k2, r) in within if l == label and k2 == k), "n/a")
             for k in consumers]
    print(f"| {label} | " + " | ".join(cells) + " |")
print("\n## Goals\n")
for name, goal, ratio, ok in goals:
    print(f"- {name}: {goal}: {ratio:.2f}, {'met' if ok else '**not met**'}")
failures = [f for label in reports for rep in reports[label] for f in rep.get("failures", [])]
missing = [label for label in reports if len(rounds_of(label)) < int(rounds)]
if failures or missing:
    print("\n## Failures\n")
    for f in failures:
        print(f"- {f}")
    for label in missing:
        print(f"- {label}: {len(rounds_of(label))} of {rounds} rounds completed")
print("\n## Every round\n")
print("| broker | round | classic MB/s | " + " | ".join(f"share x{k} MB/s" for k in consumers)
      + " | ack p50/p99 µs | redelivered | duplicates | ack errors |")
print("|---|---|---|" + "---|" * len(consumers) + "---|---|---|---|")
for label in reports:
    for i, r in enumerate(rounds_of(label), 1):
        shares = [f"{share_mb(k)(r):.1f}" if share_mb(k)(r) is not None else "n/a" for k in consumers]
        a = r.get("ack_rtt_us", {})
        red = sum(s["redelivered"] for s in r["share"])
        dup = sum(s["duplicates"] for s in r["share"])
        err = sum(s["ack_errors"] for s in r["share"])
        print(f"| {label} | {i} | {classic_mb(r):.1f} | " + " | ".join(shares)
              + f" | {a.get('p50', 'n/a')}/{a.get('p99', 'n/a')} | {red} | {dup} | {err} |")
for label in reports:
    for path in sorted(glob.glob(os.path.join(work, f"{label}-1", "share-*.md")))[:1]:
        with open(path) as f:
            lines = f.read().splitlines()[1:]  # without its title
        print(f"\n## {label}: the benchmark's own report of round 1\n")
        text = "\n".join("##" + l if l.startswith("## ") else l for l in lines).strip()
        # No machine paths in the results: the run's directory is named as the script's header does.
        print(text.replace(work, "$PEERS_HOME/share-<time>"))
sys.exit(1 if failures or missing else 0)
PY
cat "$OUT"
log "wrote $OUT (raw: $WORK)"
exit "$FAILED"
