"""kafka-python transactions (issue #18) against a live broker, driven by tests/txn_clients.rs.

The Rust side creates the topics, decides the plan and checks what this script prints against its
own model; the script acts as a kafka-python application would and reports what it saw. Modes:

  produce HOST:PORT TOPIC TXN_ID PLAN PER_PARTITION TAG
      A transactional KafkaProducer (transactional_id TXN_ID): init_transactions, then per letter
      of PLAN one transaction that sends PER_PARTITION records to partition 0 and as many to
      partition 1 (values TAG-r<round>-p<partition>-<i>, in this order) and flushes, then
      C: commit_transaction, A: abort_transaction, O: leaves it open and exits at once without
      closing the producer (a producer that died in the middle of a transaction; only as the
      last letter).
  consume HOST:PORT TOPIC PARTITIONS LEVEL:EXPECTED ...
      Per argument one KafkaConsumer with isolation_level LEVEL (read_committed or
      read_uncommitted), no group, every partition assigned from the beginning; it polls until it
      has EXPECTED records (or STEP_WAIT_S passed), then QUIET_S more to catch extras, and reports
      each partition's position and end offset (end_offsets, which honours the isolation level).
  ctp HOST:PORT IN OUT PARTITIONS GROUP TXN_ID PLAN BATCH
      Consume-transform-produce: a read_committed KafkaConsumer in group GROUP (subscribe, no
      auto commit) and a transactional producer. Each round takes up to BATCH records of IN,
      sends out-<value> to the same partition of OUT, sends the next offsets of the partitions it
      read to the transaction with the consumer's group_metadata(), then commits or aborts by
      the round's letter of PLAN (repeated). After a commit the group's committed offsets must be
      what was sent (and the others unchanged); after an abort they must be unchanged, and the
      consumer seeks back to them. Ends when every partition's committed offset is IN's end.

Output, one tab-separated line each:
  T ROUND C|A|O                          produce: a transaction ended (or was left open)
  R LEVEL PARTITION OFFSET VALUE         consume: a record
  P LEVEL PARTITION POSITION END         consume: where the consumer ended, the end offset
  K ROUND C|A PARTITION=SENT,...         ctp: a round's letter and the offsets it sent
  PASS name | FAIL name: why             the script's own checks
  E what: error                          anything that raised
Exit status non-zero when a check failed or anything raised.
"""
import os
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition
from kafka.errors import UnstableOffsetCommitError
from kafka.structs import OffsetAndMetadata

# Longest one step (a consume to its expected count, a ctp run) may take (s); the Rust side kills
# the script later than this.
STEP_WAIT_S = 45
# After a consumer has its expected records, it polls this much longer (s) to catch extras.
QUIET_S = 1.0
# Bounded client timeouts (ms).
REQUEST_TIMEOUT_MS = 10000
MAX_BLOCK_MS = 30000
# A transaction left open must outlive the test's consumers (the broker aborts it only past this).
TRANSACTION_TIMEOUT_MS = 60000
# How long a ctp round gathers records (s) before it uses what it has.
ROUND_GATHER_S = 1.0
# How long a ctp round may retry the committed-offsets query while it is unstable (s).
COMMITTED_WAIT_S = 10
# Most rounds a ctp run may take.
CTP_ROUNDS_MAX = 60

failed = []


def out(*fields):
    print("\t".join(str(f) for f in fields), flush=True)


def check(name, ok, why=""):
    if not ok:
        failed.append(name)
    print(f"PASS {name}" if ok else f"FAIL {name}: {why}", flush=True)


def producer(addr, txn_id):
    return KafkaProducer(
        bootstrap_servers=addr,
        transactional_id=txn_id,
        transaction_timeout_ms=TRANSACTION_TIMEOUT_MS,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=MAX_BLOCK_MS,
        linger_ms=5,
    )


def produce(addr, topic, txn_id, plan, per_partition, tag):
    if "O" in plan[:-1]:
        raise ValueError("O may only be the last letter of the plan")
    p = producer(addr, txn_id)
    p.init_transactions()
    for rnd, letter in enumerate(plan):
        p.begin_transaction()
        for part in (0, 1):
            for i in range(per_partition):
                p.send(topic, value=f"{tag}-r{rnd}-p{part}-{i}".encode(), partition=part)
        p.flush(timeout=MAX_BLOCK_MS / 1000)
        if letter == "C":
            p.commit_transaction()
        elif letter == "A":
            p.abort_transaction()
        elif letter == "O":
            out("T", rnd, "O")
            # Die with the transaction open: no close, no abort, no atexit handlers.
            os._exit(0)
        else:
            raise ValueError(f"plan letter {letter!r}")
        out("T", rnd, letter)
    p.close(timeout=10)


def consume(addr, topic, partitions, specs):
    tps = [TopicPartition(topic, p) for p in range(partitions)]
    for spec in specs:
        level, expected = spec.split(":")
        expected = int(expected)
        c = KafkaConsumer(
            bootstrap_servers=addr,
            isolation_level=level,
            enable_auto_commit=False,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            fetch_max_wait_ms=100,
        )
        try:
            c.assign(tps)
            c.seek_to_beginning(*tps)
            got = 0
            deadline = time.time() + STEP_WAIT_S
            quiet_until = None
            while True:
                now = time.time()
                if quiet_until is None and (got >= expected or now > deadline):
                    quiet_until = now + QUIET_S
                if quiet_until is not None and now > quiet_until:
                    break
                for tp, msgs in c.poll(timeout_ms=100).items():
                    for m in msgs:
                        out("R", level, m.partition, m.offset, m.value.decode())
                        got += 1
            ends = c.end_offsets(tps)
            for tp in tps:
                out("P", level, tp.partition, c.position(tp), ends[tp])
        finally:
            c.close()


def committed_offsets(consumer, tps):
    """The group's committed offsets (-1: none), retried while they are unstable."""
    deadline = time.time() + COMMITTED_WAIT_S
    while True:
        try:
            now = {tp.partition: consumer.committed(tp) for tp in tps}
            return {part: -1 if o is None else o for part, o in now.items()}
        except UnstableOffsetCommitError:
            if time.time() > deadline:
                raise
            time.sleep(0.05)


def ctp(addr, in_topic, out_topic, partitions, group, txn_id, plan, batch):
    tps = [TopicPartition(in_topic, p) for p in range(partitions)]
    c = KafkaConsumer(
        in_topic,
        bootstrap_servers=addr,
        group_id=group,
        isolation_level="read_committed",
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        fetch_max_wait_ms=100,
        session_timeout_ms=10000,
        heartbeat_interval_ms=1000,
    )
    p = producer(addr, txn_id)
    p.init_transactions()
    ends = c.end_offsets(tps)
    end = {tp.partition: ends[tp] for tp in tps}
    committed = {part: -1 for part in end}
    deadline = time.time() + STEP_WAIT_S
    rounds = 0
    try:
        while any(committed[part] < end[part] for part in end):
            if time.time() > deadline or rounds >= CTP_ROUNDS_MAX:
                check("ctp-finished", False, f"committed {committed} of {end} after {rounds} rounds")
                return
            taken = []
            gather_until = time.time() + ROUND_GATHER_S
            while len(taken) < batch and time.time() < gather_until:
                for tp, msgs in c.poll(timeout_ms=100, max_records=batch - len(taken)).items():
                    taken.extend(msgs)
            if not taken:
                continue
            letter = plan[rounds % len(plan)]
            p.begin_transaction()
            sent = {}
            for m in taken:
                p.send(out_topic, value=b"out-" + m.value, partition=m.partition)
                sent[m.partition] = m.offset + 1
            p.send_offsets_to_transaction(
                {TopicPartition(in_topic, part): OffsetAndMetadata(o, "", -1) for part, o in sent.items()},
                c.group_metadata(),
            )
            if letter == "C":
                p.commit_transaction()
                committed.update(sent)
            else:
                # Sent before the abort, so the log holds the aborted records (kafka-python's
                # abort drops what it has not sent yet; read_uncommitted must see them).
                p.flush(timeout=MAX_BLOCK_MS / 1000)
                p.abort_transaction()
            out("K", rounds, letter, ",".join(f"{part}={o}" for part, o in sorted(sent.items())))
            now = committed_offsets(c, tps)
            check(f"ctp-round-{rounds}-{letter}-committed", now == committed,
                  f"group committed {now}, expected {committed}")
            if letter == "A":
                for part in sent:
                    tp = TopicPartition(in_topic, part)
                    if committed[part] >= 0:
                        c.seek(tp, committed[part])
                    else:
                        c.seek_to_beginning(tp)
            rounds += 1
        check("ctp-finished", True)
    finally:
        p.close(timeout=10)
        c.close()


def main():
    mode, addr, args = sys.argv[1], sys.argv[2], sys.argv[3:]
    try:
        if mode == "produce":
            topic, txn_id, plan, per_partition, tag = args
            produce(addr, topic, txn_id, plan, int(per_partition), tag)
        elif mode == "consume":
            consume(addr, args[0], int(args[1]), args[2:])
        elif mode == "ctp":
            in_topic, out_topic, partitions, group, txn_id, plan, batch = args
            ctp(addr, in_topic, out_topic, int(partitions), group, txn_id, plan, int(batch))
        else:
            raise ValueError(f"mode {mode!r}")
    except Exception as e:  # reported, never a traceback the Rust side has to parse
        out("E", mode, f"{type(e).__name__}: {e}")
        sys.exit(2)
    sys.exit(1 if failed else 0)


if __name__ == "__main__":
    main()
