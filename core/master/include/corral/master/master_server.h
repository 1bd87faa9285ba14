// The master process's gRPC front: serves the scheduler API, the agent
// protocol and the operator state over one port, feeding a Master.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "corral/master/master.h"

namespace grpc { class Server; }

namespace corral {

class MasterServer {
 public:
  // `listen` is "host:port"; port 0 picks a free one (see port()).
  static absl::StatusOr<std::unique_ptr<MasterServer>> Start(MasterOptions options,
                                                             const std::string& listen);
  ~MasterServer();

  int port() const { return port_; }
  std::string address() const;  // "host:port" that clients should dial
  Master& master() { return *master_; }
  void Shutdown();

 private:
  MasterServer() = default;
  struct Services;
  std::string host_;
  int port_ = 0;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<grpc::Server> server_;
};

}  // namespace corral
