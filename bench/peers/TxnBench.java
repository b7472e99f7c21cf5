// Transactions (issue #18) measured with Kafka's own Java client against one broker, one round
// (bench/peers/txn-side-by-side.sh runs it against ringlog and Apache Kafka 4.4 alternately).
//
//   java -cp <classes>:<kafka jars> TxnBench BOOTSTRAP RUN_ID RECORDS WARMUP_RECORDS TIMEOUT_S PER_TXN[,PER_TXN...] \
//       [producer.NAME=VALUE | consumer.NAME=VALUE ...]
//
// For each PER_TXN (records per transaction), on a new 1-partition topic "txn-bench-RUN_ID-PER_TXN":
//   produce   one KafkaProducer (transactional.id "txn-bench-RUN_ID-PER_TXN", acks=all, idempotent as
//             transactions require, batch.size=65536, linger.ms=5 as compare.sh's Java loads) writes
//             WARMUP_RECORDS records of 1 KiB in transactions of PER_TXN records (JIT, connections, the
//             coordinator's first writes: not measured), then RECORDS records the same way, measured:
//             throughput from the first send() to the return of the last commitTransaction(), and the
//             time of every commitTransaction() call (it sends the transaction's last batches, waits
//             for their acks, then EndTxn);
//   consume   the topic just written (in the page cache), from offset 0 to the end offset, by a
//             KafkaConsumer with assign() + seekToBeginning(): one read_uncommitted pass first (not
//             measured), then CONSUME_PASSES passes per isolation level, alternating, each a new
//             consumer; bytes/s of record values from the first poll() until the position reaches the
//             end offset. Every pass must see every record produced (all were committed), and the
//             read_committed end offset (the LSO) must equal the read_uncommitted one (the high
//             watermark): otherwise the size is reported as failed.
// If initTransactions() fails, the remaining sizes are skipped (they would wait as long for the same
// answer). The topics are deleted at the end (a failure to delete is only a warning). The broker's finalized
// transaction.version feature (ApiVersions) is reported as seen by Admin.describeFeatures().
// producer.* and consumer.* arguments override or add client properties (e.g. producer.linger.ms=0).
//
// Output: one JSON object on stdout (every figure, no judgement beyond the checks above); progress and
// failures on stderr. MB = 10^6 bytes of record values. Exits 0 when every size completed, 1 when one
// failed (the JSON still lists what was measured and a "failures" array), 2 on bad arguments. Every wait
// is bounded by TIMEOUT_S per phase (produce of one size, or one consume pass).

import java.time.Duration;
import java.util.ArrayList;
import java.util.Arrays;
import java.util.List;
import java.util.Locale;
import java.util.Map;
import java.util.Properties;
import java.util.Random;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.FeatureMetadata;
import org.apache.kafka.clients.admin.FinalizedVersionRange;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class TxnBench {
    /** Record value size: the 1 KiB records. */
    private static final int RECORD_BYTES = 1024;
    /** Measured consume passes per isolation level (alternating, after one unmeasured pass). */
    private static final int CONSUME_PASSES = 3;
    /** How long one poll() may block: short, so the end of the topic shows within ~this much. */
    private static final Duration POLL_SLICE = Duration.ofMillis(100);
    /** Bound of every Admin call (create, describe, delete): small requests on loopback. */
    private static final Duration ADMIN_TIMEOUT = Duration.ofSeconds(30);
    /** How long close() may take to send what is left (nothing, normally). */
    private static final Duration CLOSE_TIMEOUT = Duration.ofSeconds(10);
    /** The largest PER_TXN accepted: one transaction of 1 KiB records must stay far below the heap. */
    private static final int PER_TXN_MAX = 100_000;

    private final String bootstrap;
    private final String runId;
    private final long records;
    private final long warmupRecords;
    private final Duration timeout;
    private final Properties producerExtra = new Properties();
    private final Properties consumerExtra = new Properties();
    private final List<String> failures = new ArrayList<>();
    /**
     * initTransactions() failed: the broker has no working transaction coordinator, and every other size
     * would wait as long for the same answer, so they are skipped.
     */
    private boolean noCoordinator;

    private TxnBench(String[] args) {
        bootstrap = args[0];
        runId = args[1];
        records = Long.parseLong(args[2]);
        warmupRecords = Long.parseLong(args[3]);
        timeout = Duration.ofSeconds(Long.parseLong(args[4]));
        if (records < 1 || warmupRecords < 0 || timeout.isNegative() || timeout.isZero()) {
            throw new IllegalArgumentException("RECORDS must be >= 1, WARMUP_RECORDS >= 0, TIMEOUT_S >= 1");
        }
        for (int i = 6; i < args.length; i++) {
            String arg = args[i];
            int eq = arg.indexOf('=');
            if (eq < 0) {
                throw new IllegalArgumentException("not producer.NAME=VALUE or consumer.NAME=VALUE: " + arg);
            }
            String key = arg.substring(0, eq);
            String value = arg.substring(eq + 1);
            if (key.startsWith("producer.")) {
                producerExtra.put(key.substring("producer.".length()), value);
            } else if (key.startsWith("consumer.")) {
                consumerExtra.put(key.substring("consumer.".length()), value);
            } else {
                throw new IllegalArgumentException("not producer.NAME=VALUE or consumer.NAME=VALUE: " + arg);
            }
        }
    }

    public static void main(String[] args) {
        if (args.length < 6) {
            System.err.println("usage: TxnBench BOOTSTRAP RUN_ID RECORDS WARMUP_RECORDS TIMEOUT_S PER_TXN[,PER_TXN...]"
                    + " [producer.NAME=VALUE | consumer.NAME=VALUE ...]");
            System.exit(2);
        }
        TxnBench bench;
        List<Integer> sizes = new ArrayList<>();
        try {
            bench = new TxnBench(args);
            for (String s : args[5].split(",")) {
                int perTxn = Integer.parseInt(s.trim());
                if (perTxn < 1 || perTxn > PER_TXN_MAX) {
                    throw new IllegalArgumentException("PER_TXN must be 1.." + PER_TXN_MAX + ", not " + perTxn);
                }
                sizes.add(perTxn);
            }
        } catch (IllegalArgumentException e) {
            System.err.println("TxnBench: " + e.getMessage());
            System.exit(2);
            return;
        }
        Json out = new Json();
        out.open().field("bootstrap", bench.bootstrap).field("run_id", bench.runId)
                .field("record_bytes", RECORD_BYTES).field("records", bench.records)
                .field("warmup_records", bench.warmupRecords).field("consume_passes", CONSUME_PASSES);
        out.key("transaction_version").raw(bench.transactionVersion());
        out.key("sizes").array();
        for (int perTxn : sizes) {
            if (bench.noCoordinator) {
                bench.fail(perTxn + " per transaction: skipped (initTransactions() failed before)");
            } else {
                bench.runSize(perTxn, out);
            }
        }
        out.end();
        out.key("failures").array();
        for (String f : bench.failures) {
            out.value(f);
        }
        out.end().end();
        System.out.println(out);
        System.exit(bench.failures.isEmpty() ? 0 : 1);
    }

    private Properties adminProps() {
        Properties p = new Properties();
        p.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) ADMIN_TIMEOUT.toMillis());
        return p;
    }

    /** The broker's finalized transaction.version (max level) as JSON, or null if it has none. */
    private String transactionVersion() {
        try (Admin admin = Admin.create(adminProps())) {
            FeatureMetadata features = admin.describeFeatures().featureMetadata()
                    .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            FinalizedVersionRange tv = features.finalizedFeatures().get("transaction.version");
            return tv == null ? "null" : Short.toString(tv.maxVersionLevel());
        } catch (InterruptedException | ExecutionException | TimeoutException | RuntimeException e) {
            System.err.println("TxnBench: describeFeatures failed (transaction.version unknown): " + e);
            return "null";
        }
    }

    /** One size: create its topic, produce, consume, delete; its figures as one object of "sizes". */
    private void runSize(int perTxn, Json out) {
        String topic = "txn-bench-" + runId + "-" + perTxn;
        TopicPartition tp = new TopicPartition(topic, 0);
        out.open().field("per_txn", perTxn).field("topic", topic);
        try (Admin admin = Admin.create(adminProps())) {
            admin.createTopics(List.of(new NewTopic(topic, 1, (short) 1))).all()
                    .get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            long produced = produce(perTxn, topic, out);
            if (produced >= 0) {
                consume(tp, produced, perTxn, out);
            }
            try {
                admin.deleteTopics(List.of(topic)).all().get(ADMIN_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            } catch (InterruptedException | ExecutionException | TimeoutException e) {
                System.err.println("TxnBench: warning: topic " + topic + " not deleted: " + e);
            }
        } catch (InterruptedException | ExecutionException | TimeoutException | RuntimeException e) {
            fail(perTxn + " per transaction: " + e);
        }
        out.end();
    }

    private void fail(String what) {
        System.err.println("TxnBench: FAILED: " + what);
        failures.add(what);
    }

    /**
     * Warm-up then measured transactions of perTxn records; their figures into out. Returns every
     * record written (warm-up included), or -1 if the size failed.
     */
    private long produce(int perTxn, String topic, Json out) {
        Properties p = new Properties();
        p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, topic);
        p.put(ProducerConfig.ACKS_CONFIG, "all");
        p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
        p.put(ProducerConfig.BATCH_SIZE_CONFIG, "65536");
        p.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        p.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, Long.toString(timeout.toMillis()));
        p.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        p.putAll(producerExtra);
        byte[] value = new byte[RECORD_BYTES];
        new Random(perTxn).nextBytes(value); // incompressible, should a codec be set
        long warmupTxns = (warmupRecords + perTxn - 1) / perTxn;
        long txns = (records + perTxn - 1) / perTxn;
        long[] commitNs = new long[(int) Math.min(txns, Integer.MAX_VALUE)];
        long deadline = System.nanoTime() + timeout.toNanos();
        AtomicReference<Exception> sendError = new AtomicReference<>();
        try (KafkaProducer<byte[], byte[]> producer = new KafkaProducer<>(p)) {
            try {
                long t0 = System.nanoTime();
                try {
                    producer.initTransactions();
                } catch (RuntimeException e) {
                    noCoordinator = true;
                    throw e;
                }
                out.field("init_transactions_ms", (System.nanoTime() - t0) / 1e6);
                System.err.printf("TxnBench: %d per transaction: %d warm-up and %d measured transactions%n",
                        perTxn, warmupTxns, txns);
                for (long t = 0; t < warmupTxns; t++) {
                    transaction(producer, topic, value, perTxn, sendError);
                    if (System.nanoTime() > deadline) {
                        throw new TimeoutException("warm-up past " + timeout.toSeconds() + " s");
                    }
                }
                long start = System.nanoTime();
                for (int t = 0; t < commitNs.length; t++) {
                    commitNs[t] = transaction(producer, topic, value, perTxn, sendError);
                    if (System.nanoTime() > deadline) {
                        throw new TimeoutException("produce past " + timeout.toSeconds() + " s after "
                                + (t + 1) + " of " + txns + " transactions");
                    }
                }
                double seconds = (System.nanoTime() - start) / 1e9;
                long n = txns * perTxn;
                out.field("transactions", txns).field("measured_records", n).field("produce_s", seconds)
                        .field("records_per_s", n / seconds).field("mb_per_s", n * (double) RECORD_BYTES / 1e6 / seconds);
                long[] sorted = commitNs.clone();
                Arrays.sort(sorted);
                double sum = 0;
                for (long ns : sorted) {
                    sum += ns;
                }
                out.key("commit_us").open().field("p50", percentile(sorted, 0.50) / 1e3)
                        .field("p90", percentile(sorted, 0.90) / 1e3).field("p99", percentile(sorted, 0.99) / 1e3)
                        .field("max", sorted[sorted.length - 1] / 1e3).field("mean", sum / sorted.length / 1e3)
                        .field("samples", sorted.length).end();
                return (warmupTxns + txns) * perTxn;
            } finally {
                producer.close(CLOSE_TIMEOUT);
            }
        } catch (Exception e) { // any failure of this size is recorded; the next size still runs
            Exception cause = sendError.get();
            fail(perTxn + " per transaction: produce: " + e + (cause == null ? "" : " (first send error: " + cause + ")"));
            return -1;
        }
    }

    /** One transaction of perTxn records; returns the nanoseconds commitTransaction() took. */
    private static long transaction(KafkaProducer<byte[], byte[]> producer, String topic, byte[] value, int perTxn,
            AtomicReference<Exception> sendError) {
        producer.beginTransaction();
        for (int i = 0; i < perTxn; i++) {
            producer.send(new ProducerRecord<>(topic, 0, null, value), (md, e) -> {
                if (e != null) {
                    sendError.compareAndSet(null, e);
                }
            });
        }
        long t0 = System.nanoTime();
        producer.commitTransaction();
        return System.nanoTime() - t0;
    }

    /** Nearest-rank percentile of sorted values. */
    private static long percentile(long[] sorted, double q) {
        int rank = (int) Math.ceil(q * sorted.length);
        return sorted[Math.max(0, Math.min(sorted.length - 1, rank - 1))];
    }

    /** The read passes over the topic just written; their figures into out as "consume". */
    private void consume(TopicPartition tp, long expected, int perTxn, Json out) {
        String[] levels = {"read_uncommitted", "read_committed"};
        List<List<double[]>> passes = List.of(new ArrayList<>(), new ArrayList<>());
        long[] ends = new long[2];
        try {
            readPass(tp, "read_uncommitted", expected, perTxn, "warm-up");
            for (int pass = 0; pass < CONSUME_PASSES; pass++) {
                for (int l = 0; l < 2; l++) {
                    // Alternate which level goes first, so neither always reads right after the other.
                    int level = (pass % 2 == 0) ? l : 1 - l;
                    double[] r = readPass(tp, levels[level], expected, perTxn, "pass " + (pass + 1));
                    if (r == null) {
                        return;
                    }
                    passes.get(level).add(r);
                    ends[level] = (long) r[3];
                }
            }
        } catch (RuntimeException e) {
            fail(perTxn + " per transaction: consume: " + e);
            return;
        }
        if (ends[0] != ends[1]) {
            fail(perTxn + " per transaction: read_committed end offset (LSO) " + ends[1]
                    + " != read_uncommitted end offset (high watermark) " + ends[0] + " with every transaction committed");
        }
        out.field("end_offset", ends[0]);
        out.key("consume").open();
        for (int l = 0; l < 2; l++) {
            out.key(levels[l]).open();
            double[] mb = passes.get(l).stream().mapToDouble(r -> r[2] / 1e6 / r[1]).sorted().toArray();
            out.field("mb_per_s", median(mb)).field("records", (long) passes.get(l).get(0)[0])
                    .field("bytes", (long) passes.get(l).get(0)[2]);
            out.key("passes_mb_per_s").array();
            for (double[] r : passes.get(l)) {
                out.raw(String.format(Locale.ROOT, "%.3f", r[2] / 1e6 / r[1]));
            }
            out.end().end();
        }
        out.end();
    }

    private static double median(double[] sorted) {
        int n = sorted.length;
        return n % 2 == 1 ? sorted[n / 2] : (sorted[n / 2 - 1] + sorted[n / 2]) / 2;
    }

    /**
     * Reads tp from the start to its end offset at one isolation level: {records, seconds, value
     * bytes, end offset}, or null (a failure recorded) if it fell short or passed the deadline.
     */
    private double[] readPass(TopicPartition tp, String level, long expected, int perTxn, String what) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, level);
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, (int) Math.min(timeout.toMillis(), Integer.MAX_VALUE));
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.putAll(consumerExtra);
        String name = perTxn + " per transaction: " + level + " " + what;
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(p)) {
            List<TopicPartition> tps = List.of(tp);
            consumer.assign(tps);
            consumer.seekToBeginning(tps);
            Map<TopicPartition, Long> endOffsets = consumer.endOffsets(tps, timeout);
            long end = endOffsets.get(tp);
            consumer.position(tp, timeout); // resolves the seek now, outside the timed loop
            long deadline = System.nanoTime() + timeout.toNanos();
            long start = System.nanoTime();
            long n = 0;
            long bytes = 0;
            while (consumer.position(tp) < end) {
                for (ConsumerRecord<byte[], byte[]> r : consumer.poll(POLL_SLICE)) {
                    n++;
                    bytes += r.value() == null ? 0 : r.value().length;
                }
                if (System.nanoTime() > deadline) {
                    fail(name + ": at offset " + consumer.position(tp) + " of " + end + " after "
                            + timeout.toSeconds() + " s (" + n + " records)");
                    return null;
                }
            }
            double seconds = (System.nanoTime() - start) / 1e9;
            if (n != expected) {
                fail(name + ": read " + n + " records up to end offset " + end + ", " + expected + " were committed");
                return null;
            }
            return new double[] {n, seconds, bytes, end};
        } finally {
            System.err.printf("TxnBench: %s done%n", name);
        }
    }

    /** Just enough of a JSON writer for one object of numbers, strings, arrays and objects. */
    private static final class Json {
        private final StringBuilder sb = new StringBuilder();
        /** Per open object or array, innermost last: its closing character. */
        private final ArrayList<Character> closers = new ArrayList<>();
        /** Per open object or array: whether its next element needs a comma first. */
        private final ArrayList<Boolean> needComma = new ArrayList<>();
        /** A key was just written: its value follows without a comma. */
        private boolean afterKey;

        private void sep() {
            if (afterKey) {
                afterKey = false;
                return;
            }
            int top = needComma.size() - 1;
            if (top >= 0) {
                if (needComma.get(top)) {
                    sb.append(',');
                }
                needComma.set(top, true);
            }
        }

        private Json push(char open, char close) {
            sep();
            sb.append(open);
            closers.add(close);
            needComma.add(false);
            return this;
        }

        Json open() {
            return push('{', '}');
        }

        Json array() {
            return push('[', ']');
        }

        Json end() {
            needComma.remove(needComma.size() - 1);
            sb.append(closers.remove(closers.size() - 1));
            return this;
        }

        Json key(String k) {
            sep();
            string(k);
            sb.append(':');
            afterKey = true;
            return this;
        }

        Json raw(String literal) {
            sep();
            sb.append(literal);
            return this;
        }

        Json value(String s) {
            sep();
            string(s);
            return this;
        }

        Json field(String k, String v) {
            return key(k).value(v);
        }

        Json field(String k, long v) {
            return key(k).raw(Long.toString(v));
        }

        Json field(String k, double v) {
            return key(k).raw(Double.isFinite(v) ? String.format(Locale.ROOT, "%.3f", v) : "null");
        }

        private void string(String s) {
            sb.append('"');
            for (char c : s.toCharArray()) {
                if (c == '"' || c == '\\') {
                    sb.append('\\').append(c);
                } else if (c < 0x20) {
                    sb.append(String.format(Locale.ROOT, "\\u%04x", (int) c));
                } else {
                    sb.append(c);
                }
            }
            sb.append('"');
        }

        @Override
        public String toString() {
            return sb.toString();
        }
    }
}
