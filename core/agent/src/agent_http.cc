#include "corral/agent/agent_http.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <map>
#include <set>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "corral/agent/sandbox_files.h"
#include "corral/common/version.h"
#include "corral/http/api.h"
#include "corral/http/mesos_json.h"
#include "corral/v1/agent.pb.h"

namespace corral {
namespace {

using http::Answer;
using http::Error;
using http::Format;
using http::HttpStatusOf;
using http::MediaType;
using http::Request;
using http::Responder;
using http::Response;
using namespace mesos_json;  // NOLINT: the shared Mesos JSON shapes
using Snapshot = v1::internal::AgentSnapshot;

using HttpExecutorSink = http::RecordIOSink<ExecutorSink, v1::executor::Event>;

const std::set<std::string>& Counters() {
  static const std::set<std::string> kCounters = {
      "slave/tasks_finished", "slave/tasks_failed",         "slave/tasks_killed",        "slave/tasks_lost",
      "slave/tasks_gone",     "slave/valid_status_updates", "slave/executors_terminated"};
  return kCounters;
}

std::string Pid(const v1::AgentInfo& info, const std::string& ip) {
  return absl::StrCat("slave(1)@", ip, ":", info.port());
}

// --- the agent operator API's views of a snapshot ---------------------------

void FillTasks(const Snapshot& s, v1::agent::Response::GetTasks* out) {
  for (const auto& t : s.tasks()) {
    switch (t.phase()) {
      case Snapshot::PENDING: *out->add_pending_tasks() = t.task(); break;
      case Snapshot::QUEUED: *out->add_queued_tasks() = t.task(); break;
      case Snapshot::TERMINATED: *out->add_terminated_tasks() = t.task(); break;
      default: *out->add_launched_tasks() = t.task(); break;
    }
  }
  for (const v1::Task& t : s.completed_tasks()) *out->add_completed_tasks() = t;
}

void FillExecutors(const Snapshot& s, v1::agent::Response::GetExecutors* out) {
  for (const auto& e : s.executors()) *out->add_executors()->mutable_executor_info() = e.info();
  for (const auto& e : s.completed_executors()) *out->add_completed_executors()->mutable_executor_info() = e.info();
}

void FillFrameworks(const Snapshot& s, v1::agent::Response::GetFrameworks* out) {
  for (const auto& f : s.frameworks()) *out->add_frameworks()->mutable_framework_info() = f;
  for (const auto& f : s.completed_frameworks()) *out->add_completed_frameworks()->mutable_framework_info() = f;
}

// --- /state ------------------------------------------------------------------

void ExecutorJson(Writer& w, const Snapshot::Executor& e, const std::vector<const v1::Task*>& tasks,
                  const std::vector<const v1::Task*>& queued, const std::vector<const v1::Task*>& completed) {
  w.StartObject();
  Key(w, "id");
  Str(w, e.info().executor_id().value());
  Key(w, "name");
  Str(w, e.info().name());
  Key(w, "source");
  Str(w, e.command() ? e.info().executor_id().value() : std::string());
  Key(w, "container");
  Str(w, e.container_id());
  Key(w, "directory");
  Str(w, e.directory());
  Key(w, "framework_id");
  Str(w, e.info().framework_id().value());
  Key(w, "resources");
  ResourcesJson(w, e.info().resources());
  if (e.info().has_labels()) {
    Key(w, "labels");
    Labels(w, e.info().labels());
  }
  auto list = [&](const char* key, const std::vector<const v1::Task*>& ts) {
    Key(w, key);
    w.StartArray();
    for (const v1::Task* t : ts) Task(w, *t);
    w.EndArray();
  };
  list("tasks", tasks);
  list("queued_tasks", queued);
  list("completed_tasks", completed);
  w.EndObject();
}

}  // namespace

std::string RenderAgentState(const Snapshot& s, const std::map<std::string, std::string>& flags,
                             const std::string& version) {
  using ExecKey = std::pair<std::string, std::string>;  // (framework, executor)
  std::map<ExecKey, std::vector<const v1::Task*>> live, queued, done;
  for (const auto& t : s.tasks()) {
    ExecKey k{t.task().framework_id().value(), t.task().executor_id().value()};
    (t.phase() == Snapshot::QUEUED || t.phase() == Snapshot::PENDING ? queued : live)[k].push_back(&t.task());
  }
  for (const v1::Task& t : s.completed_tasks()) done[{t.framework_id().value(), t.executor_id().value()}].push_back(&t);
  static const std::vector<const v1::Task*> kNone;
  auto find = [](const auto& m, const ExecKey& k) -> const std::vector<const v1::Task*>& {
    auto it = m.find(k);
    return it == m.end() ? kNone : it->second;
  };

  rapidjson::StringBuffer buffer;
  Writer w(buffer);
  w.StartObject();
  Key(w, "version");
  Str(w, kMesosVersion);
  Key(w, "corral_version");
  Str(w, version);
  Key(w, "start_time");
  w.Double(s.start_time());
  Key(w, "id");
  Str(w, s.agent_info().id().value());
  Key(w, "pid");
  auto ip = flags.find("ip");
  Str(w, Pid(s.agent_info(), ip == flags.end() ? s.agent_info().hostname() : ip->second));
  Key(w, "hostname");
  Str(w, s.agent_info().hostname());
  Key(w, "resources");
  ResourcesJson(w, s.total());
  Key(w, "unreserved_resources");
  ResourcesJson(w, s.total(), Unreserved);
  Key(w, "reserved_resources");
  w.StartObject();
  w.EndObject();
  Key(w, "attributes");
  Attributes(w, s.agent_info().attributes());
  Key(w, "master_hostname");
  Str(w, s.master().substr(0, s.master().rfind(':')));
  Key(w, "flags");
  w.StartObject();
  for (const auto& [k, v] : flags) {
    Str(w, k);
    Str(w, v);
  }
  w.EndObject();
  // A torn-down framework shows as a live one does: its executors still
  // ending, if any, and its completed ones.
  auto framework_json = [&](const v1::FrameworkInfo& f) {
    const std::string& fid = f.id().value();
    w.StartObject();
    Key(w, "id");
    Str(w, fid);
    Key(w, "name");
    Str(w, f.name());
    Key(w, "user");
    Str(w, f.user());
    Key(w, "hostname");
    Str(w, f.hostname());
    Key(w, "failover_timeout");
    w.Double(f.failover_timeout());
    Key(w, "checkpoint");
    w.Bool(f.checkpoint());
    Key(w, "role");
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
    // Mesos's agent shows one role: a MULTI_ROLE framework's first.
    Str(w, f.roles_size() > 0 ? f.roles(0) : f.role().empty() ? "*" : f.role());
#pragma GCC diagnostic pop
    Key(w, "executors");
    w.StartArray();
    for (const auto& e : s.executors()) {
      if (e.info().framework_id().value() != fid) continue;
      ExecKey k{fid, e.info().executor_id().value()};
      ExecutorJson(w, e, find(live, k), find(queued, k), find(done, k));
    }
    w.EndArray();
    Key(w, "completed_executors");
    w.StartArray();
    for (const auto& e : s.completed_executors()) {
      if (e.info().framework_id().value() != fid) continue;
      ExecutorJson(w, e, kNone, kNone, find(done, {fid, e.info().executor_id().value()}));
    }
    w.EndArray();
    w.EndObject();
  };
  Key(w, "frameworks");
  w.StartArray();
  for (const v1::FrameworkInfo& f : s.frameworks()) framework_json(f);
  w.EndArray();
  Key(w, "completed_frameworks");
  w.StartArray();
  for (const v1::FrameworkInfo& f : s.completed_frameworks()) framework_json(f);
  w.EndArray();
  w.EndObject();
  return Done(buffer);
}

void AgentHttpApi::Handle(const Request& req, Responder& r) {
  std::string path = req.path;
  // Mesos serves an agent's endpoints under its process ID as well.
  if (absl::StartsWith(path, "/slave(1)/")) path = path.substr(9);
  if (path == "/api/v1/executor") return Executor(req, r);
  if (path == "/api/v1" || path == "/api/v1/") return Operator(req, r);
  // As the master's: health and version stay open, every other read needs
  // --authenticate_http_readonly's credential.
  const bool open = path == "/health" || path == "/version";
  std::optional<std::string> principal;
  if (auto refused = http::Authenticate(agent_->http_authentication(),
                                        open ? auth::Access::kOpen : auth::Access::kReadOnly, req, &principal)) {
    return r.Reply(std::move(*refused));
  }
  if (auto bad = http::CheckGet(req)) return r.Reply(std::move(*bad));
  if (path == "/health") return r.Reply(Response::Text(200, ""));
  if (path == "/version") return r.Reply(Response::Json(http::VersionJson(CORRAL_VERSION)));
  if (path == "/flags") return r.Reply(Response::Json(http::FlagsJson(agent_->flags())));
  if (path == "/metrics/snapshot") return r.Reply(Response::Json(http::MetricsJson(agent_->Metrics())));
  if (path == "/metrics") {
    Response res = Response::Text(200, http::Prometheus(agent_->Metrics(), Counters()));
    res.content_type = "text/plain; version=0.0.4";
    return r.Reply(std::move(res));
  }
  if (path == "/state" || path == "/state.json") {
    return r.Reply(Response::Json(RenderAgentState(agent_->SnapshotFor(principal), agent_->flags(), CORRAL_VERSION)));
  }
  if (path == "/monitor/statistics" || path == "/monitor/statistics.json") {
    // Mesos's form: one object per container, its usage under "statistics".
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartArray();
    const v1::agent::Response::GetContainers usage = agent_->ContainerUsage();
    for (const auto& c : usage.containers()) {
      w.StartObject();
      Key(w, "executor_id");
      Str(w, c.executor_id().value());
      Key(w, "executor_name");
      Str(w, c.executor_name());
      Key(w, "framework_id");
      Str(w, c.framework_id().value());
      Key(w, "source");
      Str(w, c.executor_id().value());
      Key(w, "statistics");
      std::string stats = http::ToJson(c.resource_statistics());
      w.RawValue(stats.data(), stats.size(), rapidjson::kObjectType);
      w.EndObject();
    }
    w.EndArray();
    return r.Reply(Response::Json(std::string(buffer.GetString(), buffer.GetSize())));
  }
  for (const char* action : {"browse", "read", "download"}) {
    if (path == absl::StrCat("/files/", action) || path == absl::StrCat("/files/", action, ".json")) {
      return Files(action, req, r, principal);
    }
  }
  r.Reply(Error(404, absl::StrCat("No such endpoint: ", path)));
}

void AgentHttpApi::Files(const std::string& action, const Request& req, Responder& r,
                         const std::optional<std::string>& principal) {
  std::string path;
  std::string offset_text, length_text;
  for (const auto& [name, value] : req.query) {
    if (name == "path") path = value;
    if (name == "offset") offset_text = value;
    if (name == "length") length_text = value;
  }
  if (path.empty()) return r.Reply(Error(400, "Expecting 'path' to be present"));
  auto real = agent_->OpenSandboxFile(path, principal);
  if (!real.ok()) return r.Reply(Error(HttpStatusOf(real.status()), std::string(real.status().message())));

  if (action == "browse") {
    auto entries = sandbox_files::List(*real, path);
    if (!entries.ok()) return r.Reply(Error(HttpStatusOf(entries.status()), std::string(entries.status().message())));
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartArray();
    for (const v1::FileInfo& f : *entries) {
      w.StartObject();
      Key(w, "path");
      Str(w, f.path());
      Key(w, "nlink");
      w.Int(f.nlink());
      Key(w, "size");
      w.Uint64(f.size());
      Key(w, "mtime");
      w.Int64(f.mtime().nanoseconds() / 1000000000);
      Key(w, "mode");
      Str(w, sandbox_files::ModeString(f.mode()));
      Key(w, "uid");
      Str(w, f.uid());
      Key(w, "gid");
      Str(w, f.gid());
      w.EndObject();
    }
    w.EndArray();
    return r.Reply(Response::Json(Done(buffer)));
  }

  if (action == "read") {
    // offset=-1 (or none) asks only for the size, as Mesos's UI does to tail a file.
    int64_t offset = -1, length = 0;
    if (!offset_text.empty() && !absl::SimpleAtoi(offset_text, &offset)) {
      return r.Reply(Error(400, absl::StrCat("Failed to parse offset: '", offset_text, "' is not a number")));
    }
    if (!length_text.empty() && (!absl::SimpleAtoi(length_text, &length) || length < 0)) {
      return r.Reply(
          Error(400, absl::StrCat("Failed to parse length: '", length_text, "' is not a non-negative number")));
    }
    if (offset < -1) return r.Reply(Error(400, "Negative offset provided"));
    if (offset == -1) length = 1;  // read nothing but the size
    auto got = sandbox_files::Read(*real, offset < 0 ? UINT64_MAX : static_cast<uint64_t>(offset),
                                   static_cast<uint64_t>(length));
    if (!got.ok()) return r.Reply(Error(HttpStatusOf(got.status()), std::string(got.status().message())));
    rapidjson::StringBuffer buffer;
    Writer w(buffer);
    w.StartObject();
    Key(w, "data");
    Str(w, offset < 0 ? std::string() : got->first);
    Key(w, "offset");
    w.Uint64(offset < 0 ? got->second : static_cast<uint64_t>(offset));
    w.EndObject();
    return r.Reply(Response::Json(Done(buffer)));
  }

  // download: streamed from the file, so its size costs the agent nothing.
  if (real->directory()) return r.Reply(Error(400, "Cannot download a directory"));
  struct stat st;
  if (::fstat(real->fd(), &st) != 0) return r.Reply(Error(404, absl::StrCat("'", path, "' cannot be read")));
  Response head;
  head.status = 200;
  head.content_type = "application/octet-stream";
  const std::string name = real->name();
  int fd = real->Release();
  head.headers.emplace_back("Content-Disposition", absl::StrCat("attachment; filename=\"", name, "\""));
  r.SendFile(std::move(head), fd, static_cast<uint64_t>(st.st_size));
}

void AgentHttpApi::Executor(const Request& req, Responder& r) {
  v1::executor::Call call;
  Format accepted = Format::kJson;
  if (auto bad = http::ParseCall(req, &call, &accepted)) return r.Reply(std::move(*bad));
  if (call.type() == v1::executor::Call::SUBSCRIBE) {
    auto sink = std::make_shared<HttpExecutorSink>(accepted);
    if (absl::Status st = agent_->ExecutorSubscribe(call, sink, req.header("authorization")); !st.ok()) {
      int code = st.code() == absl::StatusCode::kInvalidArgument ? 400 : HttpStatusOf(st);
      return r.Reply(Error(code, absl::StrCat("Failed to subscribe: ", st.message())));
    }
    auto stream = r.Stream(200, MediaType(accepted), {});
    std::string fid = call.framework_id().value(), eid = call.executor_id().value();
    ExecutorSink* raw = sink.get();
    Agent* agent = agent_;
    stream->OnClosed([agent, fid, eid, raw] { agent->ExecutorGone(fid, eid, raw); });
    sink->Attach(std::move(stream));
    return;
  }
  absl::Status st = agent_->ExecutorCall(call, req.header("authorization"));
  if (st.ok()) return r.Reply(Response::Text(202, ""));
  if (st.code() == absl::StatusCode::kInvalidArgument) {
    return r.Reply(Error(400, absl::StrCat("Failed to validate executor::Call: ", st.message())));
  }
  r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
}

void AgentHttpApi::Operator(const Request& req, Responder& r) {
  using v1::agent::Call;
  using AR = v1::agent::Response;
  Call call;
  Format accepted = Format::kJson;
  const auth::AuthenticationPolicy& policy = agent_->http_authentication();
  std::optional<std::string> principal;
  if (policy.Required(auth::Access::kReadOnly) && policy.Required(auth::Access::kReadWrite)) {
    if (auto refused = http::Authenticate(policy, auth::Access::kReadOnly, req, &principal)) {
      return r.Reply(std::move(*refused));
    }
  }
  if (auto bad = http::ParseCall(req, &call, &accepted)) return r.Reply(std::move(*bad));
  if (!principal) {
    // GET_* and the file reads only read; everything else acts.
    bool reads = absl::StartsWith(Call::Type_Name(call.type()), "GET_") || call.type() == Call::LIST_FILES ||
                 call.type() == Call::READ_FILE;
    if (auto refused =
            http::Authenticate(policy, reads ? auth::Access::kReadOnly : auth::Access::kReadWrite, req, &principal)) {
      return r.Reply(std::move(*refused));
    }
  }
  auto answer = [&](const AR& response) { r.Reply(Answer(response, accepted)); };
  auto fail = [&](const absl::Status& st) { r.Reply(Error(HttpStatusOf(st), std::string(st.message()))); };
  AR response;
  switch (call.type()) {
    case Call::GET_HEALTH:
      response.set_type(AR::GET_HEALTH);
      response.mutable_get_health()->set_healthy(true);
      return answer(response);
    case Call::GET_FLAGS:
      response.set_type(AR::GET_FLAGS);
      http::FillFlags(agent_->flags(), response.mutable_get_flags());
      return answer(response);
    case Call::GET_VERSION:
      response.set_type(AR::GET_VERSION);
      response.mutable_get_version()->mutable_version_info()->set_version(kMesosVersion);
      return answer(response);
    case Call::GET_METRICS:
      response.set_type(AR::GET_METRICS);
      http::FillMetrics(agent_->Metrics(), response.mutable_get_metrics());
      return answer(response);
    case Call::GET_LOGGING_LEVEL:
      response.set_type(AR::GET_LOGGING_LEVEL);
      response.mutable_get_logging_level()->set_level(http::LoggingLevel());
      return answer(response);
    case Call::GET_AGENT:
      response.set_type(AR::GET_AGENT);
      *response.mutable_get_agent()->mutable_agent_info() = agent_->Snapshot().agent_info();
      return answer(response);
    case Call::GET_STATE: {
      Snapshot s = agent_->SnapshotFor(principal);
      response.set_type(AR::GET_STATE);
      auto* st = response.mutable_get_state();
      FillTasks(s, st->mutable_get_tasks());
      FillExecutors(s, st->mutable_get_executors());
      FillFrameworks(s, st->mutable_get_frameworks());
      return answer(response);
    }
    case Call::GET_TASKS:
      response.set_type(AR::GET_TASKS);
      FillTasks(agent_->SnapshotFor(principal), response.mutable_get_tasks());
      return answer(response);
    case Call::GET_EXECUTORS:
      response.set_type(AR::GET_EXECUTORS);
      FillExecutors(agent_->SnapshotFor(principal), response.mutable_get_executors());
      return answer(response);
    case Call::GET_FRAMEWORKS:
      response.set_type(AR::GET_FRAMEWORKS);
      FillFrameworks(agent_->SnapshotFor(principal), response.mutable_get_frameworks());
      return answer(response);
    case Call::GET_CONTAINERS: {
      response.set_type(AR::GET_CONTAINERS);
      *response.mutable_get_containers() = agent_->ContainerUsage();
      return answer(response);
    }
    case Call::LIST_FILES: {
      if (!call.list_files().has_path()) {
        return r.Reply(Error(400, "Failed to validate agent::Call: Expecting 'list_files.path' to be present"));
      }
      auto real = agent_->OpenSandboxFile(call.list_files().path(), principal);
      if (!real.ok()) return fail(real.status());
      auto entries = sandbox_files::List(*real, call.list_files().path());
      if (!entries.ok()) return fail(entries.status());
      response.set_type(AR::LIST_FILES);
      response.mutable_list_files();
      for (auto& f : *entries) *response.mutable_list_files()->add_file_infos() = std::move(f);
      return answer(response);
    }
    case Call::READ_FILE: {
      if (!call.read_file().has_path() || !call.read_file().has_offset()) {
        return r.Reply(Error(
            400, "Failed to validate agent::Call: Expecting 'read_file.path' and 'read_file.offset' to be present"));
      }
      auto real = agent_->OpenSandboxFile(call.read_file().path(), principal);
      if (!real.ok()) return fail(real.status());
      auto got = sandbox_files::Read(*real, call.read_file().offset(), call.read_file().length());
      if (!got.ok()) return fail(got.status());
      response.set_type(AR::READ_FILE);
      response.mutable_read_file()->set_size(got->second);
      response.mutable_read_file()->set_data(std::move(got->first));
      return answer(response);
    }
    // Corral agents have no resource providers, so no operations on them.
    case Call::GET_RESOURCE_PROVIDERS:
      response.set_type(AR::GET_RESOURCE_PROVIDERS);
      response.mutable_get_resource_providers();
      return answer(response);
    case Call::GET_OPERATIONS:
      response.set_type(AR::GET_OPERATIONS);
      response.mutable_get_operations();
      return answer(response);
    case Call::UNKNOWN: return r.Reply(Error(400, "Failed to validate agent::Call: Expecting 'type' to be present"));
    default: return r.Reply(Error(501, absl::StrCat(Call::Type_Name(call.type()), " is not served by Corral agents")));
  }
}

}  // namespace corral
