package io.corral.sdk;

import io.corral.Helpers;
import io.corral.SchedulerDriver;

/** For ChildJvmTest: subscribes, then returns from main without stopping the driver. */
public final class LeavesADriverRunning {
  public static void main(String[] args) throws Exception {
    Recorder r = new Recorder();
    SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("left-running"), args[0]);
    driver.start();
    r.await("subscribed", () -> r.subscribed > 0);
    System.out.println("subscribed; leaving");
  }
}
