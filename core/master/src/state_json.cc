// /master/state and its relatives, rendered straight into a buffer with
// RapidJSON's writer: with 100,000 tasks a document is tens of megabytes,
// and building a DOM (or protobuf Struct) first would double the work.
#include <algorithm>
#include <cstring>
#include <map>
#include <set>
#include <string>
#include <thread>

#include <rapidjson/stringbuffer.h>
#include <rapidjson/writer.h>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "corral/common/version.h"
#include "corral/http/api.h"
#include "corral/http/mesos_json.h"
#include "corral/master/master_http.h"

namespace corral {
namespace {

using google::protobuf::RepeatedPtrField;
using namespace mesos_json;  // NOLINT: the shared Mesos JSON shapes

std::string AgentPid(const v1::internal::AgentState& a) {
  return absl::StrCat("slave(1)@", a.agent_info().hostname(), ":", a.agent_info().port());
}

bool Active(const v1::internal::AgentState& a) { return a.active() && !a.has_drain_info(); }

void Agent(Writer& w, const v1::internal::AgentState& a, bool summary,
           const std::map<std::string, std::map<v1::TaskState, int>>* task_counts,
           const std::map<std::string, std::set<std::string>>* framework_ids) {
  w.StartObject();
  Key(w, "id");
  Str(w, a.agent_info().id().value());
  Key(w, "pid");
  Str(w, AgentPid(a));
  Key(w, "hostname");
  Str(w, a.agent_info().hostname());
  Key(w, "port");
  w.Int(a.agent_info().port());
  Key(w, "registered_time");
  w.Double(a.registered_time());
  Key(w, "resources");
  ResourcesJson(w, a.total());
  Key(w, "used_resources");
  ResourcesJson(w, a.allocated());
  Key(w, "offered_resources");
  ResourcesJson(w, a.offered());
  Key(w, "reserved_resources");  // by role
  w.StartObject();
  std::map<std::string, ResourceList> reserved;
  for (const v1::Resource& r : a.total()) {
    if (r.reservations_size() > 0) *reserved[r.reservations(r.reservations_size() - 1).role()].Add() = r;
  }
  for (const auto& [role, list] : reserved) {
    Str(w, role);
    ResourcesJson(w, list);
  }
  w.EndObject();
  Key(w, "unreserved_resources");
  ResourcesJson(w, a.total(), Unreserved);
  Key(w, "attributes");
  Attributes(w, a.agent_info().attributes());
  Key(w, "active");
  w.Bool(Active(a));
  Key(w, "deactivated");
  w.Bool(a.has_drain_info());
  Key(w, "version");
  Str(w, kMesosVersion);
  Key(w, "capabilities");
  w.StartArray();
  for (const char* c : {"MULTI_ROLE", "HIERARCHICAL_ROLE", "AGENT_DRAINING"}) w.String(c);
  w.EndArray();
  if (a.has_drain_info()) {
    Key(w, "drain_info");
    w.StartObject();
    Key(w, "state");
    Str(w, v1::DrainState_Name(a.drain_info().state()));
    w.EndObject();
  }
  if (summary) {
    auto counts = task_counts->find(a.agent_info().id().value());
    for (int s = v1::TaskState_MIN; s <= v1::TaskState_MAX; ++s) {
      if (!v1::TaskState_IsValid(s)) continue;
      Str(w, v1::TaskState_Name(static_cast<v1::TaskState>(s)));
      int n = 0;
      if (counts != task_counts->end()) {
        auto it = counts->second.find(static_cast<v1::TaskState>(s));
        if (it != counts->second.end()) n = it->second;
      }
      w.Int(n);
    }
    Key(w, "framework_ids");
    w.StartArray();
    auto ids = framework_ids->find(a.agent_info().id().value());
    if (ids != framework_ids->end())
      for (const std::string& id : ids->second) Str(w, id);
    w.EndArray();
  }
  w.EndObject();
}

std::vector<std::string> Capabilities(const v1::FrameworkInfo& info) {
  std::vector<std::string> out;
  for (const auto& c : info.capabilities()) out.push_back(v1::FrameworkInfo::Capability::Type_Name(c.type()));
  return out;
}

std::vector<std::string> Roles(const v1::FrameworkInfo& info) {
  if (info.roles_size() > 0) return {info.roles().begin(), info.roles().end()};
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
  return {info.role()};  // Mesos still shows the single-role field
#pragma GCC diagnostic pop
}

// A task to write: rendered here from its protobuf, or rendered already.
struct TaskRef {
  const v1::Task* task = nullptr;
  const std::string* json = nullptr;
};

// Tasks by the index of their framework in state.frameworks().
struct TasksByFramework {
  std::vector<std::vector<TaskRef>> active, unreachable, completed;
  rapidjson::StringBuffer* out = nullptr;  // the buffer the task lists are written to

  explicit TasksByFramework(const v1::internal::ClusterState& state)
      : active(state.frameworks_size()), unreachable(state.frameworks_size()), completed(state.frameworks_size()) {
    for (const v1::Task& t : state.tasks()) {
      int i = IndexOf(state, t.framework_id().value());
      if (i >= 0) (t.status_update_state() == v1::TASK_UNREACHABLE ? unreachable : active)[i].push_back({&t, nullptr});
    }
    AddCompleted(state);
  }

  // Every task of `renderable` has a rendering: its own, or one in `fresh`.
  TasksByFramework(const Master::RenderableState& renderable, const Master::TaskRendering* fresh)
      : active(renderable.state->frameworks_size()),
        unreachable(renderable.state->frameworks_size()),
        completed(renderable.state->frameworks_size()) {
    size_t next_fresh = 0;
    for (const Master::TaskView& view : renderable.tasks) {
      const std::string* json = view.rendering ? view.rendering.get() : fresh[next_fresh++].rendering.get();
      if (view.framework >= 0) (view.unreachable ? unreachable : active)[view.framework].push_back({nullptr, json});
    }
    AddCompleted(*renderable.state);
  }

 private:
  std::map<std::string, int> index_;
  int IndexOf(const v1::internal::ClusterState& state, const std::string& framework_id) {
    if (index_.empty()) {
      for (int i = 0; i < state.frameworks_size(); ++i) index_[state.frameworks(i).framework_info().id().value()] = i;
    }
    auto it = index_.find(framework_id);
    return it == index_.end() ? -1 : it->second;
  }
  void AddCompleted(const v1::internal::ClusterState& state) {
    for (const v1::Task& t : state.completed_tasks()) {
      int i = IndexOf(state, t.framework_id().value());
      if (i >= 0) completed[i].push_back({&t, nullptr});
    }
  }
};

void TaskList(Writer& w, const TasksByFramework& tasks, const std::vector<TaskRef>& list) {
  w.StartArray();
  for (const TaskRef& t : list) {
    if (t.json == nullptr) {
      Task(w, *t.task);
      continue;
    }
    // An empty raw value writes the separator and counts the value; the
    // rendering itself is copied in whole.
    w.RawValue("", 0, rapidjson::kObjectType);
    std::memcpy(tasks.out->Push(t.json->size()), t.json->data(), t.json->size());
  }
  w.EndArray();
}

void Framework(Writer& w, const v1::internal::FrameworkState& f, int index, const TasksByFramework* tasks,
               const std::map<std::string, std::map<v1::TaskState, int>>* summary_counts,
               const std::map<std::string, std::set<std::string>>* summary_agents) {
  const v1::FrameworkInfo& info = f.framework_info();
  const std::string& fid = info.id().value();
  w.StartObject();
  Key(w, "id");
  Str(w, fid);
  Key(w, "name");
  Str(w, info.name());
  Key(w, "pid");
  w.String("");
  Key(w, "used_resources");
  ResourcesJson(w, f.allocated());
  Key(w, "offered_resources");
  ResourcesJson(w, f.offered());
  Key(w, "capabilities");
  w.StartArray();
  for (const std::string& c : Capabilities(info)) Str(w, c);
  w.EndArray();
  Key(w, "hostname");
  Str(w, info.hostname());
  Key(w, "webui_url");
  Str(w, info.webui_url());
  Key(w, "active");
  w.Bool(f.connected());
  if (summary_counts != nullptr) {
    auto counts = summary_counts->find(fid);
    for (int s = v1::TaskState_MIN; s <= v1::TaskState_MAX; ++s) {
      if (!v1::TaskState_IsValid(s)) continue;
      Str(w, v1::TaskState_Name(static_cast<v1::TaskState>(s)));
      int n = 0;
      if (counts != summary_counts->end()) {
        auto it = counts->second.find(static_cast<v1::TaskState>(s));
        if (it != counts->second.end()) n = it->second;
      }
      w.Int(n);
    }
    Key(w, "slave_ids");
    w.StartArray();
    auto ids = summary_agents->find(fid);
    if (ids != summary_agents->end())
      for (const std::string& id : ids->second) Str(w, id);
    w.EndArray();
    w.EndObject();
    return;
  }
  Key(w, "connected");
  w.Bool(f.connected());
  Key(w, "recovered");
  w.Bool(false);
  Key(w, "user");
  Str(w, info.user());
  Key(w, "failover_timeout");
  w.Double(info.failover_timeout());
  Key(w, "checkpoint");
  w.Bool(info.checkpoint());
  Key(w, "role");
  Str(w, Roles(info).front());
  Key(w, "roles");
  w.StartArray();
  for (const std::string& r : Roles(info)) Str(w, r);
  w.EndArray();
  Key(w, "registered_time");
  w.Double(f.registered_time());
  Key(w, "unregistered_time");
  w.Double(0);
  Key(w, "principal");
  Str(w, info.principal());
  Key(w, "resources");
  ResourcesJson(w, f.allocated());
  if (info.has_labels()) {
    Key(w, "labels");
    Labels(w, info.labels());
  }
  Key(w, "tasks");
  TaskList(w, *tasks, tasks->active[index]);
  Key(w, "unreachable_tasks");
  TaskList(w, *tasks, tasks->unreachable[index]);
  Key(w, "completed_tasks");
  TaskList(w, *tasks, tasks->completed[index]);
  Key(w, "offers");
  w.StartArray();
  for (const v1::Offer& o : f.offers()) {
    w.StartObject();
    Key(w, "id");
    Str(w, o.id().value());
    Key(w, "framework_id");
    Str(w, fid);
    Key(w, "slave_id");
    Str(w, o.agent_id().value());
    Key(w, "resources");
    ResourcesJson(w, o.resources());
    w.EndObject();
  }
  w.EndArray();
  Key(w, "executors");
  w.StartArray();
  w.EndArray();
  w.EndObject();
}

void Frameworks(Writer& w, const v1::internal::ClusterState& state, const TasksByFramework& tasks) {
  w.StartArray();
  for (int i = 0; i < state.frameworks_size(); ++i) Framework(w, state.frameworks(i), i, &tasks, nullptr, nullptr);
  w.EndArray();
}

// The agents and the frameworks (with their tasks) are nearly all of the
// document: they are rendered side by side, the agents on a helper thread,
// and put in the skeleton (rendered with empty raw values in their places)
// as the result is assembled.
std::string MasterState(const v1::internal::ClusterState& state, const StateJsonContext& context,
                        TasksByFramework& tasks, size_t size_hint) {
  rapidjson::StringBuffer agents;
  std::thread agents_renderer([&state, &agents] {
    agents.Reserve(1500 * static_cast<size_t>(state.agents_size()));
    Writer aw(agents);
    aw.StartArray();
    for (const auto& a : state.agents()) {
      if (a.reachable() && !a.recovered()) Agent(aw, a, false, nullptr, nullptr);
    }
    aw.EndArray();
  });
  rapidjson::StringBuffer frameworks;
  frameworks.Reserve(size_hint);
  tasks.out = &frameworks;
  {
    Writer fw(frameworks);
    Frameworks(fw, state, tasks);
  }
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  const v1::MasterInfo& m = state.master_info();
  int active = 0, deactivated = 0, unreachable = 0;
  for (const auto& a : state.agents()) {
    if (!a.reachable())
      ++unreachable;
    else if (Active(a))
      ++active;
    else
      ++deactivated;
  }
  w.StartObject();
  Key(w, "version");
  Str(w, m.version());
  Key(w, "corral_version");
  Str(w, CORRAL_VERSION);
  Key(w, "git_sha");
  w.String("");
  Key(w, "build_date");
  Str(w, http::BuildDate());
  Key(w, "build_time");
  w.Double(http::BuildTime());
  Key(w, "build_user");
  w.String("");
  Key(w, "start_time");
  w.Double(context.start_time);
  Key(w, "elected_time");
  w.Double(context.start_time);
  Key(w, "id");
  Str(w, m.id());
  Key(w, "pid");
  Str(w, m.pid());
  Key(w, "hostname");
  Str(w, m.hostname());
  Key(w, "capabilities");
  w.StartArray();
  w.String("AGENT_DRAINING");
  w.EndArray();
  Key(w, "activated_slaves");
  w.Int(active);
  Key(w, "deactivated_slaves");
  w.Int(deactivated);
  Key(w, "unreachable_slaves");
  w.Int(unreachable);
  Key(w, "leader");
  Str(w, m.pid());
  Key(w, "leader_info");
  w.StartObject();
  Key(w, "id");
  Str(w, m.id());
  Key(w, "pid");
  Str(w, m.pid());
  Key(w, "port");
  w.Uint(m.port());
  Key(w, "hostname");
  Str(w, m.hostname());
  Key(w, "version");
  Str(w, m.version());
  Key(w, "address");
  w.StartObject();
  Key(w, "hostname");
  Str(w, m.address().hostname());
  Key(w, "ip");
  Str(w, m.address().ip());
  Key(w, "port");
  w.Int(m.address().port());
  w.EndObject();
  w.EndObject();
  Key(w, "flags");
  w.StartObject();
  if (context.flags != nullptr) {
    for (const auto& [name, value] : *context.flags) {
      Str(w, name);
      Str(w, value);
    }
  }
  w.EndObject();
  Key(w, "slaves");
  w.RawValue("", 0, rapidjson::kArrayType);
  size_t agents_at = buffer.GetSize();
  Key(w, "recovered_slaves");
  w.StartArray();
  for (const auto& a : state.agents()) {
    if (!a.recovered()) continue;
    w.StartObject();
    Key(w, "id");
    Str(w, a.agent_info().id().value());
    Key(w, "hostname");
    Str(w, a.agent_info().hostname());
    Key(w, "port");
    w.Int(a.agent_info().port());
    w.EndObject();
  }
  w.EndArray();
  Key(w, "frameworks");
  w.RawValue("", 0, rapidjson::kArrayType);
  size_t frameworks_at = buffer.GetSize();
  Key(w, "completed_frameworks");
  w.StartArray();
  w.EndArray();
  Key(w, "orphan_tasks");
  w.StartArray();
  w.EndArray();
  Key(w, "unregistered_frameworks");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  agents_renderer.join();
  std::string out;
  out.reserve(buffer.GetSize() + agents.GetSize() + frameworks.GetSize());
  out.append(buffer.GetString(), agents_at);
  out.append(agents.GetString(), agents.GetSize());
  out.append(buffer.GetString() + agents_at, frameworks_at - agents_at);
  out.append(frameworks.GetString(), frameworks.GetSize());
  out.append(buffer.GetString() + frameworks_at, buffer.GetSize() - frameworks_at);
  return out;
}

}  // namespace

std::string RenderMasterState(const v1::internal::ClusterState& state, const StateJsonContext& context) {
  TasksByFramework tasks(state);
  return MasterState(state, context, tasks, 1024 + 400 * static_cast<size_t>(state.tasks_size()));
}

namespace {

// Renders the tasks that came without a rendering onto the end of `fresh`;
// returns the first of them.
const Master::TaskRendering* RenderFresh(const v1::internal::ClusterState& state,
                                         std::vector<Master::TaskRendering>* fresh) {
  size_t first = fresh->size();
  rapidjson::StringBuffer one;
  Writer tw(one);
  for (const v1::Task& t : state.tasks()) {
    one.Clear();
    tw.Reset(one);
    Task(tw, t);
    fresh->push_back({t.framework_id().value(), t.task_id().value(), Master::TaskRenderKey::Of(t),
                      std::make_shared<const std::string>(one.GetString(), one.GetSize())});
  }
  return fresh->data() + first;
}

std::string FrameworksDocument(const v1::internal::ClusterState& state, TasksByFramework& tasks) {
  rapidjson::StringBuffer buffer;
  tasks.out = &buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "frameworks");
  Frameworks(w, state, tasks);
  Key(w, "completed_frameworks");
  w.StartArray();
  w.EndArray();
  Key(w, "unregistered_frameworks");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

}  // namespace

std::string RenderMasterState(const Master::RenderableState& renderable, const StateJsonContext& context,
                              std::vector<Master::TaskRendering>* fresh) {
  TasksByFramework tasks(renderable, RenderFresh(*renderable.state, fresh));
  return MasterState(*renderable.state, context, tasks, 1024 + 400 * renderable.tasks.size());
}

std::string RenderStateSummary(const v1::internal::ClusterState& state) {
  std::map<std::string, std::map<v1::TaskState, int>> agent_counts, fw_counts;
  std::map<std::string, std::set<std::string>> agent_fws, fw_agents;
  auto count = [&](const v1::Task& t) {
    ++agent_counts[t.agent_id().value()][t.state()];
    ++fw_counts[t.framework_id().value()][t.state()];
  };
  for (const v1::Task& t : state.tasks()) {
    count(t);
    agent_fws[t.agent_id().value()].insert(t.framework_id().value());
    fw_agents[t.framework_id().value()].insert(t.agent_id().value());
  }
  for (const v1::Task& t : state.completed_tasks()) count(t);
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "hostname");
  Str(w, state.master_info().hostname());
  Key(w, "slaves");
  w.StartArray();
  for (const auto& a : state.agents()) {
    if (a.reachable() && !a.recovered()) Agent(w, a, true, &agent_counts, &agent_fws);
  }
  w.EndArray();
  Key(w, "frameworks");
  w.StartArray();
  for (const auto& f : state.frameworks()) Framework(w, f, -1, nullptr, &fw_counts, &fw_agents);
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

std::string RenderFrameworks(const v1::internal::ClusterState& state) {
  TasksByFramework tasks(state);
  return FrameworksDocument(state, tasks);
}

std::string RenderFrameworks(const Master::RenderableState& renderable, std::vector<Master::TaskRendering>* fresh) {
  TasksByFramework tasks(renderable, RenderFresh(*renderable.state, fresh));
  return FrameworksDocument(*renderable.state, tasks);
}

std::string RenderAgents(const v1::internal::ClusterState& state) {
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "slaves");
  w.StartArray();
  for (const auto& a : state.agents()) {
    if (a.reachable() && !a.recovered()) Agent(w, a, false, nullptr, nullptr);
  }
  w.EndArray();
  Key(w, "recovered_slaves");
  w.StartArray();
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

std::string RenderTasks(const v1::internal::ClusterState& state, const TaskQuery& query) {
  std::vector<const v1::Task*> all;
  all.reserve(state.tasks_size() + state.completed_tasks_size());
  auto wanted = [&](const v1::Task& t) {
    return (query.framework_id.empty() || t.framework_id().value() == query.framework_id) &&
           (query.task_id.empty() || t.task_id().value() == query.task_id);
  };
  for (const v1::Task& t : state.tasks())
    if (wanted(t)) all.push_back(&t);
  for (const v1::Task& t : state.completed_tasks())
    if (wanted(t)) all.push_back(&t);
  const bool descending = query.descending;
  const size_t offset = query.offset, limit = query.limit;
  // Mesos orders by the time of the task's first status.
  auto started = [](const v1::Task* t) { return t->statuses_size() > 0 ? t->statuses(0).timestamp() : 0.0; };
  std::stable_sort(all.begin(), all.end(), [&](const v1::Task* a, const v1::Task* b) {
    return descending ? started(a) > started(b) : started(a) < started(b);
  });
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "tasks");
  w.StartArray();
  for (size_t i = offset; i < all.size() && i - offset < limit; ++i) Task(w, *all[i]);
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

std::string RenderRoles(const v1::internal::ClusterState& state, const std::map<std::string, double>& weights,
                        const std::map<std::string, RoleQuota>& quotas) {
  struct RoleInfo {
    double weight = 1;
    std::vector<std::string> frameworks;
    google::protobuf::RepeatedPtrField<v1::Resource> allocated;
    google::protobuf::RepeatedPtrField<v1::Resource> offered;
    google::protobuf::RepeatedPtrField<v1::Resource> reserved;
    const RoleQuota* quota = nullptr;
  };
  std::map<std::string, RoleInfo> roles;
  for (const auto& [role, weight] : weights) roles[role].weight = weight;
  for (const auto& [role, quota] : quotas) roles[role].quota = &quota;
  for (const auto& f : state.frameworks()) {
    const std::vector<std::string> framework_roles = Roles(f.framework_info());
    for (const std::string& r : framework_roles) roles[r].frameworks.push_back(f.framework_info().id().value());
    for (const v1::Offer& o : f.offers()) {
      // Offers to a framework without MULTI_ROLE carry no allocation_info:
      // they are for its one role.
      const std::string& role = o.has_allocation_info() ? o.allocation_info().role() : framework_roles.front();
      for (const auto& r : o.resources()) *roles[role].offered.Add() = r;
    }
  }
  for (const auto& a : state.agents()) {
    for (const auto& r : a.total()) {
      const std::string role = r.reservations_size() > 0 ? r.reservations(r.reservations_size() - 1).role() : r.role();
      if (!role.empty() && role != "*") *roles[role].reserved.Add() = r;
    }
  }
  for (const v1::Task& t : state.tasks()) {
    auto& role = roles[RoleOf(t)];
    for (const auto& r : t.resources()) *role.allocated.Add() = r;
  }
  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "roles");
  w.StartArray();
  for (const auto& [name, role] : roles) {
    w.StartObject();
    Key(w, "name");
    Str(w, name);
    Key(w, "weight");
    w.Double(role.weight);
    Key(w, "frameworks");
    w.StartArray();
    for (const std::string& id : role.frameworks) Str(w, id);
    w.EndArray();
    Key(w, "resources");  // Mesos's older name for "allocated"
    ResourcesJson(w, role.allocated);
    Key(w, "allocated");
    ResourcesJson(w, role.allocated);
    Key(w, "offered");
    ResourcesJson(w, role.offered);
    Key(w, "reserved");
    ResourcesJson(w, role.reserved);
    if (role.quota != nullptr) {
      auto quantities = [&](const Quantities& q) {
        w.StartObject();
        for (const auto& [rname, value] : q.entries()) {
          Str(w, rname);
          w.Double(FromMilli(value));
        }
        w.EndObject();
      };
      Key(w, "quota");
      w.StartObject();
      Key(w, "role");
      Str(w, name);
      Key(w, "guarantee");
      quantities(role.quota->guarantee);
      Key(w, "limit");
      quantities(role.quota->limit);
      w.EndObject();
    }
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

}  // namespace corral
