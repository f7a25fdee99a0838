// Readiness probe for the local broker, run by up.sh with Kafka's own client jars.
//
// 1. Asks for cluster metadata with the AdminClient until the broker answers or the
//    deadline passes (one JVM polls in a loop: one JVM start, not one per attempt).
// 2. Warms the two lazily created coordinators, so the first test does not pay for them
//    (nor log "coordinator is loading" errors): a consumer-group lookup creates
//    __consumer_offsets, and one idempotent send makes the broker fetch its first block
//    of producer ids from the controller. The warm-up topic is deleted again.
//
// Usage: java -cp '.jars/*:.jars/probe' ReadyProbe <bootstrap> <timeoutMs> [brokerPid]
// Exit 0 when ready (prints the cluster id and broker count), 1 on timeout, 2 when the
// broker process (if its pid is given) died while we waited: no point waiting further.
import java.util.List;
import java.util.Properties;
import java.util.concurrent.ExecutionException;
import java.util.concurrent.TimeUnit;
import org.apache.kafka.clients.admin.Admin;
import org.apache.kafka.clients.admin.AdminClientConfig;
import org.apache.kafka.clients.admin.DescribeClusterResult;
import org.apache.kafka.clients.admin.ListConsumerGroupOffsetsOptions;
import org.apache.kafka.clients.admin.NewTopic;
import org.apache.kafka.clients.producer.KafkaProducer;
import org.apache.kafka.clients.producer.ProducerConfig;
import org.apache.kafka.clients.producer.ProducerRecord;
import org.apache.kafka.common.errors.TopicExistsException;
import org.apache.kafka.common.serialization.ByteArraySerializer;

public final class ReadyProbe {
  private static final String WARMUP = "local-kafka.warmup";

  public static void main(String[] args) throws Exception {
    String bootstrap = args[0];
    long deadline = System.nanoTime() + TimeUnit.MILLISECONDS.toNanos(Long.parseLong(args[1]));
    ProcessHandle broker = null;
    if (args.length > 2) {
      // empty when the broker already exited before this JVM even started
      broker = ProcessHandle.of(Long.parseLong(args[2])).orElse(null);
      if (broker == null) exitedEarly();
    }
    Properties props = new Properties();
    props.put(AdminClientConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    props.put(AdminClientConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
    props.put(AdminClientConfig.DEFAULT_API_TIMEOUT_MS_CONFIG, "2000");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MS_CONFIG, "50");
    props.put(AdminClientConfig.RECONNECT_BACKOFF_MAX_MS_CONFIG, "200");
    String last = "no answer";
    try (Admin admin = Admin.create(props)) {
      while (System.nanoTime() < deadline) {
        if (broker != null && !broker.isAlive()) exitedEarly();
        try {
          DescribeClusterResult cluster = admin.describeCluster();
          int brokers = cluster.nodes().get(2, TimeUnit.SECONDS).size();
          boolean controller = !cluster.controller().get(2, TimeUnit.SECONDS).isEmpty();
          // listing topics proves the broker serves Metadata, not only that it accepts connections
          admin.listTopics().names().get(2, TimeUnit.SECONDS);
          if (brokers > 0 && controller) {
            long ready = System.nanoTime();
            warmUp(admin, bootstrap, remainingMs(deadline));
            long warm = TimeUnit.NANOSECONDS.toMillis(System.nanoTime() - ready);
            System.out.println("cluster " + cluster.clusterId().get() + ", " + brokers + " broker, warm-up " + warm + " ms");
            return;
          }
          last = "brokers=" + brokers + " controller=" + controller;
        } catch (Exception e) {
          last = String.valueOf(e.getCause() != null ? e.getCause() : e);
        }
        Thread.sleep(100);
      }
    }
    System.err.println("not ready before the deadline: " + last);
    System.exit(1);
  }

  private static void exitedEarly() {
    System.err.println("the broker process exited while starting");
    System.exit(2);
  }

  private static int remainingMs(long deadline) {
    return (int) Math.max(1000, TimeUnit.NANOSECONDS.toMillis(deadline - System.nanoTime()));
  }

  private static void warmUp(Admin admin, String bootstrap, int timeoutMs) throws Exception {
    admin.listConsumerGroupOffsets(WARMUP, new ListConsumerGroupOffsetsOptions().timeoutMs(timeoutMs))
        .partitionsToOffsetAndMetadata().get(timeoutMs, TimeUnit.MILLISECONDS);
    try {
      admin.createTopics(List.of(new NewTopic(WARMUP, 1, (short) 1))).all().get(timeoutMs, TimeUnit.MILLISECONDS);
    } catch (ExecutionException e) {
      // left over from a warm-up moments ago (deletion is asynchronous): sending to it is as good
      if (!(e.getCause() instanceof TopicExistsException)) throw e;
    }
    Properties p = new Properties();
    p.put(ProducerConfig.BOOTSTRAP_SERVERS_CONFIG, bootstrap);
    p.put(ProducerConfig.ENABLE_IDEMPOTENCE_CONFIG, "true");
    p.put(ProducerConfig.ACKS_CONFIG, "all");
    p.put(ProducerConfig.DELIVERY_TIMEOUT_MS_CONFIG, String.valueOf(Math.max(timeoutMs, 2000)));
    p.put(ProducerConfig.REQUEST_TIMEOUT_MS_CONFIG, "2000");
    p.put(ProducerConfig.LINGER_MS_CONFIG, "0");
    try (KafkaProducer<byte[], byte[]> producer =
        new KafkaProducer<>(p, new ByteArraySerializer(), new ByteArraySerializer())) {
      producer.send(new ProducerRecord<>(WARMUP, new byte[0])).get(timeoutMs, TimeUnit.MILLISECONDS);
    }
    admin.deleteTopics(List.of(WARMUP)).all().get(timeoutMs, TimeUnit.MILLISECONDS);
  }
}
