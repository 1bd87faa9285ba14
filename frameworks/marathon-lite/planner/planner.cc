#include "planner/planner.h"

#include <algorithm>
#include <cmath>

#include "absl/strings/numbers.h"
#include "re2/re2.h"

namespace corral::marathon {
namespace {

double UnreachableFor(const Task& t, absl::Time now) {
  absl::Time since = ParseTimestamp(t.unreachable_since);
  if (since == absl::InfinitePast()) return 0;
  return absl::ToDoubleSeconds(now - since);
}

// An unreachable task counts toward the app's instances until
// inactiveAfterSeconds have passed (forever when the strategy is disabled).
bool Counts(const App& app, const Task& t, absl::Time now) {
  if (IsTerminalState(t.state) || t.killing) return false;
  if (t.state != "TASK_UNREACHABLE") return true;
  if (app.unreachable_strategy.disabled) return true;
  return UnreachableFor(t, now) < app.unreachable_strategy.inactive_after_seconds;
}

}  // namespace

absl::Time LaunchDelayUntil(const App& app, const Backoff& backoff) {
  if (backoff.failures <= 0) return absl::InfinitePast();
  double delay = app.backoff_seconds * std::pow(app.backoff_factor, backoff.failures - 1);
  delay = std::min(delay, app.max_launch_delay_seconds);
  return backoff.last_failure + absl::Seconds(delay);
}

void SortForKilling(const App& app, std::vector<const Task*>* tasks) {
  bool youngest = app.kill_selection != "OLDEST_FIRST";
  std::stable_sort(tasks->begin(), tasks->end(), [youngest](const Task* a, const Task* b) {
    bool ar = a->state == "TASK_RUNNING", br = b->state == "TASK_RUNNING";
    if (ar != br) return !ar;  // not running first
    if (a->staged_at != b->staged_at) return youngest ? a->staged_at > b->staged_at : a->staged_at < b->staged_at;
    return a->id < b->id;
  });
}

AppPlan PlanApp(const App& app, const std::vector<Task>& tasks, const Backoff& backoff, absl::Time now, int canary) {
  AppPlan plan;
  const int n = app.instances;
  std::vector<const Task*> current, old;
  int healthy_current = 0, healthy_old = 0;
  int killing = 0;  // killed, not yet gone: they still hold capacity
  for (const auto& t : tasks) {
    if (t.killing && !IsTerminalState(t.state)) ++killing;
    if (t.state == "TASK_UNREACHABLE" && !app.unreachable_strategy.disabled && !t.killing &&
        UnreachableFor(t, now) >= app.unreachable_strategy.expunge_after_seconds &&
        UnreachableFor(t, now) >= app.unreachable_strategy.inactive_after_seconds) {
      plan.expunge.push_back(t.id);
      continue;
    }
    if (!Counts(app, t, now)) continue;
    if (t.version == app.last_config_change_at) {
      current.push_back(&t);
      healthy_current += IsHealthy(app, t);
    } else {
      old.push_back(&t);
      healthy_old += IsHealthy(app, t);
    }
  }
  const int active_current = static_cast<int>(current.size());
  const int active_old = static_cast<int>(old.size());

  if (active_old > 0) {
    const int max_total = static_cast<int>(std::floor(n * (1 + app.upgrade_strategy.maximum_over_capacity) + 1e-9));
    const int min_healthy = static_cast<int>(std::ceil(n * app.upgrade_strategy.minimum_health_capacity - 1e-9));
    const int want_current = canary >= 0 ? std::min(n, canary) : n;
    plan.launch =
        std::max(0, std::min(want_current - active_current, max_total - active_current - active_old - killing));
    // Old tasks that are not healthy cost no capacity; healthy ones go
    // while enough healthy tasks stay. A canary deployment keeps the old
    // tasks the canaries do not replace.
    SortForKilling(app, &old);
    int may_kill_healthy = std::max(0, healthy_current + healthy_old - min_healthy);
    int may_kill = canary >= 0 ? std::max(0, active_old - (n - want_current)) : active_old;
    for (const Task* t : old) {
      if (may_kill == 0) break;
      if (!IsHealthy(app, *t)) {
        plan.kill.push_back(t->id);
        --may_kill;
      } else if (may_kill_healthy > 0) {
        plan.kill.push_back(t->id);
        --may_kill_healthy;
        --may_kill;
      }
    }
    // minimumHealthCapacity 1 with no room over capacity: kill one old task
    // to make room, or the replacement could never start.
    if (plan.launch == 0 && plan.kill.empty() && killing == 0 && active_current < want_current && may_kill > 0) {
      plan.kill.push_back(old.back()->id);
    }
    plan.canary_ready = canary >= 0 && active_current == want_current && healthy_current == want_current;
  } else if (active_current < n) {
    plan.launch = n - active_current;
  } else if (active_current > n) {
    SortForKilling(app, &current);
    for (int i = 0; i < active_current - n; ++i) plan.kill.push_back(current[static_cast<size_t>(i)]->id);
  }

  if (plan.launch > 0 && app.crash_loop_limit > 0 && backoff.failures >= app.crash_loop_limit) {
    plan.launch = 0;
    plan.crash_looping = true;
    plan.launch_after = absl::InfiniteFuture();
  }
  if (plan.launch > 0) {
    absl::Time until = LaunchDelayUntil(app, backoff);
    if (now < until) {
      plan.launch = 0;
      plan.launch_after = until;
    }
  }
  plan.steady = canary < 0 && active_old == 0 && killing == 0 && active_current == n && healthy_current == n &&
                plan.expunge.empty();
  return plan;
}

int Progress(const App& app, const std::vector<Task>& tasks) {
  int p = 0;
  for (const auto& t : tasks) {
    if (IsTerminalState(t.state) || t.killing) continue;
    if (t.version == app.last_config_change_at) {
      p += IsHealthy(app, t);
    } else {
      --p;
    }
  }
  return p;
}

namespace {

std::string FieldValue(const std::string& field, const std::string& host,
                       const std::map<std::string, std::string>& attributes, bool* present) {
  if (field == "hostname") {
    *present = true;
    return host;
  }
  auto it = attributes.find(field);
  *present = it != attributes.end();
  return *present ? it->second : "";
}

}  // namespace

bool SatisfiesConstraints(const App& app, const std::string& host, const std::map<std::string, std::string>& attributes,
                          const std::vector<const Task*>& placed) {
  for (const auto& c : app.constraints) {
    bool present = false;
    std::string value = FieldValue(c.field, host, attributes, &present);
    std::map<std::string, int> counts;  // field value -> tasks there
    for (const Task* t : placed) {
      bool p = false;
      std::string v = FieldValue(c.field, t->host, t->attributes, &p);
      if (p) ++counts[v];
    }
    int here = present && counts.count(value) ? counts[value] : 0;
    if (c.op == "UNIQUE") {
      if (!present || here > 0) return false;
    } else if (c.op == "CLUSTER") {
      if (!present) return false;
      if (!c.value.empty() && value != c.value) return false;
      if (c.value.empty() && !counts.empty() && !counts.count(value)) return false;
    } else if (c.op == "IS") {
      if (!present || value != c.value) return false;
    } else if (c.op == "LIKE") {
      if (!present || !RE2::FullMatch(value, c.value)) return false;
    } else if (c.op == "UNLIKE") {
      if (present && RE2::FullMatch(value, c.value)) return false;
    } else if (c.op == "MAX_PER") {
      int max = 0;
      if (!present || !absl::SimpleAtoi(c.value, &max) || here >= max) return false;
    } else if (c.op == "GROUP_BY") {
      if (!present) return false;
      int groups = 0;
      if (!c.value.empty()) (void)absl::SimpleAtoi(c.value, &groups);
      int least = 0;
      // With fewer groups seen than expected, an unseen group holds none.
      if (static_cast<int>(counts.size()) >= groups && !counts.empty()) {
        least = counts.begin()->second;
        for (const auto& [v, k] : counts) least = std::min(least, k);
        if (!counts.count(value)) least = 0;
      }
      if (here > least) return false;
    }
  }
  return true;
}

}  // namespace corral::marathon
