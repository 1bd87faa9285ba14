// gRPC channel credentials from TlsOptions: TLS (trusting options.ca_file,
// or gRPC's default roots, and showing options.cert_file where given) when
// options.enabled, else insecure. gRPC always verifies the server's
// certificate and its name against the host dialled.
//
// Threading: any thread.
#pragma once

#include <memory>

#include <grpcpp/security/credentials.h>

#include "absl/status/statusor.h"
#include "corral/tls/tls_options.h"

namespace corral::tls {

absl::StatusOr<std::shared_ptr<grpc::ChannelCredentials>> ChannelCredentials(const TlsOptions& options);

}  // namespace corral::tls
