// Corral C++ SDK: writing a framework scheduler.
//
// Subclass Scheduler and hand it to a SchedulerDriver. The driver subscribes
// to the master, reconnects with backoff and resubscribes with its framework
// ID when the connection drops, and acknowledges status updates for you
// unless you ask to do it yourself.
//
// Threading: every Scheduler callback runs serially on one SDK thread, the
// driver's callback thread. Driver methods are thread-safe and may be called
// from any thread, including from inside callbacks.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "corral/v1/corral.pb.h"
#include "corral/v1/scheduler.pb.h"

namespace corral {

class SchedulerDriver;

class Scheduler {
 public:
  virtual ~Scheduler() = default;
  // Subscribed (again): `framework_id` is the framework's ID for good.
  virtual void subscribed(SchedulerDriver* /*driver*/, const v1::FrameworkID& /*framework_id*/,
                          const v1::MasterInfo& /*master*/) {}
  virtual void offers(SchedulerDriver* /*driver*/, const std::vector<v1::Offer>& /*offers*/) {}
  virtual void rescinded(SchedulerDriver* /*driver*/, const v1::OfferID& /*offer_id*/) {}
  // Maintenance: the master asks the framework to move off agents whose
  // machine will be unavailable (answer with acceptInverseOffers or
  // declineInverseOffers), and withdraws such a request.
  virtual void inverseOffers(SchedulerDriver* /*driver*/, const std::vector<v1::InverseOffer>& /*inverse_offers*/) {}
  virtual void rescindedInverseOffer(SchedulerDriver* /*driver*/, const v1::OfferID& /*inverse_offer_id*/) {}
  virtual void update(SchedulerDriver* /*driver*/, const v1::TaskStatus& /*status*/) {}
  virtual void message(SchedulerDriver* /*driver*/, const v1::AgentID& /*agent_id*/,
                       const v1::ExecutorID& /*executor_id*/, const std::string& /*data*/) {}
  // An executor exited (`status` is its wait status).
  virtual void failure(SchedulerDriver* /*driver*/, const v1::AgentID& /*agent_id*/,
                       const v1::ExecutorID& /*executor_id*/, int /*status*/) {}
  // The master reported an error; the driver has stopped (aborted).
  virtual void error(SchedulerDriver* /*driver*/, const std::string& /*message*/) {}
  // The connection to the master dropped; the driver is reconnecting.
  virtual void disconnected(SchedulerDriver* /*driver*/) {}
};

enum class DriverStatus { kNotStarted, kRunning, kAborted, kStopped };

struct SchedulerDriverOptions {
  // Acknowledge each status update after update() returns.
  bool implicit_acknowledgements = true;
  double reconnect_backoff_min = 0.1;  // seconds
  double reconnect_backoff_max = 2.0;
  double call_timeout = 30.0;  // per call to the master
  // With a zk:// master URL: the session timeout of the driver's own
  // ZooKeeper session, which it uses only to find the leader.
  double zk_session_timeout = 10.0;
  // The credential the driver authenticates with (HTTP Basic, as gRPC
  // metadata on every call) where the master's --authenticate_frameworks is
  // on. Empty principal: CORRAL_PRINCIPAL and CORRAL_SECRET, or the file
  // CORRAL_CREDENTIAL names, if set; else none. An empty
  // FrameworkInfo.principal is filled with it.
  std::string principal;
  std::string secret;
  // TLS to the master (docs/security.md#tls): on with `tls`, or, where it
  // is off and every field below empty, as the LIBPROCESS_SSL_* environment
  // says (LIBPROCESS_SSL_ENABLED, _CA_FILE, _CA_DIR, _CERT_FILE,
  // _KEY_FILE). The master's certificate is verified against tls_ca_file
  // (else the system's CAs) and the host dialled; tls_cert_file and
  // tls_key_file are the client certificate a master with
  // --ssl_require_cert asks for.
  bool tls = false;
  std::string tls_ca_file;
  std::string tls_cert_file;
  std::string tls_key_file;
};

class SchedulerDriver {
 public:
  // `master` is "host:port" of the master's gRPC endpoint, or
  // zk://[user:pass@]host:port[,...]/path where masters are elected through
  // ZooKeeper: the driver follows the leader and subscribes again (with its
  // framework ID) whenever it changes. An empty framework.user is filled
  // with the current user.
  SchedulerDriver(Scheduler* scheduler, const v1::FrameworkInfo& framework, const std::string& master,
                  const SchedulerDriverOptions& options = SchedulerDriverOptions());
  ~SchedulerDriver();  // stops with failover (the framework is not torn down)

  SchedulerDriver(const SchedulerDriver&) = delete;
  SchedulerDriver& operator=(const SchedulerDriver&) = delete;

  absl::Status start();
  // failover=false tears the framework down (its tasks are killed);
  // failover=true only disconnects, so another driver can take over.
  absl::Status stop(bool failover = false);
  absl::Status abort();
  // Blocks until the driver is stopped or aborted. Returns the error that
  // aborted it, if any.
  absl::Status join();
  // join() for at most `seconds`: nullopt if the driver is still running.
  // Lets a caller stay responsive (to signals, say) while it waits.
  std::optional<absl::Status> joinFor(double seconds);
  absl::Status run();  // start() then join()
  DriverStatus status() const;
  // Empty until subscribed.
  v1::FrameworkID framework_id() const;

  // --- calls; each returns the master's verdict ---
  absl::Status accept(const std::vector<v1::OfferID>& offer_ids, const std::vector<v1::Offer::Operation>& operations,
                      const v1::Filters& filters = v1::Filters());
  absl::Status launch(const v1::OfferID& offer_id, const std::vector<v1::TaskInfo>& tasks,
                      const v1::Filters& filters = v1::Filters());
  absl::Status launchGroup(const v1::OfferID& offer_id, const v1::ExecutorInfo& executor,
                           const v1::TaskGroupInfo& group, const v1::Filters& filters = v1::Filters());
  absl::Status decline(const std::vector<v1::OfferID>& offer_ids, const v1::Filters& filters = v1::Filters());
  absl::Status acceptInverseOffers(const std::vector<v1::OfferID>& inverse_offer_ids,
                                   const v1::Filters& filters = v1::Filters());
  absl::Status declineInverseOffers(const std::vector<v1::OfferID>& inverse_offer_ids,
                                    const v1::Filters& filters = v1::Filters());
  absl::Status kill(const v1::TaskID& task_id, const v1::AgentID& agent_id = v1::AgentID());
  absl::Status killWithPolicy(const v1::TaskID& task_id, const v1::AgentID& agent_id, const v1::KillPolicy& policy);
  absl::Status acknowledge(const v1::AgentID& agent_id, const v1::TaskID& task_id, const std::string& uuid);
  // The same acknowledgement without waiting for the master's answer (as
  // implicit acknowledgements are sent): many can be in flight at once. One
  // that is lost is harmless, the agent sends the update again. Fails only
  // when the driver is not subscribed.
  absl::Status acknowledgeAsync(const v1::AgentID& agent_id, const v1::TaskID& task_id, const std::string& uuid);
  // Empty `tasks` asks for every task of the framework (implicit).
  absl::Status reconcile(const std::vector<v1::scheduler::Call::Reconcile::Task>& tasks);
  absl::Status revive(const std::vector<std::string>& roles = {});
  absl::Status suppress(const std::vector<std::string>& roles = {});
  absl::Status message(const v1::AgentID& agent_id, const v1::ExecutorID& executor_id, const std::string& data);
  absl::Status shutdown(const v1::ExecutorID& executor_id, const v1::AgentID& agent_id);
  // Any call; framework_id is filled in.
  absl::Status call(const v1::scheduler::Call& call);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral
