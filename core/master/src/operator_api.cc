#include "corral/master/operator_api.h"

#include <cmath>
#include <map>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "corral/common/resources.h"
#include "corral/common/version.h"
#include "corral/http/api.h"
#include "corral/master/master.h"
#include "corral/master/operator_views.h"
#include "corral/master/validation.h"

namespace corral {
namespace {

using v1::master::Response;
using Answer = absl::StatusOr<std::optional<Response>>;

absl::Status Invalid(absl::string_view what) {
  return absl::InvalidArgumentError(absl::StrCat("Failed to validate master::Call: ", what));
}

absl::Status Missing(absl::string_view field) { return Invalid(absl::StrCat("Expecting '", field, "' to be present")); }

v1::quota::QuotaConfig QuotaConfigOf(const std::string& role, const RoleQuota& q) {
  v1::quota::QuotaConfig config;
  config.set_role(role);
  for (const auto& [name, value] : q.guarantee.entries()) {
    (*config.mutable_guarantees())[name].set_value(FromMilli(value));
  }
  for (const auto& [name, value] : q.limit.entries()) (*config.mutable_limits())[name].set_value(FromMilli(value));
  return config;
}

// A call that only acts: its status, and no Response.
Answer Acted(const absl::Status& st) {
  if (!st.ok()) return st;
  return std::optional<Response>();
}

absl::StatusOr<std::map<std::string, double>> WeightsOf(const v1::master::Call::UpdateWeights& update) {
  std::map<std::string, double> weights;
  for (const auto& info : update.weight_infos()) {
    if (!info.has_role()) return Missing("update_weights.weight_infos.role");
    if (!info.has_weight()) return Missing("update_weights.weight_infos.weight");
    if (!weights.emplace(info.role(), info.weight()).second) {
      return Invalid(absl::StrCat("role '", info.role(), "' is given twice"));
    }
  }
  return weights;
}

absl::StatusOr<std::map<std::string, RoleQuota>> QuotasOf(const v1::master::Call::UpdateQuota& update) {
  std::map<std::string, RoleQuota> quotas;
  for (const auto& config : update.quota_configs()) {
    if (!config.has_role()) return Missing("update_quota.quota_configs.role");
    RoleQuota q;
    for (const auto& [name, value] : config.guarantees()) {
      if (!(value.value() >= 0) || !std::isfinite(value.value())) {
        return Invalid(
            absl::StrCat("role '", config.role(), "': the guarantee of '", name, "' must be a non-negative number"));
      }
      q.guarantee.Set(name, ToMilli(value.value()));
    }
    for (const auto& [name, value] : config.limits()) {
      if (!(value.value() >= 0) || !std::isfinite(value.value())) {
        return Invalid(
            absl::StrCat("role '", config.role(), "': the limit of '", name, "' must be a non-negative number"));
      }
      q.limit.Set(name, ToMilli(value.value()));
    }
    if (!quotas.emplace(config.role(), q).second) {
      return Invalid(absl::StrCat("role '", config.role(), "' is given twice"));
    }
  }
  return quotas;
}

}  // namespace

auth::Access OperatorApi::AccessOf(v1::master::Call::Type type) {
  if (type == v1::master::Call::SUBSCRIBE) return auth::Access::kReadOnly;
  return absl::StartsWith(v1::master::Call::Type_Name(type), "GET_") ? auth::Access::kReadOnly
                                                                     : auth::Access::kReadWrite;
}

absl::StatusOr<std::optional<Response>> OperatorApi::Call(const v1::master::Call& call,
                                                          const std::optional<std::string>& principal) {
  Answer answer = Dispatch(call, principal);
  if (call.type() != v1::master::Call::SUBSCRIBE && call.type() != v1::master::Call::UNKNOWN &&
      AccessOf(call.type()) == auth::Access::kReadWrite) {
    auth::AuditChange(v1::master::Call::Type_Name(call.type()), principal, answer.status());
  }
  return answer;
}

absl::StatusOr<std::optional<Response>> OperatorApi::Dispatch(const v1::master::Call& call,
                                                              const std::optional<std::string>& principal) {
  const auth::Authorizer* acls = master_->authorizer();
  auto authorize = [&](auth::Action action, std::optional<absl::string_view> object = std::nullopt) {
    return auth::Authorize(acls, action, principal, object);
  };
  const StateViewer viewer = StateViewer::Of(principal);
  Response response;
  switch (call.type()) {
    case v1::master::Call::GET_HEALTH:
      response.set_type(Response::GET_HEALTH);
      response.mutable_get_health()->set_healthy(true);
      return response;
    case v1::master::Call::GET_OPERATIONS:
      // Offer operations with feedback (resource providers) are not
      // applied by Corral, so there is never one to report.
      response.set_type(Response::GET_OPERATIONS);
      response.mutable_get_operations();
      return response;
    case v1::master::Call::GET_FLAGS:
      if (auto st = authorize(auth::Action::kViewFlags); !st.ok()) return st;
      response.set_type(Response::GET_FLAGS);
      http::FillFlags(master_->flags(), response.mutable_get_flags());
      return response;
    case v1::master::Call::GET_VERSION:
      response.set_type(Response::GET_VERSION);
      response.mutable_get_version()->mutable_version_info()->set_version(kMesosVersion);
      return response;
    case v1::master::Call::GET_METRICS:
      // As Mesos: the same authorization as the endpoint it mirrors.
      if (auto st = authorize(auth::Action::kGetEndpoints, "/metrics/snapshot"); !st.ok()) return st;
      response.set_type(Response::GET_METRICS);
      http::FillMetrics(master_->Metrics(), response.mutable_get_metrics());
      return response;
    case v1::master::Call::GET_LOGGING_LEVEL:
      response.set_type(Response::GET_LOGGING_LEVEL);
      response.mutable_get_logging_level()->set_level(http::LoggingLevel());
      return response;
    case v1::master::Call::GET_STATE: {
      response.set_type(Response::GET_STATE);
      auto* s = response.mutable_get_state();
      // Present even when empty, as Mesos answers.
      s->mutable_get_tasks();
      s->mutable_get_executors();
      s->mutable_get_frameworks();
      s->mutable_get_agents();
      operator_api::FillState(master_->GetState(viewer), s);
      return response;
    }
    case v1::master::Call::GET_AGENTS:
      response.set_type(Response::GET_AGENTS);
      operator_api::FillAgents(master_->GetState(viewer), response.mutable_get_agents());
      return response;
    case v1::master::Call::GET_FRAMEWORKS:
      response.set_type(Response::GET_FRAMEWORKS);
      operator_api::FillFrameworks(master_->GetState(viewer), response.mutable_get_frameworks());
      return response;
    case v1::master::Call::GET_EXECUTORS:
      response.set_type(Response::GET_EXECUTORS);
      operator_api::FillExecutors(master_->GetState(viewer), response.mutable_get_executors());
      return response;
    case v1::master::Call::GET_TASKS:
      response.set_type(Response::GET_TASKS);
      operator_api::FillTasks(master_->GetState(viewer), response.mutable_get_tasks());
      return response;
    case v1::master::Call::GET_WEIGHTS:
      response.set_type(Response::GET_WEIGHTS);
      response.mutable_get_weights();
      for (const auto& [role, w] : master_->Weights()) {
        auto* info = response.mutable_get_weights()->add_weight_infos();
        info->set_role(role);
        info->set_weight(w);
      }
      return response;
    case v1::master::Call::GET_ROLES: {
      // The same figures as /master/roles.
      auto state = master_->GetState(viewer);
      std::map<std::string, v1::Role> roles;
      for (const auto& [role, w] : master_->Weights()) roles[role].set_weight(w);
      for (const auto& [role, q] : master_->Quotas()) *roles[role].mutable_quota() = QuotaConfigOf(role, q);
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
      return response;
    }
    case v1::master::Call::UPDATE_WEIGHTS: {
      if (!call.has_update_weights()) return Missing("update_weights");
      auto weights = WeightsOf(call.update_weights());
      if (!weights.ok()) return weights.status();
      for (const auto& [role, w] : *weights) {
        if (auto st = authorize(auth::Action::kUpdateWeights, role); !st.ok()) return st;
      }
      return Acted(master_->UpdateWeights(*weights));
    }
    case v1::master::Call::GET_QUOTA: {
      response.set_type(Response::GET_QUOTA);
      auto* status = response.mutable_get_quota()->mutable_status();
      auth::ViewFilter visible(acls, principal);  // GET_QUOTA shows the roles get_quotas allows
      for (const auto& [role, q] : master_->Quotas()) {
        if (!visible.Allows(auth::Action::kGetQuotas, role)) continue;
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
      return response;
    }
    case v1::master::Call::UPDATE_QUOTA: {
      if (!call.has_update_quota()) return Missing("update_quota");
      auto quotas = QuotasOf(call.update_quota());
      if (!quotas.ok()) return quotas.status();
      for (const auto& [role, q] : *quotas) {
        if (auto st = authorize(auth::Action::kUpdateQuotas, role); !st.ok()) return st;
      }
      // A quota that does not fit is kFailedPrecondition (Mesos's 409).
      return Acted(master_->UpdateQuotas(*quotas, call.update_quota().force()));
    }
    case v1::master::Call::GET_MASTER: {
      response.set_type(Response::GET_MASTER);
      auto* m = response.mutable_get_master();
      *m->mutable_master_info() = master_->info();
      m->set_start_time(master_->start_time());
      m->set_elected_time(master_->start_time());
      return response;
    }
    case v1::master::Call::GET_MAINTENANCE_STATUS:
      if (auto st = authorize(auth::Action::kGetMaintenanceStatuses); !st.ok()) return st;
      response.set_type(Response::GET_MAINTENANCE_STATUS);
      *response.mutable_get_maintenance_status()->mutable_status() = master_->GetMaintenanceStatus();
      return response;
    case v1::master::Call::GET_MAINTENANCE_SCHEDULE:
      if (auto st = authorize(auth::Action::kGetMaintenanceSchedules); !st.ok()) return st;
      response.set_type(Response::GET_MAINTENANCE_SCHEDULE);
      *response.mutable_get_maintenance_schedule()->mutable_schedule() = master_->GetMaintenanceSchedule();
      return response;
    case v1::master::Call::UPDATE_MAINTENANCE_SCHEDULE:
      if (!call.update_maintenance_schedule().has_schedule()) return Missing("update_maintenance_schedule.schedule");
      if (auto st = authorize(auth::Action::kUpdateMaintenanceSchedules); !st.ok()) return st;
      return Acted(master_->UpdateMaintenanceSchedule(call.update_maintenance_schedule().schedule()));
    case v1::master::Call::START_MAINTENANCE:
      if (!call.has_start_maintenance()) return Missing("start_maintenance");
      if (auto st = authorize(auth::Action::kStartMaintenances); !st.ok()) return st;
      return Acted(master_->StartMaintenance(
          {call.start_maintenance().machines().begin(), call.start_maintenance().machines().end()}));
    case v1::master::Call::STOP_MAINTENANCE:
      if (!call.has_stop_maintenance()) return Missing("stop_maintenance");
      if (auto st = authorize(auth::Action::kStopMaintenances); !st.ok()) return st;
      return Acted(master_->StopMaintenance(
          {call.stop_maintenance().machines().begin(), call.stop_maintenance().machines().end()}));
    case v1::master::Call::DRAIN_AGENT: {
      if (!call.drain_agent().agent_id().has_value()) return Missing("drain_agent.agent_id");
      if (auto st = authorize(auth::Action::kDrainAgents); !st.ok()) return st;
      v1::DrainConfig config;
      if (call.drain_agent().has_max_grace_period()) {
        // Mesos types this one field as google.protobuf.Duration; the drain
        // config it becomes keeps Mesos's DurationInfo.
        const auto& d = call.drain_agent().max_grace_period();
        if (d.seconds() < 0 || d.nanos() < 0) return Invalid("'drain_agent.max_grace_period' must not be negative");
        config.mutable_max_grace_period()->set_nanoseconds(d.seconds() * 1'000'000'000 + d.nanos());
      }
      config.set_mark_gone(call.drain_agent().mark_gone());
      return Acted(master_->DrainAgent(call.drain_agent().agent_id().value(), config));
    }
    case v1::master::Call::REACTIVATE_AGENT:
      if (!call.reactivate_agent().agent_id().has_value()) return Missing("reactivate_agent.agent_id");
      if (auto st = authorize(auth::Action::kReactivateAgents); !st.ok()) return st;
      return Acted(master_->ReactivateAgent(call.reactivate_agent().agent_id().value()));
    case v1::master::Call::MARK_AGENT_GONE:
      if (!call.mark_agent_gone().agent_id().has_value()) return Missing("mark_agent_gone.agent_id");
      if (auto st = authorize(auth::Action::kMarkAgentsGone); !st.ok()) return st;
      return Acted(master_->MarkAgentGone(call.mark_agent_gone().agent_id().value()));
    case v1::master::Call::RESERVE_RESOURCES:
    case v1::master::Call::UNRESERVE_RESOURCES: {
      bool reserve = call.type() == v1::master::Call::RESERVE_RESOURCES;
      const v1::AgentID& agent_id =
          reserve ? call.reserve_resources().agent_id() : call.unreserve_resources().agent_id();
      if (!agent_id.has_value())
        return Missing(reserve ? "reserve_resources.agent_id" : "unreserve_resources.agent_id");
      auto resources =
          Resources::FromProto(reserve ? call.reserve_resources().resources() : call.unreserve_resources().resources());
      if (!resources.ok()) {
        return absl::InvalidArgumentError(absl::StrCat("Invalid resources: ", resources.status().message()));
      }
      if (reserve && call.reserve_resources().source_size() > 0) {
        // Mesos's `source` can name an existing reservation to change; here
        // it may only be the unreserved resources the reservation takes.
        auto source = Resources::FromProto(call.reserve_resources().source());
        if (!source.ok() || *source != resources->Flattened()) {
          return absl::InvalidArgumentError(
              "reserve_resources.source must be the unreserved resources that 'resources' reserve: changing an "
              "existing reservation is not supported");
        }
      }
      // Each reservation's role to reserve; the principal that made it to
      // unreserve (Mesos's reserver_principals).
      for (const ResourceItem& item : resources->items()) {
        absl::Status st = reserve ? authorize(auth::Action::kReserveResources, item.role)
                                  : authorize(auth::Action::kUnreserveResources, Principal(item.principal));
        if (!st.ok()) return st;
      }
      return Acted(reserve ? master_->ReserveResources(agent_id.value(), *resources)
                           : master_->UnreserveResources(agent_id.value(), *resources));
    }
    case v1::master::Call::TEARDOWN:
      if (!call.teardown().framework_id().has_value()) return Missing("teardown.framework_id");
      if (acls != nullptr) {
        auto owner = master_->FrameworkPrincipal(call.teardown().framework_id().value());
        if (!owner.ok()) return owner.status();
        if (auto st = authorize(auth::Action::kTeardownFrameworks, *owner); !st.ok()) return st;
      }
      return Acted(master_->TeardownFramework(call.teardown().framework_id().value()));
    case v1::master::Call::SUBSCRIBE:
      return absl::FailedPreconditionError(
          "SUBSCRIBE is a stream of events: send it on its own request to /api/v1, or to OperatorService.Subscribe");
    case v1::master::Call::UNKNOWN: return Missing("type");
    default:
      return absl::UnimplementedError(absl::StrCat("Call ", v1::master::Call::Type_Name(call.type()),
                                                   " is not served by Corral yet; see docs/mesos-compatibility.md"));
  }
}

}  // namespace corral
