// What a bundled framework (marathon-lite, batch) needs of the Corral SDK,
// and nothing more: `FrameworkEvents`, which its service implements, and
// `Cluster`, what the service asks of the cluster. `DriverAdapter` is both
// ends over one SchedulerDriver, so that a service can be tested without a
// cluster by handing it another Cluster.
//
// Threading: the events are called on the SDK's callback thread (a service
// posts them to its loop); the Cluster methods are called on the service's
// loop and call the driver, which is thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "corral/scheduler.h"

namespace corral::framework {

class FrameworkEvents {
 public:
  virtual ~FrameworkEvents() = default;
  virtual void Subscribed(const std::string& framework_id) = 0;
  virtual void Disconnected() = 0;
  virtual void Offers(std::vector<v1::Offer> offers) = 0;
  // Acknowledged by the service (Cluster::Acknowledge) once it is stored.
  virtual void Update(v1::TaskStatus status) = 0;
};

class Cluster {
 public:
  virtual ~Cluster() = default;
  virtual absl::Status Launch(const v1::OfferID& offer, const std::vector<v1::TaskInfo>& tasks) = 0;
  virtual void Decline(const std::vector<v1::OfferID>& offers, double refuse_seconds) = 0;
  virtual void Kill(const std::string& task_id, const std::string& agent_id, double grace_seconds) = 0;
  virtual void Acknowledge(const v1::TaskStatus& status) = 0;
  // (task ID, agent ID) pairs; none: every task of the framework.
  virtual void Reconcile(const std::vector<std::pair<std::string, std::string>>& tasks) = 0;
  virtual void Revive() = 0;
  virtual void Suppress() = 0;
};

struct FrameworkOptions {
  std::string master;  // host:port
  std::string name;
  std::string role = "*";
  std::string principal;
  std::string secret;  // with principal: the credential presented to the master
  std::string user;
  double failover_timeout = 7 * 24 * 3600.0;
  std::string webui_url;
  std::optional<std::string> framework_id;  // from the store: resubscribe as it
};

class DriverAdapter : public Scheduler, public Cluster {
 public:
  DriverAdapter(FrameworkEvents* events, const FrameworkOptions& options);
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
  FrameworkEvents* events_;
  std::string name_;  // prefixes log lines
  std::unique_ptr<SchedulerDriver> driver_;
};

}  // namespace corral::framework
