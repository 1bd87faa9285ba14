#include "corral/master/operator_views.h"

#include "absl/strings/str_cat.h"
#include "corral/common/version.h"

namespace corral::operator_api {
namespace {

v1::TimeInfo Time(double seconds) {
  v1::TimeInfo t;
  t.set_nanoseconds(static_cast<int64_t>(seconds * 1e9));
  return t;
}

}  // namespace

v1::master::Response::GetAgents::Agent AgentOf(const v1::internal::AgentState& a) {
  v1::master::Response::GetAgents::Agent agent;
  *agent.mutable_agent_info() = a.agent_info();
  agent.set_active(a.active() && !a.has_drain_info());
  agent.set_deactivated(a.has_drain_info());
  agent.set_version(kMesosVersion);
  agent.set_pid(absl::StrCat("slave(1)@", a.agent_info().hostname(), ":", a.agent_info().port()));
  *agent.mutable_registered_time() = Time(a.registered_time());
  *agent.mutable_total_resources() = a.total();
  *agent.mutable_allocated_resources() = a.allocated();
  *agent.mutable_offered_resources() = a.offered();
  if (a.has_drain_info()) *agent.mutable_drain_info() = a.drain_info();
  return agent;
}

v1::master::Response::GetFrameworks::Framework FrameworkOf(const v1::internal::FrameworkState& f) {
  v1::master::Response::GetFrameworks::Framework fw;
  *fw.mutable_framework_info() = f.framework_info();
  fw.set_active(f.active());
  fw.set_connected(f.connected());
  fw.set_recovered(false);
  *fw.mutable_registered_time() = Time(f.registered_time());
  *fw.mutable_offers() = f.offers();
  *fw.mutable_allocated_resources() = f.allocated();
  *fw.mutable_offered_resources() = f.offered();
  if (f.has_offer_constraints()) *fw.mutable_offer_constraints() = f.offer_constraints();
  return fw;
}

void FillAgents(const v1::internal::ClusterState& state, v1::master::Response::GetAgents* out) {
  for (const auto& a : state.agents()) {
    if (a.recovered()) {
      *out->add_recovered_agents() = a.agent_info();
    } else {
      *out->add_agents() = AgentOf(a);
    }
  }
}

void FillFrameworks(const v1::internal::ClusterState& state, v1::master::Response::GetFrameworks* out) {
  for (const auto& f : state.frameworks()) *out->add_frameworks() = FrameworkOf(f);
}

void FillExecutors(const v1::internal::ClusterState& state, v1::master::Response::GetExecutors* out) {
  for (const auto& a : state.agents()) {
    for (const auto& e : a.executors()) {
      auto* ex = out->add_executors();
      *ex->mutable_executor_info() = e;
      *ex->mutable_agent_id() = a.agent_info().id();
    }
  }
}

void FillTasks(const v1::internal::ClusterState& state, v1::master::Response::GetTasks* out) {
  for (const v1::Task& t : state.tasks()) {
    v1::Task* copy = t.status_update_state() == v1::TASK_UNREACHABLE ? out->add_unreachable_tasks() : out->add_tasks();
    *copy = t;
    copy->clear_status_update_state();
  }
  for (const v1::Task& t : state.completed_tasks()) *out->add_completed_tasks() = t;
}

void FillState(const v1::internal::ClusterState& state, v1::master::Response::GetState* out) {
  FillTasks(state, out->mutable_get_tasks());
  FillExecutors(state, out->mutable_get_executors());
  FillFrameworks(state, out->mutable_get_frameworks());
  FillAgents(state, out->mutable_get_agents());
}

}  // namespace corral::operator_api
