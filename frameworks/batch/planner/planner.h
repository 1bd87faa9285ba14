// The planner: pure functions from a job, its runs and `now` to what should
// happen (runs to start, instants missed, tasks to launch and kill), and
// from a task's end to the run's outcome. The service applies the answers
// and stores them; nothing here does I/O or reads a clock.
#pragma once

#include <cstdint>
#include <deque>
#include <functional>
#include <limits>
#include <map>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "absl/time/time.h"
#include "model/job.h"

namespace corral::batch {

// A job as the service holds it.
struct JobState {
  Job job;
  JobStats stats;
  std::map<std::string, Run> active;        // unfinished runs by ID
  std::deque<Run> history;                  // finished runs, oldest first, at most job.history_limit
  std::map<int64_t, std::string> instants;  // instant -> the run for it (active or in the history)
};

constexpr int64_t kNever = std::numeric_limits<int64_t>::max();

struct Missed {
  std::string schedule_id;
  int64_t instant_ms;
  std::string reason;
};

struct JobPlan {
  std::vector<std::pair<std::string, int64_t>> start;       // (schedule ID, instant): new runs
  std::vector<Missed> missed;                               // instants that start no run
  std::vector<std::pair<std::string, std::string>> kill;    // (run ID, reason): live tasks to kill
  std::vector<std::string> launch;                          // runs that want a task now
  std::vector<std::pair<std::string, std::string>> expire;  // (run ID, reason): fail without a task
  std::map<std::string, int64_t> cursors;                   // schedule ID -> the new cursor
  int64_t wake_ms = kNever;                                 // when to plan this job again
};

// At most this many past instants of one schedule are looked at in one
// plan (a job every minute, down for a week, is 10,080): the older ones
// are counted as missed without being listed one by one.
constexpr int kMaxInstantsPerPlan = 1000;

// Which policy a manual run follows: the first schedule's, or ALLOW for a
// job without schedules (Chronos's concurrent=false makes it FORBID).
ConcurrencyPolicy ManualPolicy(const Job& job);

// Due instants of the job's schedules up to `now` (each starts at most one
// run: the cursor moves past it), runs to launch, deadlines.
JobPlan PlanJob(const JobState& state, absl::Time now);

// What a task's end means for its run.
struct TaskEnd {
  enum Kind { kSucceeded, kFailed, kRetry } kind;
  std::string reason;
  int64_t retry_at_ms = 0;
};
TaskEnd OnTaskEnd(const Job& job, const Run& run, const std::string& state, const std::string& message, absl::Time now);

// Seconds before retry `attempt` (1 for the first retry): 1, 2, 4, ... 300.
double RetryBackoffSeconds(int attempt);

// Children of `parent` that are due at `instant_ms` now that it succeeded:
// every one of their parents has a successful run for that instant, and
// they have no run for it yet. `status_at(job, instant)` looks the runs up.
std::vector<std::string> ChildrenDue(
    const std::string& parent, int64_t instant_ms, const std::map<std::string, std::vector<std::string>>& children,
    const std::function<const Job*(const std::string&)>& job,
    const std::function<std::optional<RunStatus>(const std::string&, int64_t)>& status_at);

}  // namespace corral::batch
