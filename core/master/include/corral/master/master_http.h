// The master's Mesos-compatible HTTP API, over the same Master as gRPC:
//   POST /api/v1/scheduler   scheduler calls; SUBSCRIBE streams RecordIO events
//   POST /api/v1             operator calls (GET_STATE, DRAIN_AGENT, ...)
//   GET  /master/state ...   the JSON endpoints Mesos tools and dashboards read
//   GET  /metrics/snapshot   Mesos's metric names; /metrics in Prometheus text
// See docs/mesos-compatibility.md for what is served and how it differs.
//
// Threading: Handle runs on the HTTP server's I/O threads; everything it
// needs from the master goes through Master's thread-safe methods.
#pragma once

#include <map>
#include <mutex>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "corral/http/server.h"
#include "corral/master/master.h"
#include "corral/v1/internal.pb.h"

namespace corral {

class MasterHttpApi {
 public:
  explicit MasterHttpApi(Master* master) : master_(master) {}
  void Handle(const http::Request& request, http::Responder& responder);

 private:
  void Scheduler(const http::Request& request, http::Responder& responder);
  void Operator(const http::Request& request, http::Responder& responder);
  // `principal`: the one the request authenticated as (nullopt: none), for
  // --acls.
  void Get(const std::string& path, const http::Request& request, http::Responder& responder,
           const std::optional<std::string>& principal);
  void MaintenanceSchedule(const http::Request& request, http::Responder& responder,
                           const std::optional<std::string>& principal);

  Master* master_;
  std::mutex mu_;
  // Mesos-Stream-Id of each framework subscribed over HTTP.
  std::map<std::string, std::string> streams_ ABSL_GUARDED_BY(mu_);
};

// The legacy JSON documents, in the shapes Mesos renders them.
struct StateJsonContext {
  const std::map<std::string, std::string>* flags = nullptr;
  double start_time = 0;
};
std::string RenderMasterState(const v1::internal::ClusterState& state, const StateJsonContext& context);
// The same from a snapshot with kept task renderings (as RenderFrameworks
// below); the renderings they make of the other tasks are appended to
// `fresh`, for Master::KeepTaskRenderings.
std::string RenderMasterState(const Master::RenderableState& state, const StateJsonContext& context,
                              std::vector<Master::TaskRendering>* fresh);
std::string RenderStateSummary(const v1::internal::ClusterState& state);
std::string RenderFrameworks(const v1::internal::ClusterState& state);
std::string RenderFrameworks(const Master::RenderableState& state, std::vector<Master::TaskRendering>* fresh);
std::string RenderAgents(const v1::internal::ClusterState& state);
// `order` is "asc" or "des" (by task ID, then framework).
// /master/tasks: Mesos's query parameters.
struct TaskQuery {
  size_t offset = 0;
  size_t limit = 100;  // SIZE_MAX: no limit (limit=-1)
  bool descending = true;
  std::string framework_id;  // empty: any
  std::string task_id;       // empty: any
};
std::string RenderTasks(const v1::internal::ClusterState& state, const TaskQuery& query);
std::string RenderRoles(const v1::internal::ClusterState& state, const std::map<std::string, double>& weights,
                        const std::map<std::string, RoleQuota>& quotas);

}  // namespace corral
