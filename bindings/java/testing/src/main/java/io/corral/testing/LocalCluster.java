package io.corral.testing;

import com.google.protobuf.InvalidProtocolBufferException;
import io.corral.CorralException;
import io.corral.internal.NativeLibrary;
import io.corral.internal.Results;
import io.corral.testing.internal.ClusterOptions;
import io.corral.testing.internal.NativeCluster;
import io.corral.testing.internal.Result;
import io.corral.v1.internal.Protos.ClusterState;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import java.util.function.Function;

/**
 * A master and agents inside this JVM, on loopback, with a temporary work directory removed on
 * close. Tasks run as real processes. For tests of frameworks:
 *
 * <pre>{@code
 * try (LocalCluster cluster = LocalCluster.builder().agents(2).start();
 *      SchedulerDriver driver = new SchedulerDriver(myScheduler, Helpers.framework("mine"), cluster.master())) {
 *   driver.start();
 *   ...
 * }
 * }</pre>
 *
 * Threading: the methods are synchronized; each blocks until done.
 */
public final class LocalCluster implements AutoCloseable {
  /** Each agent's resources unless told otherwise. */
  public static final String DEFAULT_RESOURCES = "cpus:4;mem:4096;disk:10240;ports:[31000-32000]";
  private static final List<String> HELPERS =
      List.of("corral-default-executor", "corral-fetcher", "corral-check", "corral-supervise");
  private static Path launcherDir;

  /** Options; {@link #start()} starts the cluster and waits for its agents. */
  public static final class Builder {
    private int agents = 2;
    private String resources = DEFAULT_RESOURCES;
    private Duration allocationInterval = Duration.ofMillis(100);
    private Duration offerTimeout = Duration.ZERO;
    private String logLevel = "warning";
    private String tlsCert = "", tlsKey = "", tlsCa = "";
    private boolean tlsRequireCert;

    public Builder agents(int n) {
      if (n < 0) throw new IllegalArgumentException("agents: expected a count >= 0, got " + n);
      agents = n;
      return this;
    }

    /** Each agent's resources, in Mesos syntax ("cpus:4;mem:4096;ports:[31000-32000]"). */
    public Builder resources(String r) {
      resources = r;
      return this;
    }

    public Builder allocationInterval(Duration d) {
      allocationInterval = d;
      return this;
    }

    /** How long an offer stands before the master rescinds it (zero: forever). */
    public Builder offerTimeout(Duration d) {
      offerTimeout = d;
      return this;
    }

    /** debug, info, warning or error. */
    public Builder logLevel(String level) {
      logLevel = level;
      return this;
    }

    /**
     * Serves the master's and agents' ports over TLS with {@code certFile} and {@code keyFile} (their
     * {@code --ssl_cert_file} and {@code --ssl_key_file}); {@code caFile} verifies client
     * certificates, which {@code requireCert} makes every client show.
     */
    public Builder tls(String certFile, String keyFile, String caFile, boolean requireCert) {
      tlsCert = certFile;
      tlsKey = keyFile;
      tlsCa = caFile;
      tlsRequireCert = requireCert;
      return this;
    }

    public LocalCluster start() {
      return new LocalCluster(this);
    }
  }

  private final NativeCluster cluster;

  public static Builder builder() {
    return new Builder();
  }

  private LocalCluster(Builder b) {
    Path helpers = load();
    cluster = new NativeCluster();
    io.corral.internal.Lifecycle.CLEANER.register(this, cluster::delete);
    ClusterOptions o = new ClusterOptions();
    o.setAgents(b.agents);
    o.setResources(b.resources);
    o.setWork_dir("");
    o.setKeep_work_dir(false);
    o.setLauncher_dir(helpers.toString());
    o.setCgroups(false);
    o.setOffer_timeout(b.offerTimeout.toNanos() / 1e9);
    o.setAllocation_interval(b.allocationInterval.toNanos() / 1e9);
    o.setAgent_ping_timeout(15);
    o.setMax_agent_ping_timeouts(5);
    o.setLog_level(b.logLevel);
    o.setTls_cert_file(b.tlsCert);
    o.setTls_key_file(b.tlsKey);
    o.setTls_ca_file(b.tlsCa);
    o.setTls_require_cert(b.tlsRequireCert);
    try {
      check(cluster.Start(o));
      check(cluster.WaitForAgents(30));
    } catch (RuntimeException e) {
      cluster.Shutdown();
      throw e;
    } finally {
      o.delete();
    }
  }

  /** Loads the testing library (after the SDK's) and unpacks the agents' helper programs. */
  private static synchronized Path load() {
    if (launcherDir == null) {
      NativeLibrary.load();
      Path dir = NativeLibrary.unpack(LocalCluster.class, "/io/corral/testing/native/",
          List.of("libcorral_testing_jni.so"), HELPERS);
      NativeLibrary.loadFile(dir.resolve("lib").resolve("libcorral_testing_jni.so").toString());
      launcherDir = dir.resolve("bin");
    }
    return launcherDir;
  }

  private static void check(Result r) {
    int code = r.getCode();
    String message = r.getMessage();
    r.delete();
    if (code != 0) throw Results.exception(code, message);
  }

  private void running() {
    if (!cluster.running()) throw new CorralException(CorralException.Code.FAILED_PRECONDITION, "the cluster is not running");
  }

  /** "127.0.0.1:port" of the master, for SchedulerDriver. */
  public synchronized String master() {
    running();
    return cluster.master();
  }

  public synchronized Path workDir() {
    running();
    return Path.of(cluster.work_dir());
  }

  public synchronized int agentCount() {
    return cluster.agent_count();
  }

  /** Starts one more agent (empty resources: the defaults) and waits for it; returns its index. */
  public synchronized int addAgent(String resources) {
    running();
    int index = cluster.addAgent(resources == null ? "" : resources);
    if (index < 0) throw new CorralException(CorralException.Code.INVALID_ARGUMENT, cluster.getLast_error());
    check(cluster.WaitForAgents(30));
    return index;
  }

  /** Stops agent {@code index} as if its machine went away. */
  public synchronized void stopAgent(int index) {
    check(cluster.StopAgent(index));
  }

  /** The master's view: agents, frameworks, tasks and completed tasks. */
  public synchronized ClusterState state() {
    running();
    byte[] bytes = cluster.stateBytes();
    try {
      return ClusterState.parseFrom(bytes);
    } catch (InvalidProtocolBufferException e) {
      throw new CorralException(CorralException.Code.INTERNAL, "the master's state did not parse", e);
    }
  }

  /**
   * Polls the master's state until {@code probe} returns non-null (and not false), which is
   * returned; throws AssertionError after {@code timeout}.
   */
  public <T> T waitFor(Function<ClusterState, T> probe, Duration timeout) throws InterruptedException {
    long deadline = System.nanoTime() + timeout.toNanos();
    while (true) {
      T value = probe.apply(state());
      if (value != null && !Boolean.FALSE.equals(value)) return value;
      if (System.nanoTime() > deadline) throw new AssertionError("condition not met within " + timeout);
      Thread.sleep(20);
    }
  }

  /** Stops the master and agents (their tasks die) and removes the work directory. */
  @Override
  public synchronized void close() {
    cluster.Shutdown();
  }
}
