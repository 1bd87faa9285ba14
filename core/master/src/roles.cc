// Role weights and quotas set by operators at run time, kept in the
// registry's operator state so that they outlive a master restart.
#include <algorithm>
#include <cmath>

#include "absl/strings/str_cat.h"
#include "corral/common/logging.h"
#include "corral/master/master.h"
#include "corral/master/validation.h"

namespace corral {
namespace {

constexpr char kRoleState[] = "roles";

void ToMap(const Quantities& q, google::protobuf::Map<std::string, double>* out) {
  for (const auto& [name, value] : q.entries()) (*out)[name] = FromMilli(value);
}

Quantities FromMap(const google::protobuf::Map<std::string, double>& in) {
  Quantities q;
  for (const auto& [name, value] : in) q.Set(name, ToMilli(value));
  return q;
}

}  // namespace

std::map<std::string, double> Master::Weights() {
  return loop_.Call([this] { return weights_; });
}

std::map<std::string, RoleQuota> Master::Quotas() {
  return loop_.Call([this] { return quotas_; });
}

absl::Status Master::PersistRoles() {
  v1::internal::RoleState state;
  for (const auto& [role, w] : weights_) (*state.mutable_weights())[role] = w;
  for (const auto& [role, q] : quotas_) {
    auto& out = (*state.mutable_quotas())[role];
    ToMap(q.guarantee, out.mutable_guarantee());
    ToMap(q.limit, out.mutable_limit());
  }
  return registry_->PutOperatorState(kRoleState, state.SerializeAsString());
}

void Master::RecoverRoles() {
  auto stored = registry_->GetOperatorState(kRoleState);
  if (!stored.ok()) return;
  v1::internal::RoleState state;
  if (!state.ParseFromString(*stored)) {
    CORRAL_LOG(ERROR) << "The registry's role weights and quotas do not decode; keeping those of the flags";
    return;
  }
  // What operators set wins over the flags for the roles it names.
  for (const auto& [role, w] : state.weights()) {
    weights_[role] = w;
    allocator_.SetWeight(role, w);
  }
  for (const auto& [role, q] : state.quotas()) {
    RoleQuota quota{FromMap(q.guarantee()), FromMap(q.limit())};
    quotas_[role] = quota;
    allocator_.SetQuota(role, quota);
  }
}

absl::Status Master::UpdateWeights(const std::map<std::string, double>& weights) {
  for (const auto& [role, w] : weights) {
    if (auto st = validation::ValidateRole(role); !st.ok()) return st;
    if (!(w > 0) || !std::isfinite(w)) {
      return absl::InvalidArgumentError(absl::StrCat("the weight of role '", role, "' must be a positive number"));
    }
  }
  return loop_.Call([&]() -> absl::Status {
    auto before = weights_;
    for (const auto& [role, w] : weights) weights_[role] = w;
    if (absl::Status st = PersistRoles(); !st.ok()) {
      weights_ = before;
      return absl::UnavailableError(absl::StrCat("the weights could not be stored: ", st.message()));
    }
    for (const auto& [role, w] : weights) allocator_.SetWeight(role, w);
    return absl::OkStatus();
  });
}

absl::Status Master::UpdateQuotas(const std::map<std::string, RoleQuota>& quotas, bool force) {
  for (const auto& [role, q] : quotas) {
    if (role == "*") return absl::InvalidArgumentError("the default role '*' cannot have a quota");
    if (auto st = validation::ValidateRole(role); !st.ok()) return st;
    for (const auto& entry : q.guarantee.entries()) {
      const std::string& name = entry.first;
      Milli guarantee = entry.second, limit = q.limit.Get(name);
      bool limited = std::any_of(q.limit.entries().begin(), q.limit.entries().end(),
                                 [&](const auto& e) { return e.first == name; });
      if (limited && guarantee > limit) {
        return absl::InvalidArgumentError(absl::StrCat("role '", role, "': the guarantee of '", name, "' (",
                                                       FromMilli(guarantee), ") is above its limit (", FromMilli(limit),
                                                       ")"));
      }
    }
  }
  return loop_.Call([&]() -> absl::Status {
    auto next = quotas_;
    for (const auto& [role, q] : quotas) {
      if (q.guarantee.Empty() && q.limit.Empty())
        next.erase(role);
      else
        next[role] = q;
    }
    if (!force) {
      Quantities total, guaranteed;
      for (const auto& [id, agent] : agents_) total += Quantities::Of(agent.total);
      for (const auto& [role, q] : next) guaranteed += q.guarantee;
      if (!guaranteed.FitsIn(total)) {
        return absl::FailedPreconditionError(absl::StrCat("the guarantees of all roles (", guaranteed.ToString(),
                                                          ") do not fit in the cluster's resources (", total.ToString(),
                                                          "); set 'force' to store them anyway"));
      }
    }
    auto before = quotas_;
    quotas_ = next;
    if (absl::Status st = PersistRoles(); !st.ok()) {
      quotas_ = before;
      return absl::UnavailableError(absl::StrCat("the quotas could not be stored: ", st.message()));
    }
    for (const auto& [role, q] : quotas) allocator_.SetQuota(role, next.count(role) ? next[role] : RoleQuota{});
    return absl::OkStatus();
  });
}

}  // namespace corral
