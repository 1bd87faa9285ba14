#include "corral/auth/policy.h"

#include "corral/common/logging.h"

namespace corral::auth {

const char* AccessName(Access access) {
  switch (access) {
    case Access::kOpen: return "open";
    case Access::kFramework: return "framework";
    case Access::kAgent: return "agent";
    case Access::kReadOnly: return "read-only";
    case Access::kReadWrite: return "read-write";
  }
  return "unknown";
}

bool AuthenticationPolicy::Required(Access access) const {
  if (!authenticator) return false;
  switch (access) {
    case Access::kOpen: return false;
    case Access::kFramework: return frameworks;
    case Access::kAgent: return agents;
    case Access::kReadOnly: return readonly;
    case Access::kReadWrite: return readwrite;
  }
  return true;
}

absl::StatusOr<std::optional<std::string>> AuthenticationPolicy::Check(Access access, absl::string_view authorization,
                                                                       absl::string_view peer) const {
  if (!Required(access)) return std::optional<std::string>();
  auto principal = authenticator->Authenticate(authorization);
  if (!principal.ok()) {
    CORRAL_LOG(WARNING) << "Refused " << AccessName(access) << " access from " << (peer.empty() ? "unknown" : peer)
                        << ": " << principal.status().message();
    return principal.status();
  }
  return std::optional<std::string>(std::move(*principal));
}

}  // namespace corral::auth
