// Command tasks, from the master's RunTask to their exit: the launch path
// (RunTask -> LaunchCommandTask -> fetch -> StartCommandTask ->
// StartContainer), kills with their grace periods, deadlines, exits, and
// the cleanup once a task's last update is acknowledged.
#include "agent_impl.h"

namespace corral {

v1::TaskStatus Agent::MakeStatus(const TaskRecord& task, v1::TaskState state, v1::TaskStatus::Source source,
                                 const std::string& message) {
  v1::TaskStatus st;
  *st.mutable_task_id() = task.info.task_id();
  st.set_state(state);
  st.set_source(source);
  if (!message.empty()) st.set_message(message);
  st.mutable_agent_id()->set_value(agent_id_);
  if (!task.executor_id.empty()) st.mutable_executor_id()->set_value(task.executor_id);
  st.set_timestamp(clock_->NowSeconds());
  st.set_uuid(NewUuidBytes());
  if (task.info.has_check()) {
    // Every update of a checked task says the check's latest result, empty
    // until the first check has finished, as Mesos's do.
    *st.mutable_check_status() = LastCheckResult(task);
  }
  return st;
}

void Agent::FailLaunch(TaskRecord& task, const std::string& why) {
  v1::TaskStatus st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT, why);
  st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  ProduceUpdate(task.framework_id, st);
}

void Agent::KilledDuringLaunch(TaskRecord& task) {
  v1::TaskStatus st = MakeStatus(task, task.kill_state, v1::TaskStatus::SOURCE_AGENT,
                                 task.kill_message.empty() ? "Killed before it was launched" : task.kill_message);
  st.set_reason(task.has_kill_reason ? task.kill_reason : v1::TaskStatus::REASON_TASK_KILLED_DURING_LAUNCH);
  ProduceUpdate(task.framework_id, st);
}

void Agent::RunTask(const v1::internal::RunTask& msg) {
  const v1::FrameworkInfo& fw = msg.framework();
  std::string fid = fw.id().value();
  Key key{fid, msg.task().task_id().value()};
  if (tasks_.count(key)) {
    CORRAL_LOG(WARNING) << "Ignoring a duplicate launch of task " << key.second;
    return;
  }
  TaskRecord& task = tasks_[key];
  task.framework_id = fid;
  task.info = msg.task();
  if (!fw.checkpoint()) {
    CheckpointFramework(fid, fw);  // recorded, not written
    return StartTask(msg, absl::OkStatus());
  }
  // Nothing runs that a restart could not account for: the launch is
  // written down first, and the task starts once that is durable.
  task.checkpointing = true;
  auto launch = std::make_shared<const v1::internal::RunTask>(msg);
  CheckpointLaunch(fw, {key}, [this, launch](const absl::Status& s) { StartTask(*launch, s); });
}

void Agent::StartTask(const v1::internal::RunTask& msg, const absl::Status& checkpointed) {
  const v1::FrameworkInfo& fw = msg.framework();
  std::string fid = fw.id().value();
  Key key{fid, msg.task().task_id().value()};
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal || stopping_) return;
  TaskRecord& task = it->second;
  task.checkpointing = false;
  if (!checkpointed.ok()) {
    return FailLaunch(task, absl::StrCat("Cannot checkpoint the task: ", checkpointed.message()));
  }
  if (task.killing) return KilledDuringLaunch(task);
  if (msg.task().has_executor()) {
    task.executor_id = msg.task().executor().executor_id().value();
    std::string error;
    ExecutorRecord* ex = EnsureExecutor(fw, msg.task().executor(), LimitsFor(msg.task()), &error);
    if (ex == nullptr) return FailLaunch(task, error);
    ex->tasks.insert(key.second);
    CheckpointExecutor({fid, task.executor_id});
    RememberSandbox(key, ex->sandbox, ex->info.command().has_user() ? ex->info.command().user() : fw.user());
    ex->queued.push_back(msg.task());
    DeliverToExecutor(*ex);
    return;
  }
  LaunchCommandTask(task, fw);
}

void Agent::LaunchCommandTask(TaskRecord& task, const v1::FrameworkInfo& framework) {
  Key key{task.framework_id, task.info.task_id().value()};
  task.container_id = NewIdString();
  if (task.info.command().uris_size() == 0) {
    StartCommandTask(task, framework);
    return;
  }
  // Fetch first, in a process of its own; the task starts when it is done.
  // Until then task.pid is the fetcher's, so a kill stops the fetch.
  auto pid =
      StartFetcher(task.framework_id, key.second, task.container_id, task.info.command(), framework, &task.sandbox,
                   [this, key, framework](const absl::Status& fetched) { OnTaskFetched(key, framework, fetched); });
  if (!pid.ok()) return FailLaunch(task, std::string(pid.status().message()));
  task.pid = *pid;
  RememberSandbox(key, task.sandbox, task.info.command().has_user() ? task.info.command().user() : framework.user());
}

void Agent::OnTaskFetched(const Key& key, const v1::FrameworkInfo& framework, const absl::Status& fetched) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal) return;
  TaskRecord& task = it->second;
  if (task.kill_timer) loop_->Cancel(task.kill_timer);
  task.pid = 0;
  if (task.killing || !fetched.ok()) SandboxFinished(task.sandbox, {key});
  if (task.killing) {
    v1::TaskStatus st = MakeStatus(task, task.kill_state, v1::TaskStatus::SOURCE_AGENT,
                                   task.kill_message.empty() ? "Killed while fetching its URIs" : task.kill_message);
    if (task.has_kill_reason) st.set_reason(task.kill_reason);
    ProduceUpdate(key.first, st);
    return;
  }
  if (!fetched.ok()) return FailLaunch(task, std::string(fetched.message()));
  StartCommandTask(task, framework);
}

void Agent::StartCommandTask(TaskRecord& task, const v1::FrameworkInfo& framework) {
  Key key{task.framework_id, task.info.task_id().value()};
  const v1::CommandInfo& cmd = task.info.command();
  auto fail = [&](const std::string& why) { FailLaunch(task, why); };
  // A command task is its own executor, named after the task, as in Mesos.
  auto pid = StartContainer(
      task.framework_id, key.second, task.container_id, cmd, task.info.container(), framework, LimitsFor(task.info),
      {{"MESOS_TASK_ID", key.second}}, &task.sandbox, [this, key](const ExitInfo& exit) { OnTaskExited(key, exit); },
      [this, key] { OnCommandStarted(key); });
  if (!pid.ok()) {
    fail(std::string(pid.status().message()));
    return;
  }
  task.pid = *pid;
  RememberSandbox(key, task.sandbox, task.info.command().has_user() ? task.info.command().user() : framework.user());
}

void Agent::OnCommandStarted(const Key& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal || it->second.killing) return;
  TaskRecord& task = it->second;
  task.started_at = clock_->NowSeconds();
  task.state = v1::TASK_RUNNING;
  ProduceUpdate(task.framework_id, MakeStatus(task, v1::TASK_RUNNING, v1::TaskStatus::SOURCE_EXECUTOR, ""));
  StartChecks(key, task);
  if (task.info.has_max_completion_time()) ArmDeadline(key, task.info.max_completion_time().nanoseconds() / 1e9);
}

void Agent::ArmDeadline(const Key& key, double seconds) {
  tasks_[key].deadline_timer = loop_->PostAfter(Seconds(std::max(0.0, seconds)), [this, key] {
    auto it = tasks_.find(key);
    if (it == tasks_.end() || it->second.terminal) return;
    it->second.kill_state = v1::TASK_FAILED;
    it->second.has_kill_reason = true;
    it->second.kill_reason = v1::TaskStatus::REASON_MAX_COMPLETION_TIME_REACHED;
    it->second.kill_message = "Task exceeded its max_completion_time";
    Kill(it->second, nullptr);
  });
}

void Agent::Kill(TaskRecord& task, const v1::KillPolicy* policy) {
  if (task.checkpointing && !task.terminal) {
    task.killing = true;  // it ends as it would have started (KilledDuringLaunch)
    return;
  }
  if (task.terminal || task.pid <= 0) return;
  Key key{task.framework_id, task.info.task_id().value()};
  if (!task.killing) {
    task.killing = true;
    auto fw = frameworks_.find(task.framework_id);
    if (fw != frameworks_.end() && HasCapability(fw->second, v1::FrameworkInfo::Capability::TASK_KILLING_STATE)) {
      task.state = v1::TASK_KILLING;
      ProduceUpdate(task.framework_id, MakeStatus(task, v1::TASK_KILLING, v1::TaskStatus::SOURCE_EXECUTOR, ""));
    }
  }
  double grace = options_.default_kill_grace;
  if (policy != nullptr && policy->has_grace_period())
    grace = policy->grace_period().nanoseconds() / 1e9;
  else if (task.info.kill_policy().has_grace_period())
    grace = task.info.kill_policy().grace_period().nanoseconds() / 1e9;
  ::kill(-task.pid, SIGTERM);
  if (task.kill_timer) loop_->Cancel(task.kill_timer);
  pid_t pid = task.pid;
  task.kill_timer = loop_->PostAfter(Seconds(grace), [this, key, pid] {
    auto it = tasks_.find(key);
    if (it != tasks_.end() && !it->second.terminal && it->second.pid == pid) ::kill(-pid, SIGKILL);
  });
}

void Agent::KillTask(const std::string& framework_id, const std::string& task_id, const v1::KillPolicy* policy) {
  Key key{framework_id, task_id};
  auto it = tasks_.find(key);
  if (it == tasks_.end()) {
    // Unknown here: the master believes otherwise, so tell it the truth.
    TaskRecord ghost;
    ghost.info.mutable_task_id()->set_value(task_id);
    v1::TaskStatus st = MakeStatus(ghost, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT, "task is unknown to the agent");
    st.set_reason(v1::TaskStatus::REASON_TASK_UNKNOWN);
    ProduceUpdate(framework_id, st);
    return;
  }
  TaskRecord& task = it->second;
  if (task.terminal) return;
  if (task.executor_id.empty() || task.checkpointing) {
    Kill(task, policy);
    return;
  }
  auto ex = executors_.find({framework_id, task.executor_id});
  if (ex == executors_.end()) return;
  // Not yet handed to the executor: drop it here.
  auto& queued = ex->second.queued;
  for (auto q = queued.begin(); q != queued.end(); ++q) {
    if (q->task_id().value() == task_id) {
      queued.erase(q);
      v1::TaskStatus st =
          MakeStatus(task, v1::TASK_KILLED, v1::TaskStatus::SOURCE_AGENT, "killed before delivery to the executor");
      st.set_reason(v1::TaskStatus::REASON_TASK_KILLED_DURING_LAUNCH);
      ProduceUpdate(framework_id, st);
      return;
    }
  }
  if (ex->second.sink) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::KILL);
    ev.mutable_kill()->mutable_task_id()->set_value(task_id);
    if (policy) *ev.mutable_kill()->mutable_kill_policy() = *policy;
    ex->second.sink->Send(ev);
  }
}

void Agent::OnTaskExited(const Key& key, const ExitInfo& exit) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  if (task.kill_timer) loop_->Cancel(task.kill_timer);
  if (task.deadline_timer) loop_->Cancel(task.deadline_timer);
  StopChecks(task);
  // Anything the task left in its process group goes with it.
  if (task.pid > 0) ::kill(-task.pid, SIGKILL);
  bool oom = cgroups_ && cgroups_->enabled() && cgroups_->OomKilled(task.container_id);
  DestroyCgroupsLater(task.container_id);
  task.pid = -task.pid;  // mark as reaped; keep the number for nothing else
  SandboxFinished(task.sandbox, {key});
  v1::TaskStatus st;
  if (exit.not_started) {
    st = MakeStatus(task, v1::TASK_LOST, v1::TaskStatus::SOURCE_AGENT,
                    "The agent restarted before the task's command was started");
    st.set_reason(v1::TaskStatus::REASON_AGENT_RESTARTED);
  } else if (exit.exec_errno != 0) {
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_EXECUTOR,
                    absl::StrCat("Failed to execute '", Abbreviate(task.info.command().value()),
                                 "': ", std::strerror(exit.exec_errno)));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
  } else if (oom) {
    auto res = Resources::FromProto(task.info.resources());
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT,
                    absl::StrCat("Memory limit exceeded: the task used more than its ",
                                 res.ok() ? FromMilli(res->Scalar("mem")) : 0, " MB of mem"));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LIMITATION_MEMORY);
    for (const auto& r : task.info.resources())
      if (r.name() == "mem") *st.mutable_limitation()->add_resources() = r;
  } else if (task.killing) {
    st = MakeStatus(task, task.kill_state,
                    task.over_disk ? v1::TaskStatus::SOURCE_AGENT : v1::TaskStatus::SOURCE_EXECUTOR,
                    !task.kill_message.empty() ? task.kill_message
                    : exit.known               ? DescribeExit(exit.wait_status)
                                               : "Command killed");
    if (task.has_kill_reason) st.set_reason(task.kill_reason);
    if (task.killed_unhealthy) st.set_healthy(false);
    if (task.over_disk) {
      for (const auto& r : task.info.resources())
        if (r.name() == "disk") *st.mutable_limitation()->add_resources() = r;
    }
  } else if (!exit.known) {
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_AGENT,
                    "The task ended while the agent was down, and its exit status was not recorded");
    st.set_reason(v1::TaskStatus::REASON_EXECUTOR_TERMINATED);
  } else if (WIFEXITED(exit.wait_status) && WEXITSTATUS(exit.wait_status) == 0) {
    st = MakeStatus(task, v1::TASK_FINISHED, v1::TaskStatus::SOURCE_EXECUTOR, DescribeExit(exit.wait_status));
  } else {
    st = MakeStatus(task, v1::TASK_FAILED, v1::TaskStatus::SOURCE_EXECUTOR, DescribeExit(exit.wait_status));
  }
  ProduceUpdate(key.first, st);
}

void Agent::CleanupTask(const Key& key) {
  auto t = tasks_.find(key);
  if (t == tasks_.end() || !t->second.terminal) return;
  if (!t->second.executor_id.empty()) {
    auto ex = executors_.find({key.first, t->second.executor_id});
    if (ex != executors_.end()) {
      ex->second.tasks.erase(key.second);
      CheckpointExecutor(ex->first);
    }
  }
  RecordCompletedTask(t->second);
  tasks_.erase(t);
  ForgetTask(key);
  RetireFrameworkIfIdle(key.first);
}

}  // namespace corral
