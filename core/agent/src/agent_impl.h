// What the agent's source files share: one include list, the helpers more
// than one of them uses, and the private classes of the agent. The Agent's
// member functions are spread over files by job (see docs/architecture.md):
//   agent.cc               start, stop, recovery of the process's own state
//   master_link.{h,cc}     the stream to the master and what arrives on it
//   tasks.cc               RunTask -> a command task's launch, kill and exit
//   containers.cc          starting any container: sandbox, environment, cgroups
//   fetch.cc               corral-fetcher runs before a container starts
//   executors.cc           executors: launch, the executor API, exits
//   health_checks.cc       the checks a task's HealthCheck asks for
//   status_updates.cc      the StatusUpdateManager's link to the rest
//   sandboxes.cc           sandbox files, garbage collection, the disk watch
//   recovery.cc            checkpoints (written by CheckpointWriter) and recovery
//   resource_detection.cc  cpus, mem and disk of the machine
// Private to core/agent/src.
#pragma once

#include <fcntl.h>
#include <pwd.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <optional>
#include <thread>

#include <google/protobuf/util/json_util.h>
#include <grpcpp/grpcpp.h>

#include "absl/algorithm/container.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "corral/agent/agent.h"
#include "corral/agent/checkpoint.h"
#include "corral/agent/disk_quota.h"
#include "corral/agent/sandbox_gc.h"
#include "corral/common/command.h"
#include "corral/common/frameworks.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/common/task_state.h"
#include "corral/common/work_dir_lock.h"
#include "corral/v1/internal.grpc.pb.h"

namespace corral {

using v1::internal::AgentMessage;
using v1::internal::MasterMessage;
namespace fs = std::filesystem;

inline absl::Duration Seconds(double s) { return absl::Seconds(s); }

// The text after `prefix` on the last line of `path` that starts with it:
// how corral-fetcher and corral-check say why they failed.
inline std::string LastWordOf(const std::string& path, const std::string& prefix) {
  std::ifstream in(path);
  std::string line, last;
  while (std::getline(in, line)) {
    if (absl::StartsWith(line, prefix)) last = line.substr(prefix.size());
  }
  return last;
}

// Mesos names the executor it runs a command task with after the task
// (agent_state.cc).
v1::ExecutorInfo CommandExecutorOf(const std::string& framework_id, const v1::TaskInfo& task);

// The machine's cpus and memory, and the disk of the work dir's filesystem,
// less what the system keeps (resource_detection.cc).
Resources DetectResources(const std::string& work_dir);

}  // namespace corral
