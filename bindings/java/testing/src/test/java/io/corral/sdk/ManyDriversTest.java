package io.corral.sdk;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.corral.Helpers;
import io.corral.SchedulerDriver;
import io.corral.internal.CorralNative;
import io.corral.testing.LocalCluster;
import java.io.IOException;
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.ArrayList;
import java.util.List;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.Future;
import java.util.stream.Stream;
import org.junit.jupiter.api.Test;

class ManyDriversTest {
  /** Threads of this process, native ones included. */
  static long threads() throws IOException {
    try (Stream<Path> s = Files.list(Path.of("/proc/self/task"))) {
      return s.count();
    }
  }

  static long rssKiB() throws IOException {
    for (String line : Files.readAllLines(Path.of("/proc/self/status"))) {
      if (line.startsWith("VmRSS:")) return Long.parseLong(line.replaceAll("[^0-9]", ""));
    }
    return 0;
  }

  static void round(LocalCluster cluster, ExecutorService pool, int n) throws Exception {
    List<Future<SchedulerDriver>> started = new ArrayList<>();
    for (int i = 0; i < n; i++) {
      final int k = i;
      started.add(pool.submit(() -> {
        Recorder r = new Recorder();
        SchedulerDriver d = new SchedulerDriver(r, Helpers.framework("many-" + k), cluster.master());
        d.start();
        r.await("subscribed", () -> r.subscribed > 0);
        return d;
      }));
    }
    List<Future<?>> closed = new ArrayList<>();
    for (Future<SchedulerDriver> f : started) {
      SchedulerDriver d = f.get();
      closed.add(pool.submit(() -> {
        d.stop();
        d.close();
      }));
    }
    for (Future<?> f : closed) f.get();
    assertTrue(CorralNative.waitForClosing(30));
  }

  /** 50 drivers started and stopped at once, three times: threads and memory come back. */
  @Test
  void fiftyDriversComeAndGoWithoutLeaving() throws Exception {
    ExecutorService pool = Executors.newFixedThreadPool(8);
    try (LocalCluster cluster = LocalCluster.builder().agents(1).start()) {
      round(cluster, pool, 50);  // warms up gRPC's and the JVM's own pools
      long threads = threads(), rss = rssKiB();
      for (int i = 0; i < 3; i++) round(cluster, pool, 50);
      long deadline = System.nanoTime() + 30_000_000_000L;
      while (threads() > threads && System.nanoTime() < deadline) Thread.sleep(50);
      assertTrue(threads() <= threads, "threads: " + threads + " before, " + threads() + " after");
      long grown = rssKiB() - rss;
      assertTrue(grown < 64 * 1024, "resident memory grew by " + grown + " KiB over 150 drivers");
    } finally {
      pool.shutdownNow();
    }
  }
}
