// The operator API, Mesos's master::Call and master::Response, in one place
// that knows no transport: /api/v1 (master_http.cc) and the gRPC
// OperatorService (master_server.cc) both hand calls to OperatorApi::Call
// and only translate its answer, so the two offer the same calls with the
// same validation and the same errors. SUBSCRIBE is a stream, and each
// transport serves it over Master::SubscribeOperator itself.
#pragma once

#include <optional>
#include <string>

#include "absl/status/statusor.h"
#include "corral/auth/policy.h"
#include "corral/v1/internal.pb.h"
#include "corral/v1/master.pb.h"

namespace corral {

class Master;

// Threading: Call may be used from any thread but the master's loop (the
// Master's own methods it calls wait on that loop).
class OperatorApi {
 public:
  explicit OperatorApi(Master* master) : master_(master) {}

  // What a call needs under --authenticate_http_readonly/readwrite: GET_*
  // and SUBSCRIBE only read.
  static auth::Access AccessOf(v1::master::Call::Type type);

  // The answer to `call`: a Response for the calls that return one (GET_*),
  // nothing for those that only act. Errors: kInvalidArgument for a call
  // that is malformed (the message begins as Mesos's does, "Failed to
  // validate master::Call: "), kUnimplemented for a call Corral does not
  // serve, kFailedPrecondition for SUBSCRIBE, else the Master's own status
  // (kNotFound for an unknown agent or framework, ...), and
  // kPermissionDenied, naming the action, for what --acls do not let
  // `principal` (nullopt: an anonymous caller) do. GET_STATE and the other
  // views leave out what it may not view. Every call that changes state is
  // written to the audit log with its result.
  absl::StatusOr<std::optional<v1::master::Response>> Call(const v1::master::Call& call,
                                                           const std::optional<std::string>& principal = std::nullopt);

 private:
  absl::StatusOr<std::optional<v1::master::Response>> Dispatch(const v1::master::Call& call,
                                                               const std::optional<std::string>& principal);

  Master* master_;
};

}  // namespace corral
