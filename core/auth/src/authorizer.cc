#include "corral/auth/authorizer.h"

#include <cstdio>
#include <fstream>
#include <mutex>
#include <sstream>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "corral/v1/internal.pb.h"
#include "google/protobuf/util/json_util.h"

namespace corral::auth {
namespace {

using v1::internal::ACL;

// Field names of v1::internal::ACLs, in Action's order.
constexpr const char* kActionNames[kActionCount] = {
    "register_frameworks",
    "run_tasks",
    "teardown_frameworks",
    "reserve_resources",
    "unreserve_resources",
    "get_quotas",
    "update_quotas",
    "update_weights",
    "view_frameworks",
    "view_tasks",
    "view_executors",
    "access_sandboxes",
    "get_endpoints",
    "view_flags",
    "register_agents",
    "update_maintenance_schedules",
    "get_maintenance_schedules",
    "start_maintenances",
    "stop_maintenances",
    "get_maintenance_statuses",
    "mark_agents_gone",
    "drain_agents",
    "reactivate_agents",
};

// How a refusal names the object of each action.
const char* ObjectNoun(Action action) {
  switch (action) {
    case Action::kRegisterFrameworks:
    case Action::kReserveResources:
    case Action::kGetQuotas:
    case Action::kUpdateQuotas:
    case Action::kUpdateWeights: return "role";
    case Action::kRunTasks:
    case Action::kViewFrameworks:
    case Action::kViewTasks:
    case Action::kViewExecutors:
    case Action::kAccessSandboxes: return "user";
    case Action::kTeardownFrameworks: return "framework principal";
    case Action::kUnreserveResources: return "reserver principal";
    case Action::kGetEndpoints: return "path";
    default: return "object";
  }
}

std::mutex audit_mu;
FILE* audit_file = nullptr;  // null: standard error

void WriteAudit(const v1::internal::AuditRecord& record) {
  std::string line;
  google::protobuf::util::JsonPrintOptions options;
  options.preserve_proto_field_names = true;
  (void)google::protobuf::util::MessageToJsonString(record, &line, options);
  line.push_back('\n');
  std::lock_guard<std::mutex> lock(audit_mu);
  FILE* out = audit_file != nullptr ? audit_file : stderr;
  std::fwrite(line.data(), 1, line.size(), out);
  std::fflush(out);
}

}  // namespace

const char* ActionName(Action action) { return kActionNames[static_cast<size_t>(action)]; }

bool Authorizer::Entity::Contains(absl::string_view value) const {
  for (const std::string& v : values) {
    if (v == value) return true;
    // "a/%": everything strictly below a.
    if (absl::EndsWith(v, "/%")) {
      absl::string_view prefix(v.data(), v.size() - 1);  // "a/"
      if (value.size() > prefix.size() && absl::StartsWith(value, prefix)) return true;
    }
  }
  return false;
}

absl::StatusOr<std::shared_ptr<const Authorizer>> Authorizer::Parse(absl::string_view json) {
  v1::internal::ACLs acls;
  auto parsed = google::protobuf::util::JsonStringToMessage(std::string(json), &acls);
  if (!parsed.ok()) {
    std::string why(parsed.message());
    why.erase(std::remove(why.begin(), why.end(), '\n'), why.end());
    return absl::InvalidArgumentError(absl::StrCat("not valid ACLs JSON: ", why));
  }
  auto authorizer = std::shared_ptr<Authorizer>(new Authorizer());
  authorizer->permissive_ = acls.permissive();
  const auto* descriptor = acls.GetDescriptor();
  const auto* reflection = acls.GetReflection();
  for (size_t a = 0; a < kActionCount; ++a) {
    const auto* field = descriptor->FindFieldByName(kActionNames[a]);
    int n = reflection->FieldSize(acls, field);
    for (int i = 0; i < n; ++i) {
      const google::protobuf::Message& rule = reflection->GetRepeatedMessage(acls, field, i);
      const auto* rd = rule.GetDescriptor();
      Rule out;
      for (int f = 0; f < 2; ++f) {
        const auto* entity_field = rd->field(f);
        std::string where = absl::StrCat(kActionNames[a], "[", i, "].", entity_field->name());
        if (!rule.GetReflection()->HasField(rule, entity_field)) {
          return absl::InvalidArgumentError(absl::StrCat("ACLs: ", where, " is missing"));
        }
        const auto& entity = static_cast<const ACL::Entity&>(rule.GetReflection()->GetMessage(rule, entity_field));
        Entity& e = f == 0 ? out.principals : out.objects;
        e.type = entity.type() == ACL::Entity::ANY    ? Entity::kAny
                 : entity.type() == ACL::Entity::NONE ? Entity::kNone
                                                      : Entity::kSome;
        if (e.type == Entity::kSome && entity.values().empty()) {
          return absl::InvalidArgumentError(absl::StrCat(
              "ACLs: ", where, " lists no values (say {\"type\": \"ANY\"} or {\"type\": \"NONE\"} instead)"));
        }
        if (e.type != Entity::kSome && !entity.values().empty()) {
          return absl::InvalidArgumentError(absl::StrCat("ACLs: ", where, " has both a type and values"));
        }
        e.values.assign(entity.values().begin(), entity.values().end());
      }
      authorizer->rules_[a].push_back(std::move(out));
    }
  }
  return std::shared_ptr<const Authorizer>(std::move(authorizer));
}

absl::StatusOr<std::shared_ptr<const Authorizer>> Authorizer::Load(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return absl::NotFoundError(absl::StrCat("cannot read the ACLs file ", path));
  std::stringstream buf;
  buf << in.rdbuf();
  auto parsed = Parse(buf.str());
  if (!parsed.ok()) return absl::InvalidArgumentError(absl::StrCat(path, ": ", parsed.status().message()));
  return parsed;
}

bool Authorizer::Allows(Action action, const std::optional<std::string>& principal,
                        const std::optional<absl::string_view>& object) const {
  // Mesos's match and allow matrices for a request of SOME (one value) or
  // ANY (none given) against a rule's SOME, ANY or NONE.
  auto matches = [](const Entity& rule, const std::optional<absl::string_view>& value) {
    if (rule.type != Entity::kSome) return true;
    return value.has_value() && rule.Contains(*value);
  };
  auto allows = [](const Entity& rule, const std::optional<absl::string_view>& value) {
    if (rule.type == Entity::kAny) return true;
    if (rule.type == Entity::kNone) return false;
    return value.has_value() && rule.Contains(*value);
  };
  std::optional<absl::string_view> subject;
  if (principal) subject = *principal;
  for (const Rule& rule : rules_[static_cast<size_t>(action)]) {
    if (matches(rule.principals, subject) && matches(rule.objects, object)) {
      return allows(rule.principals, subject) && allows(rule.objects, object);
    }
  }
  return permissive_;
}

absl::Status Authorize(const Authorizer* authorizer, Action action, const std::optional<std::string>& principal,
                       const std::optional<absl::string_view>& object) {
  if (authorizer == nullptr || authorizer->Allows(action, principal, object)) return absl::OkStatus();
  AuditRefusal(action, principal, object);
  std::string what = object ? absl::StrCat(" with ", ObjectNoun(action), " '", *object, "'") : "";
  return absl::PermissionDeniedError(absl::StrCat(
      "Not authorized to ", ActionName(action), what, " (",
      principal ? absl::StrCat("principal '", *principal, "'") : std::string("no principal"), "; see --acls)"));
}

bool ViewFilter::Allows(Action action, absl::string_view object) {
  if (authorizer_ == nullptr) return true;
  const size_t a = static_cast<size_t>(action);
  auto& memo = memo_[a];
  // Runs of one user are the common case: try the last answer first.
  if (last_[a] < memo.size() && memo[last_[a]].first == object) return memo[last_[a]].second;
  for (size_t i = 0; i < memo.size(); ++i) {
    if (memo[i].first == object) {
      last_[a] = i;
      return memo[i].second;
    }
  }
  bool allowed = authorizer_->Allows(action, principal_, object);
  // Few distinct users make a view; past a few hundred, stop remembering.
  if (memo.size() < 256) {
    last_[a] = memo.size();
    memo.emplace_back(std::string(object), allowed);
  }
  return allowed;
}

absl::Status SetAuditLog(const std::string& path) {
  FILE* f = std::fopen(path.c_str(), "a");
  if (f == nullptr) return absl::InvalidArgumentError(absl::StrCat("cannot open the audit log ", path));
  std::lock_guard<std::mutex> lock(audit_mu);
  if (audit_file != nullptr) std::fclose(audit_file);
  audit_file = f;
  return absl::OkStatus();
}

void AuditRefusal(Action action, const std::optional<std::string>& principal,
                  const std::optional<absl::string_view>& object) {
  v1::internal::AuditRecord record;
  record.set_time(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  if (principal) record.set_principal(*principal);
  record.set_action(ActionName(action));
  if (object) record.set_object(std::string(*object));
  record.set_allowed(false);
  WriteAudit(record);
}

void AuditChange(absl::string_view call, const std::optional<std::string>& principal, const absl::Status& result) {
  v1::internal::AuditRecord record;
  record.set_time(absl::ToDoubleSeconds(absl::Now() - absl::UnixEpoch()));
  if (principal) record.set_principal(*principal);
  record.set_call(std::string(call));
  record.set_result(result.ok() ? "OK" : std::string(result.message()));
  WriteAudit(record);
}

}  // namespace corral::auth
