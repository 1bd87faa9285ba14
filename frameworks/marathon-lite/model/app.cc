#include "model/app.h"

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
