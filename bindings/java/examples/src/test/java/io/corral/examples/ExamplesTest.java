package io.corral.examples;

import static org.junit.jupiter.api.Assertions.assertEquals;

import io.corral.testing.LocalCluster;
import io.corral.testing.LocalClusterExtension;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.extension.ExtendWith;

/** The examples, run as their documented command runs them, against an in-process cluster. */
@ExtendWith(LocalClusterExtension.class)
@LocalClusterExtension.Agents(1)
class ExamplesTest {
  @Test
  void helloRunsItsCommandToFinished(LocalCluster cluster) throws Exception {
    assertEquals(0, Hello.run(cluster.master()));
  }

  @Test
  void pingExchangesMessagesWithItsJavaExecutor(LocalCluster cluster) throws Exception {
    assertEquals(0, Ping.run(cluster.master(), 3));
  }
}
