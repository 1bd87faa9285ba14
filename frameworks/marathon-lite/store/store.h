// Where marathon-lite keeps its state: one row per app, app version, task
// and deployment, so a restart (kill -9 included) finds everything. SQLite
// under --work_dir, or in ZooKeeper for high availability (--zk).
//
// Threading: one thread at a time (the service's loop).
#pragma once

#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "corral/zookeeper/zk.h"
#include "model/app.h"

namespace corral::marathon {

// A deployment in progress: the app is moving to `version`; `previous` is
// the version it came from (a rollback target).
struct Deployment {
  std::string id;
  std::string app_id;
  std::string version;
  std::string previous;  // empty for a new app
  std::string started_at;
  std::string action;   // StartApplication, ScaleApplication, RestartApplication, RollbackApplication
  bool canary = false;  // waiting for a promote before it replaces more than canaryInstances
  // The deployment's progress (planner's Progress) and when it last grew:
  // its progressDeadlineSeconds counts from then, across restarts.
  int progress = 0;
  std::string progress_at;  // ISO 8601; "" before the first plan
};

struct StoredState {
  std::optional<std::string> framework_id;
  std::vector<App> apps;
  std::vector<Task> tasks;
  std::vector<Deployment> deployments;
};

class Store {
 public:
  virtual ~Store() = default;
  virtual absl::StatusOr<StoredState> Load() = 0;
  virtual absl::Status SetFrameworkId(const std::string& id) = 0;

  // An app and, in the same transaction, its version in the history.
  virtual absl::Status PutApp(const App& app) = 0;
  virtual absl::Status DeleteApp(const std::string& app_id) = 0;                             // and its history
  virtual absl::StatusOr<std::vector<std::string>> Versions(const std::string& app_id) = 0;  // oldest first
  virtual absl::StatusOr<std::optional<App>> Version(const std::string& app_id, const std::string& version) = 0;

  // Many tasks in one transaction (a launch cycle writes them together).
  virtual absl::Status PutTasks(const std::vector<const Task*>& tasks) = 0;
  virtual absl::Status DeleteTasks(const std::vector<std::string>& task_ids) = 0;

  // A change of an app in one transaction: the app and its version (as
  // PutApp), its deployment, and the deployment it replaces gone (`replaced`,
  // a deployment ID, or "").
  virtual absl::Status PutAppChange(const App& app, const Deployment& d, const std::string& replaced) = 0;

  virtual absl::Status PutDeployment(const Deployment& d) = 0;
  virtual absl::Status DeleteDeployment(const std::string& id) = 0;
};

// `<work_dir>/marathon.db`, created when missing.
absl::StatusOr<std::unique_ptr<Store>> OpenSqliteStore(const std::string& work_dir);

// For several instances (--zk): one znode per record under `root`, every
// write a multi-op checking the leader's own node `guard` first, so that a
// deposed leader cannot write. The session belongs to the caller.
absl::StatusOr<std::unique_ptr<Store>> OpenZkStore(zk::Session* session, const std::string& root,
                                                   const std::string& guard);

}  // namespace corral::marathon
