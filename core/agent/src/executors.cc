// Executors: starting one for a task or task group, the executor API
// (SUBSCRIBE, UPDATE, MESSAGE over gRPC or HTTP), delivering queued work
// once it subscribes, shutdown, and what its exit means for its tasks.
#include "agent_impl.h"

namespace corral {

Agent::ExecutorRecord* Agent::EnsureExecutor(const v1::FrameworkInfo& framework, const v1::ExecutorInfo& info,
                                             const Limits& task_limits, std::string* error) {
  std::string fid = framework.id().value();
  Key key{fid, info.executor_id().value()};
  auto it = executors_.find(key);
  if (it != executors_.end()) {
    ExecutorRecord& ex = it->second;
    if (ex.shutting_down) {
      *error = absl::StrCat("executor '", key.second, "' is shutting down");
      return nullptr;
    }
    // Grow the container's limits by the new task's share.
    ex.limits += task_limits;
    if (cgroups_ && cgroups_->enabled()) cgroups_->Update(ex.container_id, ex.limits);
    return &ex;
  }
  ExecutorRecord ex;
  ex.framework_id = fid;
  ex.info = info;
  ex.info.mutable_framework_id()->set_value(fid);
  ex.container_id = NewIdString();
  v1::CommandInfo cmd = info.command();
  if (info.type() == v1::ExecutorInfo::DEFAULT || !info.has_command()) {
    cmd.set_shell(false);
    cmd.set_value(LauncherPath("corral-default-executor"));
    cmd.clear_arguments();
    cmd.add_arguments("corral-default-executor");
  }
  auto er = Resources::FromProto(info.resources());
  ex.limits = LimitsFor(er.ok() ? *er : Resources());
  ex.limits += task_limits;
  absl::StatusOr<pid_t> pid;
  if (cmd.uris_size() > 0) {
    // The executor starts once its URIs are fetched (OnExecutorFetched).
    pid = StartFetcher(
        fid, key.second, ex.container_id, cmd, framework, &ex.sandbox,
        [this, key, cmd, framework](const absl::Status& fetched) { OnExecutorFetched(key, cmd, framework, fetched); });
  } else {
    pid = StartContainer(fid, key.second, ex.container_id, cmd, ex.info.container(), framework, ex.limits,
                         ExecutorTokenEnvironment(key, ex.container_id), &ex.sandbox,
                         [this, key](const ExitInfo& exit) { OnExecutorExited(key, exit); });
  }
  if (!pid.ok()) {
    *error = absl::StrCat("cannot launch executor '", key.second, "': ", pid.status().message());
    return nullptr;
  }
  ex.pid = *pid;
  ex.registration_timer = loop_->PostAfter(Seconds(options_.executor_registration_timeout), [this, key] {
    auto it = executors_.find(key);
    if (it == executors_.end() || it->second.sink) return;
    CORRAL_LOG(WARNING) << "Executor " << key.second << " did not subscribe in time; killing it";
    it->second.shutting_down = true;
    if (it->second.pid > 0) ::kill(-it->second.pid, SIGKILL);
  });
  CORRAL_LOG(INFO) << "Launched executor " << key.second << " of framework " << fid << " (pid " << *pid << ")";
  ExecutorRecord* record = &(executors_[key] = std::move(ex));
  CheckpointExecutor(key);
  return record;
}

void Agent::RunTaskGroup(const v1::internal::RunTaskGroup& msg) {
  const v1::FrameworkInfo& fw = msg.framework();
  std::string fid = fw.id().value();
  std::string eid = msg.executor().executor_id().value();
  std::vector<Key> keys;
  for (const auto& t : msg.task_group().tasks()) {
    keys.push_back({fid, t.task_id().value()});
    TaskRecord& task = tasks_[keys.back()];
    task.framework_id = fid;
    task.info = t;
    task.executor_id = eid;
  }
  if (!fw.checkpoint()) {
    CheckpointFramework(fid, fw);  // recorded, not written
    return StartTaskGroup(msg, absl::OkStatus());
  }
  for (const Key& key : keys) tasks_[key].checkpointing = true;
  auto launch = std::make_shared<const v1::internal::RunTaskGroup>(msg);
  CheckpointLaunch(fw, keys, [this, launch](const absl::Status& s) { StartTaskGroup(*launch, s); });
}

void Agent::StartTaskGroup(const v1::internal::RunTaskGroup& msg, const absl::Status& checkpointed) {
  if (stopping_) return;
  const v1::FrameworkInfo& fw = msg.framework();
  std::string fid = fw.id().value();
  std::string eid = msg.executor().executor_id().value();
  std::vector<TaskRecord*> group;
  bool killed = false;
  Limits group_limits;
  for (const auto& t : msg.task_group().tasks()) {
    auto it = tasks_.find({fid, t.task_id().value()});
    if (it == tasks_.end() || it->second.terminal) continue;
    it->second.checkpointing = false;
    killed |= it->second.killing;
    group.push_back(&it->second);
    group_limits += LimitsFor(t);
  }
  if (group.empty()) return;
  std::string error;
  ExecutorRecord* ex = nullptr;
  if (!checkpointed.ok()) {
    error = absl::StrCat("Cannot checkpoint the task group: ", checkpointed.message());
  } else if (killed) {
    // A group runs whole or not at all, as its executor would kill it whole.
    for (TaskRecord* task : group) KilledDuringLaunch(*task);
    return;
  } else {
    ex = EnsureExecutor(fw, msg.executor(), group_limits, &error);
  }
  if (ex == nullptr) {
    for (TaskRecord* task : group) FailLaunch(*task, error);
    return;
  }
  for (const auto& t : msg.task_group().tasks()) {
    ex->tasks.insert(t.task_id().value());
    RememberSandbox({fid, t.task_id().value()}, ex->sandbox + "/tasks/" + t.task_id().value(),
                    ex->info.command().has_user() ? ex->info.command().user() : fw.user());
  }
  CheckpointExecutor({fid, eid});
  ex->queued_groups.push_back(msg.task_group());
  DeliverToExecutor(*ex);
}

void Agent::DeliverToExecutor(ExecutorRecord& ex) {
  if (!ex.sink) return;
  for (const v1::TaskInfo& t : ex.queued) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::LAUNCH);
    *ev.mutable_launch()->mutable_task() = t;
    ex.sink->Send(ev);
  }
  ex.queued.clear();
  for (const v1::TaskGroupInfo& g : ex.queued_groups) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::LAUNCH_GROUP);
    *ev.mutable_launch_group()->mutable_task_group() = g;
    ex.sink->Send(ev);
  }
  ex.queued_groups.clear();
}

void Agent::ShutdownExecutor(const Key& key, const std::string& why) {
  auto it = executors_.find(key);
  if (it == executors_.end() || it->second.shutting_down) return;
  ExecutorRecord& ex = it->second;
  CORRAL_LOG(INFO) << "Shutting down executor " << key.second << ": " << why;
  ex.shutting_down = true;
  if (ex.sink) {
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::SHUTDOWN);
    ex.sink->Send(ev);
  }
  double grace = ex.info.has_shutdown_grace_period() ? ex.info.shutdown_grace_period().nanoseconds() / 1e9
                                                     : options_.executor_shutdown_grace;
  pid_t pid = ex.pid;
  if (!ex.sink && pid > 0) ::kill(-pid, SIGKILL);
  ex.shutdown_timer = loop_->PostAfter(Seconds(grace), [this, key, pid] {
    auto it = executors_.find(key);
    if (it != executors_.end() && it->second.pid == pid && pid > 0) ::kill(-pid, SIGKILL);
  });
}

void Agent::OnExecutorFetched(const Key& key, const v1::CommandInfo& cmd, const v1::FrameworkInfo& framework,
                              const absl::Status& fetched) {
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  ExecutorRecord& ex = it->second;
  absl::Status s = fetched;
  if (s.ok() && ex.shutting_down) s = absl::AbortedError("the executor was shut down while its URIs were fetched");
  if (s.ok()) {
    auto pid = StartContainer(key.first, key.second, ex.container_id, cmd, ex.info.container(), framework, ex.limits,
                              ExecutorTokenEnvironment(key, ex.container_id), &ex.sandbox,
                              [this, key](const ExitInfo& exit) { OnExecutorExited(key, exit); });
    if (pid.ok()) {
      ex.pid = *pid;
      CORRAL_LOG(INFO) << "Launched executor " << key.second << " of framework " << key.first << " (pid " << *pid
                       << ")";
      return;
    }
    s = pid.status();
  }
  // The executor never ran: its tasks fail with the reason.
  SandboxFinished(ex.sandbox, ExecutorTaskKeys(key.first, ex));
  if (ex.registration_timer) loop_->Cancel(ex.registration_timer);
  if (ex.shutdown_timer) loop_->Cancel(ex.shutdown_timer);
  CORRAL_LOG(INFO) << "Executor " << key.second << " was not started: " << s.message();
  for (const std::string& tid : ex.tasks) {
    auto t = tasks_.find({key.first, tid});
    if (t == tasks_.end() || t->second.terminal) continue;
    v1::TaskStatus st = MakeStatus(t->second, ex.shutting_down ? v1::TASK_KILLED : v1::TASK_FAILED,
                                   v1::TaskStatus::SOURCE_AGENT, std::string(s.message()));
    st.set_reason(v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED);
    ProduceUpdate(key.first, st);
  }
  AgentMessage m;
  m.mutable_executor_exited()->mutable_framework_id()->set_value(key.first);
  m.mutable_executor_exited()->mutable_executor_id()->set_value(key.second);
  m.mutable_executor_exited()->set_status(W_EXITCODE(1, 0));
  SendToMaster(m);
  RecordCompletedExecutor(key, ex);
  executors_.erase(it);
  ForgetExecutor(key);
  RetireFrameworkIfIdle(key.first);
}

void Agent::OnExecutorExited(const Key& key, const ExitInfo& exit) {
  auto it = executors_.find(key);
  if (it == executors_.end()) return;
  ExecutorRecord& ex = it->second;
  if (ex.registration_timer) loop_->Cancel(ex.registration_timer);
  if (ex.shutdown_timer) loop_->Cancel(ex.shutdown_timer);
  if (ex.pid > 0) ::kill(-ex.pid, SIGKILL);
  bool oom = cgroups_ && cgroups_->enabled() && cgroups_->OomKilled(ex.container_id);
  DestroyCgroupsLater(ex.container_id);
  if (ex.sink) ex.sink->Close();
  SandboxFinished(ex.sandbox, ExecutorTaskKeys(key.first, ex));
  std::string why =
      exit.not_started  ? "The agent restarted before the executor was started"
      : exit.exec_errno ? absl::StrCat("Failed to execute the executor: ", std::strerror(exit.exec_errno))
      : ex.reregistration_timed_out
          ? "The executor did not subscribe again within --executor_reregistration_timeout of the agent's restart"
      : !exit.known ? "The executor ended while the agent was down"
                    : absl::StrCat("Executor ", DescribeExit(exit.wait_status).substr(8));
  CORRAL_LOG(INFO) << "Executor " << key.second << " exited: " << why;
  for (const std::string& tid : ex.tasks) {
    auto t = tasks_.find({key.first, tid});
    if (t == tasks_.end() || t->second.terminal) continue;
    v1::TaskState state = exit.not_started                           ? v1::TASK_LOST
                          : ex.shutting_down && ex.over_disk.empty() ? v1::TASK_KILLED
                                                                     : v1::TASK_FAILED;
    v1::TaskStatus st =
        MakeStatus(t->second, state, v1::TaskStatus::SOURCE_AGENT, ex.over_disk.empty() ? why : ex.over_disk);
    if (!ex.over_disk.empty()) {
      for (const auto& r : t->second.info.resources())
        if (r.name() == "disk") *st.mutable_limitation()->add_resources() = r;
    }
    st.set_reason(exit.not_started              ? v1::TaskStatus::REASON_AGENT_RESTARTED
                  : !ex.over_disk.empty()       ? v1::TaskStatus::REASON_CONTAINER_LIMITATION_DISK
                  : oom                         ? v1::TaskStatus::REASON_CONTAINER_LIMITATION_MEMORY
                  : exit.exec_errno             ? v1::TaskStatus::REASON_CONTAINER_LAUNCH_FAILED
                  : ex.reregistration_timed_out ? v1::TaskStatus::REASON_EXECUTOR_REREGISTRATION_TIMEOUT
                                                : v1::TaskStatus::REASON_EXECUTOR_TERMINATED);
    ProduceUpdate(key.first, st);
  }
  AgentMessage m;
  m.mutable_executor_exited()->mutable_framework_id()->set_value(key.first);
  m.mutable_executor_exited()->mutable_executor_id()->set_value(key.second);
  m.mutable_executor_exited()->set_status(exit.wait_status);
  SendToMaster(m);
  RecordCompletedExecutor(key, ex);
  executors_.erase(it);
  ForgetExecutor(key);
  RetireFrameworkIfIdle(key.first);
}

std::map<std::string, std::string> Agent::ExecutorTokenEnvironment(const Key& key, const std::string& container_id) {
  if (!options_.executor_tokens) return {};
  return {
      {"MESOS_EXECUTOR_AUTHENTICATION_TOKEN", options_.executor_tokens->Issue({key.first, key.second, container_id})}};
}

absl::StatusOr<std::optional<auth::ExecutorClaims>> Agent::CheckExecutorToken(const v1::executor::Call& call,
                                                                              const std::string& authorization) {
  if (!options_.authenticate_executors) return std::optional<auth::ExecutorClaims>();
  auto claims = options_.executor_tokens->Verify(authorization);
  if (!claims.ok()) {
    CORRAL_LOG(WARNING) << "Refused an executor call for executor " << call.executor_id().value() << " of framework "
                        << call.framework_id().value() << ": " << claims.status().message();
    return claims.status();
  }
  if (claims->framework_id != call.framework_id().value() || claims->executor_id != call.executor_id().value()) {
    CORRAL_LOG(WARNING) << "Refused a call for executor " << call.executor_id().value() << " made with the token of "
                        << claims->executor_id << " of framework " << claims->framework_id;
    return absl::PermissionDeniedError(absl::StrCat("the executor token is executor '", claims->executor_id,
                                                    "''s of framework '", claims->framework_id, "', not executor '",
                                                    call.executor_id().value(), "''s"));
  }
  return std::optional<auth::ExecutorClaims>(std::move(*claims));
}

// On the loop: a token is for one container, the executor's current one.
absl::Status Agent::CheckExecutorContainer(const std::optional<auth::ExecutorClaims>& claims,
                                           const ExecutorRecord& ex) {
  if (!claims || claims->container_id == ex.container_id) return absl::OkStatus();
  CORRAL_LOG(WARNING) << "Refused a call for the executor of container " << ex.container_id
                      << " made with the token of container " << claims->container_id;
  return absl::PermissionDeniedError(
      absl::StrCat("the executor token is for container '", claims->container_id, "', not the executor's container"));
}

absl::Status Agent::ExecutorSubscribe(const v1::executor::Call& call, std::shared_ptr<ExecutorSink> sink,
                                      const std::string& authorization) {
  if (call.type() != v1::executor::Call::SUBSCRIBE) return absl::InvalidArgumentError("'type' must be SUBSCRIBE");
  if (call.executor_id().value().empty()) return absl::InvalidArgumentError("'executor_id' is required");
  if (call.framework_id().value().empty()) return absl::InvalidArgumentError("'framework_id' is required");
  auto claims = CheckExecutorToken(call, authorization);
  if (!claims.ok()) return claims.status();
  return loop_->Call([&]() -> absl::Status {
    Key key{call.framework_id().value(), call.executor_id().value()};
    auto it = executors_.find(key);
    if (it == executors_.end()) {
      return absl::NotFoundError(
          absl::StrCat("executor '", key.second, "' of framework '", key.first, "' is not known to this agent"));
    }
    ExecutorRecord& ex = it->second;
    if (absl::Status st = CheckExecutorContainer(*claims, ex); !st.ok()) return st;
    if (ex.sink && ex.sink != sink) ex.sink->Close();
    ex.sink = sink;
    if (ex.registration_timer) loop_->Cancel(ex.registration_timer);
    ex.registration_timer = 0;
    if (ex.recovered) ReconcileExecutorTasks(ex, key, call);
    v1::executor::Event ev;
    ev.set_type(v1::executor::Event::SUBSCRIBED);
    auto* sub = ev.mutable_subscribed();
    *sub->mutable_executor_info() = ex.info;
    *sub->mutable_framework_info() = FrameworkOf(key.first);
    *sub->mutable_agent_info() = info_;
    sub->mutable_container_id()->set_value(ex.container_id);
    sink->Send(ev);
    if (ex.shutting_down) {
      v1::executor::Event sd;
      sd.set_type(v1::executor::Event::SHUTDOWN);
      sink->Send(sd);
    }
    DeliverToExecutor(ex);
    return absl::OkStatus();
  });
}

void Agent::ExecutorGone(const std::string& framework_id, const std::string& executor_id, ExecutorSink* sink) {
  loop_->Post([this, framework_id, executor_id, sink] {
    auto it = executors_.find({framework_id, executor_id});
    if (it != executors_.end() && it->second.sink.get() == sink) it->second.sink.reset();
  });
}

absl::Status Agent::ExecutorCall(const v1::executor::Call& call, const std::string& authorization) {
  using C = v1::executor::Call;
  if (!call.has_type() || call.type() == C::UNKNOWN) return absl::InvalidArgumentError("'type' is missing or UNKNOWN");
  if (call.type() == C::SUBSCRIBE) return absl::InvalidArgumentError("SUBSCRIBE must be sent on a subscription stream");
  if (call.executor_id().value().empty()) return absl::InvalidArgumentError("'executor_id' is required");
  if (call.framework_id().value().empty()) return absl::InvalidArgumentError("'framework_id' is required");
  if (call.type() == C::UPDATE) {
    if (!call.has_update() || !call.update().has_status())
      return absl::InvalidArgumentError("'update.status' is required");
    const v1::TaskStatus& st = call.update().status();
    if (st.task_id().value().empty()) return absl::InvalidArgumentError("'update.status.task_id' is required");
    if (!st.has_state()) return absl::InvalidArgumentError("'update.status.state' is required");
    if (st.state() == v1::TASK_STAGING)
      return absl::InvalidArgumentError("'update.status.state' must not be TASK_STAGING");
    if (st.has_uuid() && st.uuid().size() != 16)
      return absl::InvalidArgumentError("'update.status.uuid' must be 16 bytes");
  } else if (call.type() == C::MESSAGE) {
    if (!call.has_message()) return absl::InvalidArgumentError("'message' is required");
  } else {
    return absl::InvalidArgumentError(absl::StrCat("unsupported call type ", C::Type_Name(call.type())));
  }
  auto claims = CheckExecutorToken(call, authorization);
  if (!claims.ok()) return claims.status();
  return loop_->Call([&]() -> absl::Status {
    Key key{call.framework_id().value(), call.executor_id().value()};
    auto it = executors_.find(key);
    if (it == executors_.end())
      return absl::NotFoundError(absl::StrCat("executor '", key.second, "' is not known to this agent"));
    if (absl::Status st = CheckExecutorContainer(*claims, it->second); !st.ok()) return st;
    if (call.type() == C::MESSAGE) {
      AgentMessage m;
      auto* em = m.mutable_executor_message();
      em->mutable_framework_id()->set_value(key.first);
      em->mutable_executor_id()->set_value(key.second);
      em->set_data(call.message().data());
      SendToMaster(m);
      return absl::OkStatus();
    }
    v1::TaskStatus st = call.update().status();
    auto t = tasks_.find({key.first, st.task_id().value()});
    if (t == tasks_.end() || t->second.executor_id != key.second) {
      return absl::NotFoundError(
          absl::StrCat("task '", st.task_id().value(), "' does not belong to executor '", key.second, "'"));
    }
    if (t->second.terminal) {
      return absl::FailedPreconditionError(absl::StrCat("task '", st.task_id().value(), "' is already terminal"));
    }
    if (!st.has_uuid()) st.set_uuid(NewUuidBytes());
    st.set_source(v1::TaskStatus::SOURCE_EXECUTOR);
    st.mutable_agent_id()->set_value(agent_id_);
    st.mutable_executor_id()->set_value(key.second);
    if (!st.has_timestamp()) st.set_timestamp(clock_->NowSeconds());
    t->second.state = st.state();
    std::string uuid = st.uuid();
    std::string task_id = st.task_id().value();
    ProduceUpdate(key.first, st);
    // The executor may forget the update once it is acknowledged: only
    // once it is written down here.
    AfterCheckpoints(key.first, [this, key, task_id, uuid] {
      auto it = executors_.find(key);
      if (it == executors_.end() || !it->second.sink) return;
      v1::executor::Event ack;
      ack.set_type(v1::executor::Event::ACKNOWLEDGED);
      ack.mutable_acknowledged()->mutable_task_id()->set_value(task_id);
      ack.mutable_acknowledged()->set_uuid(uuid);
      it->second.sink->Send(ack);
    });
    return absl::OkStatus();
  });
}

std::vector<Agent::Key> Agent::ExecutorTaskKeys(const std::string& framework_id, const ExecutorRecord& ex) {
  std::vector<Key> keys;
  for (const std::string& tid : ex.tasks) keys.push_back({framework_id, tid});
  return keys;
}

}  // namespace corral
