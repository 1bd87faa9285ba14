package io.corral.examples;

import io.corral.Executor;
import io.corral.ExecutorDriver;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.nio.charset.StandardCharsets;

/** Ping's executor: answers "ping N" with "pong N" and ends its task when killed. */
public final class PingExecutor implements Executor {
  @Override
  public void launch(ExecutorDriver driver, TaskInfo task) {
    driver.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(task.getTaskId()).setState(TaskState.TASK_RUNNING)
        .build());
  }

  @Override
  public void message(ExecutorDriver driver, byte[] data) {
    String text = new String(data, StandardCharsets.UTF_8);
    driver.sendFrameworkMessage(text.replace("ping", "pong").getBytes(StandardCharsets.UTF_8));
  }

  @Override
  public void kill(ExecutorDriver driver, TaskID taskId, io.corral.v1.Protos.KillPolicy policy) {
    driver.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(taskId).setState(TaskState.TASK_KILLED).build());
  }

  @Override
  public void shutdown(ExecutorDriver driver) {
    driver.stop();
  }

  public static void main(String[] args) throws InterruptedException {
    try (ExecutorDriver driver = new ExecutorDriver(new PingExecutor())) {
      driver.run();
    }
  }
}
