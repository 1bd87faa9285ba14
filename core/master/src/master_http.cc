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

v1::master::QuotaConfig QuotaConfigOf(const std::string& role, const RoleQuota& q) {
  v1::master::QuotaConfig config;
  config.set_role(role);
  for (const auto& [name, value] : q.guarantee.entries()) {
    (*config.mutable_guarantees())[name].set_value(FromMilli(value));
  }
  for (const auto& [name, value] : q.limit.entries()) (*config.mutable_limits())[name].set_value(FromMilli(value));
  return config;
}

const std::set<std::string>& Counters() {
  static const std::set<std::string> kCounters = {
      "master/tasks_finished", "master/tasks_failed", "master/tasks_killed", "master/tasks_lost",
      "master/tasks_error", "master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
      "allocator/mesos/allocation_runs"};
  return kCounters;
}

}  // namespace

void MasterHttpApi::Handle(const Request& req, Responder& r) {
  const std::string& path = req.path;
  if (path == "/api/v1/scheduler") return Scheduler(req, r);
  if (path == "/api/v1" || path == "/api/v1/") return Operator(req, r);
  if (auto bad = http::CheckGet(req)) return r.Reply(std::move(*bad));
  // Snapshots of a large cluster are big: allocate them on an arena.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 64 << 10;
  arena_options.max_block_size = 8 << 20;
  google::protobuf::Arena arena(arena_options);
  auto Snapshot = [this](google::protobuf::Arena& a) -> const v1::internal::ClusterState& {
    return *master_->GetState(&a);
  };
  if (path == "/health" || path == "/master/health") return r.Reply(Response::Text(200, ""));
  if (path == "/version") return r.Reply(Response::Json(http::VersionJson(CORRAL_VERSION)));
  if (path == "/flags" || path == "/master/flags") return r.Reply(Response::Json(http::FlagsJson(master_->flags())));
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
    std::string body = RenderMasterState(master_->GetRenderableState(&arena), context, &fresh);
    master_->KeepTaskRenderings(std::move(fresh));
    return r.Reply(Response::Json(std::move(body)));
  }
  if (path == "/master/state-summary" || path == "/state-summary") {
    return r.Reply(Response::Json(RenderStateSummary(Snapshot(arena))));
  }
  if (path == "/master/frameworks" || path == "/frameworks") {
    std::vector<Master::TaskRendering> fresh;
    std::string body = RenderFrameworks(master_->GetRenderableState(&arena), &fresh);
    master_->KeepTaskRenderings(std::move(fresh));
    return r.Reply(Response::Json(std::move(body)));
  }
  if (path == "/master/slaves" || path == "/slaves") return r.Reply(Response::Json(RenderAgents(Snapshot(arena))));
  if (path == "/master/roles" || path == "/roles") {
    return r.Reply(Response::Json(RenderRoles(Snapshot(arena), master_->Weights(), master_->Quotas())));
  }
  if (path == "/master/tasks" || path == "/tasks") {
    size_t limit = 100, offset = 0;
    bool descending = true;
    for (const auto& [name, value] : req.query) {
      if (name == "limit" && !absl::SimpleAtoi(value, &limit)) {
        return r.Reply(Error(400, absl::StrCat("Failed to parse limit: '", value, "' is not a number")));
      }
      if (name == "offset" && !absl::SimpleAtoi(value, &offset)) {
        return r.Reply(Error(400, absl::StrCat("Failed to parse offset: '", value, "' is not a number")));
      }
      if (name == "order") {
        if (value != "asc" && value != "des") {
          return r.Reply(Error(400, absl::StrCat("Failed to parse order: '", value, "' is not 'asc' or 'des'")));
        }
        descending = value == "des";
      }
    }
    return r.Reply(Response::Json(RenderTasks(Snapshot(arena), offset, limit, descending)));
  }
  r.Reply(Error(404, absl::StrCat("No such endpoint: ", path)));
}

void MasterHttpApi::Scheduler(const Request& req, Responder& r) {
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
    auto id = master_->Subscribe(call, sink);
    if (!id.ok()) {
      return r.Reply(Error(HttpStatusOf(id.status()),
                           absl::StrCat("Failed to subscribe: ", id.status().message())));
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
  absl::Status st = master_->HandleCall(call);
  if (st.ok()) return r.Reply(Response::Text(202, ""));
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
  using v1::master::Response;
  v1::master::Call call;
  std::optional<Format> accepted = Format::kJson;
  if (auto bad = http::ParseCall(req, &call, &*accepted)) return r.Reply(std::move(*bad));
  auto answer = [&](const Response& response) { r.Reply(Answer(response, *accepted)); };
  auto done = [&](const absl::Status& st) {
    if (st.ok()) return r.Reply(http::Response::Text(200, ""));
    r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
  };
  auto need = [&](bool present, const char* field) {
    if (!present) {
      r.Reply(Error(400, absl::StrCat("Failed to validate master::Call: Expecting '", field, "' to be present")));
    }
    return present;
  };
  Response response;
  switch (call.type()) {
    case v1::master::Call::GET_HEALTH:
      response.set_type(Response::GET_HEALTH);
      response.mutable_get_health()->set_healthy(true);
      return answer(response);
    case v1::master::Call::GET_FLAGS:
      response.set_type(Response::GET_FLAGS);
      http::FillFlags(master_->flags(), response.mutable_get_flags());
      return answer(response);
    case v1::master::Call::GET_VERSION:
      response.set_type(Response::GET_VERSION);
      response.mutable_get_version()->mutable_version_info()->set_version(CORRAL_VERSION);
      return answer(response);
    case v1::master::Call::GET_METRICS:
      response.set_type(Response::GET_METRICS);
      http::FillMetrics(master_->Metrics(), response.mutable_get_metrics());
      return answer(response);
    case v1::master::Call::GET_LOGGING_LEVEL:
      response.set_type(Response::GET_LOGGING_LEVEL);
      response.mutable_get_logging_level()->set_level(http::LoggingLevel());
      return answer(response);
    case v1::master::Call::GET_STATE: {
      auto state = master_->GetState();
      response.set_type(Response::GET_STATE);
      auto* s = response.mutable_get_state();
      s->mutable_get_tasks();
      s->mutable_get_executors();
      s->mutable_get_frameworks();
      s->mutable_get_agents();
      operator_api::FillTasks(state, s->mutable_get_tasks());
      operator_api::FillExecutors(state, s->mutable_get_executors());
      operator_api::FillFrameworks(state, s->mutable_get_frameworks());
      operator_api::FillAgents(state, s->mutable_get_agents());
      return answer(response);
    }
    case v1::master::Call::GET_AGENTS:
      response.set_type(Response::GET_AGENTS);
      response.mutable_get_agents();
      operator_api::FillAgents(master_->GetState(), response.mutable_get_agents());
      return answer(response);
    case v1::master::Call::GET_FRAMEWORKS:
      response.set_type(Response::GET_FRAMEWORKS);
      response.mutable_get_frameworks();
      operator_api::FillFrameworks(master_->GetState(), response.mutable_get_frameworks());
      return answer(response);
    case v1::master::Call::GET_EXECUTORS:
      response.set_type(Response::GET_EXECUTORS);
      response.mutable_get_executors();
      operator_api::FillExecutors(master_->GetState(), response.mutable_get_executors());
      return answer(response);
    case v1::master::Call::GET_TASKS:
      response.set_type(Response::GET_TASKS);
      response.mutable_get_tasks();
      operator_api::FillTasks(master_->GetState(), response.mutable_get_tasks());
      return answer(response);
    case v1::master::Call::GET_WEIGHTS:
      response.set_type(Response::GET_WEIGHTS);
      response.mutable_get_weights();
      for (const auto& [role, w] : master_->Weights()) {
        auto* info = response.mutable_get_weights()->add_weight_infos();
        info->set_role(role);
        info->set_weight(w);
      }
      return answer(response);
    case v1::master::Call::GET_ROLES: {
      // The same figures as /master/roles.
      auto state = master_->GetState();
      auto quotas = master_->Quotas();
      std::map<std::string, v1::master::Role> roles;
      for (const auto& [role, w] : master_->Weights()) roles[role].set_weight(w);
      for (const auto& [role, q] : quotas) *roles[role].mutable_quota() = QuotaConfigOf(role, q);
      for (const auto& f : state.frameworks()) {
        for (const std::string& n : validation::FrameworkRoles(f.framework_info())) {
          *roles[n].add_frameworks() = f.framework_info().id();
        }
      }
      response.set_type(Response::GET_ROLES);
      response.mutable_get_roles();
      for (auto& [name, role] : roles) {
        role.set_name(name);
        if (!role.has_weight()) role.set_weight(1);
        *response.mutable_get_roles()->add_roles() = role;
      }
      return answer(response);
    }
    case v1::master::Call::UPDATE_WEIGHTS: {
      if (!need(call.has_update_weights(), "update_weights")) return;
      std::map<std::string, double> weights;
      for (const auto& info : call.update_weights().weight_infos()) {
        if (!need(info.has_role(), "update_weights.weight_infos.role")) return;
        if (!need(info.has_weight(), "update_weights.weight_infos.weight")) return;
        if (!weights.emplace(info.role(), info.weight()).second) {
          return r.Reply(Error(400, absl::StrCat("Failed to validate master::Call: role '", info.role(),
                                                 "' is given twice")));
        }
      }
      return done(master_->UpdateWeights(weights));
    }
    case v1::master::Call::GET_QUOTA: {
      response.set_type(Response::GET_QUOTA);
      auto* status = response.mutable_get_quota()->mutable_status();
      for (const auto& [role, q] : master_->Quotas()) {
        *status->add_configs() = QuotaConfigOf(role, q);
        auto* info = status->add_infos();
        info->set_role(role);
        for (const auto& [name, value] : q.guarantee.entries()) {
          v1::Resource* r = info->add_guarantee();
          r->set_name(name);
          r->set_type(v1::Value::SCALAR);
          r->mutable_scalar()->set_value(FromMilli(value));
        }
      }
      return answer(response);
    }
    case v1::master::Call::UPDATE_QUOTA: {
      if (!need(call.has_update_quota(), "update_quota")) return;
      std::map<std::string, RoleQuota> quotas;
      for (const auto& config : call.update_quota().quota_configs()) {
        if (!need(config.has_role(), "update_quota.quota_configs.role")) return;
        RoleQuota q;
        for (const auto& [name, value] : config.guarantees()) {
          if (!(value.value() >= 0) || !std::isfinite(value.value())) {
            return r.Reply(Error(400, absl::StrCat("Failed to validate master::Call: role '", config.role(),
                                                   "': the guarantee of '", name, "' must be a non-negative number")));
          }
          q.guarantee.Set(name, ToMilli(value.value()));
        }
        for (const auto& [name, value] : config.limits()) {
          if (!(value.value() >= 0) || !std::isfinite(value.value())) {
            return r.Reply(Error(400, absl::StrCat("Failed to validate master::Call: role '", config.role(),
                                                   "': the limit of '", name, "' must be a non-negative number")));
          }
          q.limit.Set(name, ToMilli(value.value()));
        }
        if (!quotas.emplace(config.role(), q).second) {
          return r.Reply(Error(400, absl::StrCat("Failed to validate master::Call: role '", config.role(),
                                                 "' is given twice")));
        }
      }
      absl::Status st = master_->UpdateQuotas(quotas, call.update_quota().force());
      // Mesos answers a quota that does not fit with 409 Conflict.
      return done(st);
    }
    case v1::master::Call::GET_MASTER: {
      response.set_type(Response::GET_MASTER);
      auto* m = response.mutable_get_master();
      *m->mutable_master_info() = master_->info();
      m->set_start_time(master_->start_time());
      m->set_elected_time(master_->start_time());
      return answer(response);
    }
    case v1::master::Call::GET_MAINTENANCE_STATUS:
      response.set_type(Response::GET_MAINTENANCE_STATUS);
      *response.mutable_get_maintenance_status()->mutable_status() = master_->GetMaintenanceStatus();
      return answer(response);
    case v1::master::Call::GET_MAINTENANCE_SCHEDULE:
      response.set_type(Response::GET_MAINTENANCE_SCHEDULE);
      *response.mutable_get_maintenance_schedule()->mutable_schedule() = master_->GetMaintenanceSchedule();
      return answer(response);
    case v1::master::Call::UPDATE_MAINTENANCE_SCHEDULE:
      if (!need(call.update_maintenance_schedule().has_schedule(), "update_maintenance_schedule.schedule")) return;
      return done(master_->UpdateMaintenanceSchedule(call.update_maintenance_schedule().schedule()));
    case v1::master::Call::START_MAINTENANCE:
      if (!need(call.has_start_maintenance(), "start_maintenance")) return;
      return done(master_->StartMaintenance(
          {call.start_maintenance().machines().begin(), call.start_maintenance().machines().end()}));
    case v1::master::Call::STOP_MAINTENANCE:
      if (!need(call.has_stop_maintenance(), "stop_maintenance")) return;
      return done(master_->StopMaintenance(
          {call.stop_maintenance().machines().begin(), call.stop_maintenance().machines().end()}));
    case v1::master::Call::DRAIN_AGENT: {
      if (!need(call.drain_agent().agent_id().has_value(), "drain_agent.agent_id")) return;
      v1::DrainConfig config;
      if (call.drain_agent().has_max_grace_period()) {
        *config.mutable_max_grace_period() = call.drain_agent().max_grace_period();
      }
      config.set_mark_gone(call.drain_agent().mark_gone());
      return done(master_->DrainAgent(call.drain_agent().agent_id().value(), config));
    }
    case v1::master::Call::REACTIVATE_AGENT:
      if (!need(call.reactivate_agent().agent_id().has_value(), "reactivate_agent.agent_id")) return;
      return done(master_->ReactivateAgent(call.reactivate_agent().agent_id().value()));
    case v1::master::Call::MARK_AGENT_GONE:
      if (!need(call.mark_agent_gone().agent_id().has_value(), "mark_agent_gone.agent_id")) return;
      return done(master_->MarkAgentGone(call.mark_agent_gone().agent_id().value()));
    case v1::master::Call::RESERVE_RESOURCES:
    case v1::master::Call::UNRESERVE_RESOURCES: {
      bool reserve = call.type() == v1::master::Call::RESERVE_RESOURCES;
      const v1::AgentID& agent_id =
          reserve ? call.reserve_resources().agent_id() : call.unreserve_resources().agent_id();
      if (!need(agent_id.has_value(), reserve ? "reserve_resources.agent_id" : "unreserve_resources.agent_id")) return;
      auto resources = Resources::FromProto(reserve ? call.reserve_resources().resources()
                                                     : call.unreserve_resources().resources());
      if (!resources.ok()) return r.Reply(Error(400, absl::StrCat("Invalid resources: ", resources.status().message())));
      if (reserve && call.reserve_resources().source_size() > 0) {
        // Mesos's `source` can name an existing reservation to change; here
        // it may only be the unreserved resources the reservation takes.
        auto source = Resources::FromProto(call.reserve_resources().source());
        if (!source.ok() || *source != resources->Flattened()) {
          return r.Reply(Error(400, "reserve_resources.source must be the unreserved resources that 'resources' "
                                    "reserve: changing an existing reservation is not supported"));
        }
      }
      absl::Status st = reserve ? master_->ReserveResources(agent_id.value(), *resources)
                                : master_->UnreserveResources(agent_id.value(), *resources);
      if (!st.ok()) return r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
      return r.Reply(http::Response::Text(202, ""));  // as Mesos answers these two
    }
    case v1::master::Call::TEARDOWN:
      if (!need(call.teardown().framework_id().has_value(), "teardown.framework_id")) return;
      return done(master_->TeardownFramework(call.teardown().framework_id().value()));
    case v1::master::Call::SUBSCRIBE: {
      auto sink = std::make_shared<HttpOperatorSink>(*accepted);
      if (absl::Status st = master_->SubscribeOperator(sink); !st.ok()) {
        return r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
      }
      auto stream = r.Stream(200, MediaType(*accepted), {});
      OperatorSink* raw = sink.get();
      stream->OnClosed([this, raw] { master_->OperatorGone(raw); });
      sink->Attach(std::move(stream));
      return;
    }
    case v1::master::Call::UNKNOWN:
      return r.Reply(Error(400, "Failed to validate master::Call: Expecting 'type' to be present"));
    default:
      return r.Reply(Error(501, absl::StrCat("Call ", v1::master::Call::Type_Name(call.type()),
                                             " is not served by Corral yet; see docs/mesos-compatibility.md")));
  }
}

}  // namespace corral
