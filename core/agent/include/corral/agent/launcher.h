// Resource limits for task and executor containers through cgroups (v1 or
// v2, detected at start). Processes themselves are started with
// corral/common/process.h.
#pragma once

#include <sys/types.h>

#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/status/statusor.h"
#include "corral/common/process.h"

namespace corral {

struct Limits {
  double cpus = 0;        // 0 = no cpu limit
  uint64_t mem_bytes = 0; // 0 = no memory limit
  bool cfs_quota = false; // hard cpu cap in addition to shares
  uint64_t pids_max = 0;  // 0 = no pids limit
};

// cgroups v1 or v2, detected once; disabled where they cannot be used.
class Cgroups {
 public:
  // Probes the machine. `root_name` is the directory created under each
  // hierarchy. Never fails: when cgroups are unusable, enabled() is false and
  // why() says why.
  static std::unique_ptr<Cgroups> Detect(const std::string& root_name);

  bool enabled() const { return version_ != 0; }
  int version() const { return version_; }
  const std::string& why() const { return why_; }

  // Creates the container's cgroups with `limits`; returns the paths of the
  // cgroup.procs files the child must join.
  absl::StatusOr<std::vector<std::string>> Create(const std::string& container_id, const Limits& limits);
  // True if the kernel OOM-killed something in the container.
  bool OomKilled(const std::string& container_id) const;
  // Kills anything left and removes the container's cgroups.
  void Destroy(const std::string& container_id);

 private:
  std::string Dir(const std::string& hierarchy, const std::string& container_id) const;
  int version_ = 0;
  std::string why_;
  std::string root_name_;
  std::string v2_root_;                          // v2: the corral directory
  std::map<std::string, std::string> v1_mounts_; // v1: controller -> mount point
};

}  // namespace corral
