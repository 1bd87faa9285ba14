// Marathon's app definition and task, as value types: what the REST API
// reads and writes, the store keeps (one row each) and the planner reasons
// about. Nothing here does I/O.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/time/time.h"
#include "corral/framework/json.h"

namespace corral::marathon {

struct PortDefinition {
  int port = 0;  // the service port; 0 asks for one to be assigned
  std::string name;
  std::string protocol = "tcp";
  std::map<std::string, std::string> labels;
};

struct Constraint {
  std::string field;  // "hostname" or an agent attribute
  std::string op;     // UNIQUE, CLUSTER, GROUP_BY, LIKE, UNLIKE, MAX_PER, IS
  std::string value;  // empty where the operator takes none
};

struct UpgradeStrategy {
  double minimum_health_capacity = 1.0;
  double maximum_over_capacity = 1.0;
};

// Runs on the agent as the task's Mesos health check, whatever the
// protocol (Marathon's HTTP/HTTPS/TCP and the MESOS_ forms alike): the agent
// reports health in status updates and kills the task after
// maxConsecutiveFailures, and the planner replaces it.
struct HealthCheck {
  std::string protocol = "HTTP";  // HTTP, HTTPS, TCP, COMMAND, MESOS_HTTP, MESOS_HTTPS, MESOS_TCP
  std::string path = "/";
  int port_index = 0;
  int port = 0;  // a fixed port instead of portIndex
  std::string command;
  double grace_period_seconds = 300;
  double interval_seconds = 60;
  double timeout_seconds = 20;
  double delay_seconds = 15;
  int max_consecutive_failures = 3;
  bool ignore_http1xx = false;
};

// Marathon's readiness check, which marathon-lite makes itself: a new task
// of a deployment counts as replacing an old one only once it answers.
struct ReadinessCheck {
  std::string name = "readinessCheck";
  std::string protocol = "HTTP";  // HTTP or HTTPS
  std::string path = "/";
  std::string port_name = "http";
  double interval_seconds = 30;
  double timeout_seconds = 10;
  std::vector<int> http_status_codes_for_ready = {200};
};

struct UnreachableStrategy {
  bool disabled = false;
  double inactive_after_seconds = 0;
  double expunge_after_seconds = 0;
};

// Marathon 1.10's field names and defaults.
struct App {
  std::string id;  // absolute: "/prod/web"
  std::optional<std::string> cmd;
  std::vector<std::string> args;
  std::string user;
  std::map<std::string, std::string> env;
  std::map<std::string, std::string> labels;
  int instances = 1;
  double cpus = 1;
  double mem = 128;
  double disk = 0;
  int gpus = 0;
  std::vector<PortDefinition> port_definitions = {PortDefinition()};
  bool require_ports = false;
  std::vector<std::string> fetch;  // URIs the agent fetches into the sandbox
  std::vector<Constraint> constraints;
  double backoff_seconds = 1;
  double backoff_factor = 1.15;
  double max_launch_delay_seconds = 300;
  std::string kill_selection = "YOUNGEST_FIRST";
  double task_kill_grace_period_seconds = 0;  // 0: the agent's default
  UpgradeStrategy upgrade_strategy;
  UnreachableStrategy unreachable_strategy;
  std::vector<HealthCheck> health_checks;        // at most one (the task's Mesos health check)
  std::vector<ReadinessCheck> readiness_checks;  // at most one, as in Marathon
  std::vector<std::string> dependencies;
  std::vector<std::string> accepted_resource_roles;
  std::string role;  // empty: the framework's role
  std::string executor;

  // Extensions (Marathon has none of these; its clients never send them,
  // and they are shown only with embed=app.extensions, because clients
  // that build objects from a closed list of keys would fail on them).
  // A deployment that makes no progress for this long fails (0: never)...
  double progress_deadline_seconds = 0;
  // ...and then, if set, the app goes back to the version it came from.
  bool revert_on_deadline = false;
  // After this many failures in a row of the current definition, no more
  // launches until the definition changes or the delay is reset (0: none).
  int crash_loop_limit = 0;
  // A config change first replaces only this many tasks, then waits for
  // POST /v2/deployments/{id}/promote before it rolls on (0: no canary).
  int canary_instances = 0;

  // Set by the service, never by a client.
  std::string version;                // ISO 8601, UTC: this definition's
  std::string last_scaling_at;        // the last change of `instances`
  std::string last_config_change_at;  // the last change of anything else
};

// A Mesos task of an app.
struct Task {
  std::string id;      // Marathon's task ID, used as the Mesos TaskID
  std::string app_id;  // "/prod/web"
  std::string agent_id;
  std::string host;
  std::vector<int> ports;          // host ports
  std::vector<int> service_ports;  // the app's, at launch
  std::string state = "TASK_STAGING";
  std::string staged_at;
  std::string started_at;
  std::string version;  // the app's last_config_change_at it was launched with
  bool killing = false;
  std::optional<bool> healthy;  // none until the first health check result
  std::string first_success, last_success, last_failure, last_failure_cause;
  int consecutive_failures = 0;
  bool ready = false;             // its readiness check passed (kept from then on)
  int readiness_status = -1;      // the last check's HTTP status (0: no answer, -1: none yet)
  std::string unreachable_since;  // ISO 8601 while TASK_UNREACHABLE
  // The agent's attributes (text values) where it was placed, for
  // constraints.
  std::map<std::string, std::string> attributes;
};

using FieldError = framework::FieldError;  // JSON pointer ("/cpus") and why

// ISO 8601 in UTC with milliseconds, ending in "Z" (Marathon's timestamps).
std::string Timestamp(absl::Time t);
absl::Time ParseTimestamp(const std::string& text);  // InfinitePast when bad

// "prod/web/" -> "/prod/web"; relative to `base` ("/prod") when not absolute.
std::string CanonicalId(const std::string& id, const std::string& base = "/");
// Marathon's path rule: segments of lowercase letters, digits, '-' and '.',
// starting and ending with a letter or digit.
bool ValidId(const std::string& id);
// "/prod/web" -> "prod_web.<uuid>" (Marathon's task ID form).
std::string NewTaskId(const std::string& app_id);
// The app a task ID names ("prod_web.<uuid>" -> "/prod/web").
std::string AppIdOfTask(const std::string& task_id);

// Dependencies (Marathon's `dependencies`): app or group IDs, relative to
// the app's own group ("db", "../shared/db") or absolute. An app that
// depends on a group depends on every app under it.
// `dep` resolved against the group of the app `app_id`.
std::string ResolveDependency(const std::string& app_id, const std::string& dep);
// Whether the app `app_id` is `dep` or under the group `dep`.
bool SatisfiesDependency(const std::string& app_id, const std::string& dep);
// A cycle of dependencies among `apps` (by ID; their dependencies
// resolved), written "/a -> /b -> /a"; "" when there is none.
std::string DependencyCycle(const std::map<std::string, const App*>& apps);
// `apps` reordered so that each comes after those of them it depends on
// (no cycle among them), otherwise in their order.
void OrderByDependencies(std::vector<App>* apps);

bool IsTerminalState(const std::string& state);
bool IsActive(const Task& task);  // counts toward the app's instances
// Running and, where the app has a health check, passing it; a task of the
// current definition of an app with a readiness check must also be ready.
bool IsHealthy(const App& app, const Task& task);

}  // namespace corral::marathon
