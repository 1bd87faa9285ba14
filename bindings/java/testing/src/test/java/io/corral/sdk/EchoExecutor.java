package io.corral.sdk;

import io.corral.Executor;
import io.corral.ExecutorDriver;
import io.corral.v1.Protos.KillPolicy;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;

/** Started by the agent for ExecutorDriverTest: echoes framework messages, reversed in order of bytes. */
public final class EchoExecutor implements Executor {
  @Override
  public void launch(ExecutorDriver driver, TaskInfo task) {
    driver.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(task.getTaskId()).setState(TaskState.TASK_RUNNING)
        .setData(task.getData()).build());
  }

  @Override
  public void message(ExecutorDriver driver, byte[] data) {
    byte[] out = new byte[data.length];
    for (int i = 0; i < data.length; i++) out[i] = data[data.length - 1 - i];
    driver.sendFrameworkMessage(out);
  }

  @Override
  public void kill(ExecutorDriver driver, TaskID taskId, KillPolicy policy) {
    driver.sendStatusUpdate(TaskStatus.newBuilder().setTaskId(taskId).setState(TaskState.TASK_KILLED).build());
  }

  @Override
  public void shutdown(ExecutorDriver driver) {
    driver.stop();
  }

  public static void main(String[] args) throws InterruptedException {
    try (ExecutorDriver driver = new ExecutorDriver(new EchoExecutor())) {
      driver.run();
    }
  }
}
