import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.Map;
import java.util.Properties;

import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.TopicPartition;
import org.apache.kafka.common.serialization.StringDeserializer;

/**
 * Reads a topic (in tests/view_java.rs: a ringlog filtered view, issue #17) with Kafka's classic
 * KafkaConsumer, CRCs checked, from the group's committed offsets (earliest without), until its
 * position reaches the end offsets it saw at the start on every partition or the deadline passes;
 * then commits. Prints one line per record ("record PARTITION OFFSET KEY"), one per partition
 * ("position PARTITION POSITION END") and "done".
 *
 * Usage: ViewDriver BOOTSTRAP TOPIC GROUP PARTITIONS TIMEOUT_MS
 */
public final class ViewDriver {
    private ViewDriver() {}

    public static void main(String[] args) {
        String bootstrap = args[0];
        String topic = args[1];
        String group = args[2];
        int partitions = Integer.parseInt(args[3]);
        long deadline = System.currentTimeMillis() + Long.parseLong(args[4]);
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
        p.put(ConsumerConfig.GROUP_ID_CONFIG, group);
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest");
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false");
        p.put(ConsumerConfig.CHECK_CRCS_CONFIG, "true");
        try (KafkaConsumer<String, String> c =
                new KafkaConsumer<>(p, new StringDeserializer(), new StringDeserializer())) {
            List<TopicPartition> tps = new ArrayList<>();
            for (int i = 0; i < partitions; i++) {
                tps.add(new TopicPartition(topic, i));
            }
            c.assign(tps);
            Map<TopicPartition, Long> ends = c.endOffsets(tps);
            while (System.currentTimeMillis() < deadline) {
                for (ConsumerRecord<String, String> r : c.poll(Duration.ofMillis(200))) {
                    System.out.println("record " + r.partition() + " " + r.offset() + " " + r.key());
                }
                boolean done = true;
                for (TopicPartition tp : tps) {
                    if (c.position(tp) < ends.get(tp)) {
                        done = false;
                    }
                }
                if (done) {
                    break;
                }
            }
            c.commitSync();
            for (TopicPartition tp : tps) {
                System.out.println(
                        "position " + tp.partition() + " " + c.position(tp) + " " + ends.get(tp));
            }
            System.out.println("done");
        }
    }
}
