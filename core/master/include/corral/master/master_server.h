// The master process's front: one port serves gRPC (the scheduler API, the
// agent protocol, operator calls) and the Mesos-compatible HTTP API, both
// feeding one Master. HTTP connections are served by corral_http; those
// that open with the HTTP/2 preface are handed to the gRPC server.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "corral/master/master.h"

namespace grpc {
class Server;
}

namespace corral {

namespace http {
class Server;
}
class MasterHttpApi;
class WorkDirLock;
class Registry;

class MasterServer {
 public:
  // `listen` is "host:port"; port 0 picks a free one (see port()).
  static absl::StatusOr<std::unique_ptr<MasterServer>> Start(MasterOptions options, const std::string& listen);
  // The same with a registry of the caller's (the ZooKeeper one); the work
  // dir holds none then.
  static absl::StatusOr<std::unique_ptr<MasterServer>> Start(MasterOptions options, const std::string& listen,
                                                             std::unique_ptr<Registry> registry);
  ~MasterServer();

  int port() const { return port_; }
  std::string address() const;  // "host:port" that clients should dial
  Master& master() { return *master_; }
  void Shutdown();

 private:
  MasterServer() = default;
  struct Services;
  std::unique_ptr<WorkDirLock> work_dir_lock_;  // first: released last
  std::string host_;
  int port_ = 0;
  std::unique_ptr<Services> services_;
  std::unique_ptr<Master> master_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<MasterHttpApi> http_api_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace corral
