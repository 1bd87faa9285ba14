package io.corral;

import io.corral.internal.Lifecycle;
import io.corral.internal.NativeExecutorDriver;
import io.corral.internal.NativeLibrary;
import io.corral.internal.Result;
import io.corral.internal.Results;
import io.corral.v1.Protos.TaskStatus;
import io.corral.v1.executor.Protos.Event;
import java.lang.ref.WeakReference;
import java.time.Duration;
import java.util.concurrent.CompletableFuture;
import java.util.concurrent.atomic.AtomicBoolean;

/**
 * Runs an {@link Executor} in a process the agent started: reads the agent's endpoint and the
 * IDs from the environment (MESOS_AGENT_ENDPOINT, MESOS_FRAMEWORK_ID, MESOS_EXECUTOR_ID), as a
 * Mesos executor does, and subscribes. Threading and errors as for {@link SchedulerDriver}.
 */
public final class ExecutorDriver implements AutoCloseable {
  private final Executor executor;
  private final Handle handle;
  private volatile Throwable failure;

  public ExecutorDriver(Executor executor) {
    if (executor == null) throw new IllegalArgumentException("executor: must not be null");
    NativeLibrary.load();
    this.executor = executor;
    this.handle = new Handle(new NativeExecutorDriver(new Sink(this)));
    Lifecycle.CLEANER.register(this, handle);
  }

  public Executor executor() {
    return executor;
  }

  public void start() {
    Results.check(handle.nat.start());
    Lifecycle.running(this);
  }

  /** Stops the driver (the executor should exit afterwards). */
  public void stop() {
    try {
      Results.check(handle.nat.stop());
    } finally {
      Lifecycle.stopped(this);
    }
  }

  public void join() throws InterruptedException {
    join(null);
  }

  /** Waits until the driver stops: false if {@code timeout} passed first. */
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
        if (f != null) throw new CorralException(CorralException.Code.ABORTED, "an executor callback threw: " + f, f);
        if (code != 0) throw Results.exception(code, message[0]);
        return true;
      }
      if (System.nanoTime() >= deadline) return false;
    }
  }

  public void run() throws InterruptedException {
    start();
    join();
  }

  @Override
  public void close() {
    Lifecycle.stopped(this);
    handle.close();
  }

  /**
   * Sends a task's status; uuid, timestamp, source and executor ID are filled in. The agent keeps
   * it until the scheduler acknowledged it, across reconnections.
   */
  public void sendStatusUpdate(TaskStatus status) {
    if (status == null) throw new IllegalArgumentException("status: must not be null");
    Results.check(handle.nat.sendStatusUpdate(status.toByteArray()));
  }

  public CompletableFuture<Void> sendStatusUpdateAsync(TaskStatus status) {
    return CompletableFuture.runAsync(() -> sendStatusUpdate(status), Lifecycle.async());
  }

  /** Sends a framework message to the scheduler. */
  public void sendFrameworkMessage(byte[] data) {
    if (data == null) throw new IllegalArgumentException("data: must not be null");
    Results.check(handle.nat.sendFrameworkMessage(data));
  }
  public CompletableFuture<Void> sendFrameworkMessageAsync(byte[] data) {
    return CompletableFuture.runAsync(() -> sendFrameworkMessage(data), Lifecycle.async());
  }


  boolean dispatch(byte[] bytes) {
    if (failure != null) return false;
    try {
      Event e = Event.parseFrom(bytes);
      switch (e.getType()) {
        case SUBSCRIBED:
          executor.subscribed(this, e.getSubscribed().getExecutorInfo(), e.getSubscribed().getFrameworkInfo(),
              e.getSubscribed().getAgentInfo());
          break;
        case LAUNCH:
          executor.launch(this, e.getLaunch().getTask());
          break;
        case LAUNCH_GROUP:
          executor.launchGroup(this, e.getLaunchGroup().getTaskGroup());
          break;
        case KILL:
          executor.kill(this, e.getKill().getTaskId(), e.getKill().hasKillPolicy() ? e.getKill().getKillPolicy() : null);
          break;
        case ACKNOWLEDGED:
          executor.acknowledged(this, e.getAcknowledged().getTaskId(), e.getAcknowledged().getUuid());
          break;
        case MESSAGE:
          executor.message(this, e.getMessage().getData().toByteArray());
          break;
        case SHUTDOWN:
          executor.shutdown(this);
          break;
        case ERROR:
          executor.error(this, e.getError().getMessage());
          break;
        default:
          break;
      }
      return true;
    } catch (Throwable t) {
      failure = t;
      Lifecycle.stopped(this);
      return false;
    }
  }

  private static final class Handle implements Runnable {
    final NativeExecutorDriver nat;
    private final AtomicBoolean closed = new AtomicBoolean();
    private final Runnable closer = this::close;

    Handle(NativeExecutorDriver nat) {
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

  private static final class Sink {
    private final WeakReference<ExecutorDriver> driver;

    Sink(ExecutorDriver driver) {
      this.driver = new WeakReference<>(driver);
    }

    @SuppressWarnings("unused")
    boolean onEvent(byte[] event) {
      ExecutorDriver d = driver.get();
      return d == null || d.dispatch(event);
    }

    @SuppressWarnings("unused")
    boolean onDisconnected() {
      return true;
    }

    @SuppressWarnings("unused")
    void onClosed() {}
  }
}
