"""kafka-python group consumers against a live ringlog broker: two KafkaConsumers in one group
split a 3-partition topic (no record twice among commits), the group is listed and its offsets
read back through the admin client, and a restarted consumer resumes at the committed offsets.
Exits non-zero with a message on any mismatch.

Usage: kafka_python_group.py HOST:PORT
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer
from kafka.admin import NewTopic

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


# Two members: wait until the three partitions are split between them.
a, b = consumer(), consumer()
seen = set()
while True:
    if time.time() > deadline:
        fail(f"assignment never split: {a.assignment()} / {b.assignment()}")
    for c in (a, b):
        for tp, msgs in c.poll(timeout_ms=200, max_records=5).items():
            for m in msgs:
                if (m.partition, m.offset) in seen:
                    fail(f"{m.partition}/{m.offset} consumed twice")
                seen.add((m.partition, m.offset))
            c.commit()
    pa, pb = a.assignment(), b.assignment()
    if pa and pb and not (pa & pb) and len(pa | pb) == 3 and len(seen) >= 60:
        break
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
committed = admin.list_group_offsets(group)
committed = committed.get(group, committed)
if sum(o.offset for o in committed.values()) != len(seen):
    fail(f"committed {committed} vs {len(seen)} consumed")
a.close()
b.close()

# A new member resumes exactly at the commits and reads the rest.
c = consumer()
while len(seen) < total:
    if time.time() > deadline:
        fail(f"resumed consumer stopped at {len(seen)} of {total}")
    for tp, msgs in c.poll(timeout_ms=200).items():
        for m in msgs:
            if (m.partition, m.offset) in seen:
                fail(f"{m.partition}/{m.offset} consumed again after its commit")
            seen.add((m.partition, m.offset))
    c.commit()
c.close()
admin.close()
print(f"ok: {len(seen)} records, each once")
