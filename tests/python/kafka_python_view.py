"""kafka-python on filtered views (issue #17) of a live ringlog broker.

Driven by tests/view_clients.rs, which produces the data, creates most views and checks what this
script prints against its own evaluation of every filter: this script only reads (and tries to
write) as a kafka-python application would, and reports what it saw. Modes:

  consume HOST:PORT TOPIC:PARTITIONS:CODEC ...
      Assigns every partition of every topic (no group) from the beginning and polls until each
      partition's position reaches its end offset (ListOffsets latest: a view answers its
      source's), then QUIET_S more to catch anything extra. A topic whose codec kafka-python
      cannot decode here (its package is missing) is skipped, loudly.
  group HOST:PORT VIEW PARTITIONS GROUP HALF
      Consumer 1 (group GROUP, subscribe) takes the first HALF records, commits exactly those
      (the next offset of each partition it took from) and closes; the group's committed
      offsets are read through the admin client; consumer 2 (same group) resumes from them and
      reads to the end.
  refused HOST:PORT VIEW
      A produce to the view must fail with InvalidTopicError (INVALID_TOPIC_EXCEPTION, 17).
  create HOST:PORT VIEW SOURCE FILTER
      Creates a view through KafkaAdminClient.create_topics: the view configs and -1 partitions
      (the source's count).

Output, one tab-separated line each:
  R|A|B TOPIC PARTITION OFFSET KEY VALUE HEADERS   a record (R: consume, A: consumer 1 took it,
      B: consumer 2 read it); KEY and VALUE in hex, '-' for null; HEADERS comma-separated
      NAMEHEX=VALUEHEX in order, '~' for a null value
  P TOPIC PARTITION POSITION END    where a consumer's position ended, and the end offset
  C TOPIC PARTITION COMMITTED       the group's committed offset after consumer 1 (-1: none)
  S TOPIC CODEC                     topic skipped: kafka-python cannot decode CODEC here
  PASS name | FAIL name: why        the script's own checks (refused, create)
Exit status non-zero when a check failed or anything raised.

Usage: kafka_python_view.py MODE HOST:PORT ARGS...
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka import codec as kcodec
from kafka.admin import NewTopic
from kafka.errors import InvalidTopicError
from kafka.structs import OffsetAndMetadata

# Longest a whole mode may take (s); the Rust side kills the script later than this.
STEP_WAIT_S = 30
# After every partition's position reached its end, poll this much longer (s) to catch extras.
QUIET_S = 0.3
# Bounded client timeouts (ms).
REQUEST_TIMEOUT_MS = 10000

CODEC_AVAILABLE = {
    "none": lambda: True,
    "gzip": kcodec.has_gzip,
    "snappy": kcodec.has_snappy,
    "lz4": kcodec.has_lz4,
    "zstd": kcodec.has_zstd,
}

failed = []


def check(name, ok, why=""):
    if not ok:
        failed.append(name)
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)


def hx(b):
    return "-" if b is None else b.hex()


def emit(tag, m):
    headers = ",".join(
        f"{k.encode().hex()}={'~' if v is None else v.hex()}" for k, v in (m.headers or [])
    )
    print(f"{tag}\t{m.topic}\t{m.partition}\t{m.offset}\t{hx(m.key)}\t{hx(m.value)}\t{headers}")


def consumer(addr, *topics, **extra):
    return KafkaConsumer(
        *topics,
        bootstrap_servers=addr,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        fetch_max_wait_ms=50,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        **extra,
    )


def read_to_end(c, parts, tag, until):
    """Polls `c` until the position of every partition in `parts` reached its end offset (then
    QUIET_S more) or until `until`; emits every record with `tag`, then a P line per partition."""
    ends = c.end_offsets(parts)
    quiet_until = None
    while True:
        now = time.time()
        if now > until or (quiet_until is not None and now > quiet_until):
            break
        for msgs in c.poll(timeout_ms=50, max_records=2000).values():
            for m in msgs:
                emit(tag, m)
        if quiet_until is None and all(c.position(tp) >= ends[tp] for tp in parts):
            quiet_until = time.time() + QUIET_S
    for tp in parts:
        print(f"P\t{tp.topic}\t{tp.partition}\t{c.position(tp)}\t{ends[tp]}")


def mode_consume(addr, specs):
    parts = []
    for spec in specs:
        topic, count, codec = spec.rsplit(":", 2)
        if not CODEC_AVAILABLE[codec]():
            msg = f"SKIPPED: kafka-python codec {codec}: its package is not installed; {topic} not read"
            print(msg, file=sys.stderr, flush=True)
            print(f"S\t{topic}\t{codec}", flush=True)
            continue
        parts.extend(TopicPartition(topic, p) for p in range(int(count)))
    if not parts:
        return
    c = consumer(addr, group_id=None)
    c.assign(parts)
    c.seek_to_beginning(*parts)
    read_to_end(c, parts, "R", time.time() + STEP_WAIT_S)
    c.close()


def member(addr, view, group):
    """A member of `group` subscribed to `view`, subscribing only once the view's metadata is
    known: a member that joins before it assigns itself nothing and, by kafka-python's rules,
    does not rejoin until the next metadata refresh (minutes)."""
    c = consumer(addr, group_id=group, session_timeout_ms=6000, heartbeat_interval_ms=500)
    c.partitions_for_topic(view)
    c.subscribe([view])
    return c


def mode_group(addr, view, partitions, group, half):
    until = time.time() + STEP_WAIT_S
    c1 = member(addr, view, group)
    taken = []
    while len(taken) < half and time.time() < until:
        for msgs in c1.poll(timeout_ms=50).values():
            for m in msgs:
                if len(taken) < half:
                    taken.append(m)
    nexts = {}
    for m in taken:
        emit("A", m)
        nexts[TopicPartition(m.topic, m.partition)] = m.offset + 1
    c1.commit({tp: OffsetAndMetadata(o, "", -1) for tp, o in nexts.items()})
    c1.close()

    admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=REQUEST_TIMEOUT_MS)
    committed = admin.list_group_offsets(group).get(group, {})
    admin.close()
    parts = [TopicPartition(view, p) for p in range(partitions)]
    for tp in parts:
        found = committed.get(tp)
        print(f"C\t{view}\t{tp.partition}\t{-1 if found is None else found.offset}")

    c2 = member(addr, view, group)
    # Wait for the assignment before asking positions (they are the group's committed offsets).
    while len(c2.assignment()) < partitions and time.time() < until:
        for msgs in c2.poll(timeout_ms=50).values():
            for m in msgs:
                emit("B", m)
    read_to_end(c2, parts, "B", until)
    c2.close()


def mode_refused(addr, view):
    p = KafkaProducer(bootstrap_servers=addr, retries=0, request_timeout_ms=REQUEST_TIMEOUT_MS,
                      max_block_ms=REQUEST_TIMEOUT_MS)
    try:
        meta = p.send(view, value=b"refused", partition=0).get(timeout=STEP_WAIT_S)
        check("produce to a view is refused", False, f"acknowledged at offset {meta.offset}")
    except InvalidTopicError:
        check("produce to a view is refused with InvalidTopicError", True)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        check("produce to a view is refused with InvalidTopicError", False, f"{type(e).__name__}: {e}")
    p.close()


def mode_create(addr, view, source, filt):
    admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=REQUEST_TIMEOUT_MS)
    configs = {"ringlog.view.source": source, "ringlog.view.filter": filt}
    try:
        admin.create_topics([NewTopic(name=view, num_partitions=-1, replication_factor=-1,
                                      topic_configs=configs)])
        check(f"kafka-python admin creates view {view}", True)
    except Exception as e:  # noqa: BLE001 - reported, not hidden
        check(f"kafka-python admin creates view {view}", False, f"{type(e).__name__}: {e}")
    admin.close()


def main():
    mode, addr, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    if mode == "consume":
        mode_consume(addr, args)
    elif mode == "group":
        mode_group(addr, args[0], int(args[1]), args[2], int(args[3]))
    elif mode == "refused":
        mode_refused(addr, args[0])
    elif mode == "create":
        mode_create(addr, args[0], args[1], args[2])
    else:
        raise SystemExit(f"unknown mode {mode}")
    sys.stdout.flush()
    if failed:
        raise SystemExit(f"{len(failed)} checks failed: {failed}")


main()
