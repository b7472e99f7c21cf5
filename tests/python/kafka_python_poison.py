"""kafka-python consuming a partition that was sent poison batches (refused by the broker):
read partition 0 of TOPIC from the beginning without a group, until COUNT records have arrived
and one more second has passed, and print each record as "OFFSET VALUE", one a line. Any client
error (kafka-python raises CorruptRecordError on a stored poison batch) or a timeout exits
non-zero.

Usage: kafka_python_poison.py HOST:PORT TOPIC COUNT
"""
import sys
import time

from kafka import KafkaConsumer, TopicPartition

addr, topic, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
# Bounded: far above what reading a few records takes.
deadline = time.time() + 20

consumer = KafkaConsumer(bootstrap_servers=addr, enable_auto_commit=False, group_id=None,
                         request_timeout_ms=10000)
tp = TopicPartition(topic, 0)
consumer.assign([tp])
consumer.seek_to_beginning(tp)
got = []
quiet_until = None
while quiet_until is None or time.time() < quiet_until:
    if time.time() > deadline:
        sys.exit(f"{topic}: consumed {len(got)} of {count} records before the deadline")
    for batch in consumer.poll(timeout_ms=200).values():
        got.extend(batch)
    if len(got) >= count and quiet_until is None:
        quiet_until = time.time() + 1
consumer.close()
for m in got:
    print(f"{m.offset} {m.value.decode()}")
