#include "planner/planner.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"

namespace corral::batch {

ConcurrencyPolicy ManualPolicy(const Job& job) {
  return job.schedules.empty() ? ConcurrencyPolicy::kAllow : job.schedules.front().concurrency;
}

double RetryBackoffSeconds(int attempt) { return std::min(300.0, std::ldexp(1.0, std::max(0, attempt - 1))); }

JobPlan PlanJob(const JobState& state, absl::Time now) {
  JobPlan plan;
  const Job& job = state.job;
  const int64_t now_ms = ToMs(now);
  auto wake = [&](int64_t ms) { plan.wake_ms = std::min(plan.wake_ms, ms); };

  // Runs already there: launches, deadlines.
  size_t active = 0;
  for (const auto& [id, run] : state.active) {
    ++active;
    if (run.stopping) continue;
    if (run.live() != nullptr) {
      if (job.active_deadline_seconds > 0 && run.first_launch_ms > 0) {
        // From the first attempt's launch, over every retry.
        int64_t deadline = run.first_launch_ms + static_cast<int64_t>(job.active_deadline_seconds * 1000);
        if (now_ms >= deadline) {
          plan.kill.emplace_back(id, absl::StrCat("activeDeadlineSeconds (", job.active_deadline_seconds,
                                                  " s) passed; the run was killed"));
        } else {
          wake(deadline);
        }
      }
      continue;
    }
    // Waiting for a task: a scheduled run that never got one in time is
    // missed; otherwise it launches once its backoff is over.
    if (run.attempts == 0 && run.trigger.rfind("schedule:", 0) == 0) {
      double deadline_s = 900;
      for (const auto& s : job.schedules) {
        if ("schedule:" + s.id == run.trigger) deadline_s = s.starting_deadline_seconds;
      }
      int64_t deadline = run.instant_ms + static_cast<int64_t>(deadline_s * 1000);
      if (now_ms > deadline) {
        plan.expire.emplace_back(id, absl::StrCat("could not start within startingDeadlineSeconds (", deadline_s,
                                                  " s) of its scheduled time"));
        continue;
      }
      wake(deadline + 1);
    }
    if (run.next_attempt_ms <= now_ms) {
      plan.launch.push_back(id);
    } else {
      wake(run.next_attempt_ms);
    }
  }

  // Due instants: each is started, skipped (FORBID) or missed, once.
  for (const auto& s : job.schedules) {
    if (!s.enabled || job.disabled || !s.parsed) continue;
    const int64_t deadline_ms = static_cast<int64_t>(s.starting_deadline_seconds * 1000);
    int64_t cursor = s.cursor_ms;
    int seen = 0;
    while (true) {
      auto next = s.parsed->NextAfter(FromMs(cursor));
      if (!next) break;
      int64_t instant = ToMs(*next);
      if (instant > now_ms) {
        wake(instant);
        break;
      }
      cursor = instant;
      if (++seen > kMaxInstantsPerPlan) {
        // Far behind: jump to the instants that can still start.
        auto first_live = s.parsed->NextAfter(FromMs(std::max(cursor, now_ms - deadline_ms - 1)));
        plan.missed.push_back({s.id, instant, "not looked at: more than 1000 instants behind"});
        if (!first_live) break;
        cursor = ToMs(*first_live) - 1;
        seen = 0;
        continue;
      }
      if (now_ms - instant > deadline_ms) {
        plan.missed.push_back(
            {s.id, instant, absl::StrCat("the startingDeadlineSeconds (", s.starting_deadline_seconds, " s) passed")});
        continue;
      }
      size_t running = active + plan.start.size();
      if (s.concurrency == ConcurrencyPolicy::kForbid && running > 0) {
        plan.missed.push_back({s.id, instant, "FORBID: a run of the job is still active"});
        continue;
      }
      if (s.concurrency == ConcurrencyPolicy::kReplace) {
        const std::string why = "REPLACE: replaced by the run of a later instant";
        for (const auto& entry : state.active) {
          const std::string& id = entry.first;  // a structured binding cannot be captured in C++17
          if (entry.second.stopping) continue;
          auto& list = entry.second.live() != nullptr ? plan.kill : plan.expire;
          if (std::none_of(list.begin(), list.end(), [&](const auto& e) { return e.first == id; })) {
            list.emplace_back(id, why);
          }
        }
        plan.launch.clear();
        for (const auto& [sid, inst] : plan.start) plan.missed.push_back({sid, inst, why});
        plan.start.clear();
      }
      plan.start.emplace_back(s.id, instant);
    }
    if (cursor != s.cursor_ms) plan.cursors[s.id] = cursor;
  }
  return plan;
}

TaskEnd OnTaskEnd(const Job& job, const Run& run, const std::string& state, const std::string& message,
                  absl::Time now) {
  if (state == "TASK_FINISHED" && !run.stopping) return {TaskEnd::kSucceeded, "", 0};
  std::string reason =
      run.stopping && !run.reason.empty() ? run.reason : absl::StrCat(state, message.empty() ? "" : ": ", message);
  if (run.stopping) return {TaskEnd::kFailed, reason, 0};
  if (job.restart == RestartPolicy::kOnFailure && (job.max_retries < 0 || run.attempts <= job.max_retries)) {
    double backoff = RetryBackoffSeconds(run.attempts);
    return {TaskEnd::kRetry, reason, ToMs(now) + static_cast<int64_t>(backoff * 1000)};
  }
  return {TaskEnd::kFailed, reason, 0};
}

std::vector<std::string> ChildrenDue(
    const std::string& parent, int64_t instant_ms, const std::map<std::string, std::vector<std::string>>& children,
    const std::function<const Job*(const std::string&)>& job,
    const std::function<std::optional<RunStatus>(const std::string&, int64_t)>& status_at) {
  std::vector<std::string> out;
  auto it = children.find(parent);
  if (it == children.end()) return out;
  for (const auto& child_id : it->second) {
    const Job* child = job(child_id);
    if (child == nullptr || child->disabled || status_at(child_id, instant_ms).has_value()) continue;
    bool all = true;
    for (const auto& p : child->parents) {
      auto st = status_at(p, instant_ms);
      if (!st || *st != RunStatus::kSuccess) {
        all = false;
        break;
      }
    }
    if (all) out.push_back(child_id);
  }
  return out;
}

}  // namespace corral::batch
