// Where batch keeps its state, one row per record (a run is named by its
// job and its ID, as in Metronome, where run IDs are unique per job): jobs, schedules (with
// the cursor that fences each instant), runs (with their instant, which is
// the DAG's progress), each run's tasks, and each job's counts. SQLite
// under --work_dir, or ZooKeeper for high availability (--zk), where one
// Commit is one multi-op.
//
// Threading: one thread at a time (the service's loop).
#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "corral/zookeeper/zk.h"
#include "model/job.h"

namespace corral::batch {

struct StoredState {
  std::optional<std::string> framework_id;
  std::vector<Job> jobs;  // with their schedules
  std::map<std::string, JobStats> stats;
  std::vector<Run> runs;  // with their tasks, oldest first
};

// What one step of the service writes: all of it or none.
struct StoreBatch {
  std::vector<const Job*> put_jobs;                                    // the definition; schedules go on their own
  std::vector<std::string> delete_jobs;                                // with their schedules, runs, tasks and counts
  std::vector<std::pair<std::string, const Schedule*>> put_schedules;  // (job ID, schedule)
  std::vector<std::pair<std::string, std::string>> delete_schedules;   // (job ID, schedule ID)
  std::vector<const Run*> put_runs;                                    // with their tasks
  std::vector<std::pair<std::string, std::string>> delete_runs;        // (job ID, run ID), with their tasks
  std::vector<std::pair<std::string, const JobStats*>> put_stats;      // (job ID, counts)
  bool empty() const {
    return put_jobs.empty() && delete_jobs.empty() && put_schedules.empty() && delete_schedules.empty() &&
           put_runs.empty() && delete_runs.empty() && put_stats.empty();
  }
};

class Store {
 public:
  virtual ~Store() = default;
  virtual absl::StatusOr<StoredState> Load() = 0;
  virtual absl::Status SetFrameworkId(const std::string& id) = 0;
  // AlreadyExists (and nothing written) when a new run would be a second
  // run of its job for the same instant: the exactly-once fence.
  virtual absl::Status Commit(const StoreBatch& batch) = 0;
};

// `<work_dir>/batch.db`, created when missing.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& work_dir);

// For several instances (--zk): one znode per record under `root`; each
// Commit is one multi-op that first checks the leader's own node `guard`,
// so that a deposed leader cannot write. The session belongs to the caller.
absl::StatusOr<std::unique_ptr<Store>> OpenZkStore(zk::Session* session, const std::string& root,
                                                   const std::string& guard);

}  // namespace corral::batch
