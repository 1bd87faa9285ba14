package io.corral;

import com.google.protobuf.ByteString;
import com.google.protobuf.InvalidProtocolBufferException;
import io.corral.internal.Lifecycle;
import io.corral.internal.NativeLibrary;
import io.corral.internal.NativeSchedulerDriver;
import io.corral.internal.Result;
import io.corral.internal.Results;
import io.corral.v1.Protos.AgentID;
import io.corral.v1.Protos.DurationInfo;
import io.corral.v1.Protos.ExecutorID;
import io.corral.v1.Protos.ExecutorInfo;
import io.corral.v1.Protos.Filters;
import io.corral.v1.Protos.FrameworkInfo;
import io.corral.v1.Protos.KillPolicy;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.OfferID;
import io.corral.v1.Protos.TaskGroupInfo;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskStatus;
import io.corral.v1.scheduler.Protos.Call;
import io.corral.v1.scheduler.Protos.Event;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collection;
import java.util.List;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs a {@link Scheduler} against a Corral master: the C++ SDK's driver. It subscribes,
 * reconnects with backoff and resubscribes with its framework ID when the connection drops, and
 * acknowledges each status update after {@link Scheduler#update} returned (unless built with
 * {@link Options#implicitAcknowledgements(boolean) implicitAcknowledgements(false)}).
 *
 * <p>Threading: events run on the driver's callback thread; every method here may be called from
 * any thread, callbacks included. Each call returns once the master accepted it and throws a
 * {@link CorralException} naming the master's reason otherwise; the {@code ...Async} variants
 * return a {@link CompletableFuture} instead. After {@link #close()} every call throws.
 *
 * <p>A running driver stays alive without references from the program; {@code close()} (or
 * try-with-resources) frees it, and the JVM closes every driver still open when it exits, keeping
 * their frameworks for a failover.
 */
public final class SchedulerDriver implements AutoCloseable {
  /** How a driver behaves; the defaults are the C++ SDK's. */
  public static final class Options {
    boolean implicitAcknowledgements = true;
    double backoffMin = 0.1;
    double backoffMax = 2.0;
    double callTimeout = 30.0;
    String principal = "";
    String secret = "";
    boolean tls;
    String tlsCaFile = "", tlsCertFile = "", tlsKeyFile = "";

    public Options implicitAcknowledgements(boolean value) {
      implicitAcknowledgements = value;
      return this;
    }

    /** Reconnection backoff, doubling from {@code min} up to {@code max}. */
    public Options reconnectBackoff(Duration min, Duration max) {
      double lo = min.toNanos() / 1e9, hi = max.toNanos() / 1e9;
      if (lo <= 0 || hi < lo) throw new IllegalArgumentException("reconnectBackoff: expected 0 < min <= max");
      backoffMin = lo;
      backoffMax = hi;
      return this;
    }

    /** How long each call waits for the master. */
    public Options callTimeout(Duration timeout) {
      double t = timeout.toNanos() / 1e9;
      if (t <= 0) throw new IllegalArgumentException("callTimeout: must be > 0");
      callTimeout = t;
      return this;
    }

    /**
     * The credential the framework authenticates with where the master requires it
     * ({@code --authenticate_frameworks}). Without one the driver reads {@code CORRAL_PRINCIPAL}
     * and {@code CORRAL_SECRET}, or the file {@code CORRAL_CREDENTIAL} names. An empty {@code
     * FrameworkInfo.principal} is filled with it.
     */
    public Options credential(String principal, String secret) {
      if (principal == null || principal.isEmpty() || secret == null) {
        throw new IllegalArgumentException("credential: expected a non-empty principal and a secret");
      }
      this.principal = principal;
      this.secret = secret;
      return this;
    }

    /**
     * Reaches the master over TLS: its certificate is verified against {@code caFile} (null or
     * empty: the system's CAs) and the host dialled; {@code certFile} with {@code keyFile} (both or
     * neither) are the client certificate a master with {@code --ssl_require_cert} asks for.
     * Without this the driver follows {@code LIBPROCESS_SSL_ENABLED}, {@code
     * LIBPROCESS_SSL_CA_FILE}, {@code LIBPROCESS_SSL_CERT_FILE} and {@code LIBPROCESS_SSL_KEY_FILE}.
     */
    public Options tls(String caFile, String certFile, String keyFile) {
      if ((certFile == null || certFile.isEmpty()) != (keyFile == null || keyFile.isEmpty())) {
        throw new IllegalArgumentException("tls: give certFile and keyFile both, or neither");
      }
      tls = true;
      tlsCaFile = caFile == null ? "" : caFile;
      tlsCertFile = certFile == null ? "" : certFile;
      tlsKeyFile = keyFile == null ? "" : keyFile;
      return this;
    }
  }

  private final Scheduler scheduler;
  private final Handle handle;
  private final String master;
  private volatile Throwable failure;
  private volatile boolean abortedByUs;

  /** A driver for {@code framework} (see {@link Helpers#framework}) at {@code master} ("host:port"). */
  public SchedulerDriver(Scheduler scheduler, FrameworkInfo framework, String master) {
    this(scheduler, framework, master, new Options());
  }

  public SchedulerDriver(Scheduler scheduler, FrameworkInfo framework, String master, Options options) {
    if (scheduler == null) throw new IllegalArgumentException("scheduler: must not be null");
    if (framework == null) throw new IllegalArgumentException("framework: must not be null");
    if (framework.getName().isEmpty()) throw new IllegalArgumentException("framework: 'name' is required");
    this.master = checkMaster(master);
    NativeLibrary.load();
    this.scheduler = scheduler;
    NativeSchedulerDriver nat = new NativeSchedulerDriver(new Sink(this), framework.toByteArray(), this.master,
        options.implicitAcknowledgements, options.backoffMin, options.backoffMax, options.callTimeout,
        options.principal, options.secret, options.tls, options.tlsCaFile, options.tlsCertFile, options.tlsKeyFile);
    this.handle = new Handle(nat);
    Results.check(nat.initError());
    Lifecycle.CLEANER.register(this, handle);
  }

  /** {@code $CORRAL_MASTER}, else {@code $MESOS_MASTER}, else 127.0.0.1:5050. */
  public static String defaultMaster() {
    String m = System.getenv("CORRAL_MASTER");
    if (m == null || m.isEmpty()) m = System.getenv("MESOS_MASTER");
    return m == null || m.isEmpty() ? "127.0.0.1:5050" : m;
  }

  private static final java.util.regex.Pattern ZK_URL =
      java.util.regex.Pattern.compile("zk://([^@/]+:[^@/]*@)?[^,/:@]+:\\d{1,5}(,[^,/:@]+:\\d{1,5})*(/[^/]+)+/?");

  static String checkMaster(String master) {
    if (master == null) throw new IllegalArgumentException("master: must not be null");
    if (master.startsWith("zk://")) {
      // zk://[user:pass@]host:port[,host:port...]/path: the driver follows the elected leader.
      if (!ZK_URL.matcher(master).matches()) {
        throw new IllegalArgumentException(
            "master: expected zk://[user:pass@]host:port[,host:port...]/path, got '" + master + "'");
      }
      return master;
    }
    int colon = master.lastIndexOf(':');
    boolean ok = colon > 0 && colon < master.length() - 1;
    if (ok) {
      try {
        int port = Integer.parseInt(master.substring(colon + 1));
        ok = port > 0 && port < 65536;
      } catch (NumberFormatException e) {
        ok = false;
      }
    }
    if (!ok) throw new IllegalArgumentException("master: expected 'host:port', got '" + master + "'");
    return master;
  }

  // --- life cycle -----------------------------------------------------------

  public Scheduler scheduler() {
    return scheduler;
  }

  public String master() {
    return master;
  }

  public DriverStatus status() {
    return DriverStatus.values()[handle.nat.status()];
  }

  /** The framework's ID once subscribed; empty before. */
  public String frameworkId() {
    return handle.nat.frameworkId();
  }

  /** Starts subscribing in the background; events arrive on the callback thread. */
  public void start() {
    Results.check(handle.nat.start());
    Lifecycle.running(this);
  }

  /**
   * Stops the driver. {@code failover=false} tears the framework down (its tasks are killed);
   * {@code true} only disconnects, so that another driver with the same framework ID can take over.
   */
  public void stop(boolean failover) {
    try {
      Results.check(handle.nat.stop(failover));
    } finally {
      Lifecycle.stopped(this);
    }
  }

  /** Tears the framework down: {@code stop(false)}. */
  public void stop() {
    stop(false);
  }

  /** Stops the driver at once, without tearing the framework down. */
  public void abort() {
    abortedByUs = true;
    try {
      Results.check(handle.nat.abort());
    } finally {
      Lifecycle.stopped(this);
    }
  }

  /**
   * Waits until the driver stops. Throws the failure of a callback (as the cause of a
   * CorralException) or the master's error that ended the subscription.
   */
  public void join() throws InterruptedException {
    join(null);
  }

  /** {@link #join()} for at most {@code timeout}: false if the driver is still running. */
  public boolean join(Duration timeout) throws InterruptedException {
    long deadline = timeout == null ? Long.MAX_VALUE : System.nanoTime() + timeout.toNanos();
    String[] message = new String[1];
    while (true) {
      if (Thread.interrupted()) throw new InterruptedException();
      double slice = Math.max(0, Math.min(0.2, (deadline - System.nanoTime()) / 1e9));
      int code = Results.code(handle.nat.joinFor(slice), message);
      if (code != Result.kStillRunning) {
        Lifecycle.stopped(this);
        Throwable f = failure;
        if (f != null) throw new CorralException(CorralException.Code.ABORTED, "a scheduler callback threw: " + f, f);
        if (code != 0 && !abortedByUs) throw Results.exception(code, message[0]);
        return true;
      }
      if (System.nanoTime() >= deadline) return false;
    }
  }

  /** start() then join(). */
  public void run() throws InterruptedException {
    start();
    join();
  }

  /**
   * Stops the driver if it runs, with failover (the framework stays for a restarted scheduler;
   * call {@link #stop()} first to tear it down), and frees its threads. Twice is harmless; every
   * call afterwards throws CorralException(FAILED_PRECONDITION).
   */
  @Override
  public void close() {
    Lifecycle.stopped(this);
    handle.close();
  }

  // --- calls ------------------------------------------------------------------

  public void accept(Collection<OfferID> offerIds, Collection<Offer.Operation> operations, Filters filters) {
    Call.Accept.Builder a = Call.Accept.newBuilder().addAllOfferIds(offerIds).addAllOperations(operations);
    if (filters != null) a.setFilters(filters);
    call(Call.newBuilder().setType(Call.Type.ACCEPT).setAccept(a).build());
  }

  public void accept(Collection<OfferID> offerIds, Collection<Offer.Operation> operations) {
    accept(offerIds, operations, null);
  }

  /** Launches tasks on one offer; what they do not use is declined. */
  public void launch(OfferID offerId, Collection<TaskInfo> tasks, Filters filters) {
    Offer.Operation op = Offer.Operation.newBuilder().setType(Offer.Operation.Type.LAUNCH)
        .setLaunch(Offer.Operation.Launch.newBuilder().addAllTaskInfos(tasks)).build();
    accept(List.of(offerId), List.of(op), filters);
  }

  public void launch(OfferID offerId, Collection<TaskInfo> tasks) {
    launch(offerId, tasks, null);
  }

  /** Launches tasks as a group under {@code executor} (the default executor if its type is DEFAULT). */
  public void launchGroup(OfferID offerId, ExecutorInfo executor, TaskGroupInfo group, Filters filters) {
    Offer.Operation op = Offer.Operation.newBuilder().setType(Offer.Operation.Type.LAUNCH_GROUP)
        .setLaunchGroup(Offer.Operation.LaunchGroup.newBuilder().setExecutor(executor).setTaskGroup(group)).build();
    accept(List.of(offerId), List.of(op), filters);
  }

  public void launchGroup(OfferID offerId, ExecutorInfo executor, TaskGroupInfo group) {
    launchGroup(offerId, executor, group, null);
  }

  public void decline(Collection<OfferID> offerIds, Filters filters) {
    Call.Decline.Builder d = Call.Decline.newBuilder().addAllOfferIds(offerIds);
    if (filters != null) d.setFilters(filters);
    call(Call.newBuilder().setType(Call.Type.DECLINE).setDecline(d).build());
  }

  public void decline(Collection<OfferID> offerIds) {
    decline(offerIds, (Filters) null);
  }

  /** Declines and keeps those resources away from this framework for {@code refuse}. */
  public void decline(Collection<OfferID> offerIds, Duration refuse) {
    decline(offerIds, Filters.newBuilder().setRefuseSeconds(refuse.toNanos() / 1e9).build());
  }

  public void acceptInverseOffers(Collection<OfferID> inverseOfferIds, Filters filters) {
    Call.AcceptInverseOffers.Builder a = Call.AcceptInverseOffers.newBuilder().addAllInverseOfferIds(inverseOfferIds);
    if (filters != null) a.setFilters(filters);
    call(Call.newBuilder().setType(Call.Type.ACCEPT_INVERSE_OFFERS).setAcceptInverseOffers(a).build());
  }

  public void declineInverseOffers(Collection<OfferID> inverseOfferIds, Filters filters) {
    Call.DeclineInverseOffers.Builder d = Call.DeclineInverseOffers.newBuilder().addAllInverseOfferIds(inverseOfferIds);
    if (filters != null) d.setFilters(filters);
    call(Call.newBuilder().setType(Call.Type.DECLINE_INVERSE_OFFERS).setDeclineInverseOffers(d).build());
  }

  public void kill(TaskID taskId) {
    kill(taskId, null, null);
  }

  /** Kills a task; {@code gracePeriod}, when given, overrides the task's KillPolicy. */
  public void kill(TaskID taskId, AgentID agentId, Duration gracePeriod) {
    Call.Kill.Builder k = Call.Kill.newBuilder().setTaskId(taskId);
    if (agentId != null) k.setAgentId(agentId);
    if (gracePeriod != null) {
      k.setKillPolicy(KillPolicy.newBuilder().setGracePeriod(DurationInfo.newBuilder().setNanoseconds(
          gracePeriod.toNanos())));
    }
    call(Call.newBuilder().setType(Call.Type.KILL).setKill(k).build());
  }

  /** Acknowledges a status update (needed with implicitAcknowledgements(false)); no-op without a uuid. */
  public void acknowledge(TaskStatus status) {
    if (status.getUuid().isEmpty()) return;
    call(Call.newBuilder().setType(Call.Type.ACKNOWLEDGE).setAcknowledge(Call.Acknowledge.newBuilder()
        .setAgentId(status.getAgentId()).setTaskId(status.getTaskId()).setUuid(status.getUuid())).build());
  }

  /** Asks for the latest state of these tasks (of every task of the framework, if none). */
  public void reconcile(Collection<TaskStatus> tasks) {
    Call.Reconcile.Builder r = Call.Reconcile.newBuilder();
    for (TaskStatus t : tasks) {
      Call.Reconcile.Task.Builder task = r.addTasksBuilder().setTaskId(t.getTaskId());
      if (t.hasAgentId()) task.setAgentId(t.getAgentId());
    }
    call(Call.newBuilder().setType(Call.Type.RECONCILE).setReconcile(r).build());
  }

  /** Removes offer filters and asks for offers again (for {@code roles}, or all). */
  public void revive(String... roles) {
    call(Call.newBuilder().setType(Call.Type.REVIVE).setRevive(Call.Revive.newBuilder().addAllRoles(List.of(roles)))
        .build());
  }

  /** Stops offers (for {@code roles}, or all) until revive(). */
  public void suppress(String... roles) {
    call(Call.newBuilder().setType(Call.Type.SUPPRESS)
        .setSuppress(Call.Suppress.newBuilder().addAllRoles(List.of(roles))).build());
  }

  /** Sends a framework message to an executor. */
  public void message(AgentID agentId, ExecutorID executorId, byte[] data) {
    call(Call.newBuilder().setType(Call.Type.MESSAGE).setMessage(Call.Message.newBuilder().setAgentId(agentId)
        .setExecutorId(executorId).setData(ByteString.copyFrom(data))).build());
  }

  /** Asks an executor to shut down (its tasks are killed). */
  public void shutdown(ExecutorID executorId, AgentID agentId) {
    call(Call.newBuilder().setType(Call.Type.SHUTDOWN)
        .setShutdown(Call.Shutdown.newBuilder().setExecutorId(executorId).setAgentId(agentId)).build());
  }

  /** Tears the framework down and stops: {@code stop(false)}, as Mesos's TEARDOWN call. */
  public void teardown() {
    stop(false);
  }

  /** Any scheduler Call; the framework ID is filled in. */
  public void call(Call call) {
    if (call == null) throw new IllegalArgumentException("call: must not be null");
    Results.check(handle.nat.call(call.toByteArray()));
  }

  // --- the same calls, as futures -------------------------------------------------

  /** {@link #call(Call)} on another thread: completes when the master accepted it. */
  public CompletableFuture<Void> callAsync(Call call) {
    return CompletableFuture.runAsync(() -> call(call), Lifecycle.async());
  }

  public CompletableFuture<Void> launchAsync(OfferID offerId, Collection<TaskInfo> tasks) {
    return CompletableFuture.runAsync(() -> launch(offerId, tasks), Lifecycle.async());
  }

  public CompletableFuture<Void> declineAsync(Collection<OfferID> offerIds) {
    return CompletableFuture.runAsync(() -> decline(offerIds), Lifecycle.async());
  }

  public CompletableFuture<Void> killAsync(TaskID taskId) {
    return CompletableFuture.runAsync(() -> kill(taskId), Lifecycle.async());
  }

  public CompletableFuture<Void> reconcileAsync(Collection<TaskStatus> tasks) {
    return CompletableFuture.runAsync(() -> reconcile(tasks), Lifecycle.async());
  }

  public CompletableFuture<Void> acknowledgeAsync(TaskStatus status) {
    return CompletableFuture.runAsync(() -> acknowledge(status), Lifecycle.async());
  }

  public CompletableFuture<Void> acceptAsync(
      Collection<OfferID> offerIds, Collection<Offer.Operation> operations, Filters filters) {
    return CompletableFuture.runAsync(() -> accept(offerIds, operations, filters), Lifecycle.async());
  }

  public CompletableFuture<Void> launchGroupAsync(OfferID offerId, ExecutorInfo executor, TaskGroupInfo group) {
    return CompletableFuture.runAsync(() -> launchGroup(offerId, executor, group), Lifecycle.async());
  }

  public CompletableFuture<Void> acceptInverseOffersAsync(Collection<OfferID> inverseOfferIds, Filters filters) {
    return CompletableFuture.runAsync(() -> acceptInverseOffers(inverseOfferIds, filters), Lifecycle.async());
  }

  public CompletableFuture<Void> declineInverseOffersAsync(Collection<OfferID> inverseOfferIds, Filters filters) {
    return CompletableFuture.runAsync(() -> declineInverseOffers(inverseOfferIds, filters), Lifecycle.async());
  }

  public CompletableFuture<Void> killAsync(TaskID taskId, AgentID agentId, Duration gracePeriod) {
    return CompletableFuture.runAsync(() -> kill(taskId, agentId, gracePeriod), Lifecycle.async());
  }

  public CompletableFuture<Void> reviveAsync(String... roles) {
    return CompletableFuture.runAsync(() -> revive(roles), Lifecycle.async());
  }

  public CompletableFuture<Void> suppressAsync(String... roles) {
    return CompletableFuture.runAsync(() -> suppress(roles), Lifecycle.async());
  }

  public CompletableFuture<Void> messageAsync(AgentID agentId, ExecutorID executorId, byte[] data) {
    return CompletableFuture.runAsync(() -> message(agentId, executorId, data), Lifecycle.async());
  }

  public CompletableFuture<Void> shutdownAsync(ExecutorID executorId, AgentID agentId) {
    return CompletableFuture.runAsync(() -> shutdown(executorId, agentId), Lifecycle.async());
  }

  public CompletableFuture<Void> teardownAsync() {
    return CompletableFuture.runAsync(this::teardown, Lifecycle.async());
  }

  // --- internals --------------------------------------------------------------------

  /** Runs one event's callback; false (and the driver aborts) if it threw. */
  boolean dispatch(byte[] bytes) {
    if (failure != null) return false;
    try {
      Event e = Event.parseFrom(bytes);
      switch (e.getType()) {
        case SUBSCRIBED:
          scheduler.subscribed(this, e.getSubscribed().getFrameworkId(), e.getSubscribed().getMasterInfo());
          break;
        case OFFERS:
          scheduler.offers(this, e.getOffers().getOffersList());
          break;
        case RESCIND:
          scheduler.rescinded(this, e.getRescind().getOfferId());
          break;
        case INVERSE_OFFERS:
          scheduler.inverseOffers(this, e.getInverseOffers().getInverseOffersList());
          break;
        case RESCIND_INVERSE_OFFER:
          scheduler.rescindedInverseOffer(this, e.getRescindInverseOffer().getInverseOfferId());
          break;
        case UPDATE:
          scheduler.update(this, e.getUpdate().getStatus());
          break;
        case MESSAGE:
          scheduler.message(this, e.getMessage().getAgentId(), e.getMessage().getExecutorId(),
              e.getMessage().getData().toByteArray());
          break;
        case FAILURE: {
          Event.Failure f = e.getFailure();
          scheduler.failure(this, f.getAgentId(), f.hasExecutorId() ? f.getExecutorId() : null,
              f.hasStatus() ? f.getStatus() : null);
          break;
        }
        case ERROR:
          scheduler.error(this, e.getError().getMessage());
          break;
        default:
          break;
      }
      return true;
    } catch (Throwable t) {
      fail(t);
      return false;
    }
  }

  boolean dispatchDisconnected() {
    if (failure != null) return false;
    try {
      scheduler.disconnected(this);
      return true;
    } catch (Throwable t) {
      fail(t);
      return false;
    }
  }

  private void fail(Throwable t) {
    failure = t instanceof InvalidProtocolBufferException
        ? new CorralException(CorralException.Code.INTERNAL, "an event did not parse", t) : t;
    Lifecycle.stopped(this);
  }

  /** The native side; the Cleaner's action once the driver is unreachable. */
  private static final class Handle implements Runnable {
    final NativeSchedulerDriver nat;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Runnable closer = this::close;

    Handle(NativeSchedulerDriver nat) {
      this.nat = nat;
      Lifecycle.open(closer);
    }

    void close() {
      if (closed.compareAndSet(false, true)) {
        Lifecycle.closed(closer);
        nat.close();
      }
    }

    @Override
    public void run() {
      close();
      nat.delete();
    }
  }

  /**
   * What the native driver calls, on its callback thread. Holds the driver weakly, so that the
   * native side (which holds the sink) never keeps an unused driver alive.
   */
  private static final class Sink {
    private final WeakReference<SchedulerDriver> driver;

    Sink(SchedulerDriver driver) {
      this.driver = new WeakReference<>(driver);
    }

    @SuppressWarnings("unused") // called from native code
    boolean onEvent(byte[] event) {
      SchedulerDriver d = driver.get();
      return d == null || d.dispatch(event);
    }

    @SuppressWarnings("unused")
    boolean onDisconnected() {
      SchedulerDriver d = driver.get();
      return d == null || d.dispatchDisconnected();
    }

    @SuppressWarnings("unused")
    void onClosed() {}
  }
}
