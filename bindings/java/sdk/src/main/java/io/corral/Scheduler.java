package io.corral;

import io.corral.v1.Protos.AgentID;
import io.corral.v1.Protos.ExecutorID;
import io.corral.v1.Protos.FrameworkID;
import io.corral.v1.Protos.InverseOffer;
import io.corral.v1.Protos.MasterInfo;
import io.corral.v1.Protos.Offer;
import io.corral.v1.Protos.OfferID;
import io.corral.v1.Protos.TaskStatus;
import java.util.List;

/**
 * A framework's scheduler: implement the events you care about; the others do nothing.
 *
 * <p>Every method runs on the driver's callback thread, one at a time. A method that throws
 * (anything, {@link Error}s included) aborts the driver without tearing the framework down; the
 * status update it was handling is then not acknowledged, so the master sends it again, and
 * {@link SchedulerDriver#join()} throws a {@link CorralException} whose cause is what was thrown.
 */
public interface Scheduler {
  /** Subscribed (or subscribed again): {@code frameworkId} is the framework's for good. */
  default void subscribed(SchedulerDriver driver, FrameworkID frameworkId, MasterInfo master) {}

  /** Resources offered: launch on them, or decline them. */
  default void offers(SchedulerDriver driver, List<Offer> offers) {}

  /** An offer is no longer valid. */
  default void rescinded(SchedulerDriver driver, OfferID offerId) {}

  /** Maintenance: please move off these agents; answer with accept/declineInverseOffers. */
  default void inverseOffers(SchedulerDriver driver, List<InverseOffer> inverseOffers) {}

  /** An inverse offer is withdrawn. */
  default void rescindedInverseOffer(SchedulerDriver driver, OfferID inverseOfferId) {}

  /** A task changed state. Acknowledged after this returns (unless acknowledgements are explicit). */
  default void update(SchedulerDriver driver, TaskStatus status) {}

  /** A framework message from an executor. */
  default void message(SchedulerDriver driver, AgentID agentId, ExecutorID executorId, byte[] data) {}

  /**
   * An agent was lost ({@code executorId} and {@code status} null), or an executor exited with
   * wait status {@code status}.
   */
  default void failure(SchedulerDriver driver, AgentID agentId, ExecutorID executorId, Integer status) {}

  /** The master ended the subscription; the driver has stopped and join() throws. */
  default void error(SchedulerDriver driver, String message) {}

  /** The connection to the master dropped; the driver is reconnecting. */
  default void disconnected(SchedulerDriver driver) {}
}
