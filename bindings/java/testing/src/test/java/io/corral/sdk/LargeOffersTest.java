package io.corral.sdk;

import static org.junit.jupiter.api.Assertions.assertTrue;

import io.corral.Helpers;
import io.corral.SchedulerDriver;
import io.corral.testing.LocalCluster;
import io.corral.v1.Protos.Offer;
import org.junit.jupiter.api.Test;

class LargeOffersTest {
  /** An agent with 3,000 kinds of resource: its offer crosses into Java whole. */
  @Test
  void anOfferWithThousandsOfResources() throws Exception {
    StringBuilder resources = new StringBuilder("cpus:4;mem:4096");
    for (int i = 0; i < 3000; i++) resources.append(";gadget").append(i).append(":1");
    try (LocalCluster cluster = LocalCluster.builder().agents(1).resources(resources.toString()).start()) {
      Recorder r = new Recorder();
      try (SchedulerDriver driver = new SchedulerDriver(r, Helpers.framework("java-large"), cluster.master())) {
        driver.start();
        Offer offer = r.takeOffer();
        assertTrue(offer.getResourcesCount() >= 3002, "offer has " + offer.getResourcesCount() + " resources");
        assertTrue(offer.getResourcesList().stream().anyMatch(x -> x.getName().equals("gadget2999")));
        driver.stop();
      }
    }
  }
}
