"""kafka-python against scheduled delivery (issue #15) on a live ringlog broker.

Topics created with ringlog.delivery.delay.enable=true hold records that carry a
`ringlog-deliver-at` (epoch ms) or `ringlog-delay-ms` (relative to the broker's receive time) header
until they are due. This script checks, per codec kafka-python can use here (a codec whose package
is missing is skipped, loudly):
- mixed batches (delayed and undelayed records, linger) are acknowledged; a consumer started
  before the produce sees no delayed record before it is due, every record within due + 3 s, each
  exactly once, with its header, and a partition's delayed records in due-time order; undelayed
  (and already due) records are readable at once;
- a batch whose records are all delayed is acknowledged with offset -1 (not known yet);
- hostile header values refuse the whole batch with INVALID_RECORD (87) and a message, and
  nothing of a refused batch is ever appended;
- on a topic without the config the headers are ignored: appended at once, header kept.

Every check prints one line, `PASS name` or `FAIL name: why`, so a run shows which parts hold;
the exit status is non-zero if any failed.

Usage: kafka_python_delay.py HOST:PORT
"""
import math
import random
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec as kcodec
from kafka.admin import NewTopic
from kafka.errors import InvalidRecordError, KafkaError

addr = sys.argv[1]

DELAY_CONFIG = {"ringlog.delivery.delay.enable": "true"}
DELIVER_AT = "ringlog-deliver-at"
DELAY_MS = "ringlog-delay-ms"
# Delays spread over this range (ms), as the brief asks: long enough to tell "held" from "at once",
# short enough for a test of a few seconds.
DELAY_MS_MIN, DELAY_MS_MAX = 300, 2500
# A delayed record must be seen by its due time plus this (ms).
LATE_MS_MAX = 3000
# A consumer reads this long (ms) past the last due time + LATE_MS_MAX before giving up.
CONSUMER_SLACK_MS = 5000
# An undelayed record must be seen this soon (ms) after its acknowledgement.
AT_ONCE_MS_MAX = 1500
# Per codec: delayed records (half of each header form), undelayed ones, already-due ones.
DELAYED, UNDELAYED, ALREADY_DUE = 120, 40, 8
PARTITIONS = 3
# Longest any one wait may take (s); the Rust side kills the script later than this.
STEP_WAIT_S = 20
DAY_MS = 86_400_000

random.seed(15)
results = []


def check(name, ok, why=""):
    results.append((name, ok))
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)


def now_ms():
    return time.time() * 1000.0


codecs = []
for name, available in [
    ("none", True),
    ("gzip", kcodec.has_gzip()),
    ("snappy", kcodec.has_snappy()),
    ("lz4", kcodec.has_lz4()),
    ("zstd", kcodec.has_zstd()),
]:
    if available:
        codecs.append(name)
    else:
        msg = f"SKIPPED: kafka-python codec {name}: its package is not installed"
        print(msg, flush=True)
        print(msg, file=sys.stderr, flush=True)

admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=10000)
admin.create_topics(
    [NewTopic(name=f"pyd-{c}", num_partitions=PARTITIONS, replication_factor=1, topic_configs=DELAY_CONFIG)
     for c in codecs]
    + [
        NewTopic(name="pyd-alldelayed", num_partitions=1, replication_factor=1, topic_configs=DELAY_CONFIG),
        NewTopic(name="pyd-hostile", num_partitions=1, replication_factor=1, topic_configs=DELAY_CONFIG),
        NewTopic(name="pyd-plain", num_partitions=1, replication_factor=1),
    ]
)
admin.close()


def consumer_of(topics):
    """A consumer (no group, assign) at the beginning of every partition of `topics` (name -> count)."""
    c = KafkaConsumer(bootstrap_servers=addr, group_id=None, enable_auto_commit=False,
                      fetch_max_wait_ms=50, request_timeout_ms=10000)
    parts = [TopicPartition(t, p) for t, n in topics.items() for p in range(n)]
    c.assign(parts)
    c.seek_to_beginning(*parts)
    return c


def consume(c, want_ids, until_s, extra_s=0.5):
    """Polls until every id in `want_ids` has been seen (then `extra_s` more, to catch doubles) or
    until `until_s` (wall clock). Returns [(id, partition, offset, headers, seen_ms)]."""
    got = []
    seen = set()
    quiet_until = None
    while True:
        t = time.time()
        if t > until_s or (quiet_until is not None and t > quiet_until):
            return got
        polled = c.poll(timeout_ms=50)
        seen_at = now_ms()
        for batch in polled.values():
            for m in batch:
                rid = m.value.decode()
                got.append((rid, m.partition, m.offset, list(m.headers or []), seen_at))
                seen.add(rid)
        if quiet_until is None and want_ids <= seen:
            quiet_until = time.time() + extra_s


# ------------------------------------------------------------------------------------------------
# 1. Mixed batches per codec, and an all-delayed batch.

consumer = consumer_of({**{f"pyd-{c}": PARTITIONS for c in codecs}, "pyd-alldelayed": 1})
# Connected and fetching before anything is produced, so that records are seen as they appear.
early_polls = consume(consumer, set(), until_s=time.time() + 0.5, extra_s=0.3)
# id -> dict(kind, header, value, partition, sent_ms, due_lo, due_hi, ack_ms, offset, error)
sent = {}
lock = threading.Lock()


def on_ack(rid):
    def ok(md):
        with lock:
            sent[rid]["ack_ms"] = now_ms()
            sent[rid]["offset"] = md.offset

    def err(e):
        with lock:
            sent[rid]["error"] = repr(e)

    return ok, err


def send(producer, topic, rid, partition, kind, header):
    """kind: 'delay' (header = (DELAY_MS, ms)), 'at' (header = (DELIVER_AT, epoch ms)), 'now' (no
    header) or 'due' (a header that is already due)."""
    t = now_ms()
    headers = [("trace", rid.encode())]
    due_lo = due_hi = None
    if kind == "delay":
        headers.append((DELAY_MS, str(header).encode()))
        # The broker received it no earlier than it was sent; floored, since a broker reading its
        # clock in whole ms may count from the ms the receive fell in.
        due_lo = math.floor(t) + header
    elif kind == "at":
        headers.append((DELIVER_AT, str(header).encode()))
        due_lo = float(header)
    elif kind == "due":
        headers.append(header)
    sent[rid] = dict(kind=kind, topic=topic, partition=partition, headers=headers, sent_ms=t,
                     due_lo=due_lo, due_hi=due_hi, delay=header if kind == "delay" else None,
                     ack_ms=None, offset=None, error=None)
    f = producer.send(topic, value=rid.encode(), partition=partition, headers=headers)
    ok, err = on_ack(rid)
    f.add_callback(ok)
    f.add_errback(err)
    return f


producers = []
for c in codecs:
    kwargs = dict(bootstrap_servers=addr, acks="all", linger_ms=100, batch_size=1 << 20,
                  request_timeout_ms=10000)
    if c != "none":
        kwargs["compression_type"] = c
    producers.append((c, KafkaProducer(**kwargs)))

for c, p in producers:
    kinds = (["delay", "at"] * (DELAYED // 2)) + ["now"] * UNDELAYED + ["due"] * ALREADY_DUE
    random.shuffle(kinds)
    for i, kind in enumerate(kinds):
        rid = f"{c}:{i}"
        if kind == "delay":
            header = random.randint(DELAY_MS_MIN, DELAY_MS_MAX)
        elif kind == "at":
            header = int(now_ms()) + random.randint(DELAY_MS_MIN, DELAY_MS_MAX)
        elif kind == "due":
            header = random.choice([(DELAY_MS, b"0"), (DELIVER_AT, str(int(now_ms()) - 10_000).encode())])
        else:
            header = None
        send(p, f"pyd-{c}", rid, i % PARTITIONS, kind, header)

# An all-delayed batch: its records get their offsets only when due, so the answer has none.
all_delayed = KafkaProducer(bootstrap_servers=addr, acks="all", linger_ms=100, request_timeout_ms=10000)
all_delayed_futures = [send(all_delayed, "pyd-alldelayed", f"alldelayed:{i}", 0, "delay", 600 + 100 * i)
                       for i in range(5)]

for _, p in producers + [("", all_delayed)]:
    p.flush(timeout=STEP_WAIT_S)
flushed_ms = now_ms()
# The broker received each record before it answered: a delay-ms record is due at most its delay
# after the answer, a deliver-at record at its time or, if the broker only had it later, on receipt.
for rec in sent.values():
    if rec["kind"] == "delay":
        rec["due_hi"] = (rec["ack_ms"] or flushed_ms) + rec["delay"]
    elif rec["kind"] == "at":
        rec["due_hi"] = max(rec["due_lo"], rec["ack_ms"] or flushed_ms)

errors = {rid: r["error"] for rid, r in sent.items() if r["error"] or r["ack_ms"] is None}
check("mixed batches acknowledged (every codec)", not errors, f"{len(errors)} not acknowledged, e.g. "
      f"{list(errors.items())[:3]}")
offsets = [sent[f"alldelayed:{i}"]["offset"] for i in range(5)]
check("all-delayed batch answered with offset -1", all(o == -1 for o in offsets),
      f"offsets {offsets}")

due_max = max(r["due_hi"] for r in sent.values() if r["due_hi"] is not None)
# Read past the last due time + LATE_MS_MAX by CONSUMER_SLACK_MS, so that a record delivered late
# is told from one never delivered.
until_ms = min(due_max + LATE_MS_MAX + CONSUMER_SLACK_MS, now_ms() + STEP_WAIT_S * 1000)
got = early_polls + consume(consumer, set(sent), until_s=until_ms / 1000.0)
# Each partition's end offset, to tell a record never appended from one appended but not fetched.
end_offsets = {(tp.topic, tp.partition): end for tp, end in consumer.end_offsets(list(consumer.assignment())).items()}
consumer.close()
for _, p in producers + [("", all_delayed)]:
    p.close()


def describe(rid, seen_ms):
    r = sent[rid]
    return (f"{rid} ({r['kind']}, due {r['due_lo'] and round(r['due_lo'] - r['sent_ms'])}.."
            f"{r['due_hi'] and round(r['due_hi'] - r['sent_ms'])} ms after send) seen "
            f"{round(seen_ms - r['sent_ms'])} ms after send")


for c in codecs + ["alldelayed"]:
    prefix = f"{c}:"
    mine = {rid: r for rid, r in sent.items() if rid.startswith(prefix)}
    seen = [g for g in got if g[0].startswith(prefix)]
    count = {}
    for g in seen:
        count[g[0]] = count.get(g[0], 0) + 1
    doubled = [rid for rid, n in count.items() if n > 1]
    missing = [rid for rid in mine if rid not in count]
    ends = {p: e for (t, p), e in sorted(end_offsets.items()) if t == (mine and next(iter(mine.values()))["topic"])}
    read = {p: sum(1 for g in seen if g[1] == p) for p in ends}
    check(f"{c}: every record delivered exactly once", not doubled and not missing,
          f"{len(missing)} missing (e.g. {missing[:3]}), {len(doubled)} doubled (e.g. {doubled[:3]}); "
          f"end offsets {ends}, records read {read}")
    first_seen = {}
    for g in seen:
        first_seen.setdefault(g[0], g)
    bad_headers = [g[0] for g in first_seen.values()
                   if sorted(g[3]) != sorted(mine[g[0]]["headers"])]
    check(f"{c}: headers kept on every record", not bad_headers, f"e.g. {bad_headers[:3]}")
    early = [(rid, g[4]) for rid, g in first_seen.items()
             if mine[rid]["due_lo"] is not None and g[4] < mine[rid]["due_lo"]]
    check(f"{c}: no delayed record seen before it is due", not early,
          f"{len(early)} of {sum(1 for r in mine.values() if r['due_lo'] is not None)} early, e.g. "
          + "; ".join(describe(rid, s) for rid, s in early[:3]))
    late = [(rid, g[4]) for rid, g in first_seen.items()
            if mine[rid]["due_hi"] is not None and g[4] > mine[rid]["due_hi"] + LATE_MS_MAX]
    check(f"{c}: every delayed record seen within due + {LATE_MS_MAX} ms", not late,
          f"{len(late)} late, e.g. " + "; ".join(describe(rid, s) for rid, s in late[:3]))
    slow = [(rid, g[4]) for rid, g in first_seen.items()
            if mine[rid]["kind"] in ("now", "due") and g[4] > (mine[rid]["ack_ms"] or flushed_ms) + AT_ONCE_MS_MAX]
    check(f"{c}: undelayed and already-due records readable at once", not slow,
          f"{len(slow)} held, e.g. " + "; ".join(describe(rid, s) for rid, s in slow[:3]))
    # Due-time order within a partition: a record placed before another must not be due later than
    # that one can be (delay-ms records are due somewhere in [sent + delay, acknowledged + delay],
    # deliver-at records at their time or on receipt if that came later: by the acknowledgement).
    disorder = []
    by_partition = {}
    for g in sorted(first_seen.values(), key=lambda g: (g[1], g[2])):
        if mine[g[0]]["due_lo"] is not None:
            by_partition.setdefault(g[1], []).append(g[0])
    for p, rids in by_partition.items():
        latest_lo = None
        for rid in rids:
            r = mine[rid]
            if latest_lo is not None and r["due_hi"] is not None and latest_lo[1] > r["due_hi"]:
                disorder.append(f"partition {p}: {latest_lo[0]} (due from {latest_lo[1]:.0f}) before "
                                f"{rid} ({r['kind']}, due by {r['due_hi']:.0f})")
            placed_from = max(r["due_lo"], math.floor(r["sent_ms"]))
            if latest_lo is None or placed_from > latest_lo[1]:
                latest_lo = (rid, placed_from)
    check(f"{c}: delayed records in due-time order within each partition", not disorder,
          f"{len(disorder)} out of order, e.g. {disorder[:3]}")

# ------------------------------------------------------------------------------------------------
# 2. Hostile values: each refuses its whole batch with INVALID_RECORD and a message.

hostile = KafkaProducer(bootstrap_servers=addr, acks="all", linger_ms=0, enable_idempotence=False,
                        request_timeout_ms=10000, retries=0)
far = int(now_ms()) + 366 * DAY_MS
cases = []
for header in (DELAY_MS, DELIVER_AT):
    for value in ["abc", "-5", "1e3", "", "1" * 30]:
        cases.append((header, value))
cases += [(DELAY_MS, str(366 * DAY_MS)), (DELIVER_AT, str(far)), (DELIVER_AT, "99999999999999")]
for header, value in cases:
    name = f"hostile {header}={value!r} refused with INVALID_RECORD and a message"
    f = hostile.send("pyd-hostile", value=f"hostile:{header}={value}".encode(),
                     headers=[(header, value.encode())])
    try:
        md = f.get(timeout=STEP_WAIT_S)
        check(name, False, f"acknowledged at offset {md.offset}")
    except InvalidRecordError as e:
        msg = e.args[0] if e.args else None
        check(name, bool(msg) and "ringlog-" in str(msg),
              f"INVALID_RECORD without a message naming the header: {msg!r}")
    except KafkaError as e:
        check(name, False, f"refused with {e!r}, not INVALID_RECORD")

# One bad record refuses its batch: the good delayed and undelayed records with it are not kept.
batcher = KafkaProducer(bootstrap_servers=addr, acks="all", linger_ms=200, enable_idempotence=False,
                        request_timeout_ms=10000, retries=0)
futures = [
    batcher.send("pyd-hostile", value=b"mixed:now", headers=[]),
    batcher.send("pyd-hostile", value=b"mixed:delayed", headers=[(DELAY_MS, b"300")]),
    batcher.send("pyd-hostile", value=b"mixed:bad", headers=[(DELAY_MS, b"abc")]),
]
batcher.flush(timeout=STEP_WAIT_S)
outcomes = []
for f in futures:
    try:
        outcomes.append(f"acknowledged at {f.get(timeout=STEP_WAIT_S).offset}")
    except InvalidRecordError:
        outcomes.append("INVALID_RECORD")
    except KafkaError as e:
        outcomes.append(repr(e))
# The bad record gets INVALID_RECORD; the others of its batch fail with it (kafka-python, like
# Kafka's Java client, gives them a generic error when the broker names only the bad record).
check("a batch with one bad record is refused whole",
      outcomes[2] == "INVALID_RECORD" and not any(o.startswith("acknowledged") for o in outcomes),
      f"outcomes {outcomes}")
batcher.close()

# Nothing refused is ever appended: after the longest good delay above has passed, the partition
# holds only a sentinel sent last.
time.sleep(1.0)
sentinel = hostile.send("pyd-hostile", value=b"sentinel", headers=[])
try:
    sentinel.get(timeout=STEP_WAIT_S)
except KafkaError as e:
    check("a good record after the refused ones", False, repr(e))
hostile.close()
c = consumer_of({"pyd-hostile": 1})
kept = [g[0] for g in consume(c, {"sentinel"}, until_s=time.time() + 10)]
c.close()
check("nothing of a refused batch is appended", kept == ["sentinel"], f"partition holds {kept[:6]}")

# ------------------------------------------------------------------------------------------------
# 3. A topic without the config: the headers are ignored (even a bad value), appended at once.

plain = KafkaProducer(bootstrap_servers=addr, acks="all", linger_ms=0, request_timeout_ms=10000)
plain_cases = [(DELAY_MS, b"2000"), (DELIVER_AT, str(int(now_ms()) + 2000).encode()), (DELAY_MS, b"abc")]
acks = []
for i, h in enumerate(plain_cases):
    try:
        md = plain.send("pyd-plain", value=f"plain:{i}".encode(), headers=[h]).get(timeout=STEP_WAIT_S)
        acks.append((md.offset, now_ms()))
    except KafkaError as e:
        acks.append((repr(e), now_ms()))
plain.close()
check("plain topic: delay headers ignored, records acknowledged with their offsets",
      [a[0] for a in acks] == [0, 1, 2], f"answers {[a[0] for a in acks]}")
c = consumer_of({"pyd-plain": 1})
read = consume(c, {f"plain:{i}" for i in range(3)}, until_s=time.time() + 10)
c.close()
check("plain topic: records readable at once with their headers",
      [(g[0], g[3]) for g in read] == [(f"plain:{i}", [h]) for i, h in enumerate(plain_cases)]
      and all(g[4] <= acks[-1][1] + AT_ONCE_MS_MAX for g in read),
      f"read {[(g[0], g[3], round(g[4] - acks[-1][1])) for g in read]}")

failed = [n for n, ok in results if not ok]
print(f"kafka-python delay checks: {len(results) - len(failed)} passed, {len(failed)} failed", flush=True)
sys.exit(1 if failed else 0)
