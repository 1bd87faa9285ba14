package io.corral.examples;

import io.corral.SchedulerDriver;

/**
 * java -jar corral-examples.jar hello [master]   one shell command, its output in the sandbox
 * java -jar corral-examples.jar ping [master]    a Java executor, messages both ways
 */
public final class Main {
  private Main() {}

  public static void main(String[] args) throws Exception {
    String what = args.length > 0 ? args[0] : "";
    String master = args.length > 1 ? args[1] : SchedulerDriver.defaultMaster();
    switch (what) {
      case "hello":
        System.exit(Hello.run(master));
        break;
      case "ping":
        System.exit(Ping.run(master, 3));
        break;
      case "ping-executor":
        PingExecutor.main(args);
        break;
      default:
        System.err.println("usage: java -jar corral-examples.jar hello|ping [host:port]");
        System.exit(2);
    }
  }
}
