// Marathon's JSON forms of apps and tasks (RapidJSON), for the REST API and
// for the store's rows.
#pragma once

#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "corral/framework/json.h"

#include "model/app.h"

namespace corral::marathon {

using Writer = framework::JsonWriter;
using framework::ErrorsJson;
using framework::MessageJson;
using framework::OptStr;
using framework::Str;
using framework::StrList;
using framework::StrMap;

// Reads an app definition over `app` (a PUT changes only the fields the
// body has; a POST starts from App()). Every invalid field is named in
// `errors`; keys Marathon does not read (tasksRunning, version, ...) are
// ignored, as Marathon ignores them. `stored` also reads the fields only
// the service sets (version, versionInfo), for the store's rows.
void ReadApp(const rapidjson::Value& json, App* app, std::vector<FieldError>* errors, bool stored = false,
             const std::string& path = "");
// Checks what ReadApp cannot see alone: id, cmd or args, the strategies.
void ValidateApp(const App& app, std::vector<FieldError>* errors, const std::string& path = "");

// What GET /v2/apps adds to an app beside its definition.
struct AppStatus {
  int staged = 0, running = 0, healthy = 0, unhealthy = 0;
  std::vector<std::string> deployments;
  const std::vector<Task>* tasks = nullptr;                     // embed=apps.tasks
  bool readiness = false;                                       // embed=apps.readiness
  std::vector<std::pair<std::string, bool>> readiness_results;  // (task ID, ready) of checked tasks
};

// The keys Marathon 1.10 emits for an app, no others (clients build their
// objects from a closed list of keys).
// `extensions` adds marathon-lite's own fields (AppJson, the stored form,
// always has them).
void WriteApp(Writer& w, const App& app, const AppStatus* status = nullptr, bool extensions = false);
// `stored` adds the service's own fields (killing, unreachableSince).
void WriteTask(Writer& w, const Task& task, bool stored = false);
bool ReadTask(const rapidjson::Value& json, Task* task);  // a stored row

std::string AppJson(const App& app);     // stored form
std::string TaskJson(const Task& task);  // stored form
// An app in its stored form (AppJson), as the stores read it back.
std::optional<App> ParseStoredApp(const std::string& json);

// Marathon's group object: id, apps, groups, pods, dependencies, version;
// `apps` and `groups` write the members of those arrays.
void WriteGroup(Writer& w, const std::string& id, const std::string& version, const std::function<void()>& apps,
                const std::function<void()>& groups);

}  // namespace corral::marathon
