#include "corral/master/master_http.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/http/api.h"
#include "corral/master/operator_api.h"
#include "corral/master/validation.h"
#include "corral/v1/master.pb.h"
#include "google/protobuf/util/json_util.h"

namespace corral {
namespace {

using http::Request;
using http::Responder;
using http::Response;
using v1::scheduler::Call;
using v1::scheduler::Event;

using http::Answer;
using http::Error;
using http::Format;
using http::HttpStatusOf;
using http::MediaType;

using HttpSchedulerSink = http::RecordIOSink<SchedulerSink, Event>;
using HttpOperatorSink = http::RecordIOSink<OperatorSink, v1::master::Event>;

const std::set<std::string>& Counters() {
  static const std::set<std::string> kCounters = {"master/tasks_finished",
                                                  "master/tasks_failed",
                                                  "master/tasks_killed",
                                                  "master/tasks_lost",
                                                  "master/tasks_error",
                                                  "master/tasks_dropped",
                                                  "master/tasks_gone",
                                                  "master/tasks_gone_by_operator",
                                                  "allocator/mesos/allocation_runs"};
  return kCounters;
}

}  // namespace

void MasterHttpApi::Handle(const Request& req, Responder& r) {
  // Mesos routes by the longest matching prefix: a trailing slash changes
  // nothing, and every /api/v1/... path but the scheduler's is the operator
  // API (/api/v1/operator among them).
  const std::string path = http::WithoutTrailingSlashes(req.path);
  if (path == "/api/v1/scheduler") return Scheduler(req, r);
  if (path == "/api/v1" || absl::StartsWith(path, "/api/v1/")) return Operator(req, r);
  const auth::AuthenticationPolicy& policy = master_->authentication();
  std::optional<std::string> principal;
  if (path == "/master/maintenance/schedule" && req.method == "POST") {
    if (auto refused = http::Authenticate(policy, auth::Access::kReadWrite, req, &principal)) {
      return r.Reply(std::move(*refused));
    }
    return MaintenanceSchedule(req, r, principal);
  }
  // As Mesos: health checks and the redirect to the leader stay open.
  const bool open = path == "/health" || path == "/master/health" || path == "/master/redirect" ||
                    path == "/redirect" || path == "/version";
  if (auto refused =
          http::Authenticate(policy, open ? auth::Access::kOpen : auth::Access::kReadOnly, req, &principal)) {
    return r.Reply(std::move(*refused));
  }
  if (auto bad = http::CheckGet(req)) return r.Reply(std::move(*bad));
  http::JsonpResponder jsonp(req, r);
  if (jsonp.bad()) return;
  Get(path, req, jsonp, principal);
}

void MasterHttpApi::Get(const std::string& path, const Request& req, Responder& r,
                        const std::optional<std::string>& principal) {
  // Snapshots of a large cluster are big: allocate them on an arena.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 64 << 10;
  arena_options.max_block_size = 8 << 20;
  google::protobuf::Arena arena(arena_options);
  // What --acls let the caller view; everything without them.
  const StateViewer viewer = StateViewer::Of(principal);
  auto Snapshot = [this, &viewer](google::protobuf::Arena& a) -> const v1::internal::ClusterState& {
    return *master_->GetState(&a, viewer);
  };
  auto Refused = [&](auth::Action action, std::optional<absl::string_view> object) -> std::optional<Response> {
    absl::Status st = auth::Authorize(master_->authorizer(), action, principal, object);
    if (st.ok()) return std::nullopt;
    return Error(403, std::string(st.message()));
  };
  if (path == "/health" || path == "/master/health") return r.Reply(Response::Text(200, ""));
  if (path == "/version") return r.Reply(Response::Json(http::VersionJson(CORRAL_VERSION)));
  if (path == "/flags" || path == "/master/flags") {
    if (auto refused = Refused(auth::Action::kViewFlags, std::nullopt)) return r.Reply(std::move(*refused));
    return r.Reply(Response::Json(http::FlagsJson(master_->flags())));
  }
  if (path == "/metrics/snapshot" || path == "/metrics") {
    if (auto refused = Refused(auth::Action::kGetEndpoints, path)) return r.Reply(std::move(*refused));
  }
  if (path == "/metrics/snapshot") return r.Reply(Response::Json(http::MetricsJson(master_->Metrics())));
  if (path == "/metrics") {
    Response res = Response::Text(200, http::Prometheus(master_->Metrics(), Counters()));
    res.content_type = "text/plain; version=0.0.4";
    return r.Reply(std::move(res));
  }
  if (path == "/master/redirect" || path == "/redirect") {
    // One master is always the leader; with ZooKeeper this names the elected one.
    v1::MasterInfo info = master_->info();
    Response res = Response::Text(307, "");
    res.headers.emplace_back("Location", absl::StrCat("//", info.address().ip(), ":", info.port()));
    return r.Reply(std::move(res));
  }
  if (path == "/master/state" || path == "/state" || path == "/state.json" || path == "/master/state.json") {
    StateJsonContext context{&master_->flags(), master_->start_time()};
    std::vector<Master::TaskRendering> fresh;
    std::string body = RenderMasterState(master_->GetRenderableState(&arena, viewer), context, &fresh);
    master_->KeepTaskRenderings(std::move(fresh));
    return r.Reply(Response::Json(std::move(body)));
  }
  if (path == "/master/state-summary" || path == "/state-summary") {
    return r.Reply(Response::Json(RenderStateSummary(Snapshot(arena))));
  }
  if (path == "/master/frameworks" || path == "/frameworks") {
    std::vector<Master::TaskRendering> fresh;
    std::string body = RenderFrameworks(master_->GetRenderableState(&arena, viewer), &fresh);
    master_->KeepTaskRenderings(std::move(fresh));
    return r.Reply(Response::Json(std::move(body)));
  }
  if (path == "/master/slaves" || path == "/slaves") return r.Reply(Response::Json(RenderAgents(Snapshot(arena))));
  if (path == "/master/roles" || path == "/roles") {
    return r.Reply(Response::Json(RenderRoles(Snapshot(arena), master_->Weights(), master_->Quotas())));
  }
  if (path == "/master/tasks" || path == "/tasks") {
    TaskQuery query;
    for (const auto& [name, value] : req.query) {
      if (name == "limit") {
        int64_t limit = 0;
        if (!absl::SimpleAtoi(value, &limit) || limit < -1) {
          return r.Reply(Error(400, absl::StrCat("Failed to parse limit: '", value, "' is not a number")));
        }
        query.limit = limit == -1 ? SIZE_MAX : static_cast<size_t>(limit);  // -1: no limit, as Mesos
      }
      if (name == "offset" && !absl::SimpleAtoi(value, &query.offset)) {
        return r.Reply(Error(400, absl::StrCat("Failed to parse offset: '", value, "' is not a number")));
      }
      if (name == "order") {
        if (value != "asc" && value != "des") {
          return r.Reply(Error(400, absl::StrCat("Failed to parse order: '", value, "' is not 'asc' or 'des'")));
        }
        query.descending = value == "des";
      }
      if (name == "framework_id") query.framework_id = value;
      if (name == "task_id") query.task_id = value;
    }
    return r.Reply(Response::Json(RenderTasks(Snapshot(arena), query)));
  }
  if (path == "/master/maintenance/schedule" || path == "/maintenance/schedule" ||
      path == "/master/maintenance/status" || path == "/maintenance/status") {
    const bool schedule = absl::EndsWith(path, "/schedule");
    v1::master::Call call;
    call.set_type(schedule ? v1::master::Call::GET_MAINTENANCE_SCHEDULE : v1::master::Call::GET_MAINTENANCE_STATUS);
    auto answer = OperatorApi(master_).Call(call, principal);
    if (!answer.ok()) return r.Reply(Error(HttpStatusOf(answer.status()), std::string(answer.status().message())));
    const v1::master::Response& response = **answer;
    return r.Reply(Response::Json(schedule ? http::ToJson(response.get_maintenance_schedule().schedule())
                                           : http::ToJson(response.get_maintenance_status().status())));
  }
  r.Reply(Error(404, absl::StrCat("No such endpoint: ", path)));
}

// POST /master/maintenance/schedule: the body is a maintenance.Schedule in
// JSON, as Mesos's older maintenance endpoint takes it.
void MasterHttpApi::MaintenanceSchedule(const Request& req, Responder& r, const std::optional<std::string>& principal) {
  v1::master::Call call;
  call.set_type(v1::master::Call::UPDATE_MAINTENANCE_SCHEDULE);
  if (absl::Status st =
          http::Parse(req.body, Format::kJson, call.mutable_update_maintenance_schedule()->mutable_schedule());
      !st.ok()) {
    return r.Reply(Error(400, absl::StrCat("Failed to parse the maintenance schedule: ", st.message())));
  }
  auto answer = OperatorApi(master_).Call(call, principal);
  if (!answer.ok()) return r.Reply(Error(HttpStatusOf(answer.status()), std::string(answer.status().message())));
  r.Reply(Response::Text(200, ""));
}

void MasterHttpApi::Scheduler(const Request& req, Responder& r) {
  std::optional<std::string> principal;
  if (auto refused = http::Authenticate(master_->authentication(), auth::Access::kFramework, req, &principal)) {
    return r.Reply(std::move(*refused));
  }
  Format format = Format::kJson;
  if (auto bad = http::CheckPost(req, &format)) return r.Reply(std::move(*bad));
  Call call;
  if (absl::Status st = http::Parse(req.body, format, &call); !st.ok()) {
    return r.Reply(Error(400, absl::StrCat("Failed to parse body into Call protobuf: ", st.message())));
  }
  if (call.type() == Call::SUBSCRIBE) {
    auto accepted = http::Negotiate(req.header("accept"));
    if (!accepted) {
      return r.Reply(Error(406, "Expecting 'Accept' to allow application/json or application/x-protobuf"));
    }
    auto sink = std::make_shared<HttpSchedulerSink>(*accepted);
    auto id = master_->Subscribe(call, sink, principal);
    if (!id.ok()) {
      return r.Reply(Error(HttpStatusOf(id.status()), absl::StrCat("Failed to subscribe: ", id.status().message())));
    }
    std::string framework_id = *id;
    std::string stream_id = UuidToString(NewUuidBytes());
    {
      std::lock_guard<std::mutex> lock(mu_);
      streams_[framework_id] = stream_id;
    }
    auto stream = r.Stream(200, MediaType(*accepted), {{"Mesos-Stream-Id", stream_id}});
    SchedulerSink* raw = sink.get();
    stream->OnClosed([this, framework_id, stream_id, raw] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = streams_.find(framework_id);
        if (it != streams_.end() && it->second == stream_id) streams_.erase(it);
      }
      master_->SubscriberGone(framework_id, raw);
    });
    sink->Attach(std::move(stream));
    return;
  }
  const std::string& framework_id = call.framework_id().value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(framework_id);
    if (it != streams_.end()) {
      const std::string& given = req.header("mesos-stream-id");
      if (given.empty()) {
        return r.Reply(Error(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"));
      }
      if (given != it->second) {
        return r.Reply(Error(403, absl::StrCat("The stream ID '", given,
                                               "' included in this request didn't match the stream ID currently "
                                               "associated with framework ID ",
                                               framework_id)));
      }
    }
  }
  absl::Status st = master_->HandleCall(call, principal);
  // Mesos answers UPDATE_FRAMEWORK, whose effect is done by then, with 200.
  if (st.ok()) return r.Reply(Response::Text(call.type() == Call::UPDATE_FRAMEWORK ? 200 : 202, ""));
  if (st.code() == absl::StatusCode::kInvalidArgument) {
    return r.Reply(Error(400, absl::StrCat("Failed to validate scheduler::Call: ", st.message())));
  }
  // The master names the framework first when it is the framework that is
  // unknown or disconnected; Mesos answers those with 403.
  if ((st.code() == absl::StatusCode::kNotFound || st.code() == absl::StatusCode::kFailedPrecondition) &&
      absl::StartsWith(st.message(), "framework '")) {
    return r.Reply(Error(403, absl::StrCat("Framework cannot be found or is not subscribed: ", st.message())));
  }
  r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
}

void MasterHttpApi::Operator(const Request& req, Responder& r) {
  v1::master::Call call;
  std::optional<Format> accepted = Format::kJson;
  const auth::AuthenticationPolicy& policy = master_->authentication();
  std::optional<std::string> principal;
  // Nobody learns anything of the body's handling before they prove who
  // they are, where both kinds of call need it.
  if (policy.Required(auth::Access::kReadOnly) && policy.Required(auth::Access::kReadWrite)) {
    if (auto refused = http::Authenticate(policy, auth::Access::kReadOnly, req, &principal)) {
      return r.Reply(std::move(*refused));
    }
  }
  if (auto bad = http::ParseCall(req, &call, &*accepted)) return r.Reply(std::move(*bad));
  if (!principal) {
    if (auto refused = http::Authenticate(policy, OperatorApi::AccessOf(call.type()), req, &principal)) {
      return r.Reply(std::move(*refused));
    }
  }
  if (call.type() == v1::master::Call::SUBSCRIBE) {
    auto sink = std::make_shared<HttpOperatorSink>(*accepted);
    if (absl::Status st = master_->SubscribeOperator(sink, StateViewer::Of(principal)); !st.ok()) {
      return r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
    }
    auto stream = r.Stream(200, MediaType(*accepted), {});
    OperatorSink* raw = sink.get();
    stream->OnClosed([this, raw] { master_->OperatorGone(raw); });
    sink->Attach(std::move(stream));
    return;
  }
  auto answer = OperatorApi(master_).Call(call, principal);
  if (!answer.ok()) return r.Reply(Error(HttpStatusOf(answer.status()), std::string(answer.status().message())));
  if (answer->has_value()) return r.Reply(Answer(**answer, *accepted));
  // Mesos answers the two reservation calls with 202, other calls that only
  // act with 200, both without a body.
  bool reservation =
      call.type() == v1::master::Call::RESERVE_RESOURCES || call.type() == v1::master::Call::UNRESERVE_RESOURCES;
  r.Reply(http::Response::Text(reservation ? 202 : 200, ""));
}

}  // namespace corral
