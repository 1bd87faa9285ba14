// Corral C++ SDK: writing a custom executor.
//
// The agent starts the executor process with MESOS_AGENT_ENDPOINT,
// MESOS_FRAMEWORK_ID and MESOS_EXECUTOR_ID in its environment; an
// ExecutorDriver built from that environment subscribes to the agent and
// delivers its events to an Executor.
//
// Threading: Executor callbacks run serially on the driver's callback
// thread; driver methods are thread-safe.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/status.h"
#include "corral/v1/corral.pb.h"
#include "corral/v1/executor.pb.h"

namespace corral {

class ExecutorDriver;

class Executor {
 public:
  virtual ~Executor() = default;
  virtual void subscribed(ExecutorDriver* /*driver*/, const v1::ExecutorInfo& /*executor*/,
                          const v1::FrameworkInfo& /*framework*/, const v1::AgentInfo& /*agent*/) {}
  virtual void launch(ExecutorDriver* /*driver*/, const v1::TaskInfo& /*task*/) {}
  virtual void launchGroup(ExecutorDriver* /*driver*/, const v1::TaskGroupInfo& /*group*/) {}
  // `policy` is null when the kill call carried none.
  virtual void kill(ExecutorDriver* /*driver*/, const v1::TaskID& /*task_id*/, const v1::KillPolicy* /*policy*/) {}
  virtual void acknowledged(ExecutorDriver* /*driver*/, const v1::TaskID& /*task_id*/, const std::string& /*uuid*/) {}
  virtual void message(ExecutorDriver* /*driver*/, const std::string& /*data*/) {}
  // The agent asks the executor to kill its tasks and exit.
  virtual void shutdown(ExecutorDriver* /*driver*/) {}
  virtual void error(ExecutorDriver* /*driver*/, const std::string& /*message*/) {}
};

class ExecutorDriver {
 public:
  // Reads the agent endpoint and IDs from the environment.
  explicit ExecutorDriver(Executor* executor);
  ~ExecutorDriver();

  ExecutorDriver(const ExecutorDriver&) = delete;
  ExecutorDriver& operator=(const ExecutorDriver&) = delete;

  absl::Status start();
  absl::Status stop();
  absl::Status join();
  // join() for at most `seconds`: nullopt if the driver is still running.
  std::optional<absl::Status> joinFor(double seconds);
  absl::Status run();

  // Fills uuid, timestamp, source and executor ID; keeps the update until the
  // agent acknowledges it (and resends it after a reconnection).
  absl::Status sendStatusUpdate(const v1::TaskStatus& status);
  absl::Status sendFrameworkMessage(const std::string& data);

  struct Impl;

 private:
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral
