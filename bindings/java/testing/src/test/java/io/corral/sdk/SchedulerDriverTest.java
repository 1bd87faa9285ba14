package io.corral.sdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertFalse;
import static org.junit.jupiter.api.Assertions.assertInstanceOf;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.corral.CorralException;
import io.corral.DriverStatus;
import io.corral.Helpers;
import io.corral.ResourcePool;
import io.corral.SchedulerDriver;
import io.corral.internal.CorralNative;
import io.corral.testing.LocalCluster;
import io.corral.testing.LocalClusterExtension;
import io.corral.v1.Protos.FrameworkID;
import io.corral.v1.Protos.FrameworkInfo;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.time.Duration;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.atomic.AtomicInteger;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LocalClusterExtension.class)
@LocalClusterExtension.Agents(1)
class SchedulerDriverTest {
  static TaskInfo task(Offer offer, String name, String shell) {
    return Helpers.commandTask(offer, name, shell, new ResourcePool(offer).take(0.1, 16, 0, 0).orElseThrow());
  }

  @Test
  void aCommandTaskRunsToFinished(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder();
    try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-test"), cluster.master())) {
      driver.start();
      Offer offer = r.takeOffer();
      assertFalse(driver.frameworkId().isEmpty());
      TaskInfo t = task(offer, "hello", "echo hello");
      driver.launchAsync(offer.getId(), List.of(t)).get();
      r.awaitState(t.getTaskId().getValue(), TaskState.TASK_FINISHED);
      driver.stop();
      assertTrue(driver.join(Duration.ofSeconds(10)));
      assertEquals(DriverStatus.STOPPED, driver.status());
    }
  }

  @Test
  void theMastersReasonIsTheException(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder();
    try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-test"), cluster.master())) {
      driver.start();
      r.await("subscribed", () -> r.subscribed > 0);
      CorralException e = assertThrows(CorralException.class,
          () -> driver.launch(io.corral.v1.Protos.OfferID.newBuilder().setValue("no-such-offer").build(), List.of()));
      assertTrue(e.getMessage().contains("no-such-offer"), e.getMessage());
      driver.stop();
    }
  }

  @Test
  void callsAfterCloseThrowAndCloseTwiceIsHarmless(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder();
    SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-test"), cluster.master());
    driver.start();
    r.await("subscribed", () -> r.subscribed > 0);
    driver.close();
    driver.close();
    CorralException e = assertThrows(CorralException.class, () -> driver.revive());
    assertEquals(CorralException.Code.FAILED_PRECONDITION, e.code());
    assertEquals("the driver was closed", e.getMessage());
    assertThrows(CorralException.class, driver::start);
    assertThrows(IllegalArgumentException.class, () -> new SchedulerDriver(r, FrameworkInfo.getDefaultInstance(),
        cluster.master()));
    assertThrows(IllegalArgumentException.class, () -> new SchedulerDriver(r, Helpers.framework("x"), "nohost"));
    IllegalArgumentException noPath = assertThrows(IllegalArgumentException.class,
        () -> new SchedulerDriver(r, Helpers.framework("x"), "zk://h1:2181"));
    assertTrue(noPath.getMessage().contains("zk://h1:2181"), noPath.getMessage());
    // A well-formed zk:// URL is taken: the driver looks for the leader once started.
    new SchedulerDriver(r, Helpers.framework("x"), "zk://alice:pw@h1:2181,h2:2181/corral").close();
  }

  @Test
  void aCredentialTravelsWithTheDriver(LocalCluster cluster) throws Exception {
    // The cluster authenticates nobody, so the credential is carried and
    // ignored; a master that checks it is tests/security_test.cc's.
    Recorder r = new Recorder();
    try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-auth"), cluster.master(),
        new SchedulerDriver.Options().credential("java", "java-secret"))) {
      driver.start();
      r.await("subscribed", () -> r.subscribed > 0);
    }
    assertThrows(IllegalArgumentException.class, () -> new SchedulerDriver.Options().credential("", "s"));
    assertThrows(IllegalArgumentException.class, () -> new SchedulerDriver.Options().credential("p", null));
  }

  @Test
  void futuresCompleteWhenTheMasterAcceptedAndFailWithItsReason(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder();
    SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-test"), cluster.master());
    driver.start();
    r.await("subscribed", () -> r.subscribed > 0);
    driver.suppressAsync().get();
    driver.reviveAsync().get();
    driver.close();
    java.util.concurrent.ExecutionException e =
        assertThrows(java.util.concurrent.ExecutionException.class, () -> driver.teardownAsync().get());
    CorralException cause = assertInstanceOf(CorralException.class, e.getCause());
    assertEquals(CorralException.Code.FAILED_PRECONDITION, cause.code());
  }

  /** A callback that throws: the driver aborts, the update is not acknowledged, join rethrows it. */
  @Test
  void aThrowingCallbackAbortsAndItsUpdateComesAgain(LocalCluster cluster) throws Exception {
    FrameworkInfo framework = Helpers.framework("java-failover").toBuilder().setFailoverTimeout(60).build();
    Recorder first = new Recorder() {
      @Override
      public synchronized void update(SchedulerDriver driver, TaskStatus status) {
        super.update(driver, status);
        if (status.getState() == TaskState.TASK_FINISHED) throw new IllegalStateException("boom");
      }
    };
    String id;
    TaskStatus failed;
    try (SchedulerDriver driver = new SchedulerDriver(first, framework, cluster.master())) {
      driver.start();
      Offer offer = first.takeOffer();
      TaskInfo t = task(offer, "once", "true");
      driver.launch(offer.getId(), List.of(t));
      failed = first.awaitState(t.getTaskId().getValue(), TaskState.TASK_FINISHED);
      CorralException e = assertThrows(CorralException.class, () -> driver.join(Duration.ofSeconds(10)));
      assertInstanceOf(IllegalStateException.class, e.getCause());
      assertEquals(DriverStatus.ABORTED, driver.status());
      id = driver.frameworkId();
    }
    Recorder second = new Recorder();
    FrameworkInfo again = framework.toBuilder().setId(FrameworkID.newBuilder().setValue(id)).build();
    try (SchedulerDriver driver = new SchedulerDriver(second, again, cluster.master())) {
      driver.start();
      TaskStatus resent = second.awaitState(failed.getTaskId().getValue(), TaskState.TASK_FINISHED);
      assertEquals(failed.getUuid(), resent.getUuid());
      driver.stop();
    }
  }

  @Test
  void aStackOverflowInACallbackIsJoinsCause(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder() {
      int depth(int n) {
        return n == Integer.MIN_VALUE ? 0 : depth(n + 1) + 1;
      }

      @Override
      public synchronized void subscribed(SchedulerDriver driver, FrameworkID id, io.corral.v1.Protos.MasterInfo m) {
        super.subscribed(driver, id, m);
        depth(0);
      }
    };
    try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-overflow"), cluster.master())) {
      driver.start();
      CorralException e = assertThrows(CorralException.class, () -> driver.join(Duration.ofSeconds(30)));
      assertInstanceOf(StackOverflowError.class, e.getCause());
    }
  }

  @Test
  void stopFromInsideACallbackAndCloseFromAnother(LocalCluster cluster) throws Exception {
    Recorder inside = new Recorder() {
      @Override
      public synchronized void subscribed(SchedulerDriver driver, FrameworkID id, io.corral.v1.Protos.MasterInfo m) {
        super.subscribed(driver, id, m);
        driver.stop();
      }
    };
    try (SchedulerDriver driver = new SchedulerDriver(inside, Helpers.framework("java-stop"), cluster.master())) {
      driver.start();
      assertTrue(driver.join(Duration.ofSeconds(30)));
      assertEquals(DriverStatus.STOPPED, driver.status());
    }
    Recorder closing = new Recorder() {
      @Override
      public synchronized void subscribed(SchedulerDriver driver, FrameworkID id, io.corral.v1.Protos.MasterInfo m) {
        super.subscribed(driver, id, m);
        driver.close();
      }
    };
    SchedulerDriver d = new SchedulerDriver(closing, Helpers.framework("java-close"), cluster.master());
    d.start();
    closing.await("subscribed", () -> closing.subscribed > 0);
    assertTrue(CorralNative.waitForClosing(30));
    assertThrows(CorralException.class, d::revive);
    Thread other = new Thread(d::close);
    other.start();
    other.join();
  }

  /** 2,000 reconciliation answers on one callback thread attach it to the JVM once. */
  @Test
  void aCallbackThreadAttachesOnce(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder();
    long before = CorralNative.attachedThreads();
    try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-attach"), cluster.master())) {
      driver.start();
      r.await("subscribed", () -> r.subscribed > 0);
      List<TaskStatus> unknown = new ArrayList<>();
      for (int i = 0; i < 2000; i++) {
        unknown.add(TaskStatus.newBuilder().setTaskId(TaskID.newBuilder().setValue("unknown-" + i))
            .setState(TaskState.TASK_STAGING).build());
      }
      driver.reconcile(unknown);
      r.await("2,000 updates", () -> r.updates.size() >= 2000);
      driver.stop();
    }
    long attached = CorralNative.attachedThreads() - before;
    assertTrue(attached >= 1 && attached <= 3, "attached " + attached + " threads for 2,000 events");
  }

  /** The program keeps no reference to the driver or scheduler; the GC runs while events flow. */
  @Test
  void aDriverNobodyHoldsKeepsWorkingThroughTheGc(LocalCluster cluster) throws Exception {
    AtomicInteger updates = new AtomicInteger();
    startUnreferenced(cluster.master(), updates);
    long deadline = System.nanoTime() + Duration.ofSeconds(60).toNanos();
    while (updates.get() < 3000 && System.nanoTime() < deadline) {
      System.gc();
      byte[] garbage = new byte[1 << 20];
      garbage[0] = 1;
    }
    assertEquals(3000, updates.get());
  }

  private static void startUnreferenced(String master, AtomicInteger updates) {
    SchedulerDriver driver = new SchedulerDriver(new io.corral.Scheduler() {
      @Override
      public void subscribed(SchedulerDriver d, FrameworkID id, io.corral.v1.Protos.MasterInfo m) {
        List<TaskStatus> unknown = new ArrayList<>();
        for (int i = 0; i < 3000; i++) {
          unknown.add(TaskStatus.newBuilder().setTaskId(TaskID.newBuilder().setValue("gc-" + i))
              .setState(TaskState.TASK_STAGING).build());
        }
        d.reconcileAsync(unknown);
      }

      @Override
      public void update(SchedulerDriver d, TaskStatus status) {
        if (updates.incrementAndGet() == 3000) d.stop();
      }
    }, Helpers.framework("java-gc"), master);
    driver.start();
  }
}
