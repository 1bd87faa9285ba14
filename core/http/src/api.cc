#include "corral/http/api.h"

#include <algorithm>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "corral/common/logging.h"
#include "corral/common/version.h"
#include "corral/http/json_numbers.h"
#include "google/protobuf/struct.pb.h"
#include "google/protobuf/util/json_util.h"

namespace corral::http {
namespace {

// "application/json; charset=utf-8" -> "application/json"
std::string Essence(const std::string& value) {
  std::string v = value.substr(0, value.find(';'));
  absl::StripAsciiWhitespace(&v);
  return absl::AsciiStrToLower(v);
}

// Lenient parsing drops an enum string this schema lacks, as it drops an
// unknown key, so `{"type": "SUBSCRIBE_X"}` would read as a call without a
// type. The call's own type is worth a precise refusal: it names the value.
absl::Status CheckCallType(const std::string& body, const google::protobuf::Message& m) {
  const auto* field = m.GetDescriptor()->FindFieldByName("type");
  if (field == nullptr || field->type() != google::protobuf::FieldDescriptor::TYPE_ENUM) return absl::OkStatus();
  if (m.GetReflection()->HasField(m, field)) return absl::OkStatus();
  google::protobuf::Struct raw;
  google::protobuf::util::JsonParseOptions options;
  options.ignore_unknown_fields = true;
  if (!google::protobuf::util::JsonStringToMessage(body, &raw, options).ok()) return absl::OkStatus();
  auto it = raw.fields().find("type");
  if (it == raw.fields().end() || !it->second.has_string_value()) return absl::OkStatus();
  const std::string& value = it->second.string_value();
  if (field->enum_type()->FindValueByName(value) != nullptr) return absl::OkStatus();
  return absl::InvalidArgumentError(absl::StrCat("'type' has no value '", value, "' in ", m.GetDescriptor()->name()));
}

}  // namespace

uint32_t LoggingLevel() { return GetLogLevel() == LogLevel::kDebug ? 1 : 0; }

const char* MediaType(Format f) { return f == Format::kJson ? kJson : kProtobuf; }

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
  // Most messages have no 64-bit integer set: only a value that is a
  // quoted number (after ':', '[' or ',') can be one.
  for (size_t i = out.find('"'); i != std::string::npos && i + 1 < out.size(); i = out.find('"', i + 1)) {
    char before = i > 0 ? out[i - 1] : '\0';
    char first = out[i + 1];
    if ((before == ':' || before == '[' || before == ',') && (first == '-' || (first >= '0' && first <= '9'))) {
      return Unquote64(out, m.GetDescriptor());
    }
  }
  return out;
}

std::string Serialize(const google::protobuf::Message& m, Format f) {
  return f == Format::kJson ? ToJson(m) : m.SerializeAsString();
}

absl::Status Parse(const std::string& body, Format f, google::protobuf::Message* m) {
  if (f == Format::kProtobuf) {
    if (!m->ParseFromString(body)) return absl::InvalidArgumentError("the body is not a valid protobuf message");
    return absl::OkStatus();
  }
  google::protobuf::util::JsonParseOptions options;
  // As Mesos: clients send fields of older and newer Mesos versions (`slave_id`
  // beside `agent_id`, `offer_filters`); a key this schema lacks is skipped.
  // Wrong types and malformed values are still refused.
  options.ignore_unknown_fields = true;
  auto st = google::protobuf::util::JsonStringToMessage(body, m, options);
  if (!st.ok()) {
    std::string why(st.message());
    why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
    return absl::InvalidArgumentError(why);
  }
  return CheckCallType(body, *m);
}

Response Error(int status, const std::string& message) { return Response::Text(status, message); }

std::optional<Response> Authenticate(const auth::AuthenticationPolicy& policy, auth::Access access, const Request& req,
                                     std::optional<std::string>* principal) {
  auto checked = policy.Check(access, req.header("authorization"), req.peer);
  if (checked.ok()) {
    *principal = std::move(*checked);
    return std::nullopt;
  }
  Response r = Error(401, absl::StrCat("Unauthorized: ", checked.status().message()));
  r.headers.emplace_back("WWW-Authenticate", auth::kBasicChallenge);
  return r;
}

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
    return Error(
        415, absl::StrCat("Expecting 'Content-Type' of application/json or application/x-protobuf, got '", type, "'"));
  }
  return std::nullopt;
}

std::optional<Response> ParseCall(const Request& req, google::protobuf::Message* m, Format* accepted) {
  Format format = Format::kJson;
  if (auto bad = CheckPost(req, &format)) return bad;
  if (absl::Status st = Parse(req.body, format, m); !st.ok()) {
    return Error(400, absl::StrCat("Failed to parse body into Call protobuf: ", st.message()));
  }
  auto negotiated = Negotiate(req.header("accept"));
  if (!negotiated) return Error(406, "Expecting 'Accept' to allow application/json or application/x-protobuf");
  *accepted = *negotiated;
  return std::nullopt;
}

std::optional<Response> CheckGet(const Request& req) {
  if (req.method == "GET" || req.method == "HEAD") return std::nullopt;
  Response res = Error(405, absl::StrCat("Expecting a 'GET' request, received '", req.method, "'"));
  res.headers.emplace_back("Allow", "GET");
  return res;
}

int HttpStatusOf(const absl::Status& st) {
  switch (st.code()) {
    case absl::StatusCode::kInvalidArgument: return 400;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kFailedPrecondition: return 409;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kUnimplemented: return 501;
    default: return 500;
  }
}

Response Answer(const google::protobuf::Message& m, Format f) {
  Response res;
  res.content_type = MediaType(f);
  res.body = Serialize(m, f);
  return res;
}

std::string FlagsJson(const std::map<std::string, std::string>& flags) {
  google::protobuf::Struct s;
  auto& fields = *s.mutable_fields();
  for (const auto& [k, v] : flags) fields[k].set_string_value(v);
  google::protobuf::Struct doc;
  *(*doc.mutable_fields())["flags"].mutable_struct_value() = s;
  return ToJson(doc);
}

std::string VersionJson(const std::string& corral_version) {
  google::protobuf::Struct v;
  auto& f = *v.mutable_fields();
  f["version"].set_string_value(kMesosVersion);
  f["corral_version"].set_string_value(corral_version);
  f["build_date"].set_string_value(CORRAL_BUILD_DATE);
  f["build_time"].set_number_value(CORRAL_BUILD_TIME);
  f["build_user"].set_string_value("");
  return ToJson(v);
}

double BuildTime() { return CORRAL_BUILD_TIME; }
std::string BuildDate() { return CORRAL_BUILD_DATE; }

std::string WithoutTrailingSlashes(const std::string& path) {
  size_t end = path.size();
  while (end > 1 && path[end - 1] == '/') --end;
  return path.substr(0, end);
}

JsonpResponder::JsonpResponder(const Request& req, Responder& inner) : inner_(inner) {
  for (const auto& [name, value] : req.query) {
    if (name == "jsonp") callback_ = value;
  }
  if (req.query.empty() || callback_.empty()) return;
  for (char c : callback_) {
    if (!absl::ascii_isalnum(static_cast<unsigned char>(c)) && c != '_' && c != '$' && c != '.') {
      bad_ = true;
      inner_.Reply(Error(400, absl::StrCat("'jsonp' must be a JavaScript function name, not '", callback_, "'")));
      return;
    }
  }
}

void JsonpResponder::Reply(Response response) {
  if (!callback_.empty() && absl::StartsWith(response.content_type, kJson)) {
    response.body = absl::StrCat(callback_, "(", response.body, ");");
    response.content_type = "text/javascript";
  }
  inner_.Reply(std::move(response));
}

std::string MetricsJson(const std::map<std::string, double>& metrics) {
  google::protobuf::Struct s;
  for (const auto& [k, v] : metrics) (*s.mutable_fields())[k].set_number_value(v);
  return ToJson(s);
}

std::string Prometheus(const std::map<std::string, double>& metrics, const std::set<std::string>& counters) {
  std::string out;
  for (const auto& [name, value] : metrics) {
    std::string p = absl::StrReplaceAll(name, {{"/", "_"}, {"-", "_"}, {".", "_"}});
    absl::StrAppend(&out, "# TYPE ", p, counters.count(name) ? " counter\n" : " gauge\n", p, " ", value, "\n");
  }
  return out;
}

}  // namespace corral::http
