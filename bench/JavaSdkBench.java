// Java SDK vs C++ SDK: the workloads of bench/sdk_events_bench.cc (and
// bench/python_sdk_bench.py) from Java, on the same in-process LocalCluster,
// then (with --cpp) the C++ benchmark binary; prints medians and Java/C++:
//
//   updates/s  one RECONCILE of 10,000 unknown tasks -> 10,000 UPDATE events
//   offers/s   10 agents, 1 ms allocation interval, every offer declined at once
//   call (us)  SUPPRESS calls one after another
//
//   bash bench/java_sdk_bench.sh          (builds nothing; run scripts/dev.sh java first)
import io.corral.Helpers;
import io.corral.Scheduler;
import io.corral.SchedulerDriver;
import io.corral.testing.LocalCluster;
import io.corral.v1.Protos.FrameworkID;
import io.corral.v1.Protos.MasterInfo;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.OfferID;
import io.corral.v1.Protos.TaskID;
import io.corral.v1.Protos.TaskState;
import io.corral.v1.Protos.TaskStatus;
import java.io.BufferedReader;
import java.io.InputStreamReader;
import java.time.Duration;
import java.util.ArrayList;
import java.util.Collections;
import java.util.HashMap;
import java.util.List;
import java.util.Map;
import java.util.regex.Matcher;
import java.util.regex.Pattern;

public class JavaSdkBench {
  static final int UPDATES = 10_000, OFFERS = 2_000, CALLS = 2_000;

  /** Counts events; wakes the waiter only when a target is reached. */
  static final class Counting implements Scheduler {
    final Duration refuse;
    volatile boolean subscribed;
    volatile long updates, offers, target;

    Counting(Duration refuse) {
      this.refuse = refuse;
    }

    @Override
    public void subscribed(SchedulerDriver d, FrameworkID id, MasterInfo m) {
      synchronized (this) {
        subscribed = true;
        notifyAll();
      }
    }

    @Override
    public void offers(SchedulerDriver d, List<Offer> o) {
      List<OfferID> ids = new ArrayList<>(o.size());
      for (Offer x : o) ids.add(x.getId());
      d.decline(ids, refuse);
      offers += o.size();
      if (offers >= target) wake();
    }

    @Override
    public void update(SchedulerDriver d, TaskStatus s) {
      updates++;
      if (updates >= target) wake();
    }

    synchronized void wake() {
      notifyAll();
    }

    synchronized void await(java.util.function.BooleanSupplier done) throws InterruptedException {
      long deadline = System.nanoTime() + 60_000_000_000L;
      while (!done.getAsBoolean()) {
        long left = (deadline - System.nanoTime()) / 1_000_000;
        if (left <= 0) throw new IllegalStateException("benchmark events did not arrive");
        wait(Math.min(left, 10));
      }
    }
  }

  static SchedulerDriver subscribe(LocalCluster c, String name, Counting s) throws InterruptedException {
    SchedulerDriver d = new SchedulerDriver(s, Helpers.framework(name), c.master());
    d.start();
    s.await(() -> s.subscribed);
    return d;
  }

  static double median(List<Double> v) {
    List<Double> s = new ArrayList<>(v);
    Collections.sort(s);
    int n = s.size();
    return n % 2 == 1 ? s.get(n / 2) : (s.get(n / 2 - 1) + s.get(n / 2)) / 2;
  }

  static double updates(int reps) throws Exception {
    List<Double> out = new ArrayList<>();
    try (LocalCluster c = LocalCluster.builder().agents(1).start()) {
      Counting s = new Counting(Duration.ofHours(1));
      try (SchedulerDriver d = subscribe(c, "bench-updates", s)) {
        List<TaskStatus> tasks = new ArrayList<>();
        for (int i = 0; i < UPDATES; i++) {
          tasks.add(TaskStatus.newBuilder().setTaskId(TaskID.newBuilder().setValue("unknown-" + i))
              .setState(TaskState.TASK_STAGING).build());
        }
        for (int r = 0; r < reps + 1; r++) {  // the first round warms the JIT up
          long target = s.updates + UPDATES;
          s.target = target;
          long start = System.nanoTime();
          d.reconcile(tasks);
          s.await(() -> s.updates >= target);
          if (r > 0) out.add(UPDATES / ((System.nanoTime() - start) / 1e9));
        }
        d.stop();
      }
    }
    return median(out);
  }

  static double offers(int reps) throws Exception {
    List<Double> out = new ArrayList<>();
    try (LocalCluster c = LocalCluster.builder().agents(10).allocationInterval(Duration.ofMillis(1)).start()) {
      Counting s = new Counting(Duration.ZERO);
      try (SchedulerDriver d = subscribe(c, "bench-offers", s)) {
        for (int r = 0; r < reps + 1; r++) {
          long target = s.offers + OFFERS;
          s.target = target;
          long start = System.nanoTime();
          s.await(() -> s.offers >= target);
          if (r > 0) out.add(OFFERS / ((System.nanoTime() - start) / 1e9));
        }
        d.stop();
      }
    }
    return median(out);
  }

  static double calls(int reps) throws Exception {
    List<Double> out = new ArrayList<>();
    try (LocalCluster c = LocalCluster.builder().agents(1).start()) {
      Counting s = new Counting(Duration.ofHours(1));
      try (SchedulerDriver d = subscribe(c, "bench-calls", s)) {
        for (int r = 0; r < reps + 1; r++) {
          long start = System.nanoTime();
          for (int i = 0; i < CALLS; i++) d.suppress();
          if (r > 0) out.add((System.nanoTime() - start) / 1e3 / CALLS);
        }
        d.stop();
      }
    }
    return median(out);
  }

  /** Medians of the C++ benchmark's counters, from its JSON output. */
  static Map<String, Double> cpp(String binary, int reps) throws Exception {
    Process p = new ProcessBuilder(binary, "--benchmark_repetitions=" + reps, "--benchmark_format=json")
        .redirectError(ProcessBuilder.Redirect.DISCARD).start();
    StringBuilder json = new StringBuilder();
    try (BufferedReader r = new BufferedReader(new InputStreamReader(p.getInputStream()))) {
      for (String line; (line = r.readLine()) != null; ) json.append(line).append('\n');
    }
    p.waitFor();
    Map<String, List<Double>> v = new HashMap<>();
    Matcher m = Pattern.compile("\"name\": \"(BM_\\w+)[^\"]*\",.*?\"run_type\": \"(\\w+)\",.*?"
        + "\"(events_per_s|offers_per_s|us_per_call)\": ([0-9.e+]+)", Pattern.DOTALL).matcher(json);
    while (m.find()) {
      if (!m.group(2).equals("iteration")) continue;
      String key = m.group(1).startsWith("BM_UpdateEvents") ? "updates"
          : m.group(1).startsWith("BM_OfferEvents") ? "offers" : "calls";
      v.computeIfAbsent(key, k -> new ArrayList<>()).add(Double.parseDouble(m.group(4)));
    }
    Map<String, Double> out = new HashMap<>();
    v.forEach((k, list) -> out.put(k, median(list)));
    return out;
  }

  public static void main(String[] args) throws Exception {
    int reps = 5;
    String cppBinary = null;
    for (int i = 0; i < args.length; i++) {
      if (args[i].equals("--reps")) reps = Integer.parseInt(args[++i]);
      if (args[i].equals("--cpp")) cppBinary = args[++i];
    }
    Map<String, Double> java = new HashMap<>();
    java.put("updates", updates(reps));
    java.put("offers", offers(reps));
    java.put("calls", calls(reps));
    Map<String, Double> cpp = cppBinary == null ? Map.of() : cpp(cppBinary, reps);
    System.out.printf("%-12s%12s%12s%12s%n", "workload", "Java", "C++", "Java/C++");
    String[][] rows = {{"updates", "updates/s", "1"}, {"offers", "offers/s", "1"}, {"calls", "call (us)", "0"}};
    for (String[] row : rows) {
      double j = java.get(row[0]);
      Double c = cpp.get(row[0]);
      String ratio = c == null ? "" : String.format("%.0f%%", (row[2].equals("1") ? j / c : c / j) * 100);
      System.out.printf("%-12s%12.0f%12s%12s%n", row[1], j, c == null ? "" : String.format("%.0f", c), ratio);
    }
    System.out.println("(Java/C++ is throughput relative to C++: for calls, C++ time / Java time)");
    System.exit(0);
  }
}
