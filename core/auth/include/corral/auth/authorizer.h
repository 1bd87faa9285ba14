// Authorization: what an authenticated principal may do, by Mesos's local
// authorizer ACLs (the --acls file), and the audit log of what was refused
// or changed.
//
// Threading: an Authorizer is immutable once made; call it from any thread.
// The audit log may be written from any thread.
#pragma once

#include <array>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace corral::auth {

// The actions, named in messages and the audit log by their ACLs keys.
enum class Action : uint8_t {
  kRegisterFrameworks,  // object: a role the framework subscribes with
  kRunTasks,            // object: the Linux user a task or executor runs as
  kTeardownFrameworks,  // object: the framework's principal
  kReserveResources,    // object: the role reserved for
  kUnreserveResources,  // object: the principal that made the reservation
  kGetQuotas,           // object: a role (GET_QUOTA lists only those allowed)
  kUpdateQuotas,        // object: a role
  kUpdateWeights,       // object: a role
  kViewFrameworks,      // object: the framework's user (state is filtered)
  kViewTasks,           // object: the task's user (state is filtered)
  kViewExecutors,       // object: the executor's user (state is filtered)
  kAccessSandboxes,     // object: the user of the sandbox's executor
  kGetEndpoints,        // object: the endpoint's path
  kViewFlags,           // no object
  kRegisterAgents,      // no object
  kUpdateMaintenanceSchedules,
  kGetMaintenanceSchedules,
  kStartMaintenances,
  kStopMaintenances,
  kGetMaintenanceStatuses,
  kMarkAgentsGone,
  kDrainAgents,
  kReactivateAgents,
};
inline constexpr size_t kActionCount = static_cast<size_t>(Action::kReactivateAgents) + 1;

// The ACLs key of `action` ("run_tasks", ...).
const char* ActionName(Action action);

class Authorizer {
 public:
  // Mesos's ACLs JSON. Errors name the rule and field that are wrong.
  static absl::StatusOr<std::shared_ptr<const Authorizer>> Parse(absl::string_view json);
  static absl::StatusOr<std::shared_ptr<const Authorizer>> Load(const std::string& path);

  // Whether `principal` (nullopt: none was authenticated) may do `action`
  // to `object` (nullopt: to every object, or an action without one). The
  // first rule whose principals and object match decides; a rule matches a
  // request when its entity is ANY or NONE or lists every value asked for,
  // and allows it unless either entity is NONE (or an anonymous request
  // meets a rule for some principals). A value ending in "/%" stands for
  // every value below it ("eng/%": eng/dev, eng/dev/ci). With no rule
  // matching, `permissive` decides.
  bool Allows(Action action, const std::optional<std::string>& principal,
              const std::optional<absl::string_view>& object) const;

  bool permissive() const { return permissive_; }

 private:
  struct Entity {
    enum Type { kSome, kAny, kNone };
    Type type = kSome;
    std::vector<std::string> values;
    bool Contains(absl::string_view value) const;
  };
  struct Rule {
    Entity principals;
    Entity objects;
  };
  bool permissive_ = true;
  std::array<std::vector<Rule>, kActionCount> rules_;
};

// Allows, with a null `authorizer` (no --acls) allowing everything. A
// refusal is PERMISSION_DENIED naming the action and the object, and an
// audit record.
absl::Status Authorize(const Authorizer* authorizer, Action action, const std::optional<std::string>& principal,
                       const std::optional<absl::string_view>& object);

// Memoizes decisions for one principal over many objects of a few actions
// (filtering a state snapshot: one decision per user, not per task).
// Decisions to leave something out of a view are not audited: nothing was
// refused. Not thread-safe; one per request.
class ViewFilter {
 public:
  // A null authorizer shows everything.
  ViewFilter(const Authorizer* authorizer, std::optional<std::string> principal)
      : authorizer_(authorizer), principal_(std::move(principal)) {}
  bool Allows(Action action, absl::string_view object);
  bool filters() const { return authorizer_ != nullptr; }
  const std::optional<std::string>& principal() const { return principal_; }

 private:
  const Authorizer* authorizer_;
  std::optional<std::string> principal_;
  std::array<std::vector<std::pair<std::string, bool>>, kActionCount> memo_;
  std::array<size_t, kActionCount> last_{};  // the index of each action's last answer
};

// The audit log: one JSON line per record, to the file SetAuditLog named
// (appended to), or to standard error. Never rate-limited.
absl::Status SetAuditLog(const std::string& path);
void AuditRefusal(Action action, const std::optional<std::string>& principal,
                  const std::optional<absl::string_view>& object);
// An operator call that changed state (or tried to): its type and result.
void AuditChange(absl::string_view call, const std::optional<std::string>& principal, const absl::Status& result);

}  // namespace corral::auth
