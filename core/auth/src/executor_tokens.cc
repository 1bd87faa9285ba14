#include "corral/auth/executor_tokens.h"

#include <jwt.h>

#include <cstdlib>
#include <memory>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"

namespace corral::auth {
namespace {

struct JwtFree {
  void operator()(jwt_t* j) const { jwt_free(j); }
};
using Jwt = std::unique_ptr<jwt_t, JwtFree>;

const unsigned char* Bytes(const std::string& s) { return reinterpret_cast<const unsigned char*>(s.data()); }

}  // namespace

absl::StatusOr<ExecutorTokens> ExecutorTokens::FromKey(std::string key) {
  if (key.size() < kMinKeyBytes) {
    return absl::InvalidArgumentError(
        absl::StrCat("the key is ", key.size(), " bytes; it must be at least ", kMinKeyBytes));
  }
  return ExecutorTokens(std::move(key));
}

std::string ExecutorTokens::Issue(const ExecutorClaims& claims) const {
  jwt_t* raw = nullptr;
  if (jwt_new(&raw) != 0) return "";
  Jwt jwt(raw);
  if (jwt_set_alg(jwt.get(), JWT_ALG_HS256, Bytes(key_), static_cast<int>(key_.size())) != 0 ||
      jwt_add_grant(jwt.get(), "fid", claims.framework_id.c_str()) != 0 ||
      jwt_add_grant(jwt.get(), "eid", claims.executor_id.c_str()) != 0 ||
      jwt_add_grant(jwt.get(), "cid", claims.container_id.c_str()) != 0) {
    return "";
  }
  char* encoded = jwt_encode_str(jwt.get());
  if (encoded == nullptr) return "";
  std::string out(encoded);
  free(encoded);  // libjwt 1.10 allocates it with malloc
  return out;
}

absl::StatusOr<ExecutorClaims> ExecutorTokens::Verify(absl::string_view authorization) const {
  if (authorization.empty()) {
    return absl::UnauthenticatedError("no executor token was given (MESOS_EXECUTOR_AUTHENTICATION_TOKEN)");
  }
  absl::string_view value = absl::StripAsciiWhitespace(authorization);
  if (value.size() < 7 || !absl::EqualsIgnoreCase(value.substr(0, 7), "bearer ")) {
    return absl::UnauthenticatedError("executor calls take a Bearer token");
  }
  std::string token(absl::StripLeadingAsciiWhitespace(value.substr(7)));
  jwt_t* raw = nullptr;
  if (jwt_decode(&raw, token.c_str(), Bytes(key_), static_cast<int>(key_.size())) != 0 || raw == nullptr) {
    return absl::UnauthenticatedError("the executor token is not one this agent signed");
  }
  Jwt jwt(raw);
  // Never a token that names its own (lack of) signature.
  if (jwt_get_alg(jwt.get()) != JWT_ALG_HS256) {
    return absl::UnauthenticatedError("the executor token is not signed with HS256");
  }
  ExecutorClaims claims;
  for (auto [name, out] : {std::pair<const char*, std::string*>{"fid", &claims.framework_id},
                           {"eid", &claims.executor_id},
                           {"cid", &claims.container_id}}) {
    const char* v = jwt_get_grant(jwt.get(), name);
    if (v == nullptr) return absl::UnauthenticatedError(absl::StrCat("the executor token has no '", name, "' claim"));
    *out = v;
  }
  return claims;
}

}  // namespace corral::auth
