#include "corral/master/master_http.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "absl/strings/match.h"
#include "corral/common/ids.h"
#include "corral/common/logging.h"
#include "corral/http/recordio.h"
#include "corral/v1/master.pb.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace corral {
namespace {

using http::Request;
using http::Responder;
using http::Response;
using v1::scheduler::Call;
using v1::scheduler::Event;

constexpr char kJson[] = "application/json";
constexpr char kProtobuf[] = "application/x-protobuf";

enum class Format { kJson, kProtobuf };

const char* MediaType(Format f) { return f == Format::kJson ? kJson : kProtobuf; }

// "application/json; charset=utf-8" -> "application/json"
std::string Essence(const std::string& value) {
  std::string v = value.substr(0, value.find(';'));
  absl::StripAsciiWhitespace(&v);
  return absl::AsciiStrToLower(v);
}

// The response format an Accept header allows, JSON first (as Mesos).
std::optional<Format> Negotiate(const std::string& accept) {
  if (accept.empty()) return Format::kJson;
  std::vector<std::string> types;
  for (absl::string_view part : absl::StrSplit(accept, ',')) types.push_back(Essence(std::string(part)));
  auto allows = [&](const char* t) { return std::find(types.begin(), types.end(), t) != types.end(); };
  if (allows(kJson) || allows("*/*") || allows("application/*")) return Format::kJson;
  if (allows(kProtobuf)) return Format::kProtobuf;
  return std::nullopt;
}

std::string ToJson(const google::protobuf::Message& m) {
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  std::string out;
  (void)google::protobuf::util::MessageToJsonString(m, &out, options);
  return out;
}

std::string Serialize(const google::protobuf::Message& m, Format f) {
  return f == Format::kJson ? ToJson(m) : m.SerializeAsString();
}

// Parses a body as the Content-Type says; unknown JSON fields are errors.
absl::Status Parse(const Request& req, Format f, google::protobuf::Message* m) {
  if (f == Format::kProtobuf) {
    if (!m->ParseFromString(req.body)) return absl::InvalidArgumentError("the body is not a valid protobuf message");
    return absl::OkStatus();
  }
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = false;
  auto st = google::protobuf::util::JsonStringToMessage(req.body, m, options);
  if (!st.ok()) {
    std::string why(st.message());
    why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
    return absl::InvalidArgumentError(why);
  }
  return absl::OkStatus();
}

Response Error(int status, const std::string& message) { return Response::Text(status, message); }

// The Content-Type check that both POST APIs share; sets *format.
std::optional<Response> CheckPost(const Request& req, Format* format) {
  if (req.method != "POST") {
    Response r = Error(405, absl::StrCat("Expecting a 'POST' request, received '", req.method, "'"));
    r.headers.emplace_back("Allow", "POST");
    return r;
  }
  std::string type = Essence(req.header("content-type"));
  if (type.empty()) return Error(400, "Expecting 'Content-Type' to be present");
  if (type == kJson) {
    *format = Format::kJson;
  } else if (type == kProtobuf) {
    *format = Format::kProtobuf;
  } else {
    return Error(415, absl::StrCat("Expecting 'Content-Type' of application/json or application/x-protobuf, got '",
                                   type, "'"));
  }
  return std::nullopt;
}

int HttpStatusOf(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

// A scheduler's HTTP subscription: events become RecordIO records. Events
// sent before the stream exists (SUBSCRIBED is queued during Subscribe) wait.
class HttpSchedulerSink : public SchedulerSink {
 public:
  explicit HttpSchedulerSink(Format format) : format_(format) {}
  bool Send(const Event& event) override {
    std::string record = http::RecordIOFrame(Serialize(event, format_));
    std::lock_guard<std::mutex> lock(mu_);
    if (closed_) return false;
    if (!stream_) {
      pending_.push_back(std::move(record));
      return true;
    }
    return stream_->Write(std::move(record));
  }
  void Close() override {
    std::lock_guard<std::mutex> lock(mu_);
    closed_ = true;
    if (stream_) stream_->Close();
  }
  void Attach(std::shared_ptr<http::ResponseStream> stream) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = std::move(stream);
    for (std::string& r : pending_) stream_->Write(std::move(r));
    pending_.clear();
    if (closed_) stream_->Close();
  }

 private:
  Format format_;
  std::mutex mu_;
  std::shared_ptr<http::ResponseStream> stream_;
  std::vector<std::string> pending_;
  bool closed_ = false;
};

std::string FlagsJson(const std::map<std::string, std::string>& flags) {
  google::protobuf::Struct s;
  auto& fields = *s.mutable_fields();
  for (const auto& [k, v] : flags) fields[k].set_string_value(v);
  google::protobuf::Struct doc;
  *(*doc.mutable_fields())["flags"].mutable_struct_value() = s;
  return ToJson(doc);
}

std::string MetricsJson(const std::map<std::string, double>& metrics) {
  google::protobuf::Struct s;
  for (const auto& [k, v] : metrics) (*s.mutable_fields())[k].set_number_value(v);
  return ToJson(s);
}

bool IsCounter(const std::string& name) {
  static const std::set<std::string> kCounters = {
      "master/tasks_finished", "master/tasks_failed", "master/tasks_killed", "master/tasks_lost",
      "master/tasks_error", "master/tasks_dropped", "master/tasks_gone", "master/tasks_gone_by_operator",
      "allocator/mesos/allocation_runs"};
  return kCounters.count(name) > 0;
}

// The Prometheus text format: "master/tasks_running" becomes
// master_tasks_running, one sample per metric.
std::string Prometheus(const std::map<std::string, double>& metrics) {
  std::string out;
  for (const auto& [name, value] : metrics) {
    std::string p = absl::StrReplaceAll(name, {{"/", "_"}, {"-", "_"}, {".", "_"}});
    absl::StrAppend(&out, "# TYPE ", p, IsCounter(name) ? " counter\n" : " gauge\n", p, " ", value, "\n");
  }
  return out;
}

// --- operator API: ClusterState to master::Response ------------------------

v1::TimeInfo Time(double seconds) {
  v1::TimeInfo t;
  t.set_nanoseconds(static_cast<int64_t>(seconds * 1e9));
  return t;
}

void FillAgents(const v1::internal::ClusterState& state, v1::master::Response::GetAgents* out) {
  for (const auto& a : state.agents()) {
    if (a.recovered()) {
      *out->add_recovered_agents() = a.agent_info();
      continue;
    }
    auto* agent = out->add_agents();
    *agent->mutable_agent_info() = a.agent_info();
    agent->set_active(a.active() && !a.has_drain_info());
    agent->set_deactivated(a.has_drain_info());
    agent->set_version(CORRAL_VERSION);
    agent->set_pid(absl::StrCat("slave(1)@", a.agent_info().hostname(), ":", a.agent_info().port()));
    *agent->mutable_registered_time() = Time(a.registered_time());
    *agent->mutable_total_resources() = a.total();
    *agent->mutable_allocated_resources() = a.allocated();
    *agent->mutable_offered_resources() = a.offered();
    if (a.has_drain_info()) *agent->mutable_drain_info() = a.drain_info();
  }
}

void FillFrameworks(const v1::internal::ClusterState& state, v1::master::Response::GetFrameworks* out) {
  for (const auto& f : state.frameworks()) {
    auto* fw = out->add_frameworks();
    *fw->mutable_framework_info() = f.framework_info();
    fw->set_active(f.active());
    fw->set_connected(f.connected());
    fw->set_recovered(false);
    *fw->mutable_registered_time() = Time(f.registered_time());
    *fw->mutable_offers() = f.offers();
    *fw->mutable_allocated_resources() = f.allocated();
    *fw->mutable_offered_resources() = f.offered();
  }
}

void FillExecutors(const v1::internal::ClusterState& state, v1::master::Response::GetExecutors* out) {
  for (const auto& a : state.agents()) {
    for (const auto& e : a.executors()) {
      auto* ex = out->add_executors();
      *ex->mutable_executor_info() = e;
      *ex->mutable_agent_id() = a.agent_info().id();
    }
  }
}

void FillTasks(const v1::internal::ClusterState& state, v1::master::Response::GetTasks* out) {
  for (const v1::Task& t : state.tasks()) {
    v1::Task* copy = t.status_update_state() == v1::TASK_UNREACHABLE ? out->add_unreachable_tasks() : out->add_tasks();
    *copy = t;
    copy->clear_status_update_state();
  }
  for (const v1::Task& t : state.completed_tasks()) *out->add_completed_tasks() = t;
}

}  // namespace

void MasterHttpApi::Handle(const Request& req, Responder& r) {
  const std::string& path = req.path;
  if (path == "/api/v1/scheduler") return Scheduler(req, r);
  if (path == "/api/v1" || path == "/api/v1/") return Operator(req, r);
  if (req.method != "GET" && req.method != "HEAD") {
    Response res = Error(405, absl::StrCat("Expecting a 'GET' request, received '", req.method, "'"));
    res.headers.emplace_back("Allow", "GET");
    return r.Reply(std::move(res));
  }
  // Snapshots of a large cluster are big: allocate them on an arena.
  google::protobuf::ArenaOptions arena_options;
  arena_options.start_block_size = 64 << 10;
  arena_options.max_block_size = 8 << 20;
  google::protobuf::Arena arena(arena_options);
  auto Snapshot = [this](google::protobuf::Arena& a) -> const v1::internal::ClusterState& {
    return *master_->GetState(&a);
  };
  if (path == "/health" || path == "/master/health") return r.Reply(Response::Text(200, ""));
  if (path == "/version") {
    google::protobuf::Struct v;
    auto& f = *v.mutable_fields();
    f["version"].set_string_value(CORRAL_VERSION);
    f["build_date"].set_string_value("");
    f["build_time"].set_number_value(0);
    f["build_user"].set_string_value("");
    return r.Reply(Response::Json(ToJson(v)));
  }
  if (path == "/flags" || path == "/master/flags") return r.Reply(Response::Json(FlagsJson(master_->flags())));
  if (path == "/metrics/snapshot") return r.Reply(Response::Json(MetricsJson(master_->Metrics())));
  if (path == "/metrics") {
    Response res = Response::Text(200, Prometheus(master_->Metrics()));
    res.content_type = "text/plain; version=0.0.4";
    return r.Reply(std::move(res));
  }
  if (path == "/master/redirect" || path == "/redirect") {
    // One master is always the leader; with ZooKeeper this names the elected one.
    v1::MasterInfo info = master_->info();
    Response res = Response::Text(307, "");
    res.headers.emplace_back("Location", absl::StrCat("//", info.address().ip(), ":", info.port()));
    return r.Reply(std::move(res));
  }
  if (path == "/master/state" || path == "/state" || path == "/state.json" || path == "/master/state.json") {
    StateJsonContext context{&master_->flags(), master_->start_time()};
    return r.Reply(Response::Json(RenderMasterState(Snapshot(arena), context)));
  }
  if (path == "/master/state-summary" || path == "/state-summary") {
    return r.Reply(Response::Json(RenderStateSummary(Snapshot(arena))));
  }
  if (path == "/master/frameworks" || path == "/frameworks") {
    return r.Reply(Response::Json(RenderFrameworks(Snapshot(arena))));
  }
  if (path == "/master/slaves" || path == "/slaves") return r.Reply(Response::Json(RenderAgents(Snapshot(arena))));
  if (path == "/master/roles" || path == "/roles") {
    return r.Reply(Response::Json(RenderRoles(Snapshot(arena), master_->flags())));
  }
  if (path == "/master/tasks" || path == "/tasks") {
    size_t limit = 100, offset = 0;
    bool descending = true;
    for (const auto& [name, value] : req.query) {
      if (name == "limit" && !absl::SimpleAtoi(value, &limit)) {
        return r.Reply(Error(400, absl::StrCat("Failed to parse limit: '", value, "' is not a number")));
      }
      if (name == "offset" && !absl::SimpleAtoi(value, &offset)) {
        return r.Reply(Error(400, absl::StrCat("Failed to parse offset: '", value, "' is not a number")));
      }
      if (name == "order") {
        if (value != "asc" && value != "des") {
          return r.Reply(Error(400, absl::StrCat("Failed to parse order: '", value, "' is not 'asc' or 'des'")));
        }
        descending = value == "des";
      }
    }
    return r.Reply(Response::Json(RenderTasks(Snapshot(arena), offset, limit, descending)));
  }
  r.Reply(Error(404, absl::StrCat("No such endpoint: ", path)));
}

void MasterHttpApi::Scheduler(const Request& req, Responder& r) {
  Format format = Format::kJson;
  if (auto bad = CheckPost(req, &format)) return r.Reply(std::move(*bad));
  Call call;
  if (absl::Status st = Parse(req, format, &call); !st.ok()) {
    return r.Reply(Error(400, absl::StrCat("Failed to parse body into Call protobuf: ", st.message())));
  }
  if (call.type() == Call::SUBSCRIBE) {
    auto accepted = Negotiate(req.header("accept"));
    if (!accepted) {
      return r.Reply(Error(406, "Expecting 'Accept' to allow application/json or application/x-protobuf"));
    }
    auto sink = std::make_shared<HttpSchedulerSink>(*accepted);
    auto id = master_->Subscribe(call, sink);
    if (!id.ok()) {
      return r.Reply(Error(HttpStatusOf(id.status()),
                           absl::StrCat("Failed to subscribe: ", id.status().message())));
    }
    std::string framework_id = *id;
    std::string stream_id = UuidToString(NewUuidBytes());
    {
      std::lock_guard<std::mutex> lock(mu_);
      streams_[framework_id] = stream_id;
    }
    auto stream = r.Stream(200, MediaType(*accepted), {{"Mesos-Stream-Id", stream_id}});
    SchedulerSink* raw = sink.get();
    stream->OnClosed([this, framework_id, stream_id, raw] {
      {
        std::lock_guard<std::mutex> lock(mu_);
        auto it = streams_.find(framework_id);
        if (it != streams_.end() && it->second == stream_id) streams_.erase(it);
      }
      master_->SubscriberGone(framework_id, raw);
    });
    sink->Attach(std::move(stream));
    return;
  }
  const std::string& framework_id = call.framework_id().value();
  {
    std::lock_guard<std::mutex> lock(mu_);
    auto it = streams_.find(framework_id);
    if (it != streams_.end()) {
      const std::string& given = req.header("mesos-stream-id");
      if (given.empty()) {
        return r.Reply(Error(400, "All non-subscribe calls should include the 'Mesos-Stream-Id' header"));
      }
      if (given != it->second) {
        return r.Reply(Error(403, absl::StrCat("The stream ID '", given,
                                               "' included in this request didn't match the stream ID currently "
                                               "associated with framework ID ",
                                               framework_id)));
      }
    }
  }
  absl::Status st = master_->HandleCall(call);
  if (st.ok()) return r.Reply(Response::Text(202, ""));
  if (st.code() == absl::StatusCode::kInvalidArgument) {
    return r.Reply(Error(400, absl::StrCat("Failed to validate scheduler::Call: ", st.message())));
  }
  // The master names the framework first when it is the framework that is
  // unknown or disconnected; Mesos answers those with 403.
  if ((st.code() == absl::StatusCode::kNotFound || st.code() == absl::StatusCode::kFailedPrecondition) &&
      absl::StartsWith(st.message(), "framework '")) {
    return r.Reply(Error(403, absl::StrCat("Framework cannot be found or is not subscribed: ", st.message())));
  }
  r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
}

void MasterHttpApi::Operator(const Request& req, Responder& r) {
  using v1::master::Response;
  Format format = Format::kJson;
  if (auto bad = CheckPost(req, &format)) return r.Reply(std::move(*bad));
  v1::master::Call call;
  if (absl::Status st = Parse(req, format, &call); !st.ok()) {
    return r.Reply(Error(400, absl::StrCat("Failed to parse body into Call protobuf: ", st.message())));
  }
  auto accepted = Negotiate(req.header("accept"));
  if (!accepted) return r.Reply(Error(406, "Expecting 'Accept' to allow application/json or application/x-protobuf"));
  auto answer = [&](const Response& response) {
    http::Response res;
    res.content_type = MediaType(*accepted);
    res.body = Serialize(response, *accepted);
    r.Reply(std::move(res));
  };
  auto done = [&](const absl::Status& st) {
    if (st.ok()) return r.Reply(http::Response::Text(200, ""));
    r.Reply(Error(HttpStatusOf(st), std::string(st.message())));
  };
  auto need = [&](bool present, const char* field) {
    if (!present) {
      r.Reply(Error(400, absl::StrCat("Failed to validate master::Call: Expecting '", field, "' to be present")));
    }
    return present;
  };
  Response response;
  switch (call.type()) {
    case v1::master::Call::GET_HEALTH:
      response.set_type(Response::GET_HEALTH);
      response.mutable_get_health()->set_healthy(true);
      return answer(response);
    case v1::master::Call::GET_FLAGS:
      response.set_type(Response::GET_FLAGS);
      response.mutable_get_flags();
      for (const auto& [name, value] : master_->flags()) {
        auto* f = response.mutable_get_flags()->add_flags();
        f->set_name(name);
        f->set_value(value);
      }
      return answer(response);
    case v1::master::Call::GET_VERSION:
      response.set_type(Response::GET_VERSION);
      response.mutable_get_version()->mutable_version_info()->set_version(CORRAL_VERSION);
      return answer(response);
    case v1::master::Call::GET_METRICS:
      response.set_type(Response::GET_METRICS);
      for (const auto& [name, value] : master_->Metrics()) {
        auto* m = response.mutable_get_metrics()->add_metrics();
        m->set_name(name);
        m->set_value(value);
      }
      return answer(response);
    case v1::master::Call::GET_LOGGING_LEVEL:
      response.set_type(Response::GET_LOGGING_LEVEL);
      // glog verbosity: Corral logs at 0 unless --log_level=debug.
      response.mutable_get_logging_level()->set_level(GetLogLevel() == LogLevel::kDebug ? 1 : 0);
      return answer(response);
    case v1::master::Call::GET_STATE: {
      auto state = master_->GetState();
      response.set_type(Response::GET_STATE);
      auto* s = response.mutable_get_state();
      s->mutable_get_tasks();
      s->mutable_get_executors();
      s->mutable_get_frameworks();
      s->mutable_get_agents();
      FillTasks(state, s->mutable_get_tasks());
      FillExecutors(state, s->mutable_get_executors());
      FillFrameworks(state, s->mutable_get_frameworks());
      FillAgents(state, s->mutable_get_agents());
      return answer(response);
    }
    case v1::master::Call::GET_AGENTS:
      response.set_type(Response::GET_AGENTS);
      response.mutable_get_agents();
      FillAgents(master_->GetState(), response.mutable_get_agents());
      return answer(response);
    case v1::master::Call::GET_FRAMEWORKS:
      response.set_type(Response::GET_FRAMEWORKS);
      response.mutable_get_frameworks();
      FillFrameworks(master_->GetState(), response.mutable_get_frameworks());
      return answer(response);
    case v1::master::Call::GET_EXECUTORS:
      response.set_type(Response::GET_EXECUTORS);
      response.mutable_get_executors();
      FillExecutors(master_->GetState(), response.mutable_get_executors());
      return answer(response);
    case v1::master::Call::GET_TASKS:
      response.set_type(Response::GET_TASKS);
      response.mutable_get_tasks();
      FillTasks(master_->GetState(), response.mutable_get_tasks());
      return answer(response);
    case v1::master::Call::GET_ROLES:
    case v1::master::Call::GET_WEIGHTS: {
      // The same figures as /master/roles.
      auto state = master_->GetState();
      std::map<std::string, double> weights;
      auto flag = master_->flags().find("weights");
      if (flag != master_->flags().end()) {
        for (absl::string_view kv : absl::StrSplit(flag->second, ',', absl::SkipWhitespace())) {
          std::pair<std::string, std::string> p = absl::StrSplit(kv, '=');
          double w = 1;
          if (absl::SimpleAtod(p.second, &w)) weights[p.first] = w;
        }
      }
      if (call.type() == v1::master::Call::GET_WEIGHTS) {
        response.set_type(Response::GET_WEIGHTS);
        response.mutable_get_weights();
        for (const auto& [role, w] : weights) {
          auto* info = response.mutable_get_weights()->add_weight_infos();
          info->set_role(role);
          info->set_weight(w);
        }
        return answer(response);
      }
      std::map<std::string, v1::master::Role> roles;
      for (const auto& [role, w] : weights) roles[role].set_weight(w);
      for (const auto& f : state.frameworks()) {
        const auto& info = f.framework_info();
        std::vector<std::string> names(info.roles().begin(), info.roles().end());
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wdeprecated-declarations"
        if (names.empty()) names.push_back(info.role());
#pragma GCC diagnostic pop
        for (const std::string& n : names) *roles[n].add_frameworks() = info.id();
      }
      response.set_type(Response::GET_ROLES);
      response.mutable_get_roles();
      for (auto& [name, role] : roles) {
        role.set_name(name);
        if (!role.has_weight()) role.set_weight(1);
        *response.mutable_get_roles()->add_roles() = role;
      }
      return answer(response);
    }
    case v1::master::Call::GET_MASTER: {
      response.set_type(Response::GET_MASTER);
      auto* m = response.mutable_get_master();
      *m->mutable_master_info() = master_->info();
      m->set_start_time(master_->start_time());
      m->set_elected_time(master_->start_time());
      return answer(response);
    }
    case v1::master::Call::GET_MAINTENANCE_STATUS:
      response.set_type(Response::GET_MAINTENANCE_STATUS);
      *response.mutable_get_maintenance_status()->mutable_status() = master_->GetMaintenanceStatus();
      return answer(response);
    case v1::master::Call::GET_MAINTENANCE_SCHEDULE:
      response.set_type(Response::GET_MAINTENANCE_SCHEDULE);
      *response.mutable_get_maintenance_schedule()->mutable_schedule() = master_->GetMaintenanceSchedule();
      return answer(response);
    case v1::master::Call::UPDATE_MAINTENANCE_SCHEDULE:
      if (!need(call.update_maintenance_schedule().has_schedule(), "update_maintenance_schedule.schedule")) return;
      return done(master_->UpdateMaintenanceSchedule(call.update_maintenance_schedule().schedule()));
    case v1::master::Call::START_MAINTENANCE:
      if (!need(call.has_start_maintenance(), "start_maintenance")) return;
      return done(master_->StartMaintenance(
          {call.start_maintenance().machines().begin(), call.start_maintenance().machines().end()}));
    case v1::master::Call::STOP_MAINTENANCE:
      if (!need(call.has_stop_maintenance(), "stop_maintenance")) return;
      return done(master_->StopMaintenance(
          {call.stop_maintenance().machines().begin(), call.stop_maintenance().machines().end()}));
    case v1::master::Call::DRAIN_AGENT: {
      if (!need(call.drain_agent().agent_id().has_value(), "drain_agent.agent_id")) return;
      v1::DrainConfig config;
      if (call.drain_agent().has_max_grace_period()) {
        *config.mutable_max_grace_period() = call.drain_agent().max_grace_period();
      }
      config.set_mark_gone(call.drain_agent().mark_gone());
      return done(master_->DrainAgent(call.drain_agent().agent_id().value(), config));
    }
    case v1::master::Call::REACTIVATE_AGENT:
      if (!need(call.reactivate_agent().agent_id().has_value(), "reactivate_agent.agent_id")) return;
      return done(master_->ReactivateAgent(call.reactivate_agent().agent_id().value()));
    case v1::master::Call::MARK_AGENT_GONE:
      if (!need(call.mark_agent_gone().agent_id().has_value(), "mark_agent_gone.agent_id")) return;
      return done(master_->MarkAgentGone(call.mark_agent_gone().agent_id().value()));
    case v1::master::Call::TEARDOWN:
      if (!need(call.teardown().framework_id().has_value(), "teardown.framework_id")) return;
      return done(master_->TeardownFramework(call.teardown().framework_id().value()));
    case v1::master::Call::UNKNOWN:
      return r.Reply(Error(400, "Failed to validate master::Call: Expecting 'type' to be present"));
    default:
      return r.Reply(Error(501, absl::StrCat("Call ", v1::master::Call::Type_Name(call.type()),
                                             " is not served by Corral yet; see docs/mesos-compatibility.md")));
  }
}

}  // namespace corral
