package id.go.lapor.example;

import com.fasterxml.jackson.databind.JsonNode;
import com.fasterxml.jackson.databind.ObjectMapper;
import com.fasterxml.jackson.databind.node.ObjectNode;
import java.io.IOException;
import java.nio.charset.StandardCharsets;
import java.time.Duration;
import java.util.List;
import java.util.Properties;
import org.apache.kafka.clients.consumer.ConsumerConfig;
import org.apache.kafka.clients.consumer.ConsumerRecord;
import org.apache.kafka.clients.consumer.ConsumerRecords;
import org.apache.kafka.clients.consumer.KafkaConsumer;
import org.apache.kafka.common.errors.WakeupException;
import org.apache.kafka.common.header.Header;
import org.apache.kafka.common.serialization.ByteArrayDeserializer;

/**
 * An agency backend's consumer of its LAPOR! feed: reads topic {@code lapor.agency.<CODE>.v1}
 * as the agency's Kafka user (SCRAM-SHA-512, over TLS by default) in the consumer group
 * {@code <CODE>:<name>}, and prints each record as one JSON line on stdout: topic, partition,
 * offset, key (the complaint id), the CloudEvents headers, and the value (a JSON object).
 *
 * <p>Delivery is at least once: the offsets of a batch are committed after the batch was
 * printed, so after a crash the uncommitted records come again; deduplicate on {@code ce_id}.
 * Records of aborted transactions are never seen ({@code isolation.level=read_committed}).
 *
 * <pre>
 * LAPOR_KAFKA_BOOTSTRAP=broker:9093 LAPOR_KAFKA_SASL_PASSWORD=... LAPOR_KAFKA_SSL_CAFILE=ca.pem \
 *   java -cp "target/classes:$(cat target/classpath.txt)" id.go.lapor.example.Main KEMENKES
 * </pre>
 *
 * <p>Environment (the names lapor-es's own clients use): {@code LAPOR_KAFKA_BOOTSTRAP},
 * {@code LAPOR_KAFKA_SASL_USERNAME} (default {@code agency-<CODE>}), {@code
 * LAPOR_KAFKA_SASL_PASSWORD}, {@code LAPOR_KAFKA_SECURITY_PROTOCOL} (default SASL_SSL), {@code
 * LAPOR_KAFKA_SSL_CAFILE} (PEM file of the CA to trust; unset: the JVM's trust store), {@code
 * LAPOR_FEEDS_TOPIC_PREFIX} (default {@code lapor.agency.}).
 *
 * <p>Arguments: {@code CODE [--name NAME] [--max-records N] [--idle-seconds S]}: stop after N
 * records, or after S seconds without a record (both 0 = run until stopped).
 */
public final class Main {
    private static final ObjectMapper JSON = new ObjectMapper();

    private Main() {}

    record Options(String agency, String name, long maxRecords, long idleSeconds) {
        static Options parse(String[] args) {
            if (args.length == 0 || args[0].startsWith("-")) {
                throw new IllegalArgumentException(
                        "usage: Main CODE [--name NAME] [--max-records N] [--idle-seconds S]");
            }
            String name = "java-backend";
            long maxRecords = 0;
            long idleSeconds = 0;
            for (int i = 1; i < args.length; i += 2) {
                if (i + 1 >= args.length) {
                    throw new IllegalArgumentException(args[i] + " needs a value");
                }
                switch (args[i]) {
                    case "--name" -> name = args[i + 1];
                    case "--max-records" -> maxRecords = Long.parseLong(args[i + 1]);
                    case "--idle-seconds" -> idleSeconds = Long.parseLong(args[i + 1]);
                    default -> throw new IllegalArgumentException("unknown option " + args[i]);
                }
            }
            return new Options(args[0], name, maxRecords, idleSeconds);
        }
    }

    public static void main(String[] args) throws IOException {
        // Before any logger exists: kafka-clients' INFO lines would drown the records.
        System.setProperty("org.slf4j.simpleLogger.defaultLogLevel", "warn");
        Options options;
        try {
            options = Options.parse(args);
        } catch (IllegalArgumentException e) {
            System.err.println(e.getMessage());
            System.exit(2);
            return;
        }
        String topic = env("LAPOR_FEEDS_TOPIC_PREFIX", "lapor.agency.") + options.agency() + ".v1";
        try (KafkaConsumer<byte[], byte[]> consumer = new KafkaConsumer<>(config(options))) {
            Thread main = Thread.currentThread();
            Runtime.getRuntime()
                    .addShutdownHook(
                            new Thread(
                                    () -> {
                                        try {
                                            consumer.wakeup(); // ends the poll below
                                        } catch (IllegalStateException closed) {
                                            return; // main has finished already
                                        }
                                        joinQuietly(main);
                                    }));
            consumer.subscribe(List.of(topic));
            consume(consumer, options);
        } catch (WakeupException e) {
            // stopped by a signal: the last printed batch may print again next time
        }
    }

    static Properties config(Options options) {
        Properties p = new Properties();
        p.put(ConsumerConfig.BOOTSTRAP_SERVERS_CONFIG, required("LAPOR_KAFKA_BOOTSTRAP"));
        // The broker grants the agency's user READ on groups whose name starts with "<CODE>:".
        p.put(ConsumerConfig.GROUP_ID_CONFIG, options.agency() + ":" + options.name());
        p.put(ConsumerConfig.ISOLATION_LEVEL_CONFIG, "read_committed");
        p.put(ConsumerConfig.AUTO_OFFSET_RESET_CONFIG, "earliest"); // a new group reads it all
        p.put(ConsumerConfig.ENABLE_AUTO_COMMIT_CONFIG, "false"); // committed after printing
        p.put(ConsumerConfig.KEY_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());
        p.put(ConsumerConfig.VALUE_DESERIALIZER_CLASS_CONFIG, ByteArrayDeserializer.class.getName());

        String protocol = env("LAPOR_KAFKA_SECURITY_PROTOCOL", "SASL_SSL");
        p.put("security.protocol", protocol);
        p.put("sasl.mechanism", "SCRAM-SHA-512");
        String user = env("LAPOR_KAFKA_SASL_USERNAME", "agency-" + options.agency());
        String password = required("LAPOR_KAFKA_SASL_PASSWORD");
        p.put(
                "sasl.jaas.config",
                "org.apache.kafka.common.security.scram.ScramLoginModule required username=\""
                        + jaasEscape(user)
                        + "\" password=\""
                        + jaasEscape(password)
                        + "\";");
        String cafile = System.getenv("LAPOR_KAFKA_SSL_CAFILE");
        if (protocol.equals("SASL_SSL") && cafile != null && !cafile.isEmpty()) {
            p.put("ssl.truststore.type", "PEM"); // the CA certificate as is, no keytool
            p.put("ssl.truststore.location", cafile);
        }
        return p;
    }

    static void consume(KafkaConsumer<byte[], byte[]> consumer, Options options)
            throws IOException {
        long printed = 0;
        long idleSince = -1; // counted from the first assignment: joining the group takes time
        while (options.maxRecords() == 0 || printed < options.maxRecords()) {
            ConsumerRecords<byte[], byte[]> batch = consumer.poll(Duration.ofMillis(500));
            long now = System.nanoTime();
            if (batch.isEmpty()) {
                if (idleSince < 0 && !consumer.assignment().isEmpty()) {
                    idleSince = now;
                }
                if (options.idleSeconds() > 0
                        && idleSince >= 0
                        && now - idleSince >= options.idleSeconds() * 1_000_000_000L) {
                    return;
                }
                continue;
            }
            idleSince = now;
            for (ConsumerRecord<byte[], byte[]> r : batch) {
                System.out.println(JSON.writeValueAsString(asJson(r)));
                printed++;
            }
            System.out.flush();
            // After printing: a crash before this line means these records come again.
            consumer.commitSync();
        }
    }

    static ObjectNode asJson(ConsumerRecord<byte[], byte[]> r) throws IOException {
        ObjectNode line = JSON.createObjectNode();
        line.put("topic", r.topic());
        line.put("partition", r.partition());
        line.put("offset", r.offset());
        line.put("key", r.key() == null ? null : utf8(r.key()));
        ObjectNode headers = line.putObject("headers");
        for (Header h : r.headers()) {
            headers.put(h.key(), h.value() == null ? null : utf8(h.value()));
        }
        JsonNode value = r.value() == null ? null : JSON.readTree(r.value());
        line.set("value", value);
        return line;
    }

    private static String utf8(byte[] bytes) {
        return new String(bytes, StandardCharsets.UTF_8);
    }

    private static String jaasEscape(String s) {
        return s.replace("\\", "\\\\").replace("\"", "\\\"");
    }

    private static String env(String name, String fallback) {
        String value = System.getenv(name);
        return value == null || value.isEmpty() ? fallback : value;
    }

    private static String required(String name) {
        String value = System.getenv(name);
        if (value == null || value.isEmpty()) {
            System.err.println("set " + name);
            System.exit(2);
        }
        return value;
    }

    private static void joinQuietly(Thread thread) {
        try {
            thread.join(10_000);
        } catch (InterruptedException e) {
            Thread.currentThread().interrupt();
        }
    }
}
