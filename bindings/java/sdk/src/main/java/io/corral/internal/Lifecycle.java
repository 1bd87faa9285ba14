package io.corral.internal;

import java.util.Set;
import java.util.concurrent.ConcurrentHashMap;
import java.util.concurrent.ExecutorService;
import java.util.concurrent.Executors;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.lang.ref.Cleaner;

/**
 * What the scheduler and executor drivers share about their life:
 * <ul>
 *   <li>a running driver is held here, so that it keeps working when the program drops its last
 *       reference to it (and its events keep flowing while the GC runs);</li>
 *   <li>native objects are freed by a {@link Cleaner} once their driver is unreachable, never by
 *       {@code finalize()}, and never while a call may still use them;</li>
 *   <li>at JVM exit every driver still open is closed (never tearing a framework down), with a
 *       bounded wait, so a callback that calls System.exit cannot hang the exit.</li>
 * </ul>
 */
public final class Lifecycle {
  public static final Cleaner CLEANER = Cleaner.create();
  private static final Set<Object> RUNNING = ConcurrentHashMap.newKeySet();
  private static final Set<Runnable> OPEN = ConcurrentHashMap.newKeySet();
  private static final ExecutorService ASYNC = Executors.newCachedThreadPool(new ThreadFactory() {
    private final AtomicInteger n = new AtomicInteger();

    @Override
    public Thread newThread(Runnable r) {
      Thread t = new Thread(r, "corral-async-" + n.incrementAndGet());
      t.setDaemon(true);
      return t;
    }
  });

  static {
    Runtime.getRuntime().addShutdownHook(new Thread(Lifecycle::closeAll, "corral-shutdown"));
  }

  private Lifecycle() {}

  public static void running(Object driver) {
    RUNNING.add(driver);
  }

  public static void stopped(Object driver) {
    RUNNING.remove(driver);
  }

  /** Registers what closes a driver's native side, run at exit if still registered. */
  public static void open(Runnable close) {
    OPEN.add(close);
  }

  public static void closed(Runnable close) {
    OPEN.remove(close);
  }

  /** Where the CompletableFuture variants of calls run. */
  public static ExecutorService async() {
    return ASYNC;
  }

  private static void closeAll() {
    Thread closer = new Thread(() -> {
      for (Runnable r : OPEN.toArray(new Runnable[0])) r.run();
      CorralNative.waitForClosing(5);
    }, "corral-close-at-exit");
    closer.setDaemon(true);
    closer.start();
    try {
      closer.join(10_000);
    } catch (InterruptedException e) {
      Thread.currentThread().interrupt();
    }
  }
}
