// The agent's Mesos-compatible HTTP API, over the same Agent as gRPC:
//   POST /api/v1/executor   the executor API; SUBSCRIBE streams RecordIO events
//   POST /api/v1            the agent operator API (GET_STATE, READ_FILE, ...)
//   GET  /state ...         the JSON documents Mesos tools read (also as
//                           /slave(1)/state), /flags, /health, /version
//   GET  /metrics/snapshot  Mesos's agent metric names; /metrics in Prometheus text
//   GET  /files/browse, /files/read, /files/download   sandbox files, confined
// See docs/mesos-compatibility.md for what is served and how it differs.
//
// Threading: Handle runs on the HTTP server's I/O threads; everything it
// needs from the agent goes through Agent's thread-safe methods.
#pragma once

#include <optional>
#include <string>

#include "corral/agent/agent.h"
#include "corral/http/server.h"
#include "corral/v1/internal.pb.h"

namespace corral {

class AgentHttpApi {
 public:
  explicit AgentHttpApi(Agent* agent) : agent_(agent) {}
  void Handle(const http::Request& request, http::Responder& responder);

 private:
  void Executor(const http::Request& request, http::Responder& responder);
  void Operator(const http::Request& request, http::Responder& responder);
  // `principal`: the one the request authenticated as, for --acls.
  void Files(const std::string& action, const http::Request& request, http::Responder& responder,
             const std::optional<std::string>& principal);

  Agent* agent_;
};

// The agent's /state document, in the shape Mesos renders it.
std::string RenderAgentState(const v1::internal::AgentSnapshot& snapshot,
                             const std::map<std::string, std::string>& flags, const std::string& version);

}  // namespace corral
