package io.corral.sdk;

import static org.junit.jupiter.api.Assertions.assertArrayEquals;
import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.corral.Helpers;
import io.corral.ResourcePool;
import io.corral.SchedulerDriver;
import io.corral.testing.LocalCluster;
import io.corral.testing.LocalClusterExtension;
import io.corral.v1.Protos.ExecutorInfo;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.Resource;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.util.List;
import java.util.Random;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

@ExtendWith(LocalClusterExtension.class)
@LocalClusterExtension.Agents(1)
class ExecutorDriverTest {
  /** A Java executor; 4 MiB of bytes with NULs and invalid UTF-8 both ways, and task data on the way in. */
  @Test
  void aJavaExecutorExchangesLargeBinaryMessages(LocalCluster cluster) throws Exception {
    Recorder r = new Recorder();
    byte[] payload = new byte[4 << 20];
    new Random(7).nextBytes(payload);
    payload[0] = 0;
    payload[1] = (byte) 0xff;
    payload[2] = (byte) 0xc3;  // a lone UTF-8 lead byte
    byte[] data = {0, (byte) 0xfe, 'x', 0};
    try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-executor"), cluster.master())) {
      driver.start();
      Offer offer = r.takeOffer();
      ResourcePool pool = new ResourcePool(offer);
      List<Resource> forExecutor = pool.take(0.1, 256, 0, 0).orElseThrow();
      List<Resource> forTask = pool.take(0.1, 32, 0, 0).orElseThrow();
      String javaBin = System.getProperty("java.home") + "/bin/java";
      ExecutorInfo executor = Helpers.executor("echo", "exec '" + javaBin + "' -Xmx256m -cp '"
          + System.getProperty("java.class.path") + "' io.corral.sdk.EchoExecutor", forExecutor);
      TaskInfo task = Helpers.executorTask(offer, "echo", executor, forTask, data);
      driver.launch(offer.getId(), List.of(task));
      TaskStatus running = r.awaitState(task.getTaskId().getValue(), TaskState.TASK_RUNNING);
      assertArrayEquals(data, running.getData().toByteArray());

      driver.message(running.getAgentId(), running.getExecutorId(), payload);
      r.await("the echo", () -> !r.messages.isEmpty());
      byte[] back = r.messages.get(0);
      assertEquals(payload.length, back.length);
      for (int i = 0; i < payload.length; i++) {
        if (payload[i] != back[payload.length - 1 - i]) throw new AssertionError("byte " + i + " differs");
      }
      driver.kill(task.getTaskId());
      r.awaitState(task.getTaskId().getValue(), TaskState.TASK_KILLED);
      driver.stop();
      assertTrue(driver.join(java.time.Duration.ofSeconds(10)));
    }
  }
}
