// Resource limits for task and executor containers through cgroups (v1 or
// v2, detected at start). Processes themselves are started with
// corral/common/process.h.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "corral/common/process.h"

namespace corral {

struct Limits {
  static constexpr uint64_t kUnlimited = UINT64_MAX;
  double cpus = 0;         // the request: cpu shares; 0 = no cpu limit
  uint64_t mem_bytes = 0;  // the request: the memory limit; 0 = no memory limit
  bool cfs_quota = false;  // hard cpu cap at the request in addition to shares
  uint64_t pids_max = 0;   // 0 = no pids limit
  // TaskInfo.limits, above the request (Mesos's meaning): `cpus_limit` is a
  // hard cpu cap (CFS quota) whatever cfs_quota says, `mem_limit_bytes` the
  // hard memory limit, and the request then only weighs (shares) and
  // protects (memory.low, or v1's soft limit). 0 = not asked for;
  // +infinity / kUnlimited = no cap at all.
  double cpus_limit = 0;
  uint64_t mem_limit_bytes = 0;
  // Two workloads in one container (an executor and its tasks): requests
  // add up, and so do limits, each side's limit being its request where it
  // asked for none.
  Limits& operator+=(const Limits& o);
  bool operator==(const Limits& o) const {
    return cpus == o.cpus && mem_bytes == o.mem_bytes && cfs_quota == o.cfs_quota && pids_max == o.pids_max &&
           cpus_limit == o.cpus_limit && mem_limit_bytes == o.mem_limit_bytes;
  }
};

// What a container's cgroups say it uses now.
struct CgroupUsage {
  std::vector<pid_t> pids;  // the processes in it
  uint64_t mem_total = 0;   // charged memory (cache included)
  uint64_t mem_anon = 0;    // anonymous memory: what Mesos calls rss
  uint64_t mem_file = 0;    // page cache
  uint64_t mem_swap = 0;
  uint64_t nr_periods = 0;  // CFS periods, and those it was throttled in
  uint64_t nr_throttled = 0;
  double throttled_secs = 0;
};

// cgroups v1 or v2, detected once; disabled where they cannot be used.
//
// Creating and removing a memory cgroup is costly kernel work, so emptied
// cgroups are kept in a pool and reused for later containers. A cgroup is
// only reused when nothing of its last container is left in it (no
// process, next to no memory still charged), and every limit is written
// again on reuse.
//
// Threading: Create/Update/OomKilled run on the agent's loop, Release on its
// cleaner thread; the pool is guarded by a mutex.
class Cgroups {
 public:
  // Probes the machine. `root_name` is the directory (a path, such as
  // "corral/agent-0123abcd") created under each hierarchy, which this agent
  // owns alone: Recover removes what it does not recognise there. `pids`
  // says whether to use the pids controller. Never fails: when cgroups are
  // unusable, enabled() is false and why() says why.
  static std::unique_ptr<Cgroups> Detect(const std::string& root_name, bool pids);
  ~Cgroups();  // removes the pooled cgroups

  bool enabled() const { return version_ != 0; }
  int version() const { return version_; }
  const std::string& why() const { return why_; }
  // The controllers that limit containers ("cpu", "memory", "pids").
  const std::vector<std::string>& controllers() const { return controllers_; }

  struct Container {
    std::string name;                // the cgroup's name under the root, for the checkpoint
    std::vector<std::string> procs;  // the cgroup.procs files the child must join
  };
  // Gives the container cgroups with `limits`.
  absl::StatusOr<Container> Create(const std::string& container_id, const Limits& limits);
  // New limits for a live container (an executor given another task).
  void Update(const std::string& container_id, const Limits& limits);
  // True if the kernel OOM-killed something in the container.
  bool OomKilled(const std::string& container_id);
  // Kills anything left in the container and returns its cgroups to the
  // pool, or removes them when they cannot be reused.
  void Release(const std::string& container_id);
  // After an agent restart: takes back the cgroups of the recovered
  // containers (container ID -> cgroup name, as Create named it), and kills
  // whatever is left in every other cgroup under the root, then removes it.
  // Returns how many processes were killed.
  size_t Recover(const std::map<std::string, std::string>& containers);

  size_t pooled();
  // What a live container uses; false when it has no cgroup. Any thread.
  bool Usage(const std::string& container_id, CgroupUsage* out);
  // The directory of a live container's cgroup in `controller`'s hierarchy
  // (v2 has one for all), or "" when the container has none.
  std::string PathOf(const std::string& container_id, const std::string& controller);

 private:
  // A cgroup with what we know of it: the limits last written and its OOM
  // kill count when its container started (kills after that are its own).
  struct Slot {
    std::string name;
    Limits limits;
    uint64_t oom_baseline = 0;
  };

  std::string Dir(const std::string& hierarchy, const std::string& name) const;
  std::vector<std::string> Hierarchies() const;
  bool WriteLimits(const std::string& name, const Limits& limits);
  bool Slotted(const std::string& container_id, Slot* out);
  uint64_t OomCount(const std::string& name) const;
  // Kills what is left; true once empty. `killed` counts the processes.
  bool Empty(const std::string& name, size_t* killed = nullptr);
  void Remove(const std::string& name);

  int version_ = 0;
  std::string why_;
  std::vector<std::string> controllers_;
  std::string root_name_;
  bool pids_ = false;
  std::string v2_root_;                           // v2: the corral directory
  std::map<std::string, std::string> v1_mounts_;  // v1: controller -> mount point

  std::mutex mu_;
  std::vector<Slot> free_ ABSL_GUARDED_BY(mu_);                // reusable cgroups
  std::map<std::string, Slot> assigned_ ABSL_GUARDED_BY(mu_);  // by container ID
  uint64_t next_name_ ABSL_GUARDED_BY(mu_) = 0;
};

}  // namespace corral
