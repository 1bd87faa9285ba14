// The only code of marathon-lite that talks to the Corral SDK: a
// corral::Scheduler that hands events to the Service, and the Cluster the
// Service acts through, over one SchedulerDriver.
//
// Threading: the Scheduler callbacks run on the SDK's callback thread and
// only post to the service; the Cluster methods run on the service's loop
// and call the driver (thread-safe).
#pragma once

#include <memory>
#include <string>

#include "corral/scheduler.h"
#include "scheduler/service.h"

namespace corral::marathon {

struct FrameworkOptions {
  std::string master;  // host:port
  std::string name = "marathon";
  std::string role = "*";
  std::string principal;
  std::string user;
  double failover_timeout = 7 * 24 * 3600.0;
  std::string webui_url;
};

class DriverAdapter : public Scheduler, public Cluster {
 public:
  // Resubscribes with the framework ID the service stored, if any.
  DriverAdapter(Service* service, const FrameworkOptions& options);
  ~DriverAdapter() override;

  absl::Status Start();
  // Disconnects without tearing the framework down (its tasks keep running
  // for the next start).
  void Stop();
  // The error that aborted the driver; nullopt while it runs.
  std::optional<absl::Status> JoinFor(double seconds);

  // Scheduler
  void subscribed(SchedulerDriver*, const v1::FrameworkID& id, const v1::MasterInfo&) override;
  void offers(SchedulerDriver*, const std::vector<v1::Offer>& offers) override;
  void update(SchedulerDriver*, const v1::TaskStatus& status) override;
  void disconnected(SchedulerDriver*) override;
  void error(SchedulerDriver*, const std::string& message) override;

  // Cluster
  absl::Status Launch(const v1::OfferID& offer, const std::vector<v1::TaskInfo>& tasks) override;
  void Decline(const std::vector<v1::OfferID>& offers, double refuse_seconds) override;
  void Kill(const std::string& task_id, const std::string& agent_id, double grace_seconds) override;
  void Acknowledge(const v1::TaskStatus& status) override;
  void Reconcile(const std::vector<std::pair<std::string, std::string>>& tasks) override;
  void Revive() override;
  void Suppress() override;

 private:
  Service* service_;
  std::unique_ptr<SchedulerDriver> driver_;
};

}  // namespace corral::marathon
