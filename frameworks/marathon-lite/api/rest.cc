#include "api/rest.h"

#include <algorithm>
#include <functional>
#include <cmath>
#include <memory>
#include <set>
#include <tuple>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "absl/strings/ascii.h"
#include "model/app_json.h"
#include "planner/planner.h"

namespace corral::marathon {
namespace {

constexpr const char* kVersion = "1.10.17";  // the Marathon API this serves

using http::Response;

std::string Done(rapidjson::StringBuffer& b) { return std::string(b.GetString(), b.GetSize()); }

Response Message(int status, const std::string& message) { return Response::Json(MessageJson(message), status); }

Response Locked(const std::string& deployment_id) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key("message");
  Str(w,
      "App is locked by one or more deployments. Override with the option '?force=true'. View details at "
      "'/v2/deployments/" +
          deployment_id + "'.");
  w.Key("deployments");
  w.StartArray();
  w.StartObject();
  w.Key("id");
  Str(w, deployment_id);
  w.EndObject();
  w.EndArray();
  w.EndObject();
  return Response::Json(Done(b), 409);
}

Response FromStatus(const absl::Status& s) {
  switch (s.code()) {
    case absl::StatusCode::kNotFound: return Message(404, std::string(s.message()));
    case absl::StatusCode::kAlreadyExists: return Message(409, std::string(s.message()));
    case absl::StatusCode::kFailedPrecondition: return Locked(std::string(s.message()));
    case absl::StatusCode::kInvalidArgument: return Message(422, std::string(s.message()));
    default: return Message(503, std::string(s.message()));
  }
}

Response Change(const ChangeResult& r, int status = 200) {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key("version");
  Str(w, r.version);
  w.Key("deploymentId");
  Str(w, r.deployment_id);
  w.EndObject();
  Response resp = Response::Json(Done(b), status);
  if (!r.deployment_id.empty()) resp.headers.emplace_back("Marathon-Deployment-Id", r.deployment_id);
  return resp;
}

bool Flag(const http::Request& req, const char* name) {
  auto it = req.query.find(name);
  // Clients send "true", "True" (Python's str(True)) or nothing.
  return it != req.query.end() &&
         (absl::EqualsIgnoreCase(it->second, "true") || it->second == "1" || it->second.empty());
}

// embed=apps.tasks (or app.tasks, as clients send for /v2/apps too), any
// number of times or comma-separated: "tasks", "extensions", ...
std::set<std::string> Embeds(const http::Request& req) {
  std::set<std::string> out;
  for (const auto& [k, v] : req.query_list) {
    if (k != "embed") continue;
    for (absl::string_view e : absl::StrSplit(v, ',', absl::SkipEmpty())) {
      auto dot = e.find('.');
      out.emplace(dot == absl::string_view::npos ? e : e.substr(dot + 1));
    }
  }
  return out;
}

std::string Query(const http::Request& req, const char* name) {
  auto it = req.query.find(name);
  return it == req.query.end() ? "" : it->second;
}

// Parses a JSON body; 400 naming the problem when it is not JSON.
bool ParseBody(const http::Request& req, rapidjson::Document* doc, Response* error) {
  doc->Parse(req.body.c_str(), req.body.size());
  if (doc->HasParseError()) {
    *error = Response::Json(
        ErrorsJson("Invalid JSON", {{"/", absl::StrCat("not JSON at offset ", doc->GetErrorOffset())}}), 400);
    return false;
  }
  return true;
}

AppStatus StatusOf(const ServiceState& st, const AppEntry& e, bool embed_tasks, bool readiness,
                   std::vector<Task>* tasks) {
  AppStatus s;
  for (const auto& [id, t] : e.tasks) {
    if (t.killing || IsTerminalState(t.state)) continue;
    if (t.state == "TASK_RUNNING") {
      ++s.running;
      if (!e.app.health_checks.empty() && t.healthy.has_value()) ++(*t.healthy ? s.healthy : s.unhealthy);
    } else if (t.state == "TASK_STAGING" || t.state == "TASK_STARTING") {
      ++s.staged;
    }
    if (embed_tasks) tasks->push_back(t);
  }
  auto d = st.deployments.find(e.app.id);
  if (d != st.deployments.end()) s.deployments.push_back(d->second.id);
  s.readiness = readiness && !e.app.readiness_checks.empty();
  if (s.readiness) {
    for (const auto& [id, t] : e.tasks) {
      if (t.ready || t.readiness_status >= 0) s.readiness_results.emplace_back(id, t.ready);
    }
  }
  if (embed_tasks) s.tasks = tasks;
  return s;
}

void WriteAppWithStatus(Writer& w, const ServiceState& st, const AppEntry& e, bool embed_tasks, bool extensions = false,
                        bool readiness = false) {
  std::vector<Task> tasks;
  AppStatus s = StatusOf(st, e, embed_tasks, readiness, &tasks);
  WriteApp(w, e.app, &s, extensions);
}

std::string TasksJson(const std::vector<Task>& tasks, const char* key = "tasks") {
  rapidjson::StringBuffer b;
  Writer w(b);
  w.StartObject();
  w.Key(key);
  w.StartArray();
  for (const auto& t : tasks) WriteTask(w, t);
  w.EndArray();
  w.EndObject();
  return Done(b);
}

void WriteDeployment(Writer& w, const Deployment& d) {
  w.StartObject();
  w.Key("id");
  Str(w, d.id);
  w.Key("version");
  Str(w, d.version);
  w.Key("affectedApps");
  w.StartArray();
  Str(w, d.app_id);
  w.EndArray();
  w.Key("affectedPods");
  w.StartArray();
  w.EndArray();
  auto action = [&] {
    w.StartObject();
    w.Key("action");
    Str(w, d.action);
    w.Key("app");
    Str(w, d.app_id);
    w.EndObject();
  };
  w.Key("steps");
  w.StartArray();
  for (int i = 0; i < (d.canary ? 2 : 1); ++i) {
    w.StartObject();
    w.Key("actions");
    w.StartArray();
    action();
    w.EndArray();
    w.EndObject();
  }
  w.EndArray();
  w.Key("currentActions");
  w.StartArray();
  action();
  w.EndArray();
  // A canary deployment has two steps: the canaries, then the rest after
  // the promote.
  w.Key("currentStep");
  w.Int(1);
  w.Key("totalSteps");
  w.Int(d.canary ? 2 : 1);
  w.EndObject();
}

class Rest {
 public:
  Rest(Service* service, RestOptions options) : service_(service), options_(std::move(options)) {}

  Response Handle(const http::Request& req) {
    std::string path = req.path;
    while (path.size() > 1 && path.back() == '/') path.pop_back();
    const std::string& m = req.method;
    if (path == "/ping") return Response::Text(200, "pong\n");
    // The leader is this instance, as the client reached it.
    std::string leader = req.header("host").empty() ? options_.leader : req.header("host");
    if (path == "/v2/info" && m == "GET") return Info(leader);
    if (path == "/v2/leader" && m == "GET") return Leader(leader);
    if (path == "/metrics" && m == "GET") return Metrics();
    if (path == "/metrics/prometheus" && m == "GET") return Prometheus();
    if (path == "/v2/apps") {
      if (m == "GET") return ListApps(req);
      if (m == "POST") return CreateApp(req);
      if (m == "PUT" || m == "PATCH") return UpdateApps(req, Flag(req, "force"));
      return Message(405, "use GET, POST or PUT on /v2/apps");
    }
    if (absl::StartsWith(path, "/v2/apps/")) return AppRoute(req, path.substr(8));
    if (path == "/v2/groups" || absl::StartsWith(path, "/v2/groups/")) {
      std::string id = CanonicalId(path.size() > 10 ? path.substr(10) : "/");
      if (m == "GET" && (id == "/versions" || absl::EndsWith(id, "/versions"))) {
        return GroupVersions(CanonicalId(id.substr(0, id.size() - 9)));
      }
      if (m == "GET") return GetGroup(id);
      if (m == "POST") return PutGroup(req, id, /*create=*/true);
      if (m == "PUT" || m == "PATCH") return PutGroup(req, id, /*create=*/false);
      if (m == "DELETE") return DeleteGroup(id, Flag(req, "force"));
    }
    if (path == "/v2/tasks" && m == "GET") return ListTasks(req);
    if (path == "/v2/tasks/delete" && m == "POST") return DeleteTasks(req);
    if (path == "/v2/deployments" && m == "GET") return ListDeployments();
    if (absl::StartsWith(path, "/v2/deployments/") && absl::EndsWith(path, "/promote") && m == "POST") {
      auto r = service_->PromoteDeployment(path.substr(16, path.size() - 16 - 8));
      if (r.ok()) return Change(*r);
      if (r.status().code() == absl::StatusCode::kFailedPrecondition) {
        return Message(409, std::string(r.status().message()));
      }
      return FromStatus(r.status());
    }
    if (absl::StartsWith(path, "/v2/deployments/") && m == "DELETE") {
      return CancelDeployment(path.substr(16), Flag(req, "force"));
    }
    if (path == "/v2/queue" && m == "GET") return Queue();
    if (absl::StartsWith(path, "/v2/queue/") && absl::EndsWith(path, "/delay") && m == "DELETE") {
      auto s = service_->ResetDelay(CanonicalId(path.substr(9, path.size() - 9 - 6)));
      return s.ok() ? Response::Text(204, "") : FromStatus(s);
    }
    return Message(404, "no resource at " + req.method + " " + req.path);
  }

 private:
  Response AppRoute(const http::Request& req, const std::string& rest) {
    // "/prod/web[/restart|/tasks[/<task>]|/versions[/<v>]]"
    std::vector<std::string> segs = absl::StrSplit(rest, '/', absl::SkipEmpty());
    std::string sub, arg;
    for (size_t i = 1; i < segs.size(); ++i) {
      if (segs[i] == "restart" || segs[i] == "tasks" || segs[i] == "versions") {
        if (segs.size() - i > 2 || (segs[i] == "restart" && segs.size() - i > 1)) continue;
        sub = segs[i];
        if (i + 1 < segs.size()) arg = segs[i + 1];
        segs.resize(i);
        break;
      }
    }
    std::string id = CanonicalId(absl::StrJoin(segs, "/"));
    const std::string& m = req.method;
    bool force = Flag(req, "force");
    if (sub.empty()) {
      if (m == "GET") return GetApp(req, id);
      if (m == "PUT" || m == "PATCH") return UpdateApp(req, id, force);
      if (m == "DELETE") {
        auto r = service_->DeleteApp(id, force);
        return r.ok() ? Change(*r) : FromStatus(r.status());
      }
    } else if (sub == "restart" && m == "POST") {
      auto r = service_->RestartApp(id, force);
      return r.ok() ? Change(*r) : FromStatus(r.status());
    } else if (sub == "tasks") {
      if (m == "GET") return AppTasks(id);
      if (m == "DELETE") return KillAppTasks(req, id, arg);
    } else if (sub == "versions" && m == "GET") {
      if (arg.empty()) {
        auto v = service_->Versions(id);
        if (!v.ok()) return FromStatus(v.status());
        rapidjson::StringBuffer b;
        Writer w(b);
        w.StartObject();
        w.Key("versions");
        w.StartArray();
        for (auto it = v->rbegin(); it != v->rend(); ++it) Str(w, *it);
        w.EndArray();
        w.EndObject();
        return Response::Json(Done(b));
      }
      auto app = service_->Version(id, arg);
      if (!app.ok()) return FromStatus(app.status());
      return Response::Json(AppJson(*app));
    }
    return Message(405, req.method + " is not allowed on " + req.path);
  }

  Response ListApps(const http::Request& req) {
    std::set<std::string> embed = Embeds(req);
    bool tasks = embed.count("tasks") > 0;
    bool extensions = embed.count("extensions") > 0;
    bool readiness = embed.count("readiness") > 0;
    std::string cmd = Query(req, "cmd"), id = Query(req, "id"), label = Query(req, "label");
    return service_->Read([&](const ServiceState& st) {
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartObject();
      w.Key("apps");
      w.StartArray();
      for (const auto& [app_id, e] : st.apps) {
        if (!cmd.empty() && !(e.app.cmd && absl::StrContains(*e.app.cmd, cmd))) continue;
        if (!id.empty() && !absl::StrContains(app_id, id)) continue;
        if (!label.empty() && !MatchesLabel(e.app, label)) continue;
        WriteAppWithStatus(w, st, e, tasks, extensions, readiness);
      }
      w.EndArray();
      w.EndObject();
      return Response::Json(Done(b));
    });
  }

  // "key", "key==value" or "key!=value" (Marathon's label selector).
  static bool MatchesLabel(const App& app, const std::string& selector) {
    for (absl::string_view term : absl::StrSplit(selector, ',')) {
      std::string t(absl::StripAsciiWhitespace(term));
      auto eq = t.find("=="), ne = t.find("!=");
      if (eq != std::string::npos) {
        auto it = app.labels.find(t.substr(0, eq));
        if (it == app.labels.end() || it->second != t.substr(eq + 2)) return false;
      } else if (ne != std::string::npos) {
        auto it = app.labels.find(t.substr(0, ne));
        if (it != app.labels.end() && it->second == t.substr(ne + 2)) return false;
      } else if (!app.labels.count(t)) {
        return false;
      }
    }
    return true;
  }

  Response GetApp(const http::Request& req, const std::string& id) {
    std::set<std::string> embed = Embeds(req);
    bool extensions = embed.count("extensions") > 0;
    return service_->Read([&](const ServiceState& st) {
      auto it = st.apps.find(id);
      if (it == st.apps.end()) return Message(404, "App '" + id + "' does not exist");
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartObject();
      w.Key("app");
      // A single app shows its readiness results, as Marathon's does.
      WriteAppWithStatus(w, st, it->second, true, extensions, true);
      w.EndObject();
      return Response::Json(Done(b));
    });
  }

  Response CreateApp(const http::Request& req) {
    rapidjson::Document doc;
    Response err;
    if (!ParseBody(req, &doc, &err)) return err;
    App app;
    std::vector<FieldError> errors;
    ReadApp(doc, &app, &errors);
    app.id = CanonicalId(app.id);
    ValidateApp(app, &errors);
    if (!errors.empty()) return Response::Json(ErrorsJson("Object is not valid", errors), 422);
    auto r = service_->CreateApp(app);
    if (!r.ok()) return FromStatus(r.status());
    PublishApiPost(req, app);
    Response resp = service_->Read([&](const ServiceState& st) {
      rapidjson::StringBuffer b;
      Writer w(b);
      auto it = st.apps.find(app.id);
      if (it == st.apps.end()) return Message(409, "App '" + app.id + "' was deleted meanwhile");
      WriteAppWithStatus(w, st, it->second, false);
      return Response::Json(Done(b), 201);
    });
    resp.headers.emplace_back("Location", "/v2/apps" + app.id);
    resp.headers.emplace_back("Marathon-Deployment-Id", r->deployment_id);
    return resp;
  }

  Response UpdateApp(const http::Request& req, const std::string& id, bool force) {
    rapidjson::Document doc;
    Response err;
    if (!ParseBody(req, &doc, &err)) return err;
    std::optional<App> base = service_->Read([&](const ServiceState& st) -> std::optional<App> {
      auto it = st.apps.find(id);
      if (it == st.apps.end()) return std::nullopt;
      return it->second.app;
    });
    // {"version": v} alone rolls back to that version.
    if (doc.IsObject() && doc.MemberCount() == 1 && doc.HasMember("version") && doc["version"].IsString()) {
      auto r = service_->RollbackApp(id, doc["version"].GetString(), force);
      return r.ok() ? Change(*r) : FromStatus(r.status());
    }
    bool partial = Query(req, "partialUpdate") != "false" || req.method == "PATCH";
    App app = base && partial ? *base : App();
    if (base && !partial) {
      app.version = base->version;
      app.last_config_change_at = base->last_config_change_at;
    }
    std::vector<FieldError> errors;
    ReadApp(doc, &app, &errors);
    if (doc.IsObject() && doc.HasMember("id") && doc["id"].IsString() && CanonicalId(app.id) != id) {
      errors.push_back({"/id", "the id in the body (" + app.id + ") is not the app's (" + id + ")"});
    }
    app.id = id;
    if (doc.IsObject() && doc.HasMember("args") && doc.HasMember("cmd") == false && base && partial) app.cmd.reset();
    if (doc.IsObject() && doc.HasMember("cmd") && !doc.HasMember("args") && base && partial) app.args.clear();
    ValidateApp(app, &errors);
    if (!errors.empty()) return Response::Json(ErrorsJson("Object is not valid", errors), 422);
    auto r = service_->UpdateApp(app, force);
    if (!r.ok()) return FromStatus(r.status());
    PublishApiPost(req, app);
    return Change(*r, base ? 200 : 201);
  }

  // A group's versions: every stored version of the apps under it (a
  // group changes when one of its apps does), newest first.
  Response GroupVersions(const std::string& id) {
    auto apps = service_->Read([&](const ServiceState& st) {
      std::vector<std::string> out;
      for (const auto& [app_id, e] : st.apps) {
        if (Under(app_id, id)) out.push_back(app_id);
      }
      return out;
    });
    if (apps.empty() && id != "/") return Message(404, "Group '" + id + "' does not exist");
    std::set<std::string, std::greater<>> versions;
    for (const auto& app_id : apps) {
      auto v = service_->Versions(app_id);
      if (!v.ok()) continue;  // deleted meanwhile
      versions.insert(v->begin(), v->end());
    }
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartArray();
    for (const auto& v : versions) Str(w, v);
    w.EndArray();
    return Response::Json(Done(b));
  }

  // PUT /v2/apps: several apps changed at once (partial updates; an app
  // that does not exist is created), each deployed as PUT /v2/apps/{id}
  // would; the answer names the first app's deployment.
  Response UpdateApps(const http::Request& req, bool force) {
    rapidjson::Document doc;
    Response err;
    if (!ParseBody(req, &doc, &err)) return err;
    if (!doc.IsArray())
      return Response::Json(ErrorsJson("Object is not valid", {{"/", "expected an array of apps"}}), 422);
    bool partial = Query(req, "partialUpdate") != "false";
    std::vector<FieldError> errors;
    std::vector<App> changed;
    std::set<std::string> seen;
    for (rapidjson::SizeType i = 0; i < doc.Size(); ++i) {
      std::string p = absl::StrCat("/(", i, ")");
      const auto& json = doc[i];
      if (!json.IsObject() || !json.HasMember("id") || !json["id"].IsString()) {
        errors.push_back({p + "/id", "every app needs its id"});
        continue;
      }
      std::string id = CanonicalId(json["id"].GetString());
      if (!seen.insert(id).second) errors.push_back({p + "/id", "app " + id + " is named twice"});
      std::optional<App> base = service_->Read([&](const ServiceState& st) -> std::optional<App> {
        auto it = st.apps.find(id);
        if (it == st.apps.end()) return std::nullopt;
        return it->second.app;
      });
      App app = base && partial ? *base : App();
      ReadApp(json, &app, &errors, false, p);
      app.id = id;
      if (json.HasMember("args") && !json.HasMember("cmd") && base && partial) app.cmd.reset();
      if (json.HasMember("cmd") && !json.HasMember("args") && base && partial) app.args.clear();
      ValidateApp(app, &errors, p);
      changed.push_back(std::move(app));
    }
    if (!errors.empty()) return Response::Json(ErrorsJson("Object is not valid", errors), 422);
    if (std::string cycle = CycleWith(changed); !cycle.empty()) {
      return Response::Json(
          ErrorsJson("Object is not valid", {{"/", "Dependency graph has cyclic dependencies: " + cycle}}), 422);
    }
    std::string first = changed.empty() ? "" : changed.front().id;
    OrderByDependencies(&changed);
    ChangeResult first_result{Timestamp(absl::Now()), ""};
    for (const App& app : changed) {
      auto r = service_->UpdateApp(app, force);
      if (!r.ok()) return FromStatus(r.status());
      if (app.id == first) first_result = *r;
      PublishApiPost(req, app);
    }
    return Change(first_result);
  }

  // A dependency cycle that `changed` would make with the other apps, or "".
  std::string CycleWith(const std::vector<App>& changed) {
    std::map<std::string, App> resolved;
    for (App a : changed) {
      for (auto& d : a.dependencies) d = ResolveDependency(a.id, d);
      std::string id = a.id;
      resolved[id] = std::move(a);
    }
    return service_->Read([&](const ServiceState& st) {
      std::map<std::string, const App*> graph;
      for (const auto& [id, e] : st.apps) graph[id] = &e.app;
      for (const auto& [id, a] : resolved) graph[id] = &a;
      return DependencyCycle(graph);
    });
  }

  static bool Under(const std::string& app_id, const std::string& group) {
    return group == "/" || absl::StartsWith(app_id, group + "/");
  }

  // Marathon's group tree, made of the apps' paths.
  static void WriteGroupTree(Writer& w, const ServiceState& st, const std::string& id) {
    std::string prefix = id == "/" ? "/" : id + "/";
    auto first = st.apps.lower_bound(prefix);
    auto in_group = [&](auto it) { return it != st.apps.end() && absl::StartsWith(it->first, prefix); };
    std::set<std::string> children;
    std::string version;  // the group's: its newest app's
    for (auto it = first; in_group(it); ++it) {
      version = std::max(version, it->second.app.version);
      std::string rest = it->first.substr(prefix.size());
      if (auto slash = rest.find('/'); slash != std::string::npos) children.insert(prefix + rest.substr(0, slash));
    }
    WriteGroup(
        w, id, version,
        [&] {
          for (auto it = first; in_group(it); ++it) {
            if (it->first.find('/', prefix.size()) == std::string::npos) WriteAppWithStatus(w, st, it->second, false);
          }
        },
        [&] {
          for (const auto& c : children) WriteGroupTree(w, st, c);
        });
  }

  Response GetGroup(const std::string& id) {
    return service_->Read([&](const ServiceState& st) {
      bool any = id == "/";
      for (const auto& [app_id, e] : st.apps) any = any || Under(app_id, id);
      if (!any) return Message(404, "Group '" + id + "' does not exist");
      rapidjson::StringBuffer b;
      Writer w(b);
      WriteGroupTree(w, st, id);
      return Response::Json(Done(b));
    });
  }

  // Collects the apps of a group definition (nested groups included), ids
  // relative to their group.
  static void CollectApps(const rapidjson::Value& g, const std::string& id, const std::string& path,
                          std::vector<std::pair<App, const rapidjson::Value*>>* apps, std::vector<FieldError>* errors) {
    if (!g.IsObject()) {
      errors->push_back({path.empty() ? "/" : path, "expected a group object"});
      return;
    }
    if (g.HasMember("apps")) {
      if (!g["apps"].IsArray()) {
        errors->push_back({path + "/apps", "expected an array"});
      } else {
        for (rapidjson::SizeType i = 0; i < g["apps"].Size(); ++i) {
          std::string p = absl::StrCat(path, "/apps(", i, ")");
          App app;
          ReadApp(g["apps"][i], &app, errors, false, p);
          app.id = CanonicalId(app.id, id == "/" ? "" : id);
          ValidateApp(app, errors, p);
          apps->emplace_back(std::move(app), &g["apps"][i]);
        }
      }
    }
    if (g.HasMember("groups")) {
      if (!g["groups"].IsArray()) {
        errors->push_back({path + "/groups", "expected an array"});
        return;
      }
      for (rapidjson::SizeType i = 0; i < g["groups"].Size(); ++i) {
        const auto& sub = g["groups"][i];
        std::string sub_id = sub.IsObject() && sub.HasMember("id") && sub["id"].IsString()
                                 ? CanonicalId(sub["id"].GetString(), id == "/" ? "" : id)
                                 : id;
        CollectApps(sub, sub_id, absl::StrCat(path, "/groups(", i, ")"), apps, errors);
      }
    }
  }

  Response PutGroup(const http::Request& req, std::string id, bool create) {
    rapidjson::Document doc;
    Response err;
    if (!ParseBody(req, &doc, &err)) return err;
    bool force = Flag(req, "force");
    if (create && doc.IsObject() && doc.HasMember("id") && doc["id"].IsString()) {
      id = CanonicalId(doc["id"].GetString(), id == "/" ? "" : id);
    }
    auto existing = service_->Read([&](const ServiceState& st) {
      std::vector<App> out;
      for (const auto& [app_id, e] : st.apps) {
        if (Under(app_id, id)) out.push_back(e.app);
      }
      return out;
    });
    if (create && !existing.empty() && id != "/") {
      return Message(409, "Group " + id + " is already created. Use PUT to change this group.");
    }
    std::vector<ChangeResult> results;
    if (doc.IsObject() && doc.HasMember("scaleBy")) {
      if (!doc["scaleBy"].IsNumber() || doc["scaleBy"].GetDouble() < 0) {
        return Response::Json(ErrorsJson("Object is not valid", {{"/scaleBy", "expected a number, 0 or more"}}), 422);
      }
      if (existing.empty()) return Message(404, "Group '" + id + "' does not exist");
      double by = doc["scaleBy"].GetDouble();
      for (App app : existing) {
        app.instances = static_cast<int>(std::ceil(app.instances * by - 1e-9));
        auto r = service_->UpdateApp(app, force);
        if (!r.ok()) return FromStatus(r.status());
        results.push_back(*r);
      }
    } else {
      std::vector<std::pair<App, const rapidjson::Value*>> apps;
      std::vector<FieldError> errors;
      CollectApps(doc, id, "", &apps, &errors);
      if (!errors.empty()) return Response::Json(ErrorsJson("Object is not valid", errors), 422);
      std::set<std::string> wanted;
      std::vector<App> changed;
      for (auto& [app, json] : apps) {
        wanted.insert(app.id);
        auto base = std::find_if(existing.begin(), existing.end(), [&](const App& a) { return a.id == app.id; });
        if (base == existing.end()) {
          changed.push_back(app);
        } else {
          // A group update changes what the body says of each app.
          App merged = *base;
          std::vector<FieldError> errs;
          ReadApp(*json, &merged, &errs);
          merged.id = app.id;
          changed.push_back(std::move(merged));
        }
      }
      if (std::string cycle = CycleWith(changed); !cycle.empty()) {
        return Response::Json(
            ErrorsJson("Object is not valid", {{"/", "Dependency graph has cyclic dependencies: " + cycle}}), 422);
      }
      // Dependencies first: a dependent's deployment then waits for theirs.
      OrderByDependencies(&changed);
      for (const App& app : changed) {
        auto r = service_->UpdateApp(app, force);
        if (!r.ok()) return FromStatus(r.status());
        results.push_back(*r);
      }
      // A group's definition is whole: its apps not named in it go.
      if (!create) {
        for (const auto& app : existing) {
          if (wanted.count(app.id)) continue;
          auto r = service_->DeleteApp(app.id, force);
          if (!r.ok()) return FromStatus(r.status());
          results.push_back(*r);
        }
      }
    }
    ChangeResult out = results.empty() ? ChangeResult{Timestamp(absl::Now()), ""} : results.front();
    return Change(out, create ? 201 : 200);
  }

  Response DeleteGroup(const std::string& id, bool force) {
    auto apps = service_->Read([&](const ServiceState& st) {
      std::vector<std::string> out;
      for (const auto& [app_id, e] : st.apps) {
        if (Under(app_id, id)) out.push_back(app_id);
      }
      return out;
    });
    if (apps.empty() && id != "/") return Message(404, "Group '" + id + "' does not exist");
    ChangeResult last{Timestamp(absl::Now()), ""};
    for (const auto& a : apps) {
      auto r = service_->DeleteApp(a, force);
      if (!r.ok()) return FromStatus(r.status());
      last = *r;
    }
    return Change(last);
  }

  void PublishApiPost(const http::Request& req, const App& app) {
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("clientIp");
    Str(w, req.header("x-forwarded-for"));
    w.Key("uri");
    Str(w, req.path);
    w.Key("appDefinition");
    WriteApp(w, app);
    w.EndObject();
    service_->Publish("api_post_event", Done(b));
  }

  Response AppTasks(const std::string& id) {
    return service_->Read([&](const ServiceState& st) {
      auto it = st.apps.find(id);
      if (it == st.apps.end()) return Message(404, "App '" + id + "' does not exist");
      std::vector<Task> tasks;
      for (const auto& [tid, t] : it->second.tasks) {
        if (!IsTerminalState(t.state)) tasks.push_back(t);
      }
      return Response::Json(TasksJson(tasks));
    });
  }

  Response KillAppTasks(const http::Request& req, const std::string& id, const std::string& task_id) {
    std::string host = Query(req, "host");
    auto ids = service_->Read([&](const ServiceState& st) -> std::optional<std::vector<std::string>> {
      auto it = st.apps.find(id);
      if (it == st.apps.end()) return std::nullopt;
      std::vector<std::string> out;
      for (const auto& [tid, t] : it->second.tasks) {
        if (!task_id.empty() && tid != task_id) continue;
        if (!host.empty() && t.host != host) continue;
        out.push_back(tid);
      }
      return out;
    });
    if (!ids) return Message(404, "App '" + id + "' does not exist");
    if (!task_id.empty() && ids->empty()) return Message(404, "Task '" + task_id + "' does not exist");
    bool scale = Flag(req, "scale");
    auto killed = service_->KillTasks(*ids, scale);
    if (!killed.ok()) return FromStatus(killed.status());
    if (!task_id.empty()) {
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartObject();
      w.Key("task");
      WriteTask(w, killed->front());
      w.EndObject();
      return Response::Json(Done(b));
    }
    return Response::Json(TasksJson(*killed));
  }

  Response ListTasks(const http::Request& req) {
    std::string status = Query(req, "status");  // running, staging
    return service_->Read([&](const ServiceState& st) {
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartObject();
      w.Key("tasks");
      w.StartArray();
      for (const auto& [app_id, e] : st.apps) {
        for (const auto& [tid, t] : e.tasks) {
          if (status == "running" && t.state != "TASK_RUNNING") continue;
          if (status == "staging" && t.state != "TASK_STAGING") continue;
          WriteTask(w, t);
        }
      }
      w.EndArray();
      w.EndObject();
      return Response::Json(Done(b));
    });
  }

  Response DeleteTasks(const http::Request& req) {
    rapidjson::Document doc;
    Response err;
    if (!ParseBody(req, &doc, &err)) return err;
    if (!doc.IsObject() || !doc.HasMember("ids") || !doc["ids"].IsArray()) {
      return Response::Json(ErrorsJson("Object is not valid", {{"/ids", "expected an array of task IDs"}}), 422);
    }
    std::vector<std::string> ids;
    for (const auto& v : doc["ids"].GetArray()) {
      if (v.IsString()) ids.emplace_back(v.GetString());
    }
    auto killed = service_->KillTasks(ids, Flag(req, "scale"));
    if (!killed.ok()) return FromStatus(killed.status());
    return Response::Json(TasksJson(*killed));
  }

  Response ListDeployments() {
    return service_->Read([&](const ServiceState& st) {
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartArray();
      for (const auto& [app_id, d] : st.deployments) WriteDeployment(w, d);
      w.EndArray();
      return Response::Json(Done(b));
    });
  }

  Response CancelDeployment(const std::string& id, bool force) {
    auto r = service_->CancelDeployment(id, force);
    if (!r.ok()) return FromStatus(r.status());
    if (force) return Response::Text(202, "");
    return Change(*r);
  }

  Response Queue() {
    return service_->Read([&](const ServiceState& st) {
      absl::Time now = absl::Now();
      rapidjson::StringBuffer b;
      Writer w(b);
      w.StartObject();
      w.Key("queue");
      w.StartArray();
      for (const auto& [app_id, e] : st.apps) {
        int active = 0;
        for (const auto& [tid, t] : e.tasks) active += IsActive(t) && t.version == e.app.last_config_change_at;
        int waiting = e.app.instances - active;
        if (waiting <= 0) continue;
        absl::Time until = LaunchDelayUntil(e.app, e.backoff);
        double left = std::max(0.0, absl::ToDoubleSeconds(until - now));
        w.StartObject();
        w.Key("count");
        w.Int(waiting);
        w.Key("delay");
        w.StartObject();
        w.Key("timeLeftSeconds");
        w.Int(static_cast<int>(left));
        w.Key("overdue");
        w.Bool(left <= 0);
        w.EndObject();
        w.Key("since");
        Str(w, e.app.version);
        w.Key("app");
        WriteApp(w, e.app);
        w.EndObject();
      }
      w.EndArray();
      w.EndObject();
      return Response::Json(Done(b));
    });
  }

  Response Info(const std::string& leader) {
    std::string fw = service_->Read([](const ServiceState& st) { return st.framework_id; });
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("name");
    w.String("marathon");
    w.Key("version");
    w.String(kVersion);
    w.Key("buildref");
    w.String("corral-marathon-lite");
    w.Key("elected");
    w.Bool(true);
    w.Key("leader");
    Str(w, leader);
    w.Key("frameworkId");
    Str(w, fw);
    w.Key("marathon_config");
    w.StartObject();
    w.Key("master");
    Str(w, options_.master);
    w.Key("framework_name");
    Str(w, options_.framework_name);
    w.Key("mesos_role");
    Str(w, options_.role);
    w.Key("failover_timeout");
    w.Double(options_.failover_timeout);
    w.Key("checkpoint");
    w.Bool(true);
    w.Key("ha");
    w.Bool(false);
    w.EndObject();
    w.Key("zookeeper_config");
    w.StartObject();
    w.EndObject();
    w.Key("http_config");
    w.StartObject();
    w.Key("http_port");
    auto colon = leader.rfind(':');
    w.Int(colon == std::string::npos ? 80 : std::atoi(leader.c_str() + colon + 1));
    w.EndObject();
    w.EndObject();
    return Response::Json(Done(b));
  }

  Response Leader(const std::string& leader) {
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("leader");
    Str(w, leader);
    w.EndObject();
    return Response::Json(Done(b));
  }

  // (name, value, is_counter), Marathon's metric names.
  std::vector<std::tuple<std::string, double, bool>> MetricValues() {
    return service_->Read([&](const ServiceState& st) {
      int64_t tasks = 0, running = 0, staged = 0;
      for (const auto& [id, e] : st.apps) {
        for (const auto& [tid, t] : e.tasks) {
          ++tasks;
          running += t.state == "TASK_RUNNING";
          staged += t.state == "TASK_STAGING";
        }
      }
      return std::vector<std::tuple<std::string, double, bool>>{
          {"marathon.apps.active.gauge", static_cast<double>(st.apps.size()), false},
          {"marathon.deployments.active.gauge", static_cast<double>(st.deployments.size()), false},
          {"marathon.instances.running.gauge", static_cast<double>(running), false},
          {"marathon.instances.staged.gauge", static_cast<double>(staged), false},
          {"marathon.instances.gauge", static_cast<double>(tasks), false},
          {"marathon.mesos.subscribed.gauge", st.subscribed ? 1.0 : 0.0, false},
          {"marathon.tasks.launched.counter", static_cast<double>(st.launched), true},
      };
    });
  }

  Response Metrics() {
    rapidjson::StringBuffer b;
    Writer w(b);
    w.StartObject();
    w.Key("version");
    w.String("4.0.0");
    auto values = MetricValues();
    for (bool counters : {false, true}) {
      w.Key(counters ? "counters" : "gauges");
      w.StartObject();
      for (const auto& [name, value, counter] : values) {
        if (counter != counters) continue;
        Str(w, name);
        w.StartObject();
        w.Key(counter ? "count" : "value");
        w.Double(value);
        w.EndObject();
      }
      w.EndObject();
    }
    w.EndObject();
    return Response::Json(Done(b));
  }

  // The Prometheus text format (GET /metrics/prometheus): dots become
  // underscores.
  Response Prometheus() {
    std::string out;
    for (const auto& [name, value, counter] : MetricValues()) {
      std::string n = name;
      std::replace(n.begin(), n.end(), '.', '_');
      absl::StrAppend(&out, "# TYPE ", n, counter ? " counter\n" : " gauge\n", n, " ", value, "\n");
    }
    Response r = Response::Text(200, out);
    r.content_type = "text/plain; version=0.0.4";
    return r;
  }

  Service* service_;
  RestOptions options_;
};

// GET /v2/events: Server-Sent Events, "event: <type>" and "data: <json>",
// of the types named by event_type parameters (all when none).
void StreamEvents(Service* service, const http::Request& req, http::Responder& r) {
  std::set<std::string> types;
  for (const auto& [k, v] : req.query_list) {
    if (k != "event_type") continue;
    for (absl::string_view t : absl::StrSplit(v, ',', absl::SkipEmpty())) types.emplace(t);
  }
  std::shared_ptr<http::ResponseStream> stream = r.Stream(200, "text/event-stream", {{"Cache-Control", "no-cache"}});
  service->Subscribe(std::move(types), [stream](const std::string& type, const std::string& json) {
    return stream->Write("event: " + type + "\ndata: " + json + "\n\n");
  });
}

}  // namespace

http::Handler MakeRestHandler(Service* service, RestOptions options) {
  auto rest = std::make_shared<Rest>(service, std::move(options));
  return [rest, service](const http::Request& req, http::Responder& r) {
    if (req.method == "GET" && (req.path == "/v2/events" || req.path == "/v2/events/")) {
      return StreamEvents(service, req, r);
    }
    r.Reply(rest->Handle(req));
  };
}

}  // namespace corral::marathon
