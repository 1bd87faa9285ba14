package io.corral.sdk;

import static org.junit.jupiter.api.Assertions.assertEquals;
import static org.junit.jupiter.api.Assertions.assertThrows;
import static org.junit.jupiter.api.Assertions.assertTrue;

import io.corral.Helpers;
import io.corral.ResourcePool;
import io.corral.SchedulerDriver;
import io.corral.testing.LocalCluster;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.TaskInfo;
import io.corral.v1.Protos.TaskState;
import java.nio.file.Files;
import java.nio.file.Path;
import java.time.Duration;
import java.util.List;
import org.junit.jupiter.api.Test;
import org.junit.jupiter.api.io.TempDir;

/** The Java SDK over mutual TLS to an in-process cluster that requires client certificates. */
class TlsTest {
  /** A CA, a server and a client certificate, by the repository's tests/tls/make_certs.sh. */
  static Path certs(Path dir) throws Exception {
    Path script = null;
    for (Path p = Path.of("").toAbsolutePath(); p != null && script == null; p = p.getParent()) {
      Path candidate = p.resolve("tests/tls/make_certs.sh");
      if (Files.exists(candidate)) script = candidate;
    }
    assertTrue(script != null, "tests/tls/make_certs.sh not found above " + Path.of("").toAbsolutePath());
    Process p = new ProcessBuilder("bash", script.toString(), dir.toString()).inheritIO().start();
    assertEquals(0, p.waitFor());
    return dir;
  }

  @Test
  void aTaskRunsOverMutualTls(@TempDir Path tmp) throws Exception {
    Path c = certs(tmp);
    try (LocalCluster cluster = LocalCluster.builder().agents(1)
             .tls(c.resolve("server.crt").toString(), c.resolve("server.key").toString(),
                 c.resolve("ca.crt").toString(), true)
             .start()) {
      Recorder r = new Recorder();
      SchedulerDriver.Options options = new SchedulerDriver.Options().tls(c.resolve("ca.crt").toString(),
          c.resolve("client.crt").toString(), c.resolve("client.key").toString());
      try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-tls"), cluster.master(), options)) {
        driver.start();
        Offer offer = r.takeOffer();
        TaskInfo t = Helpers.commandTask(offer, "over-tls", "echo over tls",
            new ResourcePool(offer).take(0.1, 16, 0, 0).orElseThrow());
        driver.launchAsync(offer.getId(), List.of(t)).get();
        r.awaitState(t.getTaskId().getValue(), TaskState.TASK_FINISHED);
        driver.stop();
        assertTrue(driver.join(Duration.ofSeconds(10)));
      }
    }
  }

  @Test
  void aClientCertificateNeedsItsKey() {
    assertThrows(IllegalArgumentException.class, () -> new SchedulerDriver.Options().tls("ca.crt", "client.crt", ""));
  }
}
