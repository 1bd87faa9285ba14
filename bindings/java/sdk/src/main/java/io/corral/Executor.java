package io.corral;

import com.google.protobuf.ByteString;
import io.corral.v1.Protos.AgentInfo;
import io.corral.v1.Protos.ExecutorInfo;
import io.corral.v1.Protos.FrameworkInfo;
import io.corral.v1.Protos.KillPolicy;
import io.corral.v1.Protos.TaskGroupInfo;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskInfo;

/**
 * A custom executor: implement the events you care about. Methods run on the driver's callback
 * thread, one at a time; one that throws stops the driver and {@link ExecutorDriver#join()}
 * throws with it as the cause.
 */
public interface Executor {
  default void subscribed(ExecutorDriver driver, ExecutorInfo executor, FrameworkInfo framework, AgentInfo agent) {}

  /** Run the task; report its states with {@link ExecutorDriver#sendStatusUpdate}. */
  default void launch(ExecutorDriver driver, TaskInfo task) {}

  default void launchGroup(ExecutorDriver driver, TaskGroupInfo group) {}

  /** Kill the task; {@code policy} is null when the kill carried none. */
  default void kill(ExecutorDriver driver, TaskID taskId, KillPolicy policy) {}

  /** The agent has the update with this uuid safe. */
  default void acknowledged(ExecutorDriver driver, TaskID taskId, ByteString uuid) {}

  /** A framework message from the scheduler. */
  default void message(ExecutorDriver driver, byte[] data) {}

  /** The agent asks the executor to kill its tasks and exit. */
  default void shutdown(ExecutorDriver driver) {}

  default void error(ExecutorDriver driver, String message) {}
}
