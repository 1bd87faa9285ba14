// What a master that does not lead (--zk, another master elected) serves on
// its port until it is elected: HTTP requests are redirected (307) to the
// leader, with the same path and query, as Mesos's standby masters do;
// gRPC calls fail UNAVAILABLE with a message naming the leader, which SDK
// drivers and agents take as "look for the leader again".
//
// Threading: the leader is set from any thread (the detector's).
#pragma once

#include <memory>
#include <mutex>
#include <string>

#include "absl/status/statusor.h"
#include "corral/tls/tls_options.h"

namespace grpc {
class Server;
}

namespace corral {

namespace http {
class Server;
}

class MasterStandby {
 public:
  static absl::StatusOr<std::unique_ptr<MasterStandby>> Start(const std::string& host, int port,
                                                              const tls::TlsOptions& tls = {});
  ~MasterStandby();
  // "ip:port" of the leading master; empty while none leads.
  void SetLeader(const std::string& address);
  std::string leader() const;
  int port() const;
  // Frees the port for the master once this one is elected.
  void Stop();

  struct Impl;

 private:
  MasterStandby() = default;
  std::unique_ptr<Impl> impl_;
};

}  // namespace corral
