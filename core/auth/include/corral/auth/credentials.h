// Principals and secrets, in the file formats Mesos reads, and HTTP Basic
// authentication over them (the same header travels as gRPC metadata).
//
// Threading: an Authenticator is immutable once made; call it from any
// thread.
#pragma once

#include <map>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"

namespace corral::auth {

struct Credential {
  std::string principal;
  std::string secret;
};

// A master's --credentials: Mesos's JSON
// ({"credentials": [{"principal": "p", "secret": "s"}, ...]}) or its text
// form, one "principal secret" per line. Errors name what is wrong (never
// a secret).
absl::StatusOr<std::vector<Credential>> ParseCredentials(absl::string_view text);
absl::StatusOr<std::vector<Credential>> LoadCredentials(const std::string& path);

// One credential (an agent's --credential, a client's file): JSON
// ({"principal": "p", "secret": "s"}) or one "principal secret" line.
absl::StatusOr<Credential> ParseCredential(absl::string_view text);
absl::StatusOr<Credential> LoadCredential(const std::string& path);

// A client's credential when it was given none: CORRAL_PRINCIPAL with
// CORRAL_SECRET, or the file CORRAL_CREDENTIAL names; nullopt when none of
// them is set. Either of the first two alone is an error.
absl::StatusOr<std::optional<Credential>> CredentialFromEnvironment();

// "Basic base64(principal:secret)", the value of an Authorization header.
std::string BasicAuthorization(const Credential& credential);

// A fresh random secret: 32 bytes from OpenSSL's generator, hex-encoded.
std::string NewSecret();
// SHA-256 of `data`, raw bytes.
std::string Sha256(absl::string_view data);
// Whether two digests are equal, in time independent of where they differ.
bool DigestEquals(absl::string_view a, absl::string_view b);

// The WWW-Authenticate value a 401 carries.
inline constexpr char kBasicChallenge[] = "Basic realm=\"corral\"";

// Checks Authorization headers against a set of credentials. Secrets are
// compared as SHA-256 digests in constant time, so neither their content
// nor their length leaks through timing.
class Authenticator {
 public:
  explicit Authenticator(const std::vector<Credential>& credentials);

  // The principal that `authorization` (an Authorization header's value)
  // proves, or UNAUTHENTICATED saying why: missing, not Basic, malformed,
  // or a wrong principal or secret (the last two are not told apart).
  absl::StatusOr<std::string> Authenticate(absl::string_view authorization) const;

  size_t size() const { return digests_.size(); }

 private:
  std::map<std::string, std::string> digests_;  // principal -> SHA-256 of its secret
};

}  // namespace corral::auth
