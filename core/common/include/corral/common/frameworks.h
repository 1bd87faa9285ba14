// What master and agent ask of a framework's FrameworkInfo.
#pragma once

#include "corral/v1/corral.pb.h"

namespace corral {

inline bool HasCapability(const v1::FrameworkInfo& info, v1::FrameworkInfo::Capability::Type type) {
  for (const auto& c : info.capabilities()) {
    if (c.type() == type) return true;
  }
  return false;
}

inline bool PartitionAware(const v1::FrameworkInfo& info) {
  return HasCapability(info, v1::FrameworkInfo::Capability::PARTITION_AWARE);
}

// Mesos puts `allocation_info` on offers and their resources only for
// MULTI_ROLE frameworks; the others compare offered resources with their
// own and must not see it.
inline bool MultiRole(const v1::FrameworkInfo& info) {
  return HasCapability(info, v1::FrameworkInfo::Capability::MULTI_ROLE);
}

// The state a framework is told for a task the cluster lost track of:
// `aware` (TASK_DROPPED, TASK_UNREACHABLE, TASK_GONE, TASK_UNKNOWN, ...) for
// a partition-aware framework, TASK_LOST for the others, as Mesos does.
inline v1::TaskState LostState(bool partition_aware, v1::TaskState aware) {
  return partition_aware ? aware : v1::TASK_LOST;
}

}  // namespace corral
