package io.corral;

import com.google.protobuf.ByteString;
import io.corral.v1.Protos.CommandInfo;
import io.corral.v1.Protos.DurationInfo;
import io.corral.v1.Protos.ExecutorID;
import io.corral.v1.Protos.ExecutorInfo;
import io.corral.v1.Protos.FrameworkInfo;
import io.corral.v1.Protos.KillPolicy;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.Resource;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import java.time.Duration;
import java.util.Collection;
import java.util.EnumSet;
import java.util.Set;
import java.util.UUID;

/** Builders for the messages most frameworks need, as the Python SDK's helpers. */
public final class Helpers {
  private Helpers() {}

  private static final Set<TaskState> TERMINAL = EnumSet.of(TaskState.TASK_FINISHED, TaskState.TASK_FAILED,
      TaskState.TASK_KILLED, TaskState.TASK_ERROR, TaskState.TASK_LOST, TaskState.TASK_DROPPED, TaskState.TASK_GONE,
      TaskState.TASK_GONE_BY_OPERATOR);

  /** A FrameworkInfo named {@code name} in {@code roles} (none: the default role). */
  public static FrameworkInfo framework(String name, String... roles) {
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("name: a framework needs a name");
    FrameworkInfo.Builder f = FrameworkInfo.newBuilder().setName(name).setUser(System.getProperty("user.name", ""));
    if (roles.length > 0) {
      f.addAllRoles(java.util.List.of(roles))
          .addCapabilities(FrameworkInfo.Capability.newBuilder().setType(FrameworkInfo.Capability.Type.MULTI_ROLE));
    }
    return f.build();
  }

  /** A shell command. */
  public static CommandInfo command(String shell) {
    return CommandInfo.newBuilder().setShell(true).setValue(shell).build();
  }

  /**
   * A task running a shell command on the offer's agent with these resources (see {@link
   * ResourcePool}); its ID is {@code name} and a unique suffix.
   */
  public static TaskInfo commandTask(Offer offer, String name, String shell, Collection<Resource> resources) {
    if (name == null || name.isEmpty()) throw new IllegalArgumentException("name: a task needs a non-empty name");
    return TaskInfo.newBuilder().setName(name)
        .setTaskId(TaskID.newBuilder().setValue(name + "-" + UUID.randomUUID().toString().substring(0, 12)))
        .setAgentId(offer.getAgentId()).setCommand(command(shell)).addAllResources(resources).build();
  }

  /** The same task with a kill grace period. */
  public static TaskInfo withKillGracePeriod(TaskInfo task, Duration grace) {
    return task.toBuilder().setKillPolicy(KillPolicy.newBuilder()
        .setGracePeriod(DurationInfo.newBuilder().setNanoseconds(grace.toNanos()))).build();
  }

  /** An ExecutorInfo for a custom executor started by a shell command. */
  public static ExecutorInfo executor(String executorId, String shell, Collection<Resource> resources) {
    return ExecutorInfo.newBuilder().setType(ExecutorInfo.Type.CUSTOM)
        .setExecutorId(ExecutorID.newBuilder().setValue(executorId)).setCommand(command(shell))
        .addAllResources(resources).build();
  }

  /** A task run by {@code executor}, with {@code data} handed to it. */
  public static TaskInfo executorTask(Offer offer, String name, ExecutorInfo executor, Collection<Resource> resources,
      byte[] data) {
    TaskInfo.Builder t = TaskInfo.newBuilder().setName(name)
        .setTaskId(TaskID.newBuilder().setValue(name + "-" + UUID.randomUUID().toString().substring(0, 12)))
        .setAgentId(offer.getAgentId()).setExecutor(executor).addAllResources(resources);
    if (data != null) t.setData(ByteString.copyFrom(data));
    return t.build();
  }

  /** "TASK_RUNNING" for TASK_RUNNING. */
  public static String stateName(TaskState state) {
    return state.name();
  }

  /** Whether a task in {@code state} will not change state again. */
  public static boolean isTerminal(TaskState state) {
    return TERMINAL.contains(state);
  }
}
