// HTTP Basic on a bundled framework's REST API, as Marathon's and Chronos's
// --http_credentials protect theirs, and the credential the framework
// itself presents to the master (Marathon's and Chronos's
// --mesos_authentication_principal and --mesos_authentication_secret_file).
//
// Threading: the handler Guarded returns runs on the HTTP server's threads;
// the authenticator is immutable.
#pragma once

#include <memory>
#include <set>
#include <string>

#include "absl/status/statusor.h"
#include "corral/auth/credentials.h"
#include "corral/http/server.h"

namespace corral::framework {

// The authenticator of `--http_credentials` ("user:password", Marathon's
// form) or `--http_credentials_file` (Mesos's credentials formats); null
// when both are empty. An error names the flag and what is wrong with it.
absl::StatusOr<std::shared_ptr<const auth::Authenticator>> RestAuthenticator(const std::string& http_credentials,
                                                                             const std::string& file);

// `inner`, answering 401 (with WWW-Authenticate) to any request but those
// for `open_paths` that does not prove a principal `authenticator` knows.
// A null authenticator returns `inner` as it is.
http::Handler Guarded(http::Handler inner, std::shared_ptr<const auth::Authenticator> authenticator,
                      std::set<std::string> open_paths);

// The secret in a --mesos_authentication_secret_file: its content, less a
// trailing newline.
absl::StatusOr<std::string> ReadSecretFile(const std::string& path);

}  // namespace corral::framework
