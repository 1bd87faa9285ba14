// Task state predicates shared by master, agent and tests.
#pragma once

#include <cstddef>
#include <string>

#include "absl/strings/str_cat.h"
#include "absl/strings/string_view.h"
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
    case v1::TASK_GONE_BY_OPERATOR: return true;
    default: return false;
  }
}

// At most `max` bytes of `text` (never cutting a UTF-8 character), and
// how long it was: for echoing what a client sent, which may be huge.
inline std::string Abbreviate(absl::string_view text, size_t max = 200) {
  if (text.size() <= max) return std::string(text);
  size_t cut = max;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(text.substr(0, cut), "... (", text.size(), " bytes)");
}

// What the master and agent keep of a status they pass on, per task: the
// message is cut to 4 KiB and `data` dropped (as Mesos's master drops it),
// so that tasks with huge updates cannot make them grow without bound.
inline constexpr size_t kMaxKeptStatusMessage = 4096;
inline void TrimForKeeping(v1::TaskStatus* status) {
  status->clear_data();
  if (status->message().size() > kMaxKeptStatusMessage) {
    status->set_message(Abbreviate(status->message(), kMaxKeptStatusMessage));
  }
}

}  // namespace corral
