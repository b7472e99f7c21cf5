"""kafka-python against a ringlog broker whose client id 'py-greedy' has a producer byte-rate
quota (set by the calling test): produce 16 KiB records as fast as the producer goes for a few
seconds, then print one JSON line with the bytes acknowledged, the elapsed time, and the largest
throttle time the client saw (its 'throttle-time-max' metric; kafka-python 3 pauses a throttled
connection by itself, KIP-219).

Usage: kafka_python_quota.py HOST:PORT TOPIC SECONDS
"""
import collections
import json
import sys
import time

from kafka import KafkaProducer

addr, topic, seconds = sys.argv[1], sys.argv[2], float(sys.argv[3])
value = b"q" * (16 * 1024)
producer = KafkaProducer(bootstrap_servers=addr, client_id="py-greedy", acks=1, linger_ms=0,
                         batch_size=64 * 1024, enable_idempotence=False,
                         request_timeout_ms=30000, max_block_ms=30000)
acked = 0


def on_ack(_meta):
    global acked
    acked += len(value)


# At most this many records unacknowledged: the producer goes at the pace the broker
# acknowledges (kafka-python 3 has no buffer.memory bound), and flush() has little left.
IN_FLIGHT_MAX = 16
pending = collections.deque()
started = time.monotonic()
while time.monotonic() - started < seconds:
    if len(pending) >= IN_FLIGHT_MAX:
        pending.popleft().get(timeout=60)
    f = producer.send(topic, value=value)
    f.add_callback(on_ack)
    pending.append(f)
producer.flush(timeout=60)
elapsed = time.monotonic() - started
throttle_max = 0.0
for group in producer.metrics().values():
    for name, v in group.items():
        if name == "throttle-time-max" and isinstance(v, (int, float)) and v == v:
            throttle_max = max(throttle_max, float(v))
producer.close()
print(json.dumps({"bytes": acked, "elapsed": elapsed, "throttle_max_ms": throttle_max}))
