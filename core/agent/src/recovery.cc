// Checkpoints and recovery: what the agent writes under its work dir's meta/
// as tasks and executors change (for frameworks that checkpoint), and how a
// restarted agent reads it back, adopts the containers still running,
// reports those that ended and reconnects executors.
#include "agent_impl.h"

namespace corral {

namespace {

// The checkpoint files in `dir` (not temporaries, not exit records).
std::vector<std::string> CheckpointFiles(const std::string& dir) {
  std::vector<std::string> out;
  std::error_code ec;
  for (const auto& entry : fs::directory_iterator(dir, ec)) {
    std::string name = entry.path().filename().string();
    if (!entry.is_regular_file(ec) || absl::EndsWith(name, ".tmp") || absl::EndsWith(name, ".exit")) continue;
    out.push_back(entry.path().string());
  }
  std::sort(out.begin(), out.end());
  return out;
}

void RemoveFile(const std::string& path) {
  std::error_code ec;
  fs::remove(path, ec);
}

}  // namespace

bool Agent::Checkpoints(const std::string& framework_id) const {
  auto it = frameworks_.find(framework_id);
  return it != frameworks_.end() && it->second.checkpoint();
}

std::string Agent::FrameworkMetaDir(const std::string& framework_id) const {
  return absl::StrCat(meta_dir_, "/frameworks/", CheckpointName(framework_id));
}

namespace {

// Logs a failed checkpoint (but not one dropped as the agent stops), then
// passes the result on.
CheckpointWriter::Done Logged(std::string what, CheckpointWriter::Done then = nullptr) {
  return [what = std::move(what), then = std::move(then)](const absl::Status& s) {
    if (!s.ok() && !absl::IsCancelled(s)) CORRAL_LOG(ERROR) << "Cannot checkpoint " << what << ": " << s.message();
    if (then) then(s);
  };
}

}  // namespace

CheckpointWriter::Done Agent::OnLoop(std::function<void(const absl::Status&)> then) {
  return [loop = std::weak_ptr<EventLoop>(loop_), then = std::move(then)](const absl::Status& s) {
    if (auto l = loop.lock()) l->Post([then, s] { then(s); });
  };
}

void Agent::CheckpointAgent() {
  v1::internal::AgentCheckpoint c;
  *c.mutable_info() = info_;
  c.set_boot_id(boot_id_);
  if (!agent_secret_.empty()) c.set_agent_secret(agent_secret_);
  writer_->Write(meta_dir_ + "/agent", EncodeCheckpoint(c), true, [](const absl::Status& s) {
    if (!s.ok() && !absl::IsCancelled(s)) {
      CORRAL_LOG(ERROR) << "Cannot checkpoint this agent's identity (" << s.message()
                        << "): after a restart it will come back as a new agent";
    }
  });
}

void Agent::CheckpointFramework(const std::string& framework_id, const v1::FrameworkInfo& info,
                                CheckpointWriter::Done done) {
  auto it = frameworks_.find(framework_id);
  bool changed = it == frameworks_.end() || it->second.SerializeAsString() != info.SerializeAsString();
  frameworks_[framework_id] = info;
  if (!changed || !info.checkpoint()) return;
  v1::internal::FrameworkCheckpoint c;
  *c.mutable_info() = info;
  writer_->Write(FrameworkMetaDir(framework_id) + "/framework", EncodeCheckpoint(c), true,
                 Logged("framework " + framework_id, std::move(done)));
}

bool Agent::CheckpointTask(const Key& key, CheckpointWriter::Done done) {
  if (!Checkpoints(key.first)) return false;
  auto t = tasks_.find(key);
  if (t == tasks_.end()) return false;
  const TaskRecord& task = t->second;
  v1::internal::TaskCheckpoint c;
  *c.mutable_info() = task.info;
  c.set_executor_id(task.executor_id);
  c.set_container_id(task.container_id);
  c.set_sandbox(task.sandbox);
  c.set_state(task.state);
  if (task.latest.has_state()) *c.mutable_latest() = task.latest;
  c.set_started_at(task.started_at);
  for (const v1::TaskStatus& st : updates_.Pending(key)) *c.add_pending() = st;
  writer_->Write(absl::StrCat(FrameworkMetaDir(key.first), "/tasks/", CheckpointName(key.second)), EncodeCheckpoint(c),
                 true, Logged("task " + key.second, std::move(done)));
  return true;
}

void Agent::CheckpointLaunch(const v1::FrameworkInfo& framework, const std::vector<Key>& tasks,
                             std::function<void(const absl::Status&)> then) {
  // The writes' results arrive on the writer's thread before the barrier's.
  auto first_error = std::make_shared<absl::Status>();
  auto collect = [first_error](const absl::Status& s) { first_error->Update(s); };
  CheckpointFramework(framework.id().value(), framework, collect);
  for (const Key& key : tasks) CheckpointTask(key, collect);
  writer_->Barrier([first_error, then = OnLoop(std::move(then))](const absl::Status& s) {
    absl::Status result = *first_error;
    result.Update(s);
    then(result);
  });
}

void Agent::AfterCheckpoints(const std::string& framework_id, std::function<void()> then) {
  if (!Checkpoints(framework_id)) return then();
  writer_->Barrier(OnLoop([then = std::move(then)](const absl::Status&) { then(); }));
}

void Agent::CheckpointExecutor(const Key& key) {
  if (!Checkpoints(key.first)) return;
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  v1::internal::ExecutorCheckpoint c;
  *c.mutable_info() = it->second.info;
  c.set_container_id(it->second.container_id);
  c.set_sandbox(it->second.sandbox);
  for (const std::string& t : it->second.tasks) c.add_tasks(t);
  writer_->Write(absl::StrCat(FrameworkMetaDir(key.first), "/executors/", CheckpointName(key.second)),
                 EncodeCheckpoint(c), true, Logged("executor " + key.second));
}

void Agent::ForgetTask(const Key& key) {
  if (Checkpoints(key.first))
    writer_->Remove(absl::StrCat(FrameworkMetaDir(key.first), "/tasks/", CheckpointName(key.second)));
}

void Agent::ForgetExecutor(const Key& key) {
  if (Checkpoints(key.first))
    writer_->Remove(absl::StrCat(FrameworkMetaDir(key.first), "/executors/", CheckpointName(key.second)));
}

void Agent::CheckpointContainer(const std::string& container_id, const std::string& framework_id,
                                const std::string& executor_id, pid_t pid, const std::string& sandbox,
                                const std::string& status_path, bool recoverable, const std::string& cgroup,
                                CheckpointWriter::Done done) {
  v1::internal::ContainerCheckpoint c;
  c.set_cgroup(cgroup);
  c.set_container_id(container_id);
  c.set_framework_id(framework_id);
  c.set_executor_id(executor_id);
  c.set_pid(pid);
  c.set_start_time(ProcessStartTime(pid));
  c.set_sandbox(sandbox);
  c.set_status_path(status_path);
  c.set_recoverable(recoverable);
  // Synced only for containers that outlive a crash: the others are killed
  // on recovery, and a machine crash ends them anyway.
  writer_->Write(absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id)), EncodeCheckpoint(c),
                 recoverable, Logged("container " + container_id, std::move(done)));
}

void Agent::ForgetContainer(const std::string& container_id) {
  std::string base = absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id));
  writer_->Remove(base);
  writer_->Remove(base + ".exit");
}

void Agent::KillRecordedContainers(const std::string& boot_id) {
  for (const std::string& path : CheckpointFiles(meta_dir_ + "/containers")) {
    v1::internal::ContainerCheckpoint c;
    if (ReadCheckpointFile(path, &c).ok() && boot_id == boot_id_) KillRecordedProcessGroup(c.pid(), c.start_time());
    RemoveFile(path);
    RemoveFile(path + ".exit");
  }
  // And whatever is in this agent's cgroups, recorded or not.
  SweepCgroups({});
}

void Agent::SweepCgroups(const std::map<std::string, std::string>& adopted) {
  if (!cgroups_ || !cgroups_->enabled()) return;
  size_t killed = cgroups_->Recover(adopted);
  if (killed > 0) {
    CORRAL_LOG(WARNING) << "Killed " << killed << " processes left by the last run in cgroups no recovered "
                        << "container claims";
  }
}

absl::Status Agent::Recover() {
  meta_dir_ = options_.work_dir + "/meta";
  boot_id_ = BootId();
  std::error_code ec;
  fs::create_directories(meta_dir_ + "/containers", ec);
  if (ec) return absl::InvalidArgumentError(absl::StrCat("cannot create ", meta_dir_, ": ", ec.message()));
  writer_ = std::make_unique<CheckpointWriter>(meta_dir_);
  const std::string hint =
      "; start the agent with --recover=cleanup to discard its checkpointed state "
      "(killing what it still runs) and register as a new agent";
  v1::internal::AgentCheckpoint agent;
  absl::Status s = ReadCheckpointFile(meta_dir_ + "/agent", &agent);
  if (options_.recover == "cleanup") {
    std::string boot = s.ok() ? agent.boot_id() : boot_id_;
    KillRecordedContainers(boot);
    fs::remove_all(meta_dir_ + "/frameworks", ec);
    RemoveFile(meta_dir_ + "/agent");
    CORRAL_LOG(INFO) << "Discarded the checkpointed state under " << meta_dir_ << " (--recover=cleanup)";
    return absl::OkStatus();
  }
  if (absl::IsNotFound(s)) {
    // Never registered: nothing to recover, but nothing of an earlier run
    // may keep running either.
    KillRecordedContainers(boot_id_);
    return absl::OkStatus();
  }
  if (!s.ok()) return absl::DataLossError(absl::StrCat(s.message(), hint));
  auto old_total = Resources::FromProto(agent.info().resources());
  if (!old_total.ok() || !(*old_total == total_)) {
    return absl::FailedPreconditionError(absl::StrCat("the agent's resources changed since it last ran (were ",
                                                      old_total.ok() ? old_total->ToString() : "invalid", ", now ",
                                                      total_.ToString(), ")", hint));
  }
  v1::AgentInfo now_attrs, old_attrs;
  *now_attrs.mutable_attributes() = info_.attributes();
  *old_attrs.mutable_attributes() = agent.info().attributes();
  if (now_attrs.SerializeAsString() != old_attrs.SerializeAsString()) {
    return absl::FailedPreconditionError(absl::StrCat("the agent's attributes changed since it last ran", hint));
  }
  agent_id_ = agent.info().id().value();
  agent_secret_ = agent.agent_secret();
  info_.mutable_id()->set_value(agent_id_);
  bool same_boot = agent.boot_id() == boot_id_;
  if (!same_boot) CORRAL_LOG(WARNING) << "The machine rebooted since the agent last ran: its containers are gone";

  // Frameworks, their executors and tasks. Any unreadable file stops the
  // agent: it must not run on state it cannot trust.
  for (const auto& entry : fs::directory_iterator(meta_dir_ + "/frameworks", ec)) {
    std::string dir = entry.path().string();
    v1::internal::FrameworkCheckpoint fc;
    if (absl::Status r = ReadCheckpointFile(dir + "/framework", &fc); !r.ok()) {
      return absl::DataLossError(absl::StrCat(r.message(), hint));
    }
    std::string fid = fc.info().id().value();
    frameworks_[fid] = fc.info();
    for (const std::string& path : CheckpointFiles(dir + "/executors")) {
      v1::internal::ExecutorCheckpoint xc;
      if (absl::Status r = ReadCheckpointFile(path, &xc); !r.ok())
        return absl::DataLossError(absl::StrCat(r.message(), hint));
      Key key{fid, xc.info().executor_id().value()};
      ExecutorRecord& ex = executors_[key];
      ex.framework_id = fid;
      ex.info = xc.info();
      ex.container_id = xc.container_id();
      ex.sandbox = xc.sandbox();
      ex.tasks.insert(xc.tasks().begin(), xc.tasks().end());
      ex.recovered = true;
    }
    for (const std::string& path : CheckpointFiles(dir + "/tasks")) {
      v1::internal::TaskCheckpoint tc;
      if (absl::Status r = ReadCheckpointFile(path, &tc); !r.ok())
        return absl::DataLossError(absl::StrCat(r.message(), hint));
      Key key{fid, tc.info().task_id().value()};
      TaskRecord& task = tasks_[key];
      task.framework_id = fid;
      task.info = tc.info();
      task.executor_id = tc.executor_id();
      task.container_id = tc.container_id();
      task.sandbox = tc.sandbox();
      task.state = tc.state();
      task.latest = tc.latest();
      task.terminal = IsTerminalState(tc.state());
      task.started_at = tc.started_at();
      updates_.Restore(key, {tc.pending().begin(), tc.pending().end()});
      if (!task.sandbox.empty())
        RememberSandbox(key, task.sandbox, SandboxUser(fid, task.info.command()));
      else if (!task.executor_id.empty()) {
        auto ex = executors_.find({fid, task.executor_id});
        if (ex != executors_.end())
          RememberSandbox(key, ex->second.sandbox, SandboxUser(fid, ex->second.info.command()));
      }
    }
  }

  // Containers: reattach those of recovered tasks and executors; kill the
  // rest (non-checkpointing frameworks, and anything no record claims).
  std::map<std::string, std::string> adopted;  // container ID -> its cgroup
  for (const std::string& path : CheckpointFiles(meta_dir_ + "/containers")) {
    v1::internal::ContainerCheckpoint c;
    if (absl::Status r = ReadCheckpointFile(path, &c); !r.ok()) {
      return absl::DataLossError(absl::StrCat(r.message(), hint));
    }
    bool alive = same_boot && c.pid() > 0 && c.start_time() != 0 && ProcessStartTime(c.pid()) == c.start_time();
    Key owner{c.framework_id(), c.executor_id()};
    auto ex = executors_.find(owner);
    auto task = tasks_.find(owner);
    bool claimed =
        c.recoverable() &&
        ((ex != executors_.end() && ex->second.container_id == c.container_id()) ||
         (task != tasks_.end() && task->second.container_id == c.container_id() && task->second.executor_id.empty()));
    if (!claimed) {
      if (same_boot && KillRecordedProcessGroup(c.pid(), c.start_time())) {
        CORRAL_LOG(INFO) << "Killed container " << c.container_id() << " (pid " << c.pid()
                         << ") left by the last run: no checkpointed task or executor claims it";
      }
      RemoveFile(path);
      RemoveFile(path + ".exit");
      continue;
    }
    if (alive) {
      if (ex != executors_.end() && ex->second.container_id == c.container_id())
        ex->second.pid = c.pid();
      else
        task->second.pid = c.pid();
      adopted[c.container_id()] = c.cgroup();
    }
    std::weak_ptr<EventLoop> loop = loop_;
    auto on_exit = [loop, this, c](const ExitInfo& exit) {
      if (auto l = loop.lock()) l->Post([this, c, exit] { OnRecoveredContainerExit(c, exit); });
    };
    ExitInfo unknown;
    unknown.known = false;
    if (!alive || !ProcessReaper::Get().Adopt(c.pid(), on_exit)) {
      loop_->Post([this, c, unknown] { OnRecoveredContainerExit(c, unknown); });
    }
  }
  SweepCgroups(adopted);

  size_t running = 0, lost = 0;
  for (auto& [key, task] : tasks_) {
    if (task.terminal) continue;
    // Running, or ended with its exit still to be reported (its container's
    // record is still there): either way its container accounts for it.
    auto accounted = [&](pid_t pid, const std::string& container_id) {
      return pid > 0 || (!container_id.empty() &&
                         fs::exists(absl::StrCat(meta_dir_, "/containers/", CheckpointName(container_id))));
    };
    auto ex = executors_.find({key.first, task.executor_id});
    bool has_container = task.executor_id.empty()
                             ? accounted(task.pid, task.container_id)
                             : ex != executors_.end() && accounted(ex->second.pid, ex->second.container_id);
    if (has_container) {
      ++running;
      if (task.pid > 0) ResumeRecoveredTask(key);
      continue;
    }
    // Its container never started (the agent stopped while fetching, say)
    // or its executor is gone without a trace.
    ++lost;
    v1::TaskStatus st = MakeStatus(task, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT,
                                   "The agent restarted before the task's container was running");
    st.set_reason(v1::TaskStatus::REASON_AGENT_RESTARTED);
    ProduceUpdate(key.first, st);
  }
  for (auto& [key, ex] : executors_) {
    if (ex.pid <= 0) continue;
    auto er = Resources::FromProto(ex.info.resources());
    ex.limits = LimitsFor(er.ok() ? *er : Resources());
    for (const std::string& tid : ex.tasks) {
      auto t = tasks_.find({key.first, tid});
      if (t != tasks_.end()) ex.limits += LimitsFor(t->second.info);
    }
    Key k = key;
    ex.registration_timer = loop_->PostAfter(Seconds(options_.executor_reregistration_timeout), [this, k] {
      auto it = executors_.find(k);
      if (it == executors_.end() || it->second.sink) return;
      CORRAL_LOG(WARNING) << "Recovered executor " << k.second << " did not subscribe again in time; killing it";
      it->second.reregistration_timed_out = true;
      if (it->second.pid > 0) ::kill(-it->second.pid, SIGKILL);
    });
  }
  CORRAL_LOG(INFO) << "Recovered agent " << agent_id_ << ": " << frameworks_.size() << " frameworks, "
                   << executors_.size() << " executors, " << running << " running tasks"
                   << (lost ? absl::StrCat(", ", lost, " lost") : "");
  return absl::OkStatus();
}

void Agent::OnRecoveredContainerExit(const v1::internal::ContainerCheckpoint& c, ExitInfo exit) {
  ExitInfo recorded;
  if (!c.status_path().empty() && ReadSupervisedExit(c.status_path(), &recorded)) exit = recorded;
  Key owner{c.framework_id(), c.executor_id()};
  auto ex = executors_.find(owner);
  if (ex != executors_.end() && ex->second.container_id == c.container_id()) {
    OnExecutorExited(owner, exit);
  } else {
    auto task = tasks_.find(owner);
    if (task != tasks_.end() && task->second.container_id == c.container_id()) {
      SandboxFinished(task->second.sandbox, {owner});
      OnTaskExited(owner, exit);
    }
  }
  ForgetContainer(c.container_id());
}

void Agent::ResumeRecoveredTask(const Key& key) {
  TaskRecord& task = tasks_[key];
  StartChecks(key, task);
  if (task.info.has_max_completion_time() && task.started_at > 0) {
    // It counts from the task's start, not the agent's.
    ArmDeadline(key, task.started_at + task.info.max_completion_time().nanoseconds() / 1e9 - clock_->NowSeconds());
  }
}

void Agent::ReconcileExecutorTasks(ExecutorRecord& ex, const Key& key, const v1::executor::Call& subscribe) {
  ex.recovered = false;
  std::set<std::string> known;
  // Updates the executor sent that this agent never recorded (it stopped
  // before checkpointing them) are taken now; those it has are not.
  for (const auto& u : subscribe.subscribe().unacknowledged_updates()) {
    const v1::TaskStatus& st = u.status();
    known.insert(st.task_id().value());
    auto t = tasks_.find({key.first, st.task_id().value()});
    if (t == tasks_.end() || t->second.terminal || t->second.executor_id != key.second) continue;
    if (t->second.latest.uuid() == st.uuid() || updates_.Holds(t->first, st.uuid())) continue;
    v1::TaskStatus status = st;
    status.set_source(v1::TaskStatus::SOURCE_EXECUTOR);
    status.mutable_agent_id()->set_value(agent_id_);
    status.mutable_executor_id()->set_value(key.second);
    ProduceUpdate(key.first, status);
  }
  for (const auto& t : subscribe.subscribe().unacknowledged_tasks()) known.insert(t.task_id().value());
  // A task still staging that the executor does not know was never
  // delivered to it: the agent stopped first.
  for (const std::string& tid : std::set<std::string>(ex.tasks)) {
    auto t = tasks_.find({key.first, tid});
    if (t == tasks_.end() || t->second.terminal || t->second.state != v1::TASK_STAGING || known.count(tid)) continue;
    v1::TaskStatus st = MakeStatus(t->second, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT,
                                   "The agent restarted before the task reached its executor");
    st.set_reason(v1::TaskStatus::REASON_AGENT_RESTARTED);
    ProduceUpdate(key.first, st);
  }
}

}  // namespace corral
