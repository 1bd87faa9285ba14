// Which callers of a daemon must prove who they are, by the kind of access
// they ask for: Mesos's --authenticate_* flags.
//
// Threading: immutable once made; call from any thread.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "corral/auth/credentials.h"

namespace corral::auth {

enum class Access {
  kOpen,       // health checks, redirects to the leader: never authenticated
  kFramework,  // the scheduler API
  kAgent,      // an agent's link to the master
  kReadOnly,   // state, metrics, flags, sandbox reads, GET_* calls
  kReadWrite,  // operator calls that change something
};

const char* AccessName(Access access);

struct AuthenticationPolicy {
  // Null without --credentials: then nothing can be required.
  std::shared_ptr<const Authenticator> authenticator;
  bool frameworks = false;
  bool agents = false;
  bool readonly = false;
  bool readwrite = false;

  bool Required(Access access) const;
  // Whether every kind of access that can change something is authenticated.
  bool GuardsWrites() const { return authenticator && frameworks && agents && readwrite; }

  // The authenticated principal, or nullopt where `access` needs none.
  // UNAUTHENTICATED (logged with `peer`, never the secret) when it needs one
  // and `authorization` does not prove one.
  absl::StatusOr<std::optional<std::string>> Check(Access access, absl::string_view authorization,
                                                   absl::string_view peer) const;
};

}  // namespace corral::auth
