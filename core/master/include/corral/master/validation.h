// Validation of scheduler calls and tasks at the master's edge.
//
// Each function returns InvalidArgument with a message that names the field
// that is wrong; everything past these checks trusts its input.
#pragma once

#include <string>

#include "absl/status/status.h"
#include "absl/strings/string_view.h"
#include "corral/common/resources.h"
#include "corral/v1/scheduler.pb.h"

namespace corral::validation {

// Structure of any call: a known type, its matching field, a framework ID
// for every call but SUBSCRIBE.
absl::Status ValidateCall(const v1::scheduler::Call& call);

// SUBSCRIBE: framework_info with user and name, valid roles, consistent IDs.
absl::Status ValidateSubscribe(const v1::scheduler::Call& call);

// A framework's info as SUBSCRIBE and UPDATE_FRAMEWORK carry it: user, name,
// failover timeout, roles, and suppressed roles among them. Errors name the
// field under `call` ("subscribe", "update_framework").
absl::Status ValidateFrameworkInfo(const v1::FrameworkInfo& info,
                                   const google::protobuf::RepeatedPtrField<std::string>& suppressed_roles,
                                   absl::string_view call);

// A role name: "*", or a non-empty name that is not "." or "..", does not
// start with '-', and has no whitespace, backslash or control character.
absl::Status ValidateRole(const std::string& role);

// Roles the framework subscribes with (MULTI_ROLE `roles`, else `role`).
std::vector<std::string> FrameworkRoles(const v1::FrameworkInfo& info);

// A command or custom executor: IDs, command, resources.
absl::Status ValidateExecutor(const v1::ExecutorInfo& executor, const std::string& framework_id);

// A task on its own (IDs, resources, exactly one of command/executor,
// kill policy, health check). `agent_id` is the agent of the offers.
// On success *resources holds the task's resources.
absl::Status ValidateTask(const v1::TaskInfo& task, const std::string& agent_id, Resources* resources);

}  // namespace corral::validation
