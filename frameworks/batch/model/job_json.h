// The JSON forms of jobs, schedules and runs (RapidJSON): Metronome's
// (/v1), Chronos's (/v1/scheduler), and the store's rows (Metronome's with
// the fields only batch has).
#pragma once

#include <optional>
#include <string>
#include <vector>

#include "corral/framework/json.h"
#include "model/job.h"

namespace corral::batch {

using framework::JsonWriter;

// A Metronome job over `job` (a PUT replaces the definition, so callers
// start from Job()). Schedules in the body are read too. Invalid fields are
// named in `errors`; read-only and unknown keys are ignored, as Metronome
// does. `stored` reads the service's own fields (cursors, createdAt).
void ReadMetronomeJob(const rapidjson::Value& json, Job* job, std::vector<FieldError>* errors, bool stored = false);
void ReadMetronomeSchedule(const rapidjson::Value& json, Schedule* s, std::vector<FieldError>* errors,
                           const std::string& path, bool stored = false);
// `extensions` adds what Metronome lacks (parents, retries, owner,
// disabled, historyLimit, createdAt) and `stored` the cursors; schedules
// are written only with `schedules` (embed=schedules, stored).
void WriteMetronomeJob(JsonWriter& w, const Job& job, bool extensions, bool schedules, bool stored = false);
void WriteMetronomeSchedule(JsonWriter& w, const Schedule& s, absl::Time now, bool stored = false);

// A Chronos job (iso8601 or dependency body) into `job`. `dependency`:
// it must have parents and no schedule.
void ReadChronosJob(const rapidjson::Value& json, Job* job, std::vector<FieldError>* errors, bool dependency);
void WriteChronosJob(JsonWriter& w, const Job& job, const JobStats& stats);

// Metronome's run (tasks included); `stored` adds the service's fields.
void WriteRun(JsonWriter& w, const Run& run, bool stored = false);
bool ReadStoredRun(const rapidjson::Value& json, Run* run);  // tasks not included
void WriteRunTask(JsonWriter& w, const RunTask& t);
bool ReadRunTask(const rapidjson::Value& json, RunTask* t);
void WriteStats(JsonWriter& w, const JobStats& s);
bool ReadStats(const rapidjson::Value& json, JobStats* s);

std::string StoredJobJson(const Job& job);
std::string StoredRunJson(const Run& run);
std::string RunTaskJson(const RunTask& t);
std::string StatsJson(const JobStats& s);
std::optional<Job> ParseStoredJob(const std::string& json);
// The stores' rows: a job without its schedules, and one schedule.
std::string JobRowJson(const Job& job);
std::string ScheduleRowJson(const Schedule& s);
// A stored schedule back, validated as Load does (a zone that went away
// leaves it unparsed, not refused); nullopt when it is unreadable.
std::optional<Schedule> ParseScheduleRow(const std::string& json);

}  // namespace corral::batch
