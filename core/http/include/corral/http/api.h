// What the Mesos v1 HTTP APIs (scheduler, executor, operator; master and
// agent) have in common: content negotiation, JSON or protobuf bodies, the
// error replies Mesos gives, RecordIO event streams, and the flags, version
// and metrics documents.
//
// Threading: all functions are pure; RecordIOSink is safe to call from any
// thread.
#pragma once

#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "corral/http/recordio.h"
#include "corral/auth/policy.h"
#include "corral/http/server.h"
#include "google/protobuf/message.h"

namespace corral::http {

inline constexpr char kJson[] = "application/json";
inline constexpr char kProtobuf[] = "application/x-protobuf";

enum class Format { kJson, kProtobuf };

const char* MediaType(Format f);
// The response format an Accept header allows, JSON first (as Mesos);
// nullopt when it allows neither (406).
std::optional<Format> Negotiate(const std::string& accept);
// Protobuf's JSON mapping with the .proto field names, as Mesos prints it:
// 64-bit integers are numbers (see json_numbers.h).
std::string ToJson(const google::protobuf::Message& m);
std::string Serialize(const google::protobuf::Message& m, Format f);
// Parses a body as `f` says. As Mesos, unknown JSON fields are skipped;
// values of the wrong type are errors naming the field.
absl::Status Parse(const std::string& body, Format f, google::protobuf::Message* m);
Response Error(int status, const std::string& message);
// Authentication at the edge: sets *principal (nullopt where `access` needs
// none) or returns the 401, with its WWW-Authenticate challenge.
std::optional<Response> Authenticate(const auth::AuthenticationPolicy& policy, auth::Access access, const Request& req,
                                     std::optional<std::string>* principal);
// The checks every POST API makes first: the method (405), a Content-Type
// (400) of JSON or protobuf (415). Sets *format, or returns the refusal.
std::optional<Response> CheckPost(const Request& req, Format* format);
// Parses the body of a checked POST into `m` and negotiates the answer's
// format; returns the 400 or 406 refusal if either fails.
std::optional<Response> ParseCall(const Request& req, google::protobuf::Message* m, Format* accepted);
// A reply to a GET-only endpoint asked with another method, or nullopt.
std::optional<Response> CheckGet(const Request& req);
// The HTTP status for an absl::Status of a failed call.
int HttpStatusOf(const absl::Status& st);
// The answer to a call that returns a protobuf Response.
Response Answer(const google::protobuf::Message& m, Format f);

// "/master/tasks/" is "/master/tasks", as Mesos routes it; "/" stays "/".
std::string WithoutTrailingSlashes(const std::string& path);

// For GET endpoints: with ?jsonp=NAME, a JSON reply becomes the JavaScript
// `NAME(<json>);` (Mesos's web UI loads its data so). A NAME that is not a
// dotted JavaScript identifier is answered 400 at once, and bad() is true.
class JsonpResponder : public Responder {
 public:
  JsonpResponder(const Request& req, Responder& inner);
  bool bad() const { return bad_; }
  void Reply(Response response) override;
  void SendFile(Response head, int fd, uint64_t size) override { inner_.SendFile(std::move(head), fd, size); }
  std::shared_ptr<ResponseStream> Stream(int status, std::string content_type,
                                         std::vector<std::pair<std::string, std::string>> headers) override {
    return inner_.Stream(status, std::move(content_type), std::move(headers));
  }

 private:
  Responder& inner_;
  std::string callback_;
  bool bad_ = false;
};

// {"flags": {"name": "value", ...}}
std::string FlagsJson(const std::map<std::string, std::string>& flags);
// {"version": the Mesos version whose API Corral serves, "corral_version":
// Corral's own, "build_date", "build_time", "build_user", "git_*"}
std::string VersionJson(const std::string& corral_version);
// When this build was configured: seconds since the epoch, and as a date.
double BuildTime();
std::string BuildDate();
// {"metric/name": value, ...}
std::string MetricsJson(const std::map<std::string, double>& metrics);
// The bodies of GET_FLAGS and GET_METRICS, for the master's and the agent's
// operator Response types alike.
template <typename GetFlags>
void FillFlags(const std::map<std::string, std::string>& flags, GetFlags* out) {
  for (const auto& [name, value] : flags) {
    auto* f = out->add_flags();
    f->set_name(name);
    f->set_value(value);
  }
}
template <typename GetMetrics>
void FillMetrics(const std::map<std::string, double>& metrics, GetMetrics* out) {
  for (const auto& [name, value] : metrics) {
    auto* m = out->add_metrics();
    m->set_name(name);
    m->set_value(value);
  }
}
// GET_LOGGING_LEVEL's level, as glog's verbosity: Corral logs at 0 unless
// --log_level=debug.
uint32_t LoggingLevel();
// The Prometheus text format: "master/tasks_running" becomes
// master_tasks_running; names in `counters` are typed counter, others gauge.
std::string Prometheus(const std::map<std::string, double>& metrics, const std::set<std::string>& counters);

// An HTTP event subscription (scheduler, executor or operator): each event
// becomes a RecordIO record of a chunked response. Events sent before the
// response stream exists (SUBSCRIBED is queued while subscribing) wait for
// Attach.
template <typename SinkBase, typename EventType>
class RecordIOSink : public SinkBase {
 public:
  explicit RecordIOSink(Format format) : format_(format) {}
  bool Send(const EventType& event) override {
    std::string record = RecordIOFrame(Serialize(event, format_));
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
  void Attach(std::shared_ptr<ResponseStream> stream) {
    std::lock_guard<std::mutex> lock(mu_);
    stream_ = std::move(stream);
    for (std::string& r : pending_) stream_->Write(std::move(r));
    pending_.clear();
    if (closed_) stream_->Close();
  }

 private:
  Format format_;
  std::mutex mu_;
  std::shared_ptr<ResponseStream> stream_ ABSL_GUARDED_BY(mu_);
  std::vector<std::string> pending_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace corral::http
