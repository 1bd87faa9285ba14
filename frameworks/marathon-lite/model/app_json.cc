#include "model/app_json.h"

#include <algorithm>
#include <cmath>
#include <set>

#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "re2/re2.h"

namespace corral::marathon {
namespace {

// Reads fields of one JSON object, naming each wrong one.
class FieldReader {
 public:
  FieldReader(const rapidjson::Value& obj, std::vector<FieldError>* errors, std::string path)
      : obj_(obj), errors_(errors), path_(std::move(path)) {}

  const rapidjson::Value* Get(const char* key) const {
    auto it = obj_.FindMember(key);
    if (it == obj_.MemberEnd() || it->value.IsNull()) return nullptr;
    return &it->value;
  }
  void Error(const std::string& key, const std::string& msg) const { errors_->push_back({Path(key), msg}); }
  std::string Path(const std::string& key) const { return path_ + "/" + key; }

  void String(const char* key, std::string* out) const {
    if (const auto* v = Get(key)) {
      if (v->IsString()) {
        out->assign(v->GetString(), v->GetStringLength());
      } else {
        Error(key, "expected a string");
      }
    }
  }
  void OptString(const char* key, std::optional<std::string>* out) const {
    if (const auto* v = Get(key)) {
      if (v->IsString()) {
        *out = std::string(v->GetString(), v->GetStringLength());
      } else {
        Error(key, "expected a string");
      }
    }
  }
  void Number(const char* key, double* out, double min) const {
    if (const auto* v = Get(key)) {
      if (!v->IsNumber()) {
        Error(key, "expected a number");
      } else if (!std::isfinite(v->GetDouble()) || v->GetDouble() < min) {
        Error(key, absl::StrCat("got ", v->GetDouble(), ", expected ", min, " or more"));
      } else {
        *out = v->GetDouble();
      }
    }
  }
  void Int(const char* key, int* out, int min, int max = 1 << 30) const {
    if (const auto* v = Get(key)) {
      if (!v->IsInt()) {
        Error(key, "expected an integer");
      } else if (v->GetInt() < min || v->GetInt() > max) {
        Error(key, absl::StrCat("got ", v->GetInt(), ", expected ", min, " to ", max));
      } else {
        *out = v->GetInt();
      }
    }
  }
  void Bool(const char* key, bool* out) const {
    if (const auto* v = Get(key)) {
      if (v->IsBool()) {
        *out = v->GetBool();
      } else {
        Error(key, "expected a boolean");
      }
    }
  }
  void Strings(const char* key, std::vector<std::string>* out) const {
    if (const auto* v = Get(key)) {
      if (!v->IsArray()) return Error(key, "expected an array of strings");
      std::vector<std::string> items;
      for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
        if (!(*v)[i].IsString()) return Error(absl::StrCat(key, "(", i, ")"), "expected a string");
        items.emplace_back((*v)[i].GetString(), (*v)[i].GetStringLength());
      }
      *out = std::move(items);
    }
  }
  void StringMap(const char* key, std::map<std::string, std::string>* out) const {
    if (const auto* v = Get(key)) {
      if (!v->IsObject()) return Error(key, "expected an object of strings");
      std::map<std::string, std::string> items;
      for (const auto& m : v->GetObject()) {
        std::string name(m.name.GetString(), m.name.GetStringLength());
        if (!m.value.IsString()) {
          Error(absl::StrCat(key, "/", name), "expected a string");
          continue;
        }
        items[name] = std::string(m.value.GetString(), m.value.GetStringLength());
      }
      *out = std::move(items);
    }
  }

 private:
  const rapidjson::Value& obj_;
  std::vector<FieldError>* errors_;
  std::string path_;
};

const std::set<std::string>& ConstraintOperators() {
  static const auto* ops =
      new std::set<std::string>{"UNIQUE", "CLUSTER", "GROUP_BY", "LIKE", "UNLIKE", "MAX_PER", "IS"};
  return *ops;
}

void ReadConstraints(const FieldReader& r, const rapidjson::Value& v, std::vector<Constraint>* out) {
  if (!v.IsArray()) return r.Error("constraints", "expected an array of [field, operator, value?]");
  std::vector<Constraint> cs;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    std::string key = absl::StrCat("constraints(", i, ")");
    const auto& c = v[i];
    Constraint k;
    if (c.IsArray()) {
      if (c.Size() < 2 || c.Size() > 3) {
        r.Error(key, "expected [field, operator] or [field, operator, value]");
        continue;
      }
      bool strings = true;
      for (rapidjson::SizeType j = 0; j < c.Size(); ++j) strings = strings && c[j].IsString();
      if (!strings) {
        r.Error(key, "expected strings");
        continue;
      }
      k.field = c[0].GetString();
      k.op = c[1].GetString();
      if (c.Size() == 3) k.value = c[2].GetString();
    } else if (c.IsObject() && c.HasMember("fieldName") && c["fieldName"].IsString() && c.HasMember("operator") &&
               c["operator"].IsString()) {
      k.field = c["fieldName"].GetString();
      k.op = c["operator"].GetString();
      if (c.HasMember("value") && c["value"].IsString()) k.value = c["value"].GetString();
    } else {
      r.Error(key, "expected [field, operator, value?]");
      continue;
    }
    if (!ConstraintOperators().count(k.op)) {
      r.Error(key, "unknown operator " + k.op + " (one of UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS)");
      continue;
    }
    if (k.field.empty()) r.Error(key, "the field name is empty");
    bool needs_value = k.op == "LIKE" || k.op == "UNLIKE" || k.op == "MAX_PER" || k.op == "IS";
    if (needs_value && k.value.empty()) r.Error(key, k.op + " needs a value");
    if (k.op == "UNIQUE" && !k.value.empty()) r.Error(key, "UNIQUE takes no value");
    int n = 0;
    if ((k.op == "MAX_PER" || (k.op == "GROUP_BY" && !k.value.empty())) && (!absl::SimpleAtoi(k.value, &n) || n < 1)) {
      r.Error(key, k.op + " needs a positive integer, got '" + k.value + "'");
    }
    if ((k.op == "LIKE" || k.op == "UNLIKE") && !k.value.empty() && !RE2(k.value, RE2::Quiet).ok()) {
      r.Error(key, "'" + k.value + "' is not a valid regular expression");
    }
    cs.push_back(std::move(k));
  }
  *out = std::move(cs);
}

void ReadPortDefinitions(const FieldReader& r, const rapidjson::Value& v, std::vector<PortDefinition>* out,
                         std::vector<FieldError>* errors) {
  if (!v.IsArray()) return r.Error("portDefinitions", "expected an array");
  std::vector<PortDefinition> pds;
  for (rapidjson::SizeType i = 0; i < v.Size(); ++i) {
    std::string key = absl::StrCat("portDefinitions(", i, ")");
    if (!v[i].IsObject()) {
      r.Error(key, "expected an object");
      continue;
    }
    FieldReader p(v[i], errors, r.Path(key));
    PortDefinition pd;
    p.Int("port", &pd.port, 0, 65535);
    p.String("name", &pd.name);
    p.String("protocol", &pd.protocol);
    p.StringMap("labels", &pd.labels);
    if (pd.protocol != "tcp" && pd.protocol != "udp" && pd.protocol != "udp,tcp" && pd.protocol != "tcp,udp") {
      p.Error("protocol", "expected tcp, udp or udp,tcp");
    }
    pds.push_back(std::move(pd));
  }
  *out = std::move(pds);
}

}  // namespace

void ReadApp(const rapidjson::Value& json, App* app, std::vector<FieldError>* errors, bool stored,
             const std::string& path) {
  if (!json.IsObject()) {
    errors->push_back({path.empty() ? "/" : path, "expected a JSON object"});
    return;
  }
  FieldReader r(json, errors, path);
  r.String("id", &app->id);
  r.OptString("cmd", &app->cmd);
  if (json.HasMember("cmd") && json["cmd"].IsNull()) app->cmd.reset();
  r.Strings("args", &app->args);
  r.String("user", &app->user);
  r.StringMap("env", &app->env);
  r.StringMap("labels", &app->labels);
  r.Int("instances", &app->instances, 0);
  r.Number("cpus", &app->cpus, 0);
  r.Number("mem", &app->mem, 0);
  r.Number("disk", &app->disk, 0);
  r.Int("gpus", &app->gpus, 0);
  r.Bool("requirePorts", &app->require_ports);
  r.Number("backoffSeconds", &app->backoff_seconds, 0);
  r.Number("backoffFactor", &app->backoff_factor, 1);
  r.Number("maxLaunchDelaySeconds", &app->max_launch_delay_seconds, 0);
  r.String("killSelection", &app->kill_selection);
  if (app->kill_selection != "YOUNGEST_FIRST" && app->kill_selection != "OLDEST_FIRST") {
    r.Error("killSelection", "expected YOUNGEST_FIRST or OLDEST_FIRST");
  }
  r.Number("taskKillGracePeriodSeconds", &app->task_kill_grace_period_seconds, 0);
  r.Strings("dependencies", &app->dependencies);
  r.Strings("acceptedResourceRoles", &app->accepted_resource_roles);
  r.String("role", &app->role);
  r.String("executor", &app->executor);
  r.Number("progressDeadlineSeconds", &app->progress_deadline_seconds, 0);
  r.Bool("revertOnDeadline", &app->revert_on_deadline);
  r.Int("crashLoopLimit", &app->crash_loop_limit, 0);
  r.Int("canaryInstances", &app->canary_instances, 0);
  if (const auto* v = r.Get("constraints")) ReadConstraints(r, *v, &app->constraints);
  if (const auto* v = r.Get("portDefinitions")) ReadPortDefinitions(r, *v, &app->port_definitions, errors);
  if (const auto* v = r.Get("ports")) {  // the pre-1.0 form: service ports only
    if (!json.HasMember("portDefinitions")) {
      std::vector<PortDefinition> pds;
      if (!v->IsArray()) {
        r.Error("ports", "expected an array of integers");
      } else {
        for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
          if (!(*v)[i].IsInt() || (*v)[i].GetInt() < 0 || (*v)[i].GetInt() > 65535) {
            r.Error(absl::StrCat("ports(", i, ")"), "expected a port number");
            continue;
          }
          PortDefinition pd;
          pd.port = (*v)[i].GetInt();
          pds.push_back(pd);
        }
        app->port_definitions = std::move(pds);
      }
    }
  }
  if (const auto* v = r.Get("fetch")) {
    if (!v->IsArray()) {
      r.Error("fetch", "expected an array of {\"uri\": ...}");
    } else {
      std::vector<std::string> uris;
      for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
        const auto& f = (*v)[i];
        if (!f.IsObject() || !f.HasMember("uri") || !f["uri"].IsString()) {
          r.Error(absl::StrCat("fetch(", i, ")/uri"), "expected a string");
          continue;
        }
        uris.emplace_back(f["uri"].GetString());
      }
      app->fetch = std::move(uris);
    }
  } else if (r.Get("uris")) {
    r.Strings("uris", &app->fetch);
  }
  if (const auto* v = r.Get("upgradeStrategy")) {
    if (!v->IsObject()) {
      r.Error("upgradeStrategy", "expected an object");
    } else {
      FieldReader u(*v, errors, r.Path("upgradeStrategy"));
      u.Number("minimumHealthCapacity", &app->upgrade_strategy.minimum_health_capacity, 0);
      u.Number("maximumOverCapacity", &app->upgrade_strategy.maximum_over_capacity, 0);
    }
  }
  if (const auto* v = r.Get("unreachableStrategy")) {
    if (v->IsString() && std::string(v->GetString()) == "disabled") {
      app->unreachable_strategy = UnreachableStrategy{true, 0, 0};
    } else if (!v->IsObject()) {
      r.Error("unreachableStrategy", "expected \"disabled\" or an object");
    } else {
      app->unreachable_strategy.disabled = false;
      FieldReader u(*v, errors, r.Path("unreachableStrategy"));
      u.Number("inactiveAfterSeconds", &app->unreachable_strategy.inactive_after_seconds, 0);
      u.Number("expungeAfterSeconds", &app->unreachable_strategy.expunge_after_seconds, 0);
    }
  }
  if (const auto* v = r.Get("healthChecks")) {
    if (!v->IsArray()) {
      r.Error("healthChecks", "expected an array");
    } else {
      std::vector<HealthCheck> hcs;
      for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
        std::string key = absl::StrCat("healthChecks(", i, ")");
        if (!(*v)[i].IsObject()) {
          r.Error(key, "expected an object");
          continue;
        }
        FieldReader h((*v)[i], errors, r.Path(key));
        HealthCheck hc;
        h.String("protocol", &hc.protocol);
        h.String("path", &hc.path);
        h.Int("portIndex", &hc.port_index, 0);
        h.Int("port", &hc.port, 0, 65535);
        if (const auto* c = h.Get("command")) {
          if (c->IsObject() && c->HasMember("value") && (*c)["value"].IsString()) {
            hc.command = (*c)["value"].GetString();
          } else {
            h.Error("command", "expected {\"value\": \"...\"}");
          }
        }
        h.Number("gracePeriodSeconds", &hc.grace_period_seconds, 0);
        h.Number("intervalSeconds", &hc.interval_seconds, 0);
        h.Number("timeoutSeconds", &hc.timeout_seconds, 0);
        h.Number("delaySeconds", &hc.delay_seconds, 0);
        h.Int("maxConsecutiveFailures", &hc.max_consecutive_failures, 0);
        h.Bool("ignoreHttp1xx", &hc.ignore_http1xx);
        static const std::set<std::string> protocols = {"HTTP",       "HTTPS",       "TCP",      "COMMAND",
                                                        "MESOS_HTTP", "MESOS_HTTPS", "MESOS_TCP"};
        if (!protocols.count(hc.protocol)) {
          h.Error("protocol", "expected one of HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP");
        }
        if (hc.protocol == "COMMAND" && hc.command.empty()) h.Error("command", "a COMMAND check needs a command");
        hcs.push_back(std::move(hc));
      }
      app->health_checks = std::move(hcs);
    }
  }
  if (const auto* v = r.Get("readinessChecks")) {
    if (!v->IsArray()) {
      r.Error("readinessChecks", "expected an array");
    } else {
      std::vector<ReadinessCheck> rcs;
      for (rapidjson::SizeType i = 0; i < v->Size(); ++i) {
        std::string key = absl::StrCat("readinessChecks(", i, ")");
        if (!(*v)[i].IsObject()) {
          r.Error(key, "expected an object");
          continue;
        }
        FieldReader c((*v)[i], errors, r.Path(key));
        ReadinessCheck rc;
        c.String("name", &rc.name);
        c.String("protocol", &rc.protocol);
        c.String("path", &rc.path);
        c.String("portName", &rc.port_name);
        c.Number("intervalSeconds", &rc.interval_seconds, 0);
        c.Number("timeoutSeconds", &rc.timeout_seconds, 0);
        if (const auto* codes = c.Get("httpStatusCodesForReady")) {
          std::vector<int> list;
          if (codes->IsArray()) {
            for (const auto& code : codes->GetArray()) {
              if (code.IsInt() && code.GetInt() >= 100 && code.GetInt() <= 599) list.push_back(code.GetInt());
            }
          }
          if (list.empty() || !codes->IsArray() || list.size() != codes->Size()) {
            c.Error("httpStatusCodesForReady", "expected an array of HTTP status codes");
          } else {
            rc.http_status_codes_for_ready = std::move(list);
          }
        }
        if (rc.protocol != "HTTP" && rc.protocol != "HTTPS") c.Error("protocol", "expected HTTP or HTTPS");
        rcs.push_back(std::move(rc));
      }
      app->readiness_checks = std::move(rcs);
    }
  }
  for (const char* unsupported : {"container", "secrets", "residency"}) {
    const auto* v = r.Get(unsupported);
    if (v == nullptr) continue;
    bool empty = (v->IsArray() && v->Empty()) || (v->IsObject() && v->ObjectEmpty());
    if (!empty) r.Error(unsupported, "not supported by this version of marathon-lite");
  }
  if (stored) {
    r.String("version", &app->version);
    if (const auto* v = r.Get("versionInfo"); v != nullptr && v->IsObject()) {
      FieldReader vi(*v, errors, r.Path("versionInfo"));
      vi.String("lastScalingAt", &app->last_scaling_at);
      vi.String("lastConfigChangeAt", &app->last_config_change_at);
    }
  }
}

void ValidateApp(const App& app, std::vector<FieldError>* errors, const std::string& path) {
  auto err = [&](const std::string& field, const std::string& msg) { errors->push_back({path + field, msg}); };
  if (!ValidId(app.id)) {
    err("/id",
        "'" + app.id +
            "' is not a valid path: segments of lowercase letters, digits, '-' and '.', starting and ending with a "
            "letter or digit");
  }
  if (app.cmd.has_value() == !app.args.empty() || (app.cmd && app.cmd->empty())) {
    err("/", "AppDefinition must contain one of 'cmd' or 'args', not both");
  }
  const auto& u = app.upgrade_strategy;
  if (u.minimum_health_capacity > 1) err("/upgradeStrategy/minimumHealthCapacity", "expected 0 to 1");
  if (u.maximum_over_capacity > 1) err("/upgradeStrategy/maximumOverCapacity", "expected 0 to 1");
  std::set<int> ports;
  std::set<std::string> names;
  for (size_t i = 0; i < app.port_definitions.size(); ++i) {
    const auto& pd = app.port_definitions[i];
    if (pd.port != 0 && !ports.insert(pd.port).second) {
      err(absl::StrCat("/portDefinitions(", i, ")/port"), absl::StrCat("port ", pd.port, " is given twice"));
    }
    if (!pd.name.empty() && !names.insert(pd.name).second) {
      err(absl::StrCat("/portDefinitions(", i, ")/name"), "port name " + pd.name + " is given twice");
    }
  }
  if (app.require_ports && !ports.empty() && ports.size() != app.port_definitions.size()) {
    err("/requirePorts", "requirePorts needs a fixed port in every port definition");
  }
  if (app.health_checks.size() > 1) {
    err("/healthChecks", "at most one health check: it runs on the agent as the task's Mesos health check");
  }
  for (size_t i = 0; i < app.health_checks.size(); ++i) {
    const auto& hc = app.health_checks[i];
    if (hc.protocol != "COMMAND" && hc.port == 0 && static_cast<size_t>(hc.port_index) >= app.port_definitions.size()) {
      err(absl::StrCat("/healthChecks(", i, ")/portIndex"),
          absl::StrCat("portIndex ", hc.port_index, " names no port: the app has ", app.port_definitions.size()));
    }
  }
  if (app.readiness_checks.size() > 1) err("/readinessChecks", "at most one readiness check");
  for (size_t i = 0; i < app.readiness_checks.size(); ++i) {
    const auto& rc = app.readiness_checks[i];
    bool named = std::any_of(app.port_definitions.begin(), app.port_definitions.end(),
                             [&](const PortDefinition& pd) { return pd.name == rc.port_name; });
    if (!named) {
      err(absl::StrCat("/readinessChecks(", i, ")/portName"), "no port definition is named '" + rc.port_name + "'");
    }
  }
  if (!app.unreachable_strategy.disabled &&
      app.unreachable_strategy.expunge_after_seconds < app.unreachable_strategy.inactive_after_seconds) {
    err("/unreachableStrategy/expungeAfterSeconds", "must be at least inactiveAfterSeconds");
  }
}

void WriteApp(Writer& w, const App& a, const AppStatus* status, bool extensions) {
  w.StartObject();
  if (extensions) {
    w.Key("progressDeadlineSeconds");
    w.Double(a.progress_deadline_seconds);
    w.Key("revertOnDeadline");
    w.Bool(a.revert_on_deadline);
    w.Key("crashLoopLimit");
    w.Int(a.crash_loop_limit);
    w.Key("canaryInstances");
    w.Int(a.canary_instances);
  }
  w.Key("id");
  Str(w, a.id);
  w.Key("backoffFactor");
  w.Double(a.backoff_factor);
  w.Key("backoffSeconds");
  w.Double(a.backoff_seconds);
  if (a.cmd) {
    w.Key("cmd");
    Str(w, *a.cmd);
  }
  if (!a.args.empty()) {
    w.Key("args");
    StrList(w, a.args);
  }
  w.Key("constraints");
  w.StartArray();
  for (const auto& c : a.constraints) {
    w.StartArray();
    Str(w, c.field);
    Str(w, c.op);
    if (!c.value.empty()) Str(w, c.value);
    w.EndArray();
  }
  w.EndArray();
  w.Key("cpus");
  w.Double(a.cpus);
  w.Key("dependencies");
  StrList(w, a.dependencies);
  w.Key("disk");
  w.Double(a.disk);
  w.Key("env");
  StrMap(w, a.env);
  w.Key("executor");
  Str(w, a.executor);
  w.Key("fetch");
  w.StartArray();
  for (const auto& uri : a.fetch) {
    w.StartObject();
    w.Key("uri");
    Str(w, uri);
    w.Key("extract");
    w.Bool(true);
    w.Key("executable");
    w.Bool(false);
    w.Key("cache");
    w.Bool(false);
    w.EndObject();
  }
  w.EndArray();
  w.Key("gpus");
  w.Int(a.gpus);
  w.Key("healthChecks");
  w.StartArray();
  for (const auto& hc : a.health_checks) {
    w.StartObject();
    w.Key("protocol");
    Str(w, hc.protocol);
    if (hc.protocol == "COMMAND") {
      w.Key("command");
      w.StartObject();
      w.Key("value");
      Str(w, hc.command);
      w.EndObject();
    } else {
      if (hc.protocol.find("HTTP") != std::string::npos) {
        w.Key("path");
        Str(w, hc.path);
        w.Key("ignoreHttp1xx");
        w.Bool(hc.ignore_http1xx);
      }
      if (hc.port != 0) {
        w.Key("port");
        w.Int(hc.port);
      } else {
        w.Key("portIndex");
        w.Int(hc.port_index);
      }
    }
    w.Key("gracePeriodSeconds");
    w.Double(hc.grace_period_seconds);
    w.Key("intervalSeconds");
    w.Double(hc.interval_seconds);
    w.Key("timeoutSeconds");
    w.Double(hc.timeout_seconds);
    w.Key("delaySeconds");
    w.Double(hc.delay_seconds);
    w.Key("maxConsecutiveFailures");
    w.Int(hc.max_consecutive_failures);
    w.EndObject();
  }
  w.EndArray();
  w.Key("readinessChecks");
  w.StartArray();
  for (const auto& rc : a.readiness_checks) {
    w.StartObject();
    w.Key("name");
    Str(w, rc.name);
    w.Key("protocol");
    Str(w, rc.protocol);
    w.Key("path");
    Str(w, rc.path);
    w.Key("portName");
    Str(w, rc.port_name);
    w.Key("intervalSeconds");
    w.Double(rc.interval_seconds);
    w.Key("timeoutSeconds");
    w.Double(rc.timeout_seconds);
    w.Key("httpStatusCodesForReady");
    w.StartArray();
    for (int c : rc.http_status_codes_for_ready) w.Int(c);
    w.EndArray();
    w.Key("preserveLastResponse");
    w.Bool(false);
    w.EndObject();
  }
  w.EndArray();
  w.Key("instances");
  w.Int(a.instances);
  w.Key("killSelection");
  Str(w, a.kill_selection);
  w.Key("labels");
  StrMap(w, a.labels);
  w.Key("maxLaunchDelaySeconds");
  w.Double(a.max_launch_delay_seconds);
  w.Key("mem");
  w.Double(a.mem);
  w.Key("networks");
  w.StartArray();
  w.StartObject();
  w.Key("mode");
  w.String("host");
  w.EndObject();
  w.EndArray();
  w.Key("portDefinitions");
  w.StartArray();
  for (const auto& pd : a.port_definitions) {
    w.StartObject();
    w.Key("port");
    w.Int(pd.port);
    w.Key("protocol");
    Str(w, pd.protocol);
    if (!pd.name.empty()) {
      w.Key("name");
      Str(w, pd.name);
    }
    if (!pd.labels.empty()) {
      w.Key("labels");
      StrMap(w, pd.labels);
    }
    w.EndObject();
  }
  w.EndArray();
  w.Key("requirePorts");
  w.Bool(a.require_ports);
  if (!a.role.empty()) {
    w.Key("role");
    Str(w, a.role);
  }
  if (!a.accepted_resource_roles.empty()) {
    w.Key("acceptedResourceRoles");
    StrList(w, a.accepted_resource_roles);
  }
  if (a.task_kill_grace_period_seconds > 0) {
    w.Key("taskKillGracePeriodSeconds");
    w.Double(a.task_kill_grace_period_seconds);
  }
  w.Key("upgradeStrategy");
  w.StartObject();
  w.Key("maximumOverCapacity");
  w.Double(a.upgrade_strategy.maximum_over_capacity);
  w.Key("minimumHealthCapacity");
  w.Double(a.upgrade_strategy.minimum_health_capacity);
  w.EndObject();
  w.Key("unreachableStrategy");
  if (a.unreachable_strategy.disabled) {
    w.String("disabled");
  } else {
    w.StartObject();
    w.Key("inactiveAfterSeconds");
    w.Double(a.unreachable_strategy.inactive_after_seconds);
    w.Key("expungeAfterSeconds");
    w.Double(a.unreachable_strategy.expunge_after_seconds);
    w.EndObject();
  }
  if (!a.user.empty()) {
    w.Key("user");
    Str(w, a.user);
  }
  w.Key("version");
  Str(w, a.version);
  w.Key("versionInfo");
  w.StartObject();
  w.Key("lastScalingAt");
  Str(w, a.last_scaling_at);
  w.Key("lastConfigChangeAt");
  Str(w, a.last_config_change_at);
  w.EndObject();
  if (status != nullptr) {
    w.Key("tasksStaged");
    w.Int(status->staged);
    w.Key("tasksRunning");
    w.Int(status->running);
    w.Key("tasksHealthy");
    w.Int(status->healthy);
    w.Key("tasksUnhealthy");
    w.Int(status->unhealthy);
    w.Key("deployments");
    w.StartArray();
    for (const auto& d : status->deployments) {
      w.StartObject();
      w.Key("id");
      Str(w, d);
      w.EndObject();
    }
    w.EndArray();
    if (status->readiness) {
      w.Key("readinessCheckResults");
      w.StartArray();
      for (const auto& [task_id, ready] : status->readiness_results) {
        w.StartObject();
        w.Key("name");
        Str(w, a.readiness_checks.empty() ? "readinessCheck" : a.readiness_checks.front().name);
        w.Key("taskId");
        Str(w, task_id);
        w.Key("ready");
        w.Bool(ready);
        w.EndObject();
      }
      w.EndArray();
    }
    if (status->tasks != nullptr) {
      w.Key("tasks");
      w.StartArray();
      for (const auto& t : *status->tasks) WriteTask(w, t);
      w.EndArray();
    }
  }
  w.EndObject();
}

void WriteTask(Writer& w, const Task& t, bool stored) {
  w.StartObject();
  w.Key("id");
  Str(w, t.id);
  w.Key("appId");
  Str(w, t.app_id);
  w.Key("host");
  Str(w, t.host);
  w.Key("slaveId");
  Str(w, t.agent_id);
  w.Key("ports");
  w.StartArray();
  for (int p : t.ports) w.Int(p);
  w.EndArray();
  w.Key("servicePorts");
  w.StartArray();
  for (int p : t.service_ports) w.Int(p);
  w.EndArray();
  w.Key("stagedAt");
  Str(w, t.staged_at);
  if (!t.started_at.empty()) {
    w.Key("startedAt");
    Str(w, t.started_at);
  }
  w.Key("state");
  Str(w, t.state);
  w.Key("version");
  Str(w, t.version);
  w.Key("ipAddresses");
  w.StartArray();
  w.EndArray();
  w.Key("localVolumes");
  w.StartArray();
  w.EndArray();
  w.Key("healthCheckResults");
  w.StartArray();
  if (t.healthy.has_value()) {
    w.StartObject();
    w.Key("alive");
    w.Bool(*t.healthy);
    w.Key("consecutiveFailures");
    w.Int(t.consecutive_failures);
    w.Key("firstSuccess");
    OptStr(w, t.first_success);
    w.Key("lastFailure");
    OptStr(w, t.last_failure);
    w.Key("lastSuccess");
    OptStr(w, t.last_success);
    w.Key("lastFailureCause");
    OptStr(w, t.last_failure_cause);
    w.Key("instanceId");
    Str(w, t.id);
    w.EndObject();
  }
  w.EndArray();
  if (stored) {
    w.Key("killing");
    w.Bool(t.killing);
    w.Key("unreachableSince");
    Str(w, t.unreachable_since);
    w.Key("attributes");
    StrMap(w, t.attributes);
    w.Key("health");
    w.StartObject();
    w.Key("firstSuccess");
    Str(w, t.first_success);
    w.Key("lastSuccess");
    Str(w, t.last_success);
    w.Key("lastFailure");
    Str(w, t.last_failure);
    w.Key("lastFailureCause");
    Str(w, t.last_failure_cause);
    w.Key("consecutiveFailures");
    w.Int(t.consecutive_failures);
    w.EndObject();
    w.Key("ready");
    w.Bool(t.ready);
    if (t.healthy) {
      w.Key("healthy");
      w.Bool(*t.healthy);
    }
  }
  w.EndObject();
}

bool ReadTask(const rapidjson::Value& json, Task* t) {
  if (!json.IsObject()) return false;
  std::vector<FieldError> errors;
  FieldReader r(json, &errors, "");
  r.String("id", &t->id);
  r.String("appId", &t->app_id);
  r.String("host", &t->host);
  r.String("slaveId", &t->agent_id);
  r.String("stagedAt", &t->staged_at);
  r.String("startedAt", &t->started_at);
  r.String("state", &t->state);
  r.String("version", &t->version);
  r.Bool("killing", &t->killing);
  r.String("unreachableSince", &t->unreachable_since);
  r.StringMap("attributes", &t->attributes);
  r.Bool("ready", &t->ready);
  if (const auto* h = r.Get("health"); h != nullptr && h->IsObject()) {
    FieldReader hr(*h, &errors, "/health");
    hr.String("firstSuccess", &t->first_success);
    hr.String("lastSuccess", &t->last_success);
    hr.String("lastFailure", &t->last_failure);
    hr.String("lastFailureCause", &t->last_failure_cause);
    hr.Int("consecutiveFailures", &t->consecutive_failures, 0);
  }
  if (const auto* h = r.Get("healthy"); h != nullptr && h->IsBool()) t->healthy = h->GetBool();
  for (auto [key, out] : {std::pair{"ports", &t->ports}, std::pair{"servicePorts", &t->service_ports}}) {
    if (const auto* v = r.Get(key); v != nullptr && v->IsArray()) {
      for (const auto& p : v->GetArray()) {
        if (p.IsInt()) out->push_back(p.GetInt());
      }
    }
  }
  return errors.empty() && !t->id.empty();
}

void WriteGroup(Writer& w, const std::string& id, const std::string& version, const std::function<void()>& apps,
                const std::function<void()>& groups) {
  w.StartObject();
  w.Key("id");
  Str(w, id);
  w.Key("apps");
  w.StartArray();
  apps();
  w.EndArray();
  w.Key("groups");
  w.StartArray();
  groups();
  w.EndArray();
  w.Key("pods");
  w.StartArray();
  w.EndArray();
  w.Key("dependencies");
  w.StartArray();
  w.EndArray();
  w.Key("version");
  Str(w, version);
  w.EndObject();
}

std::string AppJson(const App& app) {
  rapidjson::StringBuffer b;
  Writer w(b);
  WriteApp(w, app, nullptr, /*extensions=*/true);
  return std::string(b.GetString(), b.GetSize());
}

std::string TaskJson(const Task& task) {
  rapidjson::StringBuffer b;
  Writer w(b);
  WriteTask(w, task, true);
  return std::string(b.GetString(), b.GetSize());
}

std::optional<App> ParseStoredApp(const std::string& json) {
  rapidjson::Document doc;
  doc.Parse(json.c_str());
  if (doc.HasParseError()) return std::nullopt;
  App app;
  app.port_definitions.clear();
  std::vector<FieldError> errors;
  ReadApp(doc, &app, &errors, /*stored=*/true);
  if (!errors.empty()) return std::nullopt;
  return app;
}

}  // namespace corral::marathon
