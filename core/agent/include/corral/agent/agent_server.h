// The agent process's front: one port serving gRPC (the executor API our
// SDKs speak, sandbox reads) and HTTP/1.1 (Mesos's executor and operator
// APIs, /state, /files), and the Agent behind them.
#pragma once

#include <memory>
#include <string>

#include "absl/status/statusor.h"
#include "corral/agent/agent.h"

namespace grpc {
class Server;
}
namespace corral::http {
class Server;
}

namespace corral {

class AgentHttpApi;

class AgentServer {
 public:
  // Binds `listen` ("host:port", port 0 = any free port), then starts the
  // agent with options.port set to the bound port.
  static absl::StatusOr<std::unique_ptr<AgentServer>> Start(AgentOptions options, const std::string& listen);
  ~AgentServer();

  Agent& agent() { return *agent_; }
  int port() const { return port_; }
  void Shutdown();

 private:
  AgentServer() = default;
  struct Service;
  struct Files;
  int port_ = 0;
  std::unique_ptr<Service> service_;
  std::unique_ptr<Files> files_;
  std::unique_ptr<Agent> agent_;
  std::unique_ptr<grpc::Server> server_;
  std::unique_ptr<AgentHttpApi> http_api_;
  std::unique_ptr<http::Server> http_;
};

}  // namespace corral
