import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.nio.ByteBuffer;
import java.nio.charset.CharacterCodingException;
import java.nio.charset.CodingErrorAction;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.LinkedHashMap;
import java.util.List;
import java.util.Map;
import java.util.Optional;
import java.util.Properties;
import java.util.Set;
import java.util.TreeMap;
import java.util.TreeSet;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.Future;
import java.util.concurrent.TimeUnit;
import java.util.concurrent.TimeoutException;
import java.util.concurrent.atomic.AtomicReference;

import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.AlterConfigOp;
import org.apache.kafka.clients.admin.ConfigEntry;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.consumer.AcknowledgeType;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.clients.consumer.KafkaShareConsumer;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.clients.producer.RecordMetadata;
import org.apache.kafka.common.KafkaException;
import org.apache.kafka.common.PartitionInfo;
import org.apache.kafka.common.TopicIdPartition;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.config.ConfigResource;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;
import org.apache.kafka.common.serialization.ByteArraySerializer;

/**
 * Drives Kafka's share consumer (KIP-932, {@link KafkaShareConsumer} of kafka-clients 4.4) through
 * ONE scenario against a broker, for the Rust tests in tests/share_java.rs (ringlog) and by hand
 * against Apache Kafka 4.4.
 *
 * <pre>
 *   java -cp CLASSPATH ShareDriver BOOTSTRAP TOPIC GROUP SCENARIO [name=value ...]
 * </pre>
 *
 * Every observation is one JSON object per line on stdout, with an "event" field:
 * <ul>
 *   <li>{@code setup}: a topic created (or already there), {@code config}: a group config set
 *       through Admin.incrementalAlterConfigs on the GROUP resource (with the error, if any),
 *       {@code produced}: a record written (partition, offset, key, value, timestamp);
 *   <li>{@code record}: a share consumer got a record: consumer, topic, partition, offset, key,
 *       value, headers, delivery_count, t_ms (wall clock when poll returned it);
 *   <li>{@code ack}: the consumer acknowledged a record (type ACCEPT/RELEASE/REJECT, t_ms);
 *       {@code acked}: the AcknowledgementCommitCallback's report (offsets, error);
 *       {@code commit}: commitSync's result per partition (error or null, t_ms when it returned);
 *   <li>{@code dlq}: a record read back from the dead-letter topic with a plain KafkaConsumer
 *       (partition, offset, timestamp, timestamp_type, key, value, headers with utf8 and hex);
 *   <li>{@code redelivered} (backoff), {@code error} (a non-fatal exception, reported and
 *       survived), and last {@code done} (the scenario completed; a summary) or {@code failed}.
 * </ul>
 * Keys and values are printed as UTF-8 strings (null stays null). The driver judges nothing
 * beyond "the step it waited for happened": the Rust side asserts on the lines. Exit status 0 when
 * the scenario completed, 1 with a message on stderr (and a {@code failed} line) when a step
 * failed or its deadline passed, 2 on bad arguments. Every wait is bounded by {@code timeout_ms}.
 *
 * <p>Scenarios and their parameters (defaults in {@link #DEFAULTS}):
 * <ul>
 *   <li>{@code produce}: create the topic, set share.auto.offset.reset=earliest on the group,
 *       produce {@code records} records (keys k{start}.., values v{start}.., one header
 *       trace=t{start}..), record i to partition i % {@code partitions}.
 *   <li>{@code implicit} / {@code explicit}: produce, consume every record with that
 *       share.acknowledgement.mode (explicit: ACCEPT each, commitSync per poll), close, then verify
 *       with a new consumer that nothing comes again (a marker record is produced and awaited,
 *       then {@code quiet_ms} more).
 *   <li>{@code shared}: produce (each record its own batch), {@code consumers} consumers on
 *       threads in one group ACCEPT records (after {@code work_ms} each) until all are accepted;
 *       unless given, consumer.max.poll.records=10 and consumer.share.acquire.mode=record_limit
 *       (at most 10 records acquired per fetch, so that every consumer gets some).
 *   <li>{@code release}: produce, RELEASE each record on its first delivery, ACCEPT it on the next.
 *   <li>{@code reject}: produce, REJECT each record; read the DLQ topic ({@code dlq}, created with
 *       errors.deadletterqueue.group.enable={@code dlq_enable} unless {@code dlq_create=false},
 *       configured on the group unless {@code dlq=none}; {@code copy} sets
 *       errors.deadletterqueue.copy.record.enable); verify nothing is redelivered.
 *   <li>{@code backoff}: set the group config ringlog.share.retry.backoff.ms={@code backoff}
 *       (an error is reported, not fatal: Kafka has no such config), then RELEASE one record
 *       {@code releases} times, timing each redelivery; ACCEPT it at the end.
 *   <li>{@code lock-expiry}: a consumer acquires the records and never acknowledges them; a second
 *       consumer then waits for them (share.record.lock.duration.ms={@code lock_ms} on the group
 *       unless 0). {@code mode=halt}: the holder is a child JVM ({@code consume-ack count=0}) that
 *       halts (Runtime.halt: no acknowledgement, no close, no leave; its connections close);
 *       {@code mode=abandon}: the holder stays connected and heartbeating but is never polled
 *       again (closed at the end), so only the acquisition lock can free its records.
 *   <li>{@code delivery-limit}: share.delivery.count.limit={@code limit} and a DLQ on the group;
 *       RELEASE every delivery until the records stop coming ({@code quiet_ms}); read the DLQ.
 *   <li>{@code consume-ack}: (no produce) ACCEPT the first {@code count} records in offset order,
 *       RELEASE the next {@code release}, keep the rest of the last poll acquired (wanted: at least
 *       {@code hold}), commit, wait {@code linger_ms}, then Runtime.halt(0) (for a broker SIGKILL
 *       test, and the lock-expiry child).
 *   <li>{@code admin}: the share-group Admin calls (see {@link #adminCalls}).
 *   <li>{@code consume-all}: (no produce) ACCEPT everything until {@code expect} distinct records
 *       were seen, then {@code quiet_ms} more (so a second copy of any record would show).
 * </ul>
 * Any {@code consumer.NAME=VALUE} / {@code producer.NAME=VALUE} parameter is passed to the share
 * consumers / producer as a client property (e.g. {@code consumer.max.poll.records=10}).
 */
public final class ShareDriver {
    /** Parameter defaults. Durations in ms. */
    static final Map<String, String> DEFAULTS = new LinkedHashMap<>();

    static {
        DEFAULTS.put("records", "10");
        DEFAULTS.put("start", "0");
        DEFAULTS.put("partitions", "1");
        // Every wait of the scenario ends by this deadline (from start-up).
        DEFAULTS.put("timeout_ms", "60000");
        // One poll's longest wait: short, so that deadlines and quiet periods are kept closely.
        DEFAULTS.put("poll_ms", "200");
        // How long "nothing more comes" is watched for.
        DEFAULTS.put("quiet_ms", "3000");
        DEFAULTS.put("consumers", "3");
        DEFAULTS.put("work_ms", "2");
        DEFAULTS.put("batch", "one");
        DEFAULTS.put("dlq", "");
        DEFAULTS.put("dlq_create", "true");
        DEFAULTS.put("dlq_enable", "true");
        DEFAULTS.put("dlq_partitions", "1");
        DEFAULTS.put("copy", "");
        DEFAULTS.put("backoff", "1000,2000");
        DEFAULTS.put("releases", "2");
        DEFAULTS.put("lock_ms", "0");
        DEFAULTS.put("mode", "halt");
        DEFAULTS.put("limit", "2");
        DEFAULTS.put("count", "0");
        DEFAULTS.put("hold", "1");
        DEFAULTS.put("release", "0");
        DEFAULTS.put("linger_ms", "0");
        DEFAULTS.put("expect", "0");
        DEFAULTS.put("consumer", "c0");
        DEFAULTS.put("reset", "earliest");
        DEFAULTS.put("verify", "true");
    }

    /** Longest wait for one Admin call or one commitSync/close. */
    static final Duration CALL_TIMEOUT = Duration.ofSeconds(15);
    /** Exit statuses. */
    static final int EXIT_FAILED = 1;
    static final int EXIT_USAGE = 2;
    /** The index of the marker record (key k1000000000): far above any scenario's records. */
    static final long MARKER_INDEX = 1_000_000_000L;
    /** The group config of ringlog's retry backoff (not a Kafka config). */
    static final String BACKOFF_CONFIG = "ringlog.share.retry.backoff.ms";

    final String bootstrap;
    final String topic;
    final String group;
    final Map<String, String> params;
    /** The parameters given on the command line (the rest are defaults). */
    final Set<String> given;
    final long deadlineMs;

    ShareDriver(String bootstrap, String topic, String group, Map<String, String> params, Set<String> given) {
        this.bootstrap = bootstrap;
        this.topic = topic;
        this.group = group;
        this.params = params;
        this.given = given;
        this.deadlineMs = System.currentTimeMillis() + num("timeout_ms");
    }

    public static void main(String[] args) {
        if (args.length < 4) {
            System.err.println("usage: ShareDriver BOOTSTRAP TOPIC GROUP SCENARIO [name=value ...]");
            System.exit(EXIT_USAGE);
        }
        Map<String, String> params = new LinkedHashMap<>(DEFAULTS);
        Set<String> given = new TreeSet<>();
        for (int i = 4; i < args.length; i++) {
            int eq = args[i].indexOf('=');
            if (eq <= 0) {
                System.err.println("ShareDriver: parameter is not name=value: " + args[i]);
                System.exit(EXIT_USAGE);
            }
            String name = args[i].substring(0, eq);
            if (!DEFAULTS.containsKey(name) && !name.startsWith("consumer.") && !name.startsWith("producer.")) {
                System.err.println("ShareDriver: unknown parameter " + name + " (known: " + DEFAULTS.keySet() + ")");
                System.exit(EXIT_USAGE);
            }
            params.put(name, args[i].substring(eq + 1));
            given.add(name);
        }
        ShareDriver d = new ShareDriver(args[0], args[1], args[2], params, given);
        String scenario = args[3];
        try {
            Map<String, Object> summary = d.run(scenario);
            Json done = Json.event("done").put("scenario", scenario);
            for (Map.Entry<String, Object> e : summary.entrySet()) {
                done.put(e.getKey(), e.getValue());
            }
            done.emit();
            System.out.flush();
            System.exit(0);
        } catch (Failure | RuntimeException e) {
            String message = e instanceof Failure ? e.getMessage() : describe(e);
            Json.event("failed").put("scenario", scenario).put("message", message).emit();
            System.out.flush();
            System.err.println("ShareDriver " + scenario + " failed: " + message);
            if (!(e instanceof Failure)) {
                e.printStackTrace();
            }
            System.exit(EXIT_FAILED);
        }
    }

    Map<String, Object> run(String scenario) throws Failure {
        switch (scenario) {
            case "produce": return produceScenario();
            case "implicit": return consumeEverything(false);
            case "explicit": return consumeEverything(true);
            case "shared": return shared();
            case "release": return release();
            case "reject": return reject();
            case "backoff": return backoff();
            case "lock-expiry": return lockExpiry();
            case "delivery-limit": return deliveryLimit();
            case "consume-ack": return consumeAck();
            case "consume-all": return consumeAll();
            case "admin": return adminCalls();
            case "read-committed": return readCommitted();
            default:
                System.err.println("ShareDriver: unknown scenario " + scenario);
                System.exit(EXIT_USAGE);
                return null;
        }
    }

    // -------------------------------------------------------------------------------------------
    // Scenarios

    Map<String, Object> produceScenario() throws Failure {
        prepare(Map.of());
        List<RecordMetadata> sent = produce(num("start"), num("records"));
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("produced", sent.size());
        return summary;
    }

    /** implicit / explicit acknowledgement: every record once, then nothing again. */
    Map<String, Object> consumeEverything(boolean explicit) throws Failure {
        prepare(Map.of());
        int records = (int) num("records");
        produce(num("start"), records);
        Set<String> seen = new TreeSet<>();
        String id = str("consumer");
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, explicit)) {
            while (seen.size() < records) {
                checkDeadline("all " + records + " records delivered to " + id + " (have " + seen.size() + ")");
                for (ConsumerRecord<byte[], byte[]> r : poll(c, id)) {
                    seen.add(r.partition() + ":" + r.offset());
                    if (explicit) {
                        acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                    }
                }
            }
            // Implicit mode: the last poll's records are acknowledged by this commit.
            commit(c, id);
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("delivered", seen.size());
        summary.put("verify_records", verifyNothingComesAgain());
        return summary;
    }

    /**
     * share.isolation.level=read_committed: a transactional producer commits {@code records}
     * records, aborts as many, commits as many again; the share consumer gets the committed
     * ones only (values c..., never a...), and nothing after them within one more poll.
     */
    Map<String, Object> readCommitted() throws Failure {
        prepare(Map.of("share.isolation.level", "read_committed"));
        int records = (int) num("records");
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.TRANSACTIONAL_ID_CONFIG, "share-rc-" + group);
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            p.initTransactions();
            String[] rounds = {"c", "a", "c"};
            for (int round = 0; round < rounds.length; round++) {
                p.beginTransaction();
                for (int i = 0; i < records; i++) {
                    String v = rounds[round] + round + "-" + i;
                    p.send(new ProducerRecord<>(topic, 0, v.getBytes(StandardCharsets.UTF_8),
                            v.getBytes(StandardCharsets.UTF_8)));
                }
                if (rounds[round].equals("c")) {
                    p.commitTransaction();
                } else {
                    p.flush();
                    p.abortTransaction();
                }
                Json.event("transaction").put("round", round).put("committed", rounds[round].equals("c")).emit();
            }
        } catch (KafkaException e) {
            throw new Failure("transactional produce: " + describe(e));
        }
        String id = str("consumer");
        int seen = 0;
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, false)) {
            while (seen < 2 * records) {
                checkDeadline("the " + (2 * records) + " committed records delivered to " + id + " (have " + seen + ")");
                seen += poll(c, id).size();
            }
            // One more poll: nothing else may come (the aborted records are archived).
            seen += poll(c, id).size();
            commit(c, id);
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("delivered", seen);
        return summary;
    }

    /** Several consumers on threads share the partition(s); each ACCEPTs what it gets. */
    Map<String, Object> shared() throws Failure {
        prepare(Map.of());
        int records = (int) num("records");
        // Unless the command line says otherwise: each record its own batch, and at most 10
        // records acquired per fetch (Kafka 4.4 acquires whole batches, up to 500 records, by
        // default), so that every consumer gets some.
        scenarioDefault("batch", "each");
        scenarioDefault("consumer.max.poll.records", "10");
        scenarioDefault("consumer.share.acquire.mode", "record_limit");
        produce(num("start"), records);
        int consumers = (int) num("consumers");
        long workMs = num("work_ms");
        Map<String, String> acceptedBy = new ConcurrentHashMap<>();
        AtomicReference<String> threadFailure = new AtomicReference<>();
        List<Thread> threads = new ArrayList<>();
        Map<String, Integer> perConsumer = new ConcurrentHashMap<>();
        for (int k = 0; k < consumers; k++) {
            String id = "c" + k;
            perConsumer.put(id, 0);
            Thread t = new Thread(() -> {
                try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
                    while (acceptedBy.size() < records && threadFailure.get() == null
                            && System.currentTimeMillis() < deadlineMs) {
                        List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                        for (ConsumerRecord<byte[], byte[]> r : got) {
                            sleep(workMs);
                            acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                        }
                        if (!got.isEmpty()) {
                            commit(c, id);
                            for (ConsumerRecord<byte[], byte[]> r : got) {
                                acceptedBy.put(r.partition() + ":" + r.offset(), id);
                            }
                            perConsumer.merge(id, got.size(), Integer::sum);
                        }
                    }
                    close(c, id);
                } catch (RuntimeException e) {
                    threadFailure.compareAndSet(null, id + ": " + describe(e));
                }
            }, "share-" + id);
            threads.add(t);
            t.start();
        }
        for (Thread t : threads) {
            try {
                t.join(Math.max(1, deadlineMs - System.currentTimeMillis()) + CALL_TIMEOUT.toMillis());
            } catch (InterruptedException e) {
                throw new Failure("interrupted");
            }
            if (t.isAlive()) {
                throw new Failure(t.getName() + " did not stop by the deadline");
            }
        }
        if (threadFailure.get() != null) {
            throw new Failure(threadFailure.get());
        }
        if (acceptedBy.size() < records) {
            throw new Failure("deadline passed with " + acceptedBy.size() + " of " + records + " records accepted");
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("accepted", acceptedBy.size());
        summary.put("per_consumer", new TreeMap<>(perConsumer));
        return summary;
    }

    /** RELEASE on the first delivery, ACCEPT on the next. */
    Map<String, Object> release() throws Failure {
        prepare(Map.of());
        int records = (int) num("records");
        produce(num("start"), records);
        String id = str("consumer");
        Map<String, Integer> deliveries = new TreeMap<>();
        Set<String> accepted = new TreeSet<>();
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            while (accepted.size() < records) {
                checkDeadline(records + " records released once and accepted (accepted " + accepted.size() + ")");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    String at = r.partition() + ":" + r.offset();
                    int n = deliveries.merge(at, 1, Integer::sum);
                    if (n == 1) {
                        acknowledge(c, id, r, AcknowledgeType.RELEASE);
                    } else {
                        acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                        accepted.add(at);
                    }
                }
                if (!got.isEmpty()) {
                    commit(c, id);
                }
            }
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("accepted", accepted.size());
        return summary;
    }

    /** REJECT every record; the DLQ gets them; nothing is redelivered. */
    Map<String, Object> reject() throws Failure {
        prepare(dlqConfigs());
        int records = (int) num("records");
        produce(num("start"), records);
        String id = str("consumer");
        Set<String> rejected = new TreeSet<>();
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            while (rejected.size() < records) {
                checkDeadline(records + " records rejected (have " + rejected.size() + ")");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    acknowledge(c, id, r, AcknowledgeType.REJECT);
                    rejected.add(r.partition() + ":" + r.offset());
                }
                if (!got.isEmpty()) {
                    commit(c, id);
                }
            }
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("rejected", rejected.size());
        summary.put("dlq_records", readDlq(records));
        summary.put("verify_records", verifyNothingComesAgain());
        return summary;
    }

    /** RELEASE one record `releases` times and time each redelivery (ringlog's retry backoff). */
    Map<String, Object> backoff() throws Failure {
        prepare(Map.of());
        setGroupConfig(BACKOFF_CONFIG, str("backoff"), false);
        produce(num("start"), 1);
        long releases = num("releases");
        String id = str("consumer");
        int released = 0;
        long releasedAtMs = 0;
        long commitMs = 0;
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            while (true) {
                checkDeadline("delivery " + (released + 1) + " of the record");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                if (got.isEmpty()) {
                    continue;
                }
                long now = System.currentTimeMillis();
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    if (released > 0) {
                        Json.event("redelivered").put("consumer", id).put("partition", r.partition())
                                .put("offset", r.offset()).put("delivery_count", deliveryCount(r))
                                .put("released_ms", releasedAtMs).put("commit_ms", commitMs).put("t_ms", now)
                                .put("waited_ms", now - releasedAtMs).emit();
                    }
                    acknowledge(c, id, r, released < releases ? AcknowledgeType.RELEASE : AcknowledgeType.ACCEPT);
                }
                // The broker starts the backoff while commitSync runs (after it sent the
                // acknowledgement): the wait is timed from the call, so a slow commit answer on
                // a loaded machine cannot make a correct redelivery look early.
                releasedAtMs = System.currentTimeMillis();
                commit(c, id);
                commitMs = System.currentTimeMillis() - releasedAtMs;
                if (released++ == releases) {
                    break;
                }
            }
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("releases", releases);
        return summary;
    }

    /** A consumer dies holding records; another gets them once their acquisition locks expire. */
    Map<String, Object> lockExpiry() throws Failure {
        Map<String, String> configs = new LinkedHashMap<>();
        if (num("lock_ms") > 0) {
            configs.put("share.record.lock.duration.ms", str("lock_ms"));
        }
        prepare(configs);
        int records = (int) num("records");
        produce(num("start"), records);

        Set<String> held = new TreeSet<>();
        long halted;
        KafkaShareConsumer<byte[], byte[]> abandoned = null;
        if ("abandon".equals(str("mode"))) {
            // Acquires every record and is then left alone: connected and heartbeating, never
            // polled, acknowledged or closed until the end.
            abandoned = shareConsumer("abandoned", true);
            while (held.size() < records) {
                checkDeadline(records + " records acquired by the abandoned consumer (have " + held.size() + ")");
                for (ConsumerRecord<byte[], byte[]> r : poll(abandoned, "abandoned")) {
                    held.add(r.partition() + ":" + r.offset());
                }
            }
            halted = System.currentTimeMillis();
        } else {
            halted = haltChild(records, held);
        }
        Json.event("halted").put("consumer", abandoned == null ? "killed" : "abandoned").put("held", held.size())
                .put("t_ms", halted).emit();

        String id = str("consumer");
        Set<String> redelivered = new TreeSet<>();
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            while (!redelivered.containsAll(held)) {
                checkDeadline("the " + held.size() + " records the halted consumer held (have " + redelivered.size() + ")");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    redelivered.add(r.partition() + ":" + r.offset());
                    acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                }
                if (!got.isEmpty()) {
                    commit(c, id);
                }
            }
            close(c, id);
        }
        if (abandoned != null) {
            close(abandoned, "abandoned");
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("held", held.size());
        summary.put("redelivered", redelivered.size());
        summary.put("halted_ms", halted);
        return summary;
    }

    /**
     * A child JVM ({@code consume-ack count=0}) acquires `records` records and halts without
     * acknowledging or closing; its lines are relayed. Returns when it exited, `held` filled.
     */
    long haltChild(int records, Set<String> held) throws Failure {
        List<String> command = new ArrayList<>(List.of(
                System.getProperty("java.home") + "/bin/java", "-cp", System.getProperty("java.class.path")));
        for (String p : List.of("org.slf4j.simpleLogger.defaultLogLevel")) {
            if (System.getProperty(p) != null) {
                command.add("-D" + p + "=" + System.getProperty(p));
            }
        }
        command.addAll(List.of(ShareDriver.class.getName(), bootstrap, topic, group, "consume-ack",
                "count=0", "hold=" + records, "consumer=killed",
                "timeout_ms=" + Math.max(1, deadlineMs - System.currentTimeMillis()), "poll_ms=" + str("poll_ms")));
        for (Map.Entry<String, String> e : params.entrySet()) {
            if (e.getKey().startsWith("consumer.")) {
                command.add(e.getKey() + "=" + e.getValue());
            }
        }
        long halted;
        try {
            Process child = new ProcessBuilder(command).redirectError(ProcessBuilder.Redirect.INHERIT).start();
            try (BufferedReader out = new BufferedReader(new InputStreamReader(child.getInputStream(), StandardCharsets.UTF_8))) {
                String line;
                while ((line = out.readLine()) != null) {
                    // Relayed as they are: the child's lines are this run's too.
                    Json.emitLine(line);
                    if (line.contains("\"event\":\"record\"")) {
                        held.add(Json.field(line, "partition") + ":" + Json.field(line, "offset"));
                    }
                }
            }
            if (!child.waitFor(Math.max(1, deadlineMs - System.currentTimeMillis()), TimeUnit.MILLISECONDS)) {
                child.destroyForcibly();
                throw new Failure("the holding child JVM did not halt by the deadline");
            }
            halted = System.currentTimeMillis();
            if (child.exitValue() != 0) {
                throw new Failure("the holding child JVM exited with " + child.exitValue());
            }
        } catch (java.io.IOException e) {
            throw new Failure("starting the holding child JVM: " + describe(e));
        } catch (InterruptedException e) {
            throw new Failure("interrupted");
        }
        return halted;
    }

    /** RELEASE every delivery until the delivery count limit archives the records; read the DLQ. */
    Map<String, Object> deliveryLimit() throws Failure {
        Map<String, String> configs = new LinkedHashMap<>(dlqConfigs());
        configs.put("share.delivery.count.limit", str("limit"));
        prepare(configs);
        int records = (int) num("records");
        produce(num("start"), records);
        String id = str("consumer");
        Map<String, Integer> deliveries = new TreeMap<>();
        long quietMs = num("quiet_ms");
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            long lastDelivery = System.currentTimeMillis();
            while (deliveries.size() < records || System.currentTimeMillis() - lastDelivery < quietMs) {
                checkDeadline("records released until they stop coming (" + deliveries + ")");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    deliveries.merge(r.partition() + ":" + r.offset(), 1, Integer::sum);
                    acknowledge(c, id, r, AcknowledgeType.RELEASE);
                }
                if (!got.isEmpty()) {
                    lastDelivery = System.currentTimeMillis();
                    commit(c, id);
                }
            }
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("deliveries", deliveries);
        summary.put("dlq_records", readDlq(records));
        return summary;
    }

    /**
     * ACCEPT the first `count` records (in offset order), RELEASE the next `release`, keep the
     * rest of the last poll acquired (at least `hold` wanted), commit, print the done line, wait
     * `linger_ms` (still connected, never polling), then halt: no close, no leave.
     */
    Map<String, Object> consumeAck() throws Failure {
        long count = num("count");
        long release = num("release");
        long hold = num("hold");
        String id = str("consumer");
        long accepted = 0;
        long released = 0;
        List<Long> held = new ArrayList<>();
        KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true);
        while (true) {
            checkDeadline((count + release + hold) + " records acquired (accepted " + accepted
                    + ", released " + released + ")");
            TreeMap<String, ConsumerRecord<byte[], byte[]>> got = new TreeMap<>();
            for (ConsumerRecord<byte[], byte[]> r : poll(c, id)) {
                got.put(String.format("%010d:%020d", r.partition(), r.offset()), r);
            }
            boolean acknowledged = false;
            for (ConsumerRecord<byte[], byte[]> r : got.values()) {
                if (accepted < count) {
                    acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                    accepted++;
                    acknowledged = true;
                } else if (released < release) {
                    acknowledge(c, id, r, AcknowledgeType.RELEASE);
                    released++;
                    acknowledged = true;
                } else {
                    held.add(r.offset());
                }
            }
            if (acknowledged) {
                commit(c, id);
            }
            // Explicit mode: a record held unacknowledged forbids the next poll.
            if (!held.isEmpty() || (accepted == count && released == release && hold == 0)) {
                break;
            }
        }
        Json.event("done").put("scenario", "consume-ack").put("accepted", accepted).put("released", released)
                .put("held", held).put("t_ms", System.currentTimeMillis()).emit();
        System.out.flush();
        sleep(num("linger_ms"));
        // No close, no leave, no release: the held records stay acquired until their locks expire
        // or the broker notices the closed connection.
        Runtime.getRuntime().halt(0);
        return null;
    }

    /** ACCEPT everything until `expect` distinct records came, and watch `quiet_ms` more. */
    Map<String, Object> consumeAll() throws Failure {
        long expect = num("expect");
        long quietMs = num("quiet_ms");
        String id = str("consumer");
        Set<String> seen = new TreeSet<>();
        long deliveries = 0;
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            long enough = -1;
            while (enough < 0 || System.currentTimeMillis() - enough < quietMs) {
                checkDeadline(expect + " distinct records (have " + seen.size() + ")");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    seen.add(r.partition() + ":" + r.offset());
                    acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                    deliveries++;
                }
                if (!got.isEmpty()) {
                    commit(c, id);
                }
                if (enough < 0 && seen.size() >= expect) {
                    enough = System.currentTimeMillis();
                }
            }
            close(c, id);
        }
        Map<String, Object> summary = new LinkedHashMap<>();
        summary.put("distinct", seen.size());
        summary.put("deliveries", deliveries);
        return summary;
    }

    /**
     * The share-group Admin calls, each reported as an {@code admin} line (op, result or error):
     * with a member that ACCEPTed the first {@code count} records and RELEASEd the rest:
     * listGroups (share type), describeShareGroups, listShareGroupOffsets, alterShareGroupOffsets
     * (refused: the group has a member); after it closed: alterShareGroupOffsets to 0,
     * listShareGroupOffsets, deleteShareGroupOffsets, listShareGroupOffsets, deleteShareGroups,
     * listGroups.
     */
    Map<String, Object> adminCalls() throws Failure {
        prepare(Map.of());
        int records = (int) num("records");
        produce(num("start"), records);
        long count = num("count");
        String id = str("consumer");
        Map<String, Object> summary = new LinkedHashMap<>();
        try (Admin admin = admin(); KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            long seen = 0;
            while (seen < records) {
                checkDeadline(records + " records delivered (have " + seen + ")");
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    acknowledge(c, id, r, seen++ < count ? AcknowledgeType.ACCEPT : AcknowledgeType.RELEASE);
                }
                if (!got.isEmpty()) {
                    commit(c, id);
                }
            }
            TopicPartition tp = new TopicPartition(topic, 0);
            adminOp("listGroups", () -> {
                List<Object> groups = new ArrayList<>();
                for (var g : admin.listGroups(org.apache.kafka.clients.admin.ListGroupsOptions.forShareGroups())
                        .all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                    Map<String, Object> m = new LinkedHashMap<>();
                    m.put("group", g.groupId());
                    m.put("type", g.type().map(Object::toString).orElse(null));
                    m.put("protocol", g.protocol());
                    m.put("state", g.groupState().map(Object::toString).orElse(null));
                    groups.add(m);
                }
                return groups;
            });
            adminOp("describeShareGroups", () -> {
                var d = admin.describeShareGroups(List.of(group)).all()
                        .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(group);
                Map<String, Object> m = new LinkedHashMap<>();
                m.put("state", d.groupState().toString());
                m.put("coordinator", d.coordinator().id());
                m.put("group_epoch", d.groupEpoch());
                m.put("target_assignment_epoch", d.targetAssignmentEpoch());
                List<Object> members = new ArrayList<>();
                for (var member : d.members()) {
                    Map<String, Object> mm = new LinkedHashMap<>();
                    mm.put("client_id", member.clientId());
                    mm.put("host", member.host());
                    mm.put("member_epoch", member.memberEpoch());
                    List<String> assigned = new ArrayList<>();
                    for (TopicPartition t : member.assignment().topicPartitions()) {
                        assigned.add(t.toString());
                    }
                    mm.put("assignment", assigned);
                    members.add(mm);
                }
                m.put("members", members);
                return m;
            });
            listOffsets(admin, tp);
            adminOp("alterShareGroupOffsets(member present)", () -> {
                admin.alterShareGroupOffsets(group, Map.of(tp, 0L)).all()
                        .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                return "ok";
            });
            close(c, id);
            adminOp("alterShareGroupOffsets", () -> {
                admin.alterShareGroupOffsets(group, Map.of(tp, 0L)).all()
                        .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                return "ok";
            });
            listOffsets(admin, tp);
            adminOp("deleteShareGroupOffsets", () -> {
                admin.deleteShareGroupOffsets(group, Set.of(topic)).all()
                        .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                return "ok";
            });
            listOffsets(admin, tp);
            adminOp("deleteShareGroups", () -> {
                admin.deleteShareGroups(List.of(group)).all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
                return "ok";
            });
            adminOp("listGroups", () -> {
                List<Object> groups = new ArrayList<>();
                for (var g : admin.listGroups(org.apache.kafka.clients.admin.ListGroupsOptions.forShareGroups())
                        .all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS)) {
                    groups.add(g.groupId());
                }
                return groups;
            });
        }
        return summary;
    }

    void listOffsets(Admin admin, TopicPartition tp) {
        adminOp("listShareGroupOffsets", () -> {
            var spec = new org.apache.kafka.clients.admin.ListShareGroupOffsetsSpec().topicPartitions(List.of(tp));
            var info = admin.listShareGroupOffsets(Map.of(group, spec)).partitionsToOffsetInfo(group)
                    .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS).get(tp);
            Map<String, Object> m = new LinkedHashMap<>();
            if (info == null) {
                m.put("partition", null);
                return m;
            }
            m.put("start_offset", info.startOffset());
            m.put("leader_epoch", info.leaderEpoch().orElse(null));
            m.put("lag", info.lag().orElse(null));
            return m;
        });
    }

    /** An Admin call whose result (or error) is one {@code admin} line. */
    interface AdminCall {
        Object call() throws Exception;
    }

    void adminOp(String op, AdminCall call) {
        Json line = Json.event("admin").put("op", op);
        try {
            line.put("result", call.call()).put("error", null);
        } catch (ExecutionException e) {
            line.put("result", null).put("error", describe(e.getCause()));
        } catch (Exception e) {
            line.put("result", null).put("error", describe(e));
        }
        line.emit();
    }

    // -------------------------------------------------------------------------------------------
    // Steps

    /** The group configs of the DLQ scenarios (dlq=none: no DLQ on the group). */
    Map<String, String> dlqConfigs() {
        Map<String, String> configs = new LinkedHashMap<>();
        if (!"none".equals(dlqTopic())) {
            configs.put("errors.deadletterqueue.topic.name", dlqTopic());
        }
        if (!str("copy").isEmpty()) {
            configs.put("errors.deadletterqueue.copy.record.enable", str("copy"));
        }
        return configs;
    }

    String dlqTopic() {
        return str("dlq").isEmpty() ? "dlq." + topic : str("dlq");
    }

    /**
     * Creates the topic (and the DLQ topic where the scenario has one) and sets
     * share.auto.offset.reset plus {@code groupConfigs} on the group, one key per call so that each
     * key's answer is reported on its own.
     */
    void prepare(Map<String, String> groupConfigs) throws Failure {
        try (Admin admin = admin()) {
            createTopic(admin, topic, (int) num("partitions"), Map.of());
            if (groupConfigs.containsKey("errors.deadletterqueue.topic.name") && bool("dlq_create")) {
                createTopic(admin, dlqTopic(), (int) num("dlq_partitions"),
                        Map.of("errors.deadletterqueue.group.enable", str("dlq_enable")));
            }
        }
        setGroupConfig("share.auto.offset.reset", str("reset"), true);
        for (Map.Entry<String, String> e : groupConfigs.entrySet()) {
            setGroupConfig(e.getKey(), e.getValue(), true);
        }
    }

    void createTopic(Admin admin, String name, int partitions, Map<String, String> configs) throws Failure {
        Json line = Json.event("setup").put("what", "topic").put("name", name).put("partitions", partitions)
                .put("configs", configs);
        try {
            admin.createTopics(List.of(new NewTopic(name, partitions, (short) 1).configs(configs)))
                    .all().get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            line.put("error", null).emit();
        } catch (ExecutionException e) {
            if (e.getCause() instanceof TopicExistsException) {
                line.put("error", null).put("existed", true).emit();
                return;
            }
            line.put("error", describe(e.getCause())).emit();
            throw new Failure("creating topic " + name + ": " + describe(e.getCause()));
        } catch (InterruptedException | TimeoutException e) {
            throw new Failure("creating topic " + name + ": " + describe(e));
        }
    }

    /** IncrementalAlterConfigs SET on the GROUP resource; `fatal`: a refusal fails the scenario. */
    void setGroupConfig(String key, String value, boolean fatal) throws Failure {
        ConfigResource resource = new ConfigResource(ConfigResource.Type.GROUP, group);
        AlterConfigOp op = new AlterConfigOp(new ConfigEntry(key, value), AlterConfigOp.OpType.SET);
        Json line = Json.event("config").put("resource", "group").put("name", group).put("key", key).put("value", value);
        try (Admin admin = admin()) {
            admin.incrementalAlterConfigs(Map.of(resource, List.of(op))).all()
                    .get(CALL_TIMEOUT.toMillis(), TimeUnit.MILLISECONDS);
            line.put("error", null).emit();
        } catch (ExecutionException e) {
            line.put("error", describe(e.getCause())).emit();
            if (fatal) {
                throw new Failure("setting group config " + key + "=" + value + ": " + describe(e.getCause()));
            }
        } catch (InterruptedException | TimeoutException e) {
            line.put("error", describe(e)).emit();
            if (fatal) {
                throw new Failure("setting group config " + key + "=" + value + ": " + describe(e));
            }
        }
    }

    /**
     * Produces keys k{first}.., values v{first}.., a header trace=t{first}.. to partition i % partitions; batch=one sends them
     * all before waiting (one batch per partition as far as the producer can), batch=each waits for
     * each record (each its own batch).
     */
    List<RecordMetadata> produce(long first, long records) throws Failure {
        Properties props = new Properties();
        props.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ProducerConfig.ACKS_CONFIG, "all");
        props.put(ProducerConfig.LINGER_MS_CONFIG, "5");
        props.put(ProducerConfig.KEY_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        props.put(ProducerConfig.VALUE_SERIALIZER_CLASS_CONFIG, ByteArraySerializer.class.getName());
        passThrough(props, "producer.");
        boolean each = "each".equals(str("batch"));
        int partitions = (int) num("partitions");
        List<RecordMetadata> sent = new ArrayList<>();
        try (KafkaProducer<byte[], byte[]> p = new KafkaProducer<>(props)) {
            List<Future<RecordMetadata>> pending = new ArrayList<>();
            for (long i = first; i < first + records; i++) {
                ProducerRecord<byte[], byte[]> r = new ProducerRecord<>(topic, (int) (i % partitions),
                        ("k" + i).getBytes(StandardCharsets.UTF_8), ("v" + i).getBytes(StandardCharsets.UTF_8));
                r.headers().add("trace", ("t" + i).getBytes(StandardCharsets.UTF_8));
                Future<RecordMetadata> f = p.send(r);
                if (each) {
                    sent.add(await(f, "producing record " + i));
                } else {
                    pending.add(f);
                }
            }
            p.flush();
            for (int i = 0; i < pending.size(); i++) {
                sent.add(await(pending.get(i), "producing record " + (first + i)));
            }
        } catch (KafkaException e) {
            throw new Failure("producing: " + describe(e));
        }
        for (int i = 0; i < sent.size(); i++) {
            RecordMetadata m = sent.get(i);
            Json.event("produced").put("topic", m.topic()).put("partition", m.partition()).put("offset", m.offset())
                    .put("key", "k" + (first + i)).put("value", "v" + (first + i)).put("timestamp", m.timestamp()).emit();
        }
        return sent;
    }

    RecordMetadata await(Future<RecordMetadata> f, String what) throws Failure {
        try {
            return f.get(Math.max(1, deadlineMs - System.currentTimeMillis()), TimeUnit.MILLISECONDS);
        } catch (ExecutionException e) {
            throw new Failure(what + ": " + describe(e.getCause()));
        } catch (InterruptedException | TimeoutException e) {
            throw new Failure(what + ": " + describe(e));
        }
    }

    KafkaShareConsumer<byte[], byte[]> shareConsumer(String id, boolean explicit) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, group + "-" + id);
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.SHARE_ACKNOWLEDGEMENT_MODE_CONFIG, explicit ? "explicit" : "implicit");
        passThrough(props, "consumer.");
        KafkaShareConsumer<byte[], byte[]> c = new KafkaShareConsumer<>(props);
        c.setAcknowledgementCommitCallback((offsets, exception) -> {
            for (Map.Entry<TopicIdPartition, Set<Long>> e : offsets.entrySet()) {
                Json.event("acked").put("consumer", id).put("topic", e.getKey().topic())
                        .put("partition", e.getKey().partition()).put("offsets", new ArrayList<>(new TreeSet<>(e.getValue())))
                        .put("error", exception == null ? null : describe(exception))
                        .put("t_ms", System.currentTimeMillis()).emit();
            }
        });
        c.subscribe(List.of(topic));
        return c;
    }

    /** One poll; every record it returns is reported. */
    List<ConsumerRecord<byte[], byte[]>> poll(KafkaShareConsumer<byte[], byte[]> c, String id) {
        List<ConsumerRecord<byte[], byte[]>> got = new ArrayList<>();
        long wait = Math.max(0, Math.min(num("poll_ms"), deadlineMs - System.currentTimeMillis()));
        for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(wait))) {
            got.add(r);
        }
        long now = System.currentTimeMillis();
        for (ConsumerRecord<byte[], byte[]> r : got) {
            Json.event("record").put("consumer", id).put("topic", r.topic()).put("partition", r.partition())
                    .put("offset", r.offset()).put("key", text(r.key())).put("value", text(r.value()))
                    .put("headers", headers(r)).put("delivery_count", deliveryCount(r)).put("t_ms", now).emit();
        }
        return got;
    }

    /** A record's headers in order: key, value as UTF-8 text, value in hex (null stays null). */
    static List<Object> headers(ConsumerRecord<byte[], byte[]> r) {
        List<Object> headers = new ArrayList<>();
        for (Header h : r.headers()) {
            Map<String, Object> header = new LinkedHashMap<>();
            header.put("key", h.key());
            header.put("value", text(h.value()));
            header.put("hex", hex(h.value()));
            headers.add(header);
        }
        return headers;
    }

    static Integer deliveryCount(ConsumerRecord<?, ?> r) {
        Optional<Short> n = r.deliveryCount();
        return n.isPresent() ? Integer.valueOf(n.get()) : null;
    }

    void acknowledge(KafkaShareConsumer<byte[], byte[]> c, String id, ConsumerRecord<byte[], byte[]> r, AcknowledgeType type) {
        c.acknowledge(r, type);
        Json.event("ack").put("consumer", id).put("partition", r.partition()).put("offset", r.offset())
                .put("type", type.name()).put("t_ms", System.currentTimeMillis()).emit();
    }

    /** commitSync; every partition's answer is reported; a failed one is reported, not fatal. */
    void commit(KafkaShareConsumer<byte[], byte[]> c, String id) {
        Map<TopicIdPartition, Optional<KafkaException>> result;
        try {
            result = c.commitSync(CALL_TIMEOUT);
        } catch (KafkaException e) {
            Json.event("error").put("consumer", id).put("during", "commitSync").put("message", describe(e)).emit();
            return;
        }
        long now = System.currentTimeMillis();
        for (Map.Entry<TopicIdPartition, Optional<KafkaException>> e : result.entrySet()) {
            Json.event("commit").put("consumer", id).put("topic", e.getKey().topic())
                    .put("partition", e.getKey().partition())
                    .put("error", e.getValue().map(ShareDriver::describe).orElse(null)).put("t_ms", now).emit();
        }
    }

    void close(KafkaShareConsumer<byte[], byte[]> c, String id) {
        try {
            c.close(CALL_TIMEOUT);
        } catch (KafkaException e) {
            Json.event("error").put("consumer", id).put("during", "close").put("message", describe(e)).emit();
        }
    }

    /**
     * A new consumer of the group: a marker record is produced and awaited (so the consumer is
     * fetching), then {@code quiet_ms} more are watched; everything it gets is reported (consumer
     * "verify") and ACCEPTed. Returns how many records other than the marker came.
     */
    long verifyNothingComesAgain() throws Failure {
        if (!bool("verify")) {
            return 0;
        }
        RecordMetadata marker = produce(MARKER_INDEX, 1).get(0);
        String id = "verify";
        long others = 0;
        try (KafkaShareConsumer<byte[], byte[]> c = shareConsumer(id, true)) {
            long sawMarker = -1;
            while (sawMarker < 0 || System.currentTimeMillis() - sawMarker < num("quiet_ms")) {
                checkDeadline("the verifying consumer to get the marker record at " + marker);
                List<ConsumerRecord<byte[], byte[]>> got = poll(c, id);
                for (ConsumerRecord<byte[], byte[]> r : got) {
                    if (r.offset() == marker.offset() && r.partition() == marker.partition()) {
                        sawMarker = System.currentTimeMillis();
                    } else {
                        others++;
                    }
                    acknowledge(c, id, r, AcknowledgeType.ACCEPT);
                }
                if (!got.isEmpty()) {
                    commit(c, id);
                }
            }
            close(c, id);
        }
        return others;
    }

    /**
     * Reads the DLQ topic from the beginning with a plain consumer (no group) until {@code expect}
     * records came (the broker writes them asynchronously), then one more poll for extras.
     */
    long readDlq(long expect) throws Failure {
        String dlq = dlqTopic();
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.CLIENT_ID_CONFIG, group + "-dlq-reader");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        // Looking the DLQ up must not create it (a broker with auto.create.topics.enable would).
        props.put(ConsumerConfig.ALLOW_AUTO_CREATE_TOPICS_CONFIG, "false");
        long got = 0;
        try (KafkaConsumer<byte[], byte[]> c = new KafkaConsumer<>(props)) {
            List<TopicPartition> partitions = new ArrayList<>();
            List<PartitionInfo> infos = c.partitionsFor(dlq, CALL_TIMEOUT);
            if (infos == null || infos.isEmpty()) {
                Json.event("error").put("during", "read dlq").put("message", "no partitions for " + dlq).emit();
                return 0;
            }
            for (PartitionInfo p : infos) {
                partitions.add(new TopicPartition(dlq, p.partition()));
            }
            c.assign(partitions);
            c.seekToBeginning(partitions);
            boolean extra = false;
            while (true) {
                if (got >= expect) {
                    if (extra) {
                        break;
                    }
                    extra = true;
                } else if (System.currentTimeMillis() >= deadlineMs) {
                    // Reported, not fatal: the Rust side judges how many came.
                    Json.event("error").put("during", "read dlq")
                            .put("message", "deadline passed with " + got + " of " + expect + " DLQ records").emit();
                    break;
                }
                for (ConsumerRecord<byte[], byte[]> r : c.poll(Duration.ofMillis(extra ? 1000 : num("poll_ms")))) {
                    got++;
                    Json.event("dlq").put("topic", r.topic()).put("partition", r.partition()).put("offset", r.offset())
                            .put("timestamp", r.timestamp()).put("timestamp_type", r.timestampType().name)
                            .put("key", text(r.key())).put("value", text(r.value())).put("headers", headers(r))
                            .put("t_ms", System.currentTimeMillis()).emit();
                }
            }
        } catch (KafkaException e) {
            Json.event("error").put("during", "read dlq").put("message", describe(e)).emit();
        }
        return got;
    }

    Admin admin() {
        Properties props = new Properties();
        props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(AdminClientConfig.CLIENT_ID_CONFIG, group + "-admin");
        return Admin.create(props);
    }

    // -------------------------------------------------------------------------------------------
    // Helpers

    void checkDeadline(String waitingFor) throws Failure {
        if (System.currentTimeMillis() >= deadlineMs) {
            throw new Failure("timed out after " + str("timeout_ms") + " ms waiting for " + waitingFor);
        }
    }

    void passThrough(Properties props, String prefix) {
        for (Map.Entry<String, String> e : params.entrySet()) {
            if (e.getKey().startsWith(prefix)) {
                props.put(e.getKey().substring(prefix.length()), e.getValue());
            }
        }
    }

    /** A scenario's own default for a parameter the command line did not give. */
    void scenarioDefault(String name, String value) {
        if (!given.contains(name)) {
            params.put(name, value);
        }
    }

    String str(String name) {
        return params.get(name);
    }

    long num(String name) {
        try {
            return Long.parseLong(params.get(name));
        } catch (NumberFormatException e) {
            System.err.println("ShareDriver: parameter " + name + " is not a number: " + params.get(name));
            System.exit(EXIT_USAGE);
            return 0;
        }
    }

    boolean bool(String name) {
        return Boolean.parseBoolean(params.get(name));
    }

    static void sleep(long ms) {
        try {
            Thread.sleep(ms);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }

    /** "ExceptionClass: message" of the exception (its cause's when it only wraps one). */
    static String describe(Throwable e) {
        Throwable t = e;
        while ((t instanceof ExecutionException || t.getMessage() == null) && t.getCause() != null) {
            t = t.getCause();
        }
        return t.getClass().getSimpleName() + ": " + t.getMessage();
    }

    /** UTF-8 text of the bytes, "\ufffd" where they are not UTF-8; null stays null. */
    static String text(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        try {
            return StandardCharsets.UTF_8.newDecoder().onMalformedInput(CodingErrorAction.REPORT)
                    .decode(ByteBuffer.wrap(bytes)).toString();
        } catch (CharacterCodingException e) {
            return new String(bytes, StandardCharsets.UTF_8);
        }
    }

    static String hex(byte[] bytes) {
        if (bytes == null) {
            return null;
        }
        StringBuilder s = new StringBuilder();
        for (byte b : bytes) {
            s.append(String.format("%02x", b & 0xff));
        }
        return s.toString();
    }

    /** A scenario step failed or its deadline passed: the message says which. */
    static final class Failure extends Exception {
        private static final long serialVersionUID = 1L;

        Failure(String message) {
            super(message);
        }
    }

    /** One JSON object, written as one line on stdout (lines of concurrent threads never mix). */
    static final class Json {
        private final Map<String, Object> fields = new LinkedHashMap<>();

        static Json event(String name) {
            return new Json().put("event", name);
        }

        Json put(String key, Object value) {
            fields.put(key, value);
            return this;
        }

        void emit() {
            StringBuilder s = new StringBuilder();
            write(s, fields);
            emitLine(s.toString());
        }

        static synchronized void emitLine(String line) {
            System.out.println(line);
        }

        /** The raw text of a number field of a line this class wrote ("" when absent). */
        static String field(String line, String key) {
            String at = "\"" + key + "\":";
            int i = line.indexOf(at);
            if (i < 0) {
                return "";
            }
            int from = i + at.length();
            int to = from;
            while (to < line.length() && (Character.isDigit(line.charAt(to)) || line.charAt(to) == '-')) {
                to++;
            }
            return line.substring(from, to);
        }

        static void write(StringBuilder s, Object v) {
            if (v == null) {
                s.append("null");
            } else if (v instanceof String) {
                quote(s, (String) v);
            } else if (v instanceof Number || v instanceof Boolean) {
                s.append(v);
            } else if (v instanceof Map) {
                s.append('{');
                boolean first = true;
                for (Map.Entry<?, ?> e : ((Map<?, ?>) v).entrySet()) {
                    if (!first) {
                        s.append(',');
                    }
                    first = false;
                    quote(s, String.valueOf(e.getKey()));
                    s.append(':');
                    write(s, e.getValue());
                }
                s.append('}');
            } else if (v instanceof Collection) {
                s.append('[');
                boolean first = true;
                for (Object o : (Collection<?>) v) {
                    if (!first) {
                        s.append(',');
                    }
                    first = false;
                    write(s, o);
                }
                s.append(']');
            } else {
                quote(s, v.toString());
            }
        }

        static void quote(StringBuilder s, String text) {
            s.append('"');
            for (int i = 0; i < text.length(); i++) {
                char ch = text.charAt(i);
                switch (ch) {
                    case '"': s.append("\\\""); break;
                    case '\\': s.append("\\\\"); break;
                    case '\n': s.append("\\n"); break;
                    case '\r': s.append("\\r"); break;
                    case '\t': s.append("\\t"); break;
                    default:
                        if (ch < 0x20) {
                            s.append(String.format("\\u%04x", (int) ch));
                        } else {
                            s.append(ch);
                        }
                }
            }
            s.append('"');
        }
    }
}
