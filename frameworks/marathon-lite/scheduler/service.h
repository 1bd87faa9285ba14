// The service: marathon-lite's state (apps, tasks, deployments) and what
// changes it. It owns one event loop; REST handlers and the SDK adapter
// hand it work from their threads, and every field below is touched on
// that loop only. It reaches the cluster through `Cluster`, so that it can
// be driven without one.
#pragma once

#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "corral/common/event_loop.h"
#include "corral/framework/driver_adapter.h"
#include "corral/v1/corral.pb.h"
#include "model/app.h"
#include "planner/planner.h"
#include "scheduler/readiness.h"
#include "store/store.h"

namespace corral::marathon {

// What the service asks of the cluster (framework_kit's, implemented over
// the SDK's scheduler driver). Called on the service's loop.
using framework::Cluster;

struct ServiceOptions {
  std::string role = "*";
  double reconciliation_interval = 60;  // seconds between reconciliations
  int service_port_min = 10000;         // assigned service ports, [min, max)
  int service_port_max = 20000;
};

struct AppEntry {
  App app;
  Backoff backoff;
  std::map<std::string, Task> tasks;  // by ID
};

// What readers see (Service::Read).
struct ServiceState {
  std::map<std::string, AppEntry> apps;           // by app ID
  std::map<std::string, Deployment> deployments;  // by app ID: one per app
  std::map<std::string, Task> doomed;             // tasks of deleted apps, being killed
  std::string framework_id;
  bool subscribed = false;
  int64_t launched = 0;  // tasks launched since start (for /metrics)
};

// What a change of an app returns: the new version and its deployment.
struct ChangeResult {
  std::string version;
  std::string deployment_id;
};

// A /v2/events subscriber: gets (eventType, JSON) on the service's loop;
// returning false drops it (the client went away).
using EventSink = std::function<bool(const std::string& type, const std::string& json)>;

class Service : public framework::FrameworkEvents {
 public:
  Service(std::unique_ptr<Store> store, ServiceOptions options, Clock* clock = RealClock());
  ~Service() override;

  // Loads the store. Any thread, once, before anything else.
  absl::Status Load();
  // Framework ID from the store, if there is one. After Load.
  std::optional<std::string> StoredFrameworkId() const { return stored_framework_id_; }
  void SetCluster(Cluster* cluster);  // before the SDK driver starts
  void Stop();

  // --- from the REST API (any thread but the loop's; they wait) ---
  // Runs `fn(const ServiceState&)` on the loop and returns what it returns.
  template <typename Fn>
  auto Read(Fn fn) {
    return loop_.Call([this, &fn] { return fn(static_cast<const ServiceState&>(state_)); });
  }
  // AlreadyExistsError when the app exists.
  absl::StatusOr<ChangeResult> CreateApp(App app);
  // Replaces the definition (creates it when absent). FailedPrecondition
  // naming the deployment when one is running and !force.
  absl::StatusOr<ChangeResult> UpdateApp(App app, bool force);
  absl::StatusOr<ChangeResult> RestartApp(const std::string& app_id, bool force);
  absl::StatusOr<ChangeResult> DeleteApp(const std::string& app_id, bool force);
  // Kills the tasks (unknown ones are skipped); `scale` lowers instances.
  absl::StatusOr<std::vector<Task>> KillTasks(const std::vector<std::string>& task_ids, bool scale);
  // Rolls the deployment back (to the previous version, or deletes a new
  // app); force=true only stops tracking it.
  absl::StatusOr<ChangeResult> CancelDeployment(const std::string& deployment_id, bool force);
  // The app back to one of its stored versions (PUT {"version": v}); its
  // tasks of that version's configuration are kept.
  absl::StatusOr<ChangeResult> RollbackApp(const std::string& app_id, const std::string& version, bool force);
  // A canary deployment rolls on. FailedPrecondition when it is not one.
  absl::StatusOr<ChangeResult> PromoteDeployment(const std::string& deployment_id);
  absl::StatusOr<std::vector<std::string>> Versions(const std::string& app_id);
  absl::StatusOr<App> Version(const std::string& app_id, const std::string& version);
  // The launch delay of an app back to none (DELETE /v2/queue/{app}/delay).
  absl::Status ResetDelay(const std::string& app_id);

  // Events of `types` (all when empty) from now on. Any thread.
  void Subscribe(std::set<std::string> types, EventSink sink);
  // Sends an event built elsewhere (api_post_event) to the subscribers.
  void Publish(std::string type, std::string json);

  // --- from the SDK adapter (any thread; they return at once) ---
  void Subscribed(const std::string& framework_id) override;
  void Disconnected() override;
  void Offers(std::vector<v1::Offer> offers) override;
  void Update(v1::TaskStatus status) override;

 private:
  // Everything below: the loop thread only.
  absl::StatusOr<ChangeResult> ApplyChange(App app, const std::string& action, bool force, bool config_change);
  absl::StatusOr<ChangeResult> RollbackTo(const std::string& app_id, const std::string& version, bool force);
  std::string NextVersion();
  absl::Status AssignServicePorts(App* app);
  void MarkDirty(const std::string& app_id);
  void ScheduleReplan();
  void Replan(bool all);
  void KillTask(Task* task, double grace_seconds);
  void HandleOffers(const std::vector<v1::Offer>& offers);
  void HandleUpdate(const v1::TaskStatus& status);
  void Reconcile();
  void Tick();
  void Emit(const std::string& type, const std::string& json);
  void EmitDeployment(const char* type, const Deployment& d, const std::string& reason = "");
  void EmitTaskChange(const Task& task, const std::string& message);
  void DeploymentDone(const std::string& app_id, bool failed, const std::string& reason);
  // Ends the StopApplication deployment of the deleted app `app_id` once
  // none of its tasks is left.
  void StopDoneIfLast(const std::string& app_id);
  // The app whose deployment `app`'s deployment waits for (one of its
  // dependencies, deploying), or "".
  std::string DeploymentWaitsFor(const App& app) const;
  void CheckReadiness(const AppEntry& entry, absl::Time now);
  absl::Status Persist(const Task& task);
  v1::TaskInfo BuildTaskInfo(const App& app, const Task& task, const v1::Offer& offer,
                             const std::vector<v1::Resource>& resources) const;

  std::unique_ptr<Store> store_;
  ServiceOptions options_;
  Clock* clock_;
  Cluster* cluster_ = nullptr;
  std::optional<std::string> stored_framework_id_;
  ServiceState state_;
  std::set<std::string> dirty_;
  std::map<std::string, int> pending_launches_;  // by app ID, from the last plan
  struct Subscriber {
    std::set<std::string> types;
    EventSink sink;
  };
  std::vector<Subscriber> subscribers_;
  // By app ID: a deployment's Progress() and when it last grew (stored
  // with the deployment, and read back on a restart).
  std::map<std::string, std::pair<int, absl::Time>> progress_;
  bool replan_scheduled_ = false;
  EventLoop::TimerId reconcile_timer_ = 0;
  bool offers_wanted_ = true;  // the driver subscribes unsuppressed
  std::string last_version_;
  // Readiness checks in flight, and when each unready task is checked next.
  std::set<std::string> readiness_in_flight_;
  std::map<std::string, absl::Time> readiness_due_;
  EventLoop loop_;  // stops (and joins) before the state goes
  // After the loop: its threads are joined first, and post to the loop.
  ReadinessChecker readiness_;
};

}  // namespace corral::marathon
