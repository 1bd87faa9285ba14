// The agent's view of itself for its HTTP endpoints: snapshots, metrics and
// the sandboxes whose files may be served. Everything here reads the
// agent's state on its loop.
#include <algorithm>
#include <map>
#include <set>

#include "absl/strings/str_cat.h"
#include "corral/agent/agent.h"
#include "corral/common/ids.h"
#include "corral/common/task_state.h"

namespace corral {
namespace {

constexpr size_t kMaxCompletedTasks = 1000;
constexpr size_t kMaxCompletedExecutors = 100;
constexpr size_t kMaxCompletedFrameworks = 50;

}  // namespace

// Mesos names the executor it runs a command task with after the task.
v1::ExecutorInfo CommandExecutorOf(const std::string& framework_id, const v1::TaskInfo& task) {
  v1::ExecutorInfo info;
  info.mutable_executor_id()->set_value(task.task_id().value());
  info.mutable_framework_id()->set_value(framework_id);
  info.set_name(absl::StrCat("Command Executor (Task: ", task.task_id().value(), ") (Command: sh -c '",
                             task.command().value().substr(0, 20),
                             task.command().value().size() > 20 ? "...')" : "')"));
  *info.mutable_command() = task.command();
  return info;
}

void Agent::FillTask(const TaskRecord& task, v1::Task* t) const {
  t->set_name(task.info.name());
  *t->mutable_task_id() = task.info.task_id();
  t->mutable_framework_id()->set_value(task.framework_id);
  t->mutable_executor_id()->set_value(task.executor_id.empty() ? task.info.task_id().value() : task.executor_id);
  t->mutable_agent_id()->set_value(agent_id_);
  t->set_state(task.state);
  *t->mutable_resources() = task.info.resources();
  if (task.latest.has_state()) *t->add_statuses() = task.latest;
  if (task.info.has_labels()) *t->mutable_labels() = task.info.labels();
}

void Agent::RecordCompletedTask(const TaskRecord& task) {
  v1::Task t;
  FillTask(task, &t);
  completed_tasks_.push_back(std::move(t));
  if (completed_tasks_.size() > kMaxCompletedTasks) completed_tasks_.pop_front();
  // A command task's container is its executor's, as Mesos shows it.
  if (task.executor_id.empty() && !task.sandbox.empty()) {
    v1::internal::AgentSnapshot::Executor e;
    *e.mutable_info() = CommandExecutorOf(task.framework_id, task.info);
    e.set_container_id(task.container_id);
    e.set_directory(task.sandbox);
    e.add_task_ids(task.info.task_id().value());
    e.set_command(true);
    completed_executors_.push_back(std::move(e));
    if (completed_executors_.size() > kMaxCompletedExecutors) completed_executors_.pop_front();
  }
}

const v1::FrameworkInfo& Agent::FrameworkOf(const std::string& framework_id) const {
  static const v1::FrameworkInfo kUnknown;
  auto it = frameworks_.find(framework_id);
  return it == frameworks_.end() ? kUnknown : it->second;
}

void Agent::RecordCompletedFramework(const std::string& framework_id, v1::FrameworkInfo info) {
  info.mutable_id()->set_value(framework_id);
  completed_frameworks_.push_back(std::move(info));
  if (completed_frameworks_.size() > kMaxCompletedFrameworks) completed_frameworks_.pop_front();
}

void Agent::RetireFrameworkIfIdle(const std::string& framework_id) {
  auto f = frameworks_.find(framework_id);
  if (f == frameworks_.end()) return;
  auto has = [&](const auto& by_key) {
    auto it = by_key.lower_bound({framework_id, std::string()});
    return it != by_key.end() && it->first.first == framework_id;
  };
  if (has(tasks_) || has(executors_)) return;
  RecordCompletedFramework(framework_id, std::move(f->second));
  frameworks_.erase(f);
  writer_->RemoveTree(FrameworkMetaDir(framework_id));
}

void Agent::RecordCompletedExecutor(const Key& key, const ExecutorRecord& ex) {
  v1::internal::AgentSnapshot::Executor e;
  *e.mutable_info() = ex.info;
  e.mutable_info()->mutable_framework_id()->set_value(key.first);
  e.set_container_id(ex.container_id);
  e.set_directory(ex.sandbox);
  for (const std::string& tid : ex.tasks) e.add_task_ids(tid);
  completed_executors_.push_back(std::move(e));
  if (completed_executors_.size() > kMaxCompletedExecutors) completed_executors_.pop_front();
}

void Agent::CountTerminal(v1::TaskState state) { ++terminal_counts_[state]; }

v1::internal::AgentSnapshot Agent::Snapshot() {
  return loop_->Call([this] {
    v1::internal::AgentSnapshot s;
    *s.mutable_agent_info() = info_;
    s.mutable_agent_info()->mutable_id()->set_value(agent_id_);
    total_.ToProto(s.mutable_total());
    s.set_master(options_.master);
    s.set_registered(registered_);
    s.set_start_time(start_time_);
    for (const auto& [id, info] : frameworks_) {
      v1::FrameworkInfo* f = s.add_frameworks();
      *f = info;
      f->mutable_id()->set_value(id);
    }
    Resources used;
    for (const auto& [key, ex] : executors_) {
      auto* e = s.add_executors();
      *e->mutable_info() = ex.info;
      e->mutable_info()->mutable_framework_id()->set_value(key.first);
      e->set_container_id(ex.container_id);
      e->set_directory(ex.sandbox);
      e->set_subscribed(ex.sink != nullptr);
      for (const std::string& tid : ex.tasks) e->add_task_ids(tid);
      if (auto r = Resources::FromProto(ex.info.resources()); r.ok()) used += *r;
    }
    for (const auto& [key, task] : tasks_) {
      auto* t = s.add_tasks();
      FillTask(task, t->mutable_task());
      if (task.terminal) {
        t->set_phase(v1::internal::AgentSnapshot::TERMINATED);
      } else if (task.executor_id.empty()) {
        t->set_phase(task.pid > 0 || task.state != v1::TASK_STAGING ? v1::internal::AgentSnapshot::LAUNCHED
                                                                    : v1::internal::AgentSnapshot::PENDING);
      } else {
        auto ex = executors_.find({key.first, task.executor_id});
        bool delivered = ex != executors_.end() && ex->second.sink != nullptr &&
                         std::none_of(ex->second.queued.begin(), ex->second.queued.end(),
                                      [&](const v1::TaskInfo& q) { return q.task_id().value() == key.second; });
        t->set_phase(delivered                                      ? v1::internal::AgentSnapshot::LAUNCHED
                     : ex != executors_.end() && ex->second.pid > 0 ? v1::internal::AgentSnapshot::QUEUED
                                                                    : v1::internal::AgentSnapshot::PENDING);
        if (ex != executors_.end()) t->set_directory(ex->second.sandbox);
      }
      if (task.executor_id.empty()) {
        t->set_directory(task.sandbox);
        // Command tasks run in a container of their own: an executor, to Mesos tools.
        auto* e = s.add_executors();
        *e->mutable_info() = CommandExecutorOf(key.first, task.info);
        e->set_container_id(task.container_id);
        e->set_directory(task.sandbox);
        e->add_task_ids(key.second);
        e->set_command(true);
        e->set_subscribed(true);
      }
      if (!task.terminal) {
        if (auto r = Resources::FromProto(task.info.resources()); r.ok()) used += *r;
      }
    }
    used.ToProto(s.mutable_used());
    for (const v1::Task& t : completed_tasks_) *s.add_completed_tasks() = t;
    for (const auto& e : completed_executors_) *s.add_completed_executors() = e;
    for (const auto& f : completed_frameworks_) *s.add_completed_frameworks() = f;
    return s;
  });
}

std::map<std::string, double> Agent::Metrics() {
  v1::internal::AgentSnapshot s = Snapshot();
  auto counts = loop_->Call([this] {
    auto c = terminal_counts_;
    c[-1] = static_cast<double>(valid_status_updates_);
    return c;
  });
  std::map<std::string, double> m;
  std::map<v1::TaskState, double> by_state;
  for (const auto& t : s.tasks()) by_state[t.task().state()] += 1;
  m["slave/registered"] = s.registered() ? 1 : 0;
  m["slave/uptime_secs"] = clock_->NowSeconds() - s.start_time();
  m["slave/frameworks_active"] = s.frameworks_size();
  m["slave/executors_running"] = s.executors_size();
  m["slave/executors_terminated"] = s.completed_executors_size();
  m["slave/tasks_staging"] = by_state[v1::TASK_STAGING];
  m["slave/tasks_starting"] = by_state[v1::TASK_STARTING];
  m["slave/tasks_running"] = by_state[v1::TASK_RUNNING];
  m["slave/tasks_killing"] = by_state[v1::TASK_KILLING];
  m["slave/tasks_finished"] = counts[v1::TASK_FINISHED];
  m["slave/tasks_failed"] = counts[v1::TASK_FAILED];
  m["slave/tasks_killed"] = counts[v1::TASK_KILLED];
  m["slave/tasks_lost"] = counts[v1::TASK_LOST];
  m["slave/tasks_gone"] = counts[v1::TASK_GONE];
  m["slave/valid_status_updates"] = counts[-1];
  auto total = Resources::FromProto(s.total());
  auto used = Resources::FromProto(s.used());
  for (const char* name : {"cpus", "mem", "disk", "gpus"}) {
    double t = total.ok() ? FromMilli(total->Scalar(name)) : 0;
    double u = used.ok() ? FromMilli(used->Scalar(name)) : 0;
    m[absl::StrCat("slave/", name, "_total")] = t;
    m[absl::StrCat("slave/", name, "_used")] = u;
    m[absl::StrCat("slave/", name, "_percent")] = t > 0 ? u / t : 0;
  }
  return m;
}

v1::internal::AgentSnapshot Agent::SnapshotFor(const std::optional<std::string>& principal) {
  v1::internal::AgentSnapshot s = Snapshot();
  if (options_.authorizer == nullptr) return s;
  auth::ViewFilter view(options_.authorizer.get(), principal);
  std::map<std::string, std::string> users;  // framework ID -> its user
  for (const auto* list : {&s.frameworks(), &s.completed_frameworks()}) {
    for (const auto& f : *list) users[f.id().value()] = f.user();
  }
  std::set<std::string> visible;  // frameworks the principal may view
  for (const auto& [id, user] : users) {
    if (view.Allows(auth::Action::kViewFrameworks, user)) visible.insert(id);
  }
  // Each executor's user: its command's, else its framework's. A task runs
  // as its executor does (a command task's executor carries its command).
  std::map<std::pair<std::string, std::string>, std::string> executor_users;
  for (const auto* list : {&s.executors(), &s.completed_executors()}) {
    for (const auto& e : *list) {
      const std::string& fid = e.info().framework_id().value();
      executor_users[{fid, e.info().executor_id().value()}] =
          e.info().command().has_user() ? e.info().command().user() : users[fid];
    }
  }
  auto keep_framework = [&](const v1::FrameworkInfo& f) { return visible.count(f.id().value()) > 0; };
  auto keep_executor = [&](const v1::internal::AgentSnapshot::Executor& e) {
    const std::string& fid = e.info().framework_id().value();
    return visible.count(fid) > 0 &&
           view.Allows(auth::Action::kViewExecutors, executor_users[{fid, e.info().executor_id().value()}]);
  };
  auto keep_task = [&](const v1::Task& t) {
    const std::string& fid = t.framework_id().value();
    if (visible.count(fid) == 0) return false;
    if (t.has_user()) return view.Allows(auth::Action::kViewTasks, t.user());
    auto it = executor_users.find({fid, t.executor_id().value()});
    return view.Allows(auth::Action::kViewTasks, it != executor_users.end() ? it->second : users[fid]);
  };
  auto filter = [](auto* list, auto keep) {
    auto end = std::remove_if(list->begin(), list->end(), [&](const auto& item) { return !keep(item); });
    list->erase(end, list->end());
  };
  filter(s.mutable_frameworks(), keep_framework);
  filter(s.mutable_completed_frameworks(), keep_framework);
  filter(s.mutable_executors(), keep_executor);
  filter(s.mutable_completed_executors(), keep_executor);
  filter(s.mutable_tasks(), [&](const v1::internal::AgentSnapshot::AgentTask& t) { return keep_task(t.task()); });
  filter(s.mutable_completed_tasks(), keep_task);
  return s;
}

absl::StatusOr<sandbox_files::OpenFile> Agent::OpenSandboxFile(const std::string& path,
                                                               const std::optional<std::string>& principal) {
  // Each sandbox with the user its container runs as.
  std::vector<std::string> dirs;
  std::vector<std::string> users;
  loop_->Call([&] {
    auto add = [&](const std::string& dir, std::string user) {
      if (dir.empty()) return;
      dirs.push_back(dir);
      users.push_back(std::move(user));
    };
    for (const auto& [key, ex] : executors_) add(ex.sandbox, SandboxUser(key.first, ex.info.command()));
    for (const auto& [key, task] : tasks_) add(task.sandbox, SandboxUser(key.first, task.info.command()));
    for (const auto& [key, kept] : sandboxes_) add(kept.directory, kept.user);
    for (const auto& e : completed_executors_) {
      add(e.directory(), SandboxUser(e.info().framework_id().value(), e.info().command()));
    }
    return 0;
  });
  if (options_.authorizer != nullptr) {
    int root = sandbox_files::Innermost(dirs, path);
    if (root >= 0) {
      if (absl::Status st =
              auth::Authorize(options_.authorizer.get(), auth::Action::kAccessSandboxes, principal, users[root]);
          !st.ok()) {
        return st;
      }
    }
  }
  return sandbox_files::Open(dirs, path);
}

}  // namespace corral
