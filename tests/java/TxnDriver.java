import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.OptionalInt;
import java.util.OptionalLong;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;

import org.apache.kafka.clients.CommonClientConfigs;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.ListOffsetsOptions;
import org.apache.kafka.clients.admin.ListTransactionsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.admin.OffsetSpec;
import org.apache.kafka.clients.admin.ProducerState;
import org.apache.kafka.clients.admin.TransactionDescription;
import org.apache.kafka.clients.admin.TransactionListing;
import org.apache.kafka.clients.admin.TransactionState;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.OffsetAndMetadata;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.IsolationLevel;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Drives Kafka's transactional producer and read_committed consumer (kafka-clients 4.4) through
 * ONE scenario against a broker, for the Rust tests in tests/txn_java.rs (ringlog) and by hand
 * against Apache Kafka 4.4.
 *
 * <pre>
 *   java -cp CLASSPATH TxnDriver BOOTSTRAP TOPIC GROUP SCENARIO [name=value ...]
 * </pre>
 *
 * Every observation is one JSON object per line on stdout (written by {@link ShareDriver.Json}),
 * with an "event" field:
 * <ul>
 *   <li>{@code setup}: a topic created (or already there);
 *   <li>{@code produced}: a record the driver wrote and the broker acknowledged: producer, txn
 *       (the transaction's label, null outside one), fate (what became of its transaction:
 *       commit, abort, open, fenced, timed-out, plain for a non-transactional record, committing
 *       when written before a commit whose outcome the run may not see), topic, partition, offset,
 *       key, value; {@code unsent}: a send whose acknowledgement failed (producer, txn, key, error);
 *   <li>{@code txn}: one call of the transactional API: producer, txn, op (init, begin, flush,
 *       send, send-offsets, commit, abort), error (null when it returned normally; otherwise
 *       "Class: message" of the exception and its causes, joined by " <- "), error_class and
 *       root_class (simple names of the thrown exception and of its deepest cause), ms (how long
 *       the call took), t_ms (when it returned), and op-specific fields (offsets of send-offsets);
 *   <li>{@code record}: a consumer got a record: reader (read_committed, read_uncommitted, ctp,
 *       resumed), topic, partition, offset, key, value; {@code position}: where a reader stopped
 *       (partition, position, end);
 *   <li>{@code end_offset}: a partition's end offset: step, isolation (read_committed or
 *       read_uncommitted), via (consumer: KafkaConsumer.endOffsets; admin: Admin.listOffsets
 *       latest), partition, offset, error, waited_ms;
 *   <li>{@code committed}: the group's committed offset of a partition (Admin
 *       listConsumerGroupOffsets with requireStable): step, partition, offset (null: none),
 *       waited_ms;
 *   <li>{@code admin}: an Admin call's result or error (op, step);
 *   <li>{@code open}: the open-transaction scenario's signal, right before the JVM halts;
 *   <li>last {@code done} (the scenario completed; a summary) or {@code failed}.
 * </ul>
 * The driver judges nothing beyond "the step it waited for happened": the Rust side asserts on
 * the lines. Exit status 0 when the scenario completed, 1 with a message on stderr (and a
 * {@code failed} line) when a required step failed or its deadline passed, 2 on bad arguments.
 * Every wait is bounded by {@code timeout_ms}. Calls that a scenario expects to fail (a fenced or
 * timed-out producer's) are reported, not fatal.
 *
 * <p>Scenarios (parameters and defaults in {@link #DEFAULTS}; the transactional id is
 * {@code txn_id}, by default "tx-" + TOPIC):
 * <ul>
 *   <li>{@code ctp}: consume-transform-produce. TOPIC gets {@code records} plain records (key
 *       k{i}, value v{i}, partition i % {@code partitions}); a read_committed consumer of GROUP
 *       (no auto commit, at most {@code max_poll} records a poll) and a transactional producer
 *       loop: per poll, begin, produce "T:" + value with the same key to TOPIC-out (same
 *       partition), sendOffsetsToTransaction(next offsets, consumer.groupMetadata()), commit;
 *       until every input record was processed. Then TOPIC-out is read read_committed, and the
 *       group's committed offsets and TOPIC's end offsets are reported.
 *   <li>{@code interleaved}: {@code txns} transactions of {@code per_txn} records (key k{i},
 *       partition i % {@code partitions}); every {@code abort_every}-th is aborted, the others
 *       committed; then one more (the last label, t{txns}) is left open while the end offsets
 *       are reported (step open), committed, and the end offsets reported again (step after);
 *       TOPIC is read read_committed and read_uncommitted.
 *   <li>{@code abort-offsets}: {@code records} plain records on one partition; a consumer of GROUP
 *       and a transactional producer: transaction t0 produces the first {@code commit_at} to
 *       TOPIC-out with their offsets (commit_at) and commits; t1 produces the rest with offsets
 *       (records) and aborts. The committed offset is reported before, after t0, and after a new
 *       consumer of the group (read_committed) got its first records (reader resumed).
 *   <li>{@code fencing}: producer A opens a transaction (records a0..), producer B initTransactions
 *       with the same transactional id; then A sends one more record ({@code fenced_op=send})
 *       and commits, or only commits ({@code fenced_op=commit}); B commits b0..; TOPIC is read
 *       both ways.
 *   <li>{@code timeout}: first a producer with transaction.timeout.ms={@code too_long_ms}
 *       (another id) initTransactions (an invalid timeout); then producer P with
 *       transaction.timeout.ms={@code txn_timeout_ms} opens a transaction (x0..), sleeps
 *       {@code sleep_ms}, describes the transaction, and commits; a fresh producer Q with the same
 *       id commits y0..; TOPIC is read both ways.
 *   <li>{@code txn}: one transaction of {@code records} records with keys {prefix}{i} (partition
 *       i % {@code partitions}); {@code end=commit} commits (an error is reported, not fatal),
 *       {@code end=abort} aborts, {@code end=open} flushes, prints {@code open} and halts the JVM
 *       (no abort, no close: the transaction stays open on the broker).
 *   <li>{@code read}: TOPIC read read_committed and read_uncommitted.
 *   <li>{@code describe}: a transaction open on partitions 0 and 1 of TOPIC (transaction.timeout.ms
 *       {@code txn_timeout_ms}); describeTransactions, listTransactions (all, filtered by state
 *       Ongoing, by producer id), describeProducers; then commit; describeTransactions and
 *       listTransactions again; describeTransactions of an unknown id.
 * </ul>
 * Any {@code consumer.NAME=VALUE} / {@code producer.NAME=VALUE} parameter is passed to the
 * consumers / transactional producers as a client property (e.g.
 * {@code consumer.group.protocol=consumer}).
 */
public final class TxnDriver {
    /** Parameter defaults. Durations in ms. */
    static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

    static {
        DEFAULTS.put("records", "10");
        DEFAULTS.put("partitions", "1");
        // Every wait of the scenario ends by this deadline (from start-up).
        DEFAULTS.put("timeout_ms", "60000");
        DEFAULTS.put("poll_ms", "200");
        DEFAULTS.put("txn_id", "");
        DEFAULTS.put("txns", "20");
        DEFAULTS.put("per_txn", "10");
        DEFAULTS.put("abort_every", "3");
        DEFAULTS.put("max_poll", "7");
        DEFAULTS.put("commit_at", "4");
        // The producers' transaction.timeout.ms (Kafka's default is 60000).
        DEFAULTS.put("txn_timeout_ms", "60000");
        // One more than Kafka's transaction.max.timeout.ms default (900000).
        DEFAULTS.put("too_long_ms", "900001");
        DEFAULTS.put("sleep_ms", "0");
        // The producers' max.block.ms: how long initTransactions/commitTransaction may block.
        DEFAULTS.put("block_ms", "20000");
        DEFAULTS.put("fenced_op", "send");
        DEFAULTS.put("prefix", "r");
        DEFAULTS.put("end", "commit");
        // How long a committed offset is awaited until it reaches the wanted value.
        DEFAULTS.put("settle_ms", "10000");
    }

    /** Longest wait for one Admin call, close, or a send's acknowledgement after a flush. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(15);
    static final int EXIT_FAILED = 1;
    static final int EXIT_USAGE = 2;
    /** The transformation of the consume-transform-produce loop: this prefix on the value. */
    static final String TRANSFORMED = "T:";
    /** How often a committed offset is asked for while it is awaited. */
    static final long SETTLE_POLL_MS = 100;

    final String bootstrap;
    final String topic;
    final String group;
    final Map<String, String> params;
    final long deadlineMs;

    TxnDriver(String bootstrap, String topic, String group, Map<String, String> params) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.group = group;
        this.params = params;
        this.deadlineMs = System.currentTimeMillis() + num("timeout_ms");
    }

    public static void main(String[] args) {
        if (args.length < 4) {
            System.err.println("usage: TxnDriver BOOTSTRAP TOPIC GROUP SCENARIO [name=value ...]");
            System.exit(EXIT_USAGE);
        }
        Map<String, String> params = new LinkedHashMap<>(DEFAULTS);
        for (int i = 4; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("TxnDriver: parameter is not name=value: " + args[i]);
                System.exit(EXIT_USAGE);
            }
            String name = args[i].substring(0, eq);
            if (!DEFAULTS.containsKey(name) && !name.startsWith("consumer.") && !name.startsWith("producer.")) {
                System.err.println("TxnDriver: unknown parameter " + name + " (known: " + DEFAULTS.keySet() + ")");
                System.exit(EXIT_USAGE);
            }
            params.put(name, args[i].substring(eq + 1));
        }
        TxnDriver d = new TxnDriver(args[0], args[1], args[2], params);
        String scenario = args[3];
        try {
            Map<String, Object> summary = d.run(scenario);
            ShareDriver.Json done = ShareDriver.Json.event("done").put("scenario", scenario);
            for (Map.Entry<String, Object> e : summary.entrySet()) {
                done.put(e.getKey(), e.getValue());
            }
            done.emit();
            System.out.flush();
            System.exit(0);
        } catch (ShareDriver.Failure | RuntimeException e) {
            String message = e instanceof ShareDriver.Failure ? e.getMessage() : chain(e);
            ShareDriver.Json.event("failed").put("scenario", scenario).put("message", message).emit();
            System.out.flush();
            System.err.println("TxnDriver " + scenario + " failed: " + message);
            if (!(e instanceof ShareDriver.Failure)) {
                e.printStackTrace();
            }
            System.exit(EXIT_FAILED);
        }
    }

    Map<String, Object> run(String scenario) throws ShareDriver.Failure {
        switch (scenario) {
            case "ctp": return consumeTransformProduce();
            case "interleaved": return interleaved();
            case "abort-offsets": return abortOffsets();
            case "fencing": return fencing();
            case "timeout": return timeout();
            case "txn": return oneTransaction();
            case "read": return readBoth(topic);
            case "describe": return describe();
            default:
                System.err.println("TxnDriver: unknown scenario " + scenario);
                System.exit(EXIT_USAGE);
                return null;
        }
    }

    // -------------------------------------------------------------------------------------------
    // Scenarios

    Map<String, Object> consumeTransformProduce() throws ShareDriver.Failure {
        int partitions = (int) num("partitions");
        int records = (int) num("records");
        String out = topic + "-out";
        createTopics(partitions, topic, out);
        producePlain(topic, records, partitions);
        int transactions = 0;
        Set<String> processed = new TreeSet<>();
        try (KafkaProducer<byte[], byte[]> p = producer(txnId(), Map.of());
                KafkaConsumer<byte[], byte[]> c = groupConsumer(Map.of(ConsumerConfig.MAX_POLL_RECORDS_CONFIG, str("max_poll")))) {
            must(call("P", null, "init", Map.of(), p::initTransactions));
            c.subscribe(List.of(topic));
            while (processed.size() < records) {
                checkDeadline("all " + records + " input records processed (have " + processed.size() + ")");
                ConsumerRecords<byte[], byte[]> got = c.poll(pollWait());
                if (got.isEmpty()) {
                    continue;
                }
                String label = "t" + transactions++;
                must(call("P", label, "begin", Map.of(), p::beginTransaction));
                List<Sent> sent = new ArrayList<>();
                Map<TopicPartition, OffsetAndMetadata> offsets = new TreeMap<>(TxnDriver::byPartition);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    emitRecord("ctp", r);
                    String value = TRANSFORMED + ShareDriver.text(r.value());
                    sent.add(send(p, "P", label, out, r.partition(), ShareDriver.text(r.key()), value));
                    offsets.put(new TopicPartition(r.topic(), r.partition()), new OffsetAndMetadata(r.offset() + 1));
                }
                must(call("P", label, "send-offsets", Map.of("offsets", offsetsJson(offsets)),
                        () -> p.sendOffsetsToTransaction(offsets, c.groupMetadata())));
                must(call("P", label, "commit", Map.of(), p::commitTransaction));
                settle(sent, "commit");
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    processed.add(ShareDriver.text(r.key()));
                }
            }
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("transactions", transactions);
        summary.put("output", readAll(out, IsolationLevel.READ_COMMITTED));
        Map<Integer, Long> ends = endOffsets("input", topic, partitions, false);
        summary.put("committed", awaitCommitted("after", topic, partitions, ends));
        return summary;
    }

    Map<String, Object> interleaved() throws ShareDriver.Failure {
        int partitions = (int) num("partitions");
        int txns = (int) num("txns");
        int perTxn = (int) num("per_txn");
        long abortEvery = num("abort_every");
        createTopics(partitions, topic);
        int committed = 0;
        int aborted = 0;
        try (KafkaProducer<byte[], byte[]> p = producer(txnId(), Map.of())) {
            must(call("P", null, "init", Map.of(), p::initTransactions));
            for (int t = 0; t <= txns; t++) {
                String label = "t" + t;
                must(call("P", label, "begin", Map.of(), p::beginTransaction));
                List<Sent> sent = new ArrayList<>();
                for (int j = 0; j < perTxn; j++) {
                    long i = (long) t * perTxn + j;
                    sent.add(send(p, "P", label, topic, (int) (i % partitions), "k" + i, "v" + i));
                }
                must(call("P", label, "flush", Map.of(), p::flush));
                if (t == txns) {
                    // The last one stays open while the end offsets are read, then commits.
                    for (Sent s : sent) {
                        await(s);
                    }
                    endOffsets("open", topic, partitions, false);
                    must(call("P", label, "commit", Map.of(), p::commitTransaction));
                    settle(sent, "commit");
                    committed++;
                    endOffsets("after", topic, partitions, true);
                } else if ((t + 1) % abortEvery == 0) {
                    must(call("P", label, "abort", Map.of(), p::abortTransaction));
                    settle(sent, "abort");
                    aborted++;
                } else {
                    must(call("P", label, "commit", Map.of(), p::commitTransaction));
                    settle(sent, "commit");
                    committed++;
                }
            }
        }
        Map<String, Object> summary = readBoth(topic);
        summary.put("committed_txns", committed);
        summary.put("aborted_txns", aborted);
        return summary;
    }

    Map<String, Object> abortOffsets() throws ShareDriver.Failure {
        int records = (int) num("records");
        long commitAt = num("commit_at");
        String out = topic + "-out";
        createTopics(1, topic, out);
        producePlain(topic, records, 1);
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("before", committedNow("before", topic, 1).get(0));
        TopicPartition tp = new TopicPartition(topic, 0);
        try (KafkaProducer<byte[], byte[]> p = producer(txnId(), Map.of());
                KafkaConsumer<byte[], byte[]> c = groupConsumer(Map.of())) {
            must(call("P", null, "init", Map.of(), p::initTransactions));
            c.subscribe(List.of(topic));
            List<ConsumerRecord<byte[], byte[]>> input = new ArrayList<>();
            while (input.size() < records) {
                checkDeadline(records + " input records consumed (have " + input.size() + ")");
                for (ConsumerRecord<byte[], byte[]> r : c.poll(pollWait())) {
                    emitRecord("ctp", r);
                    input.add(r);
                }
            }
            for (int t = 0; t < 2; t++) {
                String label = "t" + t;
                long from = t == 0 ? 0 : commitAt;
                long to = t == 0 ? commitAt : records;
                must(call("P", label, "begin", Map.of(), p::beginTransaction));
                List<Sent> sent = new ArrayList<>();
                for (ConsumerRecord<byte[], byte[]> r : input) {
                    if (r.offset() >= from && r.offset() < to) {
                        sent.add(send(p, "P", label, out, 0, ShareDriver.text(r.key()),
                                TRANSFORMED + ShareDriver.text(r.value())));
                    }
                }
                Map<TopicPartition, OffsetAndMetadata> offsets = Map.of(tp, new OffsetAndMetadata(to));
                must(call("P", label, "send-offsets", Map.of("offsets", offsetsJson(offsets)),
                        () -> p.sendOffsetsToTransaction(offsets, c.groupMetadata())));
                if (t == 0) {
                    must(call("P", label, "commit", Map.of(), p::commitTransaction));
                    settle(sent, "commit");
                    summary.put("after_commit", awaitCommitted("after-commit", topic, 1, Map.of(0, commitAt)).get(0));
                } else {
                    must(call("P", label, "flush", Map.of(), p::flush));
                    must(call("P", label, "abort", Map.of(), p::abortTransaction));
                    settle(sent, "abort");
                }
            }
        }
        // A new consumer of the group starts at the committed offset (a read_committed consumer
        // asks with require_stable, so a pending transactional commit would be waited for).
        long resumedAt = -1;
        try (KafkaConsumer<byte[], byte[]> c = groupConsumer(Map.of())) {
            c.subscribe(List.of(topic));
            while (resumedAt < 0) {
                checkDeadline("the resumed consumer's first records");
                for (ConsumerRecord<byte[], byte[]> r : c.poll(pollWait())) {
                    emitRecord("resumed", r);
                    resumedAt = resumedAt < 0 ? r.offset() : Math.min(resumedAt, r.offset());
                }
            }
        }
        summary.put("resumed_at", resumedAt);
        summary.put("after_abort", committedNow("after-abort", topic, 1).get(0));
        summary.put("output", readAll(out, IsolationLevel.READ_COMMITTED));
        return summary;
    }

    Map<String, Object> fencing() throws ShareDriver.Failure {
        int records = (int) num("records");
        createTopics(1, topic);
        List<Sent> fenced = new ArrayList<>();
        List<Sent> sentB = new ArrayList<>();
        Map<String, Object> summary = new LinkedHashMap<>();
        try (KafkaProducer<byte[], byte[]> a = producer(txnId(), Map.of())) {
            must(call("A", null, "init", Map.of(), a::initTransactions));
            must(call("A", "A", "begin", Map.of(), a::beginTransaction));
            for (int i = 0; i < records; i++) {
                fenced.add(send(a, "A", "A", topic, 0, "a" + i, "va" + i));
            }
            must(call("A", "A", "flush", Map.of(), a::flush));
            try (KafkaProducer<byte[], byte[]> b = producer(txnId(), Map.of())) {
                must(call("B", null, "init", Map.of(), b::initTransactions));
                if ("send".equals(str("fenced_op"))) {
                    Sent late = send(a, "A", "A", topic, 0, "a" + records, "va" + records);
                    call("A", "A", "flush", Map.of(), a::flush);
                    await(late);
                    ShareDriver.Json.event("txn").put("producer", "A").put("txn", "A").put("op", "send-result")
                            .put("error", late.error).put("error_class", late.errorClass)
                            .put("root_class", late.rootClass).emit();
                    fenced.add(late);
                }
                summary.put("a_commit", call("A", "A", "commit", Map.of(), a::commitTransaction));
                settle(fenced, "fenced");
                must(call("B", "B", "begin", Map.of(), b::beginTransaction));
                for (int i = 0; i < records; i++) {
                    sentB.add(send(b, "B", "B", topic, 0, "b" + i, "vb" + i));
                }
                must(call("B", "B", "commit", Map.of(), b::commitTransaction));
                settle(sentB, "commit");
            }
        } catch (KafkaException e) {
            // close() of the fenced producer A (reported; a fenced producer may throw on close).
            ShareDriver.Json.event("error").put("during", "close").put("message", chain(e)).emit();
        }
        summary.putAll(readBoth(topic));
        return summary;
    }

    Map<String, Object> timeout() throws ShareDriver.Failure {
        int records = (int) num("records");
        createTopics(1, topic);
        Map<String, Object> summary = new LinkedHashMap<>();
        try (KafkaProducer<byte[], byte[]> tooLong = producer(txnId() + "-too-long",
                Map.of(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, str("too_long_ms")))) {
            summary.put("too_long_init", call("L", null, "init", Map.of(), tooLong::initTransactions));
        }
        try (KafkaProducer<byte[], byte[]> p = producer(txnId(),
                Map.of(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, str("txn_timeout_ms")))) {
            must(call("P", null, "init", Map.of(), p::initTransactions));
            must(call("P", "P", "begin", Map.of(), p::beginTransaction));
            List<Sent> sent = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                sent.add(send(p, "P", "P", topic, 0, "x" + i, "vx" + i));
            }
            must(call("P", "P", "flush", Map.of(), p::flush));
            settle(sent, "timed-out");
            ShareDriver.sleep(num("sleep_ms"));
            try (Admin admin = admin()) {
                describeTransaction(admin, "after-timeout", txnId());
            }
            summary.put("p_commit", call("P", "P", "commit", Map.of(), p::commitTransaction));
        } catch (KafkaException e) {
            ShareDriver.Json.event("error").put("during", "close").put("message", chain(e)).emit();
        }
        try (KafkaProducer<byte[], byte[]> q = producer(txnId(), Map.of())) {
            must(call("Q", null, "init", Map.of(), q::initTransactions));
            must(call("Q", "Q", "begin", Map.of(), q::beginTransaction));
            List<Sent> sent = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                sent.add(send(q, "Q", "Q", topic, 0, "y" + i, "vy" + i));
            }
            must(call("Q", "Q", "commit", Map.of(), q::commitTransaction));
            settle(sent, "commit");
        }
        summary.putAll(readBoth(topic));
        return summary;
    }

    Map<String, Object> oneTransaction() throws ShareDriver.Failure {
        int partitions = (int) num("partitions");
        int records = (int) num("records");
        String end = str("end");
        String prefix = str("prefix");
        createTopics(partitions, topic);
        Map<String, Object> summary = new LinkedHashMap<>();
        KafkaProducer<byte[], byte[]> p = producer(txnId(), Map.of());
        must(call("P", null, "init", Map.of(), p::initTransactions));
        must(call("P", prefix, "begin", Map.of(), p::beginTransaction));
        List<Sent> sent = new ArrayList<>();
        for (int i = 0; i < records; i++) {
            sent.add(send(p, "P", prefix, topic, i % partitions, prefix + i, "v" + prefix + i));
        }
        must(call("P", prefix, "flush", Map.of(), p::flush));
        switch (end) {
            case "open":
                settle(sent, "open");
                ShareDriver.Json.event("open").put("txn", prefix).put("t_ms", System.currentTimeMillis()).emit();
                System.out.flush();
                // No abort, no close: the transaction stays open on the broker.
                Runtime.getRuntime().halt(0);
                return summary;
            case "abort":
                must(call("P", prefix, "abort", Map.of(), p::abortTransaction));
                settle(sent, "abort");
                break;
            default:
                settle(sent, "committing");
                String error = call("P", prefix, "commit", Map.of(), p::commitTransaction);
                summary.put("committed", error == null);
                break;
        }
        close(p, "P");
        return summary;
    }

    Map<String, Object> describe() throws ShareDriver.Failure {
        int records = (int) num("records");
        createTopics(2, topic);
        Map<String, Object> summary = new LinkedHashMap<>();
        try (Admin admin = admin();
                KafkaProducer<byte[], byte[]> p = producer(txnId(),
                        Map.of(ProducerConfig.TRANSACTION_TIMEOUT_CONFIG, str("txn_timeout_ms")))) {
            must(call("P", null, "init", Map.of(), p::initTransactions));
            summary.put("begin_ms", System.currentTimeMillis());
            must(call("P", "P", "begin", Map.of(), p::beginTransaction));
            List<Sent> sent = new ArrayList<>();
            for (int i = 0; i < records; i++) {
                sent.add(send(p, "P", "P", topic, i % 2, "d" + i, "vd" + i));
            }
            must(call("P", "P", "flush", Map.of(), p::flush));
            settle(sent, "open");
            summary.put("flushed_ms", System.currentTimeMillis());
            Long producerId = describeTransaction(admin, "open", txnId());
            listTransactions(admin, "open", new ListTransactionsOptions());
            listTransactions(admin, "open-ongoing",
                    new ListTransactionsOptions().filterStates(List.of(TransactionState.ONGOING)));
            if (producerId != null) {
                listTransactions(admin, "open-by-producer",
                        new ListTransactionsOptions().filterProducerIds(List.of(producerId)));
            }
            describeProducers(admin, "open", List.of(new TopicPartition(topic, 0), new TopicPartition(topic, 1)));
            must(call("P", "P", "commit", Map.of(), p::commitTransaction));
            describeTransaction(admin, "committed", txnId());
            listTransactions(admin, "committed", new ListTransactionsOptions());
            describeTransaction(admin, "unknown", "no-such-" + txnId());
        }
        return summary;
    }

    // -------------------------------------------------------------------------------------------
    // Admin reports

    /** describeTransactions of one id as an admin line; returns its producer id (null: failed). */
    Long describeTransaction(Admin admin, String step, String id) {
        Long[] producerId = {null};
        adminOp("describeTransactions", step, () -> {
            TransactionDescription d = admin.describeTransactions(List.of(id)).description(id)
                    .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            Map<String, Object> m = new LinkedHashMap<>();
            m.put("transactional_id", id);
            m.put("state", d.state().toString());
            m.put("producer_id", d.producerId());
            m.put("producer_epoch", d.producerEpoch());
            m.put("timeout_ms", d.transactionTimeoutMs());
            OptionalLong start = d.transactionStartTimeMs();
            m.put("start_ms", start.isPresent() ? start.getAsLong() : null);
            m.put("coordinator", d.coordinatorId());
            m.put("partitions", partitionNames(d.topicPartitions()));
            producerId[0] = d.producerId();
            return m;
        });
        return producerId[0];
    }

    void listTransactions(Admin admin, String step, ListTransactionsOptions options) {
        adminOp("listTransactions", step, () -> {
            List<Object> listed = new ArrayList<>();
            for (TransactionListing l : admin.listTransactions(options).all()
                    .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("transactional_id", l.transactionalId());
                m.put("producer_id", l.producerId());
                m.put("state", l.state().toString());
                listed.add(m);
            }
            return listed;
        });
    }

    void describeProducers(Admin admin, String step, List<TopicPartition> partitions) {
        adminOp("describeProducers", step, () -> {
            Map<String, Object> byPartition = new TreeMap<>();
            for (var e : admin.describeProducers(partitions).all()
                    .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).entrySet()) {
                List<Object> producers = new ArrayList<>();
                for (ProducerState s : e.getValue().activeProducers()) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("producer_id", s.producerId());
                    m.put("producer_epoch", s.producerEpoch());
                    m.put("last_sequence", s.lastSequence());
                    OptionalLong start = s.currentTransactionStartOffset();
                    m.put("txn_start_offset", start.isPresent() ? start.getAsLong() : null);
                    OptionalInt coordinatorEpoch = s.coordinatorEpoch();
                    m.put("coordinator_epoch", coordinatorEpoch.isPresent() ? coordinatorEpoch.getAsInt() : null);
                    producers.add(m);
                }
                byPartition.put(e.getKey().toString(), producers);
            }
            return byPartition;
        });
    }

    /** An Admin call whose result (or error) is one {@code admin} line. */
    interface AdminCall {
        Object call() throws Exception;
    }

    void adminOp(String op, String step, AdminCall call) {
        ShareDriver.Json line = ShareDriver.Json.event("admin").put("op", op).put("step", step);
        try {
            line.put("result", call.call()).put("error", null);
        } catch (ExecutionException e) {
            line.put("result", null).put("error", chain(e.getCause())).put("error_class", simpleName(e.getCause()));
        } catch (Exception e) {
            line.put("result", null).put("error", chain(e)).put("error_class", simpleName(e));
        }
        line.emit();
    }

    /**
     * The group's committed offsets of TOPIC's partitions 0..partitions-1, asked until they equal
     * {@code want} (a partition missing from it: any) or {@code settle_ms} passed; one committed
     * line per partition with the last answer. Returns partition -> offset (-1: none).
     */
    Map<Integer, Long> awaitCommitted(String step, String of, int partitions, Map<Integer, Long> want)
            throws ShareDriver.Failure {
        long start = System.currentTimeMillis();
        long until = Math.min(deadlineMs, start + num("settle_ms"));
        while (true) {
            Map<Integer, Long> got = committedOffsets(of, partitions);
            boolean reached = true;
            for (Map.Entry<Integer, Long> e : want.entrySet()) {
                reached &= e.getValue().equals(got.get(e.getKey()));
            }
            if (reached || System.currentTimeMillis() >= until) {
                for (Map.Entry<Integer, Long> e : got.entrySet()) {
                    ShareDriver.Json.event("committed").put("step", step).put("topic", of).put("partition", e.getKey())
                            .put("offset", e.getValue() < 0 ? null : e.getValue())
                            .put("waited_ms", System.currentTimeMillis() - start).emit();
                }
                return got;
            }
            ShareDriver.sleep(SETTLE_POLL_MS);
        }
    }

    /** The committed offsets right now, reported as committed lines. */
    Map<Integer, Long> committedNow(String step, String of, int partitions) throws ShareDriver.Failure {
        return awaitCommitted(step, of, partitions, Map.of());
    }

    Map<Integer, Long> committedOffsets(String of, int partitions) throws ShareDriver.Failure {
        Map<Integer, Long> got = new TreeMap<>();
        try (Admin admin = admin()) {
            Map<TopicPartition, OffsetAndMetadata> offsets = admin
                    .listConsumerGroupOffsets(group, new ListConsumerGroupOffsetsOptions().requireStable(true))
                    .partitionsToOffsetAndMetadata().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            for (int p = 0; p < partitions; p++) {
                OffsetAndMetadata o = offsets.get(new TopicPartition(of, p));
                got.put(p, o == null ? -1L : o.offset());
            }
        } catch (ExecutionException e) {
            throw new ShareDriver.Failure("listConsumerGroupOffsets of " + group + ": " + chain(e.getCause()));
        } catch (InterruptedException | TimeoutException e) {
            throw new ShareDriver.Failure("listConsumerGroupOffsets of " + group + ": " + chain(e));
        }
        return got;
    }

    /**
     * End offsets of TOPIC's partitions under both isolation levels, by the consumer and by
     * Admin.listOffsets; one end_offset line each (with waited_ms). With {@code settle}, they are
     * asked again (for at most {@code settle_ms}) until read_committed's equal read_uncommitted's
     * (Kafka's commitTransaction may return before the markers are written, so the last stable
     * offset may lag a little). Returns read_uncommitted's by the consumer.
     */
    Map<Integer, Long> endOffsets(String step, String of, int partitions, boolean settle) {
        long start = System.currentTimeMillis();
        long until = Math.min(deadlineMs, start + num("settle_ms"));
        while (true) {
            List<ShareDriver.Json> lines = new ArrayList<>();
            Map<String, Map<Integer, Long>> seen = new TreeMap<>();
            askEndOffsets(step, of, partitions, lines, seen);
            Map<Integer, Long> committed = seen.getOrDefault("read_committed/consumer", Map.of());
            Map<Integer, Long> uncommitted = seen.getOrDefault("read_uncommitted/consumer", Map.of());
            boolean stable = committed.size() == partitions && committed.equals(uncommitted)
                    && committed.equals(seen.get("read_committed/admin"))
                    && uncommitted.equals(seen.get("read_uncommitted/admin"));
            if (!settle || stable || System.currentTimeMillis() >= until) {
                long waited = System.currentTimeMillis() - start;
                for (ShareDriver.Json line : lines) {
                    line.put("waited_ms", waited).emit();
                }
                return uncommitted;
            }
            ShareDriver.sleep(SETTLE_POLL_MS);
        }
    }

    /** One round of {@link #endOffsets}: lines to emit, and "isolation/via" -> partition -> offset. */
    void askEndOffsets(String step, String of, int partitions, List<ShareDriver.Json> lines,
            Map<String, Map<Integer, Long>> seen) {
        List<TopicPartition> tps = new ArrayList<>();
        for (int p = 0; p < partitions; p++) {
            tps.add(new TopicPartition(of, p));
        }
        for (IsolationLevel level : List.of(IsolationLevel.READ_COMMITTED, IsolationLevel.READ_UNCOMMITTED)) {
            String isolation = level.toString();
            Map<Integer, Long> byConsumer = new TreeMap<>();
            try (KafkaConsumer<byte[], byte[]> c = plainConsumer(level)) {
                Map<TopicPartition, Long> ends = c.endOffsets(tps, CALL_TIMEOUT);
                for (TopicPartition tp : tps) {
                    lines.add(endLine(step, isolation, "consumer", tp, ends.get(tp), null));
                    if (ends.get(tp) != null) {
                        byConsumer.put(tp.partition(), ends.get(tp));
                    }
                }
            } catch (KafkaException e) {
                for (TopicPartition tp : tps) {
                    lines.add(endLine(step, isolation, "consumer", tp, null, chain(e)));
                }
            }
            seen.put(isolation + "/consumer", byConsumer);
            Map<Integer, Long> byAdmin = new TreeMap<>();
            try (Admin admin = admin()) {
                Map<TopicPartition, OffsetSpec> specs = new LinkedHashMap<>();
                for (TopicPartition tp : tps) {
                    specs.put(tp, OffsetSpec.latest());
                }
                var result = admin.listOffsets(specs, new ListOffsetsOptions(level));
                for (TopicPartition tp : tps) {
                    try {
                        long offset = result.partitionResult(tp).get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).offset();
                        lines.add(endLine(step, isolation, "admin", tp, offset, null));
                        byAdmin.put(tp.partition(), offset);
                    } catch (ExecutionException e) {
                        lines.add(endLine(step, isolation, "admin", tp, null, chain(e.getCause())));
                    } catch (InterruptedException | TimeoutException e) {
                        lines.add(endLine(step, isolation, "admin", tp, null, chain(e)));
                    }
                }
            }
            seen.put(isolation + "/admin", byAdmin);
        }
    }

    static ShareDriver.Json endLine(String step, String isolation, String via, TopicPartition tp, Long offset,
            String error) {
        return ShareDriver.Json.event("end_offset").put("step", step).put("isolation", isolation).put("via", via)
                .put("topic", tp.topic()).put("partition", tp.partition()).put("offset", offset).put("error", error);
    }

    // -------------------------------------------------------------------------------------------
    // Reading

    Map<String, Object> readBoth(String of) throws ShareDriver.Failure {
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("read_committed", readAll(of, IsolationLevel.READ_COMMITTED));
        summary.put("read_uncommitted", readAll(of, IsolationLevel.READ_UNCOMMITTED));
        return summary;
    }

    /**
     * Reads every partition of {@code of} from the beginning to its end offset at {@code level}
     * (a consumer without a group); every record is a record line with reader = the level, every
     * partition's final position a position line. Returns how many records came.
     */
    long readAll(String of, IsolationLevel level) throws ShareDriver.Failure {
        String reader = level.toString();
        long got = 0;
        try (KafkaConsumer<byte[], byte[]> c = plainConsumer(level)) {
            List<TopicPartition> tps = new ArrayList<>();
            List<PartitionInfo> infos = c.partitionsFor(of, CALL_TIMEOUT);
            if (infos == null || infos.isEmpty()) {
                throw new ShareDriver.Failure("no partitions for " + of);
            }
            for (PartitionInfo p : infos) {
                tps.add(new TopicPartition(of, p.partition()));
            }
            tps.sort(TxnDriver::byPartition);
            c.assign(tps);
            c.seekToBeginning(tps);
            Map<TopicPartition, Long> ends = c.endOffsets(tps, CALL_TIMEOUT);
            while (true) {
                boolean behind = false;
                for (TopicPartition tp : tps) {
                    behind |= c.position(tp, CALL_TIMEOUT) < ends.get(tp);
                }
                if (!behind) {
                    break;
                }
                checkDeadline(reader + " reader of " + of + " to reach " + ends);
                for (ConsumerRecord<byte[], byte[]> r : c.poll(pollWait())) {
                    emitRecord(reader, r);
                    got++;
                }
            }
            for (TopicPartition tp : tps) {
                ShareDriver.Json.event("position").put("reader", reader).put("topic", of).put("partition", tp.partition())
                        .put("position", c.position(tp, CALL_TIMEOUT)).put("end", ends.get(tp)).emit();
            }
        } catch (KafkaException e) {
            throw new ShareDriver.Failure(reader + " reader of " + of + ": " + chain(e));
        }
        return got;
    }

    static void emitRecord(String reader, ConsumerRecord<byte[], byte[]> r) {
        ShareDriver.Json.event("record").put("reader", reader).put("topic", r.topic()).put("partition", r.partition())
                .put("offset", r.offset()).put("key", ShareDriver.text(r.key()))
                .put("value", ShareDriver.text(r.value())).emit();
    }

    // -------------------------------------------------------------------------------------------
    // Producing

    /** A send: what was sent, and once settled its metadata or error. */
    static final class Sent {
        final String producer;
        final String txn;
        final String topic;
        final String key;
        final String value;
        Future<RecordMetadata> future;
        RecordMetadata metadata;
        String error;
        String errorClass;
        String rootClass;

        Sent(String producer, String txn, String topic, String key, String value) {
            this.producer = producer;
            this.txn = txn;
            this.topic = topic;
            this.key = key;
            this.value = value;
        }
    }

    static Sent send(KafkaProducer<byte[], byte[]> p, String producer, String txn, String to, int partition,
            String key, String value) {
        Sent s = new Sent(producer, txn, to, key, value);
        try {
            s.future = p.send(new ProducerRecord<>(to, partition, key.getBytes(StandardCharsets.UTF_8),
                    value.getBytes(StandardCharsets.UTF_8)));
        } catch (KafkaException e) {
            s.error = chain(e);
            s.errorClass = simpleName(e);
            s.rootClass = simpleName(root(e));
        }
        return s;
    }

    /** Waits for a send's acknowledgement (bounded); fills metadata or error. */
    void await(Sent s) {
        if (s.future == null || s.metadata != null || s.error != null) {
            return;
        }
        try {
            s.metadata = s.future.get(Math.max(1, Math.min(CALL_TIMEOUT.toMillis(), deadlineMs - System.currentTimeMillis())),
                    TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            s.error = chain(e.getCause());
            s.errorClass = simpleName(e.getCause());
            s.rootClass = simpleName(root(e.getCause()));
        } catch (InterruptedException | TimeoutException e) {
            s.error = chain(e);
            s.errorClass = simpleName(e);
            s.rootClass = simpleName(root(e));
        }
    }

    /** Awaits each send and reports it: produced (with its transaction's fate) or unsent. */
    void settle(List<Sent> sent, String fate) {
        for (Sent s : sent) {
            await(s);
            if (s.metadata != null) {
                ShareDriver.Json.event("produced").put("producer", s.producer).put("txn", s.txn).put("fate", fate)
                        .put("topic", s.metadata.topic()).put("partition", s.metadata.partition())
                        .put("offset", s.metadata.offset()).put("key", s.key).put("value", s.value).emit();
            } else {
                ShareDriver.Json.event("unsent").put("producer", s.producer).put("txn", s.txn).put("fate", fate)
                        .put("topic", s.topic).put("key", s.key).put("error", s.error)
                        .put("error_class", s.errorClass).put("root_class", s.rootClass).emit();
            }
        }
    }

    /** Plain (idempotent, non-transactional) records k{i}/v{i}, i % partitions; must all succeed. */
    void producePlain(String to, int records, int partitions) throws ShareDriver.Failure {
        Properties props = clientProps(ProducerConfig.CLIENT_ID_CONFIG, "plain");
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, str("block_ms"));
        List<Sent> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            for (int i = 0; i < records; i++) {
                sent.add(send(p, "plain", null, to, i % partitions, "k" + i, "v" + i));
            }
            p.flush();
            settle(sent, "plain");
        }
        for (Sent s : sent) {
            if (s.metadata == null) {
                throw new ShareDriver.Failure("producing plain record " + s.key + ": " + s.error);
            }
        }
    }

    /** A transactional producer with id {@code id} ({@code extra} and producer.* on top). */
    KafkaProducer<byte[], byte[]> producer(String id, Map<String, String> extra) {
        Properties props = clientProps(ProducerConfig.CLIENT_ID_CONFIG, id);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, id);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.MAX_BLOCK_MS_CONFIG, str("block_ms"));
        props.putAll(extra);
        passThrough(props, "producer.");
        return new KafkaProducer<>(props);
    }

    void close(KafkaProducer<byte[], byte[]> p, String name) {
        try {
            p.close(CALL_TIMEOUT);
        } catch (KafkaException e) {
            ShareDriver.Json.event("error").put("producer", name).put("during", "close").put("message", chain(e)).emit();
        }
    }

    /** One transactional call, reported as a txn line; returns its error (null: it returned). */
    String call(String producer, String txn, String op, Map<String, Object> extra, Runnable body) {
        long start = System.currentTimeMillis();
        Throwable failure = null;
        try {
            body.run();
        } catch (RuntimeException e) {
            failure = e;
        }
        long now = System.currentTimeMillis();
        ShareDriver.Json line = ShareDriver.Json.event("txn").put("producer", producer).put("txn", txn).put("op", op);
        for (Map.Entry<String, Object> e : extra.entrySet()) {
            line.put(e.getKey(), e.getValue());
        }
        line.put("error", failure == null ? null : chain(failure))
                .put("error_class", failure == null ? null : simpleName(failure))
                .put("root_class", failure == null ? null : simpleName(root(failure)))
                .put("ms", now - start).put("t_ms", now).emit();
        return failure == null ? null : op + ": " + chain(failure);
    }

    /** A required step: its error fails the scenario. */
    static void must(String error) throws ShareDriver.Failure {
        if (error != null) {
            throw new ShareDriver.Failure(error);
        }
    }

    // -------------------------------------------------------------------------------------------
    // Clients and helpers

    void createTopics(int partitions, String... names) throws ShareDriver.Failure {
        try (Admin admin = admin()) {
            for (String name : names) {
                ShareDriver.Json line = ShareDriver.Json.event("setup").put("what", "topic").put("name", name)
                        .put("partitions", partitions);
                try {
                    admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1)))
                            .all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                    line.put("error", null).emit();
                } catch (ExecutionException e) {
                    if (e.getCause() instanceof TopicExistsException) {
                        line.put("error", null).put("existed", true).emit();
                        continue;
                    }
                    line.put("error", chain(e.getCause())).emit();
                    throw new ShareDriver.Failure("creating topic " + name + ": " + chain(e.getCause()));
                } catch (InterruptedException | TimeoutException e) {
                    throw new ShareDriver.Failure("creating topic " + name + ": " + chain(e));
                }
            }
        }
    }

    /** A consumer of GROUP: read_committed, no auto commit, from the earliest offset. */
    KafkaConsumer<byte[], byte[]> groupConsumer(Map<String, String> extra) {
        Properties props = consumerProps(IsolationLevel.READ_COMMITTED);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.putAll(extra);
        passThrough(props, "consumer.");
        return new KafkaConsumer<>(props);
    }

    /** A consumer without a group at {@code level} (assign and seek only). */
    KafkaConsumer<byte[], byte[]> plainConsumer(IsolationLevel level) {
        Properties props = consumerProps(level);
        // group.protocol only matters with a group.
        passThrough(props, "consumer.");
        props.remove(ConsumerConfig.GROUP_PROTOCOL_CONFIG);
        return new KafkaConsumer<>(props);
    }

    Properties consumerProps(IsolationLevel level) {
        Properties props = clientProps(ConsumerConfig.CLIENT_ID_CONFIG, group + "-" + level);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, level.toString());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        return props;
    }

    Properties clientProps(String clientIdKey, String clientId) {
        Properties props = new Properties();
        props.put(CommonClientConfigs.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(clientIdKey, clientId);
        return props;
    }

    Admin admin() {
        Properties props = clientProps(AdminClientConfig.CLIENT_ID_CONFIG, group + "-admin");
        return Admin.create(props);
    }

    String txnId() {
        return str("txn_id").isEmpty() ? "tx-" + topic : str("txn_id");
    }

    Duration pollWait() {
        return Duration.ofMillis(Math.max(0, Math.min(num("poll_ms"), deadlineMs - System.currentTimeMillis())));
    }

    void checkDeadline(String waitingFor) throws ShareDriver.Failure {
        if (System.currentTimeMillis() >= deadlineMs) {
            throw new ShareDriver.Failure("timed out after " + str("timeout_ms") + " ms waiting for " + waitingFor);
        }
    }

    void passThrough(Properties props, String prefix) {
        for (Map.Entry<String, String> e : params.entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                props.put(e.getKey().substring(prefix.length()), e.getValue());
            }
        }
    }

    String str(String name) {
        return params.get(name);
    }

    long num(String name) {
        try {
            return Long.parseLong(params.get(name));
        } catch (NumberFormatException e) {
            System.err.println("TxnDriver: parameter " + name + " is not a number: " + params.get(name));
            System.exit(EXIT_USAGE);
            return 0;
        }
    }

    static int byPartition(TopicPartition a, TopicPartition b) {
        int byTopic = a.topic().compareTo(b.topic());
        return byTopic != 0 ? byTopic : Integer.compare(a.partition(), b.partition());
    }

    static List<String> partitionNames(Set<TopicPartition> tps) {
        List<TopicPartition> sorted = new ArrayList<>(tps);
        sorted.sort(TxnDriver::byPartition);
        List<String> names = new ArrayList<>();
        for (TopicPartition tp : sorted) {
            names.add(tp.toString());
        }
        return names;
    }

    static Map<String, Object> offsetsJson(Map<TopicPartition, OffsetAndMetadata> offsets) {
        Map<String, Object> m = new TreeMap<>();
        for (Map.Entry<TopicPartition, OffsetAndMetadata> e : offsets.entrySet()) {
            m.put(e.getKey().toString(), e.getValue().offset());
        }
        return m;
    }

    /** The exception and its causes: "Class: message <- Cause: message ..." (execution wrappers skipped). */
    static String chain(Throwable e) {
        StringBuilder s = new StringBuilder();
        Throwable t = e;
        for (int depth = 0; t != null && depth < 8; depth++, t = t.getCause()) {
            if (t instanceof ExecutionException && t.getCause() != null) {
                continue;
            }
            if (s.length() > 0) {
                s.append(" <- ");
            }
            s.append(t.getClass().getSimpleName()).append(": ").append(t.getMessage());
        }
        return s.toString();
    }

    static Throwable root(Throwable e) {
        Throwable t = e;
        for (int depth = 0; t.getCause() != null && depth < 8; depth++) {
            t = t.getCause();
        }
        return t;
    }

    static String simpleName(Throwable e) {
        Throwable t = e;
        while (t instanceof ExecutionException && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName();
    }
}
