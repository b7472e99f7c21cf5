"""kafka-python over SASL_PLAINTEXT (issue #20), driven by tests/sasl_clients.rs.

Modes:

  roundtrip HOST:PORT MECHANISM USER PASSWORD TOPIC COUNT
      A KafkaProducer (acks=all) authenticated with MECHANISM (PLAIN, SCRAM-SHA-256 or
      SCRAM-SHA-512) sends COUNT records "MECHANISM-i" to partition 0 of TOPIC and flushes; a
      KafkaConsumer without a group, authenticated the same way, reads partition 0 from the
      beginning until it has its end offset (taken after assignment), then prints every record.
  badlogin HOST:PORT MECHANISM USER PASSWORD
      A KafkaProducer with credentials the broker refuses. kafka-python 3.0 does not raise the
      broker's SaslAuthenticationFailedError from its constructor: its bootstrap logs it and
      retries until bootstrap_timeout_ms (set short here), then raises KafkaTimeoutError (it does
      the same against Kafka 4.4). So the script prints when its first bootstrap attempt was
      logged as failed, the first authentication failure it logged (with the broker's message;
      none for a SCRAM proof refused in the final round: kafka-python 3.0 then reports the
      connection's close instead of the answer before it, against Kafka 4.4 too), and what the
      constructor raised, when.

  denied HOST:PORT MECHANISM USER PASSWORD TOPIC
      USER has no ACL on TOPIC: a KafkaConsumer lists the topics it can see (Metadata), then
      polls partition 0 of TOPIC from offset 0 for 5 s, and a KafkaProducer sends one record to
      it; prints what each raised and how many records the polls returned.

Output, one tab-separated line each:
  O OFFSET VALUE                 roundtrip: where a record went
  R OFFSET VALUE                 roundtrip: a record read
  F SECONDS MESSAGE              badlogin: the first failed bootstrap attempt logged
  A SECONDS MESSAGE              badlogin: the first logged authentication failure
  X SECONDS CLASS                badlogin: what the constructor raised (or "none")
  T TOPIC                        denied: a topic Metadata listed
  D poll|send CLASS              denied: what the consume and the send raised (or "none")
  N COUNT                        denied: records the consume received
  E what: error                  anything that raised in a roundtrip
Exit status non-zero when a roundtrip raised.
"""
import logging
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

# Longest a consume may take (s); the Rust side kills the script later than this.
CONSUME_WAIT_S = 30
REQUEST_TIMEOUT_MS = 10000
MAX_BLOCK_MS = 20000
# How long a refused client retries its bootstrap before its constructor gives up (ms).
BAD_LOGIN_BOOTSTRAP_MS = 3000


def out(*fields):
    print("\t".join(str(f) for f in fields), flush=True)


def sasl(mechanism, user, password):
    return dict(
        security_protocol="SASL_PLAINTEXT",
        sasl_mechanism=mechanism,
        sasl_plain_username=user,
        sasl_plain_password=password,
    )


def roundtrip(addr, mechanism, user, password, topic, count):
    creds = sasl(mechanism, user, password)
    p = KafkaProducer(
        bootstrap_servers=addr,
        acks="all",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=MAX_BLOCK_MS,
        **creds,
    )
    futures = [
        (p.send(topic, value=("%s-%d" % (mechanism, i)).encode(), partition=0), i)
        for i in range(count)
    ]
    p.flush(timeout=MAX_BLOCK_MS / 1000)
    for future, i in futures:
        md = future.get(timeout=MAX_BLOCK_MS / 1000)
        out("O", md.offset, "%s-%d" % (mechanism, i))
    p.close(timeout=10)

    c = KafkaConsumer(
        bootstrap_servers=addr,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        **creds,
    )
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek_to_beginning(tp)
    end = c.end_offsets([tp])[tp]
    deadline = time.monotonic() + CONSUME_WAIT_S
    while c.position(tp) < end and time.monotonic() < deadline:
        for records in c.poll(timeout_ms=500).values():
            for r in records:
                out("R", r.offset, r.value.decode())
    c.close()


class FirstFailures(logging.Handler):
    """Remembers the first failed bootstrap attempt and the first authentication failure logged."""

    def __init__(self, started):
        super().__init__(logging.DEBUG)
        self.started = started
        self.bootstrap = None
        self.auth = None

    def emit(self, record):
        text = record.getMessage()
        at = time.monotonic() - self.started
        if self.bootstrap is None and "Bootstrap connection to" in text and "failed" in text:
            self.bootstrap = (at, text)
        if self.auth is None and "SaslAuthenticationFailedError" in text:
            self.auth = (at, text)


def badlogin(addr, mechanism, user, password):
    started = time.monotonic()
    seen = FirstFailures(started)
    logging.getLogger("kafka").addHandler(seen)
    logging.getLogger("kafka").setLevel(logging.DEBUG)
    raised = "none"
    try:
        p = KafkaProducer(
            bootstrap_servers=addr,
            request_timeout_ms=REQUEST_TIMEOUT_MS,
            max_block_ms=BAD_LOGIN_BOOTSTRAP_MS,
            bootstrap_timeout_ms=BAD_LOGIN_BOOTSTRAP_MS,
            **sasl(mechanism, user, password),
        )
        p.close(timeout=5)
    except Exception as e:  # noqa: BLE001 - the class is the result
        raised = type(e).__name__
    ended = time.monotonic() - started
    for tag, first in (("F", seen.bootstrap), ("A", seen.auth)):
        if first is not None:
            out(tag, "%.3f" % first[0], first[1].replace("\t", " ").replace("\n", " "))
    out("X", "%.3f" % ended, raised)


def denied(addr, mechanism, user, password, topic):
    creds = sasl(mechanism, user, password)
    c = KafkaConsumer(
        bootstrap_servers=addr,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        **creds,
    )
    for t in sorted(c.topics()):
        out("T", t)
    tp = TopicPartition(topic, 0)
    c.assign([tp])
    c.seek(tp, 0)
    raised = "none"
    received = 0
    deadline = time.monotonic() + 5
    try:
        while time.monotonic() < deadline:
            for records in c.poll(timeout_ms=500).values():
                received += len(records)
    except Exception as e:  # noqa: BLE001 - the class is the result
        raised = type(e).__name__
    out("D", "poll", raised)
    out("N", received)
    c.close()
    p = KafkaProducer(
        bootstrap_servers=addr,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=5000,
        **creds,
    )
    raised = "none"
    try:
        p.send(topic, value=b"x", partition=0).get(timeout=10)
    except Exception as e:  # noqa: BLE001 - the class is the result
        raised = type(e).__name__
    out("D", "send", raised)
    p.close(timeout=5)


def main():
    mode = sys.argv[1]
    if mode == "roundtrip":
        addr, mechanism, user, password, topic, count = sys.argv[2:8]
        try:
            roundtrip(addr, mechanism, user, password, topic, int(count))
        except Exception as e:  # noqa: BLE001 - reported to the Rust side
            out("E", "roundtrip: %r" % e)
            sys.exit(1)
    elif mode == "badlogin":
        badlogin(*sys.argv[2:6])
    elif mode == "denied":
        denied(*sys.argv[2:7])
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
