// How long a lone consumer waits for its first partition assignment (bench/peers/compare.sh).
//
//   java -cp <classes>:<kafka jars> JoinTime BOOTSTRAP TOPIC JOINS TIMEOUT_MS
//
// Each join is a fresh KafkaConsumer (classic group protocol, the client's default) in a fresh group:
// the time runs from subscribe() to the first onPartitionsAssigned callback that brings partitions,
// so it covers FindCoordinator, JoinGroup (with the broker's group.initial.rebalance.delay.ms),
// SyncGroup and the client's own work in between. The first join is a warm-up (class loading, JIT,
// connections, and on Kafka the creation of __consumer_offsets if no group has existed yet) and is
// printed but marked as such. Output, one line per join: "JOIN warmup|measured <index> <ms>".
// Exits 1 if a join gets no assignment within TIMEOUT_MS.

import java.time.Duration;
import java.util.Collection;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRebalanceListener;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

public final class JoinTime {
    /** How long one poll() may block: short, so a missed callback would show within ~this much. */
    private static final Duration POLL_SLICE = Duration.ofMillis(20);

    public static void main(String[] args) {
        if (args.length != 4) {
            System.err.println("usage: JoinTime BOOTSTRAP TOPIC JOINS TIMEOUT_MS");
            System.exit(2);
        }
        String bootstrap = args[0];
        String topic = args[1];
        int joins = Integer.parseInt(args[2]);
        long timeoutNs = Duration.ofMillis(Long.parseLong(args[3])).toNanos();
        String run = Long.toString(System.currentTimeMillis());
        for (int i = 0; i <= joins; i++) {
            double ms = joinOnce(bootstrap, topic, "join-time-" + run + "-" + i, timeoutNs);
            if (ms < 0) {
                System.err.printf("JoinTime: join %d got no assignment within %s ms%n", i, args[3]);
                System.exit(1);
            }
            System.out.printf("JOIN %s %d %.1f%n", i == 0 ? "warmup" : "measured", i, ms);
        }
    }

    /** Milliseconds from subscribe() to the first assignment, or -1 on timeout. */
    private static double joinOnce(String bootstrap, String topic, String group, long timeoutNs) {
        Properties props = new Properties();
        props.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        props.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        props.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        props.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        props.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        props.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        long[] assignedAt = {0};
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(props)) {
            long start = System.nanoTime();
            consumer.subscribe(List.of(topic), new ConsumerRebalanceListener() {
                @Override
                public void onPartitionsRevoked(Collection<TopicPartition> partitions) {}

                @Override
                public void onPartitionsAssigned(Collection<TopicPartition> partitions) {
                    if (assignedAt[0] == 0 && !partitions.isEmpty()) {
                        assignedAt[0] = System.nanoTime();
                    }
                }
            });
            while (assignedAt[0] == 0 && System.nanoTime() - start < timeoutNs) {
                consumer.poll(POLL_SLICE);
            }
            return assignedAt[0] == 0 ? -1 : (assignedAt[0] - start) / 1e6;
        }
    }
}
