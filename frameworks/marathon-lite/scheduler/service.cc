#include "scheduler/service.h"

#include <algorithm>
#include <limits>
#include <cmath>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/framework/offer_space.h"
#include "model/app_json.h"

namespace corral::marathon {
namespace {

constexpr double kRefuseSeconds = 5;  // offers declined while nothing waits to launch
constexpr double kTickSeconds = 1;    // full replan: launch delays ending, unreachable tasks expiring

using framework::AttributeText;
using framework::OfferSpace;

// `app`'s host ports: the service ports themselves with requirePorts, any
// free ones otherwise. nullopt when the offer lacks them.
std::optional<std::vector<int>> TakeAppPorts(OfferSpace& space, const App& app) {
  if (!app.require_ports) return space.TakePorts({}, app.port_definitions.size());
  std::vector<int> required;
  for (const auto& pd : app.port_definitions) required.push_back(pd.port);
  return space.TakePorts(required, 0);
}

// Marathon's definitions are equal but for their instances: a scale.
bool OnlyInstancesDiffer(App a, App b) {
  a.instances = b.instances;
  for (App* x : {&a, &b}) x->version = x->last_scaling_at = x->last_config_change_at = "";
  // The stored form is the comparison: every field, in one order.
  return AppJson(a) == AppJson(b);
}

}  // namespace

Service::Service(std::unique_ptr<Store> store, ServiceOptions options, Clock* clock)
    : store_(std::move(store)), options_(std::move(options)), clock_(clock), loop_("marathon", clock) {}

Service::~Service() { Stop(); }

void Service::Stop() { loop_.Stop(); }

absl::Status Service::Load() {
  return loop_.Call([this]() -> absl::Status {
    auto loaded = store_->Load();
    if (!loaded.ok()) return loaded.status();
    stored_framework_id_ = loaded->framework_id;
    for (auto& app : loaded->apps) {
      last_version_ = std::max(last_version_, app.version);
      std::string id = app.id;
      state_.apps[id].app = std::move(app);
    }
    for (auto& t : loaded->tasks) {
      auto it = state_.apps.find(t.app_id);
      if (it == state_.apps.end()) {
        state_.doomed[t.id] = std::move(t);
      } else {
        std::string id = t.id;
        it->second.tasks[id] = std::move(t);
      }
    }
    for (auto& d : loaded->deployments) {
      if (!d.progress_at.empty()) progress_[d.app_id] = {d.progress, ParseTimestamp(d.progress_at)};
      state_.deployments[d.app_id] = std::move(d);
    }
    // A deletion whose tasks all went before the restart is done.
    std::vector<std::string> stops;
    for (const auto& [app_id, d] : state_.deployments)
      if (d.action == "StopApplication") stops.push_back(app_id);
    for (const auto& app_id : stops) StopDoneIfLast(app_id);
    for (const auto& [id, entry] : state_.apps) dirty_.insert(id);
    loop_.PostAfter(absl::Seconds(kTickSeconds), [this] { Tick(); });
    return absl::OkStatus();
  });
}

void Service::SetCluster(Cluster* cluster) {
  loop_.Call([this, cluster] { cluster_ = cluster; });
}

std::string Service::NextVersion() {
  std::string v = Timestamp(clock_->Now());
  if (v <= last_version_) v = Timestamp(ParseTimestamp(last_version_) + absl::Milliseconds(1));
  last_version_ = v;
  return v;
}

absl::Status Service::AssignServicePorts(App* app) {
  std::set<int> used;
  for (const auto& [id, e] : state_.apps) {
    if (id == app->id) continue;
    for (const auto& pd : e.app.port_definitions) used.insert(pd.port);
  }
  int next = options_.service_port_min;
  for (auto& pd : app->port_definitions) {
    if (pd.port != 0) continue;
    while (next < options_.service_port_max && used.count(next)) ++next;
    if (next >= options_.service_port_max) {
      return absl::ResourceExhaustedError(absl::StrCat("no service port is left in [", options_.service_port_min, ", ",
                                                       options_.service_port_max, ")"));
    }
    pd.port = next;
    used.insert(next++);
  }
  return absl::OkStatus();
}

absl::StatusOr<ChangeResult> Service::ApplyChange(App app, const std::string& action, bool force, bool config_change) {
  auto dep = state_.deployments.find(app.id);
  if (dep != state_.deployments.end() && !force) { return absl::FailedPreconditionError(dep->second.id); }
  auto existing = state_.apps.find(app.id);
  std::string previous = existing == state_.apps.end() ? "" : existing->second.app.version;
  for (auto& d : app.dependencies) d = ResolveDependency(app.id, d);
  if (!app.dependencies.empty()) {
    std::map<std::string, const App*> graph;
    for (const auto& [id, e] : state_.apps) graph[id] = &e.app;
    graph[app.id] = &app;
    std::string cycle = DependencyCycle(graph);
    if (!cycle.empty()) return absl::InvalidArgumentError("Dependency graph has cyclic dependencies: " + cycle);
  }
  if (auto s = AssignServicePorts(&app); !s.ok()) return s;
  app.version = NextVersion();
  if (action == "RollbackApplication" && existing != state_.apps.end()) {
    // Back to a stored version: its configuration, and so its tasks that
    // still run, are current again.
    app.last_scaling_at = app.version;
  } else if (config_change || existing == state_.apps.end()) {
    app.last_config_change_at = app.version;
    app.last_scaling_at = app.version;
  } else {
    app.last_config_change_at = existing->second.app.last_config_change_at;
    app.last_scaling_at = app.version;
  }
  Deployment d{UuidToString(NewUuidBytes()), app.id, app.version, previous, app.version, action};
  // A canary only where there are tasks of another configuration to replace.
  d.canary = app.canary_instances > 0 && existing != state_.apps.end() && action == "RestartApplication" &&
             !existing->second.tasks.empty();
  // Forced over an unfinished creation: rolling back still removes the app.
  if (dep != state_.deployments.end() && dep->second.previous.empty()) d.previous.clear();
  // The app, its version and its deployment in one transaction.
  if (auto s = store_->PutAppChange(app, d, dep != state_.deployments.end() ? dep->second.id : ""); !s.ok()) return s;
  AppEntry& entry = state_.apps[app.id];
  if (config_change) entry.backoff = Backoff();
  entry.app = std::move(app);
  state_.deployments[entry.app.id] = d;
  progress_.erase(entry.app.id);
  EmitDeployment("deployment_info", d);
  MarkDirty(entry.app.id);
  return ChangeResult{entry.app.version, d.id};
}

absl::StatusOr<ChangeResult> Service::CreateApp(App app) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    if (state_.apps.count(app.id)) return absl::AlreadyExistsError("An app with id [" + app.id + "] already exists.");
    return ApplyChange(std::move(app), "StartApplication", false, true);
  });
}

absl::StatusOr<ChangeResult> Service::UpdateApp(App app, bool force) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    auto it = state_.apps.find(app.id);
    if (it == state_.apps.end()) return ApplyChange(std::move(app), "StartApplication", force, true);
    bool scale = OnlyInstancesDiffer(app, it->second.app);
    return ApplyChange(std::move(app), scale ? "ScaleApplication" : "RestartApplication", force, !scale);
  });
}

absl::StatusOr<ChangeResult> Service::RestartApp(const std::string& app_id, bool force) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    auto it = state_.apps.find(app_id);
    if (it == state_.apps.end()) return absl::NotFoundError("App '" + app_id + "' does not exist");
    return ApplyChange(it->second.app, "RestartApplication", force, true);
  });
}

absl::StatusOr<ChangeResult> Service::DeleteApp(const std::string& app_id, bool force) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    auto it = state_.apps.find(app_id);
    if (it == state_.apps.end()) return absl::NotFoundError("App '" + app_id + "' does not exist");
    auto dep = state_.deployments.find(app_id);
    if (dep != state_.deployments.end() && !force) return absl::FailedPreconditionError(dep->second.id);
    if (auto s = store_->DeleteApp(app_id); !s.ok()) return s;
    if (dep != state_.deployments.end()) {
      (void)store_->DeleteDeployment(dep->second.id);
      state_.deployments.erase(dep);
    }
    for (auto& [id, t] : it->second.tasks) {
      Task& doomed = state_.doomed[id] = t;
      KillTask(&doomed, it->second.app.task_kill_grace_period_seconds);
    }
    // While its tasks are being killed the app's deletion is a deployment
    // (StopApplication), listed and locking the ID, as Marathon's is.
    Deployment stop{UuidToString(NewUuidBytes()), app_id, NextVersion(), it->second.app.version, "", "StopApplication"};
    stop.started_at = stop.version;
    bool stopping = !it->second.tasks.empty();
    state_.apps.erase(it);
    pending_launches_.erase(app_id);
    progress_.erase(app_id);
    if (stopping && store_->PutDeployment(stop).ok()) {
      state_.deployments[app_id] = stop;
      EmitDeployment("deployment_info", stop);
    }
    ScheduleReplan();
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("appId");
    Str(w, app_id);
    w.EndObject();
    Emit("app_terminated_event", std::string(b.GetString(), b.GetSize()));
    return ChangeResult{stop.version, stop.id};
  });
}

absl::StatusOr<std::vector<Task>> Service::KillTasks(const std::vector<std::string>& task_ids, bool scale) {
  return loop_.Call([&]() -> absl::StatusOr<std::vector<Task>> {
    std::vector<Task> killed;
    std::map<std::string, int> scale_by;
    for (const auto& id : task_ids) {
      auto app = state_.apps.find(AppIdOfTask(id));
      if (app == state_.apps.end()) continue;
      auto t = app->second.tasks.find(id);
      if (t == app->second.tasks.end()) continue;
      KillTask(&t->second, app->second.app.task_kill_grace_period_seconds);
      killed.push_back(t->second);
      ++scale_by[app->first];
    }
    if (scale) {
      for (const auto& [app_id, n] : scale_by) {
        App app = state_.apps[app_id].app;
        app.instances = std::max(0, app.instances - n);
        auto r = ApplyChange(std::move(app), "ScaleApplication", true, false);
        if (!r.ok()) return r.status();
      }
    }
    for (const auto& [app_id, n] : scale_by) MarkDirty(app_id);
    return killed;
  });
}

absl::StatusOr<ChangeResult> Service::CancelDeployment(const std::string& deployment_id, bool force) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    auto dep = std::find_if(state_.deployments.begin(), state_.deployments.end(),
                            [&](const auto& kv) { return kv.second.id == deployment_id; });
    if (dep == state_.deployments.end()) {
      return absl::NotFoundError("DeploymentPlan " + deployment_id + " does not exist");
    }
    Deployment d = dep->second;
    if (force) {
      (void)store_->DeleteDeployment(d.id);
      state_.deployments.erase(dep);
      auto app = state_.apps.find(d.app_id);
      return ChangeResult{app != state_.apps.end() ? app->second.app.version : d.version, ""};
    }
    if (d.action == "StopApplication") {
      return absl::InvalidArgumentError("deployment " + d.id + " deletes " + d.app_id +
                                        ", which cannot be rolled back (force=true stops tracking it)");
    }
    if (d.previous.empty()) {
      // The deployment created the app: rolling it back removes it.
      (void)store_->DeleteDeployment(d.id);
      state_.deployments.erase(dep);
      auto it = state_.apps.find(d.app_id);
      if (auto s = store_->DeleteApp(d.app_id); !s.ok()) return s;
      for (auto& [id, t] : it->second.tasks) {
        Task& doomed = state_.doomed[id] = t;
        KillTask(&doomed, 0);
      }
      state_.apps.erase(it);
      pending_launches_.erase(d.app_id);
      return ChangeResult{NextVersion(), UuidToString(NewUuidBytes())};
    }
    return RollbackTo(d.app_id, d.previous, true);
  });
}

absl::StatusOr<ChangeResult> Service::RollbackApp(const std::string& app_id, const std::string& version, bool force) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    if (!state_.apps.count(app_id)) return absl::NotFoundError("App '" + app_id + "' does not exist");
    return RollbackTo(app_id, version, force);
  });
}

absl::StatusOr<ChangeResult> Service::RollbackTo(const std::string& app_id, const std::string& version, bool force) {
  auto prev = store_->Version(app_id, version);
  if (!prev.ok()) return prev.status();
  if (!prev->has_value()) return absl::NotFoundError("App '" + app_id + "' has no version " + version);
  return ApplyChange(**prev, "RollbackApplication", force, true);
}

absl::StatusOr<ChangeResult> Service::PromoteDeployment(const std::string& deployment_id) {
  return loop_.Call([&]() -> absl::StatusOr<ChangeResult> {
    for (auto& [app_id, d] : state_.deployments) {
      if (d.id != deployment_id) continue;
      if (!d.canary)
        return absl::FailedPreconditionError("deployment " + d.id + " is not a canary waiting to be promoted");
      d.canary = false;
      if (auto s = store_->PutDeployment(d); !s.ok()) return s;
      EmitDeployment("deployment_step_success", d);
      MarkDirty(app_id);
      return ChangeResult{d.version, d.id};
    }
    return absl::NotFoundError("DeploymentPlan " + deployment_id + " does not exist");
  });
}

absl::StatusOr<std::vector<std::string>> Service::Versions(const std::string& app_id) {
  return loop_.Call([&]() -> absl::StatusOr<std::vector<std::string>> {
    if (!state_.apps.count(app_id)) return absl::NotFoundError("App '" + app_id + "' does not exist");
    return store_->Versions(app_id);
  });
}

absl::StatusOr<App> Service::Version(const std::string& app_id, const std::string& version) {
  return loop_.Call([&]() -> absl::StatusOr<App> {
    if (!state_.apps.count(app_id)) return absl::NotFoundError("App '" + app_id + "' does not exist");
    auto v = store_->Version(app_id, version);
    if (!v.ok()) return v.status();
    if (!v->has_value()) return absl::NotFoundError("App '" + app_id + "' has no version " + version);
    return **v;
  });
}

absl::Status Service::ResetDelay(const std::string& app_id) {
  return loop_.Call([&]() -> absl::Status {
    auto it = state_.apps.find(app_id);
    if (it == state_.apps.end()) return absl::NotFoundError("App '" + app_id + "' does not exist");
    it->second.backoff = Backoff();
    MarkDirty(app_id);
    return absl::OkStatus();
  });
}

// --- from the SDK ---

void Service::Subscribed(const std::string& framework_id) {
  loop_.Post([this, framework_id] {
    state_.subscribed = true;
    if (state_.framework_id != framework_id) {
      state_.framework_id = framework_id;
      if (auto s = store_->SetFrameworkId(framework_id); !s.ok()) {
        CORRAL_LOG(ERROR) << "marathon: cannot store the framework ID: " << s;
      }
    }
    offers_wanted_ = true;  // a new subscription is not suppressed
    Reconcile();
    Replan(true);
  });
}

void Service::Disconnected() {
  loop_.Post([this] { state_.subscribed = false; });
}

void Service::Offers(std::vector<v1::Offer> offers) {
  loop_.Post([this, offers = std::move(offers)] { HandleOffers(offers); });
}

void Service::Update(v1::TaskStatus status) {
  loop_.Post([this, status = std::move(status)] { HandleUpdate(status); });
}

// --- the loop ---

void Service::DeploymentDone(const std::string& app_id, bool failed, const std::string& reason) {
  auto dep = state_.deployments.find(app_id);
  if (dep == state_.deployments.end()) return;
  Deployment d = dep->second;
  CORRAL_LOG(INFO) << "marathon: deployment " << d.id << " of " << app_id
                   << (failed ? " failed: " + reason : " is done");
  (void)store_->DeleteDeployment(d.id);
  state_.deployments.erase(dep);
  progress_.erase(app_id);
  // Deployments that waited for this one may go on.
  for (const auto& [id, other] : state_.deployments) {
    auto a = state_.apps.find(id);
    if (a == state_.apps.end()) continue;
    for (const auto& dependency : a->second.app.dependencies) {
      if (SatisfiesDependency(app_id, dependency)) {
        MarkDirty(id);
        break;
      }
    }
  }
  if (!failed) {
    EmitDeployment("deployment_step_success", d);
    EmitDeployment("deployment_success", d);
    return;
  }
  EmitDeployment("deployment_step_failure", d, reason);
  EmitDeployment("deployment_failed", d, reason);
  auto it = state_.apps.find(app_id);
  if (it == state_.apps.end() || !it->second.app.revert_on_deadline || d.previous.empty()) return;
  auto prev = store_->Version(app_id, d.previous);
  if (!prev.ok() || !prev->has_value()) {
    CORRAL_LOG(ERROR) << "marathon: cannot revert " << app_id << " to " << d.previous << ": the version is gone";
    return;
  }
  auto r = ApplyChange(**prev, "RollbackApplication", true, true);
  if (!r.ok()) CORRAL_LOG(ERROR) << "marathon: revert of " << app_id << ": " << r.status();
}

void Service::Subscribe(std::set<std::string> types, EventSink sink) {
  loop_.Post([this, types = std::move(types), sink = std::move(sink)]() mutable {
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("remoteAddress");
    w.String("");
    w.Key("eventType");
    w.String("event_stream_attached");
    w.Key("timestamp");
    Str(w, Timestamp(clock_->Now()));
    w.EndObject();
    if (sink("event_stream_attached", std::string(b.GetString(), b.GetSize()))) {
      subscribers_.push_back({std::move(types), std::move(sink)});
    }
  });
}

void Service::Publish(std::string type, std::string json) {
  loop_.Post([this, type = std::move(type), json = std::move(json)] { Emit(type, json); });
}

// `json` is an object without eventType and timestamp; they are added.
void Service::Emit(const std::string& type, const std::string& json) {
  if (subscribers_.empty()) return;
  std::string body = json.size() > 2 ? json.substr(0, json.size() - 1) + "," : "{";
  body += "\"eventType\":\"" + type + "\",\"timestamp\":\"" + Timestamp(clock_->Now()) + "\"}";
  for (auto it = subscribers_.begin(); it != subscribers_.end();) {
    if (!it->types.empty() && !it->types.count(type)) {
      ++it;
      continue;
    }
    it = it->sink(type, body) ? std::next(it) : subscribers_.erase(it);
  }
}

void Service::EmitDeployment(const char* type, const Deployment& d, const std::string& reason) {
  if (subscribers_.empty()) return;
  rapidjson::StringBuffer b;
  Writer w(b);
  auto group = [&](const App* app, const std::string& version) {
    WriteGroup(
        w, "/", version,
        [&] {
          if (app != nullptr) WriteApp(w, *app);
        },
        [] {});
  };
  auto step = [&] {
    w.StartObject();
    w.Key("actions");
    w.StartArray();
    w.StartObject();
    w.Key("action");
    Str(w, d.action);
    w.Key("app");
    Str(w, d.app_id);
    w.EndObject();
    w.EndArray();
    w.EndObject();
  };
  std::optional<App> original;
  if (!d.previous.empty()) {
    auto v = store_->Version(d.app_id, d.previous);
    if (v.ok() && v->has_value()) original = **v;
  }
  auto target = state_.apps.find(d.app_id);
  w.StartObject();
  w.Key("id");
  Str(w, d.id);
  w.Key("plan");
  w.StartObject();
  w.Key("id");
  Str(w, d.id);
  w.Key("version");
  Str(w, d.version);
  w.Key("original");
  group(original ? &*original : nullptr, d.previous);
  w.Key("target");
  group(target != state_.apps.end() ? &target->second.app : nullptr, d.version);
  w.Key("steps");
  w.StartArray();
  step();
  w.EndArray();
  w.EndObject();
  w.Key("currentStep");
  step();
  if (!reason.empty()) {
    w.Key("reason");
    Str(w, reason);
  }
  w.EndObject();
  Emit(type, std::string(b.GetString(), b.GetSize()));
}

void Service::EmitTaskChange(const Task& t, const std::string& message) {
  if (subscribers_.empty()) return;
  {
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("slaveId");
    Str(w, t.agent_id);
    w.Key("taskId");
    Str(w, t.id);
    w.Key("taskStatus");
    Str(w, t.state);
    w.Key("message");
    Str(w, message);
    w.Key("appId");
    Str(w, t.app_id);
    w.Key("host");
    Str(w, t.host);
    w.Key("ipAddresses");
    w.StartArray();
    w.EndArray();
    w.Key("ports");
    w.StartArray();
    for (int p : t.ports) w.Int(p);
    w.EndArray();
    w.Key("version");
    Str(w, t.version);
    w.EndObject();
    Emit("status_update_event", std::string(b.GetString(), b.GetSize()));
  }
  // Marathon's instance conditions, from the Mesos states.
  static const std::map<std::string, std::string> conditions = {
      {"TASK_STAGING", "Staging"}, {"TASK_STARTING", "Starting"},
      {"TASK_RUNNING", "Running"}, {"TASK_FINISHED", "Finished"},
      {"TASK_FAILED", "Failed"},   {"TASK_KILLED", "Killed"},
      {"TASK_KILLING", "Killing"}, {"TASK_LOST", "Unreachable"},
      {"TASK_ERROR", "Error"},     {"TASK_DROPPED", "Dropped"},
      {"TASK_GONE", "Gone"},       {"TASK_UNREACHABLE", "Unreachable"},
      {"TASK_UNKNOWN", "Unknown"}, {"TASK_GONE_BY_OPERATOR", "Gone"}};
  auto c = conditions.find(t.state);
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key("instanceId");
  Str(w, t.id);
  w.Key("condition");
  Str(w, c == conditions.end() ? "Unknown" : c->second);
  w.Key("runSpecId");
  Str(w, t.app_id);
  w.Key("agentId");
  Str(w, t.agent_id);
  w.Key("host");
  Str(w, t.host);
  w.Key("runSpecVersion");
  Str(w, t.version);
  w.EndObject();
  Emit("instance_changed_event", std::string(b.GetString(), b.GetSize()));
}

void Service::MarkDirty(const std::string& app_id) {
  dirty_.insert(app_id);
  ScheduleReplan();
}

void Service::ScheduleReplan() {
  if (replan_scheduled_) return;
  replan_scheduled_ = true;
  loop_.Post([this] {
    replan_scheduled_ = false;
    Replan(false);
  });
}

void Service::Tick() {
  Replan(true);
  loop_.PostAfter(absl::Seconds(kTickSeconds), [this] { Tick(); });
}

void Service::Reconcile() {
  if (cluster_ == nullptr) return;
  std::vector<std::pair<std::string, std::string>> known;
  for (const auto& [id, e] : state_.apps) {
    for (const auto& [tid, t] : e.tasks) known.emplace_back(tid, t.agent_id);
  }
  for (const auto& [tid, t] : state_.doomed) known.emplace_back(tid, t.agent_id);
  if (!known.empty()) cluster_->Reconcile(known);
  // Kills are not acknowledged: send them again until the task is gone
  // (an agent that was away, a restart of this scheduler).
  for (auto& [id, e] : state_.apps) {
    for (auto& [tid, t] : e.tasks) {
      if (t.killing) cluster_->Kill(tid, t.agent_id, e.app.task_kill_grace_period_seconds);
    }
  }
  for (auto& [tid, t] : state_.doomed) cluster_->Kill(tid, t.agent_id, 0);
  cluster_->Reconcile({});  // and what the master has that the store does not
  // One periodic round, however often the driver resubscribed.
  loop_.Cancel(reconcile_timer_);
  reconcile_timer_ = loop_.PostAfter(absl::Seconds(options_.reconciliation_interval), [this] {
    reconcile_timer_ = 0;
    if (state_.subscribed) Reconcile();
  });
}

void Service::KillTask(Task* task, double grace_seconds) {
  if (!task->killing) {
    task->killing = true;
    (void)Persist(*task);
  }
  if (cluster_ != nullptr) cluster_->Kill(task->id, task->agent_id, grace_seconds);
}

absl::Status Service::Persist(const Task& task) {
  auto s = store_->PutTasks({&task});
  if (!s.ok()) CORRAL_LOG(ERROR) << "marathon: " << s;
  return s;
}

void Service::Replan(bool all) {
  absl::Time now = clock_->Now();
  std::set<std::string> apps;
  if (all) {
    for (const auto& [id, e] : state_.apps) apps.insert(id);
  } else {
    apps.swap(dirty_);
  }
  if (all) dirty_.clear();
  bool newly_pending = false;
  for (const auto& id : apps) {
    auto it = state_.apps.find(id);
    if (it == state_.apps.end()) continue;
    AppEntry& e = it->second;
    std::vector<Task> tasks;
    tasks.reserve(e.tasks.size());
    for (const auto& [tid, t] : e.tasks) tasks.push_back(t);
    auto dep = state_.deployments.find(id);
    if (dep != state_.deployments.end() && !DeploymentWaitsFor(e.app).empty()) {
      // Its dependencies deploy first (Marathon's order): nothing launched
      // or killed, and its progress deadline not running, until they are done.
      pending_launches_.erase(id);
      progress_[id] = {std::numeric_limits<int>::min(), now};
      continue;
    }
    int canary = dep != state_.deployments.end() && dep->second.canary ? e.app.canary_instances : -1;
    AppPlan plan = PlanApp(e.app, tasks, e.backoff, now, canary);
    if (!e.app.readiness_checks.empty()) CheckReadiness(e, now);
    for (const auto& tid : plan.kill) KillTask(&e.tasks[tid], e.app.task_kill_grace_period_seconds);
    for (const auto& tid : plan.expunge) {
      if (cluster_ != nullptr) cluster_->Kill(tid, e.tasks[tid].agent_id, 0);
      e.tasks.erase(tid);
      (void)store_->DeleteTasks({tid});
    }
    if (plan.launch > 0) {
      // Offers declined while nothing waited are filtered for a while:
      // new launches revive them.
      if (!pending_launches_.count(id)) newly_pending = true;
      pending_launches_[id] = plan.launch;
    } else {
      pending_launches_.erase(id);
    }
    if (!state_.deployments.count(id)) continue;
    if (plan.steady) {
      DeploymentDone(id, false, "");
      continue;
    }
    if (e.app.progress_deadline_seconds > 0) {
      int progress = Progress(e.app, tasks);
      auto p = progress_.find(id);
      if (p == progress_.end() || progress > p->second.first) {
        progress_[id] = {progress, now};
        // Stored, so that a restart does not give the deployment its whole
        // deadline again.
        dep->second.progress = progress;
        dep->second.progress_at = Timestamp(now);
        if (auto st = store_->PutDeployment(dep->second); !st.ok()) CORRAL_LOG(ERROR) << "marathon: " << st;
      } else if (now - p->second.second > absl::Seconds(e.app.progress_deadline_seconds)) {
        DeploymentDone(id, true,
                       absl::StrCat("no progress for ", e.app.progress_deadline_seconds,
                                    " seconds (progressDeadlineSeconds)", plan.crash_looping ? "; crash looping" : ""));
      }
    }
  }
  for (auto& [tid, t] : state_.doomed) {
    if (!t.killing) KillTask(&t, 0);
  }
  bool want = !pending_launches_.empty();
  if (cluster_ != nullptr && state_.subscribed && (want != offers_wanted_ || (want && newly_pending))) {
    offers_wanted_ = want;
    if (want) {
      cluster_->Revive();
    } else {
      cluster_->Suppress();
    }
  }
}

void Service::StopDoneIfLast(const std::string& app_id) {
  auto dep = state_.deployments.find(app_id);
  if (dep == state_.deployments.end() || dep->second.action != "StopApplication" || state_.apps.count(app_id)) return;
  for (const auto& [tid, t] : state_.doomed)
    if (t.app_id == app_id) return;
  DeploymentDone(app_id, false, "");
}

std::string Service::DeploymentWaitsFor(const App& app) const {
  for (const auto& dependency : app.dependencies) {
    for (auto it = state_.deployments.lower_bound(dependency);
         it != state_.deployments.end() && it->first.compare(0, dependency.size(), dependency) == 0; ++it) {
      if (it->first != app.id && SatisfiesDependency(it->first, dependency)) return it->first;
    }
  }
  return "";
}

void Service::CheckReadiness(const AppEntry& e, absl::Time now) {
  const ReadinessCheck& rc = e.app.readiness_checks.front();
  size_t port_index = 0;
  while (port_index < e.app.port_definitions.size() && e.app.port_definitions[port_index].name != rc.port_name) {
    ++port_index;
  }
  for (const auto& [id, t] : e.tasks) {
    if (t.ready || t.killing || t.state != "TASK_RUNNING" || t.version != e.app.last_config_change_at) continue;
    if (!e.app.health_checks.empty() && !t.healthy.value_or(false)) continue;  // healthy first
    if (port_index >= t.ports.size() || readiness_in_flight_.count(id)) continue;
    auto due = readiness_due_.find(id);
    if (due != readiness_due_.end() && due->second > now) continue;
    readiness_in_flight_.insert(id);
    std::string url = absl::StrCat(rc.protocol == "HTTPS" ? "https" : "http", "://", t.host, ":", t.ports[port_index],
                                   rc.path.empty() || rc.path[0] != '/' ? "/" : "", rc.path);
    std::string app_id = e.app.id, task_id = id;
    readiness_.Check(url, rc.timeout_seconds, [this, app_id, task_id](int status) {
      loop_.Post([this, app_id, task_id, status] {
        readiness_in_flight_.erase(task_id);
        auto app = state_.apps.find(app_id);
        if (app == state_.apps.end() || app->second.app.readiness_checks.empty()) return;
        auto t = app->second.tasks.find(task_id);
        if (t == app->second.tasks.end()) {
          readiness_due_.erase(task_id);
          return;
        }
        const ReadinessCheck& check = app->second.app.readiness_checks.front();
        t->second.readiness_status = status;
        const auto& codes = check.http_status_codes_for_ready;
        if (std::find(codes.begin(), codes.end(), status) != codes.end()) {
          t->second.ready = true;
          readiness_due_.erase(task_id);
          (void)Persist(t->second);
          MarkDirty(app_id);
        } else {
          readiness_due_[task_id] = clock_->Now() + absl::Seconds(check.interval_seconds);
        }
      });
    });
  }
}

v1::TaskInfo Service::BuildTaskInfo(const App& app, const Task& task, const v1::Offer& offer,
                                    const std::vector<v1::Resource>& resources) const {
  v1::TaskInfo info;
  // Marathon's task name: the app's path reversed, dotted ("/prod/web" -> "web.prod").
  std::vector<std::string> segs = absl::StrSplit(app.id.substr(1), '/');
  std::reverse(segs.begin(), segs.end());
  info.set_name(absl::StrJoin(segs, "."));
  info.mutable_task_id()->set_value(task.id);
  *info.mutable_agent_id() = offer.agent_id();
  for (const auto& r : resources) *info.add_resources() = r;
  auto* cmd = info.mutable_command();
  if (app.cmd) {
    cmd->set_shell(true);
    cmd->set_value(*app.cmd);
  } else {
    cmd->set_shell(false);
    cmd->set_value(app.args.front());
    for (const auto& a : app.args) cmd->add_arguments(a);
  }
  if (!app.user.empty()) cmd->set_user(app.user);
  for (const auto& uri : app.fetch) cmd->add_uris()->set_value(uri);
  auto* env = cmd->mutable_environment();
  auto var = [env](const std::string& name, const std::string& value) {
    auto* v = env->add_variables();
    v->set_name(name);
    v->set_value(value);
  };
  for (const auto& [k, v] : app.env) var(k, v);
  var("MARATHON_APP_ID", app.id);
  var("MARATHON_APP_VERSION", app.version);
  var("MESOS_TASK_ID", task.id);
  var("HOST", offer.hostname());
  std::vector<std::string> ports;
  for (size_t i = 0; i < task.ports.size(); ++i) {
    std::string p = absl::StrCat(task.ports[i]);
    var(absl::StrCat("PORT", i), p);
    if (i < app.port_definitions.size()) {
      var(absl::StrCat("PORT", app.port_definitions[i].port), p);
      if (!app.port_definitions[i].name.empty()) {
        std::string name = app.port_definitions[i].name;
        std::transform(name.begin(), name.end(), name.begin(),
                       [](unsigned char c) { return std::isalnum(c) ? static_cast<char>(std::toupper(c)) : '_'; });
        var("PORT_" + name, p);
      }
    }
    ports.push_back(p);
  }
  if (!ports.empty()) var("PORT", ports.front());
  var("PORTS", absl::StrJoin(ports, ","));
  for (const auto& [k, v] : app.labels) {
    auto* l = info.mutable_labels()->add_labels();
    l->set_key(k);
    l->set_value(v);
  }
  if (!app.health_checks.empty()) {
    const HealthCheck& hc = app.health_checks.front();
    auto* h = info.mutable_health_check();
    h->set_delay_seconds(hc.delay_seconds);
    h->set_interval_seconds(hc.interval_seconds);
    h->set_timeout_seconds(hc.timeout_seconds);
    h->set_grace_period_seconds(hc.grace_period_seconds);
    h->set_consecutive_failures(static_cast<uint32_t>(hc.max_consecutive_failures));
    uint32_t port = static_cast<uint32_t>(hc.port);
    if (port == 0 && static_cast<size_t>(hc.port_index) < task.ports.size()) {
      port = static_cast<uint32_t>(task.ports[static_cast<size_t>(hc.port_index)]);
    }
    if (hc.protocol == "COMMAND") {
      h->set_type(v1::HealthCheck::COMMAND);
      h->mutable_command()->set_value(hc.command);
      h->mutable_command()->set_shell(true);
      *h->mutable_command()->mutable_environment() = *env;
    } else if (absl::StrContains(hc.protocol, "TCP")) {
      h->set_type(v1::HealthCheck::TCP);
      h->mutable_tcp()->set_port(port);
    } else {
      h->set_type(v1::HealthCheck::HTTP);
      h->mutable_http()->set_port(port);
      h->mutable_http()->set_path(hc.path);
      h->mutable_http()->set_scheme(absl::StrContains(hc.protocol, "HTTPS") ? "https" : "http");
    }
  }
  if (app.task_kill_grace_period_seconds > 0) {
    info.mutable_kill_policy()->mutable_grace_period()->set_nanoseconds(
        static_cast<int64_t>(app.task_kill_grace_period_seconds * 1e9));
  }
  return info;
}

void Service::HandleOffers(const std::vector<v1::Offer>& offers) {
  if (cluster_ == nullptr) return;
  std::vector<v1::OfferID> unused;
  absl::Time now = clock_->Now();
  for (const auto& offer : offers) {
    OfferSpace space(offer);
    std::map<std::string, std::string> attributes;
    for (const auto& a : offer.attributes()) attributes[a.name()] = AttributeText(a);
    std::vector<v1::TaskInfo> infos;
    std::vector<Task*> launched;
    for (auto& [app_id, want] : pending_launches_) {
      AppEntry& e = state_.apps[app_id];
      const App& app = e.app;
      if (!app.accepted_resource_roles.empty() &&
          std::find(app.accepted_resource_roles.begin(), app.accepted_resource_roles.end(),
                    space.role.empty() ? "*" : space.role) == app.accepted_resource_roles.end()) {
        continue;
      }
      std::vector<const Task*> placed;
      for (const auto& [tid, t] : e.tasks) {
        if (IsActive(t)) placed.push_back(&t);
      }
      while (want > 0 && space.Fits(app.cpus, app.mem, app.disk, app.gpus) &&
             SatisfiesConstraints(app, offer.hostname(), attributes, placed)) {
        auto ports = TakeAppPorts(space, app);
        if (!ports) break;
        Task t;
        t.id = NewTaskId(app.id);
        t.app_id = app.id;
        t.agent_id = offer.agent_id().value();
        t.host = offer.hostname();
        t.ports = *ports;
        for (const auto& pd : app.port_definitions) t.service_ports.push_back(pd.port);
        t.staged_at = Timestamp(now);
        t.version = app.last_config_change_at;
        t.attributes = attributes;
        std::vector<v1::Resource> res = space.Resources(app.cpus, app.mem, app.disk, app.gpus, t.ports);
        space.Take(app.cpus, app.mem, app.disk, app.gpus);
        infos.push_back(BuildTaskInfo(app, t, offer, res));
        Task& stored = e.tasks[t.id] = std::move(t);
        launched.push_back(&stored);
        placed.push_back(&stored);
        --want;
      }
    }
    for (auto it = pending_launches_.begin(); it != pending_launches_.end();) {
      it = it->second <= 0 ? pending_launches_.erase(it) : std::next(it);
    }
    if (infos.empty()) {
      unused.push_back(offer.id());
      continue;
    }
    // Written before the launch: a crash in between leaves a task the
    // master does not know, which reconciliation reports lost and the
    // planner replaces. The other order could leave a task nobody tracks.
    std::vector<const Task*> rows(launched.begin(), launched.end());
    auto s = store_->PutTasks(rows);
    if (s.ok()) s = cluster_->Launch(offer.id(), infos);
    if (!s.ok()) {
      CORRAL_LOG(WARNING) << "marathon: launch on " << offer.hostname() << " failed: " << s;
      std::vector<std::string> ids;
      for (Task* t : launched) {
        ids.push_back(t->id);
        MarkDirty(t->app_id);
        state_.apps[t->app_id].tasks.erase(t->id);
      }
      (void)store_->DeleteTasks(ids);
      continue;
    }
    state_.launched += static_cast<int64_t>(infos.size());
  }
  if (!unused.empty()) cluster_->Decline(unused, pending_launches_.empty() ? kRefuseSeconds : 1);
  if (pending_launches_.empty()) Replan(false);
}

void Service::HandleUpdate(const v1::TaskStatus& status) {
  const std::string& id = status.task_id().value();
  std::string state = v1::TaskState_Name(status.state());
  absl::Time now = clock_->Now();
  Task* task = nullptr;
  AppEntry* entry = nullptr;
  auto app = state_.apps.find(AppIdOfTask(id));
  if (app != state_.apps.end()) {
    auto t = app->second.tasks.find(id);
    if (t != app->second.tasks.end()) {
      task = &t->second;
      entry = &app->second;
    }
  }
  bool doomed = false;
  if (task == nullptr) {
    auto d = state_.doomed.find(id);
    if (d != state_.doomed.end()) {
      task = &d->second;
      doomed = true;
    }
  }
  if (task == nullptr) {
    // A task of this framework that nothing here tracks: kill it, so that
    // nothing runs that no app asked for.
    if (!IsTerminalState(state) && cluster_ != nullptr) cluster_->Kill(id, status.agent_id().value(), 0);
    if (cluster_ != nullptr && !status.uuid().empty()) cluster_->Acknowledge(status);
    return;
  }
  bool health_changed = status.has_healthy() && task->healthy != status.healthy();
  if (task->state != state) {
    Task copy = *task;
    copy.state = state;
    EmitTaskChange(copy, status.message());
  }
  if (health_changed && !subscribers_.empty()) {
    for (const char* type : {"health_status_changed_event", "instance_health_changed_event"}) {
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartObject();
      bool legacy = std::string(type) == "health_status_changed_event";
      w.Key(legacy ? "appId" : "runSpecId");
      Str(w, task->app_id);
      w.Key("instanceId");
      Str(w, task->id);
      w.Key(legacy ? "version" : "runSpecVersion");
      Str(w, task->version);
      w.Key(legacy ? "alive" : "healthy");
      w.Bool(status.healthy());
      w.EndObject();
      Emit(type, std::string(b.GetString(), b.GetSize()));
    }
  }
  if (IsTerminalState(state)) {
    if (entry != nullptr && !task->killing && task->version == entry->app.last_config_change_at) {
      ++entry->backoff.failures;
      entry->backoff.last_failure = now;
    }
    std::string app_id = task->app_id;
    if (auto s = store_->DeleteTasks({id}); !s.ok()) {
      CORRAL_LOG(ERROR) << "marathon: " << s;
      return;  // not acknowledged: the agent sends it again
    }
    if (doomed) {
      state_.doomed.erase(id);
      StopDoneIfLast(app_id);
    } else {
      entry->tasks.erase(id);
      MarkDirty(app_id);
    }
  } else {
    bool changed = task->state != state;
    task->state = state;
    if (state == "TASK_RUNNING" && task->started_at.empty()) task->started_at = Timestamp(now);
    if (state == "TASK_UNREACHABLE") {
      if (task->unreachable_since.empty()) task->unreachable_since = Timestamp(now);
    } else {
      task->unreachable_since.clear();
    }
    if (status.has_healthy()) {
      std::string at = Timestamp(now);
      if (status.healthy()) {
        if (task->first_success.empty()) task->first_success = at;
        task->last_success = at;
        task->consecutive_failures = 0;
      } else {
        task->last_failure = at;
        task->last_failure_cause = status.message();
        ++task->consecutive_failures;
      }
      task->healthy = status.healthy();
      changed = true;
    }
    if (changed && !Persist(*task).ok()) return;
    if (task->agent_id.empty()) task->agent_id = status.agent_id().value();
    if (!doomed) MarkDirty(task->app_id);
  }
  if (cluster_ != nullptr && !status.uuid().empty()) cluster_->Acknowledge(status);
}

}  // namespace corral::marathon
