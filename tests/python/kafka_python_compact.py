"""kafka-python against a compacted topic (issue #19), driven by tests/compaction_clients.rs.

The Rust side decides the plan and keeps the model; this script acts as a kafka-python
application would and reports what the broker told it. Modes:

  produce HOST:PORT TOPIC PLAN_FILE
      One idempotent KafkaProducer (acks=all) sends every line of PLAN_FILE in order:
      PARTITION<TAB>KEY<TAB>VALUE, or PARTITION<TAB>KEY<TAB>-  for a tombstone (null value),
      then flushes. Prints one line per record with the offset the broker gave it.
  consume HOST:PORT TOPIC PARTITIONS
      A KafkaConsumer without a group, every partition assigned from the beginning, reads until
      every partition's position reached its end offset (taken after assignment), then prints
      every record.

Output, one tab-separated line each:
  O PARTITION OFFSET KEY VALUE|-          produce: where a record went
  R PARTITION OFFSET KEY VALUE|-          consume: a record read
  E what: error                           anything that raised
Exit status non-zero when anything raised.
"""
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

# Longest a consume may take (s); the Rust side kills the script later than this.
CONSUME_WAIT_S = 60
REQUEST_TIMEOUT_MS = 10000
MAX_BLOCK_MS = 30000


def out(*fields):
    print("\t".join(str(f) for f in fields), flush=True)


def produce(addr, topic, plan_file):
    p = KafkaProducer(
        bootstrap_servers=addr,
        acks="all",
        enable_idempotence=True,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=MAX_BLOCK_MS,
        linger_ms=5,
    )
    sent = []
    with open(plan_file) as f:
        for line in f:
            part, key, value = line.rstrip("\n").split("\t")
            v = None if value == "-" else value.encode()
            sent.append((p.send(topic, key=key.encode(), value=v, partition=int(part)), key, value))
    p.flush(timeout=MAX_BLOCK_MS / 1000)
    for future, key, value in sent:
        md = future.get(timeout=MAX_BLOCK_MS / 1000)
        out("O", md.partition, md.offset, key, value)
    p.close(timeout=10)


def consume(addr, topic, partitions):
    c = KafkaConsumer(
        bootstrap_servers=addr,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=100,
    )
    tps = [TopicPartition(topic, p) for p in range(int(partitions))]
    c.assign(tps)
    c.seek_to_beginning(*tps)
    ends = c.end_offsets(tps)
    deadline = time.time() + CONSUME_WAIT_S
    records = []
    while any(c.position(tp) < ends[tp] for tp in tps):
        if time.time() > deadline:
            raise TimeoutError(
                "positions %s below the end offsets %s" % ({tp.partition: c.position(tp) for tp in tps}, ends)
            )
        for batch in c.poll(timeout_ms=200).values():
            records.extend(batch)
    for r in records:
        value = "-" if r.value is None else r.value.decode()
        out("R", r.partition, r.offset, r.key.decode(), value)
    c.close()


def main():
    mode, args = sys.argv[1], sys.argv[2:]
    try:
        if mode == "produce":
            produce(*args)
        elif mode == "consume":
            consume(*args)
        else:
            raise ValueError(f"unknown mode {mode}")
    except Exception as e:  # reported to the Rust side, which fails the test
        out("E", mode, f"{type(e).__name__}: {e}")
        sys.exit(1)


if __name__ == "__main__":
    main()
