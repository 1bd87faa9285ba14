#include "model/job_json.h"

#include <cmath>

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"

namespace corral::batch {

using framework::OptStr;
using framework::ReadBool;
using framework::ReadInt;
using framework::ReadNumber;
using framework::ReadString;
using framework::ReadStringList;
using framework::ReadStringMap;
using framework::Str;
using framework::StrList;
using framework::StrMap;
using framework::Text;

namespace {

const rapidjson::Value* Member(const rapidjson::Value& o, const char* key) {
  if (!o.IsObject()) return nullptr;
  auto it = o.FindMember(key);
  return it == o.MemberEnd() || it->value.IsNull() ? nullptr : &it->value;
}

bool ParseConcurrency(const std::string& s, ConcurrencyPolicy* p) {
  if (s == "ALLOW")
    *p = ConcurrencyPolicy::kAllow;
  else if (s == "FORBID")
    *p = ConcurrencyPolicy::kForbid;
  else if (s == "REPLACE")
    *p = ConcurrencyPolicy::kReplace;
  else
    return false;
  return true;
}

std::string ConstraintOp(std::string op) {
  op = absl::AsciiStrToUpper(op);
  if (op == "IS" || op == "EQUALS" || op == "EQ" || op == "CLUSTER") return "EQ";
  return op;
}

}  // namespace

void ReadMetronomeSchedule(const rapidjson::Value& json, Schedule* s, std::vector<FieldError>* errors,
                           const std::string& path, bool stored) {
  if (!json.IsObject()) {
    errors->push_back({path, "must be an object"});
    return;
  }
  ReadString(json, "id", &s->id, errors, path);
  ReadString(json, "cron", &s->expression, errors, path);
  ReadString(json, "iso8601", &s->expression, errors, path);  // batch's: a Chronos schedule
  ReadString(json, "timezone", &s->time_zone, errors, path);
  ReadNumber(json, "startingDeadlineSeconds", &s->starting_deadline_seconds, errors, path);
  std::string policy = PolicyName(s->concurrency);
  ReadString(json, "concurrencyPolicy", &policy, errors, path);
  if (!ParseConcurrency(policy, &s->concurrency)) {
    errors->push_back({path + "/concurrencyPolicy", "'" + policy + "' is not ALLOW, FORBID or REPLACE"});
  }
  ReadBool(json, "enabled", &s->enabled, errors, path);
  if (s->expression.empty()) errors->push_back({path + "/cron", "is required"});
  if (stored) {
    double cursor = 0;
    ReadNumber(json, "cursor", &cursor, errors, path);
    s->cursor_ms = static_cast<int64_t>(cursor);
  }
}

void ReadMetronomeJob(const rapidjson::Value& json, Job* job, std::vector<FieldError>* errors, bool stored) {
  if (!json.IsObject()) {
    errors->push_back({"/", "a job is a JSON object"});
    return;
  }
  ReadString(json, "id", &job->id, errors, "");
  ReadString(json, "description", &job->description, errors, "");
  ReadStringMap(json, "labels", &job->labels, errors, "");
  const rapidjson::Value* run = Member(json, "run");
  if (run == nullptr || !run->IsObject()) {
    errors->push_back({"/run", "is required (an object)"});
  } else {
    ReadString(*run, "cmd", &job->cmd, errors, "/run");
    ReadStringList(*run, "args", &job->args, errors, "/run");
    ReadNumber(*run, "cpus", &job->cpus, errors, "/run");
    ReadNumber(*run, "mem", &job->mem, errors, "/run");
    ReadNumber(*run, "disk", &job->disk, errors, "/run");
    ReadNumber(*run, "gpus", &job->gpus, errors, "/run");
    ReadString(*run, "user", &job->user, errors, "/run");
    ReadStringMap(*run, "env", &job->env, errors, "/run");
    ReadNumber(*run, "taskKillGracePeriodSeconds", &job->task_kill_grace_period_seconds, errors, "/run");
    if (const auto* arts = Member(*run, "artifacts")) {
      if (!arts->IsArray()) {
        errors->push_back({"/run/artifacts", "must be a list"});
      } else {
        for (rapidjson::SizeType i = 0; i < arts->Size(); ++i) {
          std::string uri;
          ReadString((*arts)[i], "uri", &uri, errors, absl::StrCat("/run/artifacts/", i));
          if (uri.empty()) errors->push_back({absl::StrCat("/run/artifacts/", i, "/uri"), "is required"});
          job->uris.push_back(uri);
        }
      }
    }
    if (const auto* placement = Member(*run, "placement")) {
      if (const auto* cs = Member(*placement, "constraints"); cs != nullptr && cs->IsArray()) {
        for (rapidjson::SizeType i = 0; i < cs->Size(); ++i) {
          Constraint c;
          std::string path = absl::StrCat("/run/placement/constraints/", i);
          ReadString((*cs)[i], "attribute", &c.attribute, errors, path);
          ReadString((*cs)[i], "operator", &c.op, errors, path);
          ReadString((*cs)[i], "value", &c.value, errors, path);
          c.op = ConstraintOp(c.op);
          job->constraints.push_back(c);
        }
      }
    }
    if (const auto* restart = Member(*run, "restart")) {
      std::string policy = "NEVER";
      ReadString(*restart, "policy", &policy, errors, "/run/restart");
      if (policy == "NEVER") {
        job->restart = RestartPolicy::kNever;
      } else if (policy == "ON_FAILURE") {
        job->restart = RestartPolicy::kOnFailure;
        job->max_retries = -1;  // Metronome: until activeDeadlineSeconds
      } else {
        errors->push_back({"/run/restart/policy", "'" + policy + "' is not NEVER or ON_FAILURE"});
      }
      ReadNumber(*restart, "activeDeadlineSeconds", &job->active_deadline_seconds, errors, "/run/restart");
      ReadInt(*restart, "maxRetries", &job->max_retries, errors, "/run/restart");  // batch's
    }
  }
  if (const auto* scheds = Member(json, "schedules")) {
    if (!scheds->IsArray()) {
      errors->push_back({"/schedules", "must be a list"});
    } else {
      for (rapidjson::SizeType i = 0; i < scheds->Size(); ++i) {
        Schedule s;
        ReadMetronomeSchedule((*scheds)[i], &s, errors, absl::StrCat("/schedules/", i), stored);
        job->schedules.push_back(std::move(s));
      }
    }
  }
  // batch's own, for what Chronos has and Metronome does not.
  ReadStringList(json, "parents", &job->parents, errors, "");
  ReadString(json, "owner", &job->owner, errors, "");
  ReadString(json, "ownerName", &job->owner_name, errors, "");
  ReadBool(json, "disabled", &job->disabled, errors, "");
  ReadInt(json, "historyLimit", &job->history_limit, errors, "");
  if (stored) ReadString(json, "createdAt", &job->created_at, errors, "");
}

void WriteMetronomeSchedule(JsonWriter& w, const Schedule& s, absl::Time now, bool stored) {
  w.StartObject();
  w.Key("id");
  Str(w, s.id);
  bool iso = s.parsed ? s.parsed->iso() : (!s.expression.empty() && s.expression[0] == 'R');
  w.Key(iso ? "iso8601" : "cron");
  Str(w, s.expression);
  w.Key("timezone");
  Str(w, s.time_zone);
  w.Key("startingDeadlineSeconds");
  w.Double(s.starting_deadline_seconds);
  w.Key("concurrencyPolicy");
  w.String(PolicyName(s.concurrency));
  w.Key("enabled");
  w.Bool(s.enabled);
  if (stored) {
    w.Key("cursor");
    w.Int64(s.cursor_ms);
  } else {
    w.Key("nextRunAt");
    std::optional<absl::Time> next;
    if (s.parsed && s.enabled) next = s.parsed->NextAfter(std::max(now, FromMs(s.cursor_ms)));
    if (next) {
      Str(w, Timestamp(*next));
    } else {
      w.Null();
    }
  }
  w.EndObject();
}

void WriteMetronomeJob(JsonWriter& w, const Job& job, bool extensions, bool schedules, bool stored) {
  w.StartObject();
  w.Key("id");
  Str(w, job.id);
  w.Key("description");
  Str(w, job.description);
  w.Key("labels");
  StrMap(w, job.labels);
  w.Key("run");
  w.StartObject();
  if (!job.cmd.empty()) {
    w.Key("cmd");
    Str(w, job.cmd);
  }
  if (!job.args.empty()) {
    w.Key("args");
    StrList(w, job.args);
  }
  w.Key("cpus");
  w.Double(job.cpus);
  w.Key("mem");
  w.Double(job.mem);
  w.Key("disk");
  w.Double(job.disk);
  w.Key("gpus");
  w.Double(job.gpus);
  if (!job.user.empty()) {
    w.Key("user");
    Str(w, job.user);
  }
  w.Key("env");
  StrMap(w, job.env);
  w.Key("artifacts");
  w.StartArray();
  for (const auto& u : job.uris) {
    w.StartObject();
    w.Key("uri");
    Str(w, u);
    w.Key("extract");
    w.Bool(true);
    w.Key("executable");
    w.Bool(false);
    w.Key("cache");
    w.Bool(false);
    w.EndObject();
  }
  w.EndArray();
  w.Key("placement");
  w.StartObject();
  w.Key("constraints");
  w.StartArray();
  for (const auto& c : job.constraints) {
    w.StartObject();
    w.Key("attribute");
    Str(w, c.attribute);
    w.Key("operator");
    Str(w, c.op == "EQ" ? "IS" : c.op);
    w.Key("value");
    Str(w, c.value);
    w.EndObject();
  }
  w.EndArray();
  w.EndObject();
  w.Key("maxLaunchDelay");
  w.Int(3600);
  w.Key("restart");
  w.StartObject();
  w.Key("policy");
  w.String(PolicyName(job.restart));
  if (job.active_deadline_seconds > 0) {
    w.Key("activeDeadlineSeconds");
    w.Double(job.active_deadline_seconds);
  }
  if (extensions && job.restart == RestartPolicy::kOnFailure) {
    w.Key("maxRetries");
    w.Int(job.max_retries);
  }
  w.EndObject();
  if (job.task_kill_grace_period_seconds > 0) {
    w.Key("taskKillGracePeriodSeconds");
    w.Double(job.task_kill_grace_period_seconds);
  }
  w.Key("volumes");
  w.StartArray();
  w.EndArray();
  w.EndObject();  // run
  if (extensions) {
    w.Key("parents");
    StrList(w, job.parents);
    w.Key("owner");
    Str(w, job.owner);
    w.Key("ownerName");
    Str(w, job.owner_name);
    w.Key("disabled");
    w.Bool(job.disabled);
    w.Key("historyLimit");
    w.Int(job.history_limit);
    w.Key("createdAt");
    Str(w, job.created_at);
  }
  if (schedules) {
    w.Key("schedules");
    w.StartArray();
    absl::Time now = absl::Now();
    for (const auto& s : job.schedules) WriteMetronomeSchedule(w, s, now, stored);
    w.EndArray();
  }
  w.EndObject();
}

// --- Chronos ---

void ReadChronosJob(const rapidjson::Value& json, Job* job, std::vector<FieldError>* errors, bool dependency) {
  if (!json.IsObject()) {
    errors->push_back({"/", "a job is a JSON object"});
    return;
  }
  // Chronos's defaults.
  job->cpus = 0.1;
  job->mem = 128;
  job->disk = 256;
  int retries = 2;
  ReadString(json, "name", &job->id, errors, "");
  std::string command;
  ReadString(json, "command", &command, errors, "");
  bool shell = true;
  ReadBool(json, "shell", &shell, errors, "");
  std::vector<std::string> arguments;
  ReadStringList(json, "arguments", &arguments, errors, "");
  if (shell) {
    job->cmd = arguments.empty() ? command : command + " " + absl::StrJoin(arguments, " ");
  } else if (!command.empty()) {
    job->args = {command};
    job->args.insert(job->args.end(), arguments.begin(), arguments.end());
  }
  ReadString(json, "description", &job->description, errors, "");
  ReadString(json, "owner", &job->owner, errors, "");
  ReadString(json, "ownerName", &job->owner_name, errors, "");
  ReadBool(json, "disabled", &job->disabled, errors, "");
  ReadNumber(json, "cpus", &job->cpus, errors, "");
  ReadNumber(json, "mem", &job->mem, errors, "");
  ReadNumber(json, "disk", &job->disk, errors, "");
  ReadString(json, "runAsUser", &job->user, errors, "");
  ReadInt(json, "retries", &retries, errors, "");
  if (retries < 0) errors->push_back({"/retries", "must be zero or more"});
  job->restart = retries > 0 ? RestartPolicy::kOnFailure : RestartPolicy::kNever;
  job->max_retries = std::max(0, retries);
  double max_completion = 0;
  ReadNumber(json, "maxCompletionTime", &max_completion, errors, "");
  job->active_deadline_seconds = max_completion;
  bool concurrent = false;
  ReadBool(json, "concurrent", &concurrent, errors, "");
  ReadStringList(json, "uris", &job->uris, errors, "");
  if (const auto* fetch = Member(json, "fetch"); fetch != nullptr && fetch->IsArray()) {
    for (const auto& f : fetch->GetArray()) {
      std::string uri;
      ReadString(f, "uri", &uri, errors, "/fetch");
      if (!uri.empty()) job->uris.push_back(uri);
    }
  }
  if (const auto* env = Member(json, "environmentVariables")) {
    if (!env->IsArray()) {
      errors->push_back({"/environmentVariables", "must be a list of {name, value}"});
    } else {
      for (rapidjson::SizeType i = 0; i < env->Size(); ++i) {
        std::string name, value;
        std::string path = absl::StrCat("/environmentVariables/", i);
        ReadString((*env)[i], "name", &name, errors, path);
        ReadString((*env)[i], "value", &value, errors, path);
        if (name.empty()) errors->push_back({path + "/name", "is required"});
        job->env[name] = value;
      }
    }
  }
  if (const auto* cs = Member(json, "constraints")) {
    if (!cs->IsArray()) {
      errors->push_back({"/constraints", "must be a list of [attribute, operator, value]"});
    } else {
      for (rapidjson::SizeType i = 0; i < cs->Size(); ++i) {
        const auto& c = (*cs)[i];
        if (!c.IsArray() || c.Size() < 2 || !c[0].IsString() || !c[1].IsString() ||
            (c.Size() > 2 && !c[2].IsString())) {
          errors->push_back({absl::StrCat("/constraints/", i), "must be [attribute, operator, value]"});
          continue;
        }
        job->constraints.push_back(
            {c[0].GetString(), ConstraintOp(c[1].GetString()), c.Size() > 2 ? c[2].GetString() : ""});
      }
    }
  }
  std::string schedule, zone;
  ReadString(json, "schedule", &schedule, errors, "");
  ReadString(json, "scheduleTimeZone", &zone, errors, "");
  ReadStringList(json, "parents", &job->parents, errors, "");
  std::string epsilon = "PT60S";
  ReadString(json, "epsilon", &epsilon, errors, "");
  auto eps = IsoDurationSeconds(epsilon);
  if (!eps.ok()) errors->push_back({"/epsilon", std::string(eps.status().message())});
  if (dependency) {
    if (job->parents.empty()) errors->push_back({"/parents", "a dependent job needs parents"});
    if (!schedule.empty()) errors->push_back({"/schedule", "a dependent job has parents, not a schedule"});
  } else {
    if (schedule.empty()) errors->push_back({"/schedule", "is required (R[n]/start/period)"});
    if (!job->parents.empty()) errors->push_back({"/parents", "a scheduled job has a schedule, not parents"});
  }
  if (!schedule.empty()) {
    Schedule s;
    s.expression = schedule;
    s.time_zone = zone.empty() ? "UTC" : zone;
    s.starting_deadline_seconds = eps.ok() ? std::max(1.0, *eps) : 60;
    s.concurrency = concurrent ? ConcurrencyPolicy::kAllow : ConcurrencyPolicy::kForbid;
    job->schedules.push_back(std::move(s));
  }
}

void WriteChronosJob(JsonWriter& w, const Job& job, const JobStats& st) {
  w.StartObject();
  w.Key("name");
  Str(w, job.id);
  w.Key("command");
  Str(w, !job.cmd.empty() ? job.cmd : (job.args.empty() ? "" : job.args.front()));
  w.Key("shell");
  w.Bool(!job.cmd.empty());
  w.Key("arguments");
  StrList(w, job.cmd.empty() && job.args.size() > 1 ? std::vector<std::string>(job.args.begin() + 1, job.args.end())
                                                    : std::vector<std::string>{});
  const Schedule* s = job.schedules.empty() ? nullptr : &job.schedules.front();
  w.Key("epsilon");
  Str(w, IsoDuration(s ? s->starting_deadline_seconds : 60));
  w.Key("executor");
  Str(w, "");
  w.Key("executorFlags");
  Str(w, "");
  w.Key("retries");
  w.Int(job.restart == RestartPolicy::kOnFailure ? std::max(0, job.max_retries) : 0);
  w.Key("owner");
  Str(w, job.owner);
  w.Key("ownerName");
  Str(w, job.owner_name);
  w.Key("description");
  Str(w, job.description);
  w.Key("async");
  w.Bool(false);
  w.Key("successCount");
  w.Int64(st.success_count);
  w.Key("errorCount");
  w.Int64(st.failure_count);
  w.Key("lastSuccess");
  Str(w, st.last_success_at);
  w.Key("lastError");
  Str(w, st.last_failure_at);
  w.Key("cpus");
  w.Double(job.cpus);
  w.Key("disk");
  w.Double(job.disk);
  w.Key("mem");
  w.Double(job.mem);
  w.Key("disabled");
  w.Bool(job.disabled);
  w.Key("softError");
  w.Bool(false);
  w.Key("dataProcessingJobType");
  w.Bool(false);
  w.Key("errorsSinceLastSuccess");
  w.Int64(st.errors_since_last_success);
  w.Key("uris");
  StrList(w, job.uris);
  w.Key("environmentVariables");
  w.StartArray();
  for (const auto& [k, v] : job.env) {
    w.StartObject();
    w.Key("name");
    Str(w, k);
    w.Key("value");
    Str(w, v);
    w.EndObject();
  }
  w.EndArray();
  w.Key("highPriority");
  w.Bool(false);
  w.Key("runAsUser");
  Str(w, job.user);
  w.Key("concurrent");
  w.Bool(s == nullptr || s->concurrency != ConcurrencyPolicy::kForbid);
  w.Key("constraints");
  w.StartArray();
  for (const auto& c : job.constraints) {
    w.StartArray();
    Str(w, c.attribute);
    Str(w, c.op == "EQ" ? "EQUALS" : c.op);
    Str(w, c.value);
    w.EndArray();
  }
  w.EndArray();
  w.Key("maxCompletionTime");
  w.Double(job.active_deadline_seconds);
  if (!job.parents.empty()) {
    w.Key("parents");
    StrList(w, job.parents);
  } else {
    w.Key("schedule");
    Str(w, s ? s->expression : "");
    w.Key("scheduleTimeZone");
    Str(w, s && s->time_zone != "UTC" ? s->time_zone : "");
  }
  w.EndObject();
}

// --- runs ---

void WriteRunTask(JsonWriter& w, const RunTask& t) {
  w.StartObject();
  w.Key("id");
  Str(w, t.id);
  w.Key("status");
  Str(w, t.state);
  w.Key("startedAt");
  OptStr(w, t.started_at);
  w.Key("completedAt");
  OptStr(w, t.completed_at);
  w.Key("agentId");
  Str(w, t.agent_id);
  if (t.exit_code) {
    w.Key("exitCode");
    w.Int(*t.exit_code);
  }
  if (!t.message.empty()) {
    w.Key("message");
    Str(w, t.message);
  }
  w.EndObject();
}

bool ReadRunTask(const rapidjson::Value& json, RunTask* t) {
  std::vector<FieldError> errors;
  ReadString(json, "id", &t->id, &errors, "");
  ReadString(json, "status", &t->state, &errors, "");
  ReadString(json, "startedAt", &t->started_at, &errors, "");
  ReadString(json, "completedAt", &t->completed_at, &errors, "");
  ReadString(json, "agentId", &t->agent_id, &errors, "");
  ReadString(json, "message", &t->message, &errors, "");
  int code = 0;
  if (Member(json, "exitCode") != nullptr && ReadInt(json, "exitCode", &code, &errors, "")) t->exit_code = code;
  return errors.empty() && !t->id.empty();
}

void WriteRun(JsonWriter& w, const Run& r, bool stored) {
  w.StartObject();
  w.Key("id");
  Str(w, r.id);
  w.Key("jobId");
  Str(w, r.job_id);
  w.Key("status");
  w.String(StatusName(r.status));
  w.Key("createdAt");
  Str(w, r.created_at);
  w.Key("completedAt");
  OptStr(w, r.completed_at);
  w.Key("scheduledAt");
  Str(w, Timestamp(FromMs(r.instant_ms)));
  w.Key("trigger");
  Str(w, r.trigger);
  if (!r.reason.empty()) {
    w.Key("reason");
    Str(w, r.reason);
  }
  if (r.first_running_ms > 0) {
    w.Key("latenessSeconds");
    w.Double(static_cast<double>(r.first_running_ms - r.instant_ms) / 1000.0);
    absl::Time done;
    std::string err;
    if (!stored && !r.completed_at.empty() && absl::ParseTime("%Y-%m-%dT%H:%M:%E*S%z", r.completed_at, &done, &err)) {
      w.Key("durationSeconds");  // from the first TASK_RUNNING to the end
      w.Double(static_cast<double>(ToMs(done) - r.first_running_ms) / 1000.0);
    }
  }
  if (!r.env.empty()) {
    w.Key("env");
    StrMap(w, r.env);
  }
  if (r.args) {
    w.Key("args");
    StrList(w, *r.args);
  }
  if (stored) {
    w.Key("instant");
    w.Int64(r.instant_ms);
    w.Key("attempts");
    w.Int(r.attempts);
    w.Key("nextAttempt");
    w.Int64(r.next_attempt_ms);
    w.Key("firstLaunch");
    w.Int64(r.first_launch_ms);
    w.Key("firstRunning");
    w.Int64(r.first_running_ms);
    w.Key("stopping");
    w.Bool(r.stopping);
    w.Key("started");
    w.Bool(r.started);
  } else {
    w.Key("tasks");
    w.StartArray();
    for (const auto& t : r.tasks) WriteRunTask(w, t);
    w.EndArray();
  }
  w.EndObject();
}

bool ReadStoredRun(const rapidjson::Value& json, Run* r) {
  std::vector<FieldError> errors;
  std::string status;
  ReadString(json, "id", &r->id, &errors, "");
  ReadString(json, "jobId", &r->job_id, &errors, "");
  ReadString(json, "status", &status, &errors, "");
  for (RunStatus s :
       {RunStatus::kInitial, RunStatus::kStarting, RunStatus::kActive, RunStatus::kSuccess, RunStatus::kFailed}) {
    if (status == StatusName(s)) r->status = s;
  }
  ReadString(json, "createdAt", &r->created_at, &errors, "");
  ReadString(json, "completedAt", &r->completed_at, &errors, "");
  ReadString(json, "trigger", &r->trigger, &errors, "");
  ReadString(json, "reason", &r->reason, &errors, "");
  ReadStringMap(json, "env", &r->env, &errors, "");
  if (Member(json, "args") != nullptr) {
    std::vector<std::string> args;
    ReadStringList(json, "args", &args, &errors, "");
    r->args = std::move(args);
  }
  auto i64 = [&](const char* key, int64_t* out) {
    if (const auto* v = Member(json, key); v != nullptr && v->IsInt64()) *out = v->GetInt64();
  };
  i64("instant", &r->instant_ms);
  i64("nextAttempt", &r->next_attempt_ms);
  i64("firstLaunch", &r->first_launch_ms);
  i64("firstRunning", &r->first_running_ms);
  ReadInt(json, "attempts", &r->attempts, &errors, "");
  ReadBool(json, "stopping", &r->stopping, &errors, "");
  ReadBool(json, "started", &r->started, &errors, "");
  return errors.empty() && !r->id.empty() && !r->job_id.empty();
}

void WriteStats(JsonWriter& w, const JobStats& s) {
  w.StartObject();
  w.Key("successCount");
  w.Int64(s.success_count);
  w.Key("failureCount");
  w.Int64(s.failure_count);
  w.Key("missedCount");
  w.Int64(s.missed_count);
  w.Key("errorsSinceLastSuccess");
  w.Int64(s.errors_since_last_success);
  w.Key("lastSuccessAt");
  OptStr(w, s.last_success_at);
  w.Key("lastFailureAt");
  OptStr(w, s.last_failure_at);
  w.EndObject();
}

bool ReadStats(const rapidjson::Value& json, JobStats* s) {
  std::vector<FieldError> errors;
  auto i64 = [&](const char* key, int64_t* out) {
    if (const auto* v = Member(json, key); v != nullptr && v->IsInt64()) *out = v->GetInt64();
  };
  i64("successCount", &s->success_count);
  i64("failureCount", &s->failure_count);
  i64("missedCount", &s->missed_count);
  i64("errorsSinceLastSuccess", &s->errors_since_last_success);
  ReadString(json, "lastSuccessAt", &s->last_success_at, &errors, "");
  ReadString(json, "lastFailureAt", &s->last_failure_at, &errors, "");
  return errors.empty();
}

std::string StoredJobJson(const Job& job) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  WriteMetronomeJob(w, job, /*extensions=*/true, /*schedules=*/true, /*stored=*/true);
  return Text(b);
}

std::string StoredRunJson(const Run& run) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  WriteRun(w, run, /*stored=*/true);
  return Text(b);
}

std::string RunTaskJson(const RunTask& t) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  WriteRunTask(w, t);
  return Text(b);
}

std::string StatsJson(const JobStats& s) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  WriteStats(w, s);
  return Text(b);
}

std::optional<Job> ParseStoredJob(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str(), json.size());
  if (doc.HasParseError()) return std::nullopt;
  Job job;
  std::vector<FieldError> errors;
  ReadMetronomeJob(doc, &job, &errors, /*stored=*/true);
  if (!errors.empty()) return std::nullopt;
  std::vector<FieldError> ignored;  // a zone that went away leaves its schedule unparsed, not the job lost
  for (size_t i = 0; i < job.schedules.size(); ++i) {
    ValidateSchedule(&job.schedules[i], &ignored, "", FromMs(job.schedules[i].cursor_ms));
  }
  return job;
}

std::string JobRowJson(const Job& job) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  WriteMetronomeJob(w, job, /*extensions=*/true, /*schedules=*/false, /*stored=*/true);
  return framework::Text(b);
}

std::string ScheduleRowJson(const Schedule& s) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  WriteMetronomeSchedule(w, s, absl::Now(), /*stored=*/true);
  return framework::Text(b);
}

std::optional<Schedule> ParseScheduleRow(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError()) return std::nullopt;
  Schedule sched;
  std::vector<FieldError> errors;
  ReadMetronomeSchedule(doc, &sched, &errors, "", /*stored=*/true);
  if (!errors.empty()) return std::nullopt;
  std::vector<FieldError> ignored;  // a zone that went away: the schedule stays, unparsed
  ValidateSchedule(&sched, &ignored, "", FromMs(sched.cursor_ms));
  return sched;
}

}  // namespace corral::batch
