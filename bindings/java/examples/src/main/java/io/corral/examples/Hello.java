package io.corral.examples;

import io.corral.Helpers;
import io.corral.ResourcePool;
import io.corral.Scheduler;
import io.corral.SchedulerDriver;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.Resource;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.util.List;
import java.util.Optional;
import java.util.concurrent.atomic.AtomicInteger;

/** The smallest framework: runs one shell command and exits with its outcome. */
public final class Hello implements Scheduler {
  private final AtomicInteger exitCode = new AtomicInteger(1);
  private volatile boolean launched;

  @Override
  public void offers(SchedulerDriver driver, List<Offer> offers) {
    for (Offer offer : offers) {
      Optional<List<Resource>> res = new ResourcePool(offer).take(0.1, 32, 0, 0);
      if (launched || res.isEmpty()) {
        driver.decline(List.of(offer.getId()));
        continue;
      }
      TaskInfo task = Helpers.commandTask(offer, "hello", "echo hello from $(hostname)", res.get());
      driver.launch(offer.getId(), List.of(task));
      launched = true;
    }
  }

  @Override
  public void update(SchedulerDriver driver, TaskStatus status) {
    System.out.println(status.getTaskId().getValue() + " " + Helpers.stateName(status.getState()));
    if (Helpers.isTerminal(status.getState())) {
      exitCode.set(status.getState() == TaskState.TASK_FINISHED ? 0 : 1);
      driver.stop();
    }
  }

  static int run(String master) throws InterruptedException {
    Hello hello = new Hello();
    try (SchedulerDriver driver = new SchedulerDriver(hello, Helpers.framework("hello-java"), master)) {
      driver.run();
    }
    return hello.exitCode.get();
  }
}
