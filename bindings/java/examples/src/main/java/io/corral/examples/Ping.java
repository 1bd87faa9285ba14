package io.corral.examples;

import io.corral.Helpers;
import io.corral.ResourcePool;
import io.corral.Scheduler;
import io.corral.SchedulerDriver;
import io.corral.v1.Protos.AgentID;
import io.corral.v1.Protos.ExecutorID;
import io.corral.v1.Protos.ExecutorInfo;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.Resource;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.io.File;
import java.nio.charset.StandardCharsets;
import java.util.List;
import java.util.Optional;

/**
 * A framework with its own Java executor: launches one task under PingExecutor, sends it "ping N"
 * framework messages, gets "pong N" back, then kills the task.
 */
public final class Ping implements Scheduler {
  private final int rounds;
  private volatile boolean launched;
  private volatile TaskID task;
  private volatile int exitCode = 1;

  Ping(int rounds) {
    this.rounds = rounds;
  }

  /** Starts the executor with this JVM's java and class path. */
  static ExecutorInfo executor(List<Resource> resources) {
    String java = System.getProperty("java.home") + "/bin/java";
    // Absolute: the executor starts in its sandbox, not in this directory.
    StringBuilder cp = new StringBuilder();
    for (String entry : System.getProperty("java.class.path").split(File.pathSeparator)) {
      if (cp.length() > 0) cp.append(File.pathSeparator);
      cp.append(new File(entry).getAbsolutePath());
    }
    return Helpers.executor("ping-executor", "exec '" + java + "' -cp '" + cp + "' io.corral.examples.PingExecutor",
        resources);
  }

  @Override
  public void offers(SchedulerDriver driver, List<Offer> offers) {
    for (Offer offer : offers) {
      ResourcePool pool = new ResourcePool(offer);
      Optional<List<Resource>> forExecutor = pool.take(0.1, 256, 0, 0);
      Optional<List<Resource>> forTask = pool.take(0.1, 32, 0, 0);
      if (launched || forExecutor.isEmpty() || forTask.isEmpty()) {
        driver.decline(List.of(offer.getId()));
        continue;
      }
      var info = Helpers.executorTask(offer, "ping", executor(forExecutor.get()), forTask.get(), null);
      task = info.getTaskId();
      driver.launch(offer.getId(), List.of(info));
      launched = true;
    }
  }

  @Override
  public void update(SchedulerDriver driver, TaskStatus status) {
    System.out.println(status.getTaskId().getValue() + " " + Helpers.stateName(status.getState()));
    if (status.getState() == TaskState.TASK_RUNNING) {
      driver.message(status.getAgentId(), status.getExecutorId(), "ping 1".getBytes(StandardCharsets.UTF_8));
    } else if (Helpers.isTerminal(status.getState())) {
      driver.stop();
    }
  }

  @Override
  public void message(SchedulerDriver driver, AgentID agentId, ExecutorID executorId, byte[] data) {
    String text = new String(data, StandardCharsets.UTF_8);
    System.out.println("executor says: " + text);
    int n = Integer.parseInt(text.substring("pong ".length()));
    if (n < rounds) {
      driver.message(agentId, executorId, ("ping " + (n + 1)).getBytes(StandardCharsets.UTF_8));
    } else {
      exitCode = 0;
      driver.kill(task);
    }
  }

  static int run(String master, int rounds) throws InterruptedException {
    Ping ping = new Ping(rounds);
    try (SchedulerDriver driver = new SchedulerDriver(ping, Helpers.framework("ping-java"), master)) {
      driver.run();
    }
    return ping.exitCode;
  }
}
