// The operator API's views of the cluster (Mesos's master::Response shapes),
// built from a ClusterState snapshot: GET_STATE and its parts, and the
// payloads of operator SUBSCRIBE events. Pure functions.
#pragma once

#include "corral/v1/internal.pb.h"
#include "corral/v1/master.pb.h"

namespace corral::operator_api {

void FillAgents(const v1::internal::ClusterState& state, v1::master::Response::GetAgents* out);
void FillFrameworks(const v1::internal::ClusterState& state, v1::master::Response::GetFrameworks* out);
void FillExecutors(const v1::internal::ClusterState& state, v1::master::Response::GetExecutors* out);
void FillTasks(const v1::internal::ClusterState& state, v1::master::Response::GetTasks* out);
void FillState(const v1::internal::ClusterState& state, v1::master::Response::GetState* out);

v1::master::Response::GetAgents::Agent AgentOf(const v1::internal::AgentState& agent);
v1::master::Response::GetFrameworks::Framework FrameworkOf(const v1::internal::FrameworkState& framework);

}  // namespace corral::operator_api
