"""kafka-python over TLS (issue #20), driven by tests/tls_clients.rs.

  roundtrip HOST:PORT PROTOCOL CAFILE CERTFILE KEYFILE MECHANISM USER PASSWORD TOPIC COUNT
      PROTOCOL is SSL or SASL_SSL. CERTFILE and KEYFILE are "-" for no client certificate;
      MECHANISM, USER and PASSWORD are "-" on SSL. A KafkaProducer (acks=all) sends COUNT
      records "TOPIC-i" to partition 0 of TOPIC and flushes; a KafkaConsumer without a group,
      connected the same way, reads partition 0 from the beginning up to its end offset (taken
      after assignment) and prints every record.
  badlogin HOST:PORT CAFILE MECHANISM USER PASSWORD
      A KafkaProducer on SASL_SSL with credentials the broker refuses; prints what its
      constructor raised and when (kafka-python retries a refused login until its bootstrap
      timeout, then raises KafkaTimeoutError, against Kafka 4.4 too), and when its first
      bootstrap attempt and its first authentication failure were logged as failed.

Output, one tab-separated line each:
  O OFFSET VALUE       roundtrip: where a record went
  R OFFSET VALUE       roundtrip: a record read
  F SECONDS MESSAGE    badlogin: the first failed bootstrap attempt logged
  A SECONDS MESSAGE    badlogin: the first logged authentication failure (kafka-python 3.0
                       logs none for a SCRAM proof refused in the final round: it reports the
                       connection's close instead, against Kafka 4.4 too)
  X SECONDS CLASS      badlogin: what the constructor raised (or "none")
  E what: error        anything that raised in a roundtrip
Exit status non-zero when a roundtrip raised.
"""
import logging
import sys
import time

from kafka import KafkaConsumer, KafkaProducer, TopicPartition

CONSUME_WAIT_S = 30
REQUEST_TIMEOUT_MS = 10000
MAX_BLOCK_MS = 20000
BAD_LOGIN_BOOTSTRAP_MS = 3000


def out(*fields):
    print("\t".join(str(f) for f in fields), flush=True)


def security(protocol, cafile, certfile, keyfile, mechanism, user, password):
    opts = dict(security_protocol=protocol, ssl_cafile=cafile, ssl_check_hostname=True)
    if certfile != "-":
        opts.update(ssl_certfile=certfile, ssl_keyfile=keyfile)
    if protocol == "SASL_SSL":
        opts.update(
            sasl_mechanism=mechanism,
            sasl_plain_username=user,
            sasl_plain_password=password,
        )
    return opts


def roundtrip(addr, opts, topic, count):
    p = KafkaProducer(
        bootstrap_servers=addr,
        acks="all",
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        max_block_ms=MAX_BLOCK_MS,
        **opts,
    )
    futures = [
        (p.send(topic, value=("%s-%d" % (topic, i)).encode(), partition=0), i)
        for i in range(count)
    ]
    p.flush(timeout=MAX_BLOCK_MS / 1000)
    for future, i in futures:
        md = future.get(timeout=MAX_BLOCK_MS / 1000)
        out("O", md.offset, "%s-%d" % (topic, i))
    p.close(timeout=10)

    c = KafkaConsumer(
        bootstrap_servers=addr,
        enable_auto_commit=False,
        request_timeout_ms=REQUEST_TIMEOUT_MS,
        **opts,
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
    """The first failed bootstrap attempt and the first authentication failure logged."""

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


def badlogin(addr, opts):
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
            **opts,
        )
        p.close(timeout=5)
    except Exception as e:  # noqa: BLE001 - the class is the result
        raised = type(e).__name__
    ended = time.monotonic() - started
    for tag, first in (("F", seen.bootstrap), ("A", seen.auth)):
        if first is not None:
            out(tag, "%.3f" % first[0], first[1].replace("\t", " ").replace("\n", " "))
    out("X", "%.3f" % ended, raised)


def main():
    mode = sys.argv[1]
    if mode == "roundtrip":
        addr, protocol, cafile, certfile, keyfile, mechanism, user, password, topic, count = (
            sys.argv[2:12]
        )
        opts = security(protocol, cafile, certfile, keyfile, mechanism, user, password)
        try:
            roundtrip(addr, opts, topic, int(count))
        except Exception as e:  # noqa: BLE001 - reported to the Rust side
            out("E", "roundtrip: %r" % e)
            sys.exit(1)
    elif mode == "badlogin":
        addr, cafile, mechanism, user, password = sys.argv[2:7]
        badlogin(addr, security("SASL_SSL", cafile, "-", "-", mechanism, user, password))
    else:
        sys.exit("unknown mode %r" % mode)


if __name__ == "__main__":
    main()
