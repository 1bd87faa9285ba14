// Health checks (Mesos's HealthCheck: COMMAND, HTTP, TCP) and general
// checks (Mesos's CheckInfo, the same three kinds): each check runs as a
// short process on the task's schedule. A change of health is a status
// update, and too many failures kill the task; a general check's result is
// reported in check_status whenever it changes and never acted on.
#include "agent_impl.h"

namespace corral {

LaunchSpec Agent::CheckSpec(const Key& key, const TaskRecord& task, const std::string& log) {
  const v1::FrameworkInfo& framework = FrameworkOf(task.framework_id);
  LaunchSpec spec;
  spec.env = BaseEnvironment(task.framework_id, key.second, task.sandbox, framework);
  spec.env["MESOS_TASK_ID"] = key.second;
  for (const auto& var : task.info.command().environment().variables()) spec.env[var.name()] = var.value();
  spec.sandbox = task.sandbox;
  // Each check's output replaces the last one's, so the file stays small and
  // its last line explains a failure.
  spec.output_path = task.sandbox + "/" + log;
  std::ofstream(spec.output_path, std::ios::trunc);
  spec.user = task.info.command().has_user() ? task.info.command().user() : framework.user();
  spec.die_with_launcher = true;  // a recovered agent starts its checks afresh
  return spec;
}

absl::StatusOr<pid_t> Agent::StartCheckProcess(const LaunchSpec& spec,
                                               std::function<void(pid_t, const ExitInfo&)> done) {
  int exec_fd = -1;
  auto pid = Launch(spec, &exec_fd);
  if (!pid.ok()) return pid.status();
  ProcessReaper::Get().Watch(
      *pid, exec_fd, [loop = std::weak_ptr<EventLoop>(loop_), done = std::move(done), p = *pid](const ExitInfo& exit) {
        if (auto l = loop.lock()) l->Post([done, p, exit] { done(p, exit); });
      });
  return *pid;
}

void Agent::StartChecks(const Key& key, TaskRecord& task) {
  if (task.info.has_health_check()) {
    task.health.running_since = clock_->SteadySeconds();
    ScheduleHealthCheck(key, task.info.health_check().delay_seconds());
  }
  if (task.info.has_check()) ScheduleCheck(key, task.info.check().delay_seconds());
}

void Agent::ScheduleHealthCheck(const Key& key, double after_seconds) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  it->second.health.next = loop_->PostAfter(Seconds(after_seconds), [this, key] { RunHealthCheck(key); });
}

void Agent::RunHealthCheck(const Key& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal || it->second.killing || it->second.pid <= 0) return;
  TaskRecord& task = it->second;
  task.health.next = 0;
  const v1::HealthCheck& hc = task.info.health_check();
  LaunchSpec spec = CheckSpec(key, task, "health_check.log");
  switch (hc.type()) {
    case v1::HealthCheck::COMMAND: SetCommand(hc.command(), &spec); break;
    case v1::HealthCheck::HTTP: {
      std::string path = hc.http().path().empty() ? "/" : hc.http().path();
      if (path[0] != '/') path = "/" + path;
      spec.program = LauncherPath("corral-check");
      spec.argv = {"corral-check", "http",
                   absl::StrCat(hc.http().scheme().empty() ? "http" : hc.http().scheme(), "://", options_.ip, ":",
                                hc.http().port(), path)};
      for (uint32_t st : hc.http().statuses()) spec.argv.push_back(std::to_string(st));
      break;
    }
    case v1::HealthCheck::TCP:
      spec.program = LauncherPath("corral-check");
      spec.argv = {"corral-check", "tcp", options_.ip, std::to_string(hc.tcp().port())};
      break;
    default: return;  // validated by the master
  }
  auto pid = StartCheckProcess(spec, [this, key](pid_t p, const ExitInfo& exit) { OnHealthCheckDone(key, p, exit); });
  if (!pid.ok()) {
    ExitInfo failed;
    failed.exec_errno = ENOEXEC;
    OnHealthCheckDone(key, 0, failed);
    return;
  }
  task.health.check_pid = *pid;
  task.health.timed_out = false;
  if (hc.timeout_seconds() > 0) {
    task.health.timeout = loop_->PostAfter(Seconds(hc.timeout_seconds()), [this, key, p = *pid] {
      auto t = tasks_.find(key);
      if (t == tasks_.end() || t->second.health.check_pid != p) return;
      t->second.health.timed_out = true;
      ::kill(-p, SIGKILL);
    });
  }
}

void Agent::OnHealthCheckDone(const Key& key, pid_t pid, const ExitInfo& exit) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  TaskRecord::Health& h = task.health;
  if (h.check_pid != pid) return;
  h.check_pid = 0;
  if (h.timeout) loop_->Cancel(h.timeout);
  h.timeout = 0;
  if (task.terminal || task.killing || task.pid <= 0) return;
  const v1::HealthCheck& hc = task.info.health_check();
  bool ok = !h.timed_out && exit.exec_errno == 0 && WIFEXITED(exit.wait_status) && WEXITSTATUS(exit.wait_status) == 0;
  auto report = [&](bool healthy, const std::string& message) {
    v1::TaskStatus st = MakeStatus(task, v1::TASK_RUNNING, v1::TaskStatus::SOURCE_EXECUTOR, message);
    st.set_healthy(healthy);
    st.set_reason(v1::TaskStatus::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED);
    h.reported = true;
    h.healthy = healthy;
    ProduceUpdate(key.first, st);
  };
  if (ok) {
    // As in Mesos: an update when the task first turns healthy, and after failures.
    bool changed = !h.reported || !h.healthy;
    h.succeeded_once = true;
    h.consecutive_failures = 0;
    if (changed) report(true, "");
  } else if (!h.succeeded_once && clock_->SteadySeconds() - h.running_since <= hc.grace_period_seconds()) {
    // Failures while the task is still starting up do not count.
  } else {
    std::string why = h.timed_out       ? absl::StrCat("the check timed out after ", hc.timeout_seconds(), " s")
                      : exit.exec_errno ? absl::StrCat("the check could not run: ", std::strerror(exit.exec_errno))
                                        : LastWordOf(task.sandbox + "/health_check.log", "corral-check: ");
    if (why.empty()) why = absl::StrCat("the check ", DescribeExit(exit.wait_status).substr(8));
    ++h.consecutive_failures;
    report(false, absl::StrCat("Health check failed (", h.consecutive_failures, " in a row): ", why));
    // consecutive_failures of 0 reports health without ever killing.
    if (hc.consecutive_failures() > 0 && h.consecutive_failures >= hc.consecutive_failures()) {
      CORRAL_LOG(INFO) << "Killing task " << key.second << " after " << h.consecutive_failures
                       << " failed health checks";
      task.kill_state = v1::TASK_KILLED;
      task.has_kill_reason = true;
      task.kill_reason = v1::TaskStatus::REASON_TASK_HEALTH_CHECK_STATUS_UPDATED;
      task.kill_message = absl::StrCat("Task killed after ", h.consecutive_failures,
                                       " consecutive failed health checks; the last: ", why);
      task.killed_unhealthy = true;
      Kill(task, nullptr);
      return;
    }
  }
  ScheduleHealthCheck(key, hc.interval_seconds());
}

void Agent::ScheduleCheck(const Key& key, double after_seconds) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  it->second.check.next = loop_->PostAfter(Seconds(after_seconds), [this, key] { RunCheck(key); });
}

void Agent::RunCheck(const Key& key) {
  auto it = tasks_.find(key);
  if (it == tasks_.end() || it->second.terminal || it->second.killing || it->second.pid <= 0) return;
  TaskRecord& task = it->second;
  task.check.next = 0;
  const v1::CheckInfo& check = task.info.check();
  LaunchSpec spec = CheckSpec(key, task, "check.log");
  switch (check.type()) {
    case v1::CheckInfo::COMMAND: SetCommand(check.command().command(), &spec); break;
    case v1::CheckInfo::HTTP: {
      std::string path = check.http().path().empty() ? "/" : check.http().path();
      if (path[0] != '/') path = "/" + path;
      spec.program = LauncherPath("corral-check");
      spec.argv = {"corral-check", "http-status", absl::StrCat("http://", options_.ip, ":", check.http().port(), path)};
      break;
    }
    case v1::CheckInfo::TCP:
      spec.program = LauncherPath("corral-check");
      spec.argv = {"corral-check", "tcp", options_.ip, std::to_string(check.tcp().port())};
      break;
    default: return;  // validated by the master
  }
  auto pid = StartCheckProcess(spec, [this, key](pid_t p, const ExitInfo& exit) { OnCheckDone(key, p, exit); });
  if (!pid.ok()) {
    ExitInfo failed;
    failed.exec_errno = ENOEXEC;
    OnCheckDone(key, 0, failed);
    return;
  }
  task.check.check_pid = *pid;
  task.check.timed_out = false;
  if (check.timeout_seconds() > 0) {
    task.check.timeout = loop_->PostAfter(Seconds(check.timeout_seconds()), [this, key, p = *pid] {
      auto t = tasks_.find(key);
      if (t == tasks_.end() || t->second.check.check_pid != p) return;
      t->second.check.timed_out = true;
      ::kill(-p, SIGKILL);
    });
  }
}

v1::CheckStatusInfo Agent::EmptyCheckResult(const v1::CheckInfo& check) {
  v1::CheckStatusInfo result;
  result.set_type(check.type());
  switch (check.type()) {
    case v1::CheckInfo::COMMAND: result.mutable_command(); break;
    case v1::CheckInfo::HTTP: result.mutable_http(); break;
    case v1::CheckInfo::TCP: result.mutable_tcp(); break;
    default: break;
  }
  return result;
}

v1::CheckStatusInfo Agent::LastCheckResult(const TaskRecord& task) {
  return task.check.last.has_type() ? task.check.last : EmptyCheckResult(task.info.check());
}

void Agent::OnCheckDone(const Key& key, pid_t pid, const ExitInfo& exit) {
  auto it = tasks_.find(key);
  if (it == tasks_.end()) return;
  TaskRecord& task = it->second;
  TaskRecord::Check& c = task.check;
  if (c.check_pid != pid) return;
  c.check_pid = 0;
  if (c.timeout) loop_->Cancel(c.timeout);
  c.timeout = 0;
  if (task.terminal || task.killing || task.pid <= 0) return;
  const v1::CheckInfo& check = task.info.check();
  // As in Mesos: a check that could not finish (it timed out, could not
  // start, or was killed) has an empty result of its kind, so a framework
  // can tell "no answer" from any answer.
  bool finished = !c.timed_out && exit.exec_errno == 0 && WIFEXITED(exit.wait_status);
  v1::CheckStatusInfo result = EmptyCheckResult(check);
  switch (check.type()) {
    case v1::CheckInfo::COMMAND:
      if (finished) result.mutable_command()->set_exit_code(WEXITSTATUS(exit.wait_status));
      break;
    case v1::CheckInfo::HTTP: {
      std::string code = LastWordOf(task.sandbox + "/check.log", "corral-check: http-status ");
      uint32_t status = 0;
      if (finished && WEXITSTATUS(exit.wait_status) == 0 && absl::SimpleAtoi(code, &status)) {
        result.mutable_http()->set_status_code(status);
      }
      break;
    }
    case v1::CheckInfo::TCP:
      if (finished && WEXITSTATUS(exit.wait_status) <= 1) {
        result.mutable_tcp()->set_succeeded(WEXITSTATUS(exit.wait_status) == 0);
      }
      break;
    default: break;
  }
  if (result.SerializeAsString() != LastCheckResult(task).SerializeAsString()) {
    c.last = result;
    v1::TaskStatus st = MakeStatus(task, v1::TASK_RUNNING, v1::TaskStatus::SOURCE_EXECUTOR, "");
    st.set_reason(v1::TaskStatus::REASON_TASK_CHECK_STATUS_UPDATED);
    if (task.health.reported) st.set_healthy(task.health.healthy);
    ProduceUpdate(key.first, st);
  }
  ScheduleCheck(key, check.interval_seconds());
}

void Agent::StopChecks(TaskRecord& task) {
  TaskRecord::Health& h = task.health;
  if (h.next) loop_->Cancel(h.next);
  if (h.timeout) loop_->Cancel(h.timeout);
  h.next = h.timeout = 0;
  if (h.check_pid > 0) ::kill(-h.check_pid, SIGKILL);
  h.check_pid = 0;
  TaskRecord::Check& c = task.check;
  if (c.next) loop_->Cancel(c.next);
  if (c.timeout) loop_->Cancel(c.timeout);
  c.next = c.timeout = 0;
  if (c.check_pid > 0) ::kill(-c.check_pid, SIGKILL);
  c.check_pid = 0;
}

}  // namespace corral
