"""kafka-python group consumers against a live ringlog broker: two KafkaConsumers in one group
split a 3-partition topic (no record twice among commits), the group is listed and its offsets
read back through the admin client, and a restarted consumer resumes at the committed offsets.
Exits non-zero with a message on any mismatch.

Usage: kafka_python_group.py HOST:PORT
"""
import sys
import threading
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic
from kafka.errors import CommitFailedError

addr = sys.argv[1]
topic, group, total = "pygroup", "pyg", 300
deadline = time.time() + 150


def fail(msg):
    print(f"FAIL: {msg}", file=sys.stderr)
    sys.exit(1)


admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=10000)
admin.create_topics([NewTopic(name=topic, num_partitions=3, replication_factor=1)])
producer = KafkaProducer(bootstrap_servers=addr, acks="all", enable_idempotence=False)
for i in range(total):
    producer.send(topic, value=f"v{i}".encode(), partition=i % 3)
producer.flush()
producer.close()


def consumer():
    return KafkaConsumer(
        topic,
        bootstrap_servers=addr,
        group_id=group,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        session_timeout_ms=6000,
        heartbeat_interval_ms=500,
    )


# Two members, each polled by its own thread as real applications do: kafka-python rejoins a
# rebalancing group inside poll(), so one thread driving both would block the second member's
# rejoin behind the first one's JoinGroup (which waits for every member) until a timeout.
a, b = consumer(), consumer()
seen = set()  # (partition, offset) delivered to some member
committed = {}  # partition -> next offset, from commits that succeeded
lock = threading.Lock()
stop = threading.Event()
errors = []


def run(c):
    try:
        while not stop.is_set():
            batch = [m for msgs in c.poll(timeout_ms=200, max_records=5).values() for m in msgs]
            if not batch:
                continue
            with lock:
                for m in batch:
                    if m.offset < committed.get(m.partition, 0):
                        errors.append(f"{m.partition}/{m.offset} consumed again after its commit")
                    seen.add((m.partition, m.offset))
            try:
                c.commit()
            except CommitFailedError:
                continue  # a rebalance took the partitions: they may be delivered again
            with lock:
                for m in batch:
                    committed[m.partition] = max(committed.get(m.partition, 0), m.offset + 1)
    except Exception as e:  # reported by the main thread
        errors.append(repr(e))


threads = [threading.Thread(target=run, args=(c,), daemon=True) for c in (a, b)]
for t in threads:
    t.start()
while True:
    if errors:
        fail(errors[0])
    if time.time() > deadline:
        fail(f"assignment never split: {a.assignment()} / {b.assignment()}")
    pa, pb = a.assignment(), b.assignment()
    with lock:
        consumed = sum(committed.values())
    if pa and pb and not (pa & pb) and len(pa | pb) == 3 and consumed >= 60:
        break
    time.sleep(0.1)
stop.set()
for t in threads:
    t.join(timeout=30)
if errors:
    fail(errors[0])
print(f"split: {sorted(p.partition for p in pa)} / {sorted(p.partition for p in pb)}, {len(seen)} consumed")

def group_name(g):
    if isinstance(g, dict):
        return g.get("group_id") or g.get("group")
    if isinstance(g, tuple):
        return g[0]
    return getattr(g, "group_id", None) or getattr(g, "group", None)


listed = admin.list_groups()
if group not in [group_name(g) for g in listed]:
    fail(f"{group} not listed: {listed}")
described = admin.describe_groups([group])
print(f"described: {described}")
committed_offsets = admin.list_group_offsets(group)
committed_offsets = committed_offsets.get(group, committed_offsets)
# commit() also commits position 0 for assigned partitions nothing was read from yet.
broker_view = {tp.partition: o.offset for tp, o in committed_offsets.items() if o.offset > 0}
if broker_view != committed:
    fail(f"broker has commits {broker_view}, the consumers made {committed}")
a.close()
b.close()

# A new member resumes exactly at the commits and reads the rest.
c = consumer()
while len(seen) < total:
    if time.time() > deadline:
        fail(f"resumed consumer stopped at {len(seen)} of {total}")
    for tp, msgs in c.poll(timeout_ms=200).items():
        for m in msgs:
            if m.offset < committed.get(m.partition, 0):
                fail(f"{m.partition}/{m.offset} consumed again after its commit")
            seen.add((m.partition, m.offset))
    c.commit()
c.close()
admin.close()
print(f"ok: {len(seen)} records, each once")
