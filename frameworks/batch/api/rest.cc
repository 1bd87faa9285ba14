#include "api/rest.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "corral/common/version.h"
#include "model/job_json.h"

namespace corral::batch {
namespace {

using framework::ErrorsJson;
using framework::MessageJson;
using framework::Str;
using framework::StrList;
using framework::Text;
using http::Response;

constexpr const char* kMetronomeVersion = "0.6.66";  // the Metronome API this serves

Response Message(int status, const std::string& message) { return Response::Json(MessageJson(message), status); }

Response FromStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return Message(404, std::string(s.message()));
    case absl::StatusCode::kAlreadyExists: return Message(409, std::string(s.message()));
    case absl::StatusCode::kFailedPrecondition: return Message(409, std::string(s.message()));
    case absl::StatusCode::kInvalidArgument:
      return Response::Json(ErrorsJson("Object is not valid", {{"/parents", std::string(s.message())}}), 422);
    default: return Message(503, std::string(s.message()));
  }
}

// Chronos answers a bad request with 400 and a message (chronos-python
// shows its first 120 characters).
Response ChronosError(const absl::Status& s) {
  int code = s.code() == absl::StatusCode::kNotFound ? 404 : s.code() == absl::StatusCode::kUnavailable ? 503 : 400;
  return Message(code, std::string(s.message()));
}

Response NoContent() {
  Response r;
  r.status = 204;
  return r;
}

bool Flag(const http::Request& req, const char* name) {
  auto it = req.query.find(name);
  return it != req.query.end() &&
         (absl::EqualsIgnoreCase(it->second, "true") || it->second == "1" || it->second.empty());
}

std::set<std::string> Embeds(const http::Request& req) {
  std::set<std::string> out;
  for (const auto& [k, v] : req.query_list) {
    if (k != "embed") continue;
    for (absl::string_view e : absl::StrSplit(v, ',', absl::SkipEmpty())) out.emplace(e);
  }
  return out;
}

bool ParseBody(const http::Request& req, rapidjson::Document* doc, Response* error) {
  doc->Parse(req.body.c_str(), req.body.size());
  if (doc->HasParseError()) {
    *error = Response::Json(
        ErrorsJson("Invalid JSON", {{"/", absl::StrCat("not JSON at offset ", doc->GetErrorOffset())}}), 400);
    return false;
  }
  return true;
}

Response Invalid(const std::vector<FieldError>& errors) {
  return Response::Json(ErrorsJson("Object is not valid", errors), 422);
}

std::string ChronosErrors(const std::vector<FieldError>& errors) {
  std::vector<std::string> parts;
  for (const auto& e : errors) parts.push_back(e.path + ": " + e.error);
  return "Invalid job: " + absl::StrJoin(parts, "; ");
}

int64_t ParseMs(const std::string& ts) {
  absl::Time t;
  std::string err;
  if (ts.empty() || !absl::ParseTime("%Y-%m-%dT%H:%M:%E*S%z", ts, &t, &err)) return 0;
  return ToMs(t);
}

// Seconds a finished run took (from its first TASK_RUNNING, or creation).
std::optional<double> DurationSeconds(const Run& r) {
  int64_t end = ParseMs(r.completed_at);
  int64_t start = r.first_running_ms > 0 ? r.first_running_ms : ParseMs(r.created_at);
  if (end == 0 || start == 0 || end < start) return std::nullopt;
  return static_cast<double>(end - start) / 1000.0;
}

double SortedPercentile(const std::vector<double>& v, double q) {
  if (v.empty()) return 0;
  size_t i = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::min(i == 0 ? 0 : i - 1, v.size() - 1)];
}

double Percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return SortedPercentile(v, q);
}

double Mean(const std::vector<double>& v) {
  double s = 0;
  for (double x : v) s += x;
  return v.empty() ? 0 : s / static_cast<double>(v.size());
}

// --- Metronome's view ---

void WriteHistoryItem(JsonWriter& w, const Run& r) {
  w.StartObject();
  w.Key("id");
  Str(w, r.id);
  w.Key("createdAt");
  Str(w, r.created_at);
  w.Key("finishedAt");
  Str(w, r.completed_at);
  w.Key("tasks");
  w.StartArray();
  for (const auto& t : r.tasks) Str(w, t.id);
  w.EndArray();
  w.EndObject();
}

void WriteHistory(JsonWriter& w, const JobState& js, bool lists) {
  w.StartObject();
  w.Key("successCount");
  w.Int64(js.stats.success_count);
  w.Key("failureCount");
  w.Int64(js.stats.failure_count);
  w.Key("missedCount");
  w.Int64(js.stats.missed_count);
  w.Key("lastSuccessAt");
  framework::OptStr(w, js.stats.last_success_at);
  w.Key("lastFailureAt");
  framework::OptStr(w, js.stats.last_failure_at);
  if (lists) {
    for (bool success : {true, false}) {
      w.Key(success ? "successfulFinishedRuns" : "failedFinishedRuns");
      w.StartArray();
      for (auto it = js.history.rbegin(); it != js.history.rend(); ++it) {
        if ((it->status == RunStatus::kSuccess) == success) WriteHistoryItem(w, *it);
      }
      w.EndArray();
    }
    w.Key("runs");  // batch's: every finished run, newest first, whole
    w.StartArray();
    for (auto it = js.history.rbegin(); it != js.history.rend(); ++it) WriteRun(w, *it);
    w.EndArray();
  }
  w.EndObject();
}

void WriteJobWithEmbeds(JsonWriter& w, const JobState& js, const std::set<std::string>& embeds, absl::Time now) {
  // Metronome's job plus the embedded parts; parents and the rest of what
  // Chronos has come along (clients ignore keys they do not know).
  rapidjson::StringBuffer b;
  JsonWriter inner(b);
  WriteMetronomeJob(inner, js.job, /*extensions=*/true, /*schedules=*/false);
  rapidjson::Document doc;
  doc.Parse(b.GetString(), b.GetSize());
  w.StartObject();
  for (auto& m : doc.GetObject()) {
    w.Key(m.name.GetString());
    m.value.Accept(w);
  }
  if (embeds.count("schedules")) {
    w.Key("schedules");
    w.StartArray();
    for (const auto& s : js.job.schedules) WriteMetronomeSchedule(w, s, now);
    w.EndArray();
  }
  if (embeds.count("activeRuns")) {
    w.Key("activeRuns");
    w.StartArray();
    for (const auto& [id, r] : js.active) WriteRun(w, r);
    w.EndArray();
  }
  if (embeds.count("history")) {
    w.Key("history");
    WriteHistory(w, js, true);
  }
  if (embeds.count("historySummary")) {
    w.Key("historySummary");
    WriteHistory(w, js, false);
  }
  w.EndObject();
}

std::optional<Run> FindRun(const JobState& js, const std::string& id) {
  if (auto it = js.active.find(id); it != js.active.end()) return it->second;
  for (const auto& r : js.history) {
    if (r.id == id) return r;
  }
  return std::nullopt;
}

// A Metronome job body: read, validated (schedules too).
bool ReadJobBody(const http::Request& req, Service* svc, Job* job, Response* error) {
  rapidjson::Document doc;
  if (!ParseBody(req, &doc, error)) return false;
  std::vector<FieldError> errors;
  ReadMetronomeJob(doc, job, &errors);
  if (!ValidMetronomeId(job->id)) {
    errors.push_back({"/id", "must be lowercase letters, digits and '-', in segments joined by '.'"});
  }
  ValidateJob(job, &errors, svc->Now());
  if (!errors.empty()) {
    *error = Invalid(errors);
    return false;
  }
  return true;
}

bool ReadScheduleBody(const http::Request& req, Service* svc, Schedule* s, Response* error) {
  rapidjson::Document doc;
  if (!ParseBody(req, &doc, error)) return false;
  std::vector<FieldError> errors;
  ReadMetronomeSchedule(doc, s, &errors, "");
  if (errors.empty()) ValidateSchedule(s, &errors, "", svc->Now());
  if (!errors.empty()) {
    *error = Invalid(errors);
    return false;
  }
  return true;
}

Response JobResponse(Service* svc, const std::string& id, const std::set<std::string>& embeds, int status) {
  absl::Time now = svc->Now();
  std::optional<std::string> body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
    auto it = st.jobs.find(id);
    if (it == st.jobs.end()) return std::nullopt;
    rapidjson::StringBuffer b;
    JsonWriter w(b);
    WriteJobWithEmbeds(w, it->second, embeds, now);
    return Text(b);
  });
  if (!body) return Message(404, "Job not found");
  return Response::Json(*body, status);
}

Response Metronome(Service* svc, const http::Request& req, const std::vector<std::string>& seg) {
  // seg: "v1", "jobs", ...
  const std::string& m = req.method;
  absl::Time now = svc->Now();
  if (seg.size() == 2) {
    if (m == "GET") {
      auto embeds = Embeds(req);
      return Response::Json(svc->Read([&](const ServiceState& st) {
        rapidjson::StringBuffer b;
        JsonWriter w(b);
        w.StartArray();
        for (const auto& [id, js] : st.jobs) WriteJobWithEmbeds(w, js, embeds, now);
        w.EndArray();
        return Text(b);
      }));
    }
    if (m == "POST") {
      Job job;
      Response err;
      if (!ReadJobBody(req, svc, &job, &err)) return err;
      std::string id = job.id;
      bool with_schedules = !job.schedules.empty();
      if (auto s = svc->CreateJob(std::move(job)); !s.ok()) return FromStatus(s);
      std::set<std::string> embeds;
      if (with_schedules) embeds.insert("schedules");
      return JobResponse(svc, id, embeds, 201);
    }
    return Message(405, "GET or POST");
  }
  const std::string& id = seg[2];
  if (seg.size() == 3) {
    if (m == "GET") return JobResponse(svc, id, Embeds(req), 200);
    if (m == "PUT") {
      Job job;
      Response err;
      if (!ReadJobBody(req, svc, &job, &err)) return err;
      if (job.id != id) return Invalid({{"/id", "the id in the body is not the id in the path"}});
      if (auto s = svc->UpdateJob(std::move(job), /*keep_schedules=*/true, /*create=*/false); !s.ok()) {
        return FromStatus(s);
      }
      return JobResponse(svc, id, {}, 200);
    }
    if (m == "DELETE") {
      Response before = JobResponse(svc, id, {}, 200);
      if (auto s = svc->DeleteJob(id, Flag(req, "stopCurrentJobRuns")); !s.ok()) return FromStatus(s);
      return before;
    }
    return Message(405, "GET, PUT or DELETE");
  }
  const std::string& what = seg[3];
  if (what == "schedules") {
    if (seg.size() == 4) {
      if (m == "GET") {
        auto body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
          auto it = st.jobs.find(id);
          if (it == st.jobs.end()) return std::nullopt;
          rapidjson::StringBuffer b;
          JsonWriter w(b);
          w.StartArray();
          for (const auto& s : it->second.job.schedules) WriteMetronomeSchedule(w, s, now);
          w.EndArray();
          return Text(b);
        });
        return body ? Response::Json(*body) : Message(404, "Job not found");
      }
      if (m == "POST") {
        Schedule s;
        Response err;
        if (!ReadScheduleBody(req, svc, &s, &err)) return err;
        Schedule copy = s;
        if (auto st = svc->PutSchedule(id, std::move(s), /*create=*/true); !st.ok()) return FromStatus(st);
        rapidjson::StringBuffer b;
        JsonWriter w(b);
        WriteMetronomeSchedule(w, copy, now);
        return Response::Json(Text(b), 201);
      }
      return Message(405, "GET or POST");
    }
    const std::string& sid = seg[4];
    if (m == "GET") {
      auto body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
        auto it = st.jobs.find(id);
        if (it == st.jobs.end()) return std::nullopt;
        for (const auto& s : it->second.job.schedules) {
          if (s.id != sid) continue;
          rapidjson::StringBuffer b;
          JsonWriter w(b);
          WriteMetronomeSchedule(w, s, now);
          return Text(b);
        }
        return std::nullopt;
      });
      return body ? Response::Json(*body) : Message(404, "Schedule not found");
    }
    if (m == "PUT") {
      Schedule s;
      Response err;
      if (!ReadScheduleBody(req, svc, &s, &err)) return err;
      if (s.id != sid) return Invalid({{"/id", "the id in the body is not the id in the path"}});
      Schedule copy = s;
      if (auto st = svc->PutSchedule(id, std::move(s), /*create=*/false); !st.ok()) return FromStatus(st);
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      WriteMetronomeSchedule(w, copy, now);
      return Response::Json(Text(b));
    }
    if (m == "DELETE") {
      if (auto st = svc->DeleteSchedule(id, sid); !st.ok()) return FromStatus(st);
      return Response::Json("{}");
    }
    return Message(405, "GET, PUT or DELETE");
  }
  if (what == "runs") {
    if (seg.size() == 4) {
      if (m == "GET") {
        auto body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
          auto it = st.jobs.find(id);
          if (it == st.jobs.end()) return std::nullopt;
          rapidjson::StringBuffer b;
          JsonWriter w(b);
          w.StartArray();
          for (const auto& [rid, r] : it->second.active) WriteRun(w, r);
          w.EndArray();
          return Text(b);
        });
        return body ? Response::Json(*body) : Message(404, "Job not found");
      }
      if (m == "POST") {
        // batch's parameterized runs: {"env": {...}, "args": [...]}, both optional.
        std::map<std::string, std::string> env;
        std::optional<std::vector<std::string>> args;
        if (!absl::StripAsciiWhitespace(req.body).empty()) {
          rapidjson::Document doc;
          Response err;
          if (!ParseBody(req, &doc, &err)) return err;
          std::vector<FieldError> errors;
          framework::ReadStringMap(doc, "env", &env, &errors, "");
          if (doc.IsObject() && doc.HasMember("args")) {
            std::vector<std::string> a;
            framework::ReadStringList(doc, "args", &a, &errors, "");
            args = std::move(a);
          }
          if (!errors.empty()) return Invalid(errors);
        }
        auto run = svc->StartRun(id, std::move(env), std::move(args));
        if (!run.ok()) return FromStatus(run.status());
        rapidjson::StringBuffer b;
        JsonWriter w(b);
        WriteRun(w, *run);
        return Response::Json(Text(b), 201);
      }
      return Message(405, "GET or POST");
    }
    const std::string& rid = seg[4];
    if (seg.size() == 5 && m == "GET") {
      auto body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
        auto it = st.jobs.find(id);
        if (it == st.jobs.end()) return std::nullopt;
        auto r = FindRun(it->second, rid);
        if (!r) return std::nullopt;
        rapidjson::StringBuffer b;
        JsonWriter w(b);
        WriteRun(w, *r);
        return Text(b);
      });
      return body ? Response::Json(*body) : Message(404, "Run not found");
    }
    if (seg.size() == 7 && seg[5] == "actions" && seg[6] == "stop" && m == "POST") {
      auto run = svc->StopRun(id, rid);
      if (!run.ok()) return FromStatus(run.status());
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      WriteRun(w, *run);
      return Response::Json(Text(b));
    }
  }
  return Message(404, "no such resource: " + req.path);
}

// --- Chronos's view ---

const char* LastStatus(const JobState& js) {
  if (js.history.empty() && js.stats.success_count == 0 && js.stats.failure_count == 0) return "fresh";
  if (!js.history.empty()) return js.history.back().status == RunStatus::kSuccess ? "success" : "failure";
  return js.stats.errors_since_last_success > 0 ? "failure" : "success";
}

const char* RunState(const JobState& js) {
  for (const auto& [id, r] : js.active) {
    if (r.live() != nullptr) return "running";
  }
  return js.active.empty() ? "idle" : "queued";
}

std::string ChronosJobsJson(const ServiceState& st, const std::function<bool(const JobState&)>& keep, size_t offset,
                            size_t limit) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartArray();
  size_t seen = 0, written = 0;
  for (const auto& [id, js] : st.jobs) {
    if (!keep(js)) continue;
    if (seen++ < offset) continue;
    if (written++ >= limit) break;
    WriteChronosJob(w, js.job, js.stats);
  }
  w.EndArray();
  return Text(b);
}

Response ChronosAdd(Service* svc, const http::Request& req, bool dependency) {
  rapidjson::Document doc;
  Response err;
  if (!ParseBody(req, &doc, &err)) return Message(400, "the body is not JSON");
  Job job;
  std::vector<FieldError> errors;
  ReadChronosJob(doc, &job, &errors, dependency);
  if (errors.empty()) ValidateJob(&job, &errors, svc->Now());
  if (!errors.empty()) return Message(400, ChronosErrors(errors));
  // Chronos's add is create-or-update; the schedule given replaces the one there.
  if (auto s = svc->UpdateJob(std::move(job), /*keep_schedules=*/false, /*create=*/true); !s.ok()) {
    return ChronosError(s);
  }
  return NoContent();
}

std::vector<double> Durations(const JobState& js) {
  std::vector<double> out;
  for (const auto& r : js.history) {
    if (auto d = DurationSeconds(r)) out.push_back(*d * 1000.0);
  }
  return out;
}

Response Chronos(Service* svc, const http::Request& req, const std::vector<std::string>& seg) {
  // seg: "scheduler", ...
  const std::string& m = req.method;
  if (seg.size() < 2) return Message(404, "no such resource: " + req.path);
  const std::string& what = seg[1];
  if ((what == "iso8601" || what == "dependency") && seg.size() == 2 && (m == "POST" || m == "PUT")) {
    return ChronosAdd(svc, req, what == "dependency");
  }
  if (what == "jobs" && m == "GET") {
    if (seg.size() == 2) {
      return Response::Json(svc->Read([](const ServiceState& st) {
        return ChronosJobsJson(
            st, [](const JobState&) { return true; }, 0, SIZE_MAX);
      }));
    }
    if (seg.size() == 3 && seg[2] == "search") {
      auto q = [&](const char* k) {
        auto it = req.query.find(k);
        return it == req.query.end() ? std::string() : absl::AsciiStrToLower(it->second);
      };
      std::string name = q("name"), command = q("command"), any = q("any");
      size_t limit = SIZE_MAX, offset = 0;
      if (auto l = q("limit"); !l.empty() && !absl::SimpleAtoi(l, &limit)) return Message(400, "limit: not a number");
      if (auto o = q("offset"); !o.empty() && !absl::SimpleAtoi(o, &offset)) {
        return Message(400, "offset: not a number");
      }
      auto keep = [&](const JobState& js) {
        std::string n = absl::AsciiStrToLower(js.job.id);
        std::string c = absl::AsciiStrToLower(!js.job.cmd.empty() ? js.job.cmd : absl::StrJoin(js.job.args, " "));
        std::string d = absl::AsciiStrToLower(js.job.description);
        if (!name.empty() && !absl::StrContains(n, name)) return false;
        if (!command.empty() && !absl::StrContains(c, command)) return false;
        if (!any.empty() && !absl::StrContains(n, any) && !absl::StrContains(c, any) && !absl::StrContains(d, any)) {
          return false;
        }
        return true;
      };
      return Response::Json(
          svc->Read([&](const ServiceState& st) { return ChronosJobsJson(st, keep, offset, limit); }));
    }
    if (seg.size() == 3 && seg[2] == "summary") {
      return Response::Json(svc->Read([](const ServiceState& st) {
        rapidjson::StringBuffer b;
        JsonWriter w(b);
        w.StartObject();
        w.Key("jobs");
        w.StartArray();
        for (const auto& [id, js] : st.jobs) {
          w.StartObject();
          w.Key("name");
          Str(w, id);
          w.Key("status");
          w.String(LastStatus(js));
          w.Key("state");
          w.String(RunState(js));
          w.Key("schedule");
          Str(w, js.job.schedules.empty() ? "" : js.job.schedules.front().expression);
          w.Key("parents");
          StrList(w, js.job.parents);
          w.Key("disabled");
          w.Bool(js.job.disabled);
          w.EndObject();
        }
        w.EndArray();
        w.EndObject();
        return Text(b);
      }));
    }
  }
  if (what == "job" && seg.size() == 3) {
    const std::string& name = seg[2];
    if (m == "GET") {
      auto body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
        auto it = st.jobs.find(name);
        if (it == st.jobs.end()) return std::nullopt;
        rapidjson::StringBuffer b;
        JsonWriter w(b);
        WriteChronosJob(w, it->second.job, it->second.stats);
        return Text(b);
      });
      return body ? Response::Json(*body) : Message(404, "Job '" + name + "' not found");
    }
    if (m == "PUT" || m == "POST") {
      std::optional<std::vector<std::string>> args;
      if (auto it = req.query.find("arguments"); it != req.query.end()) {
        args = std::vector<std::string>(absl::StrSplit(it->second, ',', absl::SkipEmpty()));
      }
      auto run = svc->StartRun(name, {}, std::move(args));
      if (!run.ok()) return ChronosError(run.status());
      return NoContent();
    }
    if (m == "DELETE") {
      if (auto s = svc->DeleteJob(name, /*stop_runs=*/true); !s.ok()) return ChronosError(s);
      return NoContent();
    }
  }
  if (what == "job" && seg.size() == 4 && seg[2] == "success" && (m == "PUT" || m == "POST")) {
    if (auto s = svc->MarkSuccess(seg[3]); !s.ok()) return ChronosError(s);
    return NoContent();
  }
  if (what == "task" && seg.size() == 4 && seg[2] == "kill" && m == "DELETE") {
    if (auto s = svc->StopAllRuns(seg[3]); !s.ok()) return ChronosError(s);
    return NoContent();
  }
  if (what == "job" && seg.size() == 4 && seg[2] == "stat" && m == "GET") {
    const std::string& name = seg[3];
    auto body = svc->Read([&](const ServiceState& st) -> std::optional<std::string> {
      auto it = st.jobs.find(name);
      if (it == st.jobs.end()) return std::nullopt;
      std::vector<double> d = Durations(it->second);
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      w.StartObject();
      w.Key("histogram");
      w.StartObject();
      for (auto [key, q] : std::vector<std::pair<const char*, double>>{{"75thPercentile", 0.75},
                                                                       {"95thPercentile", 0.95},
                                                                       {"98thPercentile", 0.98},
                                                                       {"99thPercentile", 0.99},
                                                                       {"median", 0.5}}) {
        w.Key(key);
        w.Double(Percentile(d, q));
      }
      w.Key("mean");
      w.Double(Mean(d));
      w.Key("count");
      w.Uint64(d.size());
      w.EndObject();
      w.Key("taskStatHistory");
      w.StartArray();
      for (auto r = it->second.history.rbegin(); r != it->second.history.rend(); ++r) {
        for (const auto& t : r->tasks) {
          w.StartObject();
          w.Key("taskId");
          Str(w, t.id);
          w.Key("jobName");
          Str(w, name);
          w.Key("slaveId");
          Str(w, t.agent_id);
          w.Key("taskState");
          Str(w, t.state);
          w.Key("startTime");
          Str(w, t.started_at);
          w.Key("endTime");
          Str(w, t.completed_at);
          w.EndObject();
        }
      }
      w.EndArray();
      w.EndObject();
      return Text(b);
    });
    return body ? Response::Json(*body) : Message(404, "Job '" + name + "' not found");
  }
  if (what == "stats" && seg.size() == 3 && m == "GET") {
    static const std::map<std::string, double> kQ = {{"99thPercentile", 0.99}, {"98thPercentile", 0.98},
                                                     {"95thPercentile", 0.95}, {"75thPercentile", 0.75},
                                                     {"median", 0.5},          {"mean", -1}};
    auto q = kQ.find(seg[2]);
    if (q == kQ.end()) {
      return Message(400, "'" + seg[2] +
                              "' is not one of 99thPercentile, 98thPercentile, 95thPercentile, "
                              "75thPercentile, median, mean");
    }
    return Response::Json(svc->Read([&](const ServiceState& st) {
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      w.StartArray();
      for (const auto& [id, js] : st.jobs) {
        std::vector<double> d = Durations(js);
        if (d.empty()) continue;
        w.StartObject();
        w.Key("jobNameLabel");
        Str(w, id);
        w.Key("time");
        w.Double(q->second < 0 ? Mean(d) : Percentile(d, q->second));
        w.EndObject();
      }
      w.EndArray();
      return Text(b);
    }));
  }
  if (what == "graph" && seg.size() == 3 && seg[2] == "csv" && m == "GET") {
    return Response::Text(200, svc->Read([](const ServiceState& st) {
      std::string out;
      for (const auto& [id, js] : st.jobs)
        absl::StrAppend(&out, "node,", id, ",", LastStatus(js), ",", RunState(js), "\n");
      for (const auto& [id, js] : st.jobs) {
        for (const auto& p : js.job.parents) absl::StrAppend(&out, "link,", p, ",", id, "\n");
      }
      return out;
    }));
  }
  return Message(404, "no such resource: " + req.path);
}

// --- metrics ---

struct Snapshot {
  size_t jobs = 0, active_runs = 0, schedules = 0;
  Metrics m;
};

Snapshot Take(Service* svc) {
  Snapshot snap = svc->Read([](const ServiceState& st) {
    Snapshot s;
    s.jobs = st.jobs.size();
    for (const auto& [id, js] : st.jobs) {
      s.active_runs += js.active.size();
      s.schedules += js.job.schedules.size();
    }
    s.m = st.metrics;
    return s;
  });
  // Sorted here, on the HTTP thread, once for every quantile.
  std::sort(snap.m.lateness.begin(), snap.m.lateness.end());
  return snap;
}

std::string Prometheus(const Snapshot& s) {
  std::string o;
  auto metric = [&](const char* name, const char* type, const char* help, const std::string& lines) {
    absl::StrAppend(&o, "# HELP ", name, " ", help, "\n# TYPE ", name, " ", type, "\n", lines);
  };
  metric("batch_jobs", "gauge", "Jobs defined.", absl::StrCat("batch_jobs ", s.jobs, "\n"));
  metric("batch_schedules", "gauge", "Schedules defined.", absl::StrCat("batch_schedules ", s.schedules, "\n"));
  metric("batch_runs_active", "gauge", "Runs not finished.", absl::StrCat("batch_runs_active ", s.active_runs, "\n"));
  metric("batch_runs_started_total", "counter", "Runs started.",
         absl::StrCat("batch_runs_started_total ", s.m.runs_started, "\n"));
  metric("batch_runs_finished_total", "counter", "Runs finished, by outcome.",
         absl::StrCat("batch_runs_finished_total{outcome=\"success\"} ", s.m.runs_succeeded, "\n",
                      "batch_runs_finished_total{outcome=\"failed\"} ", s.m.runs_failed, "\n"));
  metric("batch_instants_missed_total", "counter", "Scheduled instants that started no run.",
         absl::StrCat("batch_instants_missed_total ", s.m.instants_missed, "\n"));
  metric("batch_tasks_launched_total", "counter", "Tasks launched.",
         absl::StrCat("batch_tasks_launched_total ", s.m.tasks_launched, "\n"));
  metric("batch_task_retries_total", "counter", "Failed attempts retried.",
         absl::StrCat("batch_task_retries_total ", s.m.task_retries, "\n"));
  std::string lat;
  for (double q : {0.5, 0.9, 0.99}) {
    absl::StrAppend(&lat, "batch_trigger_lateness_seconds{quantile=\"", q, "\"} ", SortedPercentile(s.m.lateness, q),
                    "\n");
  }
  absl::StrAppend(&lat, "batch_trigger_lateness_seconds_sum ", s.m.lateness_sum, "\n");
  absl::StrAppend(&lat, "batch_trigger_lateness_seconds_count ", s.m.lateness_count, "\n");
  metric("batch_trigger_lateness_seconds", "summary",
         "From a run's scheduled instant to its task running (the last 10,000 scheduled runs).", lat);
  return o;
}

// Dropwizard's JSON shape, which Metronome's /v1/metrics and Chronos's
// /metrics both have.
std::string DropwizardJson(const Snapshot& s) {
  rapidjson::StringBuffer b;
  JsonWriter w(b);
  w.StartObject();
  w.Key("version");
  w.String("4.0.0");
  w.Key("gauges");
  w.StartObject();
  for (auto [k, v] : std::vector<std::pair<const char*, size_t>>{
           {"batch.jobs", s.jobs}, {"batch.schedules", s.schedules}, {"batch.runs.active", s.active_runs}}) {
    w.Key(k);
    w.StartObject();
    w.Key("value");
    w.Uint64(v);
    w.EndObject();
  }
  w.EndObject();
  w.Key("counters");
  w.StartObject();
  for (auto [k, v] : std::vector<std::pair<const char*, int64_t>>{{"batch.runs.started", s.m.runs_started},
                                                                  {"batch.runs.succeeded", s.m.runs_succeeded},
                                                                  {"batch.runs.failed", s.m.runs_failed},
                                                                  {"batch.instants.missed", s.m.instants_missed},
                                                                  {"batch.tasks.launched", s.m.tasks_launched},
                                                                  {"batch.tasks.retried", s.m.task_retries}}) {
    w.Key(k);
    w.StartObject();
    w.Key("count");
    w.Int64(v);
    w.EndObject();
  }
  w.EndObject();
  w.Key("histograms");
  w.StartObject();
  w.Key("batch.trigger.lateness.seconds");
  w.StartObject();
  w.Key("count");
  w.Int64(s.m.lateness_count);
  w.Key("p50");
  w.Double(SortedPercentile(s.m.lateness, 0.5));
  w.Key("p99");
  w.Double(SortedPercentile(s.m.lateness, 0.99));
  w.Key("mean");
  w.Double(Mean(s.m.lateness));
  w.EndObject();
  w.EndObject();
  w.Key("meters");
  w.StartObject();
  w.EndObject();
  w.Key("timers");
  w.StartObject();
  w.EndObject();
  w.EndObject();
  return Text(b);
}

}  // namespace

http::Handler MakeRestHandler(Service* service, RestOptions options) {
  return [service, options](const http::Request& req, http::Responder& responder) {
    std::vector<std::string> seg = absl::StrSplit(req.path, '/', absl::SkipEmpty());
    Response r;
    if (seg.size() == 1 && seg[0] == "ping") {
      r = Response::Text(200, "pong\n");
    } else if (seg.size() == 1 && seg[0] == "leader" && req.method == "GET") {
      // Chronos's leader endpoint: this instance, as the client reached it.
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      w.StartObject();
      w.Key("leader");
      Str(w, req.header("host").empty() ? options.leader : req.header("host"));
      w.EndObject();
      r = Response::Json(Text(b));
    } else if (seg.size() == 1 && seg[0] == "info") {
      rapidjson::StringBuffer b;
      JsonWriter w(b);
      w.StartObject();
      w.Key("name");
      w.String("corral-batch");
      w.Key("version");
      w.String(kMetronomeVersion);
      w.Key("libVersion");
      w.String(kMesosVersion);  // Metronome gives the Mesos library it was built with
      w.Key("master");
      Str(w, options.master);
      w.Key("frameworkName");
      Str(w, options.framework_name);
      w.Key("frameworkId");
      Str(w, service->Read([](const ServiceState& st) { return st.framework_id; }));
      w.EndObject();
      r = Response::Json(Text(b));
    } else if (seg.size() == 1 && seg[0] == "metrics") {
      const std::string& accept = req.header("accept");
      Snapshot s = Take(service);
      if (absl::StrContains(accept, "text/plain") || absl::StrContains(accept, "openmetrics")) {
        r = Response::Text(200, Prometheus(s));
        r.content_type = "text/plain; version=0.0.4";
      } else {
        r = Response::Json(DropwizardJson(s));
      }
    } else if (seg.size() == 2 && seg[0] == "v1" && seg[1] == "metrics") {
      r = Response::Json(DropwizardJson(Take(service)));
    } else if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "jobs") {
      r = Metronome(service, req, seg);
    } else if (!seg.empty() && seg[0] == "scheduler") {
      r = Chronos(service, req, seg);
    } else if (seg.size() >= 2 && seg[0] == "v1" && seg[1] == "scheduler") {
      r = Chronos(service, req, std::vector<std::string>(seg.begin() + 1, seg.end()));
    } else {
      r = Message(404, "no such resource: " + req.path);
    }
    responder.Reply(std::move(r));
  };
}

}  // namespace corral::batch
