// Executor authentication tokens, as Mesos's: an HMAC-SHA256-signed JWT
// (libjwt) whose claims name the framework, executor and container it was
// issued to ("fid", "eid", "cid"). The agent gives each executor container
// its own in MESOS_EXECUTOR_AUTHENTICATION_TOKEN; the executor sends it as
// "Authorization: Bearer <token>" (HTTP) or the same gRPC metadata.
//
// Threading: immutable once made; call from any thread.
#pragma once

#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace corral::auth {

struct ExecutorClaims {
  std::string framework_id;
  std::string executor_id;
  std::string container_id;
};

class ExecutorTokens {
 public:
  // `key`: the agent's --jwt_secret_key, at least kMinKeyBytes long.
  static absl::StatusOr<ExecutorTokens> FromKey(std::string key);
  static constexpr size_t kMinKeyBytes = 32;

  std::string Issue(const ExecutorClaims& claims) const;
  // The claims an Authorization value ("Bearer <token>") proves, or
  // UNAUTHENTICATED saying why (missing, not Bearer, malformed, not signed
  // with this key, not HS256).
  absl::StatusOr<ExecutorClaims> Verify(absl::string_view authorization) const;

 private:
  explicit ExecutorTokens(std::string key) : key_(std::move(key)) {}
  std::string key_;
};

}  // namespace corral::auth
