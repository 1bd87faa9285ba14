#include "model/job.h"

#include <algorithm>
#include <cmath>
#include <cstring>
#include <functional>
#include <random>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"

namespace corral::batch {

const char* PolicyName(ConcurrencyPolicy p) {
  switch (p) {
    case ConcurrencyPolicy::kAllow: return "ALLOW";
    case ConcurrencyPolicy::kForbid: return "FORBID";
    case ConcurrencyPolicy::kReplace: return "REPLACE";
  }
  return "ALLOW";
}

const char* PolicyName(RestartPolicy p) { return p == RestartPolicy::kNever ? "NEVER" : "ON_FAILURE"; }

const char* StatusName(RunStatus s) {
  switch (s) {
    case RunStatus::kInitial: return "INITIAL";
    case RunStatus::kStarting: return "STARTING";
    case RunStatus::kActive: return "ACTIVE";
    case RunStatus::kSuccess: return "SUCCESS";
    case RunStatus::kFailed: return "FAILED";
  }
  return "INITIAL";
}

bool IsFinished(RunStatus s) { return s == RunStatus::kSuccess || s == RunStatus::kFailed; }

bool IsTerminalTaskState(const std::string& s) {
  return s == "TASK_FINISHED" || s == "TASK_FAILED" || s == "TASK_KILLED" || s == "TASK_LOST" || s == "TASK_ERROR" ||
         s == "TASK_DROPPED" || s == "TASK_GONE" || s == "TASK_GONE_BY_OPERATOR" || s == "TASK_UNKNOWN";
}

const RunTask* Run::live() const {
  return !tasks.empty() && !IsTerminalTaskState(tasks.back().state) ? &tasks.back() : nullptr;
}

RunTask* Run::live() { return !tasks.empty() && !IsTerminalTaskState(tasks.back().state) ? &tasks.back() : nullptr; }

namespace {

// Formatting is the cost of a trigger of thousands of runs at one instant:
// each thread keeps the last time it formatted, per format.
std::string Format(const char* format, absl::Time t) {
  struct Last {
    const char* format = nullptr;
    absl::Time t;
    std::string text;
  };
  thread_local Last last[2];
  Last& slot = last[format[std::strlen(format) - 1] == 'Z' ? 1 : 0];
  if (slot.format != format || slot.t != t) { slot = {format, t, absl::FormatTime(format, t, absl::UTCTimeZone())}; }
  return slot.text;
}

}  // namespace

std::string Timestamp(absl::Time t) { return Format("%Y-%m-%dT%H:%M:%E3S%z", t); }
std::string IsoTimestamp(absl::Time t) { return Format("%Y-%m-%dT%H:%M:%E3SZ", t); }
int64_t ToMs(absl::Time t) { return absl::ToUnixMillis(t); }
absl::Time FromMs(int64_t ms) { return absl::FromUnixMillis(ms); }

bool ValidMetronomeId(const std::string& id) {
  if (id.empty() || id.size() > 200) return false;
  for (absl::string_view seg : absl::StrSplit(id, '.')) {
    if (seg.empty()) return false;
    auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
    if (!alnum(seg.front()) || !alnum(seg.back())) return false;
    for (char c : seg) {
      if (!alnum(c) && c != '-') return false;
    }
  }
  return true;
}

void ValidateSchedule(Schedule* s, std::vector<FieldError>* errors, const std::string& path, absl::Time now) {
  if (!ValidMetronomeId(s->id)) errors->push_back({path + "/id", "a schedule id is lowercase letters, digits, '-'"});
  if (!(s->starting_deadline_seconds >= 1) || !std::isfinite(s->starting_deadline_seconds)) {
    errors->push_back({path + "/startingDeadlineSeconds", "must be at least 1"});
  }
  auto parsed = ScheduleExpression::Parse(s->expression, s->time_zone, now);
  if (!parsed.ok()) {
    bool zone = absl::StrContains(parsed.status().message(), "time zone");
    errors->push_back({path + (zone ? "/timezone" : "/cron"), std::string(parsed.status().message())});
    s->parsed.reset();
  } else {
    s->parsed = std::move(*parsed);
    // "R//PT1H" starts now: written down, so that it means the same after a restart.
    if (const IsoSchedule* iso = s->parsed->iso_schedule(); iso != nullptr) {
      std::vector<std::string> parts = absl::StrSplit(s->expression, '/');
      if (parts.size() == 3 && parts[1].empty()) {
        s->expression = absl::StrCat(parts[0], "/", IsoTimestamp(iso->start()), "/", parts[2]);
        if (auto again = ScheduleExpression::Parse(s->expression, s->time_zone, now); again.ok()) {
          s->parsed = std::move(*again);
        }
      }
    }
  }
}

void ValidateJob(Job* job, std::vector<FieldError>* errors, absl::Time now) {
  bool id_ok = !job->id.empty() && job->id.size() <= 200 && job->id.find('/') == std::string::npos &&
               job->id.find_first_of(" \t\r\n") == std::string::npos;
  if (!id_ok) errors->push_back({"/id", "a job id is 1 to 200 characters without '/' or spaces"});
  if (job->cmd.empty() && job->args.empty()) errors->push_back({"/run", "needs cmd or args"});
  auto positive = [&](double v, const char* path, bool zero_ok) {
    if (!std::isfinite(v) || v < 0 || (!zero_ok && v == 0)) {
      errors->push_back({path, zero_ok ? "must be zero or more" : "must be more than zero"});
    }
  };
  positive(job->cpus, "/run/cpus", false);
  positive(job->mem, "/run/mem", false);
  positive(job->disk, "/run/disk", true);
  positive(job->gpus, "/run/gpus", true);
  positive(job->active_deadline_seconds, "/run/restart/activeDeadlineSeconds", true);
  positive(job->task_kill_grace_period_seconds, "/run/taskKillGracePeriodSeconds", true);
  if (job->max_retries < -1) errors->push_back({"/retries", "must be zero or more"});
  if (job->history_limit < 0 || job->history_limit > 10000) {
    errors->push_back({"/historyLimit", "must be between 0 and 10000"});
  }
  std::set<std::string> ids;
  for (size_t i = 0; i < job->schedules.size(); ++i) {
    std::string path = absl::StrCat("/schedules/", i);
    ValidateSchedule(&job->schedules[i], errors, path, now);
    if (!ids.insert(job->schedules[i].id).second) errors->push_back({path + "/id", "is used twice"});
  }
  for (size_t i = 0; i < job->constraints.size(); ++i) {
    const auto& c = job->constraints[i];
    if (c.op != "EQ" && c.op != "LIKE" && c.op != "UNLIKE") {
      errors->push_back({absl::StrCat("/run/placement/constraints/", i, "/operator"),
                         "'" + c.op + "' is not one of IS, EQ, EQUALS, LIKE, UNLIKE"});
    }
    if (c.attribute.empty()) {
      errors->push_back({absl::StrCat("/run/placement/constraints/", i, "/attribute"), "is empty"});
    }
  }
  std::set<std::string> parents(job->parents.begin(), job->parents.end());
  if (parents.size() != job->parents.size()) errors->push_back({"/parents", "names a parent twice"});
  if (parents.count(job->id)) errors->push_back({"/parents", "a job cannot be its own parent"});
}

std::optional<std::string> CheckParents(const Job& job, const std::map<std::string, const Job*>& jobs) {
  return CheckParents(job, [&](const std::string& id) -> const Job* {
    auto it = jobs.find(id);
    return it == jobs.end() ? nullptr : it->second;
  });
}

std::optional<std::string> CheckParents(const Job& job, const std::function<const Job*(const std::string&)>& find) {
  for (const auto& p : job.parents) {
    if (p != job.id && find(p) == nullptr) return "unknown parent '" + p + "'";
  }
  // A cycle through `job`: a path from one of its parents back to it.
  std::set<std::string> seen;
  std::vector<std::string> path;
  std::function<bool(const std::string&)> reaches = [&](const std::string& id) -> bool {
    if (id == job.id) return true;
    if (!seen.insert(id).second) return false;
    const Job* j = find(id);
    if (j == nullptr) return false;
    path.push_back(id);
    for (const auto& p : j->parents) {
      if (reaches(p)) return true;
    }
    path.pop_back();
    return false;
  };
  for (const auto& p : job.parents) {
    path.clear();
    if (reaches(p)) {
      std::vector<std::string> cycle{job.id};
      for (const auto& s : path) cycle.push_back(s);
      cycle.push_back(job.id);
      std::reverse(cycle.begin(), cycle.end());
      return "the parents make a cycle: " + absl::StrJoin(cycle, " -> ");
    }
  }
  return std::nullopt;
}

std::string NewRunId(absl::Time now) {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  static const char kChars[] = "abcdefghijklmnopqrstuvwxyz0123456789";
  thread_local int64_t last_second = -1;
  thread_local std::string prefix;
  if (absl::ToUnixSeconds(now) != last_second) {
    last_second = absl::ToUnixSeconds(now);
    prefix = absl::FormatTime("%Y%m%d%H%M%S", now, absl::UTCTimeZone());
  }
  std::string id = prefix;
  for (int i = 0; i < 5; ++i) id += kChars[rng() % 36];
  return id;
}

}  // namespace corral::batch
