// Task state predicates shared by master, agent and tests.
#pragma once

#include "corral/v1/corral.pb.h"

namespace corral {

// Terminal states as Mesos defines them. TASK_LOST counts: a task reported
// lost is over, even if a partitioned agent may later bring it back (the
// master then re-adopts it from the agent's report).
inline bool IsTerminalState(v1::TaskState state) {
  switch (state) {
    case v1::TASK_FINISHED:
    case v1::TASK_FAILED:
    case v1::TASK_KILLED:
    case v1::TASK_ERROR:
    case v1::TASK_LOST:
    case v1::TASK_DROPPED:
    case v1::TASK_GONE:
    case v1::TASK_GONE_BY_OPERATOR:
      return true;
    default:
      return false;
  }
}

}  // namespace corral
