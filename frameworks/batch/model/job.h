// batch's job model, one for both APIs: a Metronome job is a Chronos job
// (its id is the Chronos name), a Metronome schedule or Chronos's
// `schedule` is a Schedule, Chronos's `parents` make the DAG. Runs are the
// executions; each has the scheduled instant it belongs to, which is what
// the DAG matches parents and children on. Value types; nothing here does
// I/O.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "corral/framework/json.h"
#include "model/schedule.h"

namespace corral::batch {

enum class ConcurrencyPolicy { kAllow, kForbid, kReplace };
enum class RestartPolicy { kNever, kOnFailure };

const char* PolicyName(ConcurrencyPolicy p);
const char* PolicyName(RestartPolicy p);

using framework::FieldError;

struct Schedule {
  std::string id = "default";
  std::string expression;  // cron or ISO 8601 (model/schedule.h)
  std::string time_zone = "UTC";
  double starting_deadline_seconds = 900;  // Metronome's default; Chronos's epsilon
  ConcurrencyPolicy concurrency = ConcurrencyPolicy::kAllow;
  bool enabled = true;
  // The service's: the last instant it acted on (started, skipped or
  // missed), Unix ms; 0 for none yet. Instants up to it never start again.
  int64_t cursor_ms = 0;
  std::optional<ScheduleExpression> parsed;  // set by ValidateSchedule
};

struct Constraint {
  std::string attribute;  // "hostname" or an agent attribute
  std::string op;         // EQ (IS, EQUALS), LIKE, UNLIKE
  std::string value;
};

struct Job {
  std::string id;
  std::string description;
  std::map<std::string, std::string> labels;
  // What runs.
  std::string cmd;                // a shell command, or
  std::vector<std::string> args;  // an argv (Metronome's run.args)
  double cpus = 1, mem = 128, disk = 0, gpus = 0;
  std::string user;
  std::map<std::string, std::string> env;
  std::vector<std::string> uris;  // fetched into the sandbox
  std::vector<Constraint> constraints;
  RestartPolicy restart = RestartPolicy::kNever;
  int max_retries = 0;                 // with kOnFailure: failed attempts retried; -1 without end
  double active_deadline_seconds = 0;  // Metronome's; Chronos's maxCompletionTime. 0: none
  double task_kill_grace_period_seconds = 0;
  std::vector<Schedule> schedules;
  std::vector<std::string> parents;  // runs when all succeeded for the same instant
  std::string owner, owner_name;
  bool disabled = false;   // Chronos: no scheduled or dependent runs start
  int history_limit = 20;  // finished runs kept
  std::string created_at;
};

struct JobStats {
  int64_t success_count = 0, failure_count = 0, missed_count = 0;
  int64_t errors_since_last_success = 0;
  std::string last_success_at, last_failure_at;
};

// Metronome's run states.
enum class RunStatus { kInitial, kStarting, kActive, kSuccess, kFailed };
const char* StatusName(RunStatus s);
bool IsFinished(RunStatus s);

struct RunTask {
  std::string id;
  std::string agent_id;
  std::string state = "TASK_STAGING";  // the last TaskState reported
  std::string started_at, completed_at;
  std::optional<int> exit_code;
  std::string message;
};

struct Run {
  std::string id;
  std::string job_id;
  int64_t instant_ms = 0;  // the scheduled instant (DAG key); a manual run's own
  std::string trigger;     // "schedule:<id>", "manual", "dependency"
  RunStatus status = RunStatus::kInitial;
  std::string created_at, completed_at;
  std::string reason;  // why it failed or was stopped
  // Per-run overrides (parameterized runs).
  std::map<std::string, std::string> env;
  std::optional<std::vector<std::string>> args;
  int attempts = 0;              // tasks launched so far
  int64_t next_attempt_ms = 0;   // a retry waits for this (backoff)
  int64_t first_launch_ms = 0;   // the first attempt's launch (activeDeadlineSeconds)
  int64_t first_running_ms = 0;  // the first TASK_RUNNING (lateness)
  bool stopping = false;         // killed on purpose: stop, replace, deadline
  bool started = false;          // reached TASK_RUNNING once
  std::vector<RunTask> tasks;    // every attempt, the live one last
  // The live task: the last one while it is not terminal.
  const RunTask* live() const;
  RunTask* live();
};

bool IsTerminalTaskState(const std::string& state);

std::string Timestamp(absl::Time t);     // "2026-12-07T02:00:00.000+0000", as Metronome writes it
std::string IsoTimestamp(absl::Time t);  // "2026-12-07T02:00:00.000Z", as Chronos writes it
int64_t ToMs(absl::Time t);
absl::Time FromMs(int64_t ms);

// Metronome's job id: lowercase, digits, '-' inside a segment, '.' between.
bool ValidMetronomeId(const std::string& id);
// What every job must be, from either API: id, cmd or args, resources,
// schedules (parsed into `parsed`), constraints.
void ValidateJob(Job* job, std::vector<FieldError>* errors, absl::Time now = absl::Now());
void ValidateSchedule(Schedule* s, std::vector<FieldError>* errors, const std::string& path,
                      absl::Time now = absl::Now());

// The DAG check for `job` among the other jobs, which `find` looks up by
// ID (null when there is none; `job`'s own older form is never asked for):
// every parent exists and no cycle goes through it. An error names the
// missing parent or the cycle. It visits only `job`'s ancestors.
std::optional<std::string> CheckParents(const Job& job, const std::function<const Job*(const std::string&)>& find);
std::optional<std::string> CheckParents(const Job& job, const std::map<std::string, const Job*>& jobs);

// A new run ID: UTC time, then 5 random characters (Metronome's form).
std::string NewRunId(absl::Time now);

}  // namespace corral::batch
