// corral-default-executor: runs the tasks of a LAUNCH_GROUP (or single
// LAUNCHes) as child processes, as Mesos's default executor does. The group
// shares one lifecycle: when a task fails or is killed, the rest are killed.
// The executor exits once every task is terminal and each terminal update
// has been acknowledged by the agent.
#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <mutex>
#include <string>

#include "corral/common/command.h"
#include "corral/common/event_loop.h"
#include "corral/common/ids.h"
#include "corral/common/process.h"
#include "corral/executor.h"

extern char** environ;

namespace corral {
namespace {

class DefaultExecutor : public Executor {
 public:
  void launch(ExecutorDriver* driver, const v1::TaskInfo& task) override {
    std::lock_guard<std::mutex> lock(mu_);
    Start(driver, task);
  }

  void launchGroup(ExecutorDriver* driver, const v1::TaskGroupInfo& group) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (const auto& t : group.tasks()) Start(driver, t);
  }

  void kill(ExecutorDriver* driver, const v1::TaskID& task_id, const v1::KillPolicy* policy) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id.value());
    if (it != tasks_.end()) Kill(driver, it->second, policy);
  }

  void acknowledged(ExecutorDriver* driver, const v1::TaskID& task_id, const std::string& uuid) override {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = tasks_.find(task_id.value());
    if (it != tasks_.end() && it->second.terminal_uuid == uuid) it->second.acked = true;
    MaybeExit(driver);
  }

  void shutdown(ExecutorDriver* driver) override {
    std::lock_guard<std::mutex> lock(mu_);
    for (auto& [id, t] : tasks_) Kill(driver, t, nullptr);
  }

 private:
  struct Task {
    v1::TaskInfo info;
    pid_t pid = 0;
    bool killing = false;
    bool terminal = false;
    bool acked = false;
    std::string terminal_uuid;
  };

  void Update(ExecutorDriver* driver, Task& t, v1::TaskState state, const std::string& message) {
    v1::TaskStatus st;
    *st.mutable_task_id() = t.info.task_id();
    st.set_state(state);
    if (!message.empty()) st.set_message(message);
    if (state == v1::TASK_FINISHED || state == v1::TASK_FAILED || state == v1::TASK_KILLED) {
      t.terminal = true;
      // The uuid is set here so the acknowledgement can be matched.
      st.set_uuid(NewUuidBytes());
      t.terminal_uuid = st.uuid();
      if (state != v1::TASK_FINISHED) st.set_reason(v1::TaskStatus::REASON_COMMAND_EXECUTOR_FAILED);
    }
    (void)driver->sendStatusUpdate(st);
  }

  void Start(ExecutorDriver* driver, const v1::TaskInfo& info) {
    Task& t = tasks_[info.task_id().value()];
    t.info = info;
    std::string sandbox = std::filesystem::current_path().string() + "/tasks/" + info.task_id().value();
    std::error_code ec;
    std::filesystem::create_directories(sandbox, ec);
    LaunchSpec spec;
    for (char** e = environ; *e != nullptr; ++e) {
      std::string kv = *e;
      auto eq = kv.find('=');
      if (eq != std::string::npos) spec.env[kv.substr(0, eq)] = kv.substr(eq + 1);
    }
    spec.env["MESOS_TASK_ID"] = info.task_id().value();
    spec.env["MESOS_SANDBOX"] = sandbox;
    SetCommand(info.command(), &spec);
    spec.sandbox = sandbox;
    // A task outlives neither this executor nor the thread that starts it
    // (the driver's callback thread, which lives as long as the executor).
    spec.die_with_launcher = true;
    int exec_fd = -1;
    auto pid = Launch(spec, &exec_fd);
    if (!pid.ok()) {
      Update(driver, t, v1::TASK_FAILED, std::string(pid.status().message()));
      KillGroup(driver);
      return;
    }
    t.pid = *pid;
    Update(driver, t, v1::TASK_RUNNING, "");
    std::string id = info.task_id().value();
    ProcessReaper::Get().Watch(*pid, exec_fd, [this, driver, id](const ExitInfo& exit) {
      std::lock_guard<std::mutex> lock(mu_);
      Task& task = tasks_[id];
      ::kill(-task.pid, SIGKILL);  // anything the task left behind
      if (exit.exec_errno != 0) {
        Update(driver, task, v1::TASK_FAILED, std::string("Failed to execute: ") + std::strerror(exit.exec_errno));
      } else if (task.killing) {
        Update(driver, task, v1::TASK_KILLED, DescribeExit(exit.wait_status));
      } else if (WIFEXITED(exit.wait_status) && WEXITSTATUS(exit.wait_status) == 0) {
        Update(driver, task, v1::TASK_FINISHED, DescribeExit(exit.wait_status));
        return;
      } else {
        Update(driver, task, v1::TASK_FAILED, DescribeExit(exit.wait_status));
      }
      KillGroup(driver);
    });
  }

  void Kill(ExecutorDriver* driver, Task& t, const v1::KillPolicy* policy) {
    if (t.terminal || t.killing || t.pid <= 0) return;
    t.killing = true;
    Update(driver, t, v1::TASK_KILLING, "");
    double grace = 3.0;
    if (policy && policy->has_grace_period())
      grace = policy->grace_period().nanoseconds() / 1e9;
    else if (t.info.kill_policy().has_grace_period())
      grace = t.info.kill_policy().grace_period().nanoseconds() / 1e9;
    ::kill(-t.pid, SIGTERM);
    pid_t pid = t.pid;
    std::string id = t.info.task_id().value();
    timers_.PostAfter(absl::Seconds(grace), [this, id, pid] {
      std::lock_guard<std::mutex> lock(mu_);
      if (!tasks_[id].terminal) ::kill(-pid, SIGKILL);
    });
  }

  void KillGroup(ExecutorDriver* driver) {
    for (auto& [id, t] : tasks_) Kill(driver, t, nullptr);
  }

  void MaybeExit(ExecutorDriver* driver) {
    for (auto& [id, t] : tasks_)
      if (!t.terminal || !t.acked) return;
    if (!tasks_.empty()) timers_.Post([driver] { (void)driver->stop(); });
  }

  std::mutex mu_;
  std::map<std::string, Task> tasks_;
  EventLoop timers_{"executor-timers"};
};

}  // namespace
}  // namespace corral

int main() {
  // Never destroyed: the reaper thread may still hold them as the process
  // ends, so the process exits without running destructors.
  auto* executor = new corral::DefaultExecutor();
  auto* driver = new corral::ExecutorDriver(executor);
  absl::Status s = driver->run();
  if (!s.ok()) std::fprintf(stderr, "corral-default-executor: %s\n", std::string(s.message()).c_str());
  std::fflush(nullptr);
  std::_Exit(s.ok() ? 0 : 1);
}
