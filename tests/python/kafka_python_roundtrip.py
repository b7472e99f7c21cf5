"""kafka-python against a live ringlog broker: create a topic, produce keyed records with headers
under several codecs (acks=all), consume them back without a group (assign), check order per
partition and content, list offsets. Exits non-zero with a message on any mismatch.

Usage: kafka_python_roundtrip.py HOST:PORT RECORDS [--idempotent]
"""
import sys
import time

from kafka import KafkaAdminClient, KafkaConsumer, KafkaProducer, TopicPartition
from kafka.admin import NewTopic

addr, records = sys.argv[1], int(sys.argv[2])
idempotent = "--idempotent" in sys.argv[3:]
deadline = time.time() + 120

admin = KafkaAdminClient(bootstrap_servers=addr, request_timeout_ms=10000)
codecs = ["none", "gzip"]
for codec in codecs:
    admin.create_topics([NewTopic(name=f"py-{codec}", num_partitions=3, replication_factor=1)])
admin.close()

for codec in codecs:
    topic = f"py-{codec}"
    kwargs = dict(bootstrap_servers=addr, acks="all", linger_ms=5, request_timeout_ms=30000)
    if codec != "none":
        kwargs["compression_type"] = codec
    if not idempotent:
        kwargs["enable_idempotence"] = False
    producer = KafkaProducer(**kwargs)
    futures = []
    for i in range(records):
        futures.append(producer.send(topic, key=f"k{i % 16}".encode(), value=f"{codec}:{i}".encode(),
                                     headers=[("seq", str(i).encode())]))
    producer.flush(timeout=60)
    metas = [f.get(timeout=30) for f in futures]
    producer.close()
    assert all(m.offset >= 0 for m in metas), "every record acknowledged with an offset"

    consumer = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False, group_id=None,
                             consumer_timeout_ms=2000)
    parts = [TopicPartition(topic, p) for p in range(3)]
    consumer.assign(parts)
    consumer.seek_to_beginning(*parts)
    got = []
    while len(got) < records:
        if time.time() > deadline:
            sys.exit(f"{topic}: consumed only {len(got)} of {records}")
        for batch in consumer.poll(timeout_ms=500).values():
            got.extend(batch)
    seen = set()
    last_offset = {}
    last_seq = {}
    for m in got:
        seq = int(m.value.decode().rsplit(":", 1)[1])
        if dict(m.headers).get("seq") != str(seq).encode():
            sys.exit(f"{topic}: header mismatch at offset {m.offset}")
        if seq in seen:
            sys.exit(f"{topic}: record {seq} delivered twice")
        seen.add(seq)
        if m.partition in last_offset and last_offset[m.partition] + 1 != m.offset:
            sys.exit(f"{topic}: offsets of partition {m.partition} not contiguous")
        last_offset[m.partition] = m.offset
        if m.key in last_seq and last_seq[m.key] >= seq:
            sys.exit(f"{topic}: key {m.key} out of order")
        last_seq[m.key] = seq
    if len(seen) != records:
        sys.exit(f"{topic}: {len(seen)} distinct records, wanted {records}")
    ends = consumer.end_offsets(parts)
    if sum(ends.values()) != records:
        sys.exit(f"{topic}: end offsets {ends} do not add up to {records}")
    consumer.close()
print("kafka-python round trip ok")
