package io.corral.sdk;

import io.corral.Scheduler;
import io.corral.SchedulerDriver;
import io.corral.v1.Protos.AgentID;
import io.corral.v1.Protos.ExecutorID;
import io.corral.v1.Protos.FrameworkID;
import io.corral.v1.Protos.MasterInfo;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.function.Predicate;

/** A scheduler that records its events and lets a test wait for them, with a deadline. */
class Recorder implements Scheduler {
  final List<Offer> offers = new ArrayList<>();
  final List<TaskStatus> updates = new ArrayList<>();
  final List<byte[]> messages = new ArrayList<>();
  String frameworkId;
  int subscribed;

  @Override
  public synchronized void subscribed(SchedulerDriver driver, FrameworkID id, MasterInfo master) {
    frameworkId = id.getValue();
    subscribed++;
    notifyAll();
  }

  @Override
  public synchronized void offers(SchedulerDriver driver, List<Offer> o) {
    offers.addAll(o);
    notifyAll();
  }

  @Override
  public synchronized void update(SchedulerDriver driver, TaskStatus status) {
    updates.add(status);
    notifyAll();
  }

  @Override
  public synchronized void message(SchedulerDriver driver, AgentID agentId, ExecutorID executorId, byte[] data) {
    messages.add(data);
    notifyAll();
  }

  /** Waits until {@code condition} (checked under this object's lock) holds; fails after 30 s. */
  synchronized void await(String what, java.util.function.BooleanSupplier condition) throws InterruptedException {
    long deadline = System.nanoTime() + Duration.ofSeconds(30).toNanos();
    while (!condition.getAsBoolean()) {
      long left = deadline - System.nanoTime();
      if (left <= 0) throw new AssertionError("timed out waiting for " + what);
      wait(Math.max(1, left / 1_000_000));
    }
  }

  Offer takeOffer() throws InterruptedException {
    synchronized (this) {
      await("an offer", () -> !offers.isEmpty());
      return offers.remove(0);
    }
  }

  TaskStatus awaitState(String taskId, TaskState state) throws InterruptedException {
    Predicate<TaskStatus> p = s -> s.getTaskId().getValue().equals(taskId) && s.getState() == state;
    synchronized (this) {
      await(taskId + " in " + state, () -> updates.stream().anyMatch(p));
      return updates.stream().filter(p).findFirst().get();
    }
  }
}
