#include "corral/framework/driver_adapter.h"

#include "corral/common/logging.h"

namespace corral::framework {

DriverAdapter::DriverAdapter(FrameworkEvents* events, const FrameworkOptions& options)
    : events_(events), name_(options.name) {
  v1::FrameworkInfo fw;
  fw.set_name(options.name);
  fw.set_user(options.user);
  fw.set_failover_timeout(options.failover_timeout);
  fw.set_checkpoint(true);
  fw.add_roles(options.role);
  fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::MULTI_ROLE);
  // TASK_UNREACHABLE rather than TASK_LOST for tasks on an agent that is
  // away: the service decides when such a task is given up.
  fw.add_capabilities()->set_type(v1::FrameworkInfo::Capability::PARTITION_AWARE);
  if (!options.principal.empty()) fw.set_principal(options.principal);
  if (!options.webui_url.empty()) fw.set_webui_url(options.webui_url);
  if (options.framework_id) fw.mutable_id()->set_value(*options.framework_id);
  SchedulerDriverOptions o;
  // Acknowledged by the service once the update is in its store.
  o.implicit_acknowledgements = false;
  if (!options.secret.empty()) {
    o.principal = options.principal;
    o.secret = options.secret;
  }
  driver_ = std::make_unique<SchedulerDriver>(this, fw, options.master, o);
}

DriverAdapter::~DriverAdapter() { Stop(); }

absl::Status DriverAdapter::Start() { return driver_->start(); }

void DriverAdapter::Stop() {
  if (driver_ && driver_->status() == DriverStatus::kRunning) (void)driver_->stop(/*failover=*/true);
}

std::optional<absl::Status> DriverAdapter::JoinFor(double seconds) { return driver_->joinFor(seconds); }

void DriverAdapter::subscribed(SchedulerDriver*, const v1::FrameworkID& id, const v1::MasterInfo&) {
  CORRAL_LOG(INFO) << name_ << ": subscribed as framework " << id.value();
  events_->Subscribed(id.value());
}

void DriverAdapter::offers(SchedulerDriver*, const std::vector<v1::Offer>& offers) { events_->Offers(offers); }

void DriverAdapter::update(SchedulerDriver*, const v1::TaskStatus& status) { events_->Update(status); }

void DriverAdapter::disconnected(SchedulerDriver*) { events_->Disconnected(); }

void DriverAdapter::error(SchedulerDriver*, const std::string& message) {
  CORRAL_LOG(ERROR) << name_ << ": the master refused the framework: " << message;
}

absl::Status DriverAdapter::Launch(const v1::OfferID& offer, const std::vector<v1::TaskInfo>& tasks) {
  return driver_->launch(offer, tasks);
}

void DriverAdapter::Decline(const std::vector<v1::OfferID>& offers, double refuse_seconds) {
  v1::Filters f;
  f.set_refuse_seconds(refuse_seconds);
  if (auto s = driver_->decline(offers, f); !s.ok()) CORRAL_LOG(WARNING) << name_ << ": decline: " << s;
}

void DriverAdapter::Kill(const std::string& task_id, const std::string& agent_id, double grace_seconds) {
  v1::TaskID t;
  t.set_value(task_id);
  v1::AgentID a;
  a.set_value(agent_id);
  absl::Status s;
  if (grace_seconds > 0) {
    v1::KillPolicy p;
    p.mutable_grace_period()->set_nanoseconds(static_cast<int64_t>(grace_seconds * 1e9));
    s = driver_->killWithPolicy(t, a, p);
  } else {
    s = driver_->kill(t, a);
  }
  if (!s.ok()) CORRAL_LOG(WARNING) << name_ << ": kill " << task_id << ": " << s;
}

void DriverAdapter::Acknowledge(const v1::TaskStatus& status) {
  // Not waiting for the master: a service acknowledges a whole batch of
  // stored updates at once, and a lost acknowledgement only brings the
  // update again.
  if (auto s = driver_->acknowledgeAsync(status.agent_id(), status.task_id(), status.uuid()); !s.ok()) {
    CORRAL_LOG(WARNING) << name_ << ": acknowledge " << status.task_id().value() << ": " << s;
  }
}

void DriverAdapter::Reconcile(const std::vector<std::pair<std::string, std::string>>& tasks) {
  std::vector<v1::scheduler::Call::Reconcile::Task> list;
  for (const auto& [task_id, agent_id] : tasks) {
    v1::scheduler::Call::Reconcile::Task t;
    t.mutable_task_id()->set_value(task_id);
    if (!agent_id.empty()) t.mutable_agent_id()->set_value(agent_id);
    list.push_back(std::move(t));
  }
  if (auto s = driver_->reconcile(list); !s.ok()) CORRAL_LOG(WARNING) << name_ << ": reconcile: " << s;
}

void DriverAdapter::Revive() {
  if (auto s = driver_->revive(); !s.ok()) CORRAL_LOG(WARNING) << name_ << ": revive: " << s;
}

void DriverAdapter::Suppress() {
  if (auto s = driver_->suppress(); !s.ok()) CORRAL_LOG(WARNING) << name_ << ": suppress: " << s;
}

}  // namespace corral::framework
