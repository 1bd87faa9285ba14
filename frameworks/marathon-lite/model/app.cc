#include "model/app.h"

#include <algorithm>
#include <functional>

#include "absl/strings/str_join.h"
#include "absl/strings/str_replace.h"
#include "absl/strings/str_split.h"
#include "corral/common/ids.h"

namespace corral::marathon {

std::string Timestamp(absl::Time t) { return absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", t, absl::UTCTimeZone()); }

absl::Time ParseTimestamp(const std::string& text) {
  absl::Time t;
  std::string err;
  if (absl::ParseTime("%Y-%m-%dT%H:%M:%E*SZ", text, absl::UTCTimeZone(), &t, &err)) return t;
  return absl::InfinitePast();
}

std::string CanonicalId(const std::string& id, const std::string& base) {
  std::string full = !id.empty() && id[0] == '/' ? id : base + "/" + id;
  std::vector<std::string> out;
  for (absl::string_view seg : absl::StrSplit(full, '/', absl::SkipEmpty())) {
    if (seg == ".") continue;
    if (seg == "..") {
      if (!out.empty()) out.pop_back();
      continue;
    }
    out.emplace_back(seg);
  }
  return "/" + absl::StrJoin(out, "/");
}

std::string ResolveDependency(const std::string& app_id, const std::string& dep) {
  size_t slash = app_id.rfind('/');
  std::string group = slash == std::string::npos || slash == 0 ? "/" : app_id.substr(0, slash);
  return CanonicalId(dep, group);
}

bool SatisfiesDependency(const std::string& app_id, const std::string& dep) {
  if (dep == "/") return true;
  return app_id == dep ||
         (app_id.size() > dep.size() && app_id.compare(0, dep.size(), dep) == 0 && app_id[dep.size()] == '/');
}

std::string DependencyCycle(const std::map<std::string, const App*>& apps) {
  // Depth-first, colouring apps on the path (1) and finished (2).
  std::map<std::string, int> colour;
  std::vector<std::string> path;
  std::string cycle;
  std::function<bool(const std::string&)> visit = [&](const std::string& id) {
    colour[id] = 1;
    path.push_back(id);
    for (const auto& dep : apps.at(id)->dependencies) {
      // Every key that is `dep` or under it starts with `dep` ("/prod-x"
      // sorts between "/prod" and "/prod/web": skipped, not an end).
      for (auto it = apps.lower_bound(dep); it != apps.end() && it->first.compare(0, dep.size(), dep) == 0; ++it) {
        if (!SatisfiesDependency(it->first, dep)) continue;
        int c = colour[it->first];
        if (c == 1) {
          auto from = std::find(path.begin(), path.end(), it->first);
          cycle = absl::StrJoin(from, path.end(), " -> ") + " -> " + it->first;
          return true;
        }
        if (c == 0 && visit(it->first)) return true;
      }
    }
    path.pop_back();
    colour[id] = 2;
    return false;
  };
  for (const auto& [id, app] : apps) {
    if (colour[id] == 0 && visit(id)) return cycle;
  }
  return "";
}

void OrderByDependencies(std::vector<App>* apps) {
  std::vector<App> out;
  std::vector<int> state(apps->size(), 0);  // 1: being placed, 2: placed
  std::function<void(size_t)> place = [&](size_t i) {
    if (state[i] != 0) return;  // placed, or a cycle (refused before this)
    state[i] = 1;
    for (const auto& d : (*apps)[i].dependencies) {
      std::string dep = ResolveDependency((*apps)[i].id, d);
      for (size_t j = 0; j < apps->size(); ++j) {
        if (j != i && SatisfiesDependency((*apps)[j].id, dep)) place(j);
      }
    }
    state[i] = 2;
    out.push_back(std::move((*apps)[i]));
  };
  for (size_t i = 0; i < apps->size(); ++i) place(i);
  *apps = std::move(out);
}

static bool ValidSegment(absl::string_view s) {
  if (s.empty()) return false;
  auto alnum = [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9'); };
  if (!alnum(s.front()) || !alnum(s.back())) return false;
  for (char c : s) {
    if (!alnum(c) && c != '-' && c != '.') return false;
  }
  return true;
}

bool ValidId(const std::string& id) {
  if (id.size() < 2 || id[0] != '/') return false;
  for (absl::string_view seg : absl::StrSplit(id.substr(1), '/')) {
    if (!ValidSegment(seg)) return false;
  }
  return true;
}

std::string NewTaskId(const std::string& app_id) {
  return absl::StrReplaceAll(app_id.substr(1), {{"/", "_"}}) + "." + UuidToString(NewUuidBytes());
}

std::string AppIdOfTask(const std::string& task_id) {
  auto dot = task_id.rfind('.');
  if (dot == std::string::npos) return "";
  return "/" + absl::StrReplaceAll(task_id.substr(0, dot), {{"_", "/"}});
}

bool IsTerminalState(const std::string& s) {
  return s == "TASK_FINISHED" || s == "TASK_FAILED" || s == "TASK_KILLED" || s == "TASK_ERROR" || s == "TASK_LOST" ||
         s == "TASK_DROPPED" || s == "TASK_GONE" || s == "TASK_GONE_BY_OPERATOR" || s == "TASK_UNKNOWN";
}

bool IsActive(const Task& t) { return !IsTerminalState(t.state) && !t.killing && t.state != "TASK_UNREACHABLE"; }

bool IsHealthy(const App& app, const Task& t) {
  if (t.state != "TASK_RUNNING") return false;
  if (!app.readiness_checks.empty() && t.version == app.last_config_change_at && !t.ready) return false;
  return app.health_checks.empty() ? t.healthy.value_or(true) : t.healthy.value_or(false);
}

}  // namespace corral::marathon
